"""The failure policy: which errors end a watch, and how polling waits out an outage; pure.

- **Permanent** errors end a job's watch with ``WatchFailed``: the server said the request can
  never succeed (not found, no permission, invalid request, authentication), or TLS failed on
  a certificate (``CertificateError``: a wrong CA bundle or host is not fixed by waiting).
- **Throttles** (429, ESB 1306429, Job's running-job quota) go to the rate governor and are
  otherwise retried: they never end a watch.
- **Malformed answers** (``ResponseFormatError``: a body that is not JSON, a field of the
  wrong type, a number past a Java long, a time in another format) are retried like transient
  errors, never taken as the job's state: a proxy glitch or a half-deployed server must not
  cost a watch. Only ``MALFORMED_LIMIT`` malformed answers in a row (a minute or more of
  backoff) end a job's watch, with the last one's error, which names the field.
- **Every other error is transient** (connection refused or reset, timeouts, 5xx, a proxy's
  error page): retried with capped, jittered backoff, for as long as the watch lasts. A watch's
  ``deadline`` is what bounds a job that never answers again.

A job whose polls keep failing is *stalled* after ``STALL_AFTER`` failures in a row; its watches
hear ``PollingStalled`` and, on its next answer, ``PollingResumed``. When no poll at all has
succeeded for ``OUTAGE_AFTER`` seconds, bk-job itself is taken to be down: the ``Outage``
holds every job back and lets one probe through at a time, backing off from one second to at
most ``max_interval``; the first answer ends it, and every job is polled again within one
``interval``, spread by its phase. So a long outage costs one request per ``max_interval`` or
so, and recovery costs at most one ``max_interval`` (plus jitter) and one ``interval``.
"""

from __future__ import annotations

import enum
import math
from typing import TYPE_CHECKING

import attrs

from .. import errors

if TYPE_CHECKING:
    import random

__all__ = [
    "MALFORMED_LIMIT",
    "OUTAGE_AFTER",
    "STALL_AFTER",
    "Kind",
    "Outage",
    "classify",
    "job_backoff",
    "timed_out",
]

#: Failures in a row after which a job's watches hear ``PollingStalled``.
STALL_AFTER = 3
#: Malformed answers in a row after which a job's watch fails (``WatchFailed``).
MALFORMED_LIMIT = 10
#: Seconds without any successful poll (and with failures) after which bk-job is taken as down.
OUTAGE_AFTER = 2.0
#: The first probe's delay in an outage; it doubles per failed probe up to ``max_interval``.
FIRST_PROBE = 1.0

_PERMANENT = (
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.NotFoundError,
    errors.EndpointNotFoundError,
    errors.InvalidRequestError,
    errors.UnsupportedOperationError,
    errors.CertificateError,  # (a transport error, but no retry can fix a certificate)
)


def timed_out(exc: errors.BkJobError) -> bool:
    """Tell whether a failed poll waited its whole timeout (the server did not answer)."""
    return isinstance(exc, errors.TimeoutError)


class Kind(enum.Enum):
    """What a failed poll means for its job."""

    PERMANENT = "permanent"
    THROTTLED = "throttled"
    MALFORMED = "malformed"
    TRANSIENT = "transient"


def classify(exc: errors.BkJobError) -> Kind:
    """Return what ``exc`` means for a job's watch (see the module doc)."""
    if isinstance(exc, errors.RateLimitedError):
        return Kind.THROTTLED
    if isinstance(exc, _PERMANENT):
        return Kind.PERMANENT
    if isinstance(exc, errors.ResponseFormatError):
        return Kind.MALFORMED
    return Kind.TRANSIENT


def job_backoff(failures: int, interval: float, cap: float, rng: random.Random) -> float:
    """Return a job's delay after ``failures`` failures in a row: full jitter, capped at ``cap``."""
    top = min(cap, interval * 2.0 ** min(failures - 1, 30))
    return max(0.05, rng.uniform(top / 2.0, top))


@attrs.frozen
class Outage:
    """Whether bk-job is taken to be down, and when the next probe may go: a value.

    Each call returns the next value (and its verdict): ``failed`` for each transient failure
    (with the time of the last answer of any kind), ``succeeded`` for the first answer after
    failures, ``allows(now)`` for whether a job may be polled. While down, one probe is
    allowed at a time: ``allows`` grants it and holds every other job until the probe's
    outcome is reported, or ``hold`` seconds pass (a probe whose job was released meanwhile
    reports nothing).
    """

    #: The most a probe waits for the next (at least ``FIRST_PROBE``).
    cap: float
    #: How long a granted probe holds the others back.
    hold: float
    #: When the outage began (engine clock), or ``None`` while bk-job answers.
    down_since: float | None = None
    #: When the next probe may go.
    probe_at: float = -math.inf
    #: The last answer the current run of failures counts from, and the failures since.
    since: float = -math.inf
    failures: int = 0
    #: The next probe's delay, and whether a granted probe has not reported yet.
    delay: float = FIRST_PROBE
    probing: bool = False

    @property
    def down(self) -> bool:
        """Whether bk-job is taken to be down now."""
        return self.down_since is not None

    def allows(self, now: float) -> tuple[Outage, bool]:
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

    def succeeded(self) -> tuple[Outage, bool]:
        """Record an answer after failures; return the next value and whether it ended an outage."""
        return Outage(self.cap, self.hold), self.down_since is not None

    def failed(
        self, now: float, last_answer: float, rng: random.Random, *, waited: bool = False
    ) -> tuple[Outage, bool]:
        """Record a transient failure; return the next value and whether it began an outage.

        ``last_answer`` is when the driver last had an answer from bk-job (of any kind).
        ``waited``: the poll timed out, so it alone is ``STALL_AFTER`` failures' worth: a
        server that accepts and never answers (frozen, a hung gateway) begins an outage at its
        first timeout, not after three (which take three poll timeouts, one job alone).
        """
        failures = 1 if last_answer != self.since else self.failures + 1
        counted = attrs.evolve(self, since=last_answer, failures=failures)
        if self.down_since is not None:
            if self.probing:  # the probe failed (or a poll sent before the outage began)
                return counted._probe_later(now, rng), False
            return counted, False
        if (failures < STALL_AFTER and not waited) or now - last_answer < OUTAGE_AFTER:
            return counted, False
        return attrs.evolve(counted, down_since=now)._probe_later(now, rng), True

    def _probe_later(self, now: float, rng: random.Random) -> Outage:
        return attrs.evolve(
            self,
            probing=False,
            probe_at=now + self.delay * rng.uniform(0.5, 1.0),
            delay=min(max(self.cap, FIRST_PROBE), self.delay * 2.0),
        )
