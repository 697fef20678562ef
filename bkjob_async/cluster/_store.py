"""``RedisStore``: the poller's ``Store`` on a cluster's Redis; every state write fenced by a lease.

The watch set is the cluster's (``add_jobs``/``remove_jobs`` are ``Cluster.submit``/``cancel``,
so a worker holding the partition starts or stops polling the job); what a store adds lives in
the fenced hash ``state:P`` of each job's partition ``P``, in two kinds of fields:

=========================================  ================================================
field                                      value
=========================================  ================================================
``s:TYPE:SCOPE:JOB:W``                     the tracker state of job ``JOB`` in watch ``W``
                                           (JSON), written on every changed poll
``e:["W","EVENT_ID"]``                     a pending event: ``[seq, "TYPE:SCOPE:JOB",
                                           payload]`` (JSON) until acknowledged
=========================================  ================================================

``commit`` writes the job's state, its new pending events, and appends the same events to the
watch's stream (``events:W``, read by ``Cluster.events``), all in one fenced
``Cluster.commit``: one Redis command per changed poll, nothing for an unchanged one. A store
that does not hold the lease of the job's partition (``leases(p)`` is ``None``, expired, or
taken over in Redis) writes nothing: the call is counted in ``refused``, logged once per
partition, and settles at once; the lease's new holder continues from the last state written
under a valid lease. The store's named watches (even empty ones) are the set ``named``.

Order and identity: pending events load in commit order across the whole watch, ordered by
``seq`` (nanoseconds of the committing process's wall clock, strictly increasing within a
process; across processes as good as their clocks agree). The duplicate check of ``commit``
(an ``event_id`` already pending keeps its first place) and ``ack`` know the pending ids this
store committed or loaded; other ids are ignored, as the ``Store`` contract allows.

Faults: a write that cannot reach Redis stays queued, in order; the store turns unhealthy
(one ERROR record, ``statistics().healthy`` false), retries with backoff, and says when writes
succeed again. While unhealthy every call is settled at once (the poller runs on from memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..polling.stores import (
    JobKey,
    JsonValue,
    Store,
    StoredEvent,
    StoredWatch,
    StoreStatistics,
    check_event_id,
    check_name,
)
from ._client import NewEvent
from ._errors import ClusterError, ClusterUnavailableError, JobGoneError, LeaseLostError
from ._keys import job_member, parse_job_member, parse_partition_member, partition_member

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from ._client import Cluster, Lease

__all__ = ["RedisStore"]

log = logging.getLogger("bkjob_async.cluster")

_MAX_EVENT_ID = 512


def state_field(job: JobKey, watch: str) -> str:
    """Return the ``state:P`` field of a job's tracker state in ``watch``."""
    return "s:" + partition_member(job[0], job[1], watch)


def event_field(watch: str, event_id: str) -> str:
    """Return the ``state:P`` field of a pending event."""
    return "e:" + json.dumps([watch, event_id], separators=(",", ":"))


def _dumps(value: JsonValue) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"not a JSON value: {exc}") from None
    except TypeError as exc:
        raise TypeError(f"not a JSON value: {exc}") from None


class _JobWrite:
    """What makes a commit a job's own: its watch, and whether it is the job's end."""

    __slots__ = ("end", "watch")

    def __init__(self, watch: str, end: bool) -> None:
        self.watch = watch
        self.end = end


class _Pending:
    __slots__ = ("job", "partition")

    def __init__(self, job: JobKey, partition: int) -> None:
        self.job = job
        self.partition = partition


