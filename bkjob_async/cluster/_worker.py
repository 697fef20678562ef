"""``Worker``: one process's fair share of a cluster's jobs, polled by the engine; fails over.

- It polls exactly the jobs of the partitions it holds a lease on (``LeaseKeeper``), each once
  however many watches hold it, with one ``Poller`` driven by ``follow``/``unfollow``. A
  partition gained is read from Redis, and each job continues from the state last written
  under a valid lease (its first event after a takeover is ``7 -> 9``, never ``None -> 9``);
  a job whose stored state is finished is not polled again.
- A write refused (lease gone, job cancelled, or written since) stops the job's polls here at
  once; the job is followed again from the state Redis holds (here at the next lease round if
  this worker still holds the partition, else by its new holder), so a refused write never
  leaves a gap in a chain nor loses a job's end. A partition is read only once no write sent
  before can land (``Writer.quiet``).
- A partition whose lease reaches its deadline unrenewed (Redis unreachable, a stall) is
  dropped by a timer at that deadline, before any poll that fell due during the stall.
- After Redis lost its data, it resubmits every unfinished job it knows (polled now, or read
  with a partition it held before). A job no live worker has read is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import TYPE_CHECKING

import anyio
import attrs
from anyio.abc import AsyncResource

from ..polling import Poller, PollPolicy
from ..polling._tracker import EMPTY
from ._entries import wire_of
from ._errors import ClusterError
from ._journal import ClusterJournal
from ._leases import LeaseKeeper, TickResult, ticks_to
from ._rate import RateBudget
from ._store import RedisStore

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream

    from ..client import BkJobClient
    from ._client import Cluster
    from ._keys import JobRef

__all__ = ["Worker", "WorkerStatistics"]

log = logging.getLogger("bkjob_async.cluster")


@attrs.frozen
class WorkerStatistics:
    """A snapshot of a ``Worker``: the ``partitions`` held and ``jobs`` polled now; since the
    start, partitions ``gained`` (first holds and takeovers) and ``dropped`` (lost, released or
    past their deadline), ``commits`` (one fenced write per watch of a changed job) and writes
    ``refused`` because the lease was gone; partitions gained from a worker no longer live
    (``takeovers``) and from a live one giving them up (``handovers``); ``lease_rounds_failed``
    (Redis unreachable or refusing) and whether the last round reached Redis
    (``redis_available``)."""

    partitions: int
    jobs: int
    gained: int
    dropped: int
    commits: int
    refused: int
    takeovers: int = 0
    handovers: int = 0
    lease_rounds_failed: int = 0
    redis_available: bool = True


class Worker(AsyncResource):
    """Poll a fair share of ``cluster``'s jobs with ``client``; see the module docstring.

    ::

        async with BkJobClient(...) as client, Cluster(url, name="prod") as cluster:
            await Worker(client, cluster, policy=PollPolicy(interval=1.0)).run()

    :param policy: the engine's policy; its ``rate_limit`` is the whole cluster's.
    :param worker_id: unique among live workers (default: host name and a random suffix).
    :param lease_ttl: seconds a lease lives unrenewed (default ``max(0.3, 0.6 x interval)``,
        so a dead worker's jobs are polled again by the others within about two intervals).
    :param max_partitions: hold at most this many partitions.
    """

    def __init__(
        self,
        client: BkJobClient,
        cluster: Cluster,
        *,
        policy: PollPolicy | None = None,
        worker_id: str | None = None,
        lease_ttl: float | None = None,
        max_partitions: int | None = None,
    ) -> None:
        policy = PollPolicy() if policy is None else policy
        if not isinstance(policy, PollPolicy):
            raise TypeError("policy must be a PollPolicy")
        ttl = max(0.3, 0.6 * policy.interval) if lease_ttl is None else lease_ttl
        self.cluster = cluster
        self.policy = policy
        self.keeper = LeaseKeeper(
            cluster, worker_id=worker_id, ttl=ttl, max_partitions=max_partitions
        )
        self.worker_id = self.keeper.worker_id
        self.store = RedisStore(
            cluster,
            self.keeper.lease,
            pending=False,
            on_refused=self._refused,
            on_ended=self._end_written,
        )
        self.budget = (
            None if policy.rate_limit is None else RateBudget(cluster, limit=policy.rate_limit)
        )
        self.journal = ClusterJournal(self.store, wire=wire_of(client.protocol))
        self.poller = Poller(
            client,
            policy=attrs.evolve(policy, rate_limit=None),
            journal=self.journal,
            permits=self.budget,
        )
        #: The partitions held, their jobs polled here and each job's watches (``_holdings``).
        self.held = self.store.held
        #: ``cluster.resets`` as of the last reset this worker resubmitted after.
        self._resets = cluster.resets
        #: Redis ``TIME`` (ms) at the last lease round, and this process's clock then.
        #: Jobs a write of was refused since the last lease round (for its log line).
        self._refusals = 0
        #: Calls ``_lapsed`` at the next lease deadline: a timer, not a task, so after a stall
        #: it runs before any task the stall left due (no poll of a lapsed partition's jobs).
        self._timer: asyncio.TimerHandle | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._gained = 0
        self._dropped = 0
        self._takeovers = 0
        self._handovers = 0

    def __repr__(self) -> str:
        return f"Worker({self.worker_id!r}, {self.cluster!r})"

    def statistics(self) -> WorkerStatistics:
        """Return a snapshot of what this worker holds and has done."""
        return WorkerStatistics(
            partitions=len(self.held.parts),
            jobs=len(self.held.jobs),
            gained=self._gained,
            dropped=self._dropped,
            commits=self.journal.commits,
            refused=self.store.fence.refused,
            takeovers=self._takeovers,
            handovers=self._handovers,
            lease_rounds_failed=self.keeper.failed_rounds,
            redis_available=self.keeper.available,
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Worker:
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(self.keeper)  # released last
            await stack.enter_async_context(self.store)  # flushed while leases are held
            await stack.enter_async_context(self.poller)
            send, receive = anyio.create_memory_object_stream[TickResult](math.inf)
            stack.push_async_callback(send.aclose)  # once the task group is done
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            stack.callback(self._stop_timer)
            tg.start_soon(self._follow, receive)
            await tg.start(self.keeper.run, ticks_to(send))
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def aclose(self) -> None:
        """Stop polling, flush the store, then release the leases."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def run(self) -> None:
        """Join the cluster and poll until cancelled."""
        async with self:
            await anyio.sleep_forever()

    # -- following the leases -------------------------------------------------------------

    async def _follow(self, ticks: MemoryObjectReceiveStream[TickResult]) -> None:
        async with ticks:
            async for result in ticks:
                try:
                    await self._apply(result)
                except ClusterError as exc:  # a read failed: the next round tries again
                    log.warning("worker %s: %s; retrying next round", self.worker_id, exc)
                    self.held.versions.clear()
                self._lapsed()

    async def _apply(self, result: TickResult) -> None:
        if self.budget is not None:
            self.budget.share = result.live
        self._takeovers += len(result.taken_from)
        self._handovers += len(result.handed_from)
        for verb, found in (("took over", result.taken_from), ("was handed", result.handed_from)):
            by_worker: dict[str, list[int]] = {}
            for part, previous in sorted(found.items()):
                by_worker.setdefault(previous, []).append(part)
            for previous, parts in sorted(by_worker.items()):
                log.info(
                    "worker %s: %s %d partition(s) from %s%s: %s",
                    self.worker_id,
                    verb,
                    len(parts),
                    previous,
                    " (no longer live)" if found is result.taken_from else "",
                    _ranges(parts),
                )
        keep: set[int] = set()
        if result.reset or self._resets != self.cluster.resets:  # (retried until it went)
            keep = set(self.held.parts) & set(result.held)
            resets = self.cluster.resets
            await self._resubmit()
            self._resets = resets
        if self._refusals:
            log.warning(
                "worker %s: %d write(s) refused (lease gone, job left its watch or written since); "
                "following those jobs again from the state in Redis",
                self.worker_id,
                self._refusals,
            )
            self._refusals = 0
        for part in (*result.lost, *result.released):
            if part not in keep:
                self._drop(part)
        for part in sorted(result.held):
            version = result.versions.get(part, 0)
            if part not in self.held.parts or self.held.versions.get(part) != version:
                await self._load(part, version)
        if self.held.rollbacks:
            rolled, self.held.rollbacks = self.held.rollbacks, {}
            log.warning(
                "worker %s: Redis holds older states than this worker wrote of %d job(s) in "
                "partition(s) %s (up to %d of its writes back): it lost its latest writes (a "
                "failover to a replica that lagged, or a restart from an older snapshot); "
                "following them again from there (what is derived again keeps its event ids)",
                self.worker_id,
                sum(jobs for jobs, _ in rolled.values()),
                ", ".join(map(str, sorted(rolled))),
                max(back for _, back in rolled.values()),
            )

    def _lapsed(self) -> None:
        """Drop every partition whose lease is past its deadline by this process's clock, and
        set the timer for the next deadline."""
        lapsed = [p for p in self.held.parts if self.keeper.lease(p) is None]
        if lapsed:
            log.warning(
                "worker %s: leases of %d partition(s) ran out unrenewed; dropping their jobs",
                self.worker_id,
                len(lapsed),
            )
        for part in lapsed:
            self._drop(part)
        leases = [lease for p in self.held.parts if (lease := self.keeper.lease(p))]
        self._stop_timer()
        if leases:
            wait = max(0.0, min(lease.deadline for lease in leases) - self.cluster.clock())
            self._timer = asyncio.get_running_loop().call_later(wait + 0.001, self._lapsed)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    async def _resubmit(self) -> None:
        """Redis lost the cluster's data: put back every unfinished job this worker knows
        (polled here, or read with a partition held before; a submit again changes nothing)."""
        by_watch = self.held.unfinished()
        for (watch, scope), ids in by_watch.items():
            await self.cluster.submit(scope, ids, watch=watch)
        count = len({(scope, i) for (_, scope), ids in by_watch.items() for i in ids})
        log.error(
            "worker %s: Redis lost the cluster's data; resubmitted the %d unfinished jobs it "
            "knew (%d polled here)",
            self.worker_id,
            count,
            len(self.held.jobs),
        )

    async def _load(self, part: int, version: int) -> None:
        # Jobs let go here (a lapse, a refusal) may be followed again from what is read: no
        # write of their older follow may land after the read (those queued are dropped).
        await self.store.writer.quiet()
        jobs = await self.cluster.partition_jobs(part)
        fields = await self.cluster.read_state(part)
        if self.keeper.lease(part) is None:
            return  # lost while reading
        if self._resets != self.cluster.resets or not await self.cluster.same_epoch():
            return  # Redis was wiped: what was read is not the truth; a round resubmits first
        fresh = part not in self.held.parts
        gone, start = self.held.take(part, version, jobs, fields)
        self._unfollow(gone)
        if fresh:
            self._gained += 1
        seeds = self.journal.seeds
        for job, state in start.items():
            seeds[job] = EMPTY if state is None else state
            self.poller.unfollow(*job)  # (one ended here before is followed anew)
            self.poller.follow(*job)  # seeded from ``seeds`` at once
            seeds.pop(job, None)
        # The next load may wait long (``quiet`` behind a slow write): the timer must already
        # watch this lease, or a stall meanwhile leaves its jobs polled past their deadline.
        self._lapsed()

    def _drop(self, part: int) -> None:
        jobs = self.held.drop_part(part)
        if jobs is not None:
            self._dropped += 1
            self._unfollow(jobs)

    def _unfollow(self, jobs: list[JobRef]) -> None:
        """Stop polling ``jobs`` here, at once (no poll of them is taken after this)."""
        for job in jobs:
            self.held.release(job)  # (its writes still queued are dropped)
            self.poller.unfollow(*job)

    # -- engine seams ---------------------------------------------------------------------

    def _refused(self, job: JobRef) -> None:
        """A write of ``job`` was refused: what it carried is not in Redis, so stop polling
        it now and re-read its partition at the next lease round (the job is followed again
        from Redis' state, here or by its new holder)."""
        self._refusals += 1
        self.held.leave(job, self.cluster.partition(*job), reread=True)
        self._unfollow([job])

    def _end_written(self, job: JobRef, watch: str) -> None:
        """``job``'s end was applied in ``watch``; once in all it was written to, let go of it."""
        part = self.cluster.partition(*job)
        self.held.known.get(part, {}).pop(job, None)
        self.held.forget(watch, [job])
        others = list(self.held.jobs.get(job, {}).values())  # (joined since: follow it anew)
        if not any(member.ending for member in others):
            self.held.leave(job, part, reread=bool(others))
            self._unfollow([job])


def _ranges(parts: list[int]) -> str:
    """Return ``0-3, 7, 9-10`` for sorted partitions."""
    spans: list[list[int]] = []
    for part in parts:
        if spans and part == spans[-1][1] + 1:
            spans[-1][1] = part
        else:
            spans.append([part, part])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
