"""Cluster mode on Redis; imported by nothing in the core, and the only importer of ``redis``.

Many pollers on many machines share one watch set, one event log per watch, one rate budget,
and fail over to each other. Install with ``pip install 'bkjob-async[redis]'``; needs Redis
6.2+ (``XAUTOCLAIM``) and the asyncio event loop (redis-py's asyncio client).

- ``Cluster(redis_url, name="prod")``: ``submit``/``cancel`` jobs of a named watch from any
  process; ``events(watch, consumer=..., group=...)``: a consumer group's at-least-once view
  of the watch's events, typed (``EventStream``, ``Delivery``); ``commit``/``publish``: writes
  fenced by a lease (state and events, all or nothing).
- ``LeaseKeeper``: a worker's fair share of the partitions, with fencing tokens and a local
  deadline that stops it before its leases could expire in Redis.
- ``RedisStore``: the poller's ``Store`` on Redis: a job's tracker state and pending events
  in its partition's fenced ``state:P`` hash, events also appended to the watch's stream.
- ``Worker(client, cluster, policy=...)``: a process's fair share of the jobs, polled by the
  engine, written fenced, taken over by the others when it dies or stalls.
- ``RateBudget``: GCRA in Redis shared by every worker; a 429 seen by one slows all.

Delivery is at least once everywhere: dedupe by ``event_id``. Each module's docstring states
exactly what it guarantees and what it does not.
"""

try:
    import redis.asyncio  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "bkjob_async.cluster needs redis-py 5.0.1+: pip install 'bkjob-async[redis]'"
    ) from exc

from ._client import Cluster
from ._commit import Lease, NewEvent
from ._entries import Delivery
from ._errors import (
    ClusterConfigError,
    ClusterError,
    ClusterUnavailableError,
    JobGoneError,
    LeaseLostError,
    StreamFormatError,
)
from ._events import EventStream, read_history
from ._holdings import WorkerStatistics
from ._keys import JobRef, partition_of
from ._leases import Holders, LeaseKeeper, TickResult
from ._rate import Permit, RateBudget
from ._store import RedisStore
from ._worker import Worker

__all__ = [
    "Cluster",
    "ClusterConfigError",
    "ClusterError",
    "ClusterUnavailableError",
    "Delivery",
    "EventStream",
    "Holders",
    "JobGoneError",
    "JobRef",
    "Lease",
    "LeaseKeeper",
    "LeaseLostError",
    "NewEvent",
    "Permit",
    "RateBudget",
    "RedisStore",
    "StreamFormatError",
    "TickResult",
    "Worker",
    "WorkerStatistics",
    "partition_of",
    "read_history",
]
