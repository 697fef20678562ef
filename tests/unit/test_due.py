"""The scheduler of due jobs (``polling._due.Due``): a timer that hands jobs to parked workers."""

from __future__ import annotations

import asyncio
import math

import anyio
import pytest

from bkjob_async import Scope
from bkjob_async.polling._due import _GROUP, Due, Slot
from bkjob_async.polling._jobs import SHIFT, STALE_DROPS, Registry, Watched
from bkjob_async.polling._turn import Turn

from .test_jobs_memory import _Gate, _watched

pytestmark = pytest.mark.anyio


class _ClosedGate(_Gate):
    """Polls may not go (a pause without end); how long to hold them is a bug."""

    class governor:
        rate = None
        paused_until = math.inf

    def may_send(self, now: float) -> bool:
        return False

    def hold(self, now: float) -> float:
        raise RuntimeError("hold failed")


def _due(gate_type: type[_Gate] = _Gate) -> tuple[Due, Registry]:
    registry = Registry(10)
    return Due(0.0, gate_type(registry)), registry  # type: ignore[arg-type]


async def test_a_parked_worker_is_handed_each_job_when_it_falls_due() -> None:
    due, registry = _due()
    loop = asyncio.get_running_loop()
    first, second = (_watched(registry, Scope.biz(2), job_id) for job_id in (1, 2))
    handed: list[tuple[int, float]] = []

    async def worker() -> None:
        slot = Slot()
        while len(handed) < 2:
            row = await due.park(slot)
            if row is not None:
                handed.append((row.job.job_instance_id, loop.time()))
                row.watched.busy = False

    async with anyio.create_task_group() as tg:
        tg.start_soon(due.run, loop.time)
        start = loop.time()
        due.push(second, start + 0.06)
        due.push(first, start + 0.03)
        with anyio.fail_after(10):
            await worker()
        tg.cancel_scope.cancel()
    assert [job for job, _ in handed] == [1, 2]
    assert handed[0][1] >= start + 0.03  # never early (late only by the machine's delays)
    assert handed[1][1] >= start + 0.06


async def test_a_job_pushed_sooner_than_the_timer_wakes_the_scheduler_at_once() -> None:
    due, registry = _due()
    loop = asyncio.get_running_loop()
    later, sooner = (_watched(registry, Scope.biz(2), job_id) for job_id in (1, 2))
    async with anyio.create_task_group() as tg:
        tg.start_soon(due.run, loop.time)
        due.push(later, loop.time() + 3600)  # the timer is set an hour ahead
        await anyio.sleep(0)
        due.push(sooner, loop.time())  # due now: the timer must not be what wakes it
        with anyio.fail_after(10):
            row = await due.park(Slot())
        tg.cancel_scope.cancel()
    assert row is not None
    assert row.watched == sooner


async def test_a_bug_in_the_scheduler_is_raised_by_run() -> None:
    due, registry = _due(_ClosedGate)
    loop = asyncio.get_running_loop()
    due.push(_watched(registry, Scope.biz(2), 1), loop.time())  # due, but held back

    worker = asyncio.ensure_future(due.park(Slot()))
    await asyncio.sleep(0)  # the worker parks: the job is due, a worker idle, the gate shut
    try:
        with pytest.raises(RuntimeError, match="hold failed"), anyio.fail_after(10):
            await due.run(loop.time)
    finally:
        worker.cancel()


async def test_cancelling_run_stops_its_timer_and_later_wake_ups() -> None:
    due, registry = _due()
    loop = asyncio.get_running_loop()
    due.push(_watched(registry, Scope.biz(2), 1), loop.time() + 3600)
    with anyio.move_on_after(0.05):
        await due.run(loop.time)
    assert due._timer is not None
    assert due._timer.cancelled()
    due.wake()  # no loop to call: nothing scheduled, nothing raised
    assert not due._soon


class _DownGate(_Gate):
    """Polls may go, but bk-job is down (an outage: each poll is a probe)."""

    class health:
        class server:
            down_since = 0.0


async def _handed_at(due: Due, times: list[float], workers: int = 3) -> list[list[int]]:
    """Run the scheduler with ``workers`` parked workers on a clock that reads each of
    ``times`` in turn; return the ids of the jobs it handed out at each (the timer never fires
    in between: every due time is far off)."""
    now, handed = [times[0]], [[] for _ in times]

    async def worker() -> None:
        slot = Slot()
        while True:
            row = await due.park(slot)
            if row is not None:
                handed[times.index(now[0])].append(row.job.job_instance_id)
                row.watched.busy = False

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)
        await anyio.sleep(0)  # (all parked)
        tg.start_soon(due.run, lambda: now[0])
        for at in times:
            now[0] = at
            due.wake()
            await anyio.sleep(0.05)  # (a tick and the workers' turns, many times over)
        tg.cancel_scope.cancel()
    return [sorted(ids) for ids in handed]


def _pair(gap: float = 0.0, gate_type: type[_Gate] = _Gate) -> tuple[Due, Registry, Watched]:
    """A scheduler that lets jobs go up to 0.5 s early (``gap``: the least between two polls
    of a job), job 1 due at 1000.0 and job 2 at 1000.4; return it, its registry and job 2."""
    registry = Registry(10)
    due = Due(gap, gate_type(registry), early=0.5)  # type: ignore[arg-type]
    first, second = (_watched(registry, Scope.biz(2), job_id) for job_id in (1, 2))
    due.push(first, 1000.0)
    due.push(second, 1000.4)
    return due, registry, second


