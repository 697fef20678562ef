"""Rule: the driver applies what ``_decide.decide`` returns, and holds no policy.

Here are the driver, its workers (which poll due jobs back to back), the isolation of one
job's unexpected exception, and the budget of the event loop's turns its tasks share. Every
outcome (a poll's answer or failure from the workers, below; a row of the job
list, ``_census``; a callback's hint) goes through ``apply``: ``decide`` returns the job's
new value, the new health, its next poll and its actions; the driver puts the value and the
next poll's entry in the job's row of the registry in one write (``_jobs.Watched.put``), hands
each action to the delivery (``_delivery``) or applies it to every job (an outage begins or
ends), then the entry to the heap (``_due``). A poll's row is the one the heap handed out with
its job (``_jobs.Row``), carried through the read. Joining (``attach``,
``detach``) asks ``_decide`` when to poll, and whether the job list follows the job.

It also applies rate control: the local ``_rate.RateGovernor`` (pure: the driver feeds it its
counts), an outside budget through ``Permits``, and the outage's probe gate (``may_send``). Time is read from one injected clock,
the clock of the event loop's timers: on a virtual-time test loop the driver runs on virtual
time.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import types
import typing
from collections import Counter, deque
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio.lowlevel

from .. import errors
from .._tracing import poll_rounds
from ._census import Census
from ._decide import (
    EXPIRED,
    FIRST_PROBE,
    UNCHANGED,
    Answer,
    Deliver,
    Expires,
    Failed,
    Failing,
    GiveUp,
    Health,
    Listed,
    ListRead,
    OutageBegan,
    Recovered,
    Retried,
    Rules,
    blame,
    census_round,
    cover,
    decide,
    early,
    failing_share,
    hinted,
    joined_at,
    list_read,
    min_gap,
    outage_began,
    outage_ended,
    rejoined_at,
    stall,
    unlisted,
    unparked,
)
from ._due import Due, Slot
from ._jobs import KEEP, STALE, PolledJob, hangs, key
from ._reader import Unread
from .events import WatchFailed

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Generator, Sequence

    from anyio.abc import TaskGroup

    from .._protocol import Protocol
    from .._tracing import PollRounds
    from ._decide import Action, Outcome
    from ._delivery import Dispatcher
    from ._jobs import Row, Watched
    from ._rate import RateGovernor
    from ._reader import Reader
    from ._subscription import _Subscription
    from ._tracker import JobState

__all__ = [
    "TURN_WORK",
    "Driver",
    "Pace",
    "Permits",
    "Turn",
    "Workers",
    "fail_alone",
    "fold_work",
    "isolated",
    "loop_clock",
]


# --- driver --------------------------------------------------------------------------------------


T = TypeVar("T")


#: Seconds a slice runs before the next checkpoint: well below what counts as a loop stall.
BUDGET = 0.002


#: The poller's work in one turn of the event loop, counted in polls: each poll sent counts one,
#: each answer folded one and one more for every 4 KiB of its body (``fold_work``), each stride
#: of joins or leaves one for every 16 items (``Pace``). Once a turn holds this much, the
#: poller's tasks wait for the next one. Counted, not timed: the work a turn holds does not
#: depend on how fast the machine runs at the moment, nor on a profiler slowing it
#: (``benchmarks/HISTORY.md``, "A turn's budget in work"). 8 polls are about 1 ms of the loop's
#: time, which held a 50,000-job watch's lag p99 under 5 ms.
TURN_WORK = 8


#: Items between two looks at the clock (a stride of joins or leaves stays well under ``BUDGET``).
STRIDE = 16


class Pace:
    """How long a slice of work may hold the event loop, and how often the clock is read."""

    __slots__ = ("budget", "clock", "slices", "stride", "turn")

    def __init__(
        self,
        budget: float = BUDGET,
        stride: int = STRIDE,
        clock: Callable[[], float] = time.perf_counter,
        turn: Turn | None = None,
    ) -> None:
        """``turn``: the loop's turn shared with other tasks; a slice then ends once the turn
        is ``spent`` (its budget, not this one's, and the other tasks' work counted too; a
        stride counts a poll for every 16 items: ``TURN_WORK``)."""
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride!r}")
        self.budget = budget
        self.stride = stride
        self.clock = clock
        self.turn = turn
        #: Checkpoints taken between slices so far (what the tests count).
        self.slices = 0

    async def run(
        self,
        items: Sequence[T],
        work: Callable[[Sequence[T]], object],
        stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Call ``work`` on ``items``, ``stride`` at a time, with a checkpoint whenever a slice
        has run ``budget`` seconds; ``stop`` is asked after each checkpoint (true: stop there).

        Return whether every item was handed to ``work``. Cancellation reaches the caller at a
        checkpoint, with the items after it not handed out: a caller that must finish shields.
        """
        clock, budget, stride, turn = self.clock, self.budget, self.stride, self.turn
        weight = max(1, stride >> 4)  # (a stride's work in polls, on the turn)
        start = clock()
        if turn is not None:
            turn.spent(weight)  # (counts this turn's work from here, if none counted it yet)
        for first in range(0, len(items), stride):
            if first and (clock() - start >= budget if turn is None else turn.spent(weight)):
                self.slices += 1
                await anyio.lowlevel.checkpoint()
                if stop is not None and stop():
                    return False
                start = clock()
                if turn is not None:
                    turn.spent(weight)  # (counts this turn's work from here)
            work(items[first : first + stride])
        return True


