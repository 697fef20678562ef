"""The anyio driver: a heap of due jobs, ``max_in_flight`` workers, one poll per job; thin.

It only waits, hands jobs to the reader (``_reader``), and passes what comes back to the pure
parts: the tracker (``_tracker``), the failure policy (``_failures``), the rate governor
(``_rate``), the schedule (``_schedule``), the registry (``_registry``) and the watches
(``_watch``). Time is read from one injected clock, and every wait is an anyio timer on the
event loop's clock, the same one: so a test on a virtual-time loop runs the engine on virtual
time. No task exists per job: a job is a slotted record in a heap of due times. A worker that
finishes a poll takes the next due job itself; the scheduler only wakes parked workers and
sleeps until the next due time. A poll is thus taken only when a worker (and so a pooled
connection) is free, so pool waits never eat into a request's timeout. The ``Poller`` owns the
task group; no watch does.

Changed answers are decoded and tracked several at a time (``_BATCH``, ``_fold``): a worker
holds its answer back and goes on to the next due job, and the held answers are folded, in the
order they came, when ``_BATCH`` are held, when a worker finds nothing due, before a failed
poll is counted, and at once during an outage (so the failure policy sees answers and
failures in the order they came). An answer thus waits only while its worker has another poll
to send: under load a few milliseconds, at most one poll's timeout. The code that decodes,
tracks and delivers then runs many times in a row, warm in the processor's caches, instead of
once between two rounds of aiohttp's (``benchmarks/README.md``, "CPU per poll": a changed
poll cost 1.6x a raw GET + ``json.loads`` without it, 1.45x with it).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import random
import time
import typing
from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import attrs

from .. import errors
from .._converter import converter
from .._transport import sender
from ..config import ApiFlavor, Scope, check_id
from ..models import Host, HostKey, HostResult, HostStatus, JobInstanceStatus, JobStatus
from ._durable import STORED, decode_event, encode_event, open_jobs
from ._failures import MALFORMED_LIMIT, STALL_AFTER, Kind, Outage, classify, job_backoff
from ._rate import RateGovernor
from ._reader import Reader, Unread
from ._registry import Instance, Registry
from ._schedule import PollPolicy, RetryBudget, first_delay, min_gap, next_interval
from ._store import MemoryStore, Store, StoredWatch, StoreStatistics, UnknownWatchError, check_name
from ._tracker import JobState, from_data, observe, step_done, to_data
from ._watch import HandedOut, Watch, _Subscription, now_utc
from .events import Event, JobFinished, WatchFailed, WatchTimedOut

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from anyio.abc import TaskGroup

    from .._observe import JobObservation
    from ..client import BkJobClient

__all__ = ["Completed", "Permits", "Poller", "PollerStatistics", "Watch"]


class Permits(typing.Protocol):
    """An outside rate budget the poller asks before each poll (``Poller.permits``)."""

    async def acquire(self) -> Any:
        """Wait until one request may go; return its permit."""

    async def throttled(self, permit: Any, retry_after: float | None = None) -> Any:
        """Report that the request of ``permit`` got a throttle answer."""


logger = logging.getLogger("bkjob_async.polling")

_REGISTER_CHUNK = 500
# The scheduler never sleeps less than this: jobs due within a tick go out together.
_TICK = 0.001
#: Changed answers held back at most, to be folded together (``Poller._fold``).
_BATCH = 16


@attrs.frozen
class PollerStatistics:
    """A snapshot of what a ``Poller`` has done so far."""

    #: Jobs being polled now (each once, however many watches hold it).
    instances_watched: int
    #: Watches open now: made and not yet ended (a watch ends when its last job does, or on
    #: ``aclose()``, leaving ``async with``, or being dropped).
    watches: int
    #: Requests sent, retries and result-group reads included.
    requests: int
    #: Polls whose answer had not changed (skipped by fingerprint, never decoded).
    unchanged_polls: int
    #: Polls retried after a transient failure.
    retries: int
    #: Failed polls by error class name.
    errors: dict[str, int]
    #: Events the watches handed out to their consumers (what ``async for`` received).
    events_emitted: int
    #: Requests per second, measured over the last second or so.
    current_rate: float
    #: The rate the governor allows now (``None``: no limit in force).
    rate_limit: float | None
    #: Requests in flight now.
    in_flight: int
    #: Some watched job's polls fail with transient errors (bk-job unreachable, say).
    stalled: bool = False
    #: Events the polls observed, before each watch's filter (``events=``, a step, ended
    #: jobs) and coalescing: ``as_completed`` of 1,000 jobs observes every host's changes
    #: and hands out 1,000.
    events_observed: int = 0
    #: Polls the driver refused because they came sooner than the policy's smallest gap
    #: after the job's last poll (``min_gap``): a scheduling bug, never bk-job's doing. Each
    #: refused poll is put off until the gap has passed; the first is logged at WARNING.
    refused_polls: int = 0
    #: The state store's writes and health (``healthy is False``: writes fail, the poller
    #: goes on from memory and the store retries; see ``StoreStatistics``).
    store: StoreStatistics | None = None


class _Slot:
    """A parked worker: the scheduler puts a job in ``instance`` and sets ``ready``."""

    __slots__ = ("instance", "ready")

    def __init__(self) -> None:
        self.instance: Instance | None = None
        self.ready = anyio.Event()


def _loop_clock() -> Callable[[], float]:
    """Return the running event loop's clock, which anyio's timers use too.

    On asyncio's own loops that is ``time.monotonic``, called directly (it is cheaper).
    """
    loop = asyncio.get_running_loop()
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic
    return loop.time


class Poller:
    """Watch many bk-job jobs at once, sharing one poll per job among all its watches.

    ::

        async with Poller(client, policy=PollPolicy(interval=1.0)) as poller:
            async for event in poller.watch_jobs(scope, job_ids):
                ...

    A watch delivers every change the poller observes after it starts; a job the poller has
    never seen reports every host, step and the job with ``previous=None`` first. An exception
    raised in the body of ``async with`` propagates as itself; errors of the poller's own tasks
    (bugs, not bk-job failures) propagate as an ``ExceptionGroup``.

    ``clock`` is the monotonic clock the engine reads (default: the event loop's); it must be
    the clock of the loop's timers, as on a virtual-time test loop.
    """

    def __init__(
        self,
        client: BkJobClient,
        *,
        policy: PollPolicy = PollPolicy(),
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        store: Store | None = None,
    ) -> None:
        if not isinstance(policy, PollPolicy):
            raise TypeError("policy must be a PollPolicy")
        if store is not None and not isinstance(store, Store):
            raise TypeError(f"store must be a Store, not {type(store).__name__}")
        if policy.max_in_flight > client.connection_limit:
            raise ValueError(
                f"policy.max_in_flight ({policy.max_in_flight}) exceeds the client's connection "
                f"limit ({client.connection_limit}); polls would queue for connections"
            )
        self.client = client
        self.policy = policy
        self._protocol = client.protocol
        self._rng = rng or random.Random()
        #: Where named watches live. The caller opens and closes a store it passes in; the
        #: poller opens and closes only its own default ``MemoryStore``.
        self.store: Store = MemoryStore() if store is None else store
        self._own_store = store is None
        #: Named watches open in this poller, by name (``None``: being opened).
        self._named: dict[str, _Subscription | None] = {}
        self._clock_arg = clock
        self._clock: Callable[[], float] = clock or time.monotonic
        self._host_hook = converter(
            self._protocol.generation, self._protocol.server_tz
        ).get_structure_hook(HostResult)
        self._registry = Registry(policy.remember, self._released)
        self._heap: list[tuple[float, int, Instance]] = []
        #: Answers held back to be folded together: (job, answer, sent at, permit).
        self._held: list[tuple[Instance, Any, float, Any]] = []
        self._seq = itertools.count()
        self._governor = RateGovernor(policy.rate_limit)
        self._outage = Outage(policy.max_interval, hold=(policy.poll_timeout or 30.0) + 1.0)
        self._budget = RetryBudget(policy.retry_budget)
        self._gap = min_gap(policy)
        self._refused = 0
        # The engine's one request path: the client's ``send_once`` seam, through the reader.
        self._reader = Reader(
            self._protocol,
            sender(client.transport, self._protocol),
            policy,
            self._governor,
            self._now,
            grouping=policy.group_threshold is not None and client.flavor is ApiFlavor.APIGW_V3,
        )
        self._tg: TaskGroup | None = None
        self._wakeup: anyio.Event | None = None
        self._idle: list[_Slot] = []
        self._snapshot_limiter = anyio.CapacityLimiter(policy.max_in_flight)
        self._open: set[_Subscription] = set()
        self._answers = 0
        self._retries = 0
        self._events = 0
        self._handed_out = HandedOut()
        self._in_flight = 0
        self._stalled = 0
        self._last_answer = 0.0
        self._outage_error: errors.BkJobError | None = None
        self._errors: Counter[str] = Counter()
        self._rate_mark = (0.0, 0)
        self._rate = 0.0
        #: Seams for ``bkjob_async.cluster``'s worker (``None``: unused); set before entering.
        #: ``seed(scope, job)``: the tracker state to start a newly watched job from.
        self.seed: Callable[[Scope, int], JobState | None] | None = None
        #: ``on_change(scope, job, state, events, last)``: called on every poll that changed
        #: something, with the new state, its events, and the job's last event if it ended;
        #: and when a job fails for good, with no events and its ``WatchFailed`` as ``last``.
        self.on_change: Callable[[Scope, int, JobState, list[Event], Event | None], None] | None
        self.on_change = None
        #: ``permits``: an outside rate budget; ``await permits.acquire()`` before each poll,
        #: ``permits.throttled(permit, retry_after)`` (in the background) on a throttle answer.
        self.permits: Permits | None = None

    def _now(self) -> float:
        return self._clock()

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Poller:
        if self._tg is not None:
            raise RuntimeError("a Poller can be entered only once")
        if self._clock_arg is None:
            self._clock = _loop_clock()
        if self._own_store:
            await self.store.open()
        now = self._clock()
        self._last_answer = now
        self._rate_mark = (now, 0)
        self._governor.start(now)
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
        self._registry.close()
        self._heap.clear()
        self._tg.cancel_scope.cancel()
        try:
            if exc is None or not isinstance(exc, Exception):
                return await self._tg.__aexit__(exc_type, exc, tb)
            # The body raised: let its exception out as itself, not in an ExceptionGroup. The
            # task group only has its own (cancelled) tasks left to wait for.
            await self._tg.__aexit__(None, None, None)
            return None
        finally:
            if self._own_store:
                await self.store.aclose()

    def _task_group(self) -> TaskGroup:
        if self._tg is None or self._tg.cancel_scope.cancel_called:
            raise RuntimeError("use the Poller inside 'async with Poller(...) as poller:'")
        return self._tg

    # --- watching -----------------------------------------------------------------------------

    def watch_job(self, scope: Scope, job_instance_id: int) -> Watch:
        """Watch one job until ``JobFinished`` (or ``WatchTimedOut``); failures raise."""
        return self._watch(scope, (check_id(job_instance_id, "job_instance_id"),), None, True)

    def watch_jobs(
        self,
        scope: Scope,
        job_instance_ids: Iterable[int],
        *,
        events: Iterable[type[Event]] | None = None,
        name: str | None = None,
    ) -> Watch:
        """Watch many jobs on one stream; a job that cannot be watched yields ``WatchFailed``.

        ``events`` keeps only events of those classes (``events=(HostTransition, JobFinished)``,
        say); a job still ends on the watch when its last event comes, delivered or not. The
        watch can take and drop jobs while it runs (``add``, ``remove``).

        ``name`` makes the watch durable: its jobs, their states and the events not yet
        delivered live in the poller's ``store`` under that name, and ``resume(name)`` reopens
        it after a restart. A name already stored is extended: its jobs are watched too, from
        their stored states, and its undelivered events come first. The store is read in the
        background before the first poll; a store that cannot be read raises its error from
        the watch's first ``__anext__``. See ``bkjob_async.polling`` for the delivery contract.
        """
        ids, kinds = _ids(job_instance_ids), _kinds(events)
        if name is None:
            return self._watch(scope, ids, None, False, kinds)
        return self._watch(scope, ids, None, False, kinds, self._claim(name))

    async def resume(self, name: str, *, events: Iterable[type[Event]] | None = None) -> Watch:
        """Reopen the named watch ``name`` from the store, after a restart say.

        Its undelivered events come first (same ids, same order), then every job that had not
        finished is polled again from its stored state: a host that went 7 -> 9 meanwhile
        yields one ``7 -> 9``.

        :raises UnknownWatchError: the store holds no watch of that name (never created, or
            ended: a named watch is dropped from the store once all its events are delivered).
        :raises StoreError: the store cannot be read.
        """
        kinds = _kinds(events)
        self._task_group()
        claimed = self._claim(name)
        try:
            stored = await self.store.load(claimed)
            if stored is None:
                raise UnknownWatchError(f"no watch named {name!r} in {self.store!r}")
            if not stored.jobs:
                self.store.drop(claimed)
                raise UnknownWatchError(f"the watch {name!r} holds no job any more")
        except BaseException:
            self._named.pop(claimed, None)
            raise
        scope = next(iter(stored.jobs))[0]
        return self._watch(scope, (), None, False, kinds, claimed, stored)

    def _claim(self, name: str) -> str:
        """Reserve ``name`` for a watch being opened (one open watch per name and poller)."""
        name = check_name(name)
        if name in self._named:
            held = self._named[name]
            if held is None or not held.closed:
                raise RuntimeError(f"the watch {name!r} is open already in this poller")
        self._named[name] = None
        return name

    def as_completed(self, scope: Scope, job_instance_ids: Iterable[int]) -> Completed:
        """Yield each job's final ``JobInstanceStatus`` as it finishes, in finishing order.

        Polls are shared with every other watch of the same jobs. A job that cannot be watched
        raises its error (``NotFoundError``, say) and ends the iteration; so does the policy's
        ``deadline`` (``PollingError``). Use ``watch_jobs`` to go on past failures::

            async with poller.as_completed(scope, ids) as finished:
                async for status in finished:
                    ...
        """
        watch = self.watch_jobs(scope, job_instance_ids, events=_FINAL_EVENTS)
        return Completed(watch)

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

    def _watch(
        self,
        scope: Scope,
        ids: tuple[int, ...],
        step: int | None,
        single: bool,
        kinds: frozenset[type] | None = None,
        name: str | None = None,
        stored: StoredWatch | None = None,
    ) -> Watch:
        try:
            if not isinstance(scope, Scope):
                raise TypeError(f"scope must be a Scope, not {type(scope).__name__}")
            scope.params(self._protocol.flavor)
            tg = self._task_group()
        except BaseException:
            if name is not None:
                self._named.pop(name, None)
            raise
        sub = _Subscription(
            scope, ids, step, self.policy.buffer_size, kinds, name, self._handed_out
        )
        if name is None:
            tg.start_soon(self._subscribe, sub, ids)
        elif stored is not None:
            try:
                self._restore(sub, stored)
            except BaseException:
                self._named.pop(name, None)
                raise
            self._named[name] = sub
            tg.start_soon(self._subscribe, sub, sub.job_instance_ids)
        else:
            self._named[name] = sub
            tg.start_soon(self._open_named, sub, name, ids)
        self._open.add(sub)
        return Watch(
            sub,
            single=single,
            deadline=self.policy.deadline,
            leave=self._unsubscribe,
            snapshot=self._snapshot,
            join=None if single else self._subscribe,
            check_ids=None if single else _ids,
            store=self.store if name is not None else None,
        )

    # --- named watches ------------------------------------------------------------------------

    async def _open_named(self, sub: _Subscription, name: str, ids: tuple[int, ...]) -> None:
        """Load (or create) a named watch, make its job set durable, then poll its jobs."""
        store = self.store
        try:
            stored = await store.load(name)
            if stored is not None:
                self._restore(sub, stored)
                new = sub.add(ids)
            else:
                new = ids
            if new:
                await store.wait_settled(store.add_jobs(name, [(sub.scope, i) for i in new]))
        except Exception as exc:  # a StoreError, or stored data this version cannot read
            logger.error("watch %r: cannot open it in %r (%s)", name, store, exc)
            sub.fail(exc)
            return
        await self._subscribe(sub, sub.job_instance_ids)

    def _restore(self, sub: _Subscription, stored: StoredWatch) -> None:
        """Give ``sub`` a stored watch's jobs, states and pending events (queued first)."""
        ids: list[int] = []
        seeds: dict[int, Any] = {}
        for (scope, job_id), data in stored.jobs.items():
            if scope != sub.scope:
                raise errors.StoreError(
                    f"the watch {stored.name!r} holds jobs of {scope}, not only of {sub.scope}"
                )
            ids.append(job_id)
            if data is not None:
                seeds[job_id] = from_data(data)
        events = [decode_event(e.payload, self._protocol) for e in stored.pending]
        ended = set(ids) - set(open_jobs(stored))
        sub.job_instance_ids = tuple(dict.fromkeys((*ids, *sub.job_instance_ids)))
        sub.remaining = set(sub.job_instance_ids) - ended
        sub.seeds = seeds
        for event in events:
            if isinstance(event, JobFinished):
                # Its job ends when it is delivered: put it as the job's last event.
                sub.end_job(event.job_instance_id, event)
            else:
                sub.mailbox.put(event)

    async def _snapshot(self, scope: Scope, job_id: int) -> JobInstanceStatus | None:
        """Read a job's whole status now (a timed-out watch's last word); ``None`` on failure."""
        async with self._snapshot_limiter:
            try:
                return await self.client.get_job_instance_status(scope, job_id)
            except errors.BkJobError:
                return None

    async def _subscribe(self, sub: _Subscription, ids: tuple[int, ...]) -> None:
        """Attach ``sub`` to jobs in chunks, so a huge watch never stalls the loop."""
        for start in range(0, len(ids), _REGISTER_CHUNK):
            if sub.closed:
                return
            now = self._clock()
            for job_id in ids[start : start + _REGISTER_CHUNK]:
                if job_id in sub.remaining:
                    self._attach(sub, job_id, now)
            await anyio.lowlevel.checkpoint()
        sub.seeds = None

    def _attach(self, sub: _Subscription, job_id: int, now: float) -> None:
        reader = self._reader
        seeds = sub.seeds
        instance, created = self._registry.attach(
            sub,
            job_id,
            lambda: reader.request(sub.scope, job_id),
            None if seeds is None else seeds.get(job_id),
        )
        if created and self.seed is not None:
            seeded = self.seed(sub.scope, job_id)
            if seeded is not None:
                instance.state = seeded
        if created or (not instance.busy and instance.due > now + self.policy.interval):
            due = now + first_delay(self.policy, job_id)
            self._schedule(instance, max(due, instance.sent + self._gap))
        if instance.stalled is not None:
            error = instance.error or self._outage_error
            if error is not None:
                sub.stall(job_id, instance.stalled, error)
        elif self._outage.down and self._outage_error is not None:
            self._stall(instance, self._outage_error)  # watched during an outage

    def _unsubscribe(self, sub: _Subscription, job_ids: Iterable[int]) -> None:
        self._registry.detach(sub, job_ids)

    def _released(self, instance: Instance) -> None:
        if instance.stalled is not None:
            instance.stalled = None
            self._stalled -= 1

    # --- scheduling ---------------------------------------------------------------------------

    def _schedule(self, instance: Instance, due: float) -> None:
        instance.due = due
        heapq.heappush(self._heap, (due, next(self._seq), instance))
        if self._heap[0][2] is instance and self._wakeup is not None:
            self._wakeup.set()

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _may_send(self, now: float) -> bool:
        """Ask the governor and the outage whether a poll may go now (only when either acts)."""
        outage = self._outage
        if outage.down_since is not None and outage.wait(now) > 0.0:
            return False
        governor = self._governor
        if (governor.rate is not None or now < governor.paused_until) and not governor.take(now):
            return False
        return outage.allows(now)

    def _take_due(self, now: float) -> Instance | None:
        """Pop the earliest due job, if one is due and polls may go now."""
        heap, gap = self._heap, self._gap
        while heap and heap[0][0] <= now:
            due, _, instance = heapq.heappop(heap)
            if instance.due != due or not instance.active:
                continue  # rescheduled or unwatched since: a stale entry
            if now < instance.sent + gap:
                self._refuse(instance, now)
                continue
            governor = self._governor
            if (
                governor.rate is not None
                or now < governor.paused_until
                or self._outage.down_since is not None
            ) and not self._may_send(now):
                heapq.heappush(heap, (due, next(self._seq), instance))
                return None
            instance.due = math.inf
            instance.busy = True
            instance.sent = now
            return instance
        return None

    def _refuse(self, instance: Instance, now: float) -> None:
        """Put off a poll that came too soon after the job's last one, and count it.

        The schedule never asks for one (``min_gap``): whatever asks is a bug, and this keeps
        it from becoming a flood of requests against bk-job.
        """
        self._refused += 1
        if self._refused == 1:
            logger.warning(
                "job %s: a poll was due %.3f s after the last one, sooner than the policy allows "
                "(%.3f s); putting it off (counted in statistics().refused_polls)",
                instance.job_instance_id,
                now - instance.sent,
                self._gap,
            )
        self._schedule(instance, instance.sent + self._gap)

    def _hold(self, now: float) -> float:
        """Return how long the governor or the outage holds due polls back."""
        return max(self._governor.wait(now), self._outage.wait(now), _TICK)

    async def _schedule_loop(self) -> None:
        """Hand due jobs to parked workers, and sleep until the next one is due.

        Busy workers take due jobs themselves (``_worker``), so under load nothing passes
        through here; the loop wakes at most once per ``_TICK``.
        """
        heap = self._heap
        while True:
            now = self._clock()
            if self._idle and heap and heap[0][0] <= now:
                instance = self._take_due(now)
                if instance is not None:
                    slot = self._idle.pop()
                    slot.instance = instance
                    slot.ready.set()
                    continue
            if heap and heap[0][0] <= now:
                # Held back (rate, outage): wait until polls may go. Or no worker is free: the
                # first to park wakes us (busy ones take due jobs themselves).
                delay = self._hold(now) if self._idle else math.inf
            else:
                delay = max(heap[0][0] - now, _TICK) if heap else math.inf
            self._wakeup = anyio.Event()
            with anyio.move_on_after(delay):
                await self._wakeup.wait()

    async def _worker(self) -> None:
        """Poll due jobs back to back; park when none is due, for the scheduler to wake."""
        slot = _Slot()
        clock = self._clock
        read = self._reader.read
        while True:
            sent_at = clock()
            instance = self._take_due(sent_at)
            if instance is None and self._held:
                self._fold()  # nothing due: no answer waits for more to come
                sent_at = clock()
                instance = self._take_due(sent_at)
            if instance is None:
                slot.ready = anyio.Event()
                self._idle.append(slot)
                if len(self._idle) == 1 and self._wakeup is not None:
                    self._wakeup.set()  # the scheduler may be waiting for a free worker
                await slot.ready.wait()
                instance, slot.instance = slot.instance, None
                if instance is None:
                    continue
                sent_at = clock()
            if not self._still_watched(instance):
                instance.busy = False
                continue
            permit = None
            if self.permits is not None:
                permit = await self.permits.acquire()
                sent_at = clock()
            self._in_flight += 1
            held = False
            try:
                result = await read(instance)
            except errors.BkJobError as exc:
                if self._held:  # answers that came before this failure count first
                    self._fold()
                self._poll_failed(instance, exc, sent_at, permit)
            else:
                if instance.active:
                    if result is None:
                        self._answered(instance, changed=False)
                    else:  # held back, the job busy until folded
                        self._held.append((instance, result, sent_at, permit))
                        held = True
            finally:
                self._in_flight -= 1
                if not held:
                    instance.busy = False
            if held and (len(self._held) >= _BATCH or self._outage.down_since is not None):
                self._fold()  # (during an outage every answer counts at once: it may end it)

    def _fold(self) -> None:
        """Decode and track the answers held back, in the order they came."""
        held, self._held = self._held, []
        finish = self._reader.finish
        for instance, result, sent_at, permit in held:
            try:
                if not instance.active:  # released while held
                    continue
                if type(result) is Unread:
                    try:
                        result = finish(instance, result)
                    except errors.BkJobError as exc:
                        self._poll_failed(instance, exc, sent_at, permit)
                        continue
                data, observation = result
                self._observed(instance, data, observation, sent_at)
            finally:
                instance.busy = False

    def _poll_failed(
        self, instance: Instance, exc: errors.BkJobError, sent_at: float, permit: Any
    ) -> None:
        if permit is not None and classify(exc) is Kind.THROTTLED:
            retry_after = getattr(exc, "retry_after", None)
            self._task_group().start_soon(self._throttled, permit, retry_after)
        self._failed(instance, exc, sent_at)

    async def _throttled(self, permit: object, retry_after: float | None) -> None:
        if self.permits is not None:
            try:
                await self.permits.throttled(permit, retry_after)
            except Exception as exc:  # the budget's own outage: the local governor still acts
                logger.warning("could not report a throttle answer to the rate budget: %s", exc)

    def _still_watched(self, instance: Instance) -> bool:
        if not instance.active:  # released while a parked worker was waking up
            return False
        for sub in instance.subscribers:
            if sub.closed:  # a watch was dropped: let go of it first (and of the job, if last)
                self._registry.release_if_unwatched(instance)
                return instance.active
        return True

    # --- outcomes of one poll -----------------------------------------------------------------

    def _answered(self, instance: Instance, *, changed: bool) -> None:
        """Count an unchanged answer and schedule the job's next poll."""
        now = self._count_answer(instance)
        if instance.active:  # (inlined: every unchanged poll comes here)
            instance.interval, delay = next_interval(
                self.policy, instance.interval, changed, self._rng
            )
            self._schedule(instance, now + delay)

    def _observed(
        self, instance: Instance, data: Any, observation: JobObservation, sent_at: float
    ) -> None:
        snapshot = None
        if observation.finished:  # the last word must be readable and whole, or it is none
            try:
                snapshot = _final_snapshot(self._protocol.parse(data, JobInstanceStatus))
            except errors.ResponseFormatError as exc:
                instance.fingerprint = None  # the same answer again is not "unchanged"
                return self._failed(instance, exc, sent_at)
        old = instance.state
        instance.state, events = observe(
            old, instance.job_instance_id, observation, now_utc, self._host_result
        )
        instance.needs_decode = False
        if instance.state is old:
            # The answer looked changed but nothing in it was: maybe a request id where the
            # reused places do not look. Search the next answer whole (``body_fingerprint``).
            instance.cuts = ()
        # Counted before delivery: an answer that ends the job's last watch is an answer too
        # (the rate governor grows on answers, the outage ends on one).
        now = self._count_answer(instance)
        self._deliver(instance, events, data, snapshot, instance.state is not old)
        if instance.active:
            self._schedule_next(instance, now, bool(events))
        return None

    def _count_answer(self, instance: Instance) -> float:
        """Count an answer from bk-job for the rate governor and the failure policy."""
        now = self._clock()
        self._answers += 1
        self._last_answer = now
        governor = self._governor
        if now >= governor.sample_due:
            governor.sample(now, self._reader.requests, self._answers)
        if governor.rate is not None:
            governor.succeeded(now)
        if instance.failures or instance.stalled or self._outage.down_since is not None:
            self._recovered(instance, now)
        return now

    def _schedule_next(self, instance: Instance, now: float, changed: bool) -> None:
        instance.interval, delay = next_interval(self.policy, instance.interval, changed, self._rng)
        self._schedule(instance, now + delay)

    def _recovered(self, instance: Instance, now: float) -> None:
        """A job answered after failing: end its stall, and the outage if there was one."""
        instance.failures = instance.malformed = 0
        instance.error = None
        if self._outage.succeeded():
            self._outage_error = None
            logger.info("bk-job answers again; polling every job again")
            self._rephase(now)
        if instance.stalled is not None:
            since, instance.stalled = instance.stalled, None
            self._stalled -= 1
            stamp = now_utc()
            for sub in instance.subscribers:
                sub.resume(instance.job_instance_id, stamp, since)

    def _failed(self, instance: Instance, exc: errors.BkJobError, sent_at: float) -> None:
        self._errors[type(exc).__name__] += 1
        if not instance.active:
            return
        now = self._clock()
        kind = classify(exc)
        if kind is Kind.THROTTLED:
            # bk-job (or its gateway) answered: not an outage, a signal to slow down.
            governor = self._governor
            if now >= governor.sample_due:
                governor.sample(now, self._reader.requests, self._answers)
            governor.throttled(now, sent_at, self._answers, requests=self._reader.requests)
            if instance.failures or instance.stalled or self._outage.down_since is not None:
                self._recovered(instance, now)
            self._wake()
            start = max(now, governor.paused_until, instance.sent + self._gap)
            return self._schedule(instance, start + self._rng.uniform(0, self.policy.interval))
        if kind is Kind.PERMANENT:
            if instance.failures or instance.stalled or self._outage.down_since is not None:
                self._recovered(instance, now)
            return self._give_up(instance, exc)
        if kind is Kind.MALFORMED:
            instance.malformed += 1
            if instance.malformed >= MALFORMED_LIMIT:
                return self._give_up(instance, exc)
        self._retries += 1
        instance.failures += 1
        instance.error = exc
        if instance.failures >= STALL_AFTER and instance.stalled is None:
            self._stall(instance, exc)
        if self._outage.failed(now, self._last_answer, self._rng):
            logger.warning(
                "bk-job cannot be reached (%s: %s); probing it every %g s at most",
                type(exc).__name__,
                exc,
                self.policy.max_interval,
            )
            self._outage_error = exc
            for other in self._registry.instances.values():
                if other.stalled is None:
                    self._stall(other, exc)
        self._wake()
        if self._budget.withdraw(now, self._reader.requests):
            delay = job_backoff(
                instance.failures, self.policy.interval, self.policy.max_interval, self._rng
            )
        else:
            delay = self.policy.max_interval * (1.0 + self._rng.random() * self.policy.jitter)
        self._schedule(instance, now + delay)
        return None

    def _stall(self, instance: Instance, exc: errors.BkJobError) -> None:
        since = now_utc()
        instance.stalled = since
        self._stalled += 1
        for sub in instance.subscribers:
            sub.stall(instance.job_instance_id, since, exc)

    def _give_up(self, instance: Instance, exc: errors.BkJobError) -> None:
        logger.info("job %s: giving up (%s: %s)", instance.job_instance_id, type(exc).__name__, exc)
        failed = WatchFailed(
            instance.job_instance_id, now_utc(), exc, occurrence=instance.state.seq
        )
        for sub in instance.subscribers:
            sub.end_job(instance.job_instance_id, failed)
        instance.subscribers.clear()
        if self.on_change is not None:
            self.on_change(instance.scope, instance.job_instance_id, instance.state, [], failed)
        self._registry.release_if_unwatched(instance)

    def _rephase(self, now: float) -> None:
        """After an outage, poll every job again within one interval, spread by its phase."""
        policy = self.policy
        spread = min(1.0, policy.max_interval * policy.jitter / policy.interval)
        heap = []
        for instance in self._registry.instances.values():
            if not instance.busy:
                due = now + spread * first_delay(policy, instance.job_instance_id)
                due = max(due, instance.sent + self._gap)
                instance.due = due
                heap.append((due, next(self._seq), instance))
        heapq.heapify(heap)
        self._heap[:] = heap
        self._wake()

    # --- delivery -----------------------------------------------------------------------------

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
        self,
        instance: Instance,
        events: list[Event],
        data: Any,
        snapshot: JobInstanceStatus | None,
        changed: bool = True,
    ) -> None:
        """Hand ``events`` to the job's watches; ``snapshot``: the job has ended so."""
        subscribers = tuple(instance.subscribers)  # (closed ones are skipped below)
        self._events += len(events)
        finished: JobFinished | None = None
        if snapshot is not None:
            finished = JobFinished(
                instance.job_instance_id,
                now_utc(),
                snapshot.job.status,
                snapshot,
                occurrence=instance.state.seq,
            )
        for sub in subscribers:
            if sub.closed:
                continue
            if sub.name is not None and changed:
                self._commit(sub, instance, events, finished, data)
            sub.offer(instance.job_instance_id, events)
        state = instance.state
        for sub in subscribers:
            if sub.closed:
                continue
            step = sub.step_instance_id
            if finished is not None and (step is None or not step_done(state, step)):
                sub.end_job(instance.job_instance_id, finished)
            elif step is not None and step_done(state, step):
                sub.end_job(instance.job_instance_id, None)
            else:
                continue
            instance.subscribers.remove(sub)
        if self.on_change is not None and (events or finished is not None):
            self.on_change(instance.scope, instance.job_instance_id, state, events, finished)
        self._registry.release_if_unwatched(instance)

    def _commit(
        self,
        sub: _Subscription,
        instance: Instance,
        events: list[Event],
        finished: JobFinished | WatchFailed | None,
        data: Any,
    ) -> None:
        """Store a named watch's new state and events in one transaction, before delivery."""
        job_id = instance.job_instance_id
        if job_id not in sub.remaining:
            return
        wanted = sub.wanted(job_id, events)
        if isinstance(finished, JobFinished):
            wanted = [*wanted, finished]
        records = [
            (e.event_id, encode_event(e, data if isinstance(e, JobFinished) else None))
            for e in wanted
            if isinstance(e, STORED)
        ]
        assert sub.name is not None
        try:
            ticket = self.store.commit(
                sub.name, (instance.scope, job_id), to_data(instance.state), records
            )
        except errors.StoreError as exc:  # the store is closed: the poller is leaving
            logger.warning("watch %r: job %s not stored (%s)", sub.name, job_id, exc)
            return
        if not self.store.settled(ticket):
            sub.ticket = ticket

    # --- statistics ---------------------------------------------------------------------------

    def _observed_rate(self) -> float:
        """Requests per second since the last reading (kept if it was less than a second ago)."""
        now = self._clock()
        since, count = self._rate_mark
        requests = self._reader.requests
        if now - since >= 1.0:
            self._rate = (requests - count) / (now - since)
            self._rate_mark = (now, requests)
        return self._rate

    def _open_watches(self) -> int:
        self._open = {sub for sub in self._open if not sub.closed}
        return len(self._open)

    @property
    def _requests(self) -> int:
        return self._reader.requests

    def statistics(self) -> PollerStatistics:
        """Return a frozen snapshot of the poller's counters."""
        return PollerStatistics(
            instances_watched=len(self._registry),
            watches=self._open_watches(),
            requests=self._reader.requests,
            unchanged_polls=self._reader.unchanged,
            retries=self._retries,
            errors=dict(self._errors),
            events_emitted=self._handed_out.events,
            events_observed=self._events,
            current_rate=self._observed_rate(),
            rate_limit=self._governor.rate,
            in_flight=self._in_flight,
            stalled=self._outage.down or self._stalled > 0,
            refused_polls=self._refused,
            store=self.store.statistics(),
        )


