"""What follows each poll, as one pure function: ``decide(rules, job, health, outcome, now)``.

Given a polled job (``_jobs.PolledJob``, a value), the poller's health (``Health``: is bk-job
down, how much quick-retry budget is left; a value), what the poll came back with (an
``Outcome``) and ``now``, ``decide`` returns a ``Decision``: the job's new value, the new
health, when to poll the job next (``None``: never again) and what else to do (``Action``
values: deliver events, stall or resume the job's watches, give up, begin or end an
outage). It reads no clock and does no I/O; its random draws come from ``rules.rng``, so a
test with a seeded ``Random`` gets one answer. The driver (``_driver``) only applies what it
returns.

The rules, by outcome (see ``_failures`` for what each kind of failure means):

===================  ======================================================================
outcome              decision
===================  ======================================================================
unchanged answer     next poll after the last gap grown by ``growth``, capped at ``latency``
                     for a job that may change by itself, at ``max_interval`` for one
                     waiting for a person (``_schedule.next_interval``)
changed answer       the tracker's events are delivered; next poll at ``interval`` if any
                     event came (``soon`` at a step's turn: ``_schedule.turning``), else as
                     unchanged; a final answer ends the job's watches
any answer           after failures: the job's failures reset (``JobPollRecovered`` if it
                     heard ``JobPollFailing``), an outage ends (the driver then resumes
                     every stalled job and polls every job again within one interval)
hint (a callback)    poll now (asked for: the smallest gap does not apply)
throttled            no failure counted; next poll after the governor's pause, plus up to
                     one ``interval`` of jitter, never sooner than the smallest gap
permanent            give up: the job's watches end with ``WatchFailed``
any other failure    counted in bk-job's window (``_failures.Server``), which may begin an
                     outage; then, unless bk-job is down, spends the job's budget: retried
                     after ``job_backoff`` (its cap when the process-wide retry budget is
                     spent), ``JobPollFailing`` once ``FAILING_AFTER`` in a row have
                     failed over ``OUTAGE_AFTER`` (sooner, an outage's start could not be
                     told from it), give up
                     when the budget is spent (``max_failures`` in a row over at least
                     ``max_failing_time``, the last not one saying bk-job is unreachable;
                     or two refused bodies, or ``SAME_FORMAT_LIMIT``
                     alike, in a row). While bk-job
                     is down the job spends nothing and waits for the probes
listed (job list)    poll the job itself when its row says it ended, or it has no row;
                     else nothing (a job the list follows, ``census``, has no next poll
                     after an answer either: its rows say when to read it). A job whose
                     watches need its transitions (``parks``) is followed by the list only
                     while it waits for a person; a row whose status differs from the job's
                     own, or no row, has it polled at once, and per job again
===================  ======================================================================
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import errors
from ._actions import (
    Action,
    Deliver,
    Failing,
    GiveUp,
    OutageBegan,
    OutageEnded,
    Recovered,
    Retried,
)
from ._failures import (
    FAILING_AFTER,
    OUTAGE_AFTER,
    SAME_FORMAT_LIMIT,
    Kind,
    Server,
    classify,
    job_backoff,
    server_level,
    unreachable,
)
from ._jobs import PolledJob, moved
from ._rules import NOT_OVER, WAITS_FOR_A_PERSON
from ._schedule import (
    PollPolicy,
    RetryBudget,
    cap,
    min_gap,
    next_interval,
    soon,
    turning,
)
from ._tracker import observe
from ._visits import visit_of
from .events import JobFinished, WatchFailed

if TYPE_CHECKING:
    import random
    from collections.abc import Callable

    from .._observe import JobObservation
    from ..models import ContainerResult, HostKey, HostResult, JobInstanceStatus

__all__ = [
    "HINT",
    "UNCHANGED",
    "Answer",
    "Decision",
    "Deliver",
    "Failed",
    "Failing",
    "GiveUp",
    "Health",
    "Listed",
    "OutageBegan",
    "OutageEnded",
    "Recovered",
    "Rules",
    "decide",
    "stall",
]


# --- inputs -------------------------------------------------------------------------------------


class Rules(NamedTuple):
    """What ``decide`` takes as given: the policy, its random draws, the wall clock for events."""

    policy: PollPolicy
    rng: random.Random
    #: The wall clock, aware (each event's ``observed_at``).
    wall: Callable[[], _dt.datetime]
    #: Structure one host row (``observe`` calls it only for a host that changed; on the
    #: gateway v4, a container's row too, into a ``ContainerResult``).
    host_result: Callable[[HostKey, int, dict[str, Any]], HostResult | ContainerResult]
    #: The longest gap of a job that may change by itself, and of one waiting for a person.
    running_cap: float
    waiting_cap: float
    #: The gap after an answer at a step's turn (``_schedule.soon``).
    soon: float

    @classmethod
    def of(
        cls,
        policy: PollPolicy,
        rng: random.Random,
        wall: Callable[[], _dt.datetime],
        host_result: Callable[[HostKey, int, dict[str, Any]], HostResult | ContainerResult],
    ) -> Rules:
        return cls(
            policy, rng, wall, host_result, cap(policy, False), cap(policy, True), soon(policy)
        )

    @property
    def gap(self) -> float:
        return min_gap(self.policy)


class Health(NamedTuple):
    """bk-job's health across jobs (``_failures.Server``: its failure window, whether it is
    down), and the quick-retry budget."""

    server: Server
    budget: RetryBudget

    @classmethod
    def start(cls, policy: PollPolicy) -> Health:
        hold = (policy.poll_timeout or 30.0) + 1.0
        return cls(Server(policy.max_interval, hold), RetryBudget(policy.retry_budget))


class _Unchanged:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


#: An answer whose body had not changed (never decoded).
UNCHANGED = _Unchanged()


class Answer(NamedTuple):
    """A changed answer: its envelope's ``data``, the statuses in it, the final snapshot."""

    data: Any
    observation: JobObservation
    #: The job's whole status when it has ended, else ``None``.
    snapshot: JobInstanceStatus | None