class RedisStore(Store):
    """The ``Store`` of a cluster worker: states and pending events in Redis, fenced by leases.

    :param cluster: the cluster whose Redis holds the data.
    :param leases: returns the lease this process holds on a partition, or ``None``
        (``LeaseKeeper.lease``).
    :param retry_interval: first delay before retrying a write that could not reach Redis,
        doubling up to ``max_retry_interval``.
    :param pending: keep committed events as pending (``e:`` fields) until ``ack``. A
        ``Worker`` passes ``False``: its events are delivered by the watch's stream alone
        (consumer groups ack them there), so a commit writes the state and the stream only.
    :param on_refused: called with a job's key when a commit of it is refused (the lease is
        gone, or, without ``pending``, the job left the watch): what the commit carried is not
        in Redis, so its poller must continue from what Redis holds, never from its own newer
        state (``Worker`` re-follows the job, or lets it go if it left).
    :param on_ended: called with a job's key when a commit with ``end=True`` was applied:
        the job has left that watch in Redis.

    Without ``pending`` (a ``Worker``'s store) a commit is the job's own (``Cluster.commit``
    with ``job``): applied only while the job is in the watch, and the commit of its end takes
    it out of the watch and deletes its state, so an ended job leaves nothing behind.
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
        on_ended: Callable[[JobKey], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self._on_refused = on_refused
        self._on_ended = on_ended
        self._keep_pending = pending
        self._leases = leases
        self._retry = retry_interval
        self._max_retry = max_retry_interval
        self._ticket = 0
        self._done = 0
        self._queue: asyncio.Queue[tuple[int, Callable[[], Awaitable[None]]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._open = False
        self._healthy = True
        self._error: str | None = None
        self._transactions = 0
        self._failed = 0
        self._seq = 0
        #: Watch -> its jobs as this process knows them (loaded or added), in add order.
        self._members: dict[str, dict[JobKey, None]] = {}
        #: Watch -> pending event id -> its job and partition (committed or loaded here).
        self._pending: dict[str, dict[str, _Pending]] = {}
        #: Writes not applied because this process did not hold the partition's lease.
        self.refused = 0
        #: A job's writes not applied because it had left the watch (without ``pending``).
        self.gone = 0
        self._refused_parts: set[int] = set()

    def __repr__(self) -> str:
        return f"RedisStore({self.cluster!r})"

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Check that Redis is reachable and agrees on the cluster; start the writer."""
        try:
            await self.cluster.check_epoch()
        except ClusterError as exc:
            raise StoreError(f"cannot open the Redis store of {self.cluster!r}: {exc}") from exc
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._write_loop())
        self._open = True

    async def aclose(self) -> None:
        """Write what is queued (giving up after ``cluster.timeout`` if Redis is away)."""
        if not self._open:
            return
        self._open = False
        try:
            await asyncio.wait_for(self._drain(), self.cluster.timeout * 2)
        except TimeoutError:
            log.error(
                "RedisStore of %r closed with %d writes not applied (Redis unreachable)",
                self.cluster,
                self._ticket - self._done,
            )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._wake(everything=True)

    async def _drain(self) -> None:
        while self._done < self._ticket and self._task is not None and not self._task.done():
            await self._wait(self._ticket)

    # -- the write queue ------------------------------------------------------------------

    def _enqueue(self, write: Callable[[], Awaitable[None]]) -> int:
        if not self._open or self._queue is None:
            raise StoreError(f"the RedisStore of {self.cluster!r} is closed or not open")
        self._ticket += 1
        self._queue.put_nowait((self._ticket, write))
        return self._ticket

    async def _write_loop(self) -> None:
        assert self._queue is not None
        while True:
            ticket, write = await self._queue.get()
            delay = self._retry
            while True:
                try:
                    await write()
                except ClusterUnavailableError as exc:
                    self._unhealthy(exc)
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(self._max_retry, delay * 2)
                    continue
                except ClusterError as exc:  # Redis answered an error: not retried
                    log.error("RedisStore: a write was refused by Redis and dropped: %s", exc)
                break
            self._transactions += 1
            if not self._healthy:
                self._healthy, self._error = True, None
                log.warning("RedisStore: writes to %s succeed again", self.cluster.url)
            self._done = ticket
            self._wake()

    def _unhealthy(self, exc: Exception) -> None:
        self._failed += 1
        if self._healthy:
            self._healthy, self._error = False, str(exc)
            log.error("RedisStore: cannot write (%s); keeping writes queued, retrying", exc)
            self._wake(everything=True)

    def _wake(self, *, everything: bool = False) -> None:
        keep = []
        for ticket, future in self._waiters:
            if everything or ticket <= self._done:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((ticket, future))
        self._waiters = keep

    async def _wait(self, ticket: int) -> None:
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((ticket, future))
        await future

    def settled(self, ticket: int) -> bool:
        """Return whether the call is applied in Redis (or refused), or durability is off."""
        return ticket <= self._done or not self._healthy or not self._open

    async def wait_settled(self, ticket: int) -> None:
        """Wait until ``settled(ticket)``."""
        while not self.settled(ticket):
            await self._wait(ticket)

    async def flush(self) -> None:
        """Return once every call so far is applied, or once Redis was found unreachable."""
        await self.wait_settled(self._ticket)

    def statistics(self) -> StoreStatistics:
        """Return a snapshot; a transaction is one Redis write (a command or a script)."""
        return StoreStatistics(
            healthy=self._healthy,
            error=self._error,
            writes=self._ticket,
            pending_writes=self._ticket - self._done,
            transactions=self._transactions,
            failed_transactions=self._failed,
        )

    # -- reads ----------------------------------------------------------------------------

    async def watch_names(self) -> list[str]:
        """Return the names of the store's watches, sorted."""
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
                jobs = [parse_job_member(str(m)) for m in members]
                parts = sorted({cluster.partition(*job) for job in jobs})
                async with cluster.redis.pipeline(transaction=False) as pipe:
                    for part in parts:
                        pipe.hgetall(cluster.keys.state(part))
                    hashes = await pipe.execute()
        except ClusterError as exc:
            raise StoreError(f"cannot load watch {name!r} from {cluster!r}: {exc}") from exc
        known = self._members.get(name, {})
        order = [job for job in known if job in set(jobs)]
        order += sorted(set(jobs) - set(order), key=lambda j: job_member(*j))
        states: dict[JobKey, JsonValue] = dict.fromkeys(order)
        found: list[tuple[int, StoredEvent, int]] = []
        for part, fields in zip(parts, hashes, strict=True):
            for field, value in fields.items():
                if field.startswith("s:"):
                    job, watch = parse_partition_member(field[2:])
                    if watch == name and job in states:
                        states[job] = json.loads(value)
                elif field.startswith("e:"):
                    watch, event_id = json.loads(field[2:])
                    seq, member, payload = json.loads(value)
                    job = parse_job_member(member)
                    if watch == name and job in states:
                        found.append((seq, StoredEvent(event_id, job, payload), part))
        found.sort(key=lambda item: item[0])
        self._members[name] = dict.fromkeys(order)
        self._pending[name] = {e.event_id: _Pending(e.job, part) for _, e, part in found}
        return StoredWatch(name, states, tuple(e for _, e, _ in found))

    # -- writes ---------------------------------------------------------------------------

    def add_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        """Queue: create watch ``name`` if new and submit ``jobs`` to it in the cluster."""
        check_name(name)
        jobs = list(jobs)
        ticket = self._enqueue(lambda: self._add(name, jobs))
        self._members.setdefault(name, {}).update(dict.fromkeys(jobs))
        return ticket

    async def _add(self, name: str, jobs: list[JobKey]) -> None:
        async with self.cluster.guard():
            await self.cluster.redis.sadd(self.cluster.keys.named, name)
        for scope, ids in _by_scope(jobs).items():
            await self.cluster.submit(scope, ids, watch=name)

    def hold(self, name: str, jobs: Iterable[JobKey]) -> None:
        """Count ``jobs`` as members of watch ``name`` here, without changing the cluster's
        watch set (a worker that took over their partition)."""
        self._members.setdefault(check_name(name), {}).update(dict.fromkeys(jobs))

    def let_go(self, name: str, jobs: Iterable[JobKey]) -> None:
        """Stop counting ``jobs`` as members of watch ``name`` here (their partition was lost,
        or they were cancelled); commits for them are ignored from now on."""
        self._forget(check_name(name), set(jobs))

    def remove_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        """Queue: cancel ``jobs`` of watch ``name`` (which deletes their states wherever they
        are) and delete their pending events (in the partitions whose lease this process
        holds)."""
        check_name(name)
        jobs = list(jobs)
        ticket = self._enqueue(lambda: self._remove(name, jobs))
        self._forget(name, set(jobs))
        return ticket

    def _forget(self, name: str, jobs: set[JobKey] | None) -> None:
        known = self._members.get(name, {})
        pending = self._pending.get(name, {})
        if jobs is None:
            known.clear()
            pending.clear()
            return
        for job in jobs:
            known.pop(job, None)
        for event_id in [i for i, p in pending.items() if p.job in jobs]:
            del pending[event_id]

    async def _remove(self, name: str, jobs: list[JobKey]) -> None:
        for scope, ids in _by_scope(jobs).items():
            await self.cluster.cancel(scope, ids, watch=name)
        await self.purge(name, jobs)

    async def purge(self, name: str, jobs: Iterable[JobKey]) -> None:
        """Delete the states and pending events of ``jobs`` in watch ``name`` from the
        partitions held (one read and one fenced write per partition)."""
        by_part: dict[int, set[str]] = defaultdict(set)
        for scope, job_id in jobs:
            by_part[self.cluster.partition(scope, job_id)].add(job_member(scope, job_id))
        for part, members in by_part.items():
            lease = self._leases(part)
            if lease is None:
                continue
            fields = await self.cluster.read_state(part)
            doomed = [f for f in fields if _belongs(f, fields[f], name, members)]
            if doomed:
                await self._fenced(lease, delete=doomed)

    def drop(self, name: str) -> int:
        """Queue: delete watch ``name`` (cancel its jobs, delete their states and events)."""
        check_name(name)
        ticket = self._enqueue(lambda: self._drop(name))
        self._forget(name, None)
        self._members.pop(name, None)
        self._pending.pop(name, None)
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
        """Queue one observation: the job's state, its new pending events, and the same events
        appended to the watch's stream, in one fenced write. Ignored for a job this process
        does not know in the watch; an ``event_id`` already pending is not written again.

        ``end`` (without ``pending`` only): the observation is the job's last; the write takes
        the job out of the watch and deletes its state instead of writing it."""
        if end and self._keep_pending:
            raise ValueError("end=True is for a store without pending events (a Worker's)")
        if state is None:
            raise ValueError("a committed state cannot be None (None means 'no state yet')")
        body = _dumps(state)
        new: list[tuple[str, JsonValue, str]] = []
        pending = self._pending.get(name)
        fresh: set[str] = set()
        for event_id, payload in events:
            check_event_id(event_id)
            if len(event_id) > _MAX_EVENT_ID:
                raise ValueError(f"an event_id must be at most {_MAX_EVENT_ID} characters")
            if (pending is not None and event_id in pending) or event_id in fresh:
                continue
            fresh.add(event_id)
            new.append((event_id, payload, _dumps(payload)))
        members = self._members.get(name)
        if members is None or job not in members:
            return self._enqueue(_nothing)
        part = self.cluster.partition(*job)
        fields = {state_field(job, name): body}
        member = job_member(*job)
        records = [NewEvent(name, event_id, payload) for event_id, payload, _ in new]
        if not self._keep_pending:
            own = _JobWrite(name, end)
            if end:
                fields = {}
            return self._enqueue(lambda: self._commit(job, part, fields, records, own))
        for event_id, _, text in new:
            fields[event_field(name, event_id)] = (
                f"[{self._next_seq()},{json.dumps(member)},{text}]"
            )
        if pending is None:
            pending = self._pending[name] = {}
        for event_id, _, _ in new:
            pending[event_id] = _Pending(job, part)
        return self._enqueue(lambda: self._commit(job, part, fields, records))

    def _next_seq(self) -> int:
        self._seq = max(self._seq + 1, time.time_ns())
        return self._seq

    async def _commit(
        self,
        job: JobKey,
        part: int,
        fields: dict[str, str],
        events: list[NewEvent],
        own: _JobWrite | None = None,
    ) -> None:
        lease = self._leases(part)
        if lease is None:
            self._refuse(part, "no lease held")
        elif own is None:
            if await self._fenced(lease, state=fields, events=events):
                return
        else:
            try:
                if await self._fenced(
                    lease,
                    state=fields,
                    delete=[state_field(job, own.watch)] if own.end else (),
                    events=events,
                    job=job,
                    watch=own.watch,
                    end=own.end,
                ):
                    if own.end and self._on_ended is not None:
                        self._on_ended(job)
                    return
            except JobGoneError:
                self.gone += 1
        if self._on_refused is not None:
            self._on_refused(job)

    async def _fenced(
        self,
        lease: Lease,
        *,
        state: dict[str, str] | None = None,
        delete: Sequence[str] = (),
        events: Sequence[NewEvent] = (),
        job: JobKey | None = None,
        watch: str | None = None,
        end: bool = False,
    ) -> bool:
        """Write under ``lease``; return whether Redis took it (``False``: refused, counted)."""
        try:
            await self.cluster.commit(
                lease, state=state, delete=delete, events=events, job=job, watch=watch, end=end
            )
        except LeaseLostError as exc:
            self._refuse(lease.partition, exc.reason)
            return False
        return True

    def _refuse(self, part: int, why: str) -> None:
        self.refused += 1
        if part not in self._refused_parts:
            self._refused_parts.add(part)
            log.warning(
                "RedisStore: not writing to partition %d (%s): its lease is gone", part, why
            )

    def ack(self, name: str, event_ids: Iterable[str]) -> int:
        """Queue: delete these pending events of watch ``name`` (ids this store knows)."""
        pending = self._pending.get(name, {})
        by_part: dict[int, list[str]] = defaultdict(list)
        for event_id in event_ids:
            known = pending.pop(event_id, None)
            if known is not None:
                by_part[known.partition].append(event_field(name, event_id))
        if not by_part:
            return self._enqueue(_nothing)
        return self._enqueue(lambda: self._ack(by_part))

    async def _ack(self, by_part: dict[int, list[str]]) -> None:
        for part, fields in by_part.items():
            lease = self._leases(part)
            if lease is None:
                self._refuse(part, "no lease held")
                continue
            await self._fenced(lease, delete=fields)


async def _nothing() -> None:
    return None


def _by_scope(jobs: Iterable[JobKey]) -> dict[Any, list[int]]:
    grouped: dict[Any, list[int]] = defaultdict(list)
    for scope, job_id in jobs:
        grouped[scope].append(job_id)
    return grouped


def _belongs(field: str, value: str, watch: str, members: set[str]) -> bool:
    if field.startswith("s:"):
        (scope, job_id), owner = parse_partition_member(field[2:])
        return owner == watch and job_member(scope, job_id) in members
    if field.startswith("e:"):
        owner = json.loads(field[2:])[0]
        return bool(owner == watch and json.loads(value)[1] in members)
    return False