class Turn:
    """How much of the poller's work the event loop's current turn has run.

    The first ``spent()`` of a turn opens its count and schedules a callback for the next turn
    (``call_soon``), which closes it; each ``spent()`` while it is open adds the caller's work
    and says whether the turn was full before it. A turn that runs none of the poller's work
    costs nothing.
    """

    __slots__ = ("budget", "counting", "turns", "work")

    def __init__(self, budget: int = TURN_WORK) -> None:
        self.budget = budget
        #: The work counted in this turn so far (polls: ``TURN_WORK``).
        self.work = 0
        #: Turns that ran the poller's work so far (what the tests count).
        self.turns = 0
        #: Whether the poller's work in this turn is being counted (a ``spent()`` came first).
        self.counting = False

    def spent(self, work: int = 1) -> bool:
        """Whether this turn of the loop holds its ``budget`` of the poller's work already
        (the caller then waits for the next turn); if not, count ``work`` more in it."""
        if self.counting:
            if self.work >= self.budget:
                return True
            self.work += work
            return False
        self.counting = True
        self.turns += 1
        self.work = work
        asyncio.get_running_loop().call_soon(self._close)
        return False

    def _close(self) -> None:
        self.counting = False


def fold_work(unread: Unread) -> int:
    """The work of folding ``unread``, in polls (``TURN_WORK``): one, and one a 4 KiB of body."""
    return 1 + (len(unread.response.body) >> 12)


@types.coroutine
def next_turn() -> Generator[None, None, None]:
    """Let the event loop's other callbacks run, then go on in its next turn.

    ``asyncio.sleep(0)`` without its two coroutines, and without anyio's lookup of its
    backend: a worker whose turn is spent waits here before its next poll, under load once
    in a few polls (the poller runs on asyncio only, as aiohttp does). A cancellation is
    delivered here as at any checkpoint.
    """
    yield


F = TypeVar("F", bound="Callable[..., None]")


logger = logging.getLogger("bkjob_async.polling")


def isolated(apply: F) -> F:
    """Wrap ``Driver.apply``: an exception it does not expect fails that job (``fail_alone``)."""

    @functools.wraps(apply)
    def guarded(
        driver: Driver,
        watched: Watched,
        outcome: Outcome,
        now: float | None = None,
        row: Row | None = None,
        fingerprint: Any = KEEP,
        cuts: tuple[int, ...] | None = None,
    ) -> None:
        try:
            apply(driver, watched, outcome, now, row, fingerprint, cuts)
        except Exception as exc:
            fail_alone(driver, watched, exc)

    return cast("F", guarded)


