"""Rule: the ``Poller`` polls nothing itself and holds no policy: it assembles, attaches, counts.

Here are the ``Poller`` (lifecycle, watches, named watches, ``follow``), how its parts are put
together, how subscriptions attach to the driver's jobs in slices, named watches from its
store, and its statistics. The ``Poller`` polls nothing itself: ``_driver.Driver`` polls the jobs its watches hold and
applies what ``_decide.decide`` returns, and ``_delivery.Dispatcher`` hands events to the
watches. The ``Poller`` makes watches, opens and restores named ones from its store, and owns
the task group every task of the poller runs in.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Literal

import anyio
import attrs

from .. import errors
from .._checks import check_bool
from .._transport import sender
from ..config import ApiFlavor, Scope, check_id
from ..models.enums import check_success
from ._codec import decode_event, from_data, open_jobs
from ._decide import Rules
from ._delivery import Dispatcher, Journal, StoreJournal
from ._driver import Driver, loop_clock
from ._jobs import Registry
from ._policy import PollPolicy
from ._rate import RateGovernor
from ._reader import Reader
from ._subscription import HandedOut, _Subscription
from ._tap import History, Tap, past
from ._turn import Pace
from ._watch import _FINAL_EVENTS, Completed, Snapshots, Watch, _ids, _kinds
from ._workers import Permits
from .events import (
    ContainerTransition,
    Event,
    HostTransition,
    JobFinished,
    WatchTimedOut,
    now_utc,
)
from .logs import LogText, follow_logs
from .stores import Store, StoredWatch, StoreStatistics, UnknownWatchError, check_name
from .stores.memory import MemoryStore

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
    from types import TracebackType

    from anyio.abc import TaskGroup

    from .._protocol import Protocol
    from ..client import BkJobClient
    from ..models import Host, JobInstanceStatus
    from ._delivery import Journal
    from ._tap import Sink
    from ._workers import Permits
    from .callbacks import Callback
    from .rollouts import Rollout
    from .stores import StoredWatch

__all__ = ["Completed", "Poller", "PollerStatistics", "Watch"]


# --- statistics ----------------------------------------------------------------------------------
#
# What a ``Poller`` has done so far, as one frozen snapshot (``Poller.statistics()``).


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
    #: bk-job itself cannot be reached (an outage: the watches heard ``PollingStalled``).
    stalled: bool = False
    #: Events the polls observed, before each watch's filter (``events=``, a step, ended
    #: jobs) and coalescing: ``as_completed`` of 1,000 jobs observes every host's changes
    #: and hands out 1,000.
    events_observed: int = 0
    #: Polls the driver refused because they came sooner than the policy's smallest gap
    #: after the job's last poll (``min_gap``): a scheduling bug, never bk-job's doing. Each
    #: refused poll is put off until the gap has passed; the first is logged at WARNING.
    refused_polls: int = 0
    #: Polls a callback brought forward (``Poller.hint``).
    hinted_polls: int = 0
    #: Whether bk-job's job list stands for the polls of end-only waits (``False`` on ESB v2,
    #: which has no job list), the jobs it follows now, and its requests so far (pages).
    census: bool = False
    census_jobs: int = 0
    census_requests: int = 0
    #: The state store's writes and health (``healthy is False``: writes fail, the poller
    #: goes on from memory and the store retries; see ``StoreStatistics``).
    store: StoreStatistics | None = None
    #: Jobs whose reads fail alone now (bk-job answers others; ``JobPollFailing``).
    failing_jobs: int = 0
    #: Failed polls so far, by whose they were: one job's (a malformed answer, a read that
    #: timed out while others were answered, an error code), or bk-job's (no connection, a
    #: 5xx, a timeout while nothing answered). Throttles are neither (``errors`` has them).
    job_failures: int = 0
    server_failures: int = 0


def collect(driver: Driver, **poller: Any) -> PollerStatistics:
    """Return the counters of ``driver``, with the ``poller``'s own (watches, store)."""
    census = driver.census
    return PollerStatistics(
        instances_watched=len(driver.registry),
        requests=driver.reader.requests,
        unchanged_polls=driver.reader.unchanged,
        retries=driver.retries,
        errors=dict(driver.errors),
        events_observed=driver.delivery.events,
        rate_limit=driver.governor.rate,
        in_flight=driver.workers.in_flight,
        stalled=driver.health.server.down,
        failing_jobs=driver.registry.failing,
        job_failures=driver.job_failures,
        server_failures=driver.server_failures,
        refused_polls=driver.due.refused,
        hinted_polls=driver.hints,
        census=census is not None,
        census_jobs=0 if census is None else sum(map(len, census.jobs.values())),
        census_requests=0 if census is None else census.pages,
        **poller,
    )


