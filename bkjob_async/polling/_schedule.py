"""When to poll next, as data and pure arithmetic; every function takes ``now``, none reads a clock.

- Intervals: ``interval`` while a job changes, growing by ``growth`` per unchanged poll up to
  ``max_interval``, with ``jitter``; the first poll of each job lands at a phase derived from its
  id, so thousands registered at once spread over one interval instead of polling in lockstep.
- Failures: full-jitter exponential backoff per job, paid from a process-wide ``RetryBudget``
  (a share of recent requests plus a floor); without budget a failed job waits ``max_interval``.
- Throttling: ``RateGovernor`` is a token bucket whose rate halves on each 429/quota answer
  (never below 1/s), pauses for ``Retry-After``, and grows back by a fifth per quiet second up
  to ``rate_limit`` (or to no limit, once well above the rate that was throttled).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import random

__all__ = [
    "PollPolicy",
    "RateGovernor",
    "RetryBudget",
    "error_delay",
    "first_delay",
    "next_interval",
]


def _positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _count(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{attribute.name} must be an int >= 0, got {value!r}")


@attrs.frozen
class PollPolicy:
    """How a ``Poller`` polls. Times are seconds.

    :param interval: between polls of a job while it changes.
    :param max_interval: the cap the interval grows to while a job does not change.
    :param growth: interval factor per unchanged poll (1 keeps it fixed).
    :param jitter: each delay is scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
    :param max_in_flight: requests at once; must not exceed the client's connection limit.
        It also bounds how many answers can land in one turn of the event loop, each costing
        a few hundred microseconds: keep it near polls per second x request latency (32 serves
        2,000 polls/s with a p99 loop lag of a few ms; 64 let lag spikes reach 80 ms).
    :param rate_limit: requests per second for the whole poller, or ``None``.
    :param deadline: per watch; then each unfinished job ends with ``WatchTimedOut``.
    :param poll_timeout: per request, on top of the client's own timeouts.
    :param max_retries: consecutive failed polls of a job before ``WatchFailed`` (``None``: never).
    :param retry_budget: retries allowed as a share of requests (plus 10 per second).
    :param buffer_size: events a watch holds before it coalesces per host, step and job.
    :param remember: jobs whose last known state the poller keeps after their last watch
        ends, so that watching one again (after a retry, say) reports only what changed; the
        least recently released are forgotten first.
    :param group_threshold: on the API gateway, a job with a step of more hosts than this is
        polled without host rows, plus each running step's result-group counts, plus the rows
        of only the groups that grew (``None``: always poll every host row).
    """

    interval: float = attrs.field(default=1.0, validator=_positive)
    max_interval: float = attrs.field(default=15.0, validator=_positive)
    growth: float = attrs.field(default=1.5)
    jitter: float = attrs.field(default=0.1)
    max_in_flight: int = attrs.field(default=32, validator=_positive)
    rate_limit: float | None = attrs.field(default=None, validator=_positive)
    deadline: float | None = attrs.field(default=None, validator=_positive)
    poll_timeout: float | None = attrs.field(default=30.0, validator=_positive)
    max_retries: int | None = attrs.field(default=10, validator=_count)
    retry_budget: float = attrs.field(default=0.2)
    buffer_size: int = attrs.field(default=10_000, validator=_positive)
    group_threshold: int | None = attrs.field(default=500, validator=_positive)
    remember: int = attrs.field(default=10_000, validator=_count)

    def __attrs_post_init__(self) -> None:
        if self.max_interval < self.interval:
            raise ValueError("max_interval must be >= interval")
        if not self.growth >= 1:
            raise ValueError("growth must be >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if not 0 <= self.retry_budget <= 1:
            raise ValueError("retry_budget must be in [0, 1]")
        if isinstance(self.max_in_flight, bool) or not isinstance(self.max_in_flight, int):
            raise TypeError("max_in_flight must be an int")


def first_delay(policy: PollPolicy, job_instance_id: int) -> float:
    """Return the offset of a job's first poll: a fixed phase in ``[0, interval)`` from its id.

    Fibonacci hashing spreads consecutive ids evenly and is stable across restarts.
    """
    phase = ((job_instance_id * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) / 2.0**64
    return phase * policy.interval


def next_interval(
    policy: PollPolicy, current: float, changed: bool, rng: random.Random
) -> tuple[float, float]:
    """Return ``(new base interval, jittered delay)`` after a successful poll (every poll)."""
    base = policy.interval if changed else min(policy.max_interval, current * policy.growth)
    jitter = policy.jitter
    return base, base * (1.0 + jitter * (2.0 * rng.random() - 1.0)) if jitter else base


def error_delay(policy: PollPolicy, failures: int, rng: random.Random) -> float:
    """Return a full-jitter backoff after ``failures`` consecutive failures (at least 50 ms)."""
    cap = min(policy.max_interval, policy.interval * 2.0 ** min(failures - 1, 30))
    return max(0.05, rng.uniform(0.0, cap))


class RetryBudget:
    """A process-wide allowance for quick retries, so an outage cannot become a retry storm.

    Each request earns ``ratio`` tokens and each quick retry spends one; ``floor`` tokens per
    second keep a trickle of retries going when traffic is low. Tokens cap at ``10 * floor``.
    Requests are counted by the caller and passed in, so the hot path pays nothing for this.
    """

    __slots__ = ("_last", "_requests", "_tokens", "floor", "ratio")

    def __init__(self, ratio: float, floor: float = 10.0) -> None:
        self.ratio = ratio
        self.floor = floor
        self._tokens = floor
        self._last: float | None = None
        self._requests = 0

    def withdraw(self, now: float, requests: int) -> bool:
        """Spend a token for one retry if there is one; ``requests`` made so far earn tokens."""
        earned = (requests - self._requests) * self.ratio
        if self._last is not None:
            earned += (now - self._last) * self.floor
        self._tokens = min(self._tokens + earned, 10.0 * self.floor)
        self._last, self._requests = now, requests
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


_MIN_RATE = 1.0


class RateGovernor:
    """A token bucket that slows down on throttling and speeds up again when it stops.

    ``rate`` is ``None`` while there is no limit. A throttle halves the rate (starting from the
    rate observed when it happened) and pauses everything for ``Retry-After``; each second with
    no throttle raises the rate by a fifth, back to ``limit`` (or to no limit at all).
    """

    __slots__ = (
        "_grown_at",
        "_last",
        "_tokens",
        "_unlimited_above",
        "limit",
        "paused_until",
        "rate",
    )

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.rate = limit
        self.paused_until = -math.inf
        self._tokens = 1.0
        self._last: float | None = None
        self._grown_at = -math.inf
        self._unlimited_above = math.inf

    def _refill(self, now: float) -> None:
        if self._last is not None and self.rate is not None and now > self._last:
            burst = max(1.0, self.rate / 10.0)
            self._tokens = min(burst, self._tokens + (now - self._last) * self.rate)
        self._last = max(now, self._last or now)

    def wait(self, now: float) -> float:
        """Return how long until one request may be sent (0: now)."""
        if now < self.paused_until:
            return self.paused_until - now
        if self.rate is None:
            return 0.0
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> bool:
        """Spend the allowance of one request if it may be sent now."""
        if now < self.paused_until:
            return False
        if self.rate is None:
            return True
        self._refill(now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def throttled(self, now: float, retry_after: float | None, observed_rate: float) -> None:
        """Record a 429 or quota answer: pause, then resume at half the rate (at least 1/s)."""
        self.paused_until = max(
            self.paused_until, now + (retry_after if retry_after is not None else 1.0)
        )
        base = self.rate if self.rate is not None else max(observed_rate, _MIN_RATE)
        if self.limit is None and self.rate is None:
            self._unlimited_above = 4.0 * base
        self.rate = max(_MIN_RATE, base / 2.0)
        # One request may go as soon as the pause ends; the rest follow at the new rate.
        self._tokens = 1.0
        self._last = self.paused_until
        self._grown_at = now

    def succeeded(self, now: float) -> None:
        """Record a successful request; grow the rate once per quiet second."""
        if self.rate is None or now < self.paused_until or now - self._grown_at < 1.0:
            return
        self._grown_at = now
        grown = self.rate * 1.2
        if self.limit is not None:
            self.rate = min(self.limit, grown)
        else:
            self.rate = None if grown >= self._unlimited_above else grown
