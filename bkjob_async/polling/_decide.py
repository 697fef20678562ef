"""Rule: what follows each poll is one pure function, ``decide(rules, job, health, outcome, now)``.

Given a polled job (``_jobs.PolledJob``, a value), the poller's health (``Health``: is bk-job
down, how much quick-retry budget is left; a value), what the poll came back with (an
``Outcome``) and ``now``, ``decide`` returns a ``Decision``: the job's new value, the new
health, when to poll the job next (``None``: never again) and what else to do (``Action``
values, below: deliver events, say a job fails alone or answers again, give up, begin or
end an outage). It reads no clock and does no I/O; its random draws come from ``rules.rng``, so a
test with a seeded ``Random`` gets one answer. The driver (``_driver``) only applies what it
returns.

The rules, by outcome (the failure policy, below, says what each kind of failure means):

===================  ======================================================================
outcome              decision
===================  ======================================================================
unchanged answer     next poll after the last gap grown by ``growth``, capped at ``latency``
                     for a job that may change by itself, at ``max_interval`` for one
                     waiting for a person (``next_interval``)
changed answer       the tracker's events are delivered; next poll at ``interval`` if any
                     event came (``soon`` at a step's turn: ``turning``), else as
                     unchanged; a final answer ends the job's watches
any answer           after failures: the job's failures reset (``JobPollRecovered`` if it
                     heard ``JobPollFailing``), an outage ends (the driver then resumes
                     every stalled job and polls every job again within one interval)
hint (a callback)    poll now (asked for: the smallest gap does not apply)
throttled            no failure counted; next poll after the governor's pause, plus up to
                     one ``interval`` of jitter, never sooner than the smallest gap
quota                bk-job's running-job quota (``QuotaExceededError``): as throttled, but
                     the rate governor and the shared rate budget ignore it (slower polls
                     free no slot)
permanent            give up: the job's watches end with ``WatchFailed``
any other failure    counted in bk-job's window (``Server``), which may make bk-job
                     suspect and, once a canary fails too, begin an outage; then, unless
                     bk-job is down, spends the job's budget: retried after ``job_backoff``
                     (a 5xx or a reset at its first step ``QUICK_RETRIES`` times; its cap
                     when the process-wide retry budget is spent), ``JobPollFailing``
                     once ``FAILING_AFTER`` in a row have failed over ``OUTAGE_AFTER``
                     (sooner, an outage's start could not be told from it), give up when
                     the budget is spent (``max_failures`` in a row over at least
                     ``max_failing_time``, the last not one saying bk-job is unreachable;
                     with a time set, reads its backoff had time for count as made, and
                     it ends when the time is spent, read or not: ``budget_end``,
                     ``Expires``; or two refused
                     bodies, or ``SAME_FORMAT_LIMIT`` alike, in a row).
                     While bk-job is down the job spends nothing and waits for the probes
expired (a timer)    the time of a failing job's budget ran out (``Expires``): it ends as
                     a failure would end it, with its last error; nothing else changes
listed (job list)    poll the job itself when its row says it ended, or it has no row;
                     else nothing; a row of a job the list no longer follows, nothing (a job the list follows, ``census``, has no next poll
                     after an answer either: its rows say when to read it). A job whose
                     watches need its transitions (``parks``) is followed by the list only
                     while it waits for a person or its last host runs (``ends_next``); a
                     row whose status differs from the job's own, or no row, has it polled
                     at once, and per job again
===================  ======================================================================
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import attrs

from .. import errors
from ._jobs import PolledJob
from ._policy import PollPolicy
from ._statuses import HOST_RUNNING, HOST_WAITING, NOT_OVER, STEP_RUNNING, WAITS_FOR_A_PERSON
from ._tracker import observe, visit_of
from .events import (
    JobFinished,
    PollingResumed,
    PollingStalled,
    WatchFailed,
    WatchTimedOut,
)

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Sequence

    from .._observe import JobObservation
    from ..models import ContainerResult, HostKey, HostResult, JobInstanceStatus
    from ._policy import PollPolicy
    from ._tracker import JobState
    from .events import Event

__all__ = [
    "EXPIRED",
    "FAILING_AFTER",
    "HINT",
    "MIN_CALLS",
    "OUTAGE_AFTER",
    "OUTAGE_RATE",
    "PROBE_JITTER",
    "QUICK_RETRIES",
    "REFUSED_LIMIT",
    "SAME_FORMAT_LIMIT",
    "SERVER_FAILURES",
    "UNCHANGED",
    "WINDOW",
    "YOUNG",
    "Action",
    "Answer",
    "Blame",
    "Cover",
    "Decision",
    "Deliver",
    "Expires",
    "Failed",
    "Failing",
    "GiveUp",
    "Health",
    "Kind",
    "ListRead",
    "Listed",
    "OutageBegan",
    "OutageEnded",
    "Recovered",
    "Retried",
    "RetryBudget",
    "Rules",
    "Server",
    "blame",
    "budget_end",
    "cap",
    "census_round",
    "classify",
    "cover",
    "coverage",
    "decide",
    "early",
    "failing_share",
    "first_delay",
    "hinted",
    "job_backoff",
    "joined_at",
    "list_read",
    "min_gap",
    "moved",
    "next_interval",
    "outage_began",
    "outage_ended",
    "rejoined_at",
    "server_level",
    "soon",
    "stall",
    "turning",
    "unlisted",
    "unparked",
    "unparked_at",
    "unreachable",
]


# --- schedule ------------------------------------------------------------------------------------
#
# When to poll next, as data and pure arithmetic; every function takes ``now``, none reads a clock.
#
# - Intervals are bound by ``latency``: a job that may change by itself (running, or not yet
#   seen) is polled at most ``latency`` apart, so each of its transitions is seen within
#   ``latency``. A job that waits for a person (``_statuses.WAITS_FOR_A_PERSON``: not started, waiting for a
#   confirmation, a rolling pause) backs off by ``growth`` per unchanged poll up to
#   ``max_interval``. ``jitter`` only ever shortens a gap, and a gap repeated at the bound not
#   at all (a job that stays at the bound is polled every ``latency`` less ``SEEN_MARGIN``, the
#   moment an answer takes to be read, as a hand-written loop polls every 5 s).
#   A job a watch takes on is polled at once (a burst is spread by the rate limit and
#   ``max_in_flight``, and the jitter of its first gap and of every gap after a turn keeps
#   thousands from polling in lockstep), or ``soon`` after the watch began when it was told the
#   job was launched a moment ago (``joined_at``); after an outage each job comes back at a
#   phase derived from its id, spread over one interval.
# - At a step's turn (``turning``: the running step has hosts waiting to start and none ended,
#   or none running: a rolling step between two batches) a job is
#   polled again ``soon`` (``SOON`` of the bound), the gap growing by ``growth`` back to the
#   bound: a step's hosts start within moments of it, so many transitions come together there
#   and are seen at once.
# - Failures: quick retries are paid from a process-wide ``RetryBudget`` (a share of recent
#   requests plus a floor); without budget a failed job waits its backoff's cap. How a job backs
#   off, which failures end a watch, and how outages are waited out, is ``_decide``'s failure policy;
#   throttling is the rate governor's (``_rate.RateGovernor``).


def first_delay(policy: PollPolicy, job_instance_id: int) -> float:
    """Return the offset of a job's first poll: a fixed phase in ``[0, interval)`` from its id.

    Fibonacci hashing spreads consecutive ids evenly and is stable across restarts.
    """
    phase = ((job_instance_id * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) / 2.0**64
    return phase * policy.interval


def min_gap(policy: PollPolicy) -> float:
    """Return the least time the schedule ever puts between two polls of one job.

    An answer is followed by at least ``soon(policy) * (1 - jitter)`` (``next_interval``: no
    base is below ``soon``, which is at most ``interval``), a failure by at least this
    (``_decide.job_backoff`` never waits less). The driver refuses a poll sooner than this
    after the job's last one (see ``_jobs``).
    """
    return soon(policy) * min(1.0 - policy.jitter, 0.5)


#: How much sooner than due a job is polled along with polls that go now, as a share of the
#: shorter of ``latency`` and ``interval`` (``early``). What it costs in requests and saves in
#: CPU: ``benchmarks/HISTORY.md``, "Polls that fall due one at a time go together".
EARLY = 0.1


def early(policy: PollPolicy) -> float:
    """Return how much sooner than due a job may be polled, along with polls that go now.

    A poll that comes alone pays by itself for the scheduler's timer, a worker's wake-up and
    turns of the event loop, and runs cold; polls that go together share them. A job due within
    this of a poll that goes is polled with it, never later than due (``latency`` holds), and
    the gap after it is counted from then: the two stay together. The scheduler pulls none
    sooner than ``min_gap`` after the job's last poll, and none in an outage (``_jobs.Due``).
    """
    latency = policy.latency
    return EARLY * (policy.interval if latency is None else min(latency, policy.interval))


#: The gap at a step's turn, as a share of the bound (``soon``): hosts start up to a few seconds
#: after their step (0-2 s in bk-job's agents, in the mixes of ``benchmarks/``), so one poll
#: 2.5 s after the one that saw them waiting sees them running. (0.4, a look 2 s after, made
#: 0.1-2.4% more requests on the family of mixes and 0.8-1.3% more on the two mixes, on virtual
#: time, for a median better on some seeds, worse on others: ``benchmarks/HISTORY.md``, "The
#: look at a step's turn: half the bound".)
SOON = 0.5


def soon(policy: PollPolicy) -> float:
    """Return the gap after an answer at a step's turn (``turning``): ``SOON`` of ``latency``,
    never more than ``interval``; ``interval`` itself when there is no bound (``latency=None``:
    the schedule of ``interval`` and ``growth`` alone) or it is below ``interval`` (which
    wins: the job is polled every ``interval``)."""
    latency = policy.latency
    if latency is None or latency < policy.interval:
        return policy.interval
    return min(policy.interval, latency * SOON)


#: A host's codes before its end: waiting to start, running.
_AT_WORK = (HOST_WAITING, HOST_RUNNING)


def turning(state: JobState) -> bool:
    """Whether a job is at a step's turn, where transitions come in bunches and soon.

    Its running step has hosts waiting to start, and either none of its hosts has ended yet
    (the step just began: its hosts start within moments) or none runs (a rolling step between
    two batches: the next batch starts within moments). Hosts waiting beside others that run
    and others that ended are a rolling step's later batches: they start only when the batch
    at work has ended, which is no turn (polled ``soon`` on every change while a batch's hosts
    end one by one, such a step cost up to 1.25 times the requests of a 5 s loop). A step whose
    hosts are not listed (none seen yet) tells nothing. (A step with only a few hosts left to
    end is no turn either: in the mixes of ``benchmarks/`` its last hosts end seconds to
    minutes apart, and polls there cost more than the loop saves elsewhere.)
    """
    codes = state.codes_of_first(STEP_RUNNING)
    if codes is None or HOST_WAITING not in codes:
        return False
    if HOST_RUNNING not in codes:
        return True
    return all(code in _AT_WORK for code in codes)  # none ended


def cap(policy: PollPolicy, waiting: bool) -> float:
    """Return the longest gap between two polls of a job (``waiting``: for a person)."""
    if waiting or policy.latency is None or policy.latency >= policy.max_interval:
        return policy.max_interval
    return policy.latency if policy.latency > policy.interval else policy.interval


def next_interval(
    policy: PollPolicy, current: float, after: float, rng: random.Random, top: float
) -> tuple[float, float]:
    """Return ``(new base gap, jittered delay)`` after a successful poll (every poll).

    ``after`` is the base a change sets (``interval``, or ``soon`` at a step's turn), ``0`` for
    an answer that changed nothing: then the base is ``current`` grown by ``growth``. A base
    below ``interval`` (after a turn) grows at least by ``TURN_GROWTH``, even with a fixed
    ``growth`` of 1, back to ``interval``; a job not polled yet, or started from a stored state
    (``current == 0``, below any base an answer sets), starts at ``interval``. The base never exceeds ``top``, the job's
    ``cap``: ``latency`` for a job that may change by itself, ``max_interval`` for one waiting
    for a person. Jitter only shortens the delay, and only a delay that differs from the last
    one (a job's first, after a change of gap, while it grows): a job that stays at the bound
    (``latency``) is polled that far apart less ``SEEN_MARGIN``, as a hand-written loop polls
    every 5 s, since shortening every gap by up to ``jitter`` costs ``jitter / 2`` more
    requests for nothing. Its phase is still its own: a share of its first gap, and of every
    gap after a turn, is drawn.
    """
    if after:
        base = after
    else:  # (no min()/max(): every poll comes here)
        base = current * policy.growth
        if base < policy.interval:  # (rare: back from a turn, or not polled yet)
            base = _regrown(policy, current)
    if base > top:
        base = top
    bound = policy.latency is not None and top <= policy.latency
    cut = base * (1.0 - SEEN_MARGIN) if bound and base == top else base
    jitter = policy.jitter
    if not jitter or (bound and base == current == top):
        return base, cut  # (at the bound, as before: no jitter)
    delay = base * (1.0 - jitter * rng.random())
    return base, delay if delay < cut else cut


#: The share of the bound a gap at the bound leaves for seeing an answer: a change is seen
#: when the answer to the next request is read, a moment after the request went out (50 ms of
#: a 5 s bound; the job's next request counts from this one's sending). A loop that sleeps 5 s
#: after each answer is already an answer's time behind a gap counted from send to send: the
#: margin is for answers slower than the loop's. (2% made 1% more requests on the family of
#: mixes, for a p99 0.96-0.98x the loop's where 1% gives 0.97-0.99x: ``benchmarks/HISTORY.md``,
#: "The family's model counts a launch's starts; the margin at 1%".)
SEEN_MARGIN = 0.01


#: The least growth of a gap below ``interval`` (after a step's turn), per unchanged poll.
TURN_GROWTH = 1.5


def _regrown(policy: PollPolicy, current: float) -> float:
    """Return the next base after ``current`` below ``interval``: grown, but not past it;
    ``interval`` after a ``current`` that no answer set (below ``soon``: 0, not polled yet)."""
    if current < soon(policy):
        return policy.interval
    return min(policy.interval, current * max(policy.growth, TURN_GROWTH))


#: The least share of the bound a census round leaves for the list's read and the job's own
#: poll (the jitter's share when larger).
CENSUS_MARGIN = 0.05


def census_round(policy: PollPolicy) -> float:
    """Return how often the job list is read: a round of the latency bound, less the jitter's
    share and at least ``CENSUS_MARGIN`` of it (a job ends anywhere in a round, then the list's
    pages and the job's own poll take a moment: the round leaves that moment within
    ``latency``, with no jitter too)."""
    return cap(policy, False) * (1.0 - max(policy.jitter, CENSUS_MARGIN))


def joined_at(
    policy: PollPolicy,
    job_id: int,
    now: float,
    sent: float,
    due: float | None,
    launched: float | None = None,
) -> float | None:
    """Return when to poll a job a watch just joined, or ``None`` to keep its schedule.

    A new job (``due is None``), or one whose next poll is more than one ``interval`` away,
    is polled at once (the rate limit and ``max_in_flight`` spread a burst; the jitter of
    the polls after it keeps thousands of jobs from polling in lockstep); never sooner than
    the smallest gap after its last poll.

    A job launched a moment ago (``launched``: when, as its watch was told) is polled
    ``soon`` after that, less a share of the jitter drawn from its id: its hosts take moments
    to start, so a poll at once would see them waiting and be followed by a look ``soon``
    after it anyway (half a poll a job against a loop that first sleeps).
    """
    if due is not None and due <= now + policy.interval:
        return None
    at = max(now, sent + min_gap(policy))
    if launched is None:
        return at
    share = policy.jitter * first_delay(policy, job_id) / policy.interval
    return max(at, launched + soon(policy) * (1.0 - share))


def unparked_at(policy: PollPolicy, job: PolledJob, now: float, sent: float) -> float:
    """Return when to poll a job the job list stood for and no longer does (its read costs
    more than it saves, or cannot be read): when its own schedule would have, counted from its
    last poll (``sent``), at most the bound less ``SEEN_MARGIN`` after it, and never sooner than
    the smallest gap after it."""
    top = cap(policy, False)
    gap = (job.interval if 0.0 < job.interval < top else top) * (1.0 - SEEN_MARGIN)
    return max(now, sent + max(gap, min_gap(policy)))


def rejoined_at(policy: PollPolicy, job_id: int, now: float, sent: float) -> float:
    """Return when to poll a job after an outage: within one interval, spread by its phase."""
    spread = min(1.0, policy.max_interval * policy.jitter / policy.interval)
    return max(now + spread * first_delay(policy, job_id), sent + min_gap(policy))


@attrs.frozen
class RetryBudget:
    """A process-wide allowance for quick retries, so an outage cannot become a retry storm: a value.

    Each request earns ``ratio`` tokens and each quick retry spends one; ``floor`` tokens per
    second keep a trickle of retries going when traffic is low. Tokens cap at ``10 * floor``.
    Requests are counted by the caller and passed in, so the hot path pays nothing for this.
    """

    ratio: float
    floor: float = 10.0
    tokens: float = attrs.field(default=attrs.Factory(lambda self: self.floor, takes_self=True))
    last: float | None = None
    requests: int = 0

    def withdraw(self, now: float, requests: int) -> tuple[RetryBudget, bool]:
        """Spend a token for one retry if there is one; ``requests`` made so far earn tokens.

        Return the next value and whether the retry may go now.
        """
        earned = (requests - self.requests) * self.ratio
        if self.last is not None:
            earned += (now - self.last) * self.floor
        tokens = min(self.tokens + earned, 10.0 * self.floor)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        return attrs.evolve(self, tokens=tokens, last=now, requests=requests), allowed


# --- decide --------------------------------------------------------------------------------------


class Deliver(NamedTuple):
    """Hand ``events`` to the job's watches; ``finished``: the job ended so (its watches end)."""

    events: list[Event]
    finished: JobFinished | None
    data: Any
    #: Whether the job's state changed (a named watch commits only then).
    changed: bool


class Failing(NamedTuple):
    """The job's reads fail while bk-job answers others: its watches hear ``JobPollFailing``."""

    since: _dt.datetime
    error: errors.BkJobError
    failures: int


class Recovered(NamedTuple):
    """The failing job answered again: its watches hear ``JobPollRecovered``."""

    since: _dt.datetime
    at: _dt.datetime


class GiveUp(NamedTuple):
    """The job can never be polled again: its watches end with ``failed``."""

    failed: WatchFailed


class OutageBegan(NamedTuple):
    """bk-job is taken to be down: every job stalls (its watches hear ``PollingStalled``), polls
    go one probe at a time."""

    error: errors.BkJobError
    at: _dt.datetime


class OutageEnded(NamedTuple):
    """bk-job answers again: every stalled job resumes (``PollingResumed``), and every job is
    polled again within one interval (``rejoined_at``)."""


class Retried(NamedTuple):
    """A failed poll will be retried (counted in ``statistics().retries``)."""


class Expires(NamedTuple):
    """The failing job's time budget runs out ``at`` (engine clock): the driver decides
    ``EXPIRED`` for it then, read or not (its last read may wait or hang past it). One timer
    a job: a later ``Expires`` replaces it."""

    at: float


#: What the driver applies.
Action = Deliver | Failing | Recovered | GiveUp | OutageBegan | OutageEnded | Retried | Expires


#: Failed reads of one job in a row after which its watches hear ``JobPollFailing``.
FAILING_AFTER = 2


#: Bodies refused unread in a row, and the same format error in a row, that end a job's watch.
REFUSED_LIMIT = 2


SAME_FORMAT_LIMIT = 3


#: "Nothing answers": failures saying so in a row, with no answer for ``OUTAGE_AFTER`` seconds.
SERVER_FAILURES = 3


OUTAGE_AFTER = 2.0


#: "Failures dominate": the share of failed polls, the window (seconds, a decaying count) and
#: the least number of polls in it.
OUTAGE_RATE = 0.5


WINDOW = 10.0


MIN_CALLS = 20


#: The first probe's delay in an outage; it doubles per failed probe up to the latency bound
#: (``cap``: ``max_interval`` without a bound), so bk-job's return is seen within it while the
#: outage is young (``YOUNG``).
FIRST_PROBE = 1.0


#: How long an outage is young, in seconds: its probes go at most the latency bound apart
#: (most outages are over by then, and their end is seen within the bound). An older one is
#: probed at most the bound per ``YOUNG`` seconds of its age apart (a 2-minute outage every
#: 10 s at a 5 s bound), up to ``max_interval``: its return is seen within about a twelfth of
#: its length, and a long one costs a probe per ``max_interval``, not per bound.
YOUNG = 60.0


#: The share of a probe's delay jitter may take off (never adds): bk-job's return is seen
#: within the probe's cap, and pollers in many processes do not probe in lockstep.
PROBE_JITTER = 0.1


#: A job's first retry after a share of its latency bound, and its cap as a multiple of it.
RETRY_FIRST = 0.1


RETRY_CAP = 4.0


#: A job's failed reads in a row that a 5xx or a reset retries at the first step (``_steps``).
QUICK_RETRIES = 3


_PERMANENT = (
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.NotFoundError,
    errors.EndpointNotFoundError,
    errors.InvalidRequestError,
    errors.UnsupportedOperationError,
    errors.CertificateError,  # (a transport error, but no retry can fix a certificate)
)


class Kind(enum.Enum):
    """What a failed poll means for its job (the module's table)."""

    PERMANENT = "permanent"
    THROTTLED = "throttled"
    QUOTA = "quota"
    REFUSED = "refused"
    MALFORMED = "malformed"
    TRANSIENT = "transient"


def classify(exc: errors.BkJobError) -> Kind:
    """Return what ``exc`` means for a job's watch (the module's table)."""
    if isinstance(exc, errors.QuotaExceededError):
        return Kind.QUOTA
    if isinstance(exc, errors.RateLimitedError):
        return Kind.THROTTLED
    if isinstance(exc, _PERMANENT):
        return Kind.PERMANENT
    if isinstance(exc, errors.ResponseRefusedError):
        return Kind.REFUSED
    if isinstance(exc, errors.ResponseFormatError):
        return Kind.MALFORMED
    return Kind.TRANSIENT


def server_level(
    exc: errors.BkJobError, sent_at: float, last_answer: float, *, known: bool
) -> bool:
    """Tell whether a failed poll says bk-job (or the way to it) is not answering.

    Connection errors, 5xx and gateway errors do; a timeout does when nothing answered while
    the poll waited (``last_answer``, bk-job's last answer to any poll, is not after
    ``sent_at``) and the job is ``known`` to be answered (it was answered before, or no poll
    ever was): a job that hangs alone is that job's. Every other failure is an answer.
    """
    if isinstance(exc, errors.TimeoutError):
        return known and last_answer <= sent_at
    return unreachable(exc)


def unreachable(exc: errors.BkJobError | None) -> bool:
    """Tell whether ``exc`` says bk-job, or the way to it, gave no answer of its own: no
    connection, a reset, a gateway's 5xx. (bk-job's own error code, even an internal error at
    HTTP 200, is an answer; a timeout is ``server_level``'s to tell.)"""
    if isinstance(exc, errors.TimeoutError):
        return False
    if isinstance(exc, errors.TransportError):
        return True
    return isinstance(exc, errors.ServerError) and (exc.http_status or 200) >= 500


def failing_share(policy: PollPolicy) -> int:
    """Return how many requests in flight jobs failing alone may hold at once."""
    return max(1, policy.max_in_flight // 4)


def job_backoff(failures: int, policy: PollPolicy, rng: random.Random) -> float:
    """Return a job's delay after ``failures`` failed reads in a row (the module's rule).

    Full jitter over the upper half: from ``RETRY_FIRST`` of its latency bound (never below
    the smallest gap) doubling per failure, capped at ``RETRY_CAP`` times the bound.
    """
    bound = cap(policy, False)
    gap = min_gap(policy)
    first = max(gap, RETRY_FIRST * bound)
    top = min(RETRY_CAP * bound, first * 2.0 ** min(failures - 1, 30))
    return max(gap, rng.uniform(top / 2.0, top))


@attrs.frozen
class Server:
    """bk-job's health across jobs: the failure window, and the outage with its probes; a value.

    ``failed`` takes every failed poll (whether it says nothing answers, whether its job began
    to fail with it), ``answered`` a good answer in an outage; ``allows(now)`` says whether a
    poll may go. While down,
    one probe goes at a time: ``allows`` grants it and holds every other poll until its outcome
    is reported, or ``hold`` seconds pass (a probe whose job was released reports nothing).
    """

    #: The most a probe waits for the next while the outage is young (at least
    #: ``FIRST_PROBE``; ``YOUNG``).
    cap: float
    #: How long a granted probe holds the others back.
    hold: float
    #: The most a probe waits for the next in an old outage (``max_interval``; below ``cap``:
    #: ``cap``).
    top: float = 0.0
    #: When the outage began (engine clock), or ``None`` while bk-job answers.
    down_since: float | None = None
    #: When the next probe may go; its delay; whether a granted probe has not reported yet.
    probe_at: float = -math.inf
    delay: float = FIRST_PROBE
    probing: bool = False
    #: The window: jobs that began to fail and good answers, decayed over ``WINDOW`` seconds
    #: since ``at``; the count of good answers it has seen (the driver's counter).
    bad: float = 0.0
    good: float = 0.0
    at: float = -math.inf
    seen: int = 0
    #: The last answer the current run of "nothing answers" counts from, its length, the
    #: changes of job along it (a count of the jobs in it), and the last job in it.
    since: float = -math.inf
    silent: int = 0
    jobs: int = 0
    last_job: int = -1
    #: When the failures last gave grounds for an outage, not yet confirmed by a canary
    #: (``None``: no suspicion in force).
    suspect: float | None = None

    @property
    def down(self) -> bool:
        """Whether bk-job is taken to be down now."""
        return self.down_since is not None

    def allows(self, now: float) -> tuple[Server, bool]:
        """Tell whether a poll may go now; while down, grant at most one probe at a time."""
        if self.down_since is None:
            return self, True
        if now < self.probe_at:
            return self, False
        return attrs.evolve(self, probe_at=now + self.hold, probing=True), True

    def wait(self, now: float) -> float:
        """Return how long until ``allows`` may say yes."""
        if self.down_since is None:
            return 0.0
        return max(0.0, self.probe_at - now)

    def answered(self) -> tuple[Server, bool]:
        """Record a good answer in an outage: end it (and start the window afresh); return the
        next value and whether it ended one."""
        if self.down_since is None:
            return self, False
        return Server(self.cap, self.hold, self.top, seen=self.seen), True

    def failed(
        self,
        now: float,
        last_answer: float,
        answers: int,
        rng: random.Random,
        *,
        silent: bool,
        first: bool,
        waited: bool = False,
        job: int = -1,
        jobs: int = 1,
        sent_at: float = -math.inf,
        known: bool = True,
        spare: bool = False,
        fresh: bool | None = None,
    ) -> tuple[Server, bool]:
        """Record a failed poll; return the next value and whether it began an outage.

        ``last_answer`` is when bk-job last answered any poll, ``answers`` how many good
        answers it has given so far; ``silent``: the failure says nothing answers
        (``server_level``); ``first``: its job began to fail with it (the window counts it);
        ``waited``: it was a whole timeout with no answer meanwhile, which alone is
        ``SERVER_FAILURES`` failures' worth (a server that accepts and never answers begins
        an outage at its first timeouts, not after three rounds of them); ``job`` the failed
        job's id, ``jobs`` how many are polled; ``sent_at`` when the failed poll was sent;
        ``known``: its job answered before; ``spare``: another polled job has not failed
        (a canary can still be asked); ``fresh``: its job began to fail only once nothing
        answered (``first`` if not given).

        Grounds for an outage (nothing answers, or failures dominate) only make bk-job
        suspect (``suspect``). The outage begins when a canary fails too, after the
        suspicion's instant (answers that land together are no evidence of each other): a silent failure
        of a job that had not failed before the silence (``fresh``), answered before or
        sent once the suspicion began,
        while the grounds hold (an answer since clears them, and the suspicion). Timeouts of jobs that never answered,
        sent together before it, count against those jobs, whatever their place in the
        list. With no spare job left to ask, a whole timeout begins it, or a run of silent
        failures longer than a job's quick retries (``QUICK_RETRIES``).
        """
        decay = math.exp(-(now - self.at) / WINDOW) if now > self.at else 1.0
        bad = self.bad * decay + (1.0 if first else 0.0)
        good = self.good * decay + (answers - self.seen)
        value = attrs.evolve(self, bad=bad, good=good, at=max(now, self.at), seen=answers)
        if silent:
            if last_answer != self.since:  # answered since: a new run
                run, seen_jobs = 1, 1
            else:
                run, seen_jobs = self.silent + 1, self.jobs + (job != self.last_job)
            value = attrs.evolve(value, since=last_answer, silent=run, jobs=seen_jobs, last_job=job)
        if value.down_since is not None:
            if value.probing:  # the probe failed (or a poll sent before the outage began)
                return value._probe_later(now, rng), False
            return value, False
        # Silence from several jobs, or from the one left to ask: the others all fail already
        # (jobs never answered that hang count against themselves, so they never add to it).
        nothing = (
            silent
            and (value.silent >= SERVER_FAILURES or waited)
            and (value.jobs >= min(SERVER_FAILURES, jobs) or not spare)
            and now - last_answer >= OUTAGE_AFTER
        )
        dominate = bad + good >= MIN_CALLS and bad >= OUTAGE_RATE * (bad + good)
        if not (nothing or dominate):
            return value if value.suspect is None else attrs.evolve(value, suspect=None), False
        suspect = value.suspect  # (grounds that vanished with an answer cleared it, above)
        fresh = first if fresh is None else fresh
        canary = (
            suspect is not None
            and now > suspect
            and silent
            and fresh
            and (known or sent_at >= suspect)
        )
        # With no job left to ask, a whole timeout is enough, or the failures' own retries
        # past the quick ones (a moment's 502s on the one job polled are that job's).
        alone = not spare and (waited or value.silent > QUICK_RETRIES)
        if canary or alone:
            return attrs.evolve(value, down_since=now, suspect=None)._probe_later(now, rng), True
        if suspect is None:
            suspect = now
        return (value if suspect == value.suspect else attrs.evolve(value, suspect=suspect)), False

    def probe_cap(self, now: float) -> float:
        """Return the most the next probe waits: the bound (``cap``) while the outage is
        young, then the bound per ``YOUNG`` seconds of its age, up to ``top``."""
        bound = max(self.cap, FIRST_PROBE)
        if self.down_since is None or self.top <= bound:
            return bound
        return min(self.top, max(bound, bound * (now - self.down_since) / YOUNG))

    def _probe_later(self, now: float, rng: random.Random) -> Server:
        gap = min(self.delay, self.probe_cap(now))
        return attrs.evolve(
            self,
            probing=False,
            probe_at=now + gap * (1.0 - PROBE_JITTER * rng.random()),
            delay=gap * 2.0,
        )


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
    #: The gap after an answer at a step's turn (``soon``).
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
    """bk-job's health across jobs (``Server``: its failure window, whether it is
    down), and the quick-retry budget."""

    server: Server
    budget: RetryBudget

    @classmethod
    def start(cls, policy: PollPolicy) -> Health:
        hold = (policy.poll_timeout or 30.0) + 1.0
        server = Server(cap(policy, False), hold, policy.max_interval)
        return cls(server, RetryBudget(policy.retry_budget))


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
    #: bk-job's good answers so far, to any poll; how many jobs are polled, and how many of
    #: them fail alone (``failures`` above 0).
    answers: int = 0
    jobs: int = 1
    failing: int = 0


class _Hint:
    __slots__ = ()

    def __repr__(self) -> str:
        return "HINT"


#: A callback said the job ended: poll it now (the driver allows one per ``interval``). The
#: poll, not the callback, is the truth: a forged or stray hint costs one poll.
HINT = _Hint()


class Listed(NamedTuple):
    """The job's row in bk-job's job list (``_census``): its status, ``None`` if it is not there;
    and when the job's own last poll was sent (its row's), which the poll a row asks for keeps
    the smallest gap after (``min_gap``)."""

    status: int | None
    sent: float


class _Expired:
    __slots__ = ()

    def __repr__(self) -> str:
        return "EXPIRED"


#: A failing job's time budget ran out (``Expires``): it ends now if its budget is spent.
EXPIRED = _Expired()


#: What a poll, a hint, the job list or a job's budget timer came back with.
Outcome = _Unchanged | Answer | Failed | _Hint | Listed | _Expired


_NO_ACTIONS: tuple[Any, ...] = ()


_RETRIED = Retried()


_OUTAGE_ENDED = OutageEnded()


#: What ``decide`` returns, to unpack: ``job, health, poll_at, actions`` (the job's new value
#: and health, when to poll it next, ``None``: never, and what else to do). A plain tuple:
#: every poll makes one.
Decision = tuple[PolledJob, Health, float | None, tuple[Action, ...]]


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
    if outcome is EXPIRED:
        return _expired(rules, job, health, now)
    if isinstance(outcome, Listed):
        if not job.census:  # (no longer followed by the list: its own polls read it)
            return job, health, None, _NO_ACTIONS
        # (a round of the list may come a moment after the job's own poll)
        at = max(now, outcome.sent + min_gap(rules.policy))
        if job.parks:  # parked: read it when its row says it moved
            if outcome.status is not None and outcome.status == job.status:
                return job, health, None, _NO_ACTIONS
            return job._replace(census=False), health, at, _NO_ACTIONS
        return job, health, at if _read_itself(outcome.status) else None, _NO_ACTIONS
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
    job = moved(job, None if state is old else state, base)
    if job.parks:
        job = _park(job)
    deliver = Deliver(events, finished, answer.data, state is not old)
    return job, health, None if job.census else now + delay, (*actions, deliver)


def moved(job: PolledJob, state: JobState | None, interval: float) -> PolledJob:
    """Return ``job`` with a new tracker state (``None``: the same) and interval: what every
    changed poll makes."""
    return PolledJob(
        job.scope,
        job.job_instance_id,
        job.state if state is None else state,
        interval,
        job.failures,
        job.error,
        job.malformed,
        job.stalled,
        job.census,
        job.parks,
        job.failing,
        job.failing_since,
    )


def _park(job: PolledJob) -> PolledJob:
    """A job whose watches need its transitions: the job list stands for its polls while it
    waits for a person (not started, a confirmation, a rolling pause), or while its next
    change can only come with its end (``ends_next``), and only then."""
    waits = job.state.status in WAITS_FOR_A_PERSON or ends_next(job.state)
    return job if waits is job.census else job._replace(census=waits)


def ends_next(state: JobState) -> bool:
    """Whether a job's next change can only come with a change of its own status: it runs,
    and of its steps only the last one it runs is not over, with one host at work, which runs.

    bk-job lists every step of a job from its start (those to come as not started) and every
    host of a step (a rolling step's later batches as waiting, from its first batch), so the
    host's end is the step's, and the step's the job's: the job list, which reads the job's
    status, sees it. A job whose steps or hosts are not all known yet is not such a job.
    """
    if state.status != STEP_RUNNING:
        return False
    codes = state.codes_of_only_open()
    return codes is not None and HOST_WAITING not in codes and codes.count(HOST_RUNNING) == 1


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
    budget count (the failure policy)."""
    policy, rng, error = rules.policy, rules.rng, failed.error
    kind = classify(error)
    if kind in (Kind.THROTTLED, Kind.QUOTA, Kind.PERMANENT):  # bk-job answered
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
        sent_at=failed.sent_at,
        known=job.interval > 0,
        spare=failed.jobs - 1 > max(0, failed.failing - (job.failures > 0)),  # (others)
        fresh=job.failing_since is None or job.failing_since >= failed.last_answer,
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
    count, end = policy.max_failures, budget_end(policy, failures, since)
    spent = (
        (kind is Kind.REFUSED and isinstance(job.error, errors.ResponseRefusedError))
        or malformed >= SAME_FORMAT_LIMIT
        or (
            (now >= end if end is not None else count is not None and failures >= count)
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
    if end is not None:  # it ends then, read or not (``_expired``)
        actions_.append(Expires(end))
    delay = job_backoff(_steps(failures, error) if quick else 64, policy, rng)
    return job, health, now + delay, tuple(actions_)


def budget_end(policy: PollPolicy, failures: int, since: float) -> float | None:
    """Return when the budget of a job failing ``failures`` reads in a row since ``since``
    is spent, with ``max_failing_time`` set (``None``: no time, reads alone count).

    The time is the budget: ``max_failing_time`` after ``since``, or later if the job's
    backoff at its shortest (the lower half of ``job_backoff``'s range) needs longer for
    ``max_failures`` reads. Reads a job did not make because its backoff drew long, its reads
    hung for a whole timeout, or the jobs failing beside it held the failing share
    (``failing_share``), count as made: the job ends at this time, read or not (``Expires``).
    """
    count, time = policy.max_failures, policy.max_failing_time
    if time is None:
        return None
    if count is None or failures >= count:
        return since + time
    bound = cap(policy, False)
    gap = min_gap(policy)
    first = max(gap, RETRY_FIRST * bound)
    fit = sum(
        max(gap, min(RETRY_CAP * bound, first * 2.0 ** min(read - 1, 30)) / 2.0)
        for read in range(1, count)
    )
    return since + max(time, fit)


def _expired(rules: Rules, job: PolledJob, health: Health, now: float) -> Decision:
    """A failing job's time budget ran out (``Expires``): end it with its last error if its
    budget is spent (as a failure would: not while bk-job is down, nor after a failure saying
    bk-job is unreachable), or set the timer again if the budget moved on (an outage in its
    spell gave the time back); its schedule stays as it is."""
    since, error = job.failing_since, job.error
    if since is None or error is None or health.server.down_since is not None:
        return job, health, None, _NO_ACTIONS
    end = budget_end(rules.policy, job.failures, since)
    if end is None or unreachable(error):
        return job, health, None, _NO_ACTIONS
    if now < end:
        return job, health, None, (Expires(end),)
    return job, health, None, (_give_up(rules, job, error),)


def _steps(failures: int, error: errors.BkJobError) -> int:
    """Return the step of a job's backoff after ``failures`` in a row: a 5xx or a reset
    (``unreachable``) is retried at the first step ``QUICK_RETRIES`` times (a moment's fault
    of one read, seen within the bound), then the backoff grows as for any failure."""
    if failures > 1 and unreachable(error):
        return max(1, failures - QUICK_RETRIES + 1)
    return failures


def _give_up(rules: Rules, job: PolledJob, error: errors.BkJobError) -> GiveUp:
    return GiveUp(WatchFailed(job.job_instance_id, rules.wall(), error, occurrence=job.state.seq))


def stall(job: PolledJob, since: _dt.datetime) -> PolledJob:
    """Return ``job`` stalled since ``since`` (an outage stalls every job)."""
    return job._replace(stalled=since)


# --- the rules the driver asks besides a poll's ------------------------------------------------
#
# Who a failure is blamed on, what an outage's start and end do to each job, whether a hint moves
# a poll, whether the job list follows a job, and what a read of the list means for bk-job's
# health: values in, values out. The driver applies what they return (counts, the heap, the
# census's set, deliveries).


class Blame(NamedTuple):
    """Who a failed poll is counted against (``blame``)."""

    #: A throttle: the rate governor cuts, an outside rate budget hears of it.
    throttled: bool
    #: bk-job answered it (a body it sent, a code it chose): its last answer is now.
    answered: bool
    #: ``True``: bk-job's failure; ``False``: the job's; ``None``: neither (a throttle, a full
    #: quota: no failure at all).
    server: bool | None


def blame(
    exc: errors.BkJobError,
    job: PolledJob,
    sent_at: float,
    last_answer: float,
    answers: int,
    now: float,
) -> Blame:
    """Return who a failed poll of ``job`` sent at ``sent_at`` is counted against;
    ``last_answer``: bk-job's last answer to any poll before it, ``answers``: its good answers
    so far (a timeout is bk-job's only for a job answered before, or when none ever was:
    ``server_level``)."""
    kind = classify(exc)
    throttled = kind is Kind.THROTTLED  # (a full quota is not: no rate frees a slot)
    answered = _an_answer(exc)
    if throttled or kind is Kind.QUOTA:
        return Blame(throttled, answered, None)
    last = now if answered else last_answer
    known = job.interval > 0 or not answers
    return Blame(throttled, answered, server_level(exc, sent_at, last, known=known))


def _an_answer(exc: errors.BkJobError) -> bool:
    """Whether a failed poll was answered by bk-job (a body it sent, a code it chose)."""
    if isinstance(exc, errors.ResponseFormatError):
        return True
    return isinstance(exc, errors.ApiError) and not isinstance(exc, errors.ServerError)


def outage_began(job: PolledJob, at: _dt.datetime) -> tuple[PolledJob, bool, bool]:
    """Return ``(job, gave_back, stalls)`` as an outage begins at ``at``: a job not yet known
    to fail alone gives its failures back (the outage explains them: ``gave_back``), and every
    job not stalled yet stalls (its watches hear ``PollingStalled``: ``stalls``)."""
    gave_back = job.failures > 0 and job.failing is None
    if gave_back:
        job = job._replace(failures=0, malformed=0)
    stalls = job.stalled is None
    if stalls:
        job = stall(job, at)
    return job, gave_back, stalls


def outage_ended(job: PolledJob, lasted: float) -> tuple[PolledJob, _dt.datetime | None]:
    """Return ``(job, since)`` as an outage of ``lasted`` seconds ends: the time a failing job's
    budget counts leaves the outage out; a stalled job resumes (``since``: when it stalled, for
    ``PollingResumed``; ``None``: it was not)."""
    since = job.stalled
    if job.failing_since is not None:
        job = job._replace(failing_since=job.failing_since + lasted)
    if since is not None:
        job = job._replace(stalled=None)
    return job, since


def hinted(
    rules: Rules, job: PolledJob, health: Health, now: float, last: float, due: float
) -> float | None:
    """Return when to poll a job a callback said ended (``None``: leave it as it is).

    At most one hint per job per ``interval`` (``last``: when one last moved it) brings its
    poll forward, to when ``decide`` puts ``HINT``; a job due sooner anyway is left as it is.
    """
    if now - last < rules.policy.interval:
        return None
    _, _, at, _ = decide(rules, job, health, HINT, now)
    return at if at is not None and at < due else None


class _Watcher(Protocol):
    """What ``coverage`` reads of a job's watch (``_subscription._Subscription``)."""

    @property
    def kinds(self) -> frozenset[type] | None: ...

    @property
    def step_instance_id(self) -> int | None: ...


#: The events of a wait for a job's end only (with those that tell of the watch itself).
_END = frozenset({JobFinished, WatchFailed, WatchTimedOut, PollingStalled, PollingResumed})


def coverage(subscribers: Sequence[_Watcher], status: int | None) -> tuple[bool, bool, bool]:
    """Return how the job list can stand for a job's polls: ``(now, parks, end_only)``.

    ``end_only``: every watch of it waits for its end only (no host, step or job transition;
    a watch with no filter wants them all), so the list stands for its polls always, and it
    is read without host rows. ``parks``: its watches need its transitions, so the list
    stands for its polls only while its next change must change its status (``_park``: here,
    while it waits for a person, ``status`` in ``_statuses.WAITS_FOR_A_PERSON``; its first
    answer parks a running one). ``now``: the list stands for its polls now. A job with no
    watch has none of these.
    """
    end_only = bool(subscribers) and all(
        sub.kinds and sub.kinds <= _END and sub.step_instance_id is None for sub in subscribers
    )
    parks = not end_only and bool(subscribers)
    return end_only or (parks and status in WAITS_FOR_A_PERSON), parks, end_only


class Cover(NamedTuple):
    """What changes when a job's watches change (``cover``)."""

    #: The job, with ``census`` and ``parks`` as its watches want.
    job: PolledJob
    #: Read it with host rows (``True``), without (``False``), or as before (``None``).
    hosts: bool | None
    #: The job list begins (``True``) or stops (``False``) following it, or as before (``None``).
    follow: bool | None
    #: When to poll it itself, the list no longer following it (``None``: as scheduled).
    poll_at: float | None


def cover(
    policy: PollPolicy,
    job: PolledJob,
    subscribers: Sequence[_Watcher],
    now: float,
    sent: float,
) -> Cover | None:
    """Return whether the job list follows a job now its watches changed (``None``: nothing
    changes): always when its watches all wait for its end only (read without host rows);
    while it waits for a person when they need its transitions (``parks``); not at all with no
    watch. A job taken off the list is polled itself again (``joined_at``)."""
    covered, parks, end_only = coverage(subscribers, job.status)
    if covered is job.census and parks is job.parks:
        return None
    hosts = None if end_only is (job.census and not job.parks) else not end_only
    new = job._replace(census=covered, parks=parks)
    if covered is job.census:
        return Cover(new, hosts, None, None)
    at = None if covered else joined_at(policy, job.job_instance_id, now, sent, None) or now
    return Cover(new, hosts, covered, at)


def unparked(
    policy: PollPolicy, job: PolledJob, now: float, sent: float
) -> tuple[PolledJob, float]:
    """Return a job the list no longer stands for (its read costs more than it saves), polled
    itself from now on until its watches change, and when to poll it (``unparked_at``)."""
    return job._replace(census=False, parks=False), unparked_at(policy, job, now, sent)


def unlisted(
    policy: PollPolicy, job: PolledJob, now: float, sent: float
) -> tuple[PolledJob, float | None]:
    """Return a job as the job list ends for good (it cannot be read), and when to poll it
    (``None``: as scheduled: the list did not stand for its polls)."""
    if not (job.census or job.parks):
        return job, None
    at = unparked_at(policy, job, now, sent) if job.census else None
    return job._replace(census=False, parks=False), at


class ListRead(enum.Enum):
    """What a read of the job list means for bk-job's health (``list_read``)."""

    #: No retry can fix it (the list is not there, or not open to this app): no census.
    GONE = "gone"
    #: bk-job answered; ``ENDED``: and so an outage ends.
    ANSWERED = "answered"
    ENDED = "ended"
    #: A failed probe of an outage (bk-job's failure).
    FAILED = "failed"
    #: A failure while bk-job answers: the jobs are polled themselves this round, no more.
    NOTHING = "nothing"


def list_read(
    rules: Rules,
    health: Health,
    error: BaseException | None,
    now: float,
    last_answer: float,
    answers: int,
) -> tuple[Health, ListRead]:
    """Return bk-job's health after a read of the job list (``error``: ``None`` if answered),
    and what the read means: an answer ends an outage, as a poll's does; a failure while down
    is a failed probe; a failure no retry can fix ends the census."""
    if isinstance(error, errors.BkJobError) and classify(error) is Kind.PERMANENT:
        return health, ListRead.GONE
    server = health.server
    if error is None:
        if server.down_since is None:
            return health, ListRead.ANSWERED
        return health._replace(server=server.answered()[0]), ListRead.ENDED
    if server.down_since is not None and isinstance(error, errors.BkJobError):
        server, _ = server.failed(now, last_answer, answers, rules.rng, silent=True, first=False)
        return health._replace(server=server), ListRead.FAILED
    return health, ListRead.NOTHING
