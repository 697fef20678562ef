"""Rule: a policy is a frozen value, every field checked when it is made (type, range, finite).

``PollPolicy`` says how a ``Poller`` polls: its schedule (``_decide`` reads it), its failure
budget, its concurrency, its deadlines.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from .._checks import check_int, check_number

__all__ = ["PollPolicy"]


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

    :param latency: the bound on how late a change is seen. A job that may change by itself
        (running) is polled at most ``latency`` apart. ``None``: no bound, and ``interval``
        grows to ``max_interval`` as for a waiting job. Changes come in bunches at a step's
        turn: its hosts wait to start and none has ended, or a rolling step is between two
        batches. There the next poll comes after half of ``latency``, and the gap grows back.
    :param interval: between polls of a job right after it changed, and the first gap of a
        job that waits for a person (an ``interval`` above ``latency`` wins: the job is polled
        every ``interval``).
    :param max_interval: the cap the gap of a waiting job grows to (default: 15 s, or
        ``interval`` if longer; shorter than ``interval`` is refused).
    :param growth: gap factor per unchanged poll (1 keeps it fixed).
    :param jitter: a gap is shortened by a random share in ``[0, jitter)``. It is never
        lengthened, so ``latency`` holds. A gap repeated at ``latency`` is not jittered: a job
        that stays at the bound is polled ``latency`` apart, less 1% for reading the answer.
        Its first gap and those after a turn are jittered, so jobs keep phases of their own.
        A job due soon after a poll that goes now is polled with it, a moment early. Soon is
        a tenth of ``latency`` or ``interval``, the shorter (0.5 s at the defaults). Polls that
        go together cost the client less than polls that come alone.
    :param max_in_flight: requests at once; must not exceed the client's connection limit.
        It also bounds how many answers can land in one turn of the event loop: keep it near
        polls per second x request latency (the performance page's "Scale" has the loop lag
        it costs).
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
    :param census: on the v3 APIs, let bk-job's job list stand for some polls. It serves
        waits for a job's end only (``as_completed``, ``wait_finished``, a watch of
        ``JobFinished``): one list request a round per 1,000 jobs, then one read of each job's
        end. It also serves a watch of transitions while a job's next change must change its
        status: the job waits for a person, or its last host runs. There several such jobs
        share a read. ``False``: poll each job every round.
    :param group_threshold: on the API gateway, a job with a step of more hosts than this is
        polled without host rows. Each running step's result-group counts come with it, and
        then the rows of only the groups that grew. ``None``: always poll every host row.

    Every value is checked here (type, range, finite): ``interval=float("inf")`` is a
    ``ValueError``, ``interval="1"`` a ``TypeError``.

    :param max_failures: a job's failure budget, with ``max_failing_time``. It is spent when
        one job has failed this many reads in a row and gone ``max_failing_time`` seconds
        without a good answer, while bk-job answered others. ``None`` for one: any number, or
        any time. ``None`` for both: never. Then the job's watches end with ``WatchFailed``
        and the last error; the rest of the watch goes on. An outage of bk-job itself spends
        none of it. With a time, the time is the budget. Reads the job's backoff had time for
        count as made: a hung read, or the share hung jobs hold, does not stretch it. The job
        ends when the time is spent, read or not.
    :param max_failing_time: see ``max_failures``.

    Failures are one job's or bk-job's. A job whose reads fail while bk-job answers others
    backs off alone: its answer is malformed, its read times out, or it gets an error code.
    Its gap grows from a tenth of its latency bound to four times it. A 5xx or a reset is
    retried at the first step three times before the gap grows. Jobs whose reads time out
    hold at most a quarter of ``max_in_flight`` between them, from their first timeout. Its
    watches hear ``JobPollFailing`` once two reads in a row have failed over two seconds, and
    ``JobPollRecovered`` when it answers again. A body refused unread twice in a row, or the
    same format error three times, spends its budget at once. Permanent errors (not found,
    permission, invalid request, authentication) end its watches at once; throttling never
    does.

    bk-job is taken as down in two cases only: nothing answers at all, or most polls fail
    across jobs and then a read of a job that had not failed (a canary) fails too. Timeouts
    of jobs that never answered, sent together, count as those jobs' own, wherever they stand
    in the list. When bk-job is down, the watches hear ``PollingStalled``. The poller then
    probes bk-job with one request at a time. For the outage's first minute the probes are at
    most ``latency`` apart (``max_interval`` without a bound), so a short outage's end is seen
    within that gap (``PollingResumed``). Then they go further apart as the outage lasts: the
    bound per minute of its age, up to ``max_interval``. Every job is polled again within one
    ``interval`` after bk-job returns. ``max_retries`` is gone (passing it is a
    ``TypeError``): the budget above and ``deadline`` bound a watch.
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
