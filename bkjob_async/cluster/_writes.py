"""Rule: the Redis store's writes go in call order (``Writer``), each fenced by a lease.

The Redis store's writes: sent in call order (``Writer``), each fenced by a lease (``Fence``).

Fenced writes (a job's change, an ack) queued one after another go to Redis as one pipeline of
``COMMIT`` scripts (up to ``_BATCH`` a round trip); a rare write (a submit, a cancel) is a
coroutine sent alone. A batch that cannot reach Redis stays first in line and is retried whole
after the queue's backoff (``polling.stores._queue``); a write Redis answered with an error is
logged and dropped. A fenced write is sent only under the lease held on its partition, within
its deadline, and a job's only while its ``Fenced.member`` holds (``_holdings``: a job let go
since is followed anew from Redis). What is not applied is counted, never retried.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio
import redis.exceptions as rexc

from . import _scripts
from ._commit import commit_request, read_reply
from ._errors import ClusterError, ClusterUnavailableError, JobGoneError, LeaseLostError
from ._holdings import Holdings, writes_back

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..polling.stores import JobKey
    from ..polling.stores._queue import WriteQueue
    from ._client import Cluster
    from ._commit import Fenced, Lease

__all__ = ["Fence", "Writer"]

log = logging.getLogger("bkjob_async.cluster")

#: Fenced writes sent in one pipeline at most.
_BATCH = 256


class Writer:
    """Send a store's writes in call order; report each attempt to its ``WriteQueue``."""

    __slots__ = ("_fence", "_hurry", "_wake", "_writes", "queue")

    def __init__(self, queue: WriteQueue, fence: Fence) -> None:
        self.queue = queue
        self._fence = fence
        self._writes: deque[tuple[int, Callable[[], Awaitable[None]] | list[Fenced]]] = deque()
        self._wake = anyio.Event()
        self._hurry = anyio.Event()

    def __len__(self) -> int:
        return len(self._writes)

    def put(self, work: Callable[[], Awaitable[None]] | list[Fenced]) -> int:
        """Queue a coroutine to run alone, or fenced writes; return the call's ticket."""
        ticket = self.queue.issue()
        self._writes.append((ticket, work))
        self._wake.set()
        return ticket

    def hurry(self) -> None:
        """Cut a retry's backoff short (``flush``)."""
        self._hurry.set()

    async def quiet(self) -> None:
        """Return once every attempt begun before this call is over (applied, refused, or
        failed): no write sent before then can land in Redis after it (but one whose answer
        timed out, which Redis may still apply; a job's version then refuses the writes made
        from a state read before it landed)."""
        queue, mark = self.queue, self.queue.started
        while queue.finished < mark:
            await queue.next_attempt().wait()

    async def drain(self) -> None:
        """Return once every queued write was sent (or dropped)."""
        while self._writes:
            await self.queue.next_attempt().wait()

    def _next(self) -> tuple[int, int, Callable[[], Awaitable[None]] | list[Fenced]]:
        """Return the next attempt: how many calls, the last one's ticket, and its work (a
        coroutine alone, or the fenced writes of consecutive calls)."""
        ticket, work = self._writes[0]
        if callable(work):
            return 1, ticket, work
        batch: list[Fenced] = []
        count = 0
        for ticket_, more in self._writes:
            if callable(more) or (batch and len(batch) + len(more) > _BATCH):
                break
            batch += more
            count, ticket = count + 1, ticket_
        return count, ticket, batch

    async def run(self) -> None:
        """Send the queued writes until cancelled."""
        queue = self.queue
        while True:
            if not self._writes:
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            count, ticket, work = self._next()
            queue.started += 1
            attempt, delay = queue.started, None
            try:
                await (work() if callable(work) else self._fence.send(work))
            except ClusterUnavailableError as exc:
                delay = queue.failed(exc, len(self._writes))
            except ClusterError as exc:  # Redis answered an error: retrying cannot help
                log.error("%s: a write was refused by Redis and dropped: %s", queue.what, exc)
            if delay is None:
                for _ in range(count):
                    self._writes.popleft()
                queue.applied(ticket)
            queue.finished = attempt
            queue.attempted()
            if delay is not None:
                with anyio.move_on_after(delay * random.uniform(0.5, 1.0)):
                    await self._hurry.wait()
                self._hurry = anyio.Event()


