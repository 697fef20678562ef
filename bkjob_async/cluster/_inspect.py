"""``ClusterReader``: a cluster as Redis holds it, read only, as frozen values; it writes nothing.

Nothing here joins a consumer group, acknowledges, claims or creates a key: an operator's
``bkjob-async cluster status`` and the dashboard may look as often as they like. Each call reads
in two round trips (what the cluster holds, then each partition and watch), so its values are
one moment's view, up to one round trip apart (``status`` also ``SCAN``s for the watches'
streams: a watch whose jobs all ended has left the watch set, its stream stays). Times are Redis's own (``TIME`` of the node
holding the cluster's keys), the clock heartbeats and leases expire by.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._params import check_count
from ..polling.events import Event
from ._entries import Delivery, decode_entry
from ._errors import StreamFormatError
from ._keys import check_name, check_watch

if TYPE_CHECKING:
    from ._client import Cluster

__all__ = [
    "ClusterReader",
    "ClusterStatus",
    "DeadLetter",
    "GroupStatus",
    "MemberStatus",
    "WatchStatus",
]

#: Counts the entries of a stream after an id (exclusive): a group's lag when Redis cannot say.
_COUNT_AFTER = "return #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')"
#: Redis's clock on the node holding the cluster's keys (also on a Redis Cluster).
_TIME = "return redis.call('TIME')"


@attrs.frozen
class MemberStatus:
    """One worker of the cluster, as its heartbeat and leases say.

    :param worker_id: the worker's id (``worker --worker-id``).
    :param alive: its heartbeat has not expired (a silent worker still holding leases is
        stalled or dead; its leases lapse within their TTL and others take them).
    :param heartbeat_ms: milliseconds until its heartbeat expires (negative: expired that long
        ago; ``None``: it has none, having left while its leases live on).
    :param partitions: the partitions whose lease it holds, ascending.
    :param max_partitions: its ``max_partitions`` cap, if it set one.
    """

    worker_id: str
    alive: bool
    heartbeat_ms: int | None
    partitions: tuple[int, ...]
    max_partitions: int | None = None


@attrs.frozen
class GroupStatus:
    """One consumer group of a watch's stream (``XINFO GROUPS``).

    :param watch: the watch whose stream it reads.
    :param name: the group's name.
    :param consumers: consumers Redis knows in it (gone ones too, until deleted).
    :param pending: events delivered to its consumers and not acknowledged.
    :param lag: events in the stream the group has not been given yet. Redis says it; when
        Redis cannot (after a failover, or entries deleted), it is counted from the group's
        last delivered id. A lag near ``stream_maxlen`` means the oldest are about to be
        trimmed before this group reads them.
    :param last_delivered_id: the stream id of the newest event it was given.
    :param lag_counted: ``lag`` was counted here because Redis did not say it.
    """

    watch: str
    name: str
    consumers: int
    pending: int
    lag: int
    last_delivered_id: str
    lag_counted: bool = False


@attrs.frozen
class WatchStatus:
    """One watch of the cluster.

    :param name: the watch's name.
    :param jobs: jobs in it (a job leaves once its end was written).
    :param stream_length: events its stream holds (``XLEN``).
    :param stream_maxlen: about how many its stream keeps (``Cluster.stream_maxlen`` of the
        reader: the writers' setting is theirs, Redis does not hold it).
    :param dead_letters: events some group gave up on (``max_deliveries``), all groups.
    :param groups: its consumer groups, by name.
    """

    name: str
    jobs: int
    stream_length: int
    stream_maxlen: int
    dead_letters: int
    groups: tuple[GroupStatus, ...]


@attrs.frozen
class ClusterStatus:
    """A cluster at one moment (``ClusterReader.status``).

    :param name: the cluster's name.
    :param exists: Redis holds the cluster's data (``False``: never used, or wiped; the rest
        is then empty).
    :param partitions: its partition count (as Redis holds it; 0 if it does not exist).
    :param now_ms: Redis ``TIME`` in ms when read.
    :param members: every worker with a heartbeat or a lease, by id.
    :param leases: each partition -> the worker holding its lease (``None``: nobody).
    :param unheld_jobs: jobs (of any watch) in partitions nobody holds: nobody polls them.
    :param watches: every watch, by name.
    """

    name: str
    exists: bool
    partitions: int
    now_ms: int
    members: tuple[MemberStatus, ...]
    leases: Mapping[int, str | None]
    unheld_jobs: int
    watches: tuple[WatchStatus, ...]

    @property
    def unheld(self) -> tuple[int, ...]:
        """The partitions nobody holds."""
        return tuple(p for p, holder in sorted(self.leases.items()) if holder is None)


@attrs.frozen
class DeadLetter:
    """An event a consumer group gave up on, as the watch's dead letters hold it.

    :param watch: the watch.
    :param group: the group that gave up on it.
    :param dead_id: its entry id in the dead letters (what replay and drop take).
    :param stream_id: its entry id in the watch's stream when it was given up on.
    :param deliveries: how many times the group had been given it.
    :param event_id: the event's id.
    :param event: the event, or ``None`` if it cannot be read (``error`` says why).
    :param error: why it cannot be read, or ``None``.
    """

    watch: str
    group: str
    dead_id: str
    stream_id: str
    deliveries: int
    event_id: str
    event: Event | None
    error: str | None = None


class ClusterReader:
    """Read what Redis holds of ``cluster`` (a ``Cluster``): members, leases, watches, groups,
    lag, dead letters. Read only; every failure to reach Redis is a ``ClusterUnavailableError``.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def __repr__(self) -> str:
        return f"ClusterReader({self.cluster!r})"

    async def status(self) -> ClusterStatus:
        """Return the whole cluster at one moment (two round trips)."""
        cluster, k = self.cluster, self.cluster.keys
        async with cluster.guard():
            pipe = cluster.redis.pipeline(transaction=False)
            pipe.eval(_TIME, 1, k.members)
            pipe.hget(k.config, "partitions")
            pipe.zrange(k.members, 0, -1, withscores=True)
            pipe.hgetall(k.caps)
            pipe.smembers(k.watches)
            pipe.smembers(k.named)
            (seconds, micros), partitions, members, caps, watches, named = await pipe.execute()
        now = int(seconds) * 1000 + int(micros) // 1000
        if partitions is None:
            return ClusterStatus(cluster.name, False, 0, now, (), {}, 0, ())
        parts = int(partitions)
        names = sorted({str(w) for w in (*watches, *named)} | await self._streams())
        async with cluster.guard():
            pipe = cluster.redis.pipeline(transaction=False)
            for part in range(parts):
                pipe.get(k.lease(part))
            for part in range(parts):
                pipe.scard(k.part(part))
            for name in names:
                pipe.scard(k.watch_jobs(name))
                pipe.xlen(k.events(name))
                pipe.xlen(k.dead(name))
                pipe.exists(k.events(name))
            replies = await pipe.execute()
            rest = replies[2 * parts :]
            streams = [name for i, name in enumerate(names) if rest[4 * i + 3]]
            pipe = cluster.redis.pipeline(transaction=False)
            for name in streams:
                pipe.xinfo_groups(k.events(name))
            infos = dict(zip(streams, await pipe.execute() if streams else [], strict=True))
        leases = {
            part: None if lease is None else str(lease).rsplit(":", 1)[0]
            for part, lease in enumerate(replies[:parts])
        }
        sizes = [int(n) for n in replies[parts : 2 * parts]]
        unheld_jobs = sum(n for part, n in enumerate(sizes) if leases[part] is None)
        watch_status = []
        for i, name in enumerate(names):
            jobs, length, dead, _ = rest[4 * i : 4 * i + 4]
            groups = [await self._group(name, int(length), info) for info in infos.get(name, ())]
            watch_status.append(
                WatchStatus(
                    name=name,
                    jobs=int(jobs),
                    stream_length=int(length),
                    stream_maxlen=cluster.stream_maxlen,
                    dead_letters=int(dead),
                    groups=tuple(sorted(groups, key=lambda g: g.name)),
                )
            )
        return ClusterStatus(
            name=cluster.name,
            exists=True,
            partitions=parts,
            now_ms=now,
            members=_members(now, members, caps, leases),
            leases=leases,
            unheld_jobs=unheld_jobs,
            watches=tuple(watch_status),
        )

    async def _streams(self) -> set[str]:
        """Return the watches that have a stream or dead letters (a watch whose jobs all ended
        leaves the watch set; its stream stays): one ``SCAN``, read only."""
        k, found = self.cluster.keys, set()
        async with self.cluster.guard():
            for kind in ("events:", "dead:"):
                start = k.prefix + kind
                async for key in self.cluster.redis.scan_iter(match=start + "*", count=1000):
                    found.add(str(key)[len(start) :])
        return found

    async def groups(self, watch: str) -> tuple[GroupStatus, ...]:
        """Return the consumer groups of ``watch``'s stream, by name (none if it has no
        stream)."""
        check_watch(watch)
        key = self.cluster.keys.events(watch)
        async with self.cluster.guard():
            pipe = self.cluster.redis.pipeline(transaction=False)
            pipe.xlen(key)
            pipe.exists(key)
            length, exists = await pipe.execute()
            infos = await self.cluster.redis.xinfo_groups(key) if exists else []
        found = [await self._group(watch, int(length), info) for info in infos]
        return tuple(sorted(found, key=lambda g: g.name))

    async def dead_letters(
        self, watch: str, *, group: str | None = None, count: int = 1000
    ) -> tuple[DeadLetter, ...]:
        """Return up to ``count`` of ``watch``'s dead letters (of ``group`` only, if given),
        oldest first."""
        check_watch(watch)
        if group is not None:
            check_name(group, "group")
        count = check_count(count, "count", 1)
        key = self.cluster.keys.events(watch)
        async with self.cluster.guard():
            rows = await self.cluster.redis.xrange(self.cluster.keys.dead(watch))
        found: list[DeadLetter] = []
        for dead_id, raw in rows or ():
            fields = {str(f): str(v) for f, v in (raw or {}).items()}
            if group is not None and fields.get("group") != group:
                continue
            stream_id = str(fields.get("stream_id", ""))
            event: Event | None = None
            error: str | None = None
            try:
                event = decode_entry(watch, key, stream_id, fields).event
            except StreamFormatError as exc:
                error = str(exc)
            found.append(
                DeadLetter(
                    watch=watch,
                    group=str(fields.get("group", "")),
                    dead_id=str(dead_id),
                    stream_id=stream_id,
                    deliveries=int(fields.get("n", 0)),
                    event_id=str(fields.get("id", "")),
                    event=event,
                    error=error,
                )
            )
            if len(found) >= count:
                break
        return tuple(found)

    async def recent(self, watch: str, *, count: int = 20) -> tuple[Delivery, ...]:
        """Return the newest ``count`` events of ``watch``'s stream, newest first (an entry
        this version cannot read is left out). A stream stays after its watch ended, up to
        ``stream_maxlen`` events: what the watch did is read here after a restart."""
        check_watch(watch)
        count = check_count(count, "count", 1)
        key = self.cluster.keys.events(watch)
        async with self.cluster.guard():
            rows = await self.cluster.redis.xrevrange(key, count=count)
        found = []
        for stream_id, raw in rows or ():
            fields = {str(f): str(v) for f, v in (raw or {}).items()}
            with contextlib.suppress(StreamFormatError):
                found.append(decode_entry(watch, key, str(stream_id), fields))
        return tuple(found)

    async def _group(self, watch: str, length: int, info: Mapping[str, Any]) -> GroupStatus:
        last = str(info.get("last-delivered-id", "0-0"))
        lag, counted = info.get("lag"), False
        if lag is None:  # Redis cannot tell (a failover, deleted entries): count from the id
            counted = True
            if last == "0-0":
                lag = length
            else:
                async with self.cluster.guard():
                    lag = await self.cluster.redis.eval(
                        _COUNT_AFTER, 1, self.cluster.keys.events(watch), last
                    )
        return GroupStatus(
            watch=watch,
            name=str(info["name"]),
            consumers=int(info.get("consumers", 0)),
            pending=int(info.get("pending", 0)),
            lag=int(lag),
            last_delivered_id=last,
            lag_counted=counted,
        )


def _members(
    now: int, members: Any, caps: Mapping[str, str], leases: Mapping[int, str | None]
) -> tuple[MemberStatus, ...]:
    expiries = {str(worker): int(score) for worker, score in members}
    held: dict[str, list[int]] = {}
    for part, holder in leases.items():
        if holder is not None:
            held.setdefault(holder, []).append(part)
    found = []
    for worker in sorted(set(expiries) | set(held)):
        expiry = expiries.get(worker)
        cap = caps.get(worker)
        found.append(
            MemberStatus(
                worker_id=worker,
                alive=expiry is not None and expiry >= now,
                heartbeat_ms=None if expiry is None else expiry - now,
                partitions=tuple(sorted(held.get(worker, ()))),
                max_partitions=None if cap is None or int(cap) < 0 else int(cap),
            )
        )
    return tuple(found)
