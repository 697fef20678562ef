"""Rule: a stream's health is read, never written; an outage is told when it starts and ends.

An event stream's health: Redis outages ridden out, and its group's lag watched.

Rule: only an ``EventStream`` uses it, for one group's reading of one watch's stream. It reads
(``XINFO GROUPS``) and waits; it never writes to Redis. Each outage is told once when it starts
and once when it ends, and a lag near ``stream_maxlen`` once when it comes and once when it goes,
never a line a try.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

import anyio
import redis.exceptions as rexc

from ._errors import ClusterError, ClusterUnavailableError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._connect import Plumbing

__all__ = ["LAG_WARNING", "StreamHealth"]

log = logging.getLogger("bkjob_async.cluster")

#: A group whose lag passes this share of ``stream_maxlen`` is about to lose events: warned.
LAG_WARNING = 0.8
#: Seconds of the first and the longest wait between two tries while Redis is unavailable.
_RETRY_FIRST, _RETRY_MOST = 0.05, 2.0


class StreamHealth:
    """The outages and the lag of one group's reading of one watch's stream."""

    def __init__(
        self, cluster: Plumbing, key: str, watch: str, group: str, consumer: str, retry: bool
    ) -> None:
        self.cluster, self.key, self.retry = cluster, key, retry
        self.watch, self.group, self.consumer = watch, group, consumer
        #: Outages of Redis the stream waited through (``retry``).
        self.outages = 0
        #: The group's lag when last looked at (``None``: not known).
        self.lag: int | None = None
        self._lag_warned = False

    async def retrying(self, call: Callable[[], Awaitable[int | None]]) -> int | None:
        """Run ``call`` until Redis answers (only once unless ``retry``), with backoff; one
        WARNING when an outage starts, one when it ends."""
        failures = 0
        started = 0.0
        while True:
            try:
                result = await call()
            except ClusterUnavailableError as exc:
                if not self.retry:
                    raise
                failures += 1
                if failures == 1:
                    self.outages += 1
                    started = self.cluster.clock()
                    log.warning(
                        "watch %r, group %r, consumer %r: %s; retrying",
                        self.watch,
                        self.group,
                        self.consumer,
                        exc,
                    )
                delay = min(_RETRY_MOST, _RETRY_FIRST * 2 ** min(failures - 1, 10))
                await anyio.sleep(delay * random.uniform(0.5, 1.0))
                continue
            if failures:
                log.warning(
                    "watch %r, group %r, consumer %r: reading again after %.1f s",
                    self.watch,
                    self.group,
                    self.consumer,
                    self.cluster.clock() - started,
                )
            return result

    async def look_at_lag(self) -> None:
        """Read the group's lag; warn once when it passes ``LAG_WARNING`` of ``stream_maxlen``
        (the oldest events would be trimmed before the group is given them), once when back."""
        try:
            async with self.cluster.guard():
                groups = await self.cluster.redis.xinfo_groups(self.key)
        except ClusterError as exc:
            if not isinstance(exc.__cause__, rexc.ResponseError):
                raise
            groups = []  # the stream vanished (Redis wiped): made again by the next read
        found = [g.get("lag") for g in groups if str(g.get("name")) == self.group]
        self.lag = None if not found or found[0] is None else int(found[0])
        if self.lag is None:
            return
        limit = self.cluster.stream_maxlen
        near = self.lag >= LAG_WARNING * limit
        if near and not self._lag_warned:
            log.warning(
                "watch %r, group %r: %d events behind, near the %d its stream keeps "
                "(stream_maxlen): the oldest will be trimmed before the group reads them; "
                "add consumers or raise stream_maxlen",
                self.watch,
                self.group,
                self.lag,
                limit,
            )
        elif not near and self._lag_warned:
            log.warning(
                "watch %r, group %r: %d events behind, under %d%% of stream_maxlen again",
                self.watch,
                self.group,
                self.lag,
                int(LAG_WARNING * 100),
            )
        self._lag_warned = near
