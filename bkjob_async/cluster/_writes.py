"""The Redis store's writes: sent one at a time in call order (``Writer``), each fenced by a lease (``Fence``).

Tickets, settling, health and backoff are the one write queue's (``polling.stores._queue``);
what is Redis's own is here: a write is a coroutine (a fenced script, a submit), a write that
cannot reach Redis (``ClusterUnavailableError``) stays first in line and is retried after the
queue's backoff, and one Redis refused with an error is logged and dropped (retrying cannot
help). The writer task runs in the store's task group, from ``open`` to ``aclose``.

A fenced write is sent only under the lease this process holds on the partition, and Redis
applies it only if that lease is still the newest (``Cluster.commit``); a job's write also
only while the job is in its watch. What is not applied is counted, never retried: the
lease's new holder goes on from what Redis holds.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from typing import TYPE_CHECKING

import anyio

from ._errors import ClusterError, ClusterUnavailableError, JobGoneError, LeaseLostError
from ._keys import state_field

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..polling.stores import JobKey
    from ..polling.stores._queue import WriteQueue
    from ._client import Cluster
    from ._commit import Lease, NewEvent

__all__ = ["Fence", "Writer"]

log = logging.getLogger("bkjob_async.cluster")


class Writer:
    """Send a store's writes in call order; report each attempt to its ``WriteQueue``."""

    __slots__ = ("_hurry", "_wake", "_writes", "queue")

    def __init__(self, queue: WriteQueue) -> None:
        self.queue = queue
        self._writes: deque[tuple[int, Callable[[], Awaitable[None]]]] = deque()
        self._wake = anyio.Event()
        self._hurry = anyio.Event()

    def __len__(self) -> int:
        return len(self._writes)

    def put(self, write: Callable[[], Awaitable[None]]) -> int:
        """Queue ``write``; return its ticket."""
        ticket = self.queue.issue()
        self._writes.append((ticket, write))
        self._wake.set()
        return ticket

    def hurry(self) -> None:
        """Cut a retry's backoff short (``flush``)."""
        self._hurry.set()

    async def drain(self) -> None:
        """Return once every queued write was sent (or dropped)."""
        while self._writes:
            await self.queue.next_attempt().wait()

    async def run(self) -> None:
        """Send the queued writes until cancelled."""
        queue = self.queue
        while True:
            if not self._writes:
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            ticket, write = self._writes[0]
            queue.started += 1
            attempt = queue.started
            try:
                await write()
            except ClusterUnavailableError as exc:
                delay = queue.failed(exc, len(self._writes))
                queue.finished = attempt
                queue.attempted()
                with anyio.move_on_after(delay * random.uniform(0.5, 1.0)):
                    await self._hurry.wait()
                self._hurry = anyio.Event()
                continue
            except ClusterError as exc:  # Redis answered an error: retrying cannot help
                log.error("%s: a write was refused by Redis and dropped: %s", queue.what, exc)
            self._writes.popleft()
            queue.applied(ticket)
            queue.finished = attempt
            queue.attempted()


class Fence:
    """Send a store's writes under the leases held; count those refused (logged once per
    partition).

    :param on_refused: called with a job whose write was not applied (its lease is gone, or
        the job left its watch).
    :param on_ended: called with a job whose write of its end was applied.
    """

    __slots__ = ("_leases", "_on_ended", "_on_refused", "_parts", "cluster", "gone", "refused")

    def __init__(
        self,
        cluster: Cluster,
        leases: Callable[[int], Lease | None],
        on_refused: Callable[[JobKey], None] | None,
        on_ended: Callable[[JobKey], None] | None,
    ) -> None:
        self.cluster = cluster
        self._leases = leases
        self._on_refused = on_refused
        self._on_ended = on_ended
        #: Writes not applied because this process did not hold the partition's lease.
        self.refused = 0
        #: A job's writes not applied because it had left the watch.
        self.gone = 0
        self._parts: set[int] = set()

    async def commit(
        self, job: JobKey, watch: str, fields: dict[str, str], events: list[NewEvent], end: bool
    ) -> None:
        """Write a job's change (``end``: its last, which takes it out of ``watch``)."""
        part = self.cluster.partition(*job)
        lease = self._leases(part)
        try:
            if lease is None:
                self.refuse(part, "no lease held")
            else:
                await self.cluster.commit(
                    lease,
                    state=fields,
                    delete=[state_field(job, watch)] if end else (),
                    events=events,
                    job=job,
                    watch=watch,
                    end=end,
                )
                if end and self._on_ended is not None:
                    self._on_ended(job)
                return
        except LeaseLostError as exc:
            self.refuse(part, exc.reason)
        except JobGoneError:
            self.gone += 1
        if self._on_refused is not None:
            self._on_refused(job)

    async def delete(self, by_part: dict[int, list[str]]) -> None:
        """Delete fields of partitions' state (acks), each under its partition's lease."""
        for part, fields in by_part.items():
            lease = self._leases(part)
            try:
                if lease is None:
                    self.refuse(part, "no lease held")
                else:
                    await self.cluster.commit(lease, delete=fields)
            except LeaseLostError as exc:
                self.refuse(part, exc.reason)

    def refuse(self, part: int, why: str) -> None:
        """Count a write not applied; say so the first time for ``part``."""
        self.refused += 1
        if part not in self._parts:
            self._parts.add(part)
            log.warning(
                "RedisStore: not writing to partition %d (%s): its lease is gone", part, why
            )
