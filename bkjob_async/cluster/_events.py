"""Rule: ``EventStream`` hands every event to one consumer of each group, at least once.

``EventStream``: one consumer's view of a watch's Redis Stream through a consumer group, as typed events.

The contract (Redis Streams consumer groups, at least once):

- Every group sees every event appended after it was created; a group created later starts
  from the oldest event the stream still holds (``MAXLEN ~`` trims the oldest).
- Within a group each event goes to one consumer and stays pending for it (read ahead, up to
  ``count``, included) until ``await stream.ack(event)``. One left unacknowledged for
  ``claim_idle`` seconds is claimed by another consumer (``XAUTOCLAIM``) and delivered again
  with ``redelivered=True``; a consumer restarting under its name first gets its own pending
  events again. So an event can arrive more than once: dedupe by ``event.event_id``. New
  events come in stream order; redelivered ones when claimed.
- With ``max_deliveries``, an event delivered more often than that is moved to the watch's
  dead letters for the group (``dead_letters()``, logged at ERROR) instead.
- If the stream or group vanished (Redis wiped), it is recreated and reading goes on.
- While Redis is unreachable or failing over (``ClusterUnavailableError``), reading and
  acknowledging retry with jittered backoff (50 ms doubling to 2 s), said in one WARNING when
  the outage starts and one when it ends; ``retry=False`` raises instead. A failover to a
  replica that lagged can lose acknowledgements and the group's position, so Redis gives
  events again: an event this stream acknowledged already (one of the last 10,000) is
  acknowledged again and not handed out, so a consumer that acknowledges each event before
  reading the next sees none twice across a failover.

It yields the engine's own events (decoded by ``_entries``); ``delivery(event)`` says where
one came from. An entry it cannot read raises ``StreamFormatError`` in its place.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

import redis.exceptions as rexc
from anyio.abc import AsyncResource

from .._params import check_count
from ..config import check_seconds
from ._entries import Delivery, decode_entry
from ._errors import ClusterError, StreamFormatError
from ._health import LAG_WARNING, StreamHealth
from ._keys import check_name, check_watch

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..polling.events import Event
    from ._connect import Plumbing

__all__ = ["LAG_WARNING", "EventStream", "read_history", "unique_events"]

log = logging.getLogger("bkjob_async.cluster")

#: Acknowledged event ids an ``EventStream`` remembers (an ack again counts 0, not an error;
#: given again, they are acknowledged again and not handed out).
_ACKED = 10_000
#: Seconds between two looks at the group's lag.
_LAG_EVERY = 30.0


class EventStream(AsyncResource):
    """``async for event in stream`` over a watch's events; ``await stream.ack(event)``.

    Made by ``Cluster.events``. While Redis is unreachable, reading and acknowledging retry
    (``retry=False``: they raise ``ClusterUnavailableError``, and iterating again retries); a
    read waits at most ``block`` seconds in Redis. ``outages`` counts the outages ridden out.
    """

    def __init__(
        self,
        cluster: Plumbing,
        watch: str,
        *,
        consumer: str,
        group: str,
        claim_idle: float,
        count: int,
        block: float,
        max_deliveries: int | None = None,
        retry: bool = True,
    ) -> None:
        self.cluster = cluster
        if not isinstance(retry, bool):
            raise TypeError(f"retry must be a bool, not {type(retry).__name__}")
        self.retry = retry
        #: Events given again after this stream acknowledged them, not handed out again.
        self.dropped_repeats = 0
        self.watch = check_watch(watch)
        self.consumer = check_name(consumer, "consumer")
        self.group = check_name(group, "group")
        self.claim_idle = check_seconds(claim_idle, "claim_idle")
        self.count = check_count(count, "count", 1)
        self.block = check_seconds(block, "block")
        if self.block >= cluster.timeout:
            raise ValueError(f"block ({block} s) must be shorter than the cluster's timeout")
        self.max_deliveries = (
            None if max_deliveries is None else check_count(max_deliveries, "max_deliveries", 1)
        )
        self.key = cluster.keys.events(watch)
        self.dead_key = cluster.keys.dead(watch)
        self._buffer: deque[Delivery | StreamFormatError] = deque()
        #: Event id -> its deliveries handed out and not acknowledged (one per entry).
        self._unacked: dict[str, list[Delivery]] = {}
        #: The ids acknowledged lately (an ack again counts 0 instead of raising).
        self._acked: OrderedDict[str, None] = OrderedDict()
        self._group_ready = False
        self._own_cursor: str | None = "0-0"
        self._claim_cursor = "0-0"
        self._next_claim = -math.inf
        self._next_lag = -math.inf
        self.health = StreamHealth(cluster, self.key, self.watch, self.group, consumer, retry)

    @property
    def outages(self) -> int:
        """Outages of Redis this stream waited through (``retry``)."""
        return self.health.outages

    @property
    def lag(self) -> int | None:
        """The group's lag when last looked at (every 30 s; ``None``: not known)."""
        return self.health.lag

    def __repr__(self) -> str:
        return f"EventStream({self.watch!r}, consumer={self.consumer!r}, group={self.group!r})"

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        """Return the next event.

        :raises StreamFormatError: the next entry cannot be read; it stays pending until
            ``skip`` (reading again goes on after it).
        """
        while True:
            while not self._buffer:
                await self.health.retrying(self._fill)
            item = self._buffer.popleft()
            if isinstance(item, StreamFormatError):
                raise item
            event_id = item.event.event_id
            if event_id in self._acked and event_id not in self._unacked:
                # Given again (an ack or the group's position lost in a failover, or the event
                # written twice): acknowledged here already, so not handed out again.
                self.dropped_repeats += 1
                await self.health.retrying(functools.partial(self._xack, item.stream_id))
                continue
            self._unacked.setdefault(event_id, []).append(item)
            return item.event

    async def _xack(self, *stream_ids: str) -> int:
        async with self.cluster.guard():
            return int(await self.cluster.redis.xack(self.key, self.group, *stream_ids))

    async def aclose(self) -> None:
        """Drop the events read and not yet handed out; the group's pending entries stay."""
        self._buffer.clear()

    def delivery(self, event: Event) -> Delivery:
        """Return where ``event``, handed out by this stream and not yet acknowledged, came
        from (its latest entry); raise ``ValueError`` if there is none."""
        found = self._unacked.get(event.event_id)
        if not found:
            raise ValueError(f"event {event.event_id!r} is not pending on {self!r}")
        return found[-1]

    async def ack(self, event: Event, *more: Event) -> int:
        """Acknowledge every entry of these events handed out by this stream (one round
        trip); return how many were pending (an event acknowledged already counts 0).

        :raises ValueError: an event this stream never handed out (of another watch, say).
        """
        event_ids, ids = [], []
        for item in (event, *more):
            event_id = getattr(item, "event_id", None)
            if not isinstance(event_id, str):
                raise TypeError(f"events must be events, not {type(item).__name__}")
            deliveries = self._unacked.get(event_id)
            if deliveries is None and event_id not in self._acked:
                raise ValueError(f"event {event_id!r} was not handed out by {self!r}")
            event_ids.append(event_id)
            ids += [d.stream_id for d in deliveries or ()]
        done = 0
        if ids:
            done = int(await self.health.retrying(functools.partial(self._xack, *ids)) or 0)
        for event_id in event_ids:  # only once Redis has them: a failed ack can be retried
            self._unacked.pop(event_id, None)
            self._acked[event_id] = None
            if len(self._acked) > _ACKED:
                self._acked.popitem(last=False)
        return done

    async def skip(self, error: StreamFormatError) -> int:
        """Acknowledge the entry ``error`` names, so that it is not read again."""
        if error.watch != self.watch:
            raise ValueError(f"entry of watch {error.watch!r} skipped on watch {self.watch!r}")
        async with self.cluster.guard():
            return int(await self.cluster.redis.xack(self.key, self.group, error.stream_id))

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
        if now >= self._next_lag:
            self._next_lag = now + _LAG_EVERY
            await self.health.look_at_lag()
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
            claimed = await self._screen([e for e in _rows(reply[1]) if e[1]])
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

    async def dead_letters(self) -> list[Delivery]:
        """Return the events this group gave up on (``max_deliveries``), oldest first.

        :raises StreamFormatError: one of them cannot be read.
        """
        async with self.cluster.guard():
            rows = await self.cluster.redis.xrange(self.dead_key)
        return [
            decode_entry(self.watch, self.key, fields["stream_id"], fields, redelivered=True)
            for _, fields in _rows(rows)
            if fields.get("group") == self.group
        ]

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
            try:
                item: Delivery | StreamFormatError = decode_entry(
                    self.watch, self.key, stream_id, fields, redelivered=redelivered
                )
            except StreamFormatError as exc:
                item = exc
            self._buffer.append(item)


async def read_history(cluster: Plumbing, watch: str) -> list[Delivery]:
    """Return every event ``watch``'s stream holds, in stream order, as written (an event
    written twice is there twice); read only, outside any consumer group.

    :raises StreamFormatError: an entry cannot be read.
    """
    key = cluster.keys.events(check_watch(watch))
    async with cluster.guard():
        entries = await cluster.redis.xrange(key)
    return [decode_entry(watch, key, stream_id, fields) for stream_id, fields in _rows(entries)]


def unique_events(events: Iterable[Event]) -> list[Event]:
    """Return ``events`` in order, each ``event_id`` once (its first): what a consumer that
    dedupes by ``event_id`` keeps of a stream read at least once."""
    seen: set[str] = set()
    kept = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            kept.append(event)
    return kept


def _rows(entries: Any) -> list[tuple[str, dict[str, str]]]:
    """Return ``(id, fields)`` of stream entries (fields empty: trimmed while pending)."""
    return [(str(stream_id), dict(fields or {})) for stream_id, fields in entries or ()]


def _entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """Return the ``_rows`` of an XREADGROUP reply."""
    return [row for _, entries in reply or () for row in _rows(entries)]
