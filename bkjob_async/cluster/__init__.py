"""Cluster mode on Redis; imported by nothing in the core, and the only importer of ``redis``.

Many pollers on many machines share one watch set, one event log per watch, one rate budget,
and fail over to each other: ``Cluster`` (the watch set, ``events``, fenced writes),
``LeaseKeeper`` (a worker's fair share of the partitions), ``RedisStore`` (the poller's
``Store`` on Redis), ``Worker`` (a process's share of the jobs, polled by the engine) and
``RateBudget`` (a rate shared by every worker); ``ClusterReader`` reads it all, read only. Install with ``pip install
'bkjob-async[redis]'``; needs Redis 6.2+ and the asyncio event loop. Delivery is at least
once everywhere: dedupe by ``event_id``. Each module's docstring states what it guarantees.
"""

try:
    import redis.asyncio  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "bkjob_async.cluster needs redis-py 5.0.1+: pip install 'bkjob-async[redis]'"
    ) from exc

from ._admin import delete_group, drop_dead_letters, replay_dead_letters
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
from ._inspect import (
    ClusterReader,
    ClusterStatus,
    DeadLetter,
    GroupStatus,
    MemberStatus,
    WatchStatus,
)
from ._keys import JobRef, partition_of
from ._leases import Holders, LeaseKeeper, TickResult
from ._rate import Permit, RateBudget
from ._store import RedisStore
from ._worker import Worker, WorkerStatistics

__all__ = [
    "Cluster",
    "ClusterConfigError",
    "ClusterError",
    "ClusterReader",
    "ClusterStatus",
    "ClusterUnavailableError",
    "DeadLetter",
    "Delivery",
    "EventStream",
    "GroupStatus",
    "Holders",
    "JobGoneError",
    "JobRef",
    "Lease",
    "LeaseKeeper",
    "LeaseLostError",
    "MemberStatus",
    "NewEvent",
    "Permit",
    "RateBudget",
    "RedisStore",
    "StreamFormatError",
    "TickResult",
    "WatchStatus",
    "Worker",
    "WorkerStatistics",
    "delete_group",
    "drop_dead_letters",
    "partition_of",
    "read_history",
    "replay_dead_letters",
]
