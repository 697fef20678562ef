"""The anyio driver: a heap of due jobs, ``max_in_flight`` workers, one poll per job; thin.

It only sleeps, sends, and hands what it reads to the pure parts (``_observe``, ``_tracker``,
``_schedule``) and to the watches (``_watch``). No task exists per job: a job is a slotted
record in a heap of due times. A worker that finishes a poll takes the next due job itself;
the scheduler only wakes parked workers and sleeps until the next due time. A poll is thus
taken only when a worker (and so a pooled connection) is free, so pool waits never eat into a
request's timeout. The ``Poller`` owns the task group; no watch does.
"""

from __future__ import annotations

import datetime as _dt
import heapq
import itertools
import logging
import math
import random
import time
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import attrs

from .. import errors
from .._converter import converter
from .._observe import JobObservation, StepObservation, observe_groups, observe_job
from .._protocol import Request, body_fingerprint
from ..config import ApiFlavor, Scope, check_id
from ..models import Host, HostKey, HostResult, HostStatus, JobInstanceStatus, JobStatus
from ._schedule import (
    PollPolicy,
    RateGovernor,
    RetryBudget,
    error_delay,
    first_delay,
    next_interval,
)
from ._tracker import GroupCounts, JobTracker
from ._watch import Watch, _Subscription, now_utc
from .events import (
    Event,
    JobFinished,
    WatchFailed,
    WatchTimedOut,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    from anyio.abc import TaskGroup

    from ..client import BkJobClient

__all__ = ["Poller", "PollerStatistics", "Watch"]

logger = logging.getLogger("bkjob_async.polling")

_REGISTER_CHUNK = 500
# The scheduler never sleeps less than this: jobs due within a tick go out together.
_TICK = 0.001
# The asyncio backend's clock; cheaper than asking anyio for the backend on every poll.
_monotonic = time.monotonic
_UTC = _dt.timezone.utc


@attrs.frozen
class PollerStatistics:
    """A snapshot of what a ``Poller`` has done so far."""

    instances_watched: int
    watches: int
    requests: int
    unchanged_polls: int
    retries: int
    errors: dict[str, int]
    events_emitted: int
    current_rate: float
    rate_limit: float | None
    in_flight: int
    #: Some watched job's polls fail with transient errors (bk-job unreachable, say).
    stalled: bool = False


class _Instance:
    """One polled job: its request, tracker, subscribers and place in the schedule."""

    __slots__ = (
        "active",
        "busy",
        "due",
        "failures",
        "fingerprint",
        "groups",
        "interval",
        "job_instance_id",
        "key",
        "needs_decode",
        "request",
        "scope",
        "subscribers",
        "tracker",
    )

    def __init__(self, scope: Scope, job_id: int, request: Request, tracker: JobTracker) -> None:
        self.key = _key(scope, job_id)
        self.scope, self.job_instance_id = scope, job_id
        #: Registered with the poller; cleared when its last watch leaves.
        self.active = True
        self.request = request
        self.tracker = tracker
        self.subscribers: list[_Subscription] = []
        self.fingerprint: int | None = None
        self.needs_decode = True
        self.interval = 0.0
        self.failures = 0
        self.due = math.inf
        #: A poll is in flight: never poll one job twice at once (answers could cross).
        self.busy = False
        #: Large steps followed by result groups (``None``: the job is polled whole).
        self.groups: dict[int, GroupCounts] | None = None


def _key(scope: Scope, job_id: int) -> _Key:
    """A job's key in the poller's tables: plain values, so hashing it costs no Python call."""
    return (scope.type.value, scope.id, job_id)


_Key = tuple[str, int, int]


class _Slot:
    """A parked worker: the scheduler puts a job in ``instance`` and sets ``ready``."""

    __slots__ = ("instance", "ready")

    def __init__(self) -> None:
        self.instance: _Instance | None = None
        self.ready = anyio.Event()


def _step_done(tracker: JobTracker, step_instance_id: int) -> bool:
    """Tell whether a step has ended for good as far as a step watch is concerned.

    A failed, stopped or abnormal step of a job that still runs is bk-job's retry lag (the job
    goes back to running before the step resets), not an end: only a finished job or a
    successful step (3, 5, 6) ends a step watch.
    """
    status = tracker.step_status(step_instance_id)
    if status is None or not JobStatus(status).is_finished:
        return False
    return tracker.finished or JobStatus(status).is_success


class Poller:
    """Watch many bk-job jobs at once, sharing one poll per job among all its watches.

    ::

        async with Poller(client, policy=PollPolicy(interval=1.0)) as poller:
            async for event in poller.watch_jobs(scope, job_ids):
                ...

    A watch delivers every change the poller observes after it starts; a job the poller has
    never seen reports every host, step and the job with ``previous=None`` first. Errors of the
    poller's own tasks (bugs, not bk-job failures) propagate out of ``async with`` as an
    ``ExceptionGroup``.
    """

    def __init__(
        self,
        client: BkJobClient,
        *,
        policy: PollPolicy = PollPolicy(),
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(policy, PollPolicy):
            raise TypeError("policy must be a PollPolicy")
        if policy.max_in_flight > client.connection_limit:
            raise ValueError(
                f"policy.max_in_flight ({policy.max_in_flight}) exceeds the client's connection "
                f"limit ({client.connection_limit}); polls would queue for connections"
            )
        self.client = client
        self.policy = policy
        self._protocol = client.protocol
        self._transport = client.transport
        self._rng = rng or random.Random()
        self._grouping = policy.group_threshold is not None and client.flavor is ApiFlavor.APIGW_V3
        self._host_hook = converter(
            self._protocol.generation, self._protocol.server_tz
        ).get_structure_hook(HostResult)
        self._instances: dict[_Key, _Instance] = {}
        self._known: OrderedDict[_Key, JobTracker] = OrderedDict()
        self._heap: list[tuple[float, int, _Instance]] = []
        self._seq = itertools.count()
        self._governor = RateGovernor(policy.rate_limit)
        self._budget = RetryBudget(policy.retry_budget)
        self._tg: TaskGroup | None = None
        self._wakeup: anyio.Event | None = None
        self._idle: list[_Slot] = []
        self._snapshot_limiter = anyio.CapacityLimiter(policy.max_in_flight)
        self._watches = 0
        self._requests = 0
        self._unchanged = 0
        self._retries = 0
        self._events = 0
        self._in_flight = 0
        self._errors: Counter[str] = Counter()
        self._rate_mark = (_monotonic(), 0)
        self._rate = 0.0

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Poller:
        if self._tg is not None:
            raise RuntimeError("a Poller can be entered only once")
        self._wakeup = anyio.Event()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._schedule_loop)
        for _ in range(self.policy.max_in_flight):
            self._tg.start_soon(self._worker)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        for instance in self._instances.values():
            instance.active = False
            for sub in instance.subscribers:
                sub.close()
        self._instances.clear()
        self._heap.clear()
        self._tg.cancel_scope.cancel()
        return await self._tg.__aexit__(exc_type, exc, tb)

    def _task_group(self) -> TaskGroup:
        if self._tg is None or self._tg.cancel_scope.cancel_called:
            raise RuntimeError("use the Poller inside 'async with Poller(...) as poller:'")
        return self._tg

    # --- watching -----------------------------------------------------------------------------

    def watch_job(self, scope: Scope, job_instance_id: int) -> Watch:
        """Watch one job until ``JobFinished`` (or ``WatchTimedOut``); failures raise."""
        return self._watch(scope, (check_id(job_instance_id, "job_instance_id"),), None, True)

    def watch_jobs(self, scope: Scope, job_instance_ids: Iterable[int]) -> Watch:
        """Watch many jobs on one stream; a job that cannot be watched yields ``WatchFailed``."""
        ids = tuple(dict.fromkeys(check_id(i, "job_instance_id") for i in job_instance_ids))
        return self._watch(scope, ids, None, False)

    def watch_step(self, scope: Scope, job_instance_id: int, step_instance_id: int) -> Watch:
        """Watch one step's hosts until the step ends (or the job does); failures raise."""
        return self._watch(
            scope,
            (check_id(job_instance_id, "job_instance_id"),),
            check_id(step_instance_id, "step_instance_id"),
            True,
        )

    async def wait_finished(self, scope: Scope, job_instance_id: int) -> JobInstanceStatus:
        """Return the final status of a job once it finishes; bound it with ``anyio.fail_after``."""
        async with self.watch_job(scope, job_instance_id) as watch:
            async for event in watch:
                if isinstance(event, JobFinished):
                    return event.snapshot
                if isinstance(event, WatchTimedOut):
                    raise errors.PollingError(f"job {job_instance_id}: the watch deadline passed")
        raise errors.PollingError(f"job {job_instance_id}: the poller closed first")

    def _watch(self, scope: Scope, ids: tuple[int, ...], step: int | None, single: bool) -> Watch:
        if not isinstance(scope, Scope):
            raise TypeError(f"scope must be a Scope, not {type(scope).__name__}")
        scope.params(self._protocol.flavor)
        tg = self._task_group()
        sub = _Subscription(scope, ids, step, self.policy.buffer_size)
        self._watches += 1
        tg.start_soon(self._subscribe, sub)
        return Watch(
            sub,
            single=single,
            deadline=self.policy.deadline,
            leave=self._unsubscribe,
            snapshot=self._snapshot,
        )

    async def _snapshot(self, scope: Scope, job_id: int) -> JobInstanceStatus | None:
        """Read a job's whole status now (a timed-out watch's last word); ``None`` on failure."""
        async with self._snapshot_limiter:
            try:
                return await self.client.get_job_instance_status(scope, job_id)
            except errors.BkJobError:
                return None

    async def _subscribe(self, sub: _Subscription) -> None:
        """Attach ``sub`` to its jobs in chunks, so a huge watch never stalls the loop."""
        for start in range(0, len(sub.job_instance_ids), _REGISTER_CHUNK):
            if sub.closed:
                return
            now = _monotonic()
            for job_id in sub.job_instance_ids[start : start + _REGISTER_CHUNK]:
                if job_id in sub.remaining:
                    self._attach(sub, job_id, now)
            await anyio.lowlevel.checkpoint()

    def _attach(self, sub: _Subscription, job_id: int, now: float) -> None:
        key = _key(sub.scope, job_id)
        instance = self._instances.get(key)
        if instance is None:
            request = self._protocol.job_instance_status(sub.scope, job_id, with_hosts=True)
            if self.policy.poll_timeout is not None:
                request = attrs.evolve(request, timeout=self.policy.poll_timeout)
            instance = _Instance(sub.scope, job_id, request, self._known.pop(key, JobTracker()))
            self._instances[key] = instance
            self._schedule(instance, now + first_delay(self.policy, job_id))
        elif not instance.busy and instance.due > now + self.policy.interval:
            self._schedule(instance, now + first_delay(self.policy, job_id))
        instance.subscribers.append(sub)
        instance.needs_decode = True

    def _unsubscribe(self, sub: _Subscription, job_ids: Iterable[int]) -> None:
        for job_id in job_ids:
            instance = self._instances.get(_key(sub.scope, job_id))
            if instance is not None and sub in instance.subscribers:
                instance.subscribers.remove(sub)
                self._release_if_unwatched(instance)

    def _release_if_unwatched(self, instance: _Instance) -> None:
        subscribers = instance.subscribers
        for sub in subscribers:
            if sub.closed:  # a dropped watch: rebuild (rare; every poll comes through here)
                subscribers = instance.subscribers = [s for s in subscribers if not s.closed]
                break
        if subscribers or not instance.active:
            return
        instance.active = False
        del self._instances[instance.key]
        instance.due = math.inf
        self._known[instance.key] = instance.tracker
        while len(self._known) > self.policy.remember:
            self._known.popitem(last=False)

    # --- scheduling ---------------------------------------------------------------------------

    def _schedule(self, instance: _Instance, due: float) -> None:
        instance.due = due
        heapq.heappush(self._heap, (due, next(self._seq), instance))
        if self._heap[0][2] is instance and self._wakeup is not None:
            self._wakeup.set()

    def _take_due(self, now: float) -> _Instance | None:
        """Pop the earliest due job, if one is due and the rate allows sending now."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, instance = heapq.heappop(heap)
            if instance.due != due or not instance.active:
                continue  # rescheduled or unwatched since: a stale entry
            governor = self._governor
            if (governor.rate is not None or now < governor.paused_until) and not governor.take(
                now
            ):
                heapq.heappush(heap, (due, next(self._seq), instance))
                return None
            instance.due = math.inf
            instance.busy = True
            return instance
        return None

    async def _schedule_loop(self) -> None:
        """Hand due jobs to parked workers, and sleep until the next one is due.

        Busy workers take due jobs themselves (``_worker``), so under load nothing passes
        through here; the loop wakes at most once per ``_TICK``.
        """
        heap = self._heap
        while True:
            now = _monotonic()
            if self._idle and heap and heap[0][0] <= now:
                instance = self._take_due(now)
                if instance is not None:
                    slot = self._idle.pop()
                    slot.instance = instance
                    slot.ready.set()
                    continue
            if heap and heap[0][0] <= now:
                # Throttled: wait for the rate to allow more. Or no worker is free: the first
                # to park wakes us (busy ones take due jobs themselves).
                delay = max(self._governor.wait(now), _TICK) if self._idle else math.inf
            else:
                delay = max(heap[0][0] - now, _TICK) if heap else math.inf
            self._wakeup = anyio.Event()
            with anyio.move_on_after(delay):
                await self._wakeup.wait()

    async def _worker(self) -> None:
        """Poll due jobs back to back; park when none is due, for the scheduler to wake."""
        slot = _Slot()
        while True:
            instance = self._take_due(_monotonic())
            if instance is None:
                slot.ready = anyio.Event()
                self._idle.append(slot)
                if len(self._idle) == 1 and self._wakeup is not None:
                    self._wakeup.set()  # the scheduler may be waiting for a free worker
                await slot.ready.wait()
                instance, slot.instance = slot.instance, None
                if instance is None:
                    continue
            self._in_flight += 1
            try:
                await self._poll(instance)
            finally:
                self._in_flight -= 1
                instance.busy = False

    # --- one poll -----------------------------------------------------------------------------

    async def _poll(self, instance: _Instance) -> None:
        if not instance.active:  # released while a parked worker was waking up
            return None
        for sub in instance.subscribers:
            if sub.closed:  # a watch was dropped: let go of it first (and of the job, if last)
                self._release_if_unwatched(instance)
                if _released(instance):
                    return None
                break
        if instance.groups is not None:
            return await self._poll_in_groups(instance)
        self._requests += 1
        try:
            response = await self._transport.send(instance.request)
        except errors.BkJobError as exc:
            return self._failed(instance, exc)
        if _released(instance):  # its last watch left during the request
            return None
        fingerprint = body_fingerprint(response.body) if response.status == 200 else None
        if (
            fingerprint is not None
            and fingerprint == instance.fingerprint
            and not instance.needs_decode
        ):
            self._unchanged += 1
            if self._governor.rate is not None:
                self._governor.succeeded(_monotonic())
            return self._succeeded(instance, changed=False)
        try:
            data = self._protocol.decipher(instance.request, response)
            observation = observe_job(data, self._protocol.generation)
        except errors.BkJobError as exc:
            return self._failed(instance, exc)
        self._governor.succeeded(_monotonic())
        instance.fingerprint = fingerprint
        self._observed(instance, data, observation)
        if self._grouping and instance.groups is None:
            self._maybe_group(instance, observation)
        return None

    def _observed(self, instance: _Instance, data: Any, observation: JobObservation) -> None:
        events = instance.tracker.observe(
            instance.job_instance_id, observation, now_utc, self._host_result
        )
        instance.needs_decode = False
        self._deliver(instance, events, data, observation)
        if instance.active:
            self._succeeded(instance, changed=bool(events))

    # --- large steps: result groups instead of every host row ---------------------------------

    def _maybe_group(self, instance: _Instance, observation: JobObservation) -> None:
        threshold = self.policy.group_threshold or 0
        large = [s.step_instance_id for s in observation.steps if len(s.hosts or ()) > threshold]
        if large:
            instance.groups = {step_id: GroupCounts() for step_id in large}
            logger.debug(
                "job %s: following steps %s by result groups", instance.job_instance_id, large
            )

    async def _poll_in_groups(self, instance: _Instance) -> None:
        """Poll a job with large steps: the job without host rows, then only what moved.

        For each step that runs (or just changed), a large step costs one request for its group
        sizes plus one per group that grew; a small one, one request for all its hosts. When
        the job finishes, one full poll goes through the tracker too, so no final state is
        missed, and becomes the snapshot.
        """
        scope, job_id = instance.scope, instance.job_instance_id
        try:
            request = self._protocol.job_instance_status(scope, job_id, with_hosts=False)
            data = await self._fetch(instance, request)
            observation = observe_job(data, self._protocol.generation)
            for step in observation.steps:
                if self._step_moves(instance.tracker, step):
                    step.hosts = await self._step_rows(instance, step.step_instance_id)
            if observation.finished:
                data = await self._fetch(instance, instance.request)
                observation = observe_job(data, self._protocol.generation)
        except errors.BkJobError as exc:
            return self._failed(instance, exc)
        if instance.active:
            self._observed(instance, data, observation)
        return None

    @staticmethod
    def _step_moves(tracker: JobTracker, step: StepObservation) -> bool:
        if step.status == 1:  # not started: no hosts to read yet
            return False
        known = tracker.steps.get(step.step_instance_id)
        changed = known is None or (known.status, known.execute_count) != (
            step.status,
            step.execute_count,
        )
        return changed or not JobStatus(step.status).is_finished

    async def _step_rows(self, instance: _Instance, step_id: int) -> list[Any]:
        assert instance.groups is not None
        scope, job_id = instance.scope, instance.job_instance_id
        status = self._protocol.step_instance_status
        counts = instance.groups.get(step_id)
        if counts is None:
            data = await self._fetch(instance, status(scope, job_id, step_id))
            rows = observe_groups(data)[2]
            if len(rows) > (self.policy.group_threshold or 0):
                instance.groups[step_id] = GroupCounts()
            return rows
        data = await self._fetch(instance, status(scope, job_id, step_id, max_host_num_per_group=1))
        execute_count, sizes, _ = observe_groups(data)
        rows = []
        for code, tag in counts.grown(execute_count, sizes):
            group = await self._fetch(
                instance, status(scope, job_id, step_id, status=code, tag=tag)
            )
            rows += observe_groups(group)[2]
        return rows

    async def _fetch(self, instance: _Instance, request: Request) -> Any:
        """Send one request of a job's poll and return its data; raise ``BkJobError``."""
        if request is not instance.request and self.policy.poll_timeout is not None:
            request = attrs.evolve(request, timeout=self.policy.poll_timeout)
        self._count_request()
        response = await self._transport.send(request)
        data = self._protocol.decipher(request, response)
        self._governor.succeeded(_monotonic())
        return data

    def _host_result(self, key: HostKey, code: int, row: dict[str, Any]) -> HostResult:
        try:
            return self._host_hook(row, HostResult)  # type: ignore[no-any-return]
        except Exception as exc:
            logger.warning(
                "host %r: row not fully readable (%s: %s); keeping its status only",
                key,
                type(exc).__name__,
                exc,
            )
            return HostResult(_host_from_key(key), HostStatus(code))

    def _deliver(
        self, instance: _Instance, events: list[Event], data: Any, observation: JobObservation
    ) -> None:
        subscribers = [sub for sub in instance.subscribers if not sub.closed]
        self._events += len(events)
        for sub in subscribers:
            sub.offer(instance.job_instance_id, events)
        finished: JobFinished | WatchFailed | None = None
        if observation.finished:
            try:
                snapshot = self._protocol.parse(data, JobInstanceStatus)
                finished = JobFinished(
                    instance.job_instance_id, now_utc(), snapshot.job.status, snapshot
                )
            except errors.ResponseFormatError as exc:
                finished = WatchFailed(instance.job_instance_id, now_utc(), exc)
        for sub in subscribers:
            step = sub.step_instance_id
            if finished is not None and (step is None or not _step_done(instance.tracker, step)):
                sub.end_job(instance.job_instance_id, finished)
            elif step is not None and _step_done(instance.tracker, step):
                sub.end_job(instance.job_instance_id, None)
            else:
                continue
            instance.subscribers.remove(sub)
        self._release_if_unwatched(instance)

    def _succeeded(self, instance: _Instance, *, changed: bool) -> None:
        instance.failures = 0
        instance.interval, delay = next_interval(self.policy, instance.interval, changed, self._rng)
        self._schedule(instance, _monotonic() + delay)

    def _failed(self, instance: _Instance, exc: errors.BkJobError) -> None:
        self._errors[type(exc).__name__] += 1
        if not instance.active:
            return
        now = _monotonic()
        if isinstance(exc, errors.RateLimitedError):
            self._governor.throttled(now, exc.retry_after, self._observed_rate())
            return self._schedule(
                instance, self._governor.paused_until + self._rng.uniform(0, self.policy.interval)
            )
        instance.failures += 1
        permanent = isinstance(exc, errors.ApiError) and not exc.transient
        limit = self.policy.max_retries
        if permanent or (limit is not None and instance.failures > limit):
            logger.info(
                "job %s: giving up (%s: %s)", instance.job_instance_id, type(exc).__name__, exc
            )
            failed = WatchFailed(instance.job_instance_id, now_utc(), exc)
            for sub in instance.subscribers:
                sub.end_job(instance.job_instance_id, failed)
            instance.subscribers.clear()
            return self._release_if_unwatched(instance)
        self._retries += 1
        if self._budget.withdraw(now, self._requests):
            delay = error_delay(self.policy, instance.failures, self._rng)
        else:
            delay = self.policy.max_interval * (1.0 + self._rng.random() * self.policy.jitter)
        self._schedule(instance, now + delay)
        return None

    def _count_request(self) -> None:
        self._requests += 1

    def _observed_rate(self) -> float:
        """Requests per second since the last reading (kept if it was less than a second ago)."""
        now = _monotonic()
        since, count = self._rate_mark
        if now - since >= 1.0:
            self._rate = (self._requests - count) / (now - since)
            self._rate_mark = (now, self._requests)
        return self._rate

    def statistics(self) -> PollerStatistics:
        """Return a frozen snapshot of the poller's counters."""
        return PollerStatistics(
            instances_watched=len(self._instances),
            watches=self._watches,
            requests=self._requests,
            unchanged_polls=self._unchanged,
            retries=self._retries,
            errors=dict(self._errors),
            events_emitted=self._events,
            current_rate=self._observed_rate(),
            rate_limit=self._governor.rate,
            in_flight=self._in_flight,
        )


def _released(instance: _Instance) -> bool:
    """Read ``active`` afresh (after an ``await``, where type checkers assume it unchanged)."""
    return not instance.active


def _host_from_key(key: HostKey) -> Host:
    if isinstance(key, int):
        return Host(bk_host_id=key)
    cloud, ip, ipv6 = key
    return Host(
        ip=ip if isinstance(ip, str) else None,
        bk_cloud_id=cloud if isinstance(cloud, int) else None,
        ipv6=ipv6 if isinstance(ipv6, str) else None,
    )
