"""Rule: the cluster page reads only, at most once a ``refresh`` whoever asks.

The cluster page: a cluster's workers, partitions and leases, watches, lag and dead letters,
and the latest transitions as the watches' streams hold them (they stay after a watch ended,
so a dashboard started again shows what the cluster did).

Rule: read only, through ``bkjob_async.cluster.ClusterReader`` (which writes nothing to Redis),
at most once a ``refresh`` seconds however many viewers ask (one status read serves them all).
This module imports nothing of the cluster's at import time: the core, and a dashboard of a
poller alone, never need the ``redis`` extra. A failure to reach Redis is told by its kind
(``ClusterUnavailableError``), never with the Redis URL (it may hold a password).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import errors
from ..polling.events import ContainerTransition, HostTransition
from ._feed import host_text

if TYPE_CHECKING:
    from ..cluster import Cluster, ClusterStatus, DeadLetter
    from ..cluster._entries import Delivery

__all__ = ["ClusterPage", "status_json"]

#: Dead letters one request shows, at most.
MAX_DEAD_LETTERS = 200
#: The latest transitions the page shows (of each watch read, and in all), and the watches read.
RECENT = 20
RECENT_WATCHES = 20


def _recent_json(watch: str, delivery: Delivery) -> dict[str, Any]:
    event = delivery.event
    row: dict[str, Any] = {
        "watch": watch,
        "id": delivery.stream_id,
        "at": _stream_ms(delivery.stream_id),
        "kind": type(event).__name__,
        "job": event.job_instance_id,
        "host": None,
        "previous": None,
        "current": None,
    }
    if isinstance(event, HostTransition):
        row["host"] = host_text(event.host_key)
    elif isinstance(event, ContainerTransition):
        row["host"] = str(event.container.id)
    for name in ("previous", "current"):
        value = getattr(event, name, None)
        row[name] = getattr(value, "name", None if value is None else str(value))
    return row


def _stream_ms(stream_id: str) -> int:
    """Return when Redis added an entry (ms since the epoch), from its id."""
    return int(stream_id.split("-", 1)[0])


def status_json(status: ClusterStatus) -> dict[str, Any]:
    """Return a cluster's status as the page reads it (plain JSON values)."""
    return {
        "name": status.name,
        "exists": status.exists,
        "partitions": status.partitions,
        "members": [
            {
                "worker": m.worker_id,
                "alive": m.alive,
                "heartbeat_ms": m.heartbeat_ms,
                "partitions": list(m.partitions),
                "max_partitions": m.max_partitions,
            }
            for m in status.members
        ],
        "leases": [
            {"partition": part, "holder": holder} for part, holder in sorted(status.leases.items())
        ],
        "unheld": list(status.unheld),
        "unheld_jobs": status.unheld_jobs,
        "watches": [
            {
                "watch": w.name,
                "jobs": w.jobs,
                "stream_length": w.stream_length,
                "stream_maxlen": w.stream_maxlen,
                "dead_letters": w.dead_letters,
                "groups": [
                    {
                        "group": g.name,
                        "consumers": g.consumers,
                        "pending": g.pending,
                        "lag": g.lag,
                        "lag_counted": g.lag_counted,
                        "last_delivered_id": g.last_delivered_id,
                    }
                    for g in w.groups
                ],
            }
            for w in status.watches
        ],
    }


def _dead_json(dead: DeadLetter) -> dict[str, Any]:
    event = dead.event
    what = None
    if event is not None:
        what = {
            "kind": type(event).__name__,
            "job": event.job_instance_id,
            "host": host_text(event.host_key) if isinstance(event, HostTransition) else None,
        }
    return {
        "group": dead.group,
        "dead_id": dead.dead_id,
        "stream_id": dead.stream_id,
        "deliveries": dead.deliveries,
        "event_id": dead.event_id,
        "event": what,
        "error": dead.error,
    }


def _unavailable(exc: Exception) -> web.Response:
    return web.json_response({"error": f"Redis did not answer: {type(exc).__name__}"}, status=502)


class ClusterPage:
    """The JSON handlers of the cluster page of one ``Cluster``.

    :param refresh: seconds one read of the cluster's status serves every viewer.
    """

    def __init__(self, cluster: Cluster, *, refresh: float = 1.0) -> None:
        from ..cluster import ClusterReader

        self.cluster, self.refresh = cluster, refresh
        self.reader = ClusterReader(cluster)
        self._last: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def status(self, request: web.Request) -> web.Response:
        """``GET api/cluster``: the cluster's status, at most ``refresh`` seconds old."""
        async with self._lock:
            last = self._last
            if last is None or time.monotonic() - last[0] >= self.refresh:
                try:
                    status = await self.reader.status()
                    body = status_json(status)
                    await self._add_recent(body)
                except errors.BkJobError as exc:
                    return _unavailable(exc)
                self._last = last = (time.monotonic(), body)
        return web.json_response(last[1])

    async def _add_recent(self, body: dict[str, Any]) -> None:
        """Add each watch's last event (``last_event``, ms) and the latest transitions of all
        (``recent``, newest first), read from the streams (of the first ``RECENT_WATCHES``)."""
        rows: list[dict[str, Any]] = []
        for n, watch in enumerate(body["watches"]):
            found = []
            if n < RECENT_WATCHES and watch["stream_length"]:
                found = [
                    _recent_json(watch["watch"], d)
                    for d in await self.reader.recent(watch["watch"], count=RECENT)
                ]
            watch["last_event"] = found[0]["at"] if found else None
            rows += found
        rows.sort(key=lambda r: (r["at"], int(r["id"].split("-")[-1])), reverse=True)
        body["recent"] = rows[:RECENT]

    async def dead_letters(self, request: web.Request) -> web.Response:
        """``GET api/cluster/dead-letters?watch=W[&group=G]``: the oldest of a watch's."""
        watch = request.query.get("watch", "")
        group = request.query.get("group") or None
        try:
            found = await self.reader.dead_letters(watch, group=group, count=MAX_DEAD_LETTERS)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        except errors.BkJobError as exc:
            return _unavailable(exc)
        return web.json_response({"watch": watch, "dead_letters": [_dead_json(d) for d in found]})
