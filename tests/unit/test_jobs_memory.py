"""What the collector walks per watched job and per poll: compact states, untracked heap entries."""

from __future__ import annotations

import datetime as dt
import gc
import math

from bkjob_async import Scope
from bkjob_async._converter import Generation
from bkjob_async._observe import observe_job
from bkjob_async.models import Host, HostResult, HostStatus
from bkjob_async.polling._codec import from_data, to_data
from bkjob_async.polling._due import Due
from bkjob_async.polling._jobs import STALE, PolledJob, Registry, Watched
from bkjob_async.polling._tracker import (
    EMPTY,
    JobState,
    StepState,
    host_keys,
    observe,
    pack_codes,
    pack_keys,
)

from ..scripted import job_body


def _observe(state, data):
    def host_result(key, code, row):
        return HostResult(Host(bk_host_id=key), HostStatus(code))

    return observe(state, 1, observe_job(data, Generation.V3), lambda: None, host_result)


def test_a_step_keeps_its_hosts_as_plain_numbers() -> None:
    state, _ = _observe(EMPTY, job_body(1, 2, [(10, 2, 0, [5] * 10), (11, 1, 0, None)]))
    running = state.step(10)
    assert running is not None
    assert list(running.keys) == [100 + i for i in range(10)]
    assert list(running.codes) == [5] * 10
    assert running.hosts == {100 + i: 5 for i in range(10)}
    # No object per host: the codes are bytes, the ids 32-bit ints in bytes (neither tracked).
    assert isinstance(running.codes, bytes)
    assert isinstance(running.packed_keys, bytes)
    assert len(running.packed_keys) == 1 + 4 * 10
    assert not gc.is_tracked(running.codes)
    assert not gc.is_tracked(running.packed_keys)
    # A change makes new codes and shares the keys.
    moved, events = _observe(state, job_body(1, 2, [(10, 2, 0, [7] + [5] * 9), (11, 1, 0, None)]))
    step = moved.step(10)
    assert step is not None
    assert step.packed_keys is running.packed_keys
    assert list(step.codes) == [7] + [5] * 9
    assert len(events) == 1


def test_host_ids_past_32_bits_take_8_bytes_each() -> None:
    small = pack_keys([7, 2**32 - 1])
    large = pack_keys([7, 2**32])
    negative = pack_keys([-1, 7])
    assert len(small) == 1 + 2 * 4
    assert len(large) == len(negative) == 1 + 2 * 8
    assert list(host_keys(small)) == [7, 2**32 - 1]
    assert list(host_keys(large)) == [7, 2**32]
    assert list(host_keys(negative)) == [-1, 7]
    assert pack_keys([7, 8]) == pack_keys([7, 8])  # equal by value
    assert pack_keys([7, 8]) is not pack_keys([7, 8])
    state = JobState(2, False, (StepState(10, 2, 0, large, pack_codes([5, 7])),), 1)
    assert from_data(to_data(state)) == state


def test_values_that_do_not_fit_are_kept_as_tuples() -> None:
    state, _ = _observe(EMPTY, job_body(1, 2, [(10, 2, 0, [5, 301])]))
    step = state.step(10)
    assert step is not None
    assert step.codes == (5, 301)  # a code past 255
    restored = from_data(to_data(state))
    assert restored == state
    data = to_data(state)
    data["steps"][0][3][0][0] = [0, "10.0.0.1", None]  # a (cloud, ip, ipv6) key
    mixed = from_data(data)
    again = mixed.step(10)
    assert again is not None
    assert again.keys == ((0, "10.0.0.1", None), 101)
    assert from_data(to_data(mixed)) == mixed


class _Gate:
    """A gate that always lets polls go (no rate, no outage)."""

    class governor:
        rate = None
        paused_until = -math.inf

    class health:
        class server:
            down_since = None

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def may_send(self, now: float) -> bool:
        return True

    def hold(self, now: float) -> float:
        return 0.0


def _watched(registry: Registry, scope: Scope, job_id: int) -> Watched:
    class Sub:
        closed = False

        def close(self) -> None:
            self.closed = True

    sub = Sub()
    sub.scope = scope  # type: ignore[attr-defined]
    watched, _ = registry.attach(sub, job_id, lambda: None)  # type: ignore[arg-type]
    return watched