def _ids(job_instance_ids: Iterable[int]) -> tuple[int, ...]:
    """Check job ids (before anything is sent) and drop repeats, keeping their order."""
    if isinstance(job_instance_ids, (str, bytes)):
        raise TypeError("job_instance_ids must be an iterable of ints, not a string")
    return tuple(dict.fromkeys(check_id(i, "job_instance_id") for i in job_instance_ids))


_EVENT_CLASSES = frozenset(typing.get_args(Event))
_FINAL_EVENTS = (JobFinished, WatchFailed, WatchTimedOut)


def _kinds(events: Iterable[type[Event]] | None) -> frozenset[type] | None:
    """Check an ``events=`` filter: event classes of this package, at least one."""
    if events is None:
        return None
    kinds = frozenset(events)
    unknown = [k for k in kinds if k not in _EVENT_CLASSES]
    if unknown or not kinds:
        names = ", ".join(sorted(c.__name__ for c in _EVENT_CLASSES))
        raise TypeError(
            f"events must name event classes ({names}), got {sorted(map(repr, unknown))}"
        )
    return kinds


class Completed:
    """What ``Poller.as_completed`` returns: final statuses in finishing order.

    An async iterator; ``aclose()`` (or leaving ``async with``) stops watching.
    """

    def __init__(self, watch: Watch) -> None:
        self._watch = watch

    def __aiter__(self) -> Completed:
        return self

    async def __anext__(self) -> JobInstanceStatus:
        event = await self._watch.__anext__()
        if isinstance(event, JobFinished):
            return event.snapshot
        await self._watch.aclose()
        if isinstance(event, WatchFailed):
            raise event.error
        raise errors.PollingError(f"job {event.job_instance_id}: the watch deadline passed")

    @property
    def unfinished(self) -> frozenset[int]:
        """Jobs whose final status has not come yet."""
        return self._watch.unfinished

    async def aclose(self) -> None:
        """Stop watching the jobs that have not finished."""
        await self._watch.aclose()

    async def __aenter__(self) -> Completed:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _final_snapshot(snapshot: JobInstanceStatus) -> JobInstanceStatus:
    """Return ``snapshot`` if it can be a job's last word; raise ``ResponseFormatError``.

    bk-job sets ``finished`` from the job's status (spec §4): ``finished`` beside a known
    status that is not final (2, running, say) is a corrupted answer, not the job's end.
    """
    status = snapshot.job.status
    if not status.is_finished and status in _KNOWN_STATUSES:
        raise errors.ResponseFormatError(
            f"the server sent finished=true for job {snapshot.job.job_instance_id} in status "
            f"{status!r}, which is not final"
        )
    return snapshot


_KNOWN_STATUSES = frozenset(JobStatus)


def _host_from_key(key: HostKey) -> Host:
    if isinstance(key, int):
        return Host(bk_host_id=key)
    cloud, ip, ipv6 = key
    return Host(
        ip=ip if isinstance(ip, str) else None,
        bk_cloud_id=cloud if isinstance(cloud, int) else None,
        ipv6=ipv6 if isinstance(ipv6, str) else None,
    )