def fail_alone(driver: Driver, watched: Watched, exc: Exception) -> None:
    """End ``watched``'s watches with ``WatchFailed`` for ``exc``; log it (module docstring)."""
    if isinstance(exc, errors.StoreError):
        raise exc
    driver.errors[type(exc).__name__] += 1
    job = watched.job
    job_id = job.job_instance_id
    text = f"{type(exc).__name__}: {exc}"
    masked = driver.reader.redact(text)
    error = errors.PollingError(
        f"job {job_id}: the poller could not process it ({masked}); its watches end here"
    )
    error.__cause__ = exc if masked == text else None
    logger.error(
        "job %s: unexpected %s while processing it; its watches fail",
        job_id,
        type(exc).__name__,
        exc_info=exc if masked == text else None,
    )
    subscribers = watched.subscribers
    if watched.active and subscribers:
        failed = WatchFailed(job_id, driver.rules.wall(), error, occurrence=job.state.seq)
        driver.delivery.give_up(job, subscribers, failed)
        driver.registry.let_go(watched, ())


#: Changed answers held back at most, to be folded together (``Workers._fold``).
_BATCH = 16


class Workers:
    """The driver's workers, and the changed answers they hold back."""

    def __init__(self, driver: Driver) -> None:
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
                fail_alone(driver, watched, exc)
            else:
                if rounds is not None:
                    rounds.note(changed=result is not None)
                if gens[watched.slot] == watched.gen:  # (``watched.active``)
                    if result is None:
                        apply(watched, UNCHANGED, None, row)
                    elif isinstance(result, Unread):  # held back, the job busy until folded
                        self._held.append((row, result, sent_at, permit))
                        held = True
                    else:  # read by result groups: decoded already
                        apply(watched, result, None, row)
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
        held, spent, fold = self._held, self.driver.turn.spent, self._fold_one
        try:
            while held:
                if spent(fold_work(held[0][1])):
                    await next_turn()
                    if not held:  # (folded at once meanwhile: a failure, an outage)
                        break
                    spent(fold_work(held[0][1]))  # (counts this turn's work from here)
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

    def _fold_one(self, row: Row, unread: Unread, sent_at: float, permit: Any) -> None:
        driver = self.driver
        watched = row.watched
        if driver.registry.gens[watched.slot] != watched.gen:  # (released while held)
            self._done(watched)
            return
        try:
            try:
                answer = driver.reader.finish(row, unread)
            except errors.BkJobError as exc:
                driver.failed(watched, exc, sent_at, permit)
                return
            except Exception as exc:  # nothing expects it: this job fails, not the poller
                fail_alone(driver, watched, exc)
                return
            driver.apply(watched, answer, None, row, unread.fingerprint, unread.cuts)
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


class Permits(typing.Protocol):
    """An outside rate budget the poller asks before each poll (``Poller(permits=...)``)."""

    async def acquire(self) -> Any:
        """Wait until one request may go; return its permit."""

    async def throttled(self, permit: Any, retry_after: float | None = None) -> Any:
        """Report that the request of ``permit`` got a throttle answer."""


def loop_clock() -> Callable[[], float]:
    """Return the running event loop's clock, which anyio's timers use too.

    On asyncio's own loops that is ``time.monotonic``, called directly (it is cheaper).
    """
    loop = asyncio.get_running_loop()
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic
    return loop.time


