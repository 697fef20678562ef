"""The due jobs: a heap of due times, the guard against polls too soon, and parked workers.

No task exists per job: a job is an entry in a heap of due times. Workers take due jobs
themselves (``take``) and park when none is due; ``run`` (the scheduler) only wakes a parked
worker when a job falls due and sleeps until the next due time. A job is never handed out
sooner than the policy's smallest gap after its last poll unless asked (a callback's hint
since): such a poll is a scheduling bug, so it is put off, counted and logged once, never sent.

The heap holds ``(due, slot)`` pairs of plain numbers, ``slot`` naming the job's place in the
registry (``Registry.slots``): every poll pushes one entry that lives for the job's interval,
and a pair of numbers is untracked by the cyclic garbage collector at its first pass, so none
is promoted to the oldest generation. A ``(due, seq, job)`` entry was: at 2,000 polls/s those
made a full collection, walking every job's state, every minute or so (``benchmarks/README.md``,
"Scale without pauses"). An entry is stale when its job's ``due`` differs (rescheduled, or the
slot now holds another job): two entries of one slot with the same ``due`` are the same poll.
"""

from __future__ import annotations

import heapq
import logging
import math
from typing import TYPE_CHECKING, Protocol

import anyio

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._decide import Health
    from ._jobs import Registry, Watched
    from ._rate import RateGovernor

__all__ = ["Due", "Slot"]

logger = logging.getLogger("bkjob_async.polling")

# The scheduler never sleeps less than this: jobs due within a tick go out together.
_TICK = 0.001


class Gate(Protocol):
    """What may hold due polls back: the rate governor and an outage (the driver)."""

    governor: RateGovernor
    health: Health
    registry: Registry

    def may_send(self, now: float) -> bool: ...

    def hold(self, now: float) -> float: ...


class Slot:
    """A parked worker: the scheduler puts a job in ``watched`` and sets ``ready``."""

    __slots__ = ("ready", "watched")

    def __init__(self) -> None:
        self.watched: Watched | None = None
        self.ready = anyio.Event()


class Due:
    """Jobs by due time; ``take`` hands out the earliest due one when polls may go."""

    __slots__ = ("_gap", "_gate", "_heap", "_idle", "_slots", "_wakeup", "refused")

    def __init__(self, gap: float, gate: Gate) -> None:
        self._gap = gap
        self._gate = gate
        #: ``(due, slot)``: numbers only, so the collector untracks them (module docstring).
        self._heap: list[tuple[float, int]] = []
        #: The registry's records by slot (the registry's list, never replaced).
        self._slots = gate.registry.slots
        self._wakeup: anyio.Event | None = None
        self._idle: list[Slot] = []
        #: Polls put off because they came sooner than the smallest gap (``_refuse``).
        self.refused = 0

    def push(self, watched: Watched, due: float) -> None:
        """(Re)schedule a job's next poll at ``due``."""
        watched.due = due
        heap = self._heap
        heapq.heappush(heap, (due, watched.slot))
        if heap[0][0] == due and self._wakeup is not None:
            self._wakeup.set()

    def replace(self, due: list[tuple[float, Watched]]) -> None:
        """Reschedule every job at once (after an outage): ``(due, job)`` pairs."""
        heap = []
        for at, watched in due:
            watched.due = at
            heap.append((at, watched.slot))
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
        while heap and heap[0][0] <= now:
            due, slot = heapq.heappop(heap)
            watched = slots[slot]
            if watched is None or watched.due != due or not watched.active:
                continue  # rescheduled or unwatched since: a stale entry
            if now < watched.sent + gap and watched.hinted <= watched.sent:
                self._refuse(watched, now)  # (a hint since the last poll asked for this one)
                continue
            governor = gate.governor
            if (
                governor.rate is not None
                or now < governor.paused_until
                or gate.health.outage.down_since is not None
            ) and not gate.may_send(now):
                heapq.heappush(heap, (due, slot))
                return None
            watched.due = math.inf
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
        slot.ready = anyio.Event()
        self._idle.append(slot)
        if len(self._idle) == 1 and self._wakeup is not None:
            self._wakeup.set()  # the scheduler may be waiting for a free worker
        await slot.ready.wait()
        watched, slot.watched = slot.watched, None
        return watched

    async def run(self, clock: Callable[[], float]) -> None:
        """Hand due jobs to parked workers, and sleep until the next one is due.

        Busy workers take due jobs themselves, so under load nothing passes through here; the
        loop wakes at most once per ``_TICK``.
        """
        heap = self._heap
        self._wakeup = anyio.Event()
        while True:
            now = clock()
            if self._idle and heap and heap[0][0] <= now:
                watched = self.take(now)
                if watched is not None:
                    slot = self._idle.pop()
                    slot.watched = watched
                    slot.ready.set()
                    continue
            if heap and heap[0][0] <= now:
                # Held back (rate, outage): wait until polls may go. Or no worker is free: the
                # first to park wakes us (busy ones take due jobs themselves).
                delay = max(self._gate.hold(now), _TICK) if self._idle else math.inf
            else:
                delay = max(heap[0][0] - now, _TICK) if heap else math.inf
            self._wakeup = anyio.Event()
            with anyio.move_on_after(delay):
                await self._wakeup.wait()
