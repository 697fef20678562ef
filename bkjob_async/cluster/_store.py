"""``RedisStore``: the poller's ``Store`` on a cluster's Redis; every state write fenced by a lease.

The watch set is the cluster's (``add_jobs``/``remove_jobs`` are ``Cluster.submit``/``cancel``);
a job's state, its version and (with ``pending``) its events until acknowledged live in the
fenced hash ``state:P`` of its partition (``_keys``); named watches, even empty, in ``named``.
Writes go through ``_writes``. Pending events load in commit order, by ``seq`` (the committing
process's wall clock in ns, strictly increasing within a process).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import anyio

from .. import _json
from ..errors import StoreError
from ..polling.stores import (
    JobKey,
    JsonValue,
    StoredEvent,
    StoredWatch,
    check_name,
    check_state,
)
from ..polling.stores._queue import QueuedStore, WriteQueue
from ._commit import Fenced, check_event_id, dumps
from ._errors import ClusterError
from ._holdings import Holdings
from ._keys import (
    parse_job_member,
    parse_partition_member,
    parse_pending_field,
    pending_field,
    state_field,
)
from ._writes import Fence, Writer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from anyio.abc import TaskGroup

    from ._client import Cluster
    from ._commit import Lease

__all__ = ["RedisStore"]

log = logging.getLogger("bkjob_async.cluster")


class RedisStore(QueuedStore):
    """The ``Store`` of a cluster worker: states and pending events in Redis, fenced by leases.

    :param cluster: the cluster whose Redis holds the data.
    :param leases: returns the lease this process holds on a partition, or ``None``
        (``LeaseKeeper.lease``).
    :param retry_interval: first delay before retrying a write that could not reach Redis,
        doubling up to ``max_retry_interval``.
    :param pending: keep committed events as pending (``e:`` fields) until ``ack``; a
        ``Worker`` passes ``False`` (its events are delivered by the watch's stream alone).
    :param on_refused: called with a job whose commit was refused (what it carried is not in
        Redis: its poller must go on from what Redis holds).
    :param on_ended: called with a job and watch whose commit with ``end=True`` was applied.
    """

    def __init__(
        self,
        cluster: Cluster,
        leases: Callable[[int], Lease | None],
        *,
        retry_interval: float = 0.05,
        max_retry_interval: float = 2.0,
        pending: bool = True,
        on_refused: Callable[[JobKey], None] | None = None,
        on_ended: Callable[[JobKey, str], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self._keep_pending = pending
        #: The jobs held here, in which watches; pending events (a worker's partitions too).
        self.held = Holdings()
        self.fence = Fence(cluster, leases, on_refused, on_ended, self.held)
        self._queue = WriteQueue(
            f"RedisStore of {cluster!r}",
            log,
            retry_interval=retry_interval,
            max_retry_interval=max_retry_interval,
        )
        self.writer = Writer(self._queue, self.fence)
        self._hurry = self.writer.hurry
        self._tasks: TaskGroup | None = None
        self._seq = 0

    def __repr__(self) -> str:
        return f"RedisStore({self.cluster!r})"

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Check that Redis is reachable and agrees on the cluster; start the writer."""
        if self._tasks is not None:
            raise StoreError(f"the RedisStore of {self.cluster!r} was already opened")
        try:
            await self.cluster.check_epoch()
        except ClusterError as exc:
            raise StoreError(f"cannot open the Redis store of {self.cluster!r}: {exc}") from exc
        tasks = self._tasks = anyio.create_task_group()
        await tasks.__aenter__()
        tasks.start_soon(self.writer.run)
        self._queue.accepting = True

    async def aclose(self) -> None:
        """Write what is queued (giving up after ``cluster.timeout`` if Redis is away)."""
        tasks = self._tasks
        if tasks is None or not self._queue.accepting:
            return
        self._queue.accepting = False
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self.cluster.timeout * 2):
                await self.writer.drain()
            if len(self.writer):
                log.error(
                    "%s closed with %d writes not applied (%s)",
                    self._queue.what,
                    len(self.writer),
                    self._queue.error or "Redis too slow",
                )
        tasks.cancel_scope.cancel()
        await tasks.__aexit__(None, None, None)
        self._queue.attempted()

    def _put(self, write: Callable[[], Awaitable[None]] | list[Fenced]) -> int:
        if not self._queue.accepting:
            raise StoreError(f"the RedisStore of {self.cluster!r} is closed or not open")
        return self.writer.put(write)

    # -- reads ----------------------------------------------------------------------------

    async def watch_names(self) -> list[str]:
        await self.flush()
        async with self.cluster.guard():
            names = await self.cluster.redis.smembers(self.cluster.keys.named)
        return sorted(str(n) for n in names)

    async def load(self, name: str) -> StoredWatch | None:
        """Return watch ``name``'s jobs (this process's add order first, then sorted), their
        states and pending events (in commit order), or ``None``."""
        check_name(name)
        await self.flush()
        cluster = self.cluster
        try:
            async with cluster.guard():
                if not await cluster.redis.sismember(cluster.keys.named, name):
                    return None
                members = await cluster.redis.smembers(cluster.keys.watch_jobs(name))
                jobs = {parse_job_member(str(m)) for m in members}
                parts = sorted({cluster.partition(*job) for job in jobs})
                async with cluster.redis.pipeline(transaction=False) as pipe:
                    for part in parts:
                        pipe.hgetall(cluster.keys.state(part))
                    hashes = await pipe.execute()
        except ClusterError as exc:
            raise StoreError(f"cannot load watch {name!r} from {cluster!r}: {exc}") from exc
        states: dict[JobKey, JsonValue] = dict.fromkeys(jobs)
        found: list[tuple[int, StoredEvent]] = []
        every: dict[str, str] = {}
        for fields in hashes:
            every.update(fields)
            for field, value in fields.items():
                if field.startswith("s:"):
                    job, watch = parse_partition_member(field[2:])
                    if watch == name and job in states:
                        states[job] = _json.loads(value)
                elif field.startswith("e:"):
                    job, watch, event_id = parse_pending_field(field)
                    if watch == name and job in states:
                        seq, payload = _json.loads(value)
                        found.append((seq, StoredEvent(event_id, job, payload)))
        found.sort(key=lambda item: item[0])
        order = self.held.loaded(name, jobs, {e.event_id: e.job for _, e in found}, every)
        return StoredWatch(name, {job: states[job] for job in order}, tuple(e for _, e in found))

    # -- writes ---------------------------------------------------------------------------

    def add_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        """Queue: create watch ``name`` if new and submit ``jobs`` to it in the cluster."""
        check_name(name)
        jobs = list(jobs)
        ticket = self._put(lambda: self._add(name, jobs))
        self.held.join(name, jobs)
        return ticket

    async def _add(self, name: str, jobs: list[JobKey]) -> None:
        async with self.cluster.guard():
            await self.cluster.redis.sadd(self.cluster.keys.named, name)
        for scope, ids in _by_scope(jobs).items():
            await self.cluster.submit(scope, ids, watch=name)

    def remove_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        """Queue: cancel ``jobs`` of watch ``name`` (``Cluster.cancel``)."""
        check_name(name)
        jobs = list(jobs)
        ticket = self._put(lambda: self._remove(name, jobs))
        self.held.forget(name, jobs)
        return ticket

    async def _remove(self, name: str, jobs: list[JobKey]) -> None:
        for scope, ids in _by_scope(jobs).items():
            await self.cluster.cancel(scope, ids, watch=name)

    def drop(self, name: str) -> int:
        """Queue: delete watch ``name`` (cancel its jobs, with their states and events)."""
        check_name(name)
        ticket = self._put(lambda: self._drop(name))
        self.held.drop(name)
        return ticket

    async def _drop(self, name: str) -> None:
        jobs = list(await self.cluster.jobs(name))
        if jobs:
            await self._remove(name, jobs)
        async with self.cluster.guard():
            await self.cluster.redis.srem(self.cluster.keys.named, name)

    def commit(
        self,
        name: str,
        job: JobKey,
        state: JsonValue,
        events: Sequence[tuple[str, JsonValue]] = (),
        *,
        end: bool = False,
    ) -> int:
        """Queue one observation (``Store.commit``): the job's state, its new pending events and
        the same events appended to the watch's stream, in one fenced write. ``end`` (without
        ``pending`` only): the job's last; the write takes the job out of the watch and deletes
        its state instead."""
        if end and self._keep_pending:
            raise ValueError("end=True is for a store without pending events (a Worker's)")
        check_state(state)
        body = dumps(state)
        pending = self.held.pending.setdefault(name, {})
        new: dict[str, str] = {}
        for event_id, payload in events:
            check_event_id(event_id)
            if event_id not in pending and event_id not in new:
                new[event_id] = dumps(payload)
        if not self._queue.accepting:
            self._put([])  # raises StoreError
        member = self.held.of(name, job)
        if member is None:
            return self._queue.ticket  # not in the watch: nothing to write
        fields = {} if end else {state_field(job, name): body}
        if self._keep_pending:
            for event_id, text in new.items():
                self._seq = max(self._seq + 1, time.time_ns())
                fields[pending_field(job, name, event_id)] = f"[{self._seq},{text}]"
                pending[event_id] = job
        write = Fenced(
            part=self.cluster.partition(*job),
            state=fields,
            delete=(state_field(job, name),) if end else (),
            events=tuple((name, event_id, text) for event_id, text in new.items()),
            job=job,
            watch=name,
            end=end,
            member=member,
            version=self.held.version(member),
        )
        return self._put([write])

    def ack(self, name: str, event_ids: Iterable[str]) -> int:
        """Queue: delete these pending events of watch ``name`` (ids this store knows)."""
        pending = self.held.pending.get(name, {})
        by_part: dict[int, list[str]] = defaultdict(list)
        for event_id in event_ids:
            job = pending.pop(event_id, None)
            if job is not None:
                by_part[self.cluster.partition(*job)].append(pending_field(job, name, event_id))
        return self._put(
            [Fenced(part=part, delete=tuple(fields)) for part, fields in by_part.items()]
        )


def _by_scope(jobs: Iterable[JobKey]) -> dict[Any, list[int]]:
    grouped: dict[Any, list[int]] = defaultdict(list)
    for scope, job_id in jobs:
        grouped[scope].append(job_id)
    return grouped
