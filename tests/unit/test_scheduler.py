"""The scheduler of due jobs (``polling._jobs.Due``): a timer that hands jobs to parked workers."""

from __future__ import annotations

import asyncio
import math

import anyio
import pytest

from bkjob_async import Scope
from bkjob_async.polling._jobs import Due, Registry, Slot

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
            watched = await due.park(slot)
            if watched is not None:
                handed.append((watched.job.job_instance_id, loop.time()))
                watched.busy = False

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
            watched = await due.park(Slot())
        tg.cancel_scope.cancel()
    assert watched == sooner


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
