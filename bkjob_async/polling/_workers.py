"""Rule: a worker polls one due job at a time and hands every outcome to the driver, never decides.

A worker takes a due job's row from the heap (``_due``), waits for an outside budget's permit
(``Permits``) if there is one, and asks the reader (``_reader``). What comes back goes to the
driver that owns the workers (``Owner``): unchanged or decoded, to ``apply``; a failure, to
``failed``; an exception nothing expects, to ``fail_alone``. A changed answer read whole is held
back (``Unread``) and folded with the others held (decoded, then applied) a turn's budget at a
time (``_turn``), by one worker while the others go on polling. Nothing here imports the
driver: it is reached through ``Owner``.
"""

from __future__ import annotations

import asyncio
import typing
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio.lowlevel

from .. import errors
from .._tracing import poll_rounds
from ._decide import UNCHANGED
from ._due import Slot
from ._reader import Unread
from ._turn import EVENTS_A_POLL, event_work, fold_work, next_turn

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskGroup

    from .._tracing import PollRounds
    from ._decide import Health, Outcome
    from ._due import Due
    from ._jobs import Registry, Row, Watched
    from ._policy import PollPolicy
    from ._reader import Reader
    from ._turn import Turn

__all__ = ["Owner", "Permits", "Workers"]


class Permits(typing.Protocol):
    """An outside rate budget the poller asks before each poll (``Poller(permits=...)``)."""

    async def acquire(self) -> Any:
        """Wait until one request may go; return its permit."""

    async def throttled(self, permit: Any, retry_after: float | None = None) -> Any:
        """Report that the request of ``permit`` got a throttle answer."""


class Owner(typing.Protocol):
    """What the workers ask of the driver that owns them (``_driver.Driver``)."""

    #: The due heap the workers take jobs from, and the table of the jobs' rows.
    due: Due
    registry: Registry
    reader: Reader
    #: The loop's turn the workers share with the poller's other tasks.
    turn: Turn
    policy: PollPolicy
    health: Health
    permits: Permits | None
    clock: Callable[[], float]

    def apply(
        self,
        watched: Watched,
        outcome: Outcome,
        now: float | None = None,
        row: Row | None = None,
        fingerprint: Any = ...,
        cuts: tuple[int, ...] | None = None,
    ) -> int:
        """Decide what follows ``outcome`` for the job and apply it; return how many events
        it handed to the job's watches."""

    def failed(self, watched: Watched, exc: errors.BkJobError, sent_at: float, permit: Any) -> None:
        """Apply a failed poll of the job."""

    def fail_alone(self, watched: Watched, exc: Exception) -> None:
        """End the job's watches for an exception nothing expects."""


#: Changed answers held back at most, to be folded together (``Workers._fold``).
_BATCH = 16


