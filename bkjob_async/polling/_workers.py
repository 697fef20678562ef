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
are in flight, for at most ``_BATCH`` others. Decoding, tracking and delivering then run several times in a row, warm in
the processor's caches (``benchmarks/HISTORY.md``, "CPU per poll").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.lowlevel

from .. import errors
from .._tracing import poll_rounds
from ._decide import UNCHANGED
from ._heap import Slot
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
        self._held: list[tuple[Watched, Unread, float, Any]] = []
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
            self._fold()
            watched = driver.due.take(driver.clock())
            if watched is not None:
                return watched
        if self.rounds is not None:  # nothing due: the round is over
            self.rounds.end()
        while True:
            watched = await driver.due.park(slot)
            if watched is None and self._held:
                self._fold()
            if watched is None:
                watched = driver.due.take(driver.clock())
            if watched is not None:
                return watched

    async def _worker(self) -> None:
        """Poll due jobs back to back; park when none is due, for the scheduler to wake."""
        slot = Slot()
        driver = self.driver
        read, apply, take, clock = driver.reader.read, driver.apply, driver.due.take, driver.clock
        rounds = self.rounds
        while True:
            watched = take(clock()) or await self._wait(slot)
            if not self._still_watched(watched):
                watched.busy = False
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
                    self._fold()
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
                if not held:
                    watched.busy = False
            if held and (
                len(self._held) >= _BATCH
                or self.in_flight < _BATCH
                or driver.health.outage.down_since is not None
            ):
                self._fold()  # (during an outage every answer counts at once: it may end it)

    def _fold(self) -> None:
        """Decode and track the answers held back, in the order they came."""
        held, self._held = self._held, []
        driver = self.driver
        finish = driver.reader.finish
        for watched, unread, sent_at, permit in held:
            try:
                if not watched.active:  # released while held
                    continue
                try:
                    answer = finish(watched, unread)
                except errors.BkJobError as exc:
                    driver.failed(watched, exc, sent_at, permit)
                    continue
                except Exception as exc:  # nothing expects it: this job fails, not the poller
                    fail_alone(driver, watched, exc)
                    continue
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
