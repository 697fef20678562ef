"""``Worker``: one process's fair share of a cluster's jobs, polled by the engine; fails over.

What it guarantees:

- It polls exactly the jobs of the partitions it holds a lease on (``LeaseKeeper``), each once
  however many watches hold it, with one ``Poller``. A partition gained is read from Redis
  (its jobs, and each job's tracker state as last written under a valid lease), so a job taken
  over continues its chains: its first event after a takeover is ``7 -> 9``, never
  ``None -> 9``. A job whose stored state is finished is not polled again.
- Every poll that changed something is one fenced write per watch of the job (the new
  tracker state and the events, appended to the watch's stream, ``RedisStore`` with
  ``pending=False``); an unchanged poll writes nothing. The write of a job's end (its
  ``JobFinished``, or ``WatchFailed``) also takes the job out of the watch and deletes its
  state, so an ended job leaves nothing in Redis; ``submit`` of it again (after a retry in
  bk-job, say) follows it again, from nothing. A write of a job no longer in its watch
  (cancelled meanwhile) writes nothing.
- A write whose lease is gone (expired, taken over) is refused whole: a worker that lost its
  lease neither writes state nor publishes. The job is no longer polled here from that
  moment, and is followed again from the state Redis holds (here, if this worker still holds
  the partition at its next lease round; else by its new holder), so a refused write never
  leaves a gap in a chain nor loses a job's end. Events are the engine's events (same
  ``event_id``), encoded by ``encode_event``.
- Partitions lost or released are dropped at once; a partition whose lease reaches its
  deadline unrenewed (Redis unreachable, a stalled process) is dropped by a timer at that
  deadline, before anyone else can take it. After a stall (SIGSTOP, a frozen VM) that timer
  runs before any poll that fell due meanwhile, so a woken worker polls none of the jobs it
  no longer holds (only polls already under way when it stalled come back).
  ``submit``/``cancel`` are followed through the partition versions the lease rounds report.
- With ``policy.rate_limit`` every poll takes a permit of the cluster's ``RateBudget`` (one
  Redis round trip per poll) and a throttle answer cuts the rate of every worker; the engine's
  own governor is then not used for the limit.

A job that fails for good here (``WatchFailed``: not found, no permission) is logged and its
``failed`` event published, fenced like any other, so consumers learn it ended.

After Redis lost its data (a restart without persistence), each worker resubmits every
unfinished job it knows (polled now, or read with a partition it held before) and carries on
from memory. What it does not: a job that no live worker has read is gone from the cluster.

The engine polls the jobs with ``Poller.follow``/``unfollow``: every change of the set of
jobs polled here is synchronous, so a lapsed lease or a refused write stops a job's polls
before the next poll can be taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import defaultdict
from typing import TYPE_CHECKING

import anyio
import attrs
from anyio.abc import AsyncResource

from ..polling import Poller, PollPolicy
from ..polling._codec import from_data
from ..polling._tracker import EMPTY
from ..polling.events import Event, WatchFailed
from ._errors import ClusterError
from ._journal import ClusterJournal
from ._keys import state_field
from ._leases import LeaseKeeper, TickResult
from ._rate import RateBudget
from ._store import RedisStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from ..client import BkJobClient
    from ..config import Scope
    from ..polling._tracker import JobState
    from ._client import Cluster
    from ._keys import JobRef

__all__ = ["Worker", "WorkerStatistics"]

log = logging.getLogger("bkjob_async.cluster")


@attrs.frozen
class WorkerStatistics:
    """A snapshot of what a ``Worker`` holds and has done."""

    #: Partitions held now.
    partitions: int
    #: Jobs polled now.
    jobs: int
    #: Partitions taken (first holds and takeovers) since the start.
    gained: int
    #: Partitions dropped (lost, released, or past their lease deadline) since the start.
    dropped: int
    #: Changed polls written (one fenced write per watch of the job).
    commits: int
    #: Writes refused because the lease was gone.
    refused: int


def _ticks_to(send: MemoryObjectSendStream[TickResult]) -> Callable[[TickResult], None]:
    """Return ``on_tick`` for the lease keeper: hand each round to the worker's follower.

    While the worker leaves (Ctrl-C, say), the follower may have closed its end before the
    keeper's last round lands: that round is dropped, not raised as ``BrokenResourceError``
    out of a worker that is stopping anyway.
    """

    def on_tick(result: TickResult) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            send.send_nowait(result)

    return on_tick


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
        self.journal = ClusterJournal(
            self.store, seed=self._seed, watches=self._watches_of, ending=self._ending
        )
        self.poller = Poller(
            client,
            policy=attrs.evolve(policy, rate_limit=None),
            journal=self.journal,
            permits=self.budget,
        )
        #: Held partition -> its jobs polled here -> their watches.
        self._parts: dict[int, dict[JobRef, frozenset[str]]] = {}
        self._versions: dict[int, int] = {}
        #: Job polled here -> its watches (where its changes are written).
        self._jobs: dict[JobRef, frozenset[str]] = {}
        self._seeds: dict[JobRef, JobState] = {}
        #: Job -> writes of its end (one per watch) not applied yet.
        self._ending_writes: dict[JobRef, int] = {}
        #: Partition -> its unfinished jobs as last read here: kept when the partition is
        #: dropped, so a Redis that comes back empty gets them back (``_resubmit``).
        self._known: dict[int, dict[JobRef, frozenset[str]]] = {}
        #: ``cluster.resets`` as of the last reset this worker resubmitted after.
        self._resets = cluster.resets
        #: Redis ``TIME`` (ms) at the last lease round, and this process's clock then.
        self._redis_ms, self._redis_at = 0, cluster.clock()
        #: Jobs a write of was refused since the last lease round (for its log line).
        self._refusals = 0
        #: Drops a partition when its lease reaches its deadline (``_watch_deadlines``).
        self._timer: asyncio.TimerHandle | None = None
        self._tg: TaskGroup | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._gained = 0
        self._dropped = 0

    def __repr__(self) -> str:
        return f"Worker({self.worker_id!r}, {self.cluster!r})"

    def statistics(self) -> WorkerStatistics:
        """Return a snapshot of what this worker holds and has done."""
        return WorkerStatistics(
            partitions=len(self._parts),
            jobs=len(self._jobs),
            gained=self._gained,
            dropped=self._dropped,
            commits=self.journal.commits,
            refused=self.store.refused,
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
            tg = self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            stack.callback(self._stop_timer)
            tg.start_soon(self._follow, receive)
            await tg.start(self.keeper.run, _ticks_to(send))
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
        period = self.keeper.ttl / 3
        async with ticks:
            while True:
                result = None
                with anyio.move_on_after(period):
                    result = await ticks.receive()
                try:
                    if result is not None:
                        await self._apply(result)
                except ClusterError as exc:  # a read failed: the next round tries again
                    log.warning("worker %s: %s; retrying next round", self.worker_id, exc)
                    self._versions.clear()
                self._lapsed()
                self._watch_deadlines()

    async def _apply(self, result: TickResult) -> None:
        self._redis_ms, self._redis_at = result.now_ms, self.cluster.clock()
        if self.budget is not None:
            self.budget.share = result.live
        keep: set[int] = set()
        if result.reset or self._resets != self.cluster.resets:  # (retried until it went)
            keep = set(self._parts) & set(result.held)
            resets = self.cluster.resets
            await self._resubmit()
            self._resets = resets
        if self._refusals:
            log.warning(
                "worker %s: %d write(s) refused (lease gone, or the job left its watch); "
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
            if part not in self._parts or self._versions.get(part) != version:
                await self._load(part, version)

    def _lapsed(self) -> None:
        """Drop every partition whose lease is past its deadline by this process's clock."""
        lapsed = [p for p in self._parts if self.keeper.lease(p) is None]
        if lapsed:
            log.warning(
                "worker %s: leases of %d partition(s) ran out unrenewed; dropping their jobs",
                self.worker_id,
                len(lapsed),
            )
        for part in lapsed:
            self._drop(part)

    def _watch_deadlines(self) -> None:
        """Set the timer that drops a partition at its lease's deadline (the earliest one).

        A timer callback, not a task: after a stall every overdue timer runs in deadline order
        within one turn of the event loop, before any task it woke, so the engine's workers
        find the jobs of lapsed partitions gone before they take one.
        """
        self._stop_timer()
        deadlines = [
            lease.deadline for p in self._parts if (lease := self.keeper.lease(p)) is not None
        ]
        if deadlines:
            delay = max(0.0, min(deadlines) - self.cluster.clock()) + 0.001
            self._timer = asyncio.get_running_loop().call_later(delay, self._deadline)

    def _deadline(self) -> None:
        self._timer = None
        self._lapsed()
        self._watch_deadlines()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _resubmit(self) -> None:
        """Redis lost the cluster's data: put back every unfinished job this worker knows.

        That is the jobs polled here, and those of partitions it held before (dropped when a
        lease lapsed, say): a job is never forgotten because its lease did. Another worker
        may put some of them back too; a submit of a job already there changes nothing.
        """
        known: dict[JobRef, frozenset[str]] = {}
        for jobs in self._known.values():
            known.update(jobs)
        known.update(self._jobs)
        by_watch: dict[tuple[str, Scope], list[int]] = defaultdict(list)
        for (scope, job_id), watches in known.items():
            for watch in watches:
                by_watch[watch, scope].append(job_id)
        for (watch, scope), ids in by_watch.items():
            await self.cluster.submit(scope, ids, watch=watch)
        count = len({(scope, i) for (_, scope), ids in by_watch.items() for i in ids})
        log.error(
            "worker %s: Redis lost the cluster's data; resubmitted the %d unfinished jobs it "
            "knew (%d polled here)",
            self.worker_id,
            count,
            len(self._jobs),
        )

    async def _load(self, part: int, version: int) -> None:
        jobs = await self.cluster.partition_jobs(part)
        fields = await self.cluster.read_state(part)
        if self.keeper.lease(part) is None:
            return  # lost while reading
        if self._resets != self.cluster.resets or not await self.cluster.same_epoch():
            return  # Redis was wiped: what was read is not the truth; a round resubmits first
        old = self._parts.get(part)
        fresh = old is None
        held = {} if old is None else old
        wanted: dict[JobRef, frozenset[str]] = {}
        seeds: dict[JobRef, JobState] = {}
        for job, watches in jobs.items():
            if job in held:
                wanted[job] = watches
                continue
            state = _stored_state(fields, job, watches)
            if state is not None and state.finished:
                continue
            wanted[job] = watches
            seeds[job] = self._fresh() if state is None else state
        self._known[part] = dict(wanted)
        self._unfollow([job for job in held if job not in wanted])
        for job, watches in wanted.items():
            before = self._jobs.get(job, frozenset())
            for watch in before - watches:
                self.store.let_go(watch, [job])
            for watch in watches - before:
                self.store.hold(watch, [job])
            self._jobs[job] = watches
        self._parts[part] = wanted
        self._versions[part] = version
        if fresh:
            self._gained += 1
        for (scope, job_id), state in seeds.items():
            self._seeds[scope, job_id] = state
            self.poller.unfollow(scope, job_id)  # (one ended here before is followed anew)
            self.poller.follow(scope, job_id)  # seeded from ``_seeds`` at once
            self._seeds.pop((scope, job_id), None)

    def _fresh(self) -> JobState:
        """Return the state to follow a job with nothing stored from: never seen, its
        occurrences counted from the cluster's clock in ms.

        A job has nothing stored when it is new to its watch: submitted, or submitted again
        after its end or a cancel (its state went with it). Counting from the clock, the
        events of such a follow never take the ids of an earlier follow's (``JobFinished`` of
        a retried job has its first round's status and, from 0, could have its occurrence):
        consumers that dedupe by ``event_id`` see the new round. A job's changed polls are at
        least a millisecond apart, so one follow's occurrences end before the next one's start.
        """
        now_ms = self._redis_ms + (self.cluster.clock() - self._redis_at) * 1000
        return EMPTY._replace(seq=max(0, int(now_ms)))

    def _drop(self, part: int) -> None:
        jobs = self._parts.pop(part, None)
        self._versions.pop(part, None)
        if jobs is not None:
            self._dropped += 1
            self._unfollow(list(jobs))

    def _unfollow(self, jobs: list[JobRef]) -> None:
        """Stop polling ``jobs`` here, at once (no poll of them is taken after this)."""
        for job in jobs:
            for name in self._jobs.pop(job, ()):
                self.store.let_go(name, [job])
            self._seeds.pop(job, None)
            self.poller.unfollow(*job)

    # -- engine seams ---------------------------------------------------------------------

    def _seed(self, scope: Scope, job_id: int) -> JobState | None:
        # Always a state: never the engine's memory of a job it polled before losing it.
        return self._seeds.pop((scope, job_id), EMPTY)

    def _refused(self, job: JobRef) -> None:
        """A write of ``job`` was refused: stop polling it now; follow it again from Redis.

        What the write carried is not in Redis: polling on from this worker's newer state
        would leave a gap in the job's chains (or, for its last frame, no ``JobFinished`` at
        all). So the job is dropped here and its partition re-read at the next lease round:
        if this worker still holds it and the job is still in its watch, the job is followed
        again from the state Redis holds; if not, its new holder does that.
        """
        self._ending_writes.pop(job, None)  # its end, if that was the write, is not recorded
        self._refusals += 1
        part = self.cluster.partition(*job)
        jobs = self._parts.get(part)
        if jobs is not None and jobs.pop(job, None) is not None:
            self._versions.pop(part, None)  # re-read at the next lease round
        self._unfollow([job])

    def _end_written(self, job: JobRef) -> None:
        """A write of ``job``'s end was applied: once all its watches have it, the job has
        left them, and this worker lets go of it (a ``submit`` of it again is a new job)."""
        part = self.cluster.partition(*job)
        known = self._known.get(part)
        if known is not None:
            known.pop(job, None)
        left = self._ending_writes.get(job)
        if left is None:
            return
        if left > 1:
            self._ending_writes[job] = left - 1
            return
        del self._ending_writes[job]
        jobs = self._parts.get(part)
        if jobs is not None:
            jobs.pop(job, None)
        self._unfollow([job])

    def _watches_of(self, job: JobRef) -> frozenset[str] | None:
        return self._jobs.get(job)

    def _ending(self, job: JobRef, watches: frozenset[str], last: Event) -> None:
        """The journal is writing ``job``'s end to each of ``watches`` (``_end_written``)."""
        self._ending_writes[job] = len(watches)
        if isinstance(last, WatchFailed):
            log.warning(
                "worker %s: job %d cannot be watched (%s); not polling it",
                self.worker_id,
                job[1],
                last.error,
            )


def _stored_state(fields: dict[str, str], job: JobRef, watches: frozenset[str]) -> JobState | None:
    """Return the most advanced state stored for ``job`` in any of its watches."""
    best: JobState | None = None
    for watch in watches:
        text = fields.get(state_field(job, watch))
        if text is None:
            continue
        try:
            state = from_data(json.loads(text))
        except ValueError as exc:
            log.error("unreadable stored state of job %s in watch %r: %s", job, watch, exc)
            continue
        if best is None or state.seq > best.seq:
            best = state
    return best
