"""The due jobs: heaps of due times, the guard against polls too soon, and parked workers.

No task exists per job: a job is an entry in a heap of due times. Workers take due jobs
themselves (``take``) and park when none is due; the scheduler (``_tick``, a timer callback
while ``run`` runs) only wakes a parked worker when a job falls due, and sets its timer for the
next due time. A job is never handed out
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
its pass walk them all (``benchmarks/HISTORY.md``, "Scale without pauses"). An entry is stale
unless it is its job's ``entry`` (the job was rescheduled, taken, released, or the slot holds
another job).

Jobs whose reads time out alone (``_jobs.hangs``) wait in a heap of their own and hold at most
``share`` of the requests in flight (``_failures.failing_share``): a hung job never holds a
healthy job's poll. In an outage the probe is a job failing alone only when no other is due.

The scheduler is an asyncio timer and parked workers wait on bare asyncio futures (the client
runs on asyncio only, as aiohttp does), not anyio Events and cancel scopes: at a few polls a
second per worker nearly every poll came with a scheduler sleep that ran to its deadline (a
cancel scope's timeout: a cancellation delivered, raised and caught), then a turn of the
scheduler's task before the worker's (``benchmarks/HISTORY.md``, "CPU per job-hour"). Now a
timer hands the job to the worker directly. Cancelling ``run``'s task stops the scheduler.
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
    from ._jobs import PolledJob, Registry, Watched
    from ._rate import RateGovernor

__all__ = ["SHIFT", "Due", "Slot", "hangs"]

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


def hangs(job: PolledJob) -> bool:
    """Whether a job fails alone with timeouts: each of its polls holds a request for a whole
    read timeout, so the failing jobs' share of the requests in flight bounds them (``_heap``).
    A job that fails fast (a 502, a malformed body) holds one no longer than a healthy one."""
    return job.failures > 0 and isinstance(job.error, TimeoutError)


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


class Due:
    """Jobs by due time; ``take`` hands out the earliest due one when polls may go."""

    __slots__ = (
        "_clock",
        "_failing",
        "_gap",
        "_gate",
        "_heap",
        "_idle",
        "_loop",
        "_running",
        "_share",
        "_slots",
        "_soon",
        "_timer",
        "failing_out",
        "refused",
    )

    def __init__(self, gap: float, gate: Gate, share: int = 1) -> None:
        self._gap = gap
        self._gate = gate
        #: ints: due time and slot (module docstring); the collector tracks none. The jobs
        #: failing alone have their own, and hold at most ``share`` polls in flight (taken,
        #: not yet ``done``: ``failing_out``).
        self._heap: list[int] = []
        self._failing: list[int] = []
        self._share = share
        self.failing_out = 0
        #: The registry's records by slot (the registry's list, never replaced).
        self._slots = gate.registry.slots
        #: While ``run`` runs: its task's future (``_tick`` fails it on a bug), the loop and
        #: the clock; the timer for the next due time, and whether a tick is scheduled soon.
        self._running: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: Callable[[], float] = lambda: 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._soon = False
        self._idle: list[Slot] = []
        #: Polls put off because they came sooner than the smallest gap (``_refuse``).
        self.refused = 0

    def push(self, watched: Watched, due: float) -> None:
        """(Re)schedule a job's next poll at ``due``."""
        watched.entry = entry = ((int(due * 1e3) + 1) << SHIFT) | watched.slot  # (_entry)
        heap = self._failing if hangs(watched.job) else self._heap
        heapq.heappush(heap, entry)
        if heap[0] == entry:
            self.wake()

    def replace(self, due: list[tuple[float, Watched]]) -> None:
        """Reschedule every job at once (after an outage): ``(due, job)`` pairs."""
        heap: list[int] = []
        failing: list[int] = []
        for at, watched in due:
            watched.entry = entry = _entry(at, watched.slot)
            (failing if hangs(watched.job) else heap).append(entry)
        heapq.heapify(heap)
        heapq.heapify(failing)
        self._heap[:] = heap
        self._failing[:] = failing
        self.wake()

    def clear(self) -> None:
        self._heap.clear()
        self._failing.clear()

    def done(self) -> None:
        """A failing job's poll came back: its share of the requests in flight is free."""
        self.failing_out -= 1
        if self._failing:
            self.wake()

    def wake(self) -> None:
        """Have the scheduler look again soon (polls may go again, say)."""
        if self._loop is not None and not self._soon:
            self._soon = True
            self._loop.call_soon(self._tick)

    def take(self, now: float) -> Watched | None:
        """Pop the earliest due job, if one is due and polls may go now; mark it sent.

        A failing job goes when it is due first and the failing jobs' share of the requests
        in flight has room; in an outage, only when no healthy job is due (module docstring).
        """
        failing = self._failing
        if failing and self.failing_out < self._share:
            bound = (int(now * 1e3) + 1) << SHIFT
            if failing[0] < bound:
                top = self._heap[0] if self._heap else bound
                down = self._gate.health.server.down_since is not None
                if top >= bound or (failing[0] < top and not down):
                    watched = self._take(failing, now)
                    if watched is not None:
                        self.failing_out += 1
                        return watched
        return self._take(self._heap, now)

    def _take(self, heap: list[int], now: float) -> Watched | None:
        """Pop the earliest due job of ``heap`` (``take``)."""
        gap, gate, slots = self._gap, self._gate, self._slots
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
            down = gate.health.server.down_since is not None
            if down and watched.job.failing is not None:  # a probe: not a job failing alone
                other = self._other_probe(heap, bound, now)
                if other is not None:
                    heapq.heappush(heap, entry)
                    entry, watched = other
            if (
                governor.rate is not None or now < governor.paused_until or down
            ) and not gate.may_send(now):
                heapq.heappush(heap, entry)
                return None
            watched.entry = None
            watched.busy = True
            watched.sent = now
            return watched
        return None

    def _other_probe(self, heap: list[int], bound: int, now: float) -> tuple[int, Watched] | None:
        """Pop the earliest due entry of a job not failing alone, if any (an outage's probe)."""
        held: list[int] = []
        found = None
        while heap and heap[0] < bound:
            entry = heapq.heappop(heap)
            watched = self._slots[entry & _SLOT]
            if watched is None or watched.entry != entry or not watched.active:
                continue
            if watched.job.failing is None and now >= watched.sent + self._gap:
                found = (entry, watched)
                break
            held.append(entry)
        for entry in held:
            heapq.heappush(heap, entry)
        return found

    def _next(self) -> float:
        """When the next poll that may go is due: the earliest entry, of a failing job only
        while their share has room (``inf``: none)."""
        heap, failing = self._heap, self._failing
        due = (heap[0] >> SHIFT) / 1e3 if heap else math.inf  # (the entry's due)
        if failing and self.failing_out < self._share:
            return min(due, (failing[0] >> SHIFT) / 1e3)
        return due

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
        if len(self._idle) == 1:
            self.wake()  # the scheduler may be waiting for a free worker
        await ready
        watched, slot.watched = slot.watched, None
        return watched

    async def run(self, clock: Callable[[], float]) -> None:
        """Run the scheduler until cancelled: hand due jobs to parked workers as they fall due.

        Busy workers take due jobs themselves, so under load nothing passes through here; the
        timer fires at most once per ``_TICK``. A bug in it is raised here.
        """
        self._loop = loop = asyncio.get_running_loop()
        self._clock = clock
        self._running = running = loop.create_future()
        self._tick()
        try:
            await running
        finally:
            self._loop = self._running = None
            if self._timer is not None:
                self._timer.cancel()

    def _tick(self) -> None:
        """Hand due jobs to parked workers; set the timer for when to look again."""
        self._soon = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        running, loop = self._running, self._loop
        if running is None or loop is None or running.done():
            return  # (a tick scheduled before ``run`` ended, or after a bug ended it)
        try:
            delay = self._hand_out(self._clock())
        except Exception as exc:
            running.set_exception(exc)
            return
        if delay < math.inf:
            self._timer = loop.call_later(delay, self._tick)

    def _hand_out(self, now: float) -> float:
        """Hand the jobs due at ``now`` to parked workers; return how long to sleep."""
        while self._idle and self._next() <= now:
            watched = self.take(now)
            if watched is None:
                break
            slot = self._idle.pop()
            slot.watched = watched
            _wake(slot.ready)
        due = self._next()  # (stale ones popped)
        if due <= now:
            # Held back (rate, outage): wait until polls may go. Or no worker is free: the
            # first to park wakes us (busy ones take due jobs themselves).
            return max(self._gate.hold(now), _TICK) if self._idle else math.inf
        return max(due - now, _TICK) if due < math.inf else math.inf
