"""``RateBudget``: one request-rate budget shared by every worker of a cluster.

- ``acquire()`` grants permits by GCRA in one Lua script on Redis ``TIME``: over any ``W``
  seconds all workers together get at most ``rate x W + burst + 1``. A budget Redis does not
  hold yet (new cluster, or Redis wiped) starts empty, not with a full burst.
- A worker's acquirers queue locally, first come first served: the head asks Redis for as many
  permits as wait (up to ``burst + 1``) and hands what is granted out in order; a refusal or a
  partial grant says how long until the rest could come, and the next ask waits that long. A
  worker whose ask finds fewer than it waited for (another took them) asks for one permit at a
  time for the next second, so none starves; one that left the bucket empty waits until
  ``share`` permits could come (at once if it finds the bucket not empty), so racing workers do
  not all ask for each. An acquirer cancelled while queued takes nothing; one cancelled after
  its grant hands the permit to the next (the Redis call is shielded).
- ``throttled(permit)`` (a rate-limit answer; never a full running-job quota) cuts the shared rate by ``beta`` (not below
  ``floor``) and pauses every worker for ``retry_after`` (1 s when unknown), only if that
  request was sent after the last cut (a burst of 429s in flight costs one cut); from a second
  after the pause the rate grows back by ``growth`` per quiet second up to ``limit``.
- While Redis is unreachable or refuses writes, permits come from a local bucket at the last
  shared rate divided by ``share`` (live workers), trying Redis again each second: never fail
  open.

What it does not: count requests that bypass it, or bound the rate while Redis's clock jumps.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import deque
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
#: Seconds a worker that found fewer permits than it waited for asks for each next one.
_CONTENDED = 1.0


@attrs.frozen
class Permit:
    """Leave to send ``n`` requests; ``sent_at`` is the grant time (Redis clock, microseconds),
    or ``None`` if granted by the local fallback bucket."""

    n: int
    sent_at: int | None
    rate: float


@attrs.define(eq=False)
class _Waiter:
    """An acquirer in the queue: the permits it wants, the one it got, its wake-up."""

    n: int
    permit: Permit | None = None
    wake: anyio.Event = attrs.field(factory=anyio.Event)


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
        self._queue: deque[_Waiter] = deque()
        self._leading = False
        self._next_ask = -math.inf
        #: Permits the next ask should find (fewer: another worker took some), and until when
        #: asks wait for the next permit, not for the rest of their batch.
        self._expected = 1
        self._contended_until = -math.inf
        #: Permits granted and not taken (their acquirer was cancelled), and their grant time.
        self._spare = 0
        self._spare_at: int | None = None

    async def acquire(self, n: int = 1) -> Permit:
        """Wait until ``n`` requests may be sent by this worker, and take them."""
        if not is_int(n) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        if n > self.burst + 1:
            raise ValueError(f"n must be <= burst + 1 ({self.burst + 1:g}), got {n}")
        waiter = _Waiter(n)
        self._queue.append(waiter)
        self._hand_out(0, None)  # a permit left by a cancelled acquirer
        try:
            while waiter.permit is None and not self._local_now():
                if self._leading or self._queue[0] is not waiter:
                    waiter.wake = anyio.Event()
                    await waiter.wake.wait()
                    continue
                self._leading = True
                try:
                    await self._ask(waiter)
                finally:
                    self._leading = False
        except BaseException:
            if waiter.permit is not None:  # granted, but cancelled before it could go
                self._hand_out(waiter.permit.n, waiter.permit.sent_at)
            raise
        finally:
            if waiter.permit is None:
                self._queue.remove(waiter)
            if self._queue:
                self._queue[0].wake.set()  # the next head asks
        return await self._local(n) if waiter.permit is None else waiter.permit

    def _local_now(self) -> bool:
        return self._degraded and time.monotonic() < self._retry_at

    async def _ask(self, leader: _Waiter) -> None:
        """Ask Redis, as the head of the queue, for the permits of the acquirers waiting."""
        delay = self._next_ask - time.monotonic()
        if delay > 0:  # a refusal or a partial grant said when the rest could come
            await self.sleep(delay)
            if leader.permit is not None:  # one left by a cancelled acquirer came meanwhile
                return
        head = self._queue[0]
        least = most = head.n
        if head.n == 1:  # a batch: the run of single permits at the head
            most = 0
            for waiter in itertools.islice(self._queue, int(self.burst) + 1):
                if waiter.n != 1:
                    break
                most += 1
        try:
            with anyio.CancelScope(shield=True):  # a grant in flight is never dropped
                granted, wait_us, now_us, rate, next_us = await self.cluster.script(
                    "PERMIT",
                    [self.cluster.keys.rate],
                    [self.limit, self.burst, most, self.growth, least],
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
            for waiter in self._queue:
                waiter.wake.set()  # each takes a local permit
            return
        if self._degraded:
            self._degraded = False
            log.warning("rate budget of cluster %r shared again", self.cluster.name)
        self.rate = float(rate)
        now, granted = time.monotonic(), int(granted)
        if granted < min(self._expected, most):  # another worker took what accrued
            self._contended_until = now + _CONTENDED
        if head.n == 1 and (most == 1 or now < self._contended_until):
            self._expected, wait_us = 1, int(next_us)  # for the next one
            if wait_us:  # the bucket is empty: until as many as there are workers could come
                wait_us += (max(1, self.share) - 1) * 1e6 / self.rate
        else:  # for the rest of the batch
            self._expected = max(most - granted, 1)
        self._next_ask = now + int(wait_us) / 1e6
        self._hand_out(granted, int(now_us))

    def _hand_out(self, n: int, sent_at: int | None) -> None:
        """Add ``n`` permits granted at ``sent_at``; give what is left to the queue in order."""
        if n:
            self._spare += n
            self._spare_at = sent_at
        while self._queue and self._queue[0].n <= self._spare:
            waiter = self._queue.popleft()
            waiter.permit = Permit(waiter.n, self._spare_at, self.rate)
            self._spare -= waiter.n
            waiter.wake.set()

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