class RateMeter:
    """Requests per second, measured over the last second or so."""

    __slots__ = ("_mark", "_rate")

    def __init__(self) -> None:
        self._mark = (0.0, 0)
        self._rate = 0.0

    def start(self, now: float) -> None:
        self._mark = (now, 0)

    def read(self, now: float, requests: int) -> float:
        """Return the rate since the last reading (kept if it was less than a second ago)."""
        since, count = self._mark
        if now - since >= 1.0:
            self._rate = (requests - count) / (now - since)
            self._mark = (now, requests)
        return self._rate


# --- assemble ------------------------------------------------------------------------------------
#
# How a poller's parts are put together: the registry, delivery, reader, rules and driver.
#
# Each part gets what it uses in its constructor, in the order they depend on one another; nothing
# is set on a part after it is built. The one late binding is the clock: the reader reads the
# driver's, which the poller sets to the event loop's when it is entered.


def build(
    client: BkJobClient,
    policy: PollPolicy,
    journal: Journal,
    *,
    rng: random.Random | None,
    permits: Permits | None,
    wall: Callable[[], _dt.datetime] = now_utc,
) -> Driver:
    """Return the driver of a poller of ``client`` recording in ``journal``, and its parts."""
    protocol = client.protocol
    governor = RateGovernor(policy.rate_limit)
    delivery = Dispatcher(journal, Registry(policy.remember))

    def now() -> float:  # the driver's clock (the event loop's once the poller is entered)
        return driver.clock()

    reader = Reader(
        protocol,
        sender(client.transport, protocol),
        policy,
        governor,
        now,
        grouping=policy.group_threshold is not None and client.flavor is ApiFlavor.APIGW_V3,
    )
    # The gateway v4 lists execute objects: hosts (read as v3's rows) and containers.
    rows = reader.rows.object if client.flavor is ApiFlavor.APIGW_V4 else reader.rows.host
    rules = Rules.of(policy, rng or random.Random(), wall, rows)
    driver = Driver(
        rules, reader, governor, delivery, time.monotonic, protocol=protocol, permits=permits
    )
    return driver


# --- attach --------------------------------------------------------------------------------------
#
# Subscriptions onto the driver's jobs: a watch's jobs in slices, a followed job one at a time.
#
# A watch attaches and detaches its jobs in slices of a time budget with a checkpoint between
# two (``_turn.Pace``), so a watch of a hundred thousand jobs never stalls the event loop, and a
# detach runs to its end even when cancelled (a closed watch leaves no job polled for it);
# ``follow`` attaches one job to
# the scope's follow subscription (a subscription that hands out nothing: the journal and other
# watches of the job see its changes). No policy and no I/O here: the driver polls.


