"""``Cluster``: one cluster's watch set, event streams and fenced writes in one Redis.

- ``submit``/``cancel`` change a watch's job set atomically per call of up to 10,000 jobs
  (larger calls are split); a job's partition is ``crc32("TYPE:SCOPE:JOB") % partitions``.
- ``commit``/``publish`` apply state changes and append events all or nothing, only under a
  valid lease (``_commit``); past the lease's own deadline nothing is sent.
- Every failure to reach Redis is a ``ClusterUnavailableError``, within about ``timeout``: a
  command is retried once on a new connection only if its connection broke, never after a
  timeout. Every script is safe to run twice (at worst events are appended twice).

It does not make Redis durable: a failover or a restart without persistence loses recent
writes; delivery is at least once, so consumers dedupe by ``event_id``. Every script that starts
from the cluster's keys (``HELLO``, a lease round) reads a nonce Redis keeps, or sets a fresh one:
another nonce than the one seen before means Redis lost the data (said at ERROR, ``resets``).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import defaultdict
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import redis.exceptions as rexc
from anyio.abc import AsyncResource
from redis.asyncio.sentinel import MasterNotFoundError

from .._checks import check_int
from .._params import check_count
from ..config import check_scope, check_seconds
from . import _scripts
from ._commit import Fenced, Lease, NewEvent, checked_write, commit_request, read_reply
from ._connect import AnyRedis, connect, redact
from ._errors import ClusterConfigError, ClusterError, ClusterUnavailableError, LeaseLostError
from ._keys import (
    MAX_PARTITIONS,
    MIN_PARTITIONS,
    JobRef,
    Keys,
    check_name,
    check_watch,
    job_ids,
    job_member,
    parse_job_member,
    parse_partition_member,
    partition_of,
)
from ._leases import Holders, read_holders

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping

    from ..config import Scope
    from ._events import EventStream

__all__ = ["Cluster", "Lease", "NewEvent", "redact"]

log = logging.getLogger("bkjob_async.cluster")

_BATCH = 10_000

#: Redis is down, not reachable or not serving yet (a Sentinel or cluster failover under way,
#: a cluster without a primary for the slot, a replica that cannot serve): worth a retry.
_UNAVAILABLE = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.ClusterDownError,
    rexc.TryAgainError,
    rexc.MasterDownError,
    rexc.ReadOnlyError,
    OSError,
    TimeoutError,
)


def _closed_under(exc: BaseException) -> bool:
    """Whether ``exc`` is redis-py's asyncio connection meeting its socket closed under a
    command: a concurrent disconnect (a Redis Cluster client closes every connection, busy ones
    too, when it reads the topology again in a failover) leaves its ``_writer`` None, and
    redis-py up to 8.1 lets the ``AttributeError`` out (on Python 3.12 and later, a write to a
    socket the peer closed may give a ``TypeError`` there too; redis-py issues 3546, 4287).
    Only when redis-py's innermost frame is its connection's, so that a bug of ours still
    surfaces as itself."""
    if not isinstance(exc, AttributeError | TypeError) or "'NoneType'" not in str(exc):
        return False
    module, tb = "", exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        module = name if name.startswith("redis.") else module
        tb = tb.tb_next
    return module == "redis.asyncio.connection"


def _said(exc: BaseException) -> str:
    """Return what ``exc`` says, short: a Sentinel's "no primary" names every sentinel's
    client in full (its options, passwords masked); keep what each one answered."""
    text = str(exc)
    if isinstance(exc, MasterNotFoundError):
        answers = re.findall(r" - ([\w:]+)", text)
        text = text.split(" : ", 1)[0] + (f" (sentinels: {', '.join(answers)})" if answers else "")
    return text


class Cluster(AsyncResource):
    """The shared watch set and event log of cluster ``name`` in the Redis at ``redis_url``.

    :param redis_url: where the Redis is (see ``_connect``). One Redis:
        ``redis://[user:password@]host:port/db``, ``rediss://`` (TLS) or ``unix://``.
        Sentinel: ``redis+sentinel://[user:password@]host:port[,host:port…]/ SERVICE[/db]``.
        Redis Cluster: ``redis+cluster://[user:password@]host:port[,…]`` (``rediss+…`` for
        TLS). Its passwords are never shown.
    :param name: the cluster's name; several clusters can share one Redis.
    :param partitions: 64-256, fixed for the life of the cluster's data. A process that
        disagrees with the cluster gets ``ClusterConfigError``. More partitions spread load
        finer across workers and cost a little more per lease round.
    :param stream_maxlen: about how many events each watch's stream keeps (``MAXLEN ~``);
        a consumer group further behind than this loses the oldest events.
    :param timeout: seconds to wait for a connection or an answer before
        ``ClusterUnavailableError``.
    :param clock: monotonic seconds; lease deadlines are judged on it.
    """

    def __init__(
        self,
        redis_url: str,
        name: str = "prod",
        *,
        partitions: int = 128,
        stream_maxlen: int = 100_000,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(redis_url, str):
            raise TypeError(f"redis_url must be a str, not {type(redis_url).__name__}")
        self.name = check_name(name, "cluster name")
        self.partitions = check_int(partitions, "partitions")
        if not MIN_PARTITIONS <= self.partitions <= MAX_PARTITIONS:
            raise ValueError(
                f"partitions must be in [{MIN_PARTITIONS}, {MAX_PARTITIONS}], got {partitions}"
            )
        self.stream_maxlen = check_count(stream_maxlen, "stream_maxlen", 1)
        self.timeout = check_seconds(timeout, "timeout")
        self.url = redact(redis_url)
        self.keys = Keys(name)
        self.clock = clock
        #: The nonce of the cluster's data in Redis, once seen.
        self.epoch: str | None = None
        #: How many times the cluster's data was found wiped after this process had seen it.
        self.resets = 0
        self._connection = connect(redis_url, self.timeout)
        #: ``"redis"``, ``"sentinel"`` or ``"cluster"``: what ``redis_url`` named.
        self.deployment = self._connection.kind
        self.redis: AnyRedis = self._connection.redis
        self._scripts = {
            name: self.redis.register_script(getattr(_scripts, name)) for name in _scripts.__all__
        }
        self._ready = False
        self._closed = False

    def __repr__(self) -> str:
        return f"Cluster({self.url!r}, name={self.name!r}, partitions={self.partitions})"

    async def aclose(self) -> None:
        """Close the connections; the cluster's data in Redis stays."""
        if not self._closed:
            self._closed = True
            await self._connection.aclose()

    # -- plumbing -------------------------------------------------------------------------

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Map every Redis failure to this package's errors."""
        if self._closed:
            raise ClusterError(f"{self!r} is closed")
        try:
            yield
        except _UNAVAILABLE as exc:
            raise ClusterUnavailableError(
                f"Redis at {self.url} is unavailable ({type(exc).__name__}: {_said(exc)})"
            ) from exc
        except (AttributeError, TypeError) as exc:
            if not _closed_under(exc):
                raise
            raise ClusterUnavailableError(
                f"Redis at {self.url} is unavailable (its connection was closed during a "
                f"command: {type(exc).__name__}: {exc})"
            ) from exc
        except rexc.RedisError as exc:
            raise ClusterError(f"Redis at {self.url} answered an error: {exc}") from exc
        except rexc.RedisClusterException as exc:  # redis-py's own, not Redis's
            if "cannot be connected" in str(exc):  # no node of the Redis Cluster reached
                raise ClusterUnavailableError(
                    f"Redis at {self.url} is unavailable ({type(exc).__name__}: {exc})"
                ) from exc
            raise ClusterError(f"Redis Cluster at {self.url} refused a command: {exc}") from exc

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of ``_scripts`` (EVALSHA, loading it once if Redis does not know it)."""
        async with self.guard():
            return await self._scripts[name](keys=keys, args=args)

    async def check_epoch(self) -> bool:
        """Check the cluster's epoch and partition count; return whether a reset was seen now."""
        before = self.resets
        epoch, created, partitions = await self.script(
            "HELLO", [self.keys.epoch, self.keys.config], [secrets.token_hex(8), self.partitions]
        )
        self.check_config(partitions)
        self.observe(epoch, bool(created))
        self._ready = True
        return self.resets > before

    def check_config(self, partitions: object) -> None:
        """Raise ``ClusterConfigError`` unless Redis agrees on the partition count."""
        if str(partitions) != str(self.partitions):
            raise ClusterConfigError(
                f"cluster {self.name!r} at {self.url} has {partitions} partitions, this "
                f"process was configured with {self.partitions}"
            )

    def observe(self, epoch: str, created: bool) -> None:
        """Take the epoch Redis reported; say loudly if the cluster's data was wiped."""
        if self.epoch is not None and epoch != self.epoch:
            self.resets += 1
            log.error(
                "Redis at %s lost the data of cluster %r (epoch %s -> %s%s): it restarted "
                "without persistence or was flushed. Leases, fencing counters, pending events "
                "and the watch set written before are gone; carrying on with what this "
                "process holds. Enable persistence (appendonly yes) to avoid this.",
                self.url,
                self.name,
                self.epoch,
                epoch,
                ", recreated now" if created else "",
            )
        self.epoch = epoch

    # -- the watch set --------------------------------------------------------------------

    def partition(self, scope: Scope, job_instance_id: int) -> int:
        """Return the partition of a job."""
        return partition_of(scope, job_instance_id, self.partitions)

    async def submit(self, scope: Scope, ids: Iterable[int], *, watch: str) -> int:
        """Add jobs to ``watch``; return how many were not in it yet."""
        return await self._change(scope, ids, watch, "add")

    async def cancel(self, scope: Scope, ids: Iterable[int], *, watch: str) -> int:
        """Remove jobs from ``watch``, with their stored state and pending events in whichever
        partition (a write of them still under way writes nothing); return how many were in it.
        """
        return await self._change(scope, ids, watch, "remove")

    async def _change(self, scope: Scope, ids: Iterable[int], watch: str, op: str) -> int:
        check_scope(scope)
        numbers = job_ids(ids)
        check_watch(watch)
        if not self._ready:
            await self.check_epoch()
        changed = 0
        for start in range(0, len(numbers), _BATCH):
            by_part: dict[int, list[str]] = defaultdict(list)
            for job_id in numbers[start : start + _BATCH]:
                by_part[self.partition(scope, job_id)].append(job_member(scope, job_id))
            keys = [self.keys.watches, self.keys.watch_jobs(watch), self.keys.partver]
            args: list[Any] = [watch, op]
            for part, members in sorted(by_part.items()):
                keys += [self.keys.part(part), self.keys.state(part)]
                args += [part, len(members), *members]
            changed += int(await self.script("SUBMIT", keys, args))
        return changed

    async def jobs(self, watch: str) -> set[JobRef]:
        """Return the jobs of ``watch``."""
        check_watch(watch)
        async with self.guard():
            members = await self.redis.smembers(self.keys.watch_jobs(watch))
        return {parse_job_member(str(m)) for m in members}

    async def holders(self, partitions: Iterable[int]) -> Holders:
        """Return the live workers and who holds each of ``partitions`` (read only)."""
        return await read_holders(self, partitions)

    async def partition_jobs(self, partition: int) -> dict[JobRef, frozenset[str]]:
        """Return the jobs of one partition, each with the watches it is in."""
        self._check_partition(partition)
        async with self.guard():
            members = await self.redis.smembers(self.keys.part(partition))
        found: dict[JobRef, set[str]] = defaultdict(set)
        for member in members:
            job, watch = parse_partition_member(str(member))
            found[job].add(watch)
        return {job: frozenset(w) for job, w in found.items()}

    def _check_partition(self, partition: object) -> int:
        partition = check_int(partition, "partition")
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition must be in [0, {self.partitions}), got {partition}")
        return partition

    # -- events ---------------------------------------------------------------------------

    def events(
        self,
        watch: str,
        *,
        consumer: str,
        group: str = "default",
        claim_idle: float = 30.0,
        count: int = 100,
        block: float = 1.0,
        max_deliveries: int | None = None,
        retry: bool = True,
    ) -> EventStream:
        """Return an async iterator over ``watch``'s events for ``consumer`` of ``group``
        (``EventStream``; ``retry=False``: reading raises ``ClusterUnavailableError`` while
        Redis is unavailable, instead of waiting for it)."""
        from ._events import EventStream

        return EventStream(
            self,
            watch,
            consumer=consumer,
            group=group,
            claim_idle=claim_idle,
            count=count,
            block=block,
            max_deliveries=max_deliveries,
            retry=retry,
        )

    # -- fenced writes --------------------------------------------------------------------

    async def publish(self, lease: Lease, watch: str, payload: Any, *, event_id: str) -> str:
        """Append one event to ``watch``'s stream under ``lease``; return its stream id."""
        ids = await self.commit(lease, events=[NewEvent(watch, event_id, payload)])
        return ids[0]

    async def commit(
        self,
        lease: Lease,
        *,
        state: Mapping[str, str] | None = None,
        delete: Iterable[str] = (),
        events: Iterable[NewEvent] = (),
        job: JobRef | None = None,
        watch: str | None = None,
        end: bool = False,
        version: tuple[str, str] | None = None,
    ) -> list[str]:
        """Write ``state`` fields, delete ``delete`` fields of the partition's state and append
        ``events``, atomically and fenced by ``lease`` (one round trip); return the stream ids.

        With ``job`` and ``watch`` the write is that job's: it is applied only while the job is
        in the watch, and ``end=True`` (the write of its end) takes the job out of the watch
        in the same command. With ``version=(replaced, own)`` it applies only over the stored
        version ``replaced`` (``""``: none), which becomes ``own``: sent again, it is a no-op.

        :raises LeaseLostError: nothing was written (see its ``reason``).
        :raises JobGoneError: nothing was written: the job left the watch, or its version moved.
        """
        if not isinstance(lease, Lease):
            raise TypeError(f"lease must be a Lease, not {type(lease).__name__}")
        self._check_partition(lease.partition)
        write = checked_write(lease.partition, state, delete, events, job, watch, end, version)
        if self.clock() >= lease.deadline:
            raise LeaseLostError(
                f"lease of partition {lease.partition} (token {lease.token}) passed its "
                "deadline; not writing",
                partition=lease.partition,
                token=lease.token,
                reason="expired",
            )
        return await self.fenced_commit(lease, write)

    async def fenced_commit(self, lease: Lease, write: Fenced) -> list[str]:
        """Send ``write`` under ``lease``; Redis alone judges the lease (no local deadline
        check)."""
        keys, args = commit_request(self, lease, write)
        reply = await self.script("COMMIT", keys, args)
        return read_reply(lease, reply, write.version[1] if write.version else "")

    async def same_epoch(self) -> bool:
        """Tell whether Redis still holds the data this process last saw (``epoch``): read
        after other reads, ``False`` means they may have seen a wiped Redis."""
        async with self.guard():
            epoch = await self.redis.get(self.keys.epoch)
        return epoch is not None and str(epoch) == self.epoch

    async def read_state(self, partition: int) -> dict[str, str]:
        """Return the partition's state fields (read without a lease)."""
        self._check_partition(partition)
        async with self.guard():
            data = await self.redis.hgetall(self.keys.state(partition))
        return {str(k): str(v) for k, v in data.items()}
