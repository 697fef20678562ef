"""The due jobs: a heap of due times, the guard against polls too soon, and parked workers.

No task exists per job: a job is an entry in a heap of due times. Workers take due jobs
themselves (``take``) and park when none is due; ``run`` (the scheduler) only wakes a parked
worker when a job falls due and sleeps until the next due time. A job is never handed out
sooner than the policy's smallest gap after its last poll unless asked (a callback's hint
since): such a poll is a scheduling bug, so it is put off, counted and logged once, never sent.

Every poll pushes one entry that lives for the job's interval. Entries are plain ints, which
the cyclic garbage collector never tracks: the due time in whole milliseconds (rounded up, so a
job is never handed out early; the scheduler's tick is a millisecond too), shifted left 24 bits,
or-ed with the job's ``slot`` (its place in ``Registry.slots``, below 2**24). Such an int stays
below 2**60 for 795 days of the monotonic clock, so it takes 32 bytes, not the 48 of a larger
one: every watched job has one. A tuple per entry would be tracked: ``(due, seq, job)``
entries were promoted to the oldest generation and, at 2,000 polls/s, made a full collection
walking every job's state every minute or so; even tuples of numbers only (untracked at their
first pass) piled up in the youngest generation between passes, one per job polled, and made
its pass walk them all (``benchmarks/README.md``, "Scale without pauses"). An entry is stale
unless it is its job's ``entry`` (the job was rescheduled, taken, released, or the slot holds
another job).

Parked workers and the scheduler sleep on bare asyncio futures (the client runs on asyncio
only, as aiohttp does), not on anyio Events and cancel scopes: a scheduler sleep that ran to its
deadline was a cancel scope's timeout, a cancellation delivered, raised and caught, and at a
few polls a second per worker that came with nearly every poll (``benchmarks/README.md``,
"CPU per job-hour"). Cancelling their task still stops them.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._decide import Health
    from ._jobs import Registry, Watched
    from ._rate import RateGovernor

__all__ = ["SHIFT", "Due", "Slot"]

logger = logging.getLogger("bkjob_async.polling")

# The scheduler never sleeps less than this: jobs due within a tick go out together.
_TICK = 0.001
SHIFT = 24  # slots below 2**24 (``Watched.due`` reads an entry's due time)
_SLOT = (1 << SHIFT) - 1


def _entry(due: float, slot: int) -> int:
    """The heap entry of a poll of the job in ``slot`` at ``due`` (module docstring).

    ``int(due * 1e3) + 1``: up to a millisecond late, never early (``push`` spells it inline).
    """
    return ((int(due * 1e3) + 1) << SHIFT) | slot


class Gate(Protocol):
    """What may hold due polls back: the rate governor and an outage (the driver)."""

    governor: RateGovernor
    health: Health
    registry: Registry

    def may_send(self, now: float) -> bool: ...

    def hold(self, now: float) -> float: ...


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Slot:
    """A parked worker: the scheduler puts a job in ``watched`` and wakes ``ready``."""

    __slots__ = ("ready", "watched")

    def __init__(self) -> None:
        self.watched: Watched | None = None
        self.ready: asyncio.Future[None]  # (``park`` sets it)


class Alarm:
    """What the scheduler sleeps on: woken by ``set`` or after ``delay``, whichever is first."""

    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    def set(self) -> None:
        """Wake the sleeper, if one sleeps (a wake-up between two sleeps is not kept)."""
        if self._future is not None:
            _wake(self._future)

    async def sleep(self, delay: float) -> None:
        """Sleep until ``set`` or for ``delay`` seconds (``math.inf``: until ``set``)."""
        loop = asyncio.get_running_loop()
        self._future = future = loop.create_future()
        timer = loop.call_later(delay, _wake, future) if delay < math.inf else None
        try:
            await future
        finally:
            self._future = None
            if timer is not None:
                timer.cancel()


class Due:
    """Jobs by due time; ``take`` hands out the earliest due one when polls may go."""

    __slots__ = ("_gap", "_gate", "_heap", "_idle", "_slots", "_wakeup", "refused")

    def __init__(self, gap: float, gate: Gate) -> None:
        self._gap = gap
        self._gate = gate
        #: ints: due time and slot (module docstring); the collector tracks none.
        self._heap: list[int] = []
        #: The registry's records by slot (the registry's list, never replaced).
        self._slots = gate.registry.slots
        self._wakeup: Alarm | None = None
        self._idle: list[Slot] = []
        #: Polls put off because they came sooner than the smallest gap (``_refuse``).
        self.refused = 0

    def push(self, watched: Watched, due: float) -> None:
        """(Re)schedule a job's next poll at ``due``."""
        watched.entry = entry = ((int(due * 1e3) + 1) << SHIFT) | watched.slot  # (_entry)
        heap = self._heap
        heapq.heappush(heap, entry)
        if heap[0] == entry and self._wakeup is not None:
            self._wakeup.set()

    def replace(self, due: list[tuple[float, Watched]]) -> None:
        """Reschedule every job at once (after an outage): ``(due, job)`` pairs."""
        heap = []
        for at, watched in due:
            watched.entry = entry = _entry(at, watched.slot)
            heap.append(entry)
        heapq.heapify(heap)
        self._heap[:] = heap
        self.wake()

    def clear(self) -> None:
        self._heap.clear()

    def wake(self) -> None:
        """Wake the scheduler (polls may go again, say)."""
        if self._wakeup is not None:
            self._wakeup.set()

    def take(self, now: float) -> Watched | None:
        """Pop the earliest due job, if one is due and polls may go now; mark it sent."""
        heap, gap, gate, slots = self._heap, self._gap, self._gate, self._slots
        bound = (int(now * 1e3) + 1) << SHIFT  # entries below are due: at most ``now``
        while heap and heap[0] < bound:
            entry = heapq.heappop(heap)
            watched = slots[entry & _SLOT]
            if watched is None or watched.entry != entry or not watched.active:
                continue  # rescheduled, taken or unwatched since: a stale entry
            if now < watched.sent + gap and watched.hinted <= watched.sent:
                self._refuse(watched, now)  # (a hint since the last poll asked for this one)
                continue
            governor = gate.governor
            if (
                governor.rate is not None
                or now < governor.paused_until
                or gate.health.outage.down_since is not None
            ) and not gate.may_send(now):
                heapq.heappush(heap, entry)
                return None
            watched.entry = None
            watched.busy = True
            watched.sent = now
            return watched
        return None

    def _refuse(self, watched: Watched, now: float) -> None:
        """Put off a poll that came too soon after the job's last one, and count it.

        The schedule never asks for one (``min_gap``): whatever asks is a bug, and this keeps
        it from becoming a flood of requests against bk-job.
        """
        self.refused += 1
        if self.refused == 1:
            logger.warning(
                "job %s: a poll was due %.3f s after the last one, sooner than the policy allows "
                "(%.3f s); putting it off (counted in statistics().refused_polls)",
                watched.job.job_instance_id,
                now - watched.sent,
                self._gap,
            )
        self.push(watched, watched.sent + self._gap)

    async def park(self, slot: Slot) -> Watched | None:
        """Park a worker until the scheduler hands it a job (``None``: look again)."""
        slot.ready = ready = asyncio.get_running_loop().create_future()
        self._idle.append(slot)
        if len(self._idle) == 1 and self._wakeup is not None:
            self._wakeup.set()  # the scheduler may be waiting for a free worker
        await ready
        watched, slot.watched = slot.watched, None
        return watched

    async def run(self, clock: Callable[[], float]) -> None:
        """Hand due jobs to parked workers, and sleep until the next one is due.

        Busy workers take due jobs themselves, so under load nothing passes through here; the
        loop wakes at most once per ``_TICK``.
        """
        heap = self._heap
        self._wakeup = alarm = Alarm()
        while True:
            now = clock()
            due = (heap[0] >> SHIFT) / 1e3 if heap else math.inf  # (the entry's due)
            if self._idle and due <= now:
                watched = self.take(now)
                if watched is not None:
                    slot = self._idle.pop()
                    slot.watched = watched
                    _wake(slot.ready)
                    continue
                due = (heap[0] >> SHIFT) / 1e3 if heap else math.inf  # (stale ones popped)
            if due <= now:
                # Held back (rate, outage): wait until polls may go. Or no worker is free: the
                # first to park wakes us (busy ones take due jobs themselves).
                delay = max(self._gate.hold(now), _TICK) if self._idle else math.inf
            else:
                delay = max(due - now, _TICK) if heap else math.inf
            await alarm.sleep(delay)