class Driver:
    """Poll the registry's jobs when due and apply what ``decide`` returns."""

    def __init__(
        self,
        rules: Rules,
        reader: Reader,
        governor: RateGovernor,
        delivery: Dispatcher,
        clock: Callable[[], float],
        *,
        protocol: Protocol | None = None,
        permits: Permits | None = None,
    ) -> None:
        """``protocol``: the API the job list is read from (``None``: no census)."""
        policy = rules.policy
        self.rules, self.policy = rules, policy
        self.reader, self.governor, self.delivery = reader, governor, delivery
        self.clock = clock
        self.permits = permits
        self.registry = delivery.registry
        self.health = Health.start(policy)
        self.due = Due(min_gap(policy), self, failing_share(policy), early(policy))
        #: The job list as the status of end-only waits (``None``: no such API, ESB v2).
        self.census = None if protocol is None else self._census(protocol)
        self._tg: TaskGroup | None = None
        self.answers = self.retries = self.hints = 0
        #: bk-job's answers that were failures of one job (a malformed body, an error code:
        #: ``answers`` counts the good ones), and the failed polls that were one job's or
        #: bk-job's (``statistics()``).
        self.replies = self.job_failures = self.server_failures = 0
        #: How long the poller's work has held the event loop's current turn (shared by the
        #: workers and the attach slices).
        self.turn = Turn()
        self.workers = Workers(self)
        self.last_answer = 0.0
        #: The error that began the outage in force (``None``: bk-job answers), and when.
        self.outage_error: errors.BkJobError | None = None
        self.down_since = 0.0
        self.errors: Counter[str] = Counter()
        #: The timer of each failing job's budget (``Expires``), by slot: (generation, when,
        #: timer).
        self._expiry: dict[int, tuple[int, float, asyncio.TimerHandle]] = {}

    def _census(self, protocol: Protocol) -> Census | None:
        """The job list standing for the polls of end-only waits, where the API has one."""
        if not protocol.flavor.is_v3:
            logger.info("ESB v2 has no job list: every job is polled itself (no census)")
            return None
        if self.delivery.journal.keeps_all or not self.policy.census:
            return None  # turned off, or its journal keeps every change of every job (the cluster)
        return Census(protocol, self.reader, census_round(self.policy), self)

    def start(self, tg: TaskGroup) -> None:
        """Start the scheduler and the workers in ``tg``."""
        now = self.clock()
        self.last_answer = now
        self.governor.start(now)
        self._tg = tg
        tg.start_soon(self.due.run, self.clock)
        self.workers.start(tg)
        if self.census is not None:
            tg.start_soon(self.census.run)

    def close(self) -> None:
        """Let go of every job (the poller is leaving)."""
        for _, _, timer in self._expiry.values():
            timer.cancel()
        self._expiry.clear()
        self.registry.close()
        self.due.clear()

    # --- joining ------------------------------------------------------------------------------

    def attach(
        self,
        sub: _Subscription,
        job_id: int,
        now: float,
        stored: JobState | None,
        launched: float | None = None,
    ) -> None:
        """Poll a job for ``sub``: from ``stored`` (or the journal's seed) if it is new here;
        ``launched`` (when the job was launched, as the watch was told) sets a new job's first
        poll (``joined_at``)."""
        reader = self.reader
        watched, created = self.registry.attach(
            sub, job_id, lambda: reader.request(sub.scope, job_id), stored
        )
        fresh = created and stored is None
        if fresh:
            seeded = self.delivery.journal.seed(sub.scope, job_id)
            if seeded is not None:
                watched.job = watched.job._replace(state=seeded)
        self.cover(watched, now, launched=fresh and launched is not None)
        if created and watched.job.census:
            pass  # the job list reads it first (``_census``)
        elif created or not watched.busy:  # (a busy job is scheduled when its answer comes)
            due = None if created else watched.due
            since = launched if fresh else None  # (stored: launched before)
            at = joined_at(self.policy, job_id, now, watched.sent, due, since)
            if at is not None:
                self.due.push(watched, at)
        job = watched.job
        if job.stalled is not None:
            error = job.error or self.outage_error
            if error is not None:
                sub.stall(job_id, job.stalled, error)
        elif self.health.server.down and self.outage_error is not None:
            self._stall(watched, self.outage_error, self.rules.wall())  # joined in an outage

    def cover(self, watched: Watched, now: float, launched: bool = False) -> None:
        """Apply ``_decide.cover``: whether the job list follows a job now its watches changed;
        ``launched``: a new job launched a moment ago (``Census.add``)."""
        census = self.census
        if census is None:
            return
        change = cover(self.policy, watched.job, watched.subscribers, now, watched.sent)
        if change is None:
            return
        if change.hosts is not None:
            self.reader.with_hosts(watched, change.hosts)
        watched.job = change.job
        if change.follow is not None:
            census.follow(watched, change.follow, launched=launched)
        if change.poll_at is not None and not watched.busy:  # (busy: when its answer comes)
            self.due.push(watched, change.poll_at)

    def detach(self, sub: _Subscription, job_ids: Sequence[int]) -> None:
        """Take ``sub`` off these jobs; stop polling those no watch holds."""
        registry = self.registry
        registry.detach(sub, job_ids)
        if self.census is None:
            return  # (``cover`` does nothing)
        now = self.clock()
        for job_id in job_ids:
            watched = registry.jobs.get(key(sub.scope, job_id))
            if watched is not None:
                self.cover(watched, now)

    def listed(self, watched: Watched, status: int | None) -> None:
        """Apply a job's row in the job list (``None``: it has none)."""
        if watched.active and not watched.busy:  # (a poll in flight reads it anyway)
            self.apply(watched, Listed(status, watched.sent), self.clock())

    def census_read(self, error: BaseException | None) -> None:
        """Apply a read of the job list to bk-job's health (``_decide.list_read``)."""
        now = self.clock()
        health, read = list_read(
            self.rules, self.health, error, now, self.last_answer, self.answers
        )
        self.health = health
        if read is ListRead.GONE:
            assert isinstance(error, errors.BkJobError)
            self._end_census(error)
        elif read is ListRead.FAILED:
            self.server_failures += 1
        elif read is not ListRead.NOTHING:
            self.last_answer = now
            if read is ListRead.ENDED:
                self._outage_ended()

    def unpark(self, watched: Watched) -> None:
        """Poll a job itself from now on, not left to the list while it waits or its last host
        runs (the list's read costs more than it saves: ``_census``), until its watches change."""
        watched.job, at = unparked(self.policy, watched.job, self.clock(), watched.sent)
        if self.census is not None:
            self.census.discard(watched)
        if watched.active and not watched.busy:
            self.due.push(watched, at)

    def _end_census(self, error: errors.BkJobError) -> None:
        """Poll every job itself from now on: the job list cannot be read (``census_read``)."""
        census, self.census = self.census, None
        if census is None:
            return
        logger.warning(
            "the job list cannot be read (%s: %s): every job is polled itself from now on",
            type(error).__name__,
            self.reader.redact(str(error)),
        )
        census.jobs.clear()
        now = self.clock()
        for watched in self.registry.jobs.values():
            old = watched.job
            job, at = unlisted(self.policy, old, now, watched.sent)
            if job is not old:
                watched.job = job
            if at is not None and not watched.busy:
                self.due.push(watched, at)

    def wall(self) -> _dt.datetime:
        """Return the wall clock now, aware (``Rules.wall``)."""
        return self.rules.wall()

    def census_gate(self) -> float:
        """Return 0 if a census request may go now, else how long to wait first."""
        now = self.clock()
        return 0.0 if self.may_send(now) else max(self.hold(now), 0.01)

    def hint(self, job_id: int, now: float) -> int:
        """Poll the watched jobs of this id when ``_decide.hinted`` says (a callback said it
        ended); return how many were moved. A job whose poll is in flight is left as it is."""
        moved = 0
        for watched in self.registry.with_id(job_id):
            if watched.busy:
                continue
            at = hinted(self.rules, watched.job, self.health, now, watched.hinted, watched.due)
            if at is not None:
                watched.hinted = now
                self.due.push(watched, at)
                moved += 1
        self.hints += moved
        return moved

    def may_send(self, now: float) -> bool:
        """Ask the governor and the outage whether a poll may go now (only when either acts)."""
        health = self.health
        if health.server.down_since is not None and health.server.wait(now) > 0.0:
            return False
        governor = self.governor
        if (governor.rate is not None or now < governor.paused_until) and not governor.take(now):
            return False
        server, allowed = health.server.allows(now)
        if server is not health.server:
            self.health = health._replace(server=server)
        return allowed

    def hold(self, now: float) -> float:
        """Return how long the governor or the outage holds due polls back."""
        return max(self.governor.wait(now), self.health.server.wait(now))

    def failed(self, watched: Watched, exc: errors.BkJobError, sent_at: float, permit: Any) -> None:
        """Apply a failed poll: count it as ``_decide.blame`` says, then ``decide`` it."""
        self.errors[type(exc).__name__] += 1
        now = self.clock()
        who = blame(exc, watched.job, sent_at, self.last_answer, self.answers, now)
        if who.throttled and permit is not None:
            retry_after = getattr(exc, "retry_after", None)
            assert self._tg is not None
            self._tg.start_soon(self._throttled, permit, retry_after)
        if not watched.active:
            return
        requests = self.reader.requests
        if who.throttled:  # bk-job (or its gateway) answered: a signal to slow down
            governor = self.governor
            if now >= governor.sample_due:
                governor.sample(now, requests, self.answers)
            governor.throttled(now, sent_at, self.answers, requests=requests)
        if who.answered:
            self.replies += 1
            self.last_answer = now
        if who.server:
            self.server_failures += 1
        elif who.server is not None:
            self.job_failures += 1
        failed = Failed(
            exc,
            sent_at,
            self.last_answer,
            requests,
            self.governor.paused_until,
            self.answers,
            self.registry.count,
            self.registry.failing,
        )
        self.due.wake()
        self.apply(watched, failed, now)

    async def _throttled(self, permit: object, retry_after: float | None) -> None:
        if self.permits is not None:
            try:
                await self.permits.throttled(permit, retry_after)
            except Exception as exc:  # the budget's own outage: the local governor still acts
                logger.warning("could not report a throttle answer to the rate budget: %s", exc)

    # --- applying decisions -------------------------------------------------------------------

    def _answered(self) -> float:
        """Count an answer from bk-job for the rate governor; return the time."""
        now = self.clock()
        self.answers += 1
        self.last_answer = now
        governor = self.governor
        if now >= governor.sample_due:
            governor.sample(now, self.reader.requests, self.answers)
        if governor.rate is not None:
            governor.succeeded(now)
        return now

    @isolated  # what nothing expects fails this job alone, never the poller (``fail_alone``)
    def apply(
        self,
        watched: Watched,
        outcome: Outcome,
        now: float | None = None,
        row: Row | None = None,
        fingerprint: Any = KEEP,
        cuts: tuple[int, ...] | None = None,
    ) -> None:
        """Decide what follows ``outcome`` and apply it (every poll comes here).

        An answer (``now`` not given) is decided as of when its poll was sent: the gap the
        schedule gives runs from send to send, as ``latency`` promises, however long the
        answer took to come and be read. ``row``: the job's row as the heap handed it out
        with its poll (``Due.take``); a decoded answer's ``fingerprint`` and ``cuts`` its row
        keeps. Else the row is read here. The decision's changes and its next poll's entry are
        written once (``Watched.put``), the actions get the row's values, and the entry goes
        to the heap after them. A watch that changed the job while its poll was in flight
        makes the put write nothing: the outcome is decided again on the job's row now.
        """
        if row is None:
            row = watched.row()
            if row is None:
                return  # (released)
        if now is None:
            self._answered()
            now = row.sent
        while True:
            old = row.job
            job, health, poll_at, actions = decide(self.rules, old, self.health, outcome, now)
            # (a decoded answer's last action is its ``Deliver``: ``_decide._answered``)
            changed = None
            if type(outcome) is Answer:
                deliver = actions[-1]
                assert isinstance(deliver, Deliver)
                changed = deliver.changed
            written = watched.put(
                row, None if job is old else job, changed, fingerprint, cuts, poll_at
            )
            if written is not STALE:
                break
            row = watched.row()  # (a watch changed it in flight, or released it: rare)
            if row is None:
                return
        if job.failures != old.failures:
            self._count_failure(old, job)
        if health is not self.health:
            self.health = health
        outage = self._act(watched, row, job, actions) if actions else False
        if job.census is not old.census and self.census is not None:  # (parked, or not)
            self.census.follow(watched, job.census, soon=False)  # (just read: a round later)
        if poll_at is not None:
            if outage:  # every job was read and written again: its next poll, made again
                self.due.push(watched, poll_at)
            elif written is not None:  # (an action that released the job left it stale: dropped)
                entry, failing = written  # (the next poll's, for the heap to keep unread)
                self.due.enter(entry, failing)

    def _act(self, watched: Watched, row: Row, job: PolledJob, actions: tuple[Action, ...]) -> bool:
        """Apply a decision's actions, in order, to ``job`` (its new value) and the watches
        ``row`` read; return whether an outage began or ended (every job read and written)."""
        delivery, subscribers = self.delivery, row.subscribers
        job_id = job.job_instance_id
        outage = False
        for action in actions:
            if isinstance(action, Deliver):
                held = delivery.deliver(job, subscribers, action)
                self._keep(watched, subscribers, held)
            elif isinstance(action, Retried):
                self.retries += 1
            elif isinstance(action, Failing):
                error = action.error
                logger.info(
                    "job %s: %d reads in a row failed (%s: %s) while bk-job answers others; "
                    "retrying it alone",
                    job_id,
                    action.failures,
                    type(error).__name__,
                    self.reader.redact(str(error)),
                )
                delivery.failing(job_id, subscribers, action)
            elif isinstance(action, Recovered):
                delivery.recovered(job_id, subscribers, action.since, action.at)
            elif isinstance(action, GiveUp):
                error = action.failed.error
                logger.warning(
                    "job %s: giving up (%s: %s)",
                    job_id,
                    type(error).__name__,
                    self.reader.redact(str(error)),
                )
                delivery.give_up(job, subscribers, action.failed)
                self.registry.let_go(watched, ())
            elif isinstance(action, Expires):
                self._expire_at(watched, action.at)
            elif isinstance(action, OutageBegan):
                self._outage_began(action)
                outage = True
            else:
                self._outage_ended()
                outage = True
        return outage

    def _keep(
        self,
        watched: Watched,
        subscribers: tuple[_Subscription, ...],
        held: tuple[_Subscription, ...],
    ) -> None:
        """Keep the watches a delivery left a job (``held``, of ``subscribers``); stop
        polling it if none is open (``Registry.let_go``)."""
        if held is subscribers:
            for sub in held:
                if sub.closed:
                    break
            else:
                if held:
                    return  # (every watch still holds it: nothing to write)
        self.registry.let_go(watched, held)

    def _expire_at(self, watched: Watched, at: float) -> None:
        """Have ``decide`` take ``EXPIRED`` for the job at ``at`` (one timer a job)."""
        old = self._expiry.get(watched.slot)
        if old is not None:
            if old[:2] == (watched.gen, at):  # (set already: every failure says it)
                return
            old[2].cancel()
        delay = max(0.0, at - self.clock())
        timer = asyncio.get_running_loop().call_later(delay, self._expired, watched, at)
        self._expiry[watched.slot] = (watched.gen, at, timer)

    def _expired(self, watched: Watched, at: float) -> None:
        if self._expiry.get(watched.slot, (None,))[0] == watched.gen:
            del self._expiry[watched.slot]
        if watched.active:
            self.apply(watched, EXPIRED, max(self.clock(), at))

    def _stall(self, watched: Watched, error: errors.BkJobError, since: Any) -> None:
        watched.job = stall(watched.job, since)
        self.registry.stalled += 1
        self.delivery.stall(watched.job_id, watched.subscribers, since, error)

    def _count_failure(self, old: PolledJob, job: PolledJob) -> None:
        """Keep the count of jobs failing alone (``statistics().failing_jobs``)."""
        if old.failures and not job.failures:
            self.registry.failing -= 1
        elif job.failures and not old.failures:
            self.registry.failing += 1

    def _outage_began(self, began: OutageBegan) -> None:
        error = began.error
        logger.warning(
            "bk-job cannot be reached (%s: %s); probing it every %g s at most for a minute, "
            "then less often as the outage lasts (every %g s at most)",
            type(error).__name__,
            self.reader.redact(str(error)),
            max(self.health.server.cap, FIRST_PROBE),
            max(self.health.server.cap, self.health.server.top, FIRST_PROBE),
        )
        self.outage_error = error
        self.down_since = self.clock()
        for other in self.registry.jobs.values():
            old = other.job
            job, gave_back, stalls = outage_began(old, began.at)
            other.job = job
            if gave_back:
                self.registry.failing -= 1
                if other.entry is not None and hangs(old):  # (to the others' heap)
                    self.due.push(other, other.due)
            if stalls:
                self.registry.stalled += 1
                self.delivery.stall(other.job_id, other.subscribers, began.at, error)

    def _outage_ended(self) -> None:
        """bk-job answers again: apply ``_decide.outage_ended`` to every job (a stalled one's
        watches hear ``PollingResumed``), and poll every job again within one interval."""
        self.outage_error = None
        logger.info("bk-job answers again; polling every job again")
        at, now = self.rules.wall(), self.clock()
        lasted = max(0.0, now - self.down_since)
        self.governor.resumed(now, self.reader.requests, self.answers)
        for watched in self.registry.jobs.values():
            watched.job, since = outage_ended(watched.job, lasted)
            if since is not None:
                self.registry.stalled -= 1
                self.delivery.resume(watched.job_id, watched.subscribers, since, at)
        self._rephase(now)

    def _rephase(self, now: float) -> None:
        """After an outage, poll every job again within one interval, spread by its phase."""
        policy = self.policy
        self.due.replace(
            [
                (rejoined_at(policy, w.job.job_instance_id, now, w.sent), w)
                for w in self.registry.jobs.values()
                if not w.busy
            ]
        )