async def test_jobs_due_within_early_go_with_a_job_due_now_and_never_alone() -> None:
    due, registry, second = _pair()
    due.push(_watched(registry, Scope.biz(2), 3), 1000.6)  # not within 0.5 s of job 1
    # Nothing due at 999.9: none goes early by itself. Once job 1 is due (entries keep
    # milliseconds, rounded up), job 2 goes with it.
    assert await _handed_at(due, [999.9, 1000.01, 1000.61]) == [[], [1, 2], [3]]
    assert registry.sents[second.slot] == 1000.01  # (its next gap counts from then)


async def test_a_job_polled_a_moment_ago_waits_for_its_time_and_is_not_refused() -> None:
    due, registry, second = _pair(gap=1.0)
    registry.sents[second.slot] = 999.3  # polled 0.7 s ago: the least gap is 1 s
    assert await _handed_at(due, [1000.01, 1000.41]) == [[1], [2]]
    assert due.refused == 0  # not a poll asked too soon: one not taken early


async def test_no_job_goes_early_in_an_outage() -> None:
    due, _, _ = _pair(gate_type=_DownGate)
    assert await _handed_at(due, [1000.01, 1000.41]) == [[1], [2]]  # a probe goes alone


async def test_at_most_a_group_goes_at_once_with_the_early_ones() -> None:
    due, registry, _ = _pair()
    for job_id in range(3, _GROUP + 6):  # more jobs due within 0.5 s than a group
        due.push(_watched(registry, Scope.biz(2), job_id), 1000.5)
    handed = await _handed_at(due, [1000.01, 1000.51], workers=_GROUP + 5)
    assert handed[0] == list(range(1, _GROUP + 1))  # job 1, due, and the next ones early
    assert handed[1] == list(range(_GROUP + 1, _GROUP + 6))  # the rest at their time


def test_the_time_the_heap_gives_for_an_entry_is_one_its_bound_counts_it_due_at() -> None:
    # (an entry's time is whole milliseconds: for about one in 170, 1,001 ms among them,
    # ``ms / 1e3 * 1e3`` falls short of ``ms``)
    entries = [(ms << SHIFT) | 7 for ms in range(1, 200_000)]
    late = [e >> SHIFT for e in entries if Registry.bound(Registry.next_due([e])) <= e]
    assert late == []


class _UnaskedGate(_Gate):
    """No rate and no outage act: the scheduler has nothing to ask how long polls are held."""

    def hold(self, now: float) -> float:
        raise AssertionError(f"asked how long polls are held at {now!r}: nothing holds them")


async def test_a_tick_at_the_time_the_heap_gives_hands_the_job_out() -> None:
    # A job due at 1.0005 s has the entry 1,001 ms; the scheduler's timer wakes it at the time
    # the heap gives for that entry, and the job goes then, without asking the gate.
    registry = Registry(10)
    due = Due(0.0, _UnaskedGate(registry))  # type: ignore[arg-type]
    due.push(_watched(registry, Scope.biz(2), 1), 1.0005)
    at = registry.next_due(due._heap)
    assert 1.001 <= at < 1.0011
    assert await _handed_at(due, [at]) == [[1]]


def _behind(count: int, turn: Turn | None = None) -> tuple[Due, Registry, Watched]:
    """``count`` jobs due at 1.0 and let go of before they went (a watch ended behind its
    schedule: their entries stale and due), and one job still watched, due at 2.0 behind them;
    return the scheduler (sharing ``turn``), its registry and the job still watched."""
    registry = Registry(10)
    due = Due(0.0, _Gate(registry), turn=turn)  # type: ignore[arg-type]
    for job_id in range(1, count + 1):
        watched = _watched(registry, Scope.biz(2), job_id)
        due.push(watched, 1.0)
        registry.detach(watched.subscribers[0], [job_id])
    live = _watched(registry, Scope.biz(2), count + 1)
    due.push(live, 2.0)
    return due, registry, live


def test_a_take_drops_a_bounded_number_of_stale_entries_and_the_next_goes_on() -> None:
    due, _, live = _behind(2 * STALE_DROPS + 10)
    heap = due._heap
    assert due.take(10.0) is None  # (the loop's turn ends; the scheduler's next tick goes on)
    assert len(heap) == STALE_DROPS + 11
    assert due.take(10.0) is None
    assert len(heap) == 11
    row = due.take(10.0)
    assert row is not None
    assert row.watched == live
    assert heap == []


async def test_a_parked_worker_gets_the_job_behind_many_stale_entries() -> None:
    due, _, live = _behind(3 * STALE_DROPS)
    handed = await _handed_at(due, [10.0])
    assert handed == [[live.job.job_instance_id]]
    assert due._heap == []


async def test_stale_entries_dropped_count_in_the_loops_turn_and_none_go_once_it_is_full() -> None:
    turn = Turn(budget=2)
    due, _, live = _behind(5 * STALE_DROPS, turn)
    heap = due._heap
    assert due.take(10.0) is None  # (dropping counts a poll's work in the turn)
    assert due.take(10.0) is None
    assert len(heap) == 3 * STALE_DROPS + 1
    assert turn.full()
    assert due.take(10.0) is None  # the turn holds its budget: nothing more is dropped in it
    assert len(heap) == 3 * STALE_DROPS + 1
    await anyio.sleep(0)  # (the next turn of the loop)
    assert not turn.full()
    assert due.take(10.0) is None
    assert len(heap) == 2 * STALE_DROPS + 1
    await anyio.sleep(0)
    assert due.take(10.0) is None
    row = due.take(10.0)  # (the last stale ones dropped, the live job is next: it goes)
    assert row is not None
    assert row.watched == live
    assert heap == []