def _handed(due: Due) -> Watched | None:
    """Return the job ``due`` hands out at 10.0 (``None``: none)."""
    row = due.take(10.0)
    return None if row is None else row.watched


def test_heap_entries_hold_numbers_only_and_hand_out_jobs_in_due_order() -> None:
    registry = Registry(10)
    due = Due(0.0, _Gate(registry))  # type: ignore[arg-type]
    jobs = [_watched(registry, Scope.biz(2), job_id) for job_id in (1, 2, 3)]
    for at, watched in zip((3.0, 1.0, 2.0), jobs, strict=True):
        due.push(watched, at)
    due.push(jobs[0], 0.5)  # rescheduled sooner: its first entry is stale
    gc.collect()
    assert not any(gc.is_tracked(entry) for entry in due._heap)  # nothing for the collector
    taken = []
    while (row := due.take(10.0)) is not None:
        taken.append(row.job.job_instance_id)
    assert taken == [1, 2, 3]
    assert due.take(10.0) is None


def test_a_polls_write_finds_a_change_made_while_it_was_in_flight() -> None:
    """A poll's row is read as the heap hands its job out; a watch that changes the job (or
    releases it) before the decision is written makes the write write nothing (``STALE``), and
    a write on the row read again goes through, with the next poll's entry."""
    registry = Registry(10)
    due = Due(0.0, _Gate(registry))  # type: ignore[arg-type]
    watched = _watched(registry, Scope.biz(2), 1)
    due.push(watched, 1.0)
    row = due.take(10.0)
    assert row is not None
    assert row.watched == watched
    watched.subscribers += watched.subscribers  # a watch joins while the poll is in flight
    later = row.job._replace(interval=7.0)
    assert watched.put(row, later, due=20.0) is STALE
    assert (watched.job.interval, watched.entry, watched.busy) == (0.0, None, True)
    again = watched.row()
    assert again is not None
    assert again.subscribers == watched.subscribers
    entry = watched.put(again, later, due=20.0)
    assert entry is not None
    assert entry is not STALE
    assert (watched.job.interval, watched.entry, watched.busy) == (7.0, entry[0], False)
    assert watched.put(again, None) is STALE  # (its own write counts: the row is older now)
    due.enter(*entry)
    row = due.take(30.0)
    assert row is not None
    assert row.job.interval == 7.0
    watched.subscribers = ()
    registry.release_if_unwatched(watched)  # released while in flight
    assert watched.put(row, None, due=40.0) is STALE
    assert due.take(50.0) is None


def test_an_id_in_two_scopes_is_found_in_both() -> None:
    registry = Registry(10)
    one = _watched(registry, Scope.biz(2), 7)
    assert registry.with_id(7) == (one,)
    other = _watched(registry, Scope.biz(3), 7)
    assert list(registry.with_id(7)) == [one, other]
    assert registry.with_id(8) == ()
    one.subscribers = ()
    registry.release_if_unwatched(one)
    assert registry.with_id(7) == (other,)
    other.subscribers = ()
    registry.release_if_unwatched(other)
    assert registry.with_id(7) == ()
    assert (one.active, other.active, registry.count) == (False, False, 0)
    assert isinstance(one.job, PolledJob)


def test_a_released_jobs_slot_is_reused_and_its_old_entries_are_stale() -> None:
    registry = Registry(10)
    due = Due(0.0, _Gate(registry))  # type: ignore[arg-type]
    first = _watched(registry, Scope.biz(2), 1)
    due.push(first, 1.0)
    first.subscribers = ()
    registry.release_if_unwatched(first)
    second = _watched(registry, Scope.biz(2), 2)
    assert second.slot == first.slot  # the freed place
    due.push(second, 1.0)  # the same due as the released job's entry: still one poll
    assert _handed(due) == second
    assert due.take(10.0) is None
    second.busy = False
    due.push(second, 5.0)
    registry.close()
    assert due.take(10.0) is None  # closed: no job handed out


