"""Rule: the driver applies what ``_decide.decide`` returns, and holds no policy.

Every outcome (a poll's answer or failure from the workers, ``_workers``; a row of the job
list, ``_census``; a callback's hint) goes through ``apply``: ``decide`` returns the job's
new value, the new health, its next poll and its actions; the driver puts the value and the
next poll's entry in the job's row of the registry in one write (``_jobs.Watched.put``), hands
each action to the delivery (``_delivery``) or applies it to every job (an outage begins or
ends), then the entry to the heap (``_due``). A poll's row is the one the heap handed out with
its job (``_jobs.Row``), carried through the read. Joining (``attach``,
``detach``) asks ``_decide`` when to poll, and whether the job list follows the job. An
exception nothing expects while a job is read or decided fails that job alone, never the
poller (``isolated``, ``Driver.fail_alone``): the guard wraps ``apply`` here, so a poll's walk
goes from the worker to the driver with nothing between.

It also applies rate control: the local ``_rate.RateGovernor`` (pure: the driver feeds it its
counts), an outside budget (``_workers.Permits``), and the outage's probe gate (``may_send``).
Time is read from one injected clock, the clock of the event loop's timers (``loop_clock``):
on a virtual-time test loop the driver runs on virtual time. The workers that poll due jobs
are ``_workers``; the budget of the event loop's turns the poller's tasks share is ``_turn``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .. import errors
from ._census import Census
from ._decide import (
    EXPIRED,
    FIRST_PROBE,
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
from ._due import Due
from ._jobs import KEEP, STALE, PolledJob, hangs, key
from ._turn import Turn
from ._workers import Workers
from .events import WatchFailed

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Sequence

    from anyio.abc import TaskGroup

    from .._protocol import Protocol
    from ._decide import Action, Outcome
    from ._delivery import Dispatcher
    from ._jobs import Row, Watched
    from ._rate import RateGovernor
    from ._reader import Reader
    from ._subscription import _Subscription
    from ._tracker import JobState
    from ._workers import Permits

__all__ = ["Driver", "isolated", "loop_clock"]


F = TypeVar("F", bound="Callable[..., int]")


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
    ) -> int:
        try:
            return apply(driver, watched, outcome, now, row, fingerprint, cuts)
        except Exception as exc:
            driver.fail_alone(watched, exc)
            return 0

    return cast("F", guarded)


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
        #: How long the poller's work has held the event loop's current turn (shared by the
        #: workers, the attach slices and the due heap's stale entries).
        self.turn = Turn()
        self.due = Due(min_gap(policy), self, failing_share(policy), early(policy), self.turn)
        #: The job list as the status of end-only waits (``None``: no such API, ESB v2).
        self.census = None if protocol is None else self._census(protocol)
        self._tg: TaskGroup | None = None
        self.answers = self.retries = self.hints = 0
        #: bk-job's answers that were failures of one job (a malformed body, an error code:
        #: ``answers`` counts the good ones), and the failed polls that were one job's or
        #: bk-job's (``statistics()``).
        self.replies = self.job_failures = self.server_failures = 0
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

    def fail_alone(self, watched: Watched, exc: Exception) -> None:
        """End ``watched``'s watches with ``WatchFailed`` for ``exc``, an exception nothing
        expected while its job was read or decided (``isolated``); log it. A store's error is
        not the job's: it is raised again."""
        if isinstance(exc, errors.StoreError):
            raise exc
        self.errors[type(exc).__name__] += 1
        job = watched.job
        job_id = job.job_instance_id
        text = f"{type(exc).__name__}: {exc}"
        masked = self.reader.redact(text)
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
            failed = WatchFailed(job_id, self.rules.wall(), error, occurrence=job.state.seq)
            self.delivery.give_up(job, subscribers, failed)
            self.registry.let_go(watched, ())

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
    ) -> int:
        """Decide what follows ``outcome`` and apply it (every poll comes here); return how
        many events it handed to the job's watches (the work ``Turn`` counts a fold's).

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
                return 0  # (released)
        if now is None:
            self._answered()
            now = row.sent
        while True:
            old = row.job
            job, health, poll_at, actions = decide(self.rules, old, self.health, outcome, now)
            # (a decoded answer's last action is its ``Deliver``: ``_decide._answered``)
            changed, events = None, 0
            if type(outcome) is Answer:
                deliver = actions[-1]
                assert isinstance(deliver, Deliver)
                changed, events = deliver.changed, len(deliver.events)
            written = watched.put(
                row, None if job is old else job, changed, fingerprint, cuts, poll_at
            )
            if written is not STALE:
                break
            row = watched.row()  # (a watch changed it in flight, or released it: rare)
            if row is None:
                return 0
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
        return events

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
