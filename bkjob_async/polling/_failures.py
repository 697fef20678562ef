"""Rule: one job's fault stays that job's; bk-job is down only when failures dominate across jobs.

Pure: values in, values out, no clock. Two healths are kept apart:

- **Each job's own** (in ``_jobs.PolledJob``): a failed read backs that job off alone
  (``job_backoff``: full jitter, from a tenth of its latency bound, at least the smallest gap,
  doubling to ``RETRY_CAP`` times the bound) and spends its failure budget: after
  ``PollPolicy.max_failures`` failed reads in a row over at least
  ``PollPolicy.max_failing_time`` seconds without a good answer, its watches end with
  ``WatchFailed`` and the last error. The rest of
  the watch goes on. Errors that no retry heals spend it at once: a body refused unread
  (``ResponseRefusedError``: over ``max_body_size`` or nested too deep) twice in a row
  (``REFUSED_LIMIT``), the same format error ``SAME_FORMAT_LIMIT`` times in a row.
- **bk-job's** (``Server``, one value for the poller): an outage is taken to begin when
  nothing answers at all (``SERVER_FAILURES`` failures that say so in a row, or a whole
  timeout during which nothing answered, with no answer for ``OUTAGE_AFTER`` seconds, and of
  as many jobs as are polled up to ``SERVER_FAILURES``: one job whose connections are reset
  while bk-job answers another is that job's),
  or when failures dominate across jobs: over the last ``WINDOW`` seconds, jobs that began to
  fail were at least ``OUTAGE_RATE`` of those and the good answers together, counting at least
  ``MIN_CALLS`` (a failure rate over a sliding window with a minimum count, as resilience4j
  and Hystrix open a circuit; a job failing again counts once, so a few jobs that keep
  failing never dominate). While down, one probe goes at a time (never a job failing alone,
  while another is due), at most every ``max_interval``; failures then spend no job's budget.
  A good answer ends it.

Which failure says what (``classify``, ``server_level``):

=====================  ==================================================  ================
failure                kind                                                says bk-job is
=====================  ==================================================  ================
not found, permission  permanent: the job's watches end at once (also a    (it answered)
invalid, auth, TLS     certificate refused: waiting cannot fix it)
429, ESB 1306429,      throttled: the rate governor's (``_rate``); never   (it answered)
running-job quota      a failure, never an outage
body refused unread    refused: ``REFUSED_LIMIT`` in a row end the job     (it answered)
format error           malformed: ``SAME_FORMAT_LIMIT`` alike end the job  (it answered)
another error code     transient, the job's                                (it answered)
connection refused,    transient; never spends the last of a job's budget  not answering
reset, DNS; a gateway  (an outage's first failures look the same)
5xx, 502
timeout                transient                                           not answering
                                                                           when none did
=====================  ==================================================  ================

A timeout says nothing answers when no poll was answered while it waited, and the job had
answered before (or no poll ever was): a job that hangs from its first read, among jobs that
were answered a moment before, is that job's. Only failures that say bk-job is not answering
count toward "nothing answers". A job failing alone while others answer is thus the job's problem (Envoy's
outlier detection), and the driver (``_heap``) gives such jobs at most a share of the requests
in flight (``failing_share``), so they never hold a healthy job's poll.
"""

from __future__ import annotations

import enum
import math
from typing import TYPE_CHECKING

import attrs

from .. import errors
from ._schedule import cap, min_gap

if TYPE_CHECKING:
    import random

    from ._schedule import PollPolicy

__all__ = [
    "FAILING_AFTER",
    "MIN_CALLS",
    "OUTAGE_AFTER",
    "OUTAGE_RATE",
    "REFUSED_LIMIT",
    "SAME_FORMAT_LIMIT",
    "SERVER_FAILURES",
    "WINDOW",
    "Kind",
    "Server",
    "classify",
    "failing_share",
    "job_backoff",
    "server_level",
    "unreachable",
]

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
#: The first probe's delay in an outage; it doubles per failed probe up to ``max_interval``.
FIRST_PROBE = 1.0
#: A job's first retry after a share of its latency bound, and its cap as a multiple of it.
RETRY_FIRST = 0.1
RETRY_CAP = 4.0

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
    REFUSED = "refused"
    MALFORMED = "malformed"
    TRANSIENT = "transient"


def classify(exc: errors.BkJobError) -> Kind:
    """Return what ``exc`` means for a job's watch (the module's table)."""
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

    #: The most a probe waits for the next (at least ``FIRST_PROBE``).
    cap: float
    #: How long a granted probe holds the others back.
    hold: float
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
        return Server(self.cap, self.hold, seen=self.seen), True

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
    ) -> tuple[Server, bool]:
        """Record a failed poll; return the next value and whether it began an outage.

        ``last_answer`` is when bk-job last answered any poll, ``answers`` how many good
        answers it has given so far; ``silent``: the failure says nothing answers
        (``server_level``); ``first``: its job began to fail with it (the window counts it);
        ``waited``: it was a whole timeout with no answer meanwhile, which alone is
        ``SERVER_FAILURES`` failures' worth (a server that accepts and never answers begins
        an outage at its first timeouts, not after three rounds of them); ``job`` the failed
        job's id, ``jobs`` how many are polled.
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
        nothing = (
            silent
            and (value.silent >= SERVER_FAILURES or waited)
            and value.jobs >= min(SERVER_FAILURES, jobs)
            and now - last_answer >= OUTAGE_AFTER
        )
        dominate = bad + good >= MIN_CALLS and bad >= OUTAGE_RATE * (bad + good)
        if not (nothing or dominate):
            return value, False
        return attrs.evolve(value, down_since=now)._probe_later(now, rng), True

    def _probe_later(self, now: float, rng: random.Random) -> Server:
        return attrs.evolve(
            self,
            probing=False,
            probe_at=now + self.delay * rng.uniform(0.5, 1.0),
            delay=min(max(self.cap, FIRST_PROBE), self.delay * 2.0),
        )