class Attachments:
    """Attach subscriptions to the driver's jobs, and detach them."""

    __slots__ = ("_driver", "_follows", "_snapshots", "pace")

    def __init__(self, driver: Driver, snapshots: Snapshots, pace: Pace | None = None) -> None:
        """``snapshots`` reads a job's whole status for a watch that timed out."""
        self._driver = driver
        self._snapshots = snapshots
        #: How long a slice of attaching or detaching may hold the event loop.
        self.pace = Pace(turn=driver.turn) if pace is None else pace
        #: Jobs polled for ``follow``, one subscription per scope.
        self._follows: dict[Scope, _Subscription] = {}

    async def subscribe(
        self, sub: _Subscription, ids: Sequence[int], launched: bool = False
    ) -> None:
        """Attach ``sub`` to jobs in slices; stop once it is closed. ``launched``: the jobs
        were launched a moment ago (their first polls wait for their hosts to start)."""
        since = self._driver.clock() if launched else None

        def attach(chunk: Sequence[int]) -> None:
            now, remaining = self._driver.clock(), sub.remaining
            for job_id in chunk:
                if job_id in remaining:
                    self._attach(sub, job_id, now, since)

        if not sub.closed and await self.pace.run(ids, attach, stop=lambda: sub.closed):
            sub.seeds = None

    def _attach(
        self, sub: _Subscription, job_id: int, now: float, launched: float | None = None
    ) -> None:
        seeds = sub.seeds
        stored = None if seeds is None else seeds.get(job_id)
        self._driver.attach(sub, job_id, now, stored, launched)

    async def unsubscribe(self, sub: _Subscription, job_ids: Sequence[int]) -> None:
        """Detach ``sub`` from ``job_ids`` in slices (a job no subscription holds is no longer
        polled); shielded: cancelled, it still detaches every one before the caller hears it."""
        with anyio.CancelScope(shield=True):
            await self.pace.run(job_ids, lambda chunk: self._driver.detach(sub, chunk))

    async def snapshot(self, scope: Scope, job_id: int) -> JobInstanceStatus | None:
        """Return a job's whole status now (``None``: it could not be read)."""
        return await self._snapshots(scope, job_id)

    def follow(self, scope: Scope, job_instance_id: int) -> None:
        """Poll a job for its scope's follow subscription (twice is once)."""
        sub = self._follows.get(scope)
        if sub is None or sub.closed:
            sub = self._follows[scope] = _Subscription(scope, (), None, 1, kinds=frozenset())
        if sub.add((job_instance_id,)):
            self._attach(sub, job_instance_id, self._driver.clock())

    def unfollow(self, scope: Scope, job_instance_id: int) -> None:
        """Stop polling a job for ``follow``."""
        sub = self._follows.get(scope)
        if sub is not None:
            self._driver.detach(sub, sub.remove((job_instance_id,)))

    def following(self, scope: Scope) -> frozenset[int]:
        """The jobs of ``scope`` followed now (those that have not ended)."""
        return frozenset(sub.remaining) if (sub := self._follows.get(scope)) else frozenset()


# --- named ---------------------------------------------------------------------------------------
#
# Named (durable) watches: which names are open here, and a watch's jobs and events from the store.
#
# A name is claimed while its watch is being opened and held while it is open (one open watch
# per name and poller). Opening loads the stored watch, if any, into the new subscription (its
# jobs, their stored states, its undelivered events first) and makes the job set durable before
# the first poll.


logger = logging.getLogger("bkjob_async.polling")