class Workers:
    """The driver's workers, and the changed answers they hold back."""

    def __init__(self, driver: Owner) -> None:
        self.driver = driver
        #: The poll rounds' spans (``_tracing``), or ``None``: spans off (checked at start).
        self.rounds: PollRounds | None = None
        #: Answers held back to be folded together: (job's row, answer, sent at, permit).
        self._held: deque[tuple[Row, Unread, float, Any]] = deque()
        #: A worker folds the held answers now (over several turns of the loop).
        self._folding = False
        #: Workers waiting for the held answers to fall under a batch (``_room``).
        self._waiting: list[asyncio.Future[None]] = []
        #: Polls that came back, none of them held, since the held answers were last folded.
        self._passed = 0
        #: Requests in flight now.
        self.in_flight = 0

    def start(self, tg: TaskGroup) -> None:
        self.rounds = poll_rounds()
        for _ in range(self.driver.policy.max_in_flight):
            tg.start_soon(self._worker)

    async def _wait(self, slot: Slot) -> tuple[Row, bool]:
        """Return the next due job's row once there is one, and whether it was taken from the
        jobs failing alone (``Due.take``): fold the held answers first (nothing is due, so none
        waits for more to come), then park until the scheduler hands one over."""
        driver = self.driver
        due = driver.due
        if self._held:
            await self._fold()
            row = due.take(driver.clock())
            if row is not None:
                return row, due.failing_taken
        if self.rounds is not None:  # nothing due: the round is over
            self.rounds.end()
        while True:
            row = await due.park(slot)
            if row is not None:
                return row, slot.failing
            if self._held:
                await self._fold()
            row = due.take(driver.clock())
            if row is not None:
                return row, due.failing_taken

    async def _worker(self) -> None:
        """Poll due jobs back to back; park when none is due, for the scheduler to wake."""
        slot = Slot()
        driver = self.driver
        read, apply, take, clock = driver.reader.read, driver.apply, driver.due.take, driver.clock
        rounds, turn = self.rounds, driver.turn
        spent = turn.spent
        # A job's row is read in place here (the registry's columns at its slot, while its
        # handle's generation is the slot's): ``Watched``'s properties are calls, every poll.
        registry, due = driver.registry, driver.due
        gens, busy = registry.gens, registry.busy
        while True:
            if self._folding and len(self._held) >= _BATCH:
                await self._room()  # (answers come faster than they are folded)
            elif turn.counting and spent():  # (this turn ran the poller's budget: the next)
                await next_turn()
            # A poll that goes counts this turn's work from here, if nothing counted it yet; a
            # worker that finds none due parks, and schedules no end of a count (``Turn``): an
            # unchanged answer at a quiet time costs one turn of the loop, not two.
            row = take(clock())  # (the job's row: its poll's one read of the job table)
            if row is None:
                row, failing = await self._wait(slot)
            else:
                failing = due.failing_taken  # (taken from the failing jobs' share: ``_due``)
                if not turn.counting:
                    spent()
            watched = row.watched
            if not self._still_watched(row):
                watched.busy = False
                if failing:
                    driver.due.done()
                await anyio.lowlevel.checkpoint()  # (a large watch closed: let others run)
                continue
            sent_at = row.sent  # (when the heap handed it out)
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
                driver.fail_alone(watched, exc)
            else:
                if rounds is not None:
                    rounds.note(changed=result is not None)
                if gens[watched.slot] == watched.gen:  # (``watched.active``)
                    if result is None:
                        apply(watched, UNCHANGED, None, row)
                    elif isinstance(result, Unread):  # held back, the job busy until folded
                        self._held.append((row, result, sent_at, permit))
                        held = True
                    else:  # read by result groups: decoded already (a large step's)
                        events = apply(watched, result, None, row)
                        if events >= EVENTS_A_POLL:
                            turn.add(event_work(events))
            finally:
                self.in_flight -= 1
                if failing:
                    driver.due.done()
                # Its poll is over: clear ``busy``, unless scheduling its next poll did
                # (``_jobs``), and free its slot if it was released in flight.
                if not held and (gens[watched.slot] != watched.gen or busy[watched.slot]):
                    watched.busy = False
            if held:
                if driver.health.server.down_since is not None:
                    self._fold_all()  # (during an outage every answer counts at once: it may end it)
                elif len(self._held) >= _BATCH or self.in_flight < _BATCH:
                    await self._fold()
            elif self._held and not self._folding:
                # Answers held while every worker stays busy with unchanged polls: fold them
                # once a batch of polls came back since, or none ever would (no batch fills,
                # no worker goes idle) and their watches would hear nothing.
                self._passed += 1
                if self._passed >= _BATCH:
                    await self._fold()

    async def _fold(self) -> None:
        """Decode and track the held answers in the order they came, a turn's budget at a
        time; answers held meanwhile are folded too. One worker folds at a time: another
        finds it folding and goes on."""
        if self._folding:
            return
        self._folding = True
        self._passed = 0
        turn, held, fold = self.driver.turn, self._held, self._fold_one
        spent = turn.spent
        try:
            while held:
                if spent(fold_work(held[0][1])):
                    await next_turn()
                    if not held:  # (folded at once meanwhile: a failure, an outage)
                        break
                    spent(fold_work(held[0][1]))  # (counts this turn's work from here)
                events = fold(*held.popleft())
                if events >= EVENTS_A_POLL:  # (many hosts moved: a first answer, an end)
                    turn.add(event_work(events))
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

    def _fold_one(self, row: Row, unread: Unread, sent_at: float, permit: Any) -> int:
        """Decode and apply one held answer; return how many events it made."""
        driver = self.driver
        watched = row.watched
        if driver.registry.gens[watched.slot] != watched.gen:  # (released while held)
            self._done(watched)
            return 0
        try:
            try:
                answer = driver.reader.finish(row, unread)
            except errors.BkJobError as exc:
                driver.failed(watched, exc, sent_at, permit)
                return 0
            except Exception as exc:  # nothing expects it: this job fails, not the poller
                driver.fail_alone(watched, exc)
                return 0
            return driver.apply(watched, answer, None, row, unread.fingerprint, unread.cuts)
        finally:
            self._done(watched)

    def _done(self, watched: Watched) -> None:
        """Its poll is over: clear ``busy``, unless scheduling its next poll did (``_jobs``),
        and free its slot if it was released in flight (read in place: every poll)."""
        registry = self.driver.registry
        if registry.gens[watched.slot] != watched.gen or registry.busy[watched.slot]:
            watched.busy = False

    def _still_watched(self, row: Row) -> bool:
        """Whether the job of ``row`` (as the heap handed it out) is still watched: not released
        since, and no watch of it dropped (one that was, is let go of first)."""
        watched = row.watched
        if watched.registry.gens[watched.slot] != watched.gen:  # released while a parked
            return False  # worker was waking up (its row in place: ``_worker``)
        for sub in row.subscribers:  # (a watch closed since is closed in the row's tuple too)
            if sub.closed:  # a watch was dropped: let go of it first (and of the job, if last)
                self.driver.registry.release_if_unwatched(watched)
                return watched.active
        return True
