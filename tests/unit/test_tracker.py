"""The pure tracker: a state and an observation in, a new state and transitions out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bkjob_async._converter import Generation
from bkjob_async._observe import observe_job
from bkjob_async.models import Host, HostResult, HostStatus
from bkjob_async.polling._codec import from_data, to_data
from bkjob_async.polling._tracker import (
    EMPTY,
    JobState,
    StepState,
    observe,
    pack_codes,
    pack_keys,
    step_done,
    step_moves,
)

from ..scripted import describe, job_body

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class Tracker:
    """Holds the state between observations, as the engine does."""

    def __init__(self) -> None:
        self.state = EMPTY

    @property
    def finished(self) -> bool:
        return self.state.finished


def step(tracker: Tracker, data, generation=Generation.V3):
    structured = []

    def host_result(key, code, row):
        structured.append(key)
        return HostResult(Host(bk_host_id=key if isinstance(key, int) else None), HostStatus(code))

    before = tracker.state
    saved = to_data(before)
    tracker.state, events = observe(
        before, 1, observe_job(data, generation), lambda: NOW, host_result
    )
    assert to_data(before) == saved  # the old state is a value: never changed
    return [describe(e) for e in events], structured


def test_first_sight_reports_everything_then_only_changes() -> None:
    tracker = Tracker()
    events, structured = step(tracker, job_body(1, 2, [(10, 2, 0, [5, 7])]))
    assert events == [
        ("host", 10, 0, 100, None, 5),
        ("host", 10, 0, 101, None, 7),
        ("step", 10, 0, None, 2),
        ("job", None, 2),
    ]
    assert structured == [100, 101]
    events, structured = step(tracker, job_body(1, 2, [(10, 2, 0, [5, 9])]))
    assert events == [("host", 10, 0, 101, 7, 9)]
    assert structured == [101]  # unchanged rows are never structured
    assert step(tracker, job_body(1, 2, [(10, 2, 0, [5, 9])])) == ([], [])


def test_missing_rows_are_no_news() -> None:
    tracker = Tracker()
    step(tracker, job_body(1, 4, [(10, 4, 0, [9, 11])]))
    events, _ = step(tracker, job_body(1, 2, [(10, 4, 1, [])]))  # retry lag: rows not written yet
    assert events == [("job", 4, 2)]
    events, _ = step(tracker, job_body(1, 2, [(10, 4, 1, None)]))  # no return_ip_result
    assert events == []
    events, _ = step(tracker, job_body(1, 2, [(10, 2, 1, [9, 5])]))
    assert events == [("host", 10, 1, 101, 11, 5), ("step", 10, 1, 4, 2)]


def test_finished_follows_the_server_flag() -> None:
    tracker = Tracker()
    step(tracker, job_body(1, 7, [(10, 7, 0, None)]))
    assert not tracker.finished  # waiting for a user is not finished
    step(tracker, job_body(1, 13, [(10, 13, 0, None)]))
    assert tracker.finished
    step(tracker, job_body(1, 7, [(10, 7, 0, None)]))  # re-confirmation revives it
    assert not tracker.finished


def _v2_body(step_instance_id: int) -> dict[str, Any]:
    """A v2 answer: job 1 running, its one step running on host 10.0.0.1 (cloud 0)."""
    row = {
        "step_instance_id": step_instance_id,
        "status": 2,
        "retry_count": 0,
        "step_ip_status": [{"ip": "10.0.0.1", "bk_cloud_id": 0, "status": 7}],
    }
    job = {"job_instance_id": 1, "status": 2}
    return {"is_finished": False, "job_instance": job, "blocks": [{"step_instances": [row]}]}


def test_v2_rows_key_by_cloud_and_ip() -> None:
    data = _v2_body(10)
    tracker = Tracker()
    _, structured = step(tracker, data, Generation.V2)
    assert structured == [(0, "10.0.0.1", None)]
    assert structured[0] == Host(ip="10.0.0.1", bk_cloud_id=0).key


def test_unknown_codes_pass_through() -> None:
    tracker = Tracker()
    events, _ = step(tracker, job_body(1, 99, [(10, 98, 0, [777])], finished=False))
    assert events == [("host", 10, 0, 100, None, 777), ("step", 10, 0, None, 98), ("job", None, 99)]


def test_an_unchanged_observation_returns_the_same_state() -> None:
    tracker = Tracker()
    step(tracker, job_body(1, 2, [(10, 2, 0, [5, 7]), (11, 1, 0, None)]))
    before = tracker.state
    step(tracker, job_body(1, 2, [(10, 2, 0, [5, 7]), (11, 1, 0, None)]))
    assert tracker.state is before


def test_a_change_shares_what_did_not_change() -> None:
    tracker = Tracker()
    step(tracker, job_body(1, 2, [(10, 2, 0, [5, 7]), (11, 2, 0, [5])]))
    before = tracker.state
    step(tracker, job_body(1, 2, [(10, 2, 0, [9, 7]), (11, 2, 0, [5])]))
    # (a state keeps its steps' fields, not a ``StepState`` each: the same objects)
    assert all(a is b for a, b in zip(tracker.state.step(11), before.step(11), strict=True))
    assert tracker.state.step(10).packed_keys is before.step(10).packed_keys  # hosts unchanged
    assert tracker.state.step(10).hosts == {100: 9, 101: 7}
    assert before.step(10).hosts == {100: 5, 101: 7}


def test_state_round_trips_through_plain_json() -> None:
    import json

    tracker = Tracker()
    step(tracker, job_body(1, 4, [(10, 4, 2, [9, 11]), (11, 1, 0, None)]))
    v2 = _v2_body(12)
    step(tracker, v2, Generation.V2)
    text = json.dumps(to_data(tracker.state))
    restored = from_data(json.loads(text))
    assert restored == tracker.state
    assert restored.step(12).hosts == {(0, "10.0.0.1", None): 7}
    # Observing from the restored state reports only what changed.
    again = Tracker()
    again.state = restored
    events, _ = step(again, job_body(1, 4, [(10, 4, 2, [9, 9]), (11, 1, 0, None)]))
    assert events == [("host", 10, 2, 101, 11, 9), ("job", 2, 4)]


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"status": "2", "finished": False, "steps": []},
        {"status": 2, "finished": 0, "steps": []},
        {"status": 2, "finished": False, "steps": [[1, 2, 0]]},
        {"status": 2, "finished": False, "steps": [[1, 2, 0, [["x", 3]]]]},
    ],
)
def test_from_data_refuses_what_is_not_a_state(data) -> None:
    with pytest.raises(ValueError, match="not a saved job state"):
        from_data(data)


def test_a_state_says_its_format_and_a_newer_one_is_refused() -> None:
    state = JobState(2, False, (StepState(10, 2, 0, pack_keys([100]), pack_codes([7])),), 3)
    data = to_data(state)
    assert data["v"] == 2
    old = {k: v for k, v in data.items() if k not in ("v", "visits")}  # format 1, before "v"
    assert from_data(old) == state
    with pytest.raises(ValueError, match="state is of format 3, written by a newer bkjob-async"):
        from_data({**data, "v": 3})


def _state(job: int | None, finished: bool, step_status: int | None) -> JobState:
    return JobState(job, finished, (StepState(10, step_status, 0, (), ()),))


def test_step_done_rules() -> None:
    assert step_done(_state(3, True, 3), 10)  # success
    assert step_done(_state(2, False, 3), 10)  # a successful step of a running job
    assert not step_done(_state(2, False, 4), 10)  # failed while the job runs: retry lag
    assert step_done(_state(4, True, 4), 10)  # failed and the job finished
    assert not step_done(_state(2, False, 2), 10)
    assert not step_done(_state(2, False, 3), 99)  # unknown step


def test_step_moves_rules() -> None:
    from bkjob_async._observe import StepObservation

    state = _state(2, False, 3)
    assert not step_moves(state, StepObservation(10, 1, 0, None))  # not started
    assert not step_moves(state, StepObservation(10, 3, 0, None))  # finished, unchanged
    assert step_moves(state, StepObservation(10, 3, 1, None))  # a new round
    assert step_moves(state, StepObservation(10, 2, 0, None))  # running
    assert step_moves(EMPTY, StepObservation(10, 3, 0, None))  # first sight


def _ids(state, data):
    def host_result(key, code, row):
        return HostResult(Host(bk_host_id=key), HostStatus(code))

    new, events = observe(state, 1, observe_job(data, Generation.V3), lambda: NOW, host_result)
    return new, [e.event_id for e in events]


def test_event_ids_differ_for_every_transition_even_repeated_ones() -> None:
    state = EMPTY
    seen = []
    for job, host in [(2, 7), (7, 7), (2, 3), (7, 7), (2, 3), (7, 7), (3, 9)]:
        state, ids = _ids(state, job_body(1, job, [(10, job, 0, [host])]))
        seen += ids
    assert len(seen) == len(set(seen))
    assert seen[:3] == ["1/10/0/h100/7", "1/10/0/s/2", "1/j/2/r0"]


def test_the_same_transition_replayed_from_a_stored_state_has_the_same_id() -> None:
    state, _ = _ids(EMPTY, job_body(1, 2, [(10, 2, 0, [7, 7])]))
    stored = from_data(to_data(state))  # what a store kept before a crash
    state, first = _ids(state, job_body(1, 2, [(10, 2, 0, [9, 7])]))
    _, again = _ids(stored, job_body(1, 2, [(10, 2, 0, [9, 7])]))  # after the restart
    assert again == first
    _, other = _ids(stored, job_body(1, 2, [(10, 2, 0, [9, 9])]))  # the server moved on
    assert other[0] == first[0]
    assert other[1] not in first  # a different transition, a different id
