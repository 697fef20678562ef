"""When to poll next, as data and pure arithmetic; every function takes ``now``, none reads a clock.

- Intervals are bound by ``latency``: a job that may change by itself (running, or not yet
  seen) is polled at most ``latency`` apart, so each of its transitions is seen within
  ``latency``. A job that waits for a person (``_rules.WAITS_FOR_A_PERSON``: not started, waiting for a
  confirmation, a rolling pause) backs off by ``growth`` per unchanged poll up to
  ``max_interval``. ``jitter`` only ever shortens a gap, and a gap repeated at the bound not
  at all (a job that stays at the bound is polled every ``latency`` less ``SEEN_MARGIN``, the
  moment an answer takes to be read, as a hand-written loop polls every 5 s).
  A job a watch takes on is polled at once (a burst is spread by the rate limit and
  ``max_in_flight``, and the jitter of its first gap and of every gap after a turn keeps
  thousands from polling in lockstep); after an outage each job comes back at a phase derived
  from its id, spread over one interval.
- At a step's turn (``turning``: the running step has hosts still waiting to start) a job is
  polled again ``soon`` (``SOON`` of the bound), the gap growing by ``growth`` back to the
  bound: a step's hosts start within moments of it, so many transitions come together there
  and are seen at once.
- Failures: quick retries are paid from a process-wide ``RetryBudget`` (a share of recent
  requests plus a floor); without budget a failed job waits its backoff's cap. How a job backs
  off, which failures end a watch, and how outages are waited out, is ``_decide``'s failure policy;
  throttling is ``_rate``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs

from .._checks import check_int, check_number
from ._rules import HOST_WAITING, STEP_RUNNING

if TYPE_CHECKING:
    import random

    from ._tracker import JobState

__all__ = [
    "PollPolicy",
    "RetryBudget",
    "cap",
    "census_round",
    "first_delay",
    "joined_at",
    "min_gap",
    "next_interval",
    "rejoined_at",
    "soon",
    "turning",
]


def _number(name: str, value: Any) -> float:
    """Return ``value`` if it is a finite real number (not a bool); raise ``TypeError``/``ValueError``."""
    value = check_number(value, name)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not _number(attribute.name, value) > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _count(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and check_int(value, attribute.name) < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _at_least_one(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and check_int(value, attribute.name) < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


def _unit(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _number(attribute.name, value)


@attrs.frozen
class PollPolicy:
    """How a ``Poller`` polls. Times are seconds.

    :param latency: the bound on how late a change is seen: a job that may change by itself
        (running) is polled at most ``latency`` apart (``None``: no bound, ``interval`` grows
        to ``max_interval`` as for a waiting job). At a step's turn (its hosts waiting to
        start) the next poll comes after 0.4 of ``latency``, the gap growing back to it:
        changes come in bunches there.
    :param interval: between polls of a job right after it changed, and the first gap of a
        job that waits for a person (an ``interval`` above ``latency`` wins: the job is polled
        every ``interval``).
    :param max_interval: the cap the gap of a waiting job grows to (default: 15 s, or
        ``interval`` if longer; shorter than ``interval`` is refused).
    :param growth: gap factor per unchanged poll (1 keeps it fixed).
    :param jitter: a gap is shortened by a random share in ``[0, jitter)``; never
        lengthened, so ``latency`` holds. A gap repeated at ``latency`` is not jittered: a
        job that stays at the bound is polled ``latency`` apart, less 2% for reading the
        answer (its first gap and those after a turn are jittered, so jobs keep phases of
        their own).
    :param max_in_flight: requests at once; must not exceed the client's connection limit.
        It also bounds how many answers can land in one turn of the event loop, each costing
        a few hundred microseconds: keep it near polls per second x request latency (32 serves
        2,000 polls/s with a p99 loop lag of a few ms; 64 let lag spikes reach 80 ms).
    :param rate_limit: requests per second for the whole poller, or ``None``.
    :param deadline: per watch; then each unfinished job ends with ``WatchTimedOut``.
    :param poll_timeout: per poll request: the smaller of this and the client's
        ``Timeouts`` bounds it (connect, read and total alike). A server that accepts and never
        answers costs a poll this long, and holds one of ``max_in_flight`` workers meanwhile.
    :param retry_budget: retries allowed as a share of requests (plus 10 per second).
    :param buffer_size: events a watch holds before it coalesces per host, step and job.
    :param remember: jobs whose last known state the poller keeps after their last watch
        ends, so that watching one again (after a retry, say) reports only what changed; the
        least recently released are forgotten first.
    :param census: on the v3 APIs, let bk-job's job list stand for the polls of waits for a
        job's end only (``as_completed``, ``wait_finished``, a watch of ``JobFinished``): one
        list request a round per 1,000 jobs, and one read of each job's end (``False``: poll
        each job every round, as for host events).
    :param group_threshold: on the API gateway, a job with a step of more hosts than this is
        polled without host rows, plus each running step's result-group counts, plus the rows
        of only the groups that grew (``None``: always poll every host row).

    Every value is checked here (type, range, finite): ``interval=float("inf")`` is a
    ``ValueError``, ``interval="1"`` a ``TypeError``.

    :param max_failures: a job's failure budget, with ``max_failing_time``: once one job has
        failed this many reads in a row (``None``: any number) and gone ``max_failing_time``
        seconds without a good answer (``None``: any time), while bk-job answered, its watches
        end with ``WatchFailed`` and the last error; the rest of the watch goes on. ``None``
        for both: never. An outage of bk-job itself spends none of it.
    :param max_failing_time: see ``max_failures``.

    Failures are one job's or bk-job's. A job whose reads fail while bk-job answers others
    (its answer malformed, its read timing out, an error code) backs off alone, from a tenth
    of its latency bound to four times it; jobs whose reads time out alone hold at most a
    quarter of ``max_in_flight`` between them. Its watches hear ``JobPollFailing`` once two
    reads in a row have failed over two seconds, and ``JobPollRecovered`` when it answers
    again. A body refused unread twice in a row, or the same format error three times, spends
    its budget at once. Permanent errors (not
    found, permission, invalid request, authentication) end its watches at once; throttling
    never does. bk-job is taken as down only when nothing answers at all, or when most polls
    fail across jobs: the watches hear ``PollingStalled``, the poller probes bk-job with one
    request at a time, at most every ``max_interval``, and polls every job again within
    ``max_interval * (1 + jitter)`` of its return (``PollingResumed``). ``max_retries`` is
    gone (passing it is a ``TypeError``): the budget above and ``deadline`` bound a watch.
    """

    latency: float | None = attrs.field(default=5.0, validator=_positive, kw_only=True)
    interval: float = attrs.field(default=5.0, validator=_positive)
    max_interval: float = attrs.field(
        default=attrs.Factory(lambda self: max(15.0, self.interval), takes_self=True),
        validator=_positive,
    )
    growth: float = attrs.field(default=1.5, validator=_unit)
    jitter: float = attrs.field(default=0.1, validator=_unit)
    max_in_flight: int = attrs.field(default=32, validator=_at_least_one)
    rate_limit: float | None = attrs.field(default=None, validator=_positive)
    deadline: float | None = attrs.field(default=None, validator=_positive)
    poll_timeout: float | None = attrs.field(default=10.0, validator=_positive)
    retry_budget: float = attrs.field(default=0.2, validator=_unit)
    buffer_size: int = attrs.field(default=10_000, validator=_at_least_one)
    group_threshold: int | None = attrs.field(default=500, validator=_at_least_one)
    remember: int = attrs.field(default=10_000, validator=_count)
    census: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    max_failures: int | None = attrs.field(default=10, validator=_at_least_one, kw_only=True)
    max_failing_time: float | None = attrs.field(default=60.0, validator=_positive, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.max_interval < self.interval:
            default = "; 5 s when not given" if self.interval == 5.0 else ""
            raise ValueError(
                f"max_interval ({self.max_interval:g} s) must be >= interval "
                f"({self.interval:g} s{default}): pass a shorter interval too, or a longer "
                "max_interval"
            )
        if not self.growth >= 1:
            raise ValueError("growth must be >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if not 0 <= self.retry_budget <= 1:
            raise ValueError("retry_budget must be in [0, 1]")


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


#: The gap at a step's turn, as a share of the bound (``soon``): hosts start up to a few seconds
#: after their step (0-2 s in bk-job's agents, in the mixes of ``benchmarks/``), so one poll 2 s
#: after the one that saw them waiting sees most of them running.
SOON = 0.4


def soon(policy: PollPolicy) -> float:
    """Return the gap after an answer at a step's turn (``turning``): ``SOON`` of ``latency``,
    never more than ``interval``; ``interval`` itself when there is no bound (``latency=None``:
    the schedule of ``interval`` and ``growth`` alone) or it is below ``interval`` (which
    wins: the job is polled every ``interval``)."""
    latency = policy.latency
    if latency is None or latency < policy.interval:
        return policy.interval
    return min(policy.interval, latency * SOON)


def turning(state: JobState) -> bool:
    """Whether a job is at a step's turn, where transitions come in bunches and soon.

    Its running step has hosts still waiting to start: a step just began, and they start
    within moments. A step whose hosts are not listed (none seen yet) tells nothing. (A step
    with only a few hosts left to end is no turn: in the mixes of ``benchmarks/`` its last
    hosts end seconds to minutes apart, and polls there cost more than the loop saves
    elsewhere.)
    """
    codes = state.codes_of_first(STEP_RUNNING)
    return codes is not None and HOST_WAITING in codes


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
#: when the answer to the next request is read, a moment after the request went out (100 ms
#: of a 5 s bound; the job's next request counts from this one's sending).
SEEN_MARGIN = 0.02


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
    policy: PollPolicy, job_id: int, now: float, sent: float, due: float | None
) -> float | None:
    """Return when to poll a job a watch just joined, or ``None`` to keep its schedule.

    A new job (``due is None``), or one whose next poll is more than one ``interval`` away,
    is polled at once (the rate limit and ``max_in_flight`` spread a burst; the jitter of
    the polls after it keeps thousands of jobs from polling in lockstep); never sooner than
    the smallest gap after its last poll.
    """
    if due is not None and due <= now + policy.interval:
        return None
    return max(now, sent + min_gap(policy))


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
