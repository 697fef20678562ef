"""The rollout's pure parts: its ledger, its entries as JSON, the quota gate."""

from __future__ import annotations

import json
import random

import pytest

from bkjob_async.models.requests import Account, Targets
from bkjob_async.polling import Launch
from bkjob_async.polling._rollout import Entry, Gate, Ledger, entry_slot, task_name

LAUNCH = Launch.script(
    targets=Targets(host_ids=[1]), account=Account(alias="root"), script_content="x"
)


def test_an_entry_reads_back_from_json() -> None:
    entry = Entry("k", LAUNCH, "created", 10001, "n [rollout r/k]", 1.5e9, None, None)
    assert Entry.from_data(json.loads(json.dumps(entry.to_data()))) == entry


@pytest.mark.parametrize(
    "data",
    [None, {"key": 1}, {"key": "k", "phase": "flying"}, {"key": "k", "phase": "queued", "job": 0}],
)
def test_what_is_no_entry_is_a_value_error(data: object) -> None:
    with pytest.raises(ValueError, match="rollout entry"):
        Entry.from_data(data)


def test_a_ledger_holds_a_key_once_and_launches_in_order() -> None:
    ledger = Ledger()
    assert ledger.submit(Entry("a", LAUNCH))
    assert ledger.submit(Entry("b", LAUNCH))
    assert not ledger.submit(Entry("a", LAUNCH))
    (first,) = ledger.to_launch(1)
    assert first.key == "a"
    assert (ledger.sending(), ledger.running(), ledger.open()) == (1, 1, 2)
    ledger.requeue(first)
    assert [e.key for e in ledger.to_launch(5)] == ["a", "b"]
    ledger.end(first, "finished")
    assert not ledger.submit(Entry("a", LAUNCH))
    assert ledger.open() == 1


def test_a_task_name_carries_the_key_and_fits_bk_job() -> None:
    assert task_name("deploy", "r1", "host-1") == "deploy [rollout r1/host-1]"
    assert task_name(None, "r1", "k") == "rollout [rollout r1/k]"
    with pytest.raises(ValueError, match="512"):
        task_name("x" * 500, "r1", "k")


def test_entry_slots_are_stable_and_positive() -> None:
    assert entry_slot("k") == entry_slot("k")
    assert entry_slot("k") != entry_slot("l")
    assert 1 <= entry_slot("") < 2**62


def test_a_refusal_with_our_jobs_running_holds_until_one_ends() -> None:
    gate, rng = Gate(), random.Random(1)
    assert gate.room(0, 0, 0.0) == 4  # (creates unanswered at most)
    gate.refused(5, 1.0, rng)
    assert gate.room(5, 0, 1.0) == 0
    gate.ended()
    assert gate.room(4, 0, 2.0) == 1  # the learned share: five
    assert gate.room(5, 0, 3.0) == 0


def test_a_probe_refused_comes_twice_as_late_next_time() -> None:
    gate, rng = Gate(probe_after=60.0), random.Random(1)
    gate.refused(5, 0.0, rng)
    gate.ended()
    assert gate.room(5, 0, 59.0) == 0
    assert gate.room(5, 0, 60.0) == 1  # probing six
    gate.refused(5, 60.5, rng)
    gate.ended()
    assert gate.probe_after == 120.0
    assert gate.room(5, 0, 100.0) == 0
    assert gate.room(5, 0, 181.0) == 1


def test_a_refusal_with_none_of_ours_running_backs_off_with_jitter() -> None:
    gate, rng = Gate(), random.Random(2)
    waits = []
    for n in range(8):
        gate.refused(0, 0.0, rng)
        waits.append(gate.retry_at)
        assert gate.room(0, 0, gate.retry_at - 0.001) == 0
        assert gate.room(0, 0, gate.retry_at) > 0
        assert 0.5 * min(30, 2**n) <= gate.retry_at <= 1.5 * min(30, 2**n)
    assert len(set(waits)) == len(waits)


def test_the_callers_cap_bounds_the_room() -> None:
    gate = Gate(limit=3)
    assert gate.room(1, 0, 0.0) == 2
    assert gate.room(3, 0, 0.0) == 0