class Failed(NamedTuple):
    """A failed poll, and the facts about the poller the failure policy reads."""

    error: errors.BkJobError
    #: When the poll was sent; when bk-job last answered any poll; requests sent so far.
    sent_at: float
    last_answer: float
    requests: int
    #: Until when the rate governor pauses polls (after a throttle answer).
    paused_until: float = 0.0
    #: bk-job's good answers so far, to any poll; how many jobs are polled.
    answers: int = 0
    jobs: int = 1


class _Hint:
    __slots__ = ()

    def __repr__(self) -> str:
        return "HINT"


#: A callback said the job ended: poll it now (the driver allows one per ``interval``). The
#: poll, not the callback, is the truth: a forged or stray hint costs one poll.
HINT = _Hint()


class Listed(NamedTuple):
    """The job's row in bk-job's job list (``_census``): its status, ``None`` if it is not there."""

    status: int | None


#: What a poll, a hint or the job list came back with.
Outcome = _Unchanged | Answer | Failed | _Hint | Listed


# --- outputs (``_actions``) ----------------------------------------------------------------------

_NO_ACTIONS: tuple[Any, ...] = ()
_RETRIED = Retried()
_OUTAGE_ENDED = OutageEnded()


#: What ``decide`` returns, to unpack: ``job, health, poll_at, actions`` (the job's new value
#: and health, when to poll it next, ``None``: never, and what else to do). A plain tuple:
#: every poll makes one.
Decision = tuple[PolledJob, Health, float | None, tuple[Action, ...]]


# --- the decision -------------------------------------------------------------------------------


def decide(rules: Rules, job: PolledJob, health: Health, outcome: Outcome, now: float) -> Decision:
    """Return what follows ``outcome`` for ``job`` at ``now`` (see the module's table)."""
    if outcome is UNCHANGED:
        actions = _NO_ACTIONS
        if job.failing_since is not None or health.server.down_since is not None:
            job, health, actions = _recovered(rules, job, health)
        top = rules.waiting_cap if job.state.status in WAITS_FOR_A_PERSON else rules.running_cap
        base, delay = next_interval(rules.policy, job.interval, 0.0, rules.rng, top)
        if base != job.interval:
            job = job._replace(interval=base)
        if job.parks:
            job = _park(job)
        return job, health, None if job.census else now + delay, actions
    if isinstance(outcome, Answer):
        return _answered(rules, job, health, outcome, now)
    if outcome is HINT:
        return job, health, now, _NO_ACTIONS
    if isinstance(outcome, Listed):
        if job.parks:  # parked while it waits: read it when its row says it moved
            if outcome.status is not None and outcome.status == job.state.status:
                return job, health, None, _NO_ACTIONS
            return job._replace(census=False), health, now, _NO_ACTIONS
        return job, health, now if _read_itself(outcome.status) else None, _NO_ACTIONS
    assert isinstance(outcome, Failed)
    return _failed(rules, job, health, outcome, now)


def _recovered(
    rules: Rules, job: PolledJob, health: Health
) -> tuple[PolledJob, Health, tuple[Any, ...]]:
    """bk-job answered the job after failures: end the outage if there was one, and the job's
    spell of failures (its watches hear it recovered if they heard it failing)."""
    actions: list[Any] = []
    server, ended = health.server.answered()
    if ended:
        actions.append(_OUTAGE_ENDED)
        health = health._replace(server=server)
    if job.failing_since is not None:
        if job.failing is not None:  # its watches heard it failing
            actions.append(Recovered(job.failing, rules.wall()))
        job = job._replace(failures=0, malformed=0, error=None, failing=None, failing_since=None)
    return job, health, tuple(actions)


