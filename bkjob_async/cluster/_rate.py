"""``RateBudget``: one request-rate budget shared by every worker of a cluster.

What it guarantees:

- ``acquire()`` grants permits by GCRA in one Lua script on Redis ``TIME`` (one round trip per
  grant; a refusal says how long to wait, so a waiting worker costs about one more). Over any
  window of ``W`` seconds all workers together get at most ``rate x W + burst + 1`` permits.
  A budget Redis does not hold yet (new cluster, or Redis wiped) starts empty, not with a
  full burst.
- ``throttled(permit)`` (the request of ``permit`` got a 429 or quota answer) cuts the shared
  rate by ``beta`` (not below ``floor``) and pauses every worker for ``retry_after`` (1 s when
  unknown), but only if that request was sent after the last cut: a burst of 429s already in
  flight costs one cut (one cut per round trip, as TCP does). From a second after the pause
  the rate grows back by ``growth`` per quiet second up to ``limit``.
- While Redis is unreachable (or refuses writes), permits come from a local bucket at the last shared rate divided
  by ``share`` (the number of live workers, kept up to date by the caller), trying Redis
  again once a second: never fail open.

What it does not: count requests that bypass it, or bound the rate while Redis's clock jumps.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import anyio
import attrs

from .._checks import check_number, is_int
from ._errors import ClusterError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._client import Cluster

__all__ = ["Permit", "RateBudget"]

log = logging.getLogger("bkjob_async.cluster")

#: Seconds between attempts to reach Redis while permits come from the local bucket.
_RETRY = 1.0


@attrs.frozen
class Permit:
    """Leave to send ``n`` requests; ``sent_at`` is the grant time (Redis clock, microseconds),
    or ``None`` if granted by the local fallback bucket."""

    n: int
    sent_at: int | None
    rate: float


def _number(value: object, name: str, *, low: float, high: float = math.inf) -> float:
    value = check_number(value, name)
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
    return float(value)


class RateBudget:
    """The cluster-wide request budget of ``cluster``.

    :param limit: requests per second for all workers together.
    :param burst: extra permits an idle cluster may spend at once (default ``limit / 10``).
    :param beta: factor of a cut on throttling; :param floor: lowest rate a cut reaches.
    :param growth: factor per quiet second back towards ``limit``.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        limit: float,
        burst: float | None = None,
        beta: float = 0.7,
        floor: float = 1.0,
        growth: float = 1.2,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.cluster = cluster
        self.limit = _number(limit, "limit", low=1e-3)
        self.burst = _number(self.limit / 10 if burst is None else burst, "burst", low=0)
        self.beta = _number(beta, "beta", low=0.01, high=1)
        self.floor = _number(floor, "floor", low=1e-3, high=self.limit)
        self.growth = _number(growth, "growth", low=1)
        self.sleep = sleep
        #: Live workers sharing the budget; the local fallback grants ``rate / share``.
        self.share = 1
        self.rate = self.limit
        self._local_tat = -math.inf
        self._degraded = False
        self._retry_at = -math.inf

    async def acquire(self, n: int = 1) -> Permit:
        """Wait until ``n`` requests may be sent by this worker, and take them."""
        if not is_int(n) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        if n > self.burst + 1:
            raise ValueError(f"n must be <= burst + 1 ({self.burst + 1:g}), got {n}")
        while True:
            if self._degraded and time.monotonic() < self._retry_at:
                return await self._local(n)
            try:
                granted, wait_us, now_us, rate = await self.cluster.script(
                    "PERMIT", [self.cluster.keys.rate], [self.limit, self.burst, n, self.growth]
                )
            except ClusterError as exc:  # unreachable, or refusing writes (OOM, read-only)
                self._retry_at = time.monotonic() + _RETRY
                if not self._degraded:
                    self._degraded = True
                    log.warning(
                        "rate budget of cluster %r: %s; granting %.3g/s locally "
                        "(shared rate / %d workers) and retrying Redis every %g s",
                        self.cluster.name,
                        exc,
                        self.rate / max(1, self.share),
                        max(1, self.share),
                        _RETRY,
                    )
                return await self._local(n)
            if self._degraded:
                self._degraded = False
                log.warning("rate budget of cluster %r shared again", self.cluster.name)
            self.rate = float(rate)
            if int(granted):
                return Permit(n, int(now_us), self.rate)
            await self.sleep(int(wait_us) / 1e6)

    async def throttled(self, permit: Permit, retry_after: float | None = None) -> bool:
        """Report a throttle answer to ``permit``'s request; return whether the rate was cut."""
        pause = 1.0 if retry_after is None else _number(retry_after, "retry_after", low=0)
        if permit.sent_at is None:
            return self._local_cut(pause)
        try:
            cut, rate = await self.cluster.script(
                "THROTTLE",
                [self.cluster.keys.rate],
                [self.limit, self.burst, permit.sent_at, int(pause * 1e6), self.beta, self.floor],
            )
        except ClusterError:
            return self._local_cut(pause)
        self.rate = float(rate)
        return bool(int(cut))

    async def shared_rate(self) -> float:
        """Return the shared rate now in force (after cuts), one round trip."""
        async with self.cluster.guard():
            value = await self.cluster.redis.hget(self.cluster.keys.rate, "rate")
        return self.limit if value is None else min(self.limit, float(value))

    # -- the local fallback ---------------------------------------------------------------

    async def _local(self, n: int) -> Permit:
        share = max(1, self.share)
        rate = self.rate / share
        interval = 1.0 / rate
        now = time.monotonic()
        tat = max(self._local_tat, now)
        self._local_tat = tat + n * interval  # reserved before sleeping: tasks queue up
        wait = tat + (n - 1) * interval - self.burst / share * interval - now
        if wait > 0:
            await self.sleep(wait)
        return Permit(n, None, rate)

    def _local_cut(self, pause: float) -> bool:
        self.rate = max(self.floor, self.rate * self.beta)
        self._local_tat = max(self._local_tat, time.monotonic() + pause)
        return True