class Fence:
    """Send fenced writes under the leases held; tell ``RedisStore``'s ``on_refused`` and
    ``on_ended``. Count those not applied: ``refused`` (no lease held: logged once per
    partition), ``gone`` (the job left its watch, or was written since), ``stale`` (dropped
    unsent: the job was let go since); and ``repeated``, found applied when sent again. The
    version of each job's write applied goes to ``held`` (``Holdings.wrote``)."""

    def __init__(
        self,
        cluster: Cluster,
        leases: Callable[[int], Lease | None],
        on_refused: Callable[[JobKey], None] | None,
        on_ended: Callable[[JobKey, str], None] | None,
        held: Holdings | None = None,
    ) -> None:
        self.cluster = cluster
        self._held = Holdings() if held is None else held
        self._leases = leases
        self._on_refused = on_refused
        self._on_ended = on_ended
        self._commit = cluster.redis.register_script(_scripts.COMMIT)
        self.refused = self.gone = self.stale = self.repeated = 0
        self._parts: set[int] = set()
        #: Partitions where a rollback was logged, until a write of theirs is applied again.
        self._behind: set[int] = set()

    async def send(self, writes: list[Fenced]) -> None:
        """Send ``writes`` in order in one round trip (those whose lease this process does not
        hold, or holds past its deadline, are refused without sending)."""
        cluster, sent, requests = self.cluster, [], []
        for write in writes:
            if write.settled:
                continue
            if write.member is not None and not write.member.held:
                write.settled = True  # let go since: never sent
                self.stale += 1
                continue
            lease = self._leases(write.part)
            if lease is None or cluster.clock() >= lease.deadline:
                why = "no lease held" if lease is None else "expired"
                self._settle(write, LeaseLostError(why, partition=write.part, token=0, reason=why))
                continue
            sent.append(write)
            requests.append((lease, *commit_request(cluster, lease, write)))
        if not requests:
            return
        replies = await self._pipelined([(keys, args) for _, keys, args in requests])
        for write, (lease, _, _), reply in zip(sent, requests, replies, strict=True):
            try:
                if isinstance(reply, Exception):
                    raise ClusterError(f"Redis at {cluster.url} answered an error: {reply}")
                read_reply(lease, reply, write.version[1] if write.version else "")
            except ClusterError as exc:
                self._settle(write, exc)
            else:
                self.repeated += int(reply[0]) != 1
                self._settle(write, None)

    async def _pipelined(self, requests: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Run ``COMMIT`` for each of ``requests`` in one pipeline; return the replies (errors
        as exceptions). If Redis does not know the script (``NOSCRIPT``: a new primary after a
        failover), nothing was run: load it and send them again. A Redis Cluster pipeline takes
        no ``EVALSHA`` (redis-py): the script's text goes with each write there.
        """
        cluster, sha = self.cluster, self._commit.sha
        async with cluster.guard():
            async with cluster.redis.pipeline(transaction=False) as pipe:
                for keys, args in requests:
                    if cluster.deployment == "cluster":  # redis-py refuses EVALSHA there
                        pipe.eval(_scripts.COMMIT, len(keys), *keys, *args)
                    else:
                        pipe.evalsha(sha, len(keys), *keys, *args)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
            missing = [i for i, r in enumerate(replies) if isinstance(r, rexc.NoScriptError)]
            if missing:
                await cluster.redis.script_load(_scripts.COMMIT)
                async with cluster.redis.pipeline(transaction=False) as pipe:
                    for i in missing:
                        keys, args = requests[i]
                        pipe.evalsha(sha, len(keys), *keys, *args)
                    again = await pipe.execute(raise_on_error=False)
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        return replies

    def _settle(self, write: Fenced, refused: ClusterError | None) -> None:
        """Account for a write's outcome (``refused``: why it was not applied)."""
        write.settled = True
        job = write.job
        if refused is None:
            self._behind.discard(write.part)
            if job is not None and write.watch is not None and write.version is not None:
                self._held.wrote(write.part, job, write.watch, write.version[1], end=write.end)
            if write.end and job is not None and self._on_ended is not None:
                _tell(self._on_ended, job, write.watch or "")
            return
        if isinstance(refused, LeaseLostError):
            self.refused += 1
            if write.part not in self._parts:
                self._parts.add(write.part)
                log.warning(
                    "RedisStore: not writing to partition %d (%s): its lease is gone",
                    write.part,
                    refused.reason,
                )
        elif isinstance(refused, JobGoneError):
            self.gone += 1
            replaced = write.version[0] if write.version else ""
            back = writes_back(refused.stored, replaced) if refused.reason == "stale" else 0
            if back and job is not None and write.part not in self._behind:
                self._behind.add(write.part)
                log.warning(
                    "RedisStore: partition %d: the state of job %s in watch %r in Redis is %d "
                    "write(s) older than the last one written here: Redis lost its latest writes "
                    "(a failover to a replica that lagged, or a restart from an older snapshot)",
                    write.part,
                    job[1],
                    write.watch,
                    back,
                )
            if refused.reason == "stale" and write.member is not None and job is not None:
                write.member.version = refused.stored  # the next write goes over that one
                if self._on_refused is None:  # (a worker follows the job again from Redis)
                    log.warning(
                        "RedisStore: a write of job %s in watch %r was refused: another landed "
                        "since; its next write goes over that one",
                        job[1],
                        write.watch,
                    )
        else:
            log.error("RedisStore: a write was refused by Redis and dropped: %s", refused)
        if job is not None and self._on_refused is not None:
            _tell(self._on_refused, job)


def _tell(callback: Callable[..., None], *args: object) -> None:
    try:
        callback(*args)
    except Exception:  # (a caller's bug: logged, and the writes go on)
        log.exception("RedisStore: its callback %r failed", callback)
