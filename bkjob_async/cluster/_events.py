"""``EventStream``: one consumer's view of a watch's Redis Stream through a consumer group.

The contract (Redis Streams consumer groups, at least once):

- Every group sees every event appended after the group was created; a group created later
  starts from the oldest event the stream still holds (``MAXLEN ~`` trims the oldest).
- Within a group each event goes to one consumer. It stays pending for that consumer until
  ``await stream.ack(event)``. One read fetches up to ``count`` events, so events read ahead
  but not yet returned are pending for this consumer too.
- An event left unacknowledged for ``claim_idle`` seconds (its consumer died, stalled or
  forgot) is claimed by another consumer of the group with ``XAUTOCLAIM`` and delivered again
  with ``redelivered=True``; a consumer that restarts under the same name first gets its own
  pending events again.
- So an event can arrive more than once (also after a worker lost its lease mid-commit and
  another published it again): dedupe by ``event.event_id``. Order is the stream's order for
  new events; redelivered events come when claimed, out of that order.
- With ``max_deliveries``, an event delivered more often than that (claimed again and again:
  a consumer that keeps failing on it) is moved to the watch's dead letters for this group
  (``dead_letters()``, logged at ERROR) instead of being delivered again.
- Not guaranteed: anything Redis itself loses (a restart without persistence, a failover
  before replication). If the stream or group vanished, it is recreated and reading goes on.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from typing import TYPE_CHECKING, Any

import attrs
import redis.exceptions as rexc
from anyio.abc import AsyncResource

from .._checks import check_int
from ..config import check_seconds
from ._errors import ClusterError
from ._keys import check_name, check_watch

if TYPE_CHECKING:
    from ._client import Cluster

__all__ = ["ClusterEvent", "EventStream"]

log = logging.getLogger("bkjob_async.cluster")


@attrs.frozen
class ClusterEvent:
    """One event read from a watch's stream.

    :param event_id: the event's identity, the same whenever it is delivered again.
    :param payload: the JSON value the worker published.
    :param stream_id: the Redis Stream entry id (what ``ack`` acknowledges).
    :param partition: the partition whose lease holder published it.
    :param token: that holder's fencing token.
    :param redelivered: read from a pending list (claimed or after a restart), not new.
    """

    watch: str
    event_id: str
    payload: Any
    stream_id: str
    partition: int
    token: int
    redelivered: bool = False


def _count(value: object, name: str) -> int:
    value = check_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


class EventStream(AsyncResource):
    """``async for event in stream`` over a watch's events; ``await stream.ack(event)``.

    Made by ``Cluster.events``. Reading raises ``ClusterUnavailableError`` while Redis is
    unreachable; iterating again retries. Each read waits at most ``block`` seconds in Redis.
    """

    def __init__(
        self,
        cluster: Cluster,
        watch: str,
        *,
        consumer: str,
        group: str,
        claim_idle: float,
        count: int,
        block: float,
        max_deliveries: int | None = None,
    ) -> None:
        self.cluster = cluster
        self.watch = check_watch(watch)
        self.consumer = check_name(consumer, "consumer")
        self.group = check_name(group, "group")
        self.claim_idle = check_seconds(claim_idle, "claim_idle")
        self.count = _count(count, "count")
        self.block = check_seconds(block, "block")
        if self.block >= cluster.timeout:
            raise ValueError(f"block ({block} s) must be shorter than the cluster's timeout")
        self.max_deliveries = (
            None if max_deliveries is None else _count(max_deliveries, "max_deliveries")
        )
        self.key = cluster.keys.events(watch)
        self.dead_key = cluster.keys.dead(watch)
        self._buffer: deque[ClusterEvent] = deque()
        self._group_ready = False
        self._own_cursor: str | None = "0-0"
        self._claim_cursor = "0-0"
        self._next_claim = -math.inf

    def __repr__(self) -> str:
        return f"EventStream({self.watch!r}, consumer={self.consumer!r}, group={self.group!r})"

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ClusterEvent:
        while not self._buffer:
            await self._fill()
        return self._buffer.popleft()

    async def aclose(self) -> None:
        """Drop the events read and not yet handed out; the group's pending entries stay."""
        self._buffer.clear()

    async def ack(self, event: ClusterEvent, *more: ClusterEvent) -> int:
        """Acknowledge events for this group (one round trip); return how many were pending.

        An event acknowledged already (or claimed and acknowledged by another consumer)
        counts 0.
        """
        ids = []
        for item in (event, *more):
            if not isinstance(item, ClusterEvent):
                raise TypeError(f"events must be ClusterEvent, not {type(item).__name__}")
            if item.watch != self.watch:
                raise ValueError(f"event of watch {item.watch!r} acked on watch {self.watch!r}")
            ids.append(item.stream_id)
        async with self.cluster.guard():
            done = await self.cluster.redis.xack(self.key, self.group, *ids)
        return int(done)

    async def pending(self) -> int:
        """Return how many events of the group are delivered and not yet acknowledged."""
        async with self.cluster.guard():
            info = await self.cluster.redis.xpending(self.key, self.group)
        return int(info["pending"])

    async def _fill(self) -> None:
        try:
            await self._read()
        except ClusterError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, rexc.ResponseError) and "NOGROUP" in str(cause)):
                raise
            # The stream or the group vanished (Redis wiped): make them again, read on.
            self._group_ready = False
            self._claim_cursor = "0-0"

    async def _read(self) -> None:
        cluster = self.cluster
        if not self._group_ready:
            await self._create_group()
        if self._own_cursor is not None:
            async with cluster.guard():
                reply = await cluster.redis.xreadgroup(
                    self.group, self.consumer, {self.key: self._own_cursor}, count=self.count
                )
            entries = _entries(reply)
            self._own_cursor = entries[-1][0] if entries else None
            self._take(await self._screen([e for e in entries if e[1]]), redelivered=True)
            return
        now = cluster.clock()
        if now >= self._next_claim:
            async with cluster.guard():
                reply = await cluster.redis.xautoclaim(
                    self.key,
                    self.group,
                    self.consumer,
                    min_idle_time=int(self.claim_idle * 1000),
                    start_id=self._claim_cursor,
                    count=self.count,
                )
            self._claim_cursor = str(reply[0])
            if self._claim_cursor == "0-0":
                self._next_claim = now + self.claim_idle / 4
            claimed = await self._screen([(str(i), f) for i, f in reply[1] if f])
            if claimed:
                self._take(claimed, redelivered=True)
                return
        wait = min(self.block, max(0.001, self._next_claim - now))
        async with cluster.guard():
            reply = await cluster.redis.xreadgroup(
                self.group,
                self.consumer,
                {self.key: ">"},
                count=self.count,
                block=max(1, int(wait * 1000)),
            )
        self._take([e for e in _entries(reply) if e[1]], redelivered=False)

    async def _screen(
        self, entries: list[tuple[str, dict[str, str]]]
    ) -> list[tuple[str, dict[str, str]]]:
        """Move entries delivered more than ``max_deliveries`` times to the dead letters."""
        if self.max_deliveries is None or not entries:
            return entries
        redis = self.cluster.redis
        async with self.cluster.guard():
            rows = await redis.xpending_range(
                self.key, self.group, entries[0][0], entries[-1][0], len(entries), self.consumer
            )
        times = {str(row["message_id"]): int(row["times_delivered"]) for row in rows}
        keep: list[tuple[str, dict[str, str]]] = []
        dead: list[tuple[str, dict[str, str]]] = []
        for stream_id, fields in entries:
            over = times.get(stream_id, 0) > self.max_deliveries
            (dead if over else keep).append((stream_id, fields))
        if dead:
            async with self.cluster.guard(), redis.pipeline(transaction=True) as pipe:
                for stream_id, fields in dead:
                    body: dict[Any, Any] = dict(fields)
                    body.update(group=self.group, stream_id=stream_id, n=times[stream_id])
                    pipe.xadd(self.dead_key, body, maxlen=self.cluster.stream_maxlen)
                    pipe.xack(self.key, self.group, stream_id)
                await pipe.execute()
            log.error(
                "watch %r, group %r: %d event(s) delivered more than %d times moved to %s",
                self.watch,
                self.group,
                len(dead),
                self.max_deliveries,
                self.dead_key,
            )
        return keep

    async def dead_letters(self) -> list[ClusterEvent]:
        """Return the events this group gave up on (``max_deliveries``), oldest first."""
        async with self.cluster.guard():
            rows = await self.cluster.redis.xrange(self.dead_key)
        found = []
        for _, raw in rows or ():
            fields = {str(k): str(v) for k, v in (raw or {}).items()}
            if fields.get("group") == self.group:
                found.append(self._event(fields["stream_id"], fields, redelivered=True))
        return found

    async def _create_group(self) -> None:
        async with self.cluster.guard():
            try:
                await self.cluster.redis.xgroup_create(self.key, self.group, id="0", mkstream=True)
            except rexc.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._group_ready = True

    def _take(self, entries: list[tuple[str, dict[str, str]]], *, redelivered: bool) -> None:
        for stream_id, fields in entries:
            self._buffer.append(self._event(stream_id, fields, redelivered=redelivered))

    def _event(self, stream_id: str, fields: dict[str, str], *, redelivered: bool) -> ClusterEvent:
        return ClusterEvent(
            watch=self.watch,
            event_id=fields["id"],
            payload=json.loads(fields["p"]),
            stream_id=stream_id,
            partition=int(fields["part"]),
            token=int(fields["tok"]),
            redelivered=redelivered,
        )


def _entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """Return ``(id, fields)`` of an XREADGROUP reply (RESP2: ``[[stream, entries]]``); an entry
    trimmed away while pending comes back with no fields."""
    return [
        (str(stream_id), dict(fields or {}))
        for _, entries in reply or ()
        for stream_id, fields in entries
    ]