class NamedWatches:
    """The named watches of one poller, and the store they live in."""

    __slots__ = ("_open", "_protocol", "store")

    def __init__(self, store: Store, protocol: Protocol) -> None:
        self.store = store
        self._protocol = protocol
        #: Named watches open in this poller, by name (``None``: being opened).
        self._open: dict[str, _Subscription | None] = {}

    def claim(self, name: str) -> str:
        """Reserve ``name`` for a watch being opened (one open watch per name and poller)."""
        name = check_name(name)
        if name in self._open:
            held = self._open[name]
            if held is None or not held.closed:
                raise RuntimeError(f"the watch {name!r} is open already in this poller")
        self._open[name] = None
        return name

    def release(self, name: str) -> None:
        """Give back a claimed name (its watch could not be opened)."""
        self._open.pop(name, None)

    def opened(self, name: str, sub: _Subscription) -> None:
        self._open[name] = sub

    async def load(self, name: str) -> StoredWatch:
        """Return the stored watch ``name`` to resume; raise ``UnknownWatchError`` if none."""
        stored = await self.store.load(name)
        if stored is None:
            raise UnknownWatchError(f"no watch named {name!r} in {self.store!r}")
        if not stored.jobs:
            self.store.drop(name)
            raise UnknownWatchError(f"the watch {name!r} holds no job any more")
        return stored

    async def open(
        self,
        sub: _Subscription,
        name: str,
        ids: tuple[int, ...],
        subscribe: Callable[[_Subscription, tuple[int, ...]], Awaitable[None]],
    ) -> None:
        """Load (or create) a named watch, make its job set durable, then poll its jobs."""
        store = self.store
        try:
            stored = await store.load(name)
            if stored is not None:
                self.restore(sub, stored)
                new = sub.add(ids)
            else:
                new = ids
            if new:
                await store.wait_settled(store.add_jobs(name, [(sub.scope, i) for i in new]))
        except Exception as exc:  # a StoreError, or stored data this version cannot read
            logger.error("watch %r: cannot open it in %r (%s)", name, store, exc)
            sub.fail(exc)
            return
        await subscribe(sub, sub.job_instance_ids)

    def restore(self, sub: _Subscription, stored: StoredWatch) -> None:
        """Give ``sub`` a stored watch's jobs, states and pending events (queued first)."""
        ids: list[int] = []
        seeds: dict[int, Any] = {}
        try:
            for (scope, job_id), data in stored.jobs.items():
                if scope != sub.scope:
                    raise errors.StoreError(
                        f"the watch {stored.name!r} holds jobs of {scope}, not only of {sub.scope}"
                    )
                ids.append(job_id)
                if data is not None:
                    seeds[job_id] = from_data(data)
            events = [decode_event(e.payload, self._protocol.parse) for e in stored.pending]
        except ValueError as exc:  # (a state or an event this version cannot read)
            raise errors.StoreError(
                f"the watch {stored.name!r} in {self.store!r} cannot be read: {exc}"
            ) from None
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


# --- poller --------------------------------------------------------------------------------------


logger = logging.getLogger("bkjob_async.polling")


def _check_scope(scope: object) -> Scope:
    """Return ``scope`` if it is a ``Scope``; raise ``TypeError`` otherwise."""
    if not isinstance(scope, Scope):
        raise TypeError(f"scope must be a Scope, not {type(scope).__name__}")
    return scope


def _check(
    client: BkJobClient, policy: object, store: object, journal: object, wall: object = None
) -> None:
    """Raise ``TypeError``/``ValueError`` for a poller that could not work, before anything runs."""
    if not isinstance(policy, PollPolicy):
        raise TypeError("policy must be a PollPolicy")
    if wall is not None and not callable(wall):
        raise TypeError(f"wall must be a callable returning a UTC datetime, not {wall!r}")
    if store is not None and not isinstance(store, Store):
        raise TypeError(f"store must be a Store, not {type(store).__name__}")
    if store is not None and journal is not None:
        raise ValueError("a poller has one journal: pass a store or a journal, not both")
    if policy.max_in_flight > client.connection_limit:
        raise ValueError(
            f"policy.max_in_flight ({policy.max_in_flight}) exceeds the client's connection "
            f"limit ({client.connection_limit}); polls would queue for connections"
        )


#: What a wait ``with_hosts`` subscribes to besides its end: polls then read the host rows.
_HOST_EVENTS = (HostTransition, ContainerTransition)