def test_a_released_jobs_handle_reaches_no_other_job() -> None:
    registry = Registry(10)
    due = Due(0.0, _Gate(registry))  # type: ignore[arg-type]
    first = _watched(registry, Scope.biz(2), 1)
    due.push(first, 1.0)
    assert _handed(due) == first  # its poll is in flight
    first.subscribers = ()
    registry.release_if_unwatched(first)
    assert not first.active
    # Its slot is not reused while the poll is in flight: the worker still holds the handle.
    second = _watched(registry, Scope.biz(2), 2)
    assert second.slot != first.slot
    first.busy = False  # the poll came back: now the slot is free
    third = _watched(registry, Scope.biz(2), 3)
    assert third.slot == first.slot
    assert third != first
    assert not first.active
    assert third.active
    # Nothing written through the old handle reaches the job now in its slot.
    first.job = first.job._replace(interval=99.0)
    first.fingerprint = 5
    first.hinted = 4.0
    first.busy = True
    first.subscribers = ()
    due.push(first, 2.0)
    assert (third.job.job_instance_id, third.job.interval) == (3, 0.0)
    assert (third.fingerprint, third.hinted, third.busy, third.entry) == (
        None,
        -math.inf,
        False,
        None,
    )
    assert third.subscribers
    assert third.needs_decode
    assert due.take(10.0) is None  # the old handle's push went nowhere
    first.busy = False  # (a second all-clear frees nothing: the slot is the new job's)
    fourth = _watched(registry, Scope.biz(2), 4)
    assert fourth.slot not in (second.slot, third.slot)
    assert registry.count == 3


def test_a_watched_job_is_a_row_of_columns_the_collector_does_not_walk() -> None:
    registry = Registry(10)
    one = _watched(registry, Scope.biz(2), 1)
    sub = one.subscribers[0]
    jobs = [registry.attach(sub, job_id, lambda: None)[0] for job_id in range(2, 2001)]  # type: ignore[arg-type, return-value]
    for watched in jobs:
        watched.job = watched.job._replace(interval=5.0)
        watched.fingerprint = watched.job_id
    del jobs, watched
    gc.collect()
    gc.collect()
    # No object per job: numbers in arrays, plain tuples the collector let go of, and one
    # watch's subscribers shared by all the jobs it alone holds.
    assert not [
        v
        for column in (registry.states, registry.values, registry.cuts)
        for v in column
        if gc.is_tracked(v)
    ]
    assert len({id(s) for s in registry.subscribers}) == 1
    assert all(type(c).__name__ in ("array", "bytearray") for c in (registry.ids, registry.busy))
    assert len(registry.jobs.values()) == registry.count == 2000
    assert registry.jobs.get(("biz", 2, 2000)).fingerprint == 2000  # type: ignore[union-attr]


def test_a_hint_time_is_kept_until_the_job_is_released() -> None:
    registry = Registry(10)
    hinted, other = _watched(registry, Scope.biz(2), 1), _watched(registry, Scope.biz(2), 2)
    assert hinted.hinted == -math.inf
    hinted.hinted = 5.0
    assert hinted.hinted == 5.0
    assert other.hinted == -math.inf
    hinted.subscribers = ()
    registry.release_if_unwatched(hinted)
    assert hinted.hinted == -math.inf  # nothing kept for a released job
    other.hinted = 7.0
    registry.close()
    assert other.hinted == -math.inf


def test_a_stalled_job_that_leaves_is_no_longer_counted_stalled() -> None:
    registry = Registry(10)
    stalled, running = _watched(registry, Scope.biz(2), 7), _watched(registry, Scope.biz(2), 8)
    stalled.job = stalled.job._replace(stalled=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    registry.stalled = 1
    running.subscribers = ()
    registry.release_if_unwatched(running)
    assert registry.stalled == 1
    stalled.subscribers = ()
    registry.release_if_unwatched(stalled)
    assert registry.stalled == 0
    assert stalled.job.stalled is None


def test_a_containers_key_is_kept_apart_from_every_host_key() -> None:
    """A gateway v4 container's key ``("container", id)`` comes back as itself, never a host's."""
    state, _ = _observe(EMPTY, job_body(1, 2, [(10, 2, 0, [5, 7])]))
    data = to_data(state)
    data["steps"][0][3][0][0] = ["container", 101]
    data["visits"] = [[[10, ["container", 101]], 0, [[5, 2]]]]
    mixed = from_data(data)
    step = mixed.step(10)
    assert step is not None
    assert step.keys == (("container", 101), 101)  # (and host 101 beside it)
    assert mixed.visits[0].entity == (10, ("container", 101))
    assert from_data(to_data(mixed)) == mixed
