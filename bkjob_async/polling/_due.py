"""Rule: the due heap hands each job out when its poll may go; no policy of its own but the gap.

The heap of when each job is due (``Due``), which parked workers (``Slot``) wait on. Its heaps
hold the registry's opaque entries (``_jobs.Registry.schedule``, ``_jobs.Watched.put``): it
never reads one itself. A job it hands out comes with its row, read as it is taken
(``_jobs.Row``): the poll's one read of the job table.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from typing import TYPE_CHECKING, Protocol

from ._jobs import STALE_DROPS

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._jobs import Registry, Row, Watched
    from ._turn import Turn

__all__ = ["Due", "Gate", "Slot"]


logger = logging.getLogger("bkjob_async.polling")


# The due jobs: heaps of due times, the guard against polls too soon, and parked workers.
#
# No task exists per job: a job is an entry in a heap of due times. Workers take due jobs
# themselves (``take``) and park when none is due; the scheduler (``_tick``, a timer callback
# while ``run`` runs) only wakes a parked worker when a job falls due, and sets its timer for the
# next due time. A job is never handed out
# sooner than the policy's smallest gap after its last poll unless asked (a callback's hint
# since): such a poll is a scheduling bug, so it is put off, counted and logged once, never sent.
#
# Every poll pushes one entry that lives for the job's interval: an opaque int that the
# registry makes (``Registry.schedule``; a poll's decision's, ``Watched.put``, which the driver
# hands to ``enter``) and reads (``pop_due``, ``next_due``); entries order as their due times,
# and a stale one (the job rescheduled, taken or released) is dropped when popped.
#
# Jobs whose reads time out alone (``_jobs.hangs``) wait in a heap of their own and hold at most
# ``share`` of the requests in flight (``_decide.failing_share``): a hung job never holds a
# healthy job's poll. In an outage the probe is a job failing alone only when no other is due.
#
# The scheduler is an asyncio timer and parked workers wait on bare asyncio futures (the client
# runs on asyncio only, as aiohttp does), not anyio Events and cancel scopes: at a few polls a
# second per worker nearly every poll came with a scheduler sleep that ran to its deadline (a
# cancel scope's timeout: a cancellation delivered, raised and caught), then a turn of the
# scheduler's task before the worker's (``benchmarks/HISTORY.md``, "CPU per job-hour"). Now a
# timer hands the job to the worker directly. Cancelling ``run``'s task stops the scheduler.


# The scheduler never sleeps less than this: jobs due within a tick go out together.
_TICK = 0.001
#: The most polls handed out at once when jobs go early (``Due._hand_out``): a group shares
#: the loop's turns. Among many jobs the next ones are due a moment later, and only those go
#: early; a pull as far as ``early`` for each idle worker would run the whole schedule ahead.
_GROUP = 16


class _Server(Protocol):
    @property
    def down_since(self) -> float | None: ...


class _Governor(Protocol):
    @property
    def rate(self) -> float | None: ...

    @property
    def paused_until(self) -> float: ...


class _Health(Protocol):
    @property
    def server(self) -> _Server: ...


class Gate(Protocol):
    """What may hold due polls back: the rate governor and an outage (the driver)."""

    registry: Registry

    @property
    def governor(self) -> _Governor: ...

    @property
    def health(self) -> _Health: ...

    def may_send(self, now: float) -> bool: ...

    def hold(self, now: float) -> float: ...


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Slot:
    """A parked worker: the scheduler puts a job's row in ``row`` (``failing``: taken from the
    jobs failing alone) and wakes ``ready``."""

    __slots__ = ("failing", "ready", "row")

    def __init__(self) -> None:
        self.row: Row | None = None
        self.failing = False
        self.ready: asyncio.Future[None]  # (``park`` sets it)


class Due:
    """Jobs by due time; ``take`` hands out the earliest due one when polls may go."""

    __slots__ = (
        "_clock",
        "_early",
        "_failing",
        "_gap",
        "_gate",
        "_heap",
        "_idle",
        "_loop",
        "_registry",
        "_running",
        "_share",
        "_soon",
        "_timer",
        "_turn",
        "failing_out",
        "failing_taken",
        "refused",
    )

    def __init__(
        self,
        gap: float,
        gate: Gate,
        share: int = 1,
        early: float = 0.0,
        turn: Turn | None = None,
    ) -> None:
        self._gap = gap
        #: The loop's turn the poller's tasks share: stale entries dropped count in it (``_take``).
        self._turn = turn
        #: How much sooner than due a job may go along with polls that go now (``_hand_out``).
        self._early = early
        self._gate = gate
        #: ints: due time and slot (module docstring); the collector tracks none. The jobs
        #: failing alone have their own, and hold at most ``share`` polls in flight (taken,
        #: not yet ``done``: ``failing_out``).
        self._heap: list[int] = []
        self._failing: list[int] = []
        self._share = share
        self.failing_out = 0
        #: Whether the job ``take`` returned last came from the jobs failing alone (its poll
        #: then holds their share until ``done``).
        self.failing_taken = False
        #: The registry, whose columns the entries name a job's row of by slot.
        self._registry = gate.registry
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
        entry = self._registry.schedule(watched, due)
        if entry is None:
            return  # (released)
        self.enter(entry, watched.hangs())

    def enter(self, entry: int, failing: bool) -> None:
        """Push an entry the registry made (``push``; ``Watched.put``, a poll's next): to the
        heap of the jobs failing alone if ``failing``."""
        heap = self._failing if failing else self._heap
        heapq.heappush(heap, entry)
        if heap[0] == entry:
            self.wake()

    def replace(self, due: list[tuple[float, Watched]]) -> None:
        """Reschedule every job at once (after an outage): ``(due, job)`` pairs."""
        heap: list[int] = []
        failing: list[int] = []
        for at, watched in due:
            entry = self._registry.schedule(watched, at)
            if entry is not None:
                (failing if watched.hangs() else heap).append(entry)
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

    def take(self, now: float) -> Row | None:
        """Pop the earliest due job, if one is due and polls may go now; mark it sent and
        return its row (``Registry.taken``).

        A failing job goes when it is due first and the failing jobs' share of the requests
        in flight has room; in an outage, only when no healthy job is due (module docstring).
        """
        failing = self._failing
        if failing and self.failing_out < self._share:
            bound = self._registry.bound(now)
            if failing[0] < bound:
                top = self._heap[0] if self._heap else bound
                down = self._gate.health.server.down_since is not None
                if top >= bound or (failing[0] < top and not down):
                    row = self._take(failing, now)
                    if row is not None:
                        self.failing_out += 1
                        self.failing_taken = True
                        return row
        self.failing_taken = False
        return self._take(self._heap, now)

    def _take(self, heap: list[int], now: float, until: float | None = None) -> Row | None:
        """Pop the earliest due job of ``heap`` (``take``); with ``until``, the earliest due by
        then, if it may go now (``_hand_out``)."""
        gap, gate, registry, turn = self._gap, self._gate, self._registry, self._turn
        # (entries below are due: at most ``now``, or ``until``)
        bound = registry.bound(now if until is None else until)
        # Stale entries (jobs let go of, or scheduled again) are dropped as they come due, and
        # a watch that ends behind its schedule leaves thousands due at once: a call drops at
        # most ``STALE_DROPS``, counted as a poll in the loop's turn, and none once the turn is
        # full; the rest go in later turns (the scheduler looks again a tick later).
        drops = 0 if turn is not None and turn.full() else STALE_DROPS
        while (watched := registry.pop_due(heap, bound, drops)) is not None:
            sent = watched.sent
            if now < sent + gap and watched.hinted <= sent:
                if until is not None:  # not due yet, and too soon to go early: at its time
                    registry.requeue(heap, watched)
                    return None
                self._refuse(watched, now)  # (a hint since the last poll asked for this one)
                continue
            governor = gate.governor
            down = gate.health.server.down_since is not None
            if down and watched.job.failing is not None:  # a probe: not a job failing alone
                other = self._other_probe(heap, bound, now)
                if other is not None:
                    registry.requeue(heap, watched)
                    watched = other
            if (
                governor.rate is not None or now < governor.paused_until or down
            ) and not gate.may_send(now):
                registry.requeue(heap, watched)
                return None
            return registry.taken(watched, now)
        if registry.dropped and turn is not None:
            turn.spent()
        return None

    def _other_probe(self, heap: list[int], bound: int, now: float) -> Watched | None:
        """Pop the earliest due job not failing alone, if any (an outage's probe)."""
        registry = self._registry
        passed: list[Watched] = []
        found = None
        while (watched := registry.pop_due(heap, bound)) is not None:
            if watched.job.failing is None and now >= watched.sent + self._gap:
                found = watched
                break
            passed.append(watched)
        for watched in passed:
            registry.requeue(heap, watched)
        return found

    def _next(self) -> float:
        """When the next poll that may go is due: the earliest entry, of a failing job only
        while their share has room (``inf``: none)."""
        heap, failing = self._heap, self._failing
        due = self._registry.next_due(heap)
        if failing and self.failing_out < self._share:
            return min(due, self._registry.next_due(failing))
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

    async def park(self, slot: Slot) -> Row | None:
        """Park a worker until the scheduler hands it a job's row (``None``: look again)."""
        slot.ready = ready = asyncio.get_running_loop().create_future()
        self._idle.append(slot)
        if len(self._idle) == 1:
            self.wake()  # the scheduler may be waiting for a free worker
        await ready
        row, slot.row = slot.row, None
        return row

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
        """Hand the jobs due at ``now`` to parked workers, and those due within ``early`` along
        with them; return how long to sleep."""
        handed = 0
        while self._idle and self._next() <= now:
            row = self.take(now)
            if row is None:
                break
            handed += 1
            self._hand(row, self.failing_taken)
        if handed and self._early and self._gate.health.server.down_since is None:
            # Polls go now: the jobs due within ``early`` go with them (``_decide.early``), up
            # to a group.
            heap, until = self._heap, now + self._early
            while self._idle and heap and handed < _GROUP:
                handed += 1
                row = self._take(heap, now, until)
                if row is None:
                    break
                self._hand(row, False)
        due = self._next()  # (stale ones popped)
        if due <= now:
            # Held back (rate, outage): wait until polls may go. Or no worker is free: the
            # first to park wakes us (busy ones take due jobs themselves).
            return max(self._gate.hold(now), _TICK) if self._idle else math.inf
        return max(due - now, _TICK) if due < math.inf else math.inf

    def _hand(self, row: Row, failing: bool) -> None:
        """Hand a job taken (its row) to a parked worker and wake it."""
        slot = self._idle.pop()
        slot.row, slot.failing = row, failing
        _wake(slot.ready)