def _answered(rules: Rules, job: PolledJob, health: Health, answer: Answer, now: float) -> Decision:
    """A changed answer: track it, deliver its events, and schedule by whether it moved."""
    actions = _NO_ACTIONS
    if job.failing_since is not None or health.server.down_since is not None:
        job, health, actions = _recovered(rules, job, health)
    old = job.state
    state, events = observe(
        old, job.job_instance_id, answer.observation, rules.wall, rules.host_result
    )
    finished = None
    if answer.snapshot is not None:
        snapshot = answer.snapshot
        status = snapshot.job.status
        finished = JobFinished(
            job.job_instance_id,
            rules.wall(),
            status,
            snapshot,
            round=state.round,
            visit=visit_of(state.visits, state.round, int(status)),
        )
    top = rules.waiting_cap if state.status in WAITS_FOR_A_PERSON else rules.running_cap
    after = 0.0
    if events:
        after = rules.policy.interval
        if rules.soon < after and turning(state):
            after = rules.soon
    base, delay = next_interval(rules.policy, job.interval, after, rules.rng, top)
    job = moved(job, state, base)
    if job.parks:
        job = _park(job)
    deliver = Deliver(events, finished, answer.data, state is not old)
    return job, health, None if job.census else now + delay, (*actions, deliver)


def _park(job: PolledJob) -> PolledJob:
    """A job whose watches need its transitions: the job list stands for its polls while it
    waits for a person (not started, a confirmation, a rolling pause), and only then."""
    waits = job.state.status in WAITS_FOR_A_PERSON
    return job if waits is job.census else job._replace(census=waits)


def _read_itself(listed: int | None) -> bool:
    """Whether a job followed by the job list must be polled itself after its row.

    Yes when its row says it ended (its final snapshot is read from the job itself: a job
    still watched has not ended on its watches, even one remembered as ended), or when it is
    not in the list at all (outside the window, or deleted: a per-job poll, never silence).
    A running row costs nothing: the list said all a wait for the end needs.
    """
    return listed is None or listed not in NOT_OVER


def _failed(rules: Rules, job: PolledJob, health: Health, failed: Failed, now: float) -> Decision:
    """A failed poll: throttled, permanent, or one that bk-job's window and then the job's
    budget count (``_failures``)."""
    policy, rng, error = rules.policy, rules.rng, failed.error
    kind = classify(error)
    if kind is Kind.THROTTLED or kind is Kind.PERMANENT:  # bk-job answered
        actions = _NO_ACTIONS
        if job.failing_since is not None or health.server.down_since is not None:
            job, health, actions = _recovered(rules, job, health)
        if kind is Kind.PERMANENT:
            return job, health, None, (*actions, _give_up(rules, job, error))
        start = max(now, failed.paused_until, failed.sent_at + rules.gap)  # slow down
        return job, health, start + rng.uniform(0, policy.interval), actions
    actions_: list[Any] = [_RETRIED]
    known = job.interval > 0 or failed.answers == 0  # (answered before, or nothing ever was)
    silent = server_level(error, failed.sent_at, failed.last_answer, known=known)
    waited = silent and isinstance(error, errors.TimeoutError)
    server, began = health.server.failed(
        now,
        failed.last_answer,
        failed.answers,
        rng,
        silent=silent,
        first=job.failing_since is None,
        waited=waited,
        job=job.job_instance_id,
        jobs=failed.jobs,
    )
    if began:
        actions_.append(OutageBegan(error, rules.wall()))
    budget, quick = health.budget.withdraw(now, failed.requests)
    health = Health(server, budget)
    since = failed.sent_at if job.failing_since is None else job.failing_since
    if server.down_since is not None:  # bk-job is down: the job spends none of its budget
        delay = job_backoff(max(job.failures, 1) if quick else 64, policy, rng)
        return job._replace(error=error, failing_since=since), health, now + delay, tuple(actions_)
    failures = job.failures + 1
    malformed = 0
    if kind is Kind.MALFORMED:
        alike = isinstance(job.error, errors.ResponseFormatError) and str(job.error) == str(error)
        malformed = job.malformed + 1 if alike else 1
    count, time = policy.max_failures, policy.max_failing_time
    spent = (
        (kind is Kind.REFUSED and isinstance(job.error, errors.ResponseRefusedError))
        or malformed >= SAME_FORMAT_LIMIT
        or (
            (count is not None or time is not None)
            and (count is None or failures >= count)
            and (time is None or now - since >= time)
            # (a failure saying bk-job is unreachable never ends a job: it may be an
            # outage's first, not yet told as one; the job's next failure of its own does)
            and not unreachable(error)
        )
    )
    failing = job.failing
    if failing is None and failures >= FAILING_AFTER and now - since >= OUTAGE_AFTER and not spent:
        # Failing alone for as long as an outage takes to be told: say so (once a spell).
        failing = rules.wall() - _dt.timedelta(seconds=now - since)
        actions_.append(Failing(failing, error, failures))
    job = job._replace(
        failures=failures, error=error, malformed=malformed, failing=failing, failing_since=since
    )
    if spent:
        return job, health, None, (*actions_, _give_up(rules, job, error))
    delay = job_backoff(failures if quick else 64, policy, rng)
    return job, health, now + delay, tuple(actions_)


def _give_up(rules: Rules, job: PolledJob, error: errors.BkJobError) -> GiveUp:
    return GiveUp(WatchFailed(job.job_instance_id, rules.wall(), error, occurrence=job.state.seq))


def stall(job: PolledJob, since: _dt.datetime) -> PolledJob:
    """Return ``job`` stalled since ``since`` (an outage stalls every job)."""
    return job._replace(stalled=since)