class Poller:
    """Watch many bk-job jobs at once, sharing one poll per job among all its watches.

    ::

        async with Poller(client) as poller:
            async for event in poller.watch_jobs(scope, job_ids):
                ...

    A job the poller has never seen reports every host, step and the job with ``previous=None``
    first. The body's exception propagates as itself; a bug of the poller's own tasks, as an
    ``ExceptionGroup``. ``clock``: the clock of the loop's timers (a virtual-time test loop's);
    ``wall``: what time it is in UTC, for the job list's windows and the times of the events
    polls decide (the simulator's ``utcnow`` on virtual time, where the machine's clock stays
    behind the simulator's).
    ``journal``: where a caller that keeps job states elsewhere (the cluster worker) records
    every change before it is handed out, and seeds new jobs from (``_delivery.Journal``); the
    default is the store's journal, for named watches. ``permits`` is an outside rate budget
    asked before each poll.
    """

    def __init__(
        self,
        client: BkJobClient,
        *,
        policy: PollPolicy = PollPolicy(),
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        wall: Callable[[], _dt.datetime] | None = None,
        store: Store | None = None,
        journal: Journal | None = None,
        permits: Permits | None = None,
    ) -> None:
        _check(client, policy, store, journal, wall)
        self.client = client
        self.policy = policy
        self._protocol = client.protocol
        #: Where named watches live. The caller opens and closes a store it passes in; the
        #: poller opens and closes only its own default ``MemoryStore``.
        self.store: Store = MemoryStore() if store is None else store
        self._own_store = store is None
        self._named = NamedWatches(self.store, self._protocol)
        #: Where changes are recorded before delivery; an outside journal is waited for by
        #: every watch, the store's only by named ones.
        self._journal: Journal = StoreJournal(self.store) if journal is None else journal
        self._outside = journal is not None
        self._clock_arg = clock
        self._driver = build(
            client, policy, self._journal, rng=rng, permits=permits, wall=wall or now_utc
        )
        self._attachments = Attachments(self._driver, Snapshots(client, policy.max_in_flight))
        self._tg: TaskGroup | None = None
        self._open: set[_Subscription] = set()
        self._handed_out = HandedOut()
        self._rate = RateMeter()

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Poller:
        if self._tg is not None:
            raise RuntimeError("a Poller can be entered only once")
        self._driver.clock = self._clock_arg or loop_clock()
        if self._own_store:
            await self.store.open()
        self._rate.start(self._driver.clock())
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._driver.start(self._tg)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._driver.close()
        self._tg.cancel_scope.cancel()
        try:
            if exc is None or not isinstance(exc, Exception):
                try:
                    return await self._tg.__aexit__(exc_type, exc, tb)
                except BaseException as raised:
                    if raised is not exc:
                        raise
                    # What it was handed (a cancel) goes on from the caller, never raised
                    # again here: an ``AsyncExitStack`` chains an exception an exit raises
                    # again to itself, and anyio's task groups walk that chain forever.
                    return False
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

    def watch_job(self, scope: Scope, job_instance_id: int, *, launched: bool = False) -> Watch:
        """Watch one job until ``JobFinished`` (or ``WatchTimedOut``); failures raise.

        ``launched=True``: the job was launched a moment ago (see ``watch_jobs``).
        """
        job_id = check_id(job_instance_id, "job_instance_id")
        return self._watch(scope, (job_id,), None, True, launched=check_bool(launched, "launched"))

    def watch_jobs(
        self,
        scope: Scope,
        job_instance_ids: Iterable[int],
        *,
        events: Iterable[type[Event]] | None = None,
        name: str | None = None,
        launched: bool = False,
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

        ``launched=True`` says the jobs were launched a moment ago (``execute_job_plan``, say,
        has just returned them): each is first polled ``soon`` after this call (about 2.5 s
        at the defaults, a little less by its id), once its hosts have had time to start, not at
        once. A poll at once would find its hosts waiting, and a look ``soon`` after it would
        follow anyway: the flag saves that request on every job, and sees nothing later. A job
        the poller polls already (for another watch), or one with a stored state, keeps its
        schedule; one that the job list follows (a wait for ends only, on v3) is read by the
        list, as without the flag.
        """
        ids, kinds = _ids(job_instance_ids), _kinds(events)
        fresh = check_bool(launched, "launched")
        if name is None:
            return self._watch(scope, ids, None, False, kinds, launched=fresh)
        return self._watch(scope, ids, None, False, kinds, self._named.claim(name), launched=fresh)

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
        claimed = self._named.claim(name)
        try:
            stored = await self._named.load(claimed)
        except BaseException:
            self._named.release(claimed)
            raise
        scope = next(iter(stored.jobs))[0]
        return self._watch(scope, (), None, False, kinds, claimed, stored)

    def as_completed(
        self,
        scope: Scope,
        job_instance_ids: Iterable[int],
        *,
        launched: bool = False,
        with_hosts: bool = False,
    ) -> Completed:
        """Yield each job's final ``JobInstanceStatus`` as it finishes, in finishing order.

        ``with_hosts=True``: the jobs are polled with their hosts, and each status yielded is
        the poll that saw the end, every host's final row in it (as ``wait_finished``).
        Polls are shared with every other watch of the same jobs. A job that cannot be watched
        raises its error (``NotFoundError``, say) and ends the iteration; so does the policy's
        ``deadline`` (``PollingError``). Use ``watch_jobs`` to go on past failures::

            async with poller.as_completed(scope, ids) as finished:
                async for status in finished:
                    ...
        """
        hosts = _HOST_EVENTS if check_bool(with_hosts, "with_hosts") else ()
        events = _FINAL_EVENTS + hosts
        return Completed(self.watch_jobs(scope, job_instance_ids, events=events, launched=launched))

    def watch_step(self, scope: Scope, job_instance_id: int, step_instance_id: int) -> Watch:
        """Watch one step's hosts until the step ends (or the job does); failures raise."""
        return self._watch(
            scope,
            (check_id(job_instance_id, "job_instance_id"),),
            check_id(step_instance_id, "step_instance_id"),
            True,
        )

    async def wait_finished(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        with_hosts: bool = False,
        success: Iterable[int] | None = None,
    ) -> JobInstanceStatus:
        """Return the final status of a job once it finishes; bound it with ``anyio.fail_after``.

        Only the end is waited for: on the v3 APIs the job list stands for the job's polls, and
        the status has no host rows. ``with_hosts=True``: the job is polled with its hosts, and
        the status returned is the poll that saw the end, every host's final row in it (no
        request beyond that poll). ``success``: the final statuses that count as success
        (``DEFAULT_SUCCESS``, ``BK_SOPS_SUCCESS``, ``DBM_SUCCESS`` or your own); an end outside
        them raises ``JobFailedError`` with the status; ``None`` (the default): any end returns.

        :raises JobFailedError: the job ended outside ``success``.
        :raises PollingError: the policy's deadline passed, or the poller closed first.
        """
        job_id = check_id(job_instance_id, "job_instance_id")
        kinds = frozenset(
            _FINAL_EVENTS + (_HOST_EVENTS if check_bool(with_hosts, "with_hosts") else ())
        )
        wanted = None if success is None else check_success(success)
        async with self._watch(scope, (job_id,), None, True, kinds) as watch:
            async for event in watch:
                if isinstance(event, JobFinished):
                    if wanted is not None and event.status not in wanted:
                        raise errors.JobFailedError(
                            f"job {job_id} ended {event.status.name} ({event.status.text_en}), "
                            f"not in success={sorted(int(s) for s in wanted)}",
                            status=event.snapshot,
                        )
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
        *,
        launched: bool = False,
    ) -> Watch:
        try:
            _check_scope(scope).params(self._protocol.flavor)
            tg = self._task_group()
        except BaseException:
            if name is not None:
                self._named.release(name)
            raise
        sub = _Subscription(
            scope, ids, step, self.policy.buffer_size, kinds, name, self._handed_out
        )
        subscribe = self._attachments.subscribe
        if launched:
            subscribe = functools.partial(subscribe, launched=True)
        if name is None:
            tg.start_soon(subscribe, sub, ids)
        elif stored is not None:
            try:
                self._named.restore(sub, stored)
            except BaseException:
                self._named.release(name)
                raise
            self._named.opened(name, sub)
            tg.start_soon(self._attachments.subscribe, sub, sub.job_instance_ids)
        else:
            self._named.opened(name, sub)
            tg.start_soon(self._named.open, sub, name, ids, subscribe)
        self._open.add(sub)
        return Watch(
            sub,
            self._attachments,
            single=single,
            deadline=self.policy.deadline,
            store=self.store if name is not None else None,
            journal=self._journal if name is not None or self._outside else None,
        )

    def rollout(
        self,
        scope: Scope,
        *,
        key: str,
        max_running: int | None = None,
        deadline: float | None = None,
        exactly_once: bool | None = None,
        on_deadline: Literal["terminate", "leave"] = "terminate",
        events: Iterable[type[Event]] | None = None,
    ) -> Rollout:
        """Return a rollout of launches in ``scope`` (``bkjob_async.polling.rollouts``).

        ``async with poller.rollout(scope, key="deploy-42", max_running=50) as rollout:``
        then ``rollout.submit(item, Launch.script(...))`` and ``async for event in rollout``.
        ``key`` names it in the store: opened again after a crash, it goes on from there.
        """
        from .rollouts import Rollout

        return Rollout(
            self,
            scope,
            key=key,
            max_running=max_running,
            deadline=deadline,
            exactly_once=exactly_once,
            on_deadline=on_deadline,
            events=events,
        )

    def follow_logs(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        step_instance_id: int | None = None,
        hosts: Iterable[Host] | None = None,
    ) -> AsyncIterator[LogText]:
        """Yield each host's new script-log text as the job runs, until it ends
        (``bkjob_async.polling.follow_logs``), a turn every ``policy.interval`` seconds."""
        return follow_logs(
            self.client,
            scope,
            job_instance_id,
            step_instance_id=step_instance_id,
            hosts=hosts,
            interval=self.policy.interval,
        )

    # --- following ----------------------------------------------------------------------------

    def follow(self, scope: Scope, job_instance_id: int) -> None:
        """Poll a job without a watch, until it ends or ``unfollow``: its changes reach the
        journal (and any watch of it). Following a job twice is following it once.
        """
        job_id, scope = check_id(job_instance_id, "job_instance_id"), _check_scope(scope)
        self._task_group()
        self._attachments.follow(scope, job_id)

    def unfollow(self, scope: Scope, job_instance_id: int) -> None:
        """Stop polling a job for ``follow`` (watches of it go on)."""
        self._attachments.unfollow(scope, job_instance_id)

    def following(self, scope: Scope) -> frozenset[int]:
        """Return the jobs of ``scope`` followed now (those that have not ended)."""
        return self._attachments.following(scope)

    def hint(self, callback: Callback | int) -> None:
        """Poll a watched job soon: a callback (``CallbackReceiver(poller.hint)``) said it ended.

        The poll is the truth: a stray callback costs one poll, at most one per job per
        ``interval``; one for a job not watched here costs nothing.
        """
        job_id = callback if isinstance(callback, int) else callback.job_instance_id
        self._driver.hint(job_id, self._driver.clock())

    async def history(self) -> History:
        """Return what the poller's store kept of earlier runs (``Store.history``), decoded:
        the watches it dropped when they ended, with their jobs as last seen, and the latest
        events. A ``SqliteStore`` keeps them across restarts; a ``MemoryStore`` keeps none.
        """
        return past(await self.store.history(), self._protocol.parse)

    def tap(self, *, limit: int = 100_000, sink: Sink | None = None) -> Tap:
        """Return a tap of every event the polls observe, before any watch's filter.

        For a reader of the whole poller (``bkjob_async.web``'s dashboard): ``with
        poller.tap() as tap:`` attaches it, ``tap.jobs()`` reads every job as it is now and
        ``tap.take()`` what came since. Closed, it costs the polls nothing; open, it keeps at
        most ``limit`` events until they are taken (the oldest go first, ``tap.dropped``), or
        hands each delivery at once to ``sink(scope, events, last)`` (quick, never awaiting).
        """
        return Tap(self._driver.delivery, self._driver.registry, limit, sink)

    # --- statistics ---------------------------------------------------------------------------

    @property
    def _requests(self) -> int:  # (for the benchmarks' loops: cheaper than statistics())
        return self._driver.reader.requests

    def statistics(self) -> PollerStatistics:
        """Return a frozen snapshot of the poller's counters."""
        driver = self._driver
        self._open = {sub for sub in self._open if not sub.closed}
        return collect(
            driver,
            watches=len(self._open),
            events_emitted=self._handed_out.events,
            current_rate=self._rate.read(driver.clock(), driver.reader.requests),
            store=self.store.statistics(),
        )
