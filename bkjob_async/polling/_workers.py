"""The workers: ``max_in_flight`` tasks, each polling the earliest due job, back to back.

A worker takes a due job itself (``Due.take``) and parks when none is due, for the scheduler
to wake. It polls through the reader and hands what came back to the driver (``apply``,
``failed``; ``_isolate.fail_alone`` for an exception nothing expects: that job alone fails).
Changed answers are held back and folded several at a time (``_BATCH``): when
``_BATCH`` are held, when a worker finds nothing due, before a failed poll is counted, and at
once during an outage (so the failure policy sees answers and failures in the order they
came), or when fewer than ``_BATCH`` requests are in flight (answers then come one by one: the
batch would not fill before the worker's next poll comes back, and the answer would wait for
that poll, a request's time, or its timeout). An answer thus waits only while many requests
are in flight, for at most ``_BATCH`` others (and for the next turns of the loop when answers
come faster than they are folded, below). Decoding, tracking and delivering then run several times in a row, warm in
the processor's caches (``benchmarks/HISTORY.md``, "CPU per poll").

The workers share the driver's ``Turn`` of the event loop. One worker at a time folds the held
answers, a turn's budget at a time; a worker sends its next poll once the turn has budget left
and no batch is held while that one folds. When answers come faster than they are folded (the
first polls of a large watch, every one a change), fewer polls go out, and each turn reads a
few answers instead of one turn reading every answer that landed: no long stall.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio.lowlevel

from .. import errors
from .._tracing import poll_rounds
from ._decide import UNCHANGED
from ._heap import Slot, hangs
from ._isolate import fail_alone
from ._reader import Unread

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from .._tracing import PollRounds
    from ._driver import Driver
    from ._jobs import Watched

__all__ = ["Workers"]

#: Changed answers held back at most, to be folded together (``Workers._fold``).
_BATCH = 16


class Workers:
    """The driver's workers, and the changed answers they hold back."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        #: The poll rounds' spans (``_tracing``), or ``None``: spans off (checked at start).
        self.rounds: PollRounds | None = None
        #: Answers held back to be folded together: (job, answer, sent at, permit).
        self._held: deque[tuple[Watched, Unread, float, Any]] = deque()
        #: A worker folds the held answers now (over several turns of the loop).
        self._folding = False
        #: Workers waiting for the held answers to fall under a batch (``_room``).
        self._waiting: list[asyncio.Future[None]] = []
        #: Requests in flight now.
        self.in_flight = 0

    def start(self, tg: TaskGroup) -> None:
        self.rounds = poll_rounds()
        for _ in range(self.driver.policy.max_in_flight):
            tg.start_soon(self._worker)

    async def _wait(self, slot: Slot) -> Watched:
        """Return the next due job once there is one: fold the held answers first (nothing is
        due, so none waits for more to come), then park until the scheduler hands one over."""
        driver = self.driver
        if self._held:
            await self._fold()
            watched = driver.due.take(driver.clock())
            if watched is not None:
                return watched
        if self.rounds is not None:  # nothing due: the round is over
            self.rounds.end()
        while True:
            watched = await driver.due.park(slot)
            if watched is None and self._held:
                await self._fold()
            if watched is None:
                watched = driver.due.take(driver.clock())
            if watched is not None:
                return watched

    async def _worker(self) -> None:
        """Poll due jobs back to back; park when none is due, for the scheduler to wake."""
        slot = Slot()
        driver = self.driver
        read, apply, take, clock = driver.reader.read, driver.apply, driver.due.take, driver.clock
        rounds, spent = self.rounds, driver.turn.spent
        while True:
            if self._folding and len(self._held) >= _BATCH:
                await self._room()  # (answers come faster than they are folded)
            elif spent():  # (this turn has run the poller's budget: go on in the next)
                await anyio.lowlevel.checkpoint()
            watched = take(clock()) or await self._wait(slot)
            failing = hangs(watched.job)  # (taken from the failing jobs' share: ``_heap``)
            if not self._still_watched(watched):
                watched.busy = False
                if failing:
                    driver.due.done()
                await anyio.lowlevel.checkpoint()  # (a large watch closed: let others run)
                continue
            sent_at = watched.sent  # (when the heap handed it out)
            permit = None
            if driver.permits is not None:
                permit = await driver.permits.acquire()
                sent_at = driver.clock()
            self.in_flight += 1
            held = False
            try:
                result = await read(watched)
            except errors.BkJobError as exc:
                if self._held:  # answers that came before this failure count first
                    self._fold_all()
                driver.failed(watched, exc, sent_at, permit)
                if rounds is not None:
                    rounds.note(failed=True)
            except Exception as exc:  # nothing expects it: this job fails, not the poller
                fail_alone(driver, watched, exc)
            else:
                if rounds is not None:
                    rounds.note(changed=result is not None)
                if watched.active:
                    if result is None:
                        apply(watched, UNCHANGED)
                    elif isinstance(result, Unread):  # held back, the job busy until folded
                        self._held.append((watched, result, sent_at, permit))
                        held = True
                    else:  # read by result groups: decoded already
                        apply(watched, result)
            finally:
                self.in_flight -= 1
                if failing:
                    driver.due.done()
                if not held:
                    watched.busy = False
            if held:
                if driver.health.server.down_since is not None:
                    self._fold_all()  # (during an outage every answer counts at once: it may end it)
                elif len(self._held) >= _BATCH or self.in_flight < _BATCH:
                    await self._fold()

    async def _fold(self) -> None:
        """Decode and track the held answers in the order they came, a turn's budget at a
        time; answers held meanwhile are folded too. One worker folds at a time: another
        finds it folding and goes on."""
        if self._folding:
            return
        self._folding = True
        held, spent, fold = self._held, self.driver.turn.spent, self._fold_one
        try:
            while held:
                if spent():
                    await anyio.lowlevel.checkpoint()
                    spent()  # (counts this turn's work from here)
                    if not held:  # (folded at once meanwhile: a failure, an outage)
                        break
                fold(*held.popleft())
                if self._waiting and len(held) < _BATCH:
                    self._let_send()
        finally:
            self._folding = False
            self._let_send()

    async def _room(self) -> None:
        """Wait until the folding worker has folded all but less than a batch."""
        ready = asyncio.get_running_loop().create_future()
        self._waiting.append(ready)
        await ready

    def _let_send(self) -> None:
        """Wake the workers waiting in ``_room``."""
        waiting, self._waiting = self._waiting, []
        for ready in waiting:
            if not ready.done():  # (a cancelled worker's is)
                ready.set_result(None)

    def _fold_all(self) -> None:
        """Fold every held answer now, in the order they came (before a failure counts)."""
        held, fold = self._held, self._fold_one
        while held:
            fold(*held.popleft())

    def _fold_one(self, watched: Watched, unread: Unread, sent_at: float, permit: Any) -> None:
        driver = self.driver
        try:
            if not watched.active:  # released while held
                return
            try:
                answer = driver.reader.finish(watched, unread)
            except errors.BkJobError as exc:
                driver.failed(watched, exc, sent_at, permit)
                return
            except Exception as exc:  # nothing expects it: this job fails, not the poller
                fail_alone(driver, watched, exc)
                return
            driver.apply(watched, answer)
        finally:
            watched.busy = False

    def _still_watched(self, watched: Watched) -> bool:
        if not watched.active:  # released while a parked worker was waking up
            return False
        for sub in watched.subscribers:
            if sub.closed:  # a watch was dropped: let go of it first (and of the job, if last)
                self.driver.registry.release_if_unwatched(watched)
                return watched.active
        return True
