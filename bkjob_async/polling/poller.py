"""The public ``Poller``: lifecycle, watches, named watches, ``follow``, statistics; no policy.

The ``Poller`` polls nothing itself: ``_driver.Driver`` polls the jobs its watches hold and
applies what ``_decide.decide`` returns, and ``_delivery.Delivery`` hands events to the
watches. The ``Poller`` makes watches, opens and restores named ones from its store, and owns
the task group every task of the poller runs in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

from .. import errors
from ..config import Scope, check_id
from ._assemble import build
from ._attach import Attachments
from ._driver import Permits, loop_clock
from ._journal import Journal, StoreJournal
from ._named import NamedWatches
from ._schedule import PollPolicy
from ._statistics import PollerStatistics, RateMeter, collect
from ._subscription import HandedOut, _Subscription
from ._tap import Tap
from ._watch import _FINAL_EVENTS, Completed, Snapshots, Watch, _ids, _kinds
from .events import Event, JobFinished, WatchTimedOut
from .stores import Store, StoredWatch
from .stores.memory import MemoryStore

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from anyio.abc import TaskGroup

    from ..client import BkJobClient
    from ..models import JobInstanceStatus
    from ._tap import Sink
    from .callbacks import Callback

__all__ = ["Completed", "Poller", "Watch"]

logger = logging.getLogger("bkjob_async.polling")


def _check_scope(scope: object) -> Scope:
    """Return ``scope`` if it is a ``Scope``; raise ``TypeError`` otherwise."""
    if not isinstance(scope, Scope):
        raise TypeError(f"scope must be a Scope, not {type(scope).__name__}")
    return scope


def _check(client: BkJobClient, policy: object, store: object, journal: object) -> None:
    """Raise ``TypeError``/``ValueError`` for a poller that could not work, before anything runs."""
    if not isinstance(policy, PollPolicy):
        raise TypeError("policy must be a PollPolicy")
    if store is not None and not isinstance(store, Store):
        raise TypeError(f"store must be a Store, not {type(store).__name__}")
    if store is not None and journal is not None:
        raise ValueError("a poller has one journal: pass a store or a journal, not both")
    if policy.max_in_flight > client.connection_limit:
        raise ValueError(
            f"policy.max_in_flight ({policy.max_in_flight}) exceeds the client's connection "
            f"limit ({client.connection_limit}); polls would queue for connections"
        )


class Poller:
    """Watch many bk-job jobs at once, sharing one poll per job among all its watches.

    ::

        async with Poller(client) as poller:
            async for event in poller.watch_jobs(scope, job_ids):
                ...

    A job the poller has never seen reports every host, step and the job with ``previous=None``
    first. The body's exception propagates as itself; a bug of the poller's own tasks, as an
    ``ExceptionGroup``. ``clock``: the clock of the loop's timers (a virtual-time test loop's).
    ``journal``: where a caller that keeps job states elsewhere (the cluster worker) records
    every change before it is handed out, and seeds new jobs from (``_journal.Journal``); the
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
        store: Store | None = None,
        journal: Journal | None = None,
        permits: Permits | None = None,
    ) -> None:
        _check(client, policy, store, journal)
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
        self._driver = build(client, policy, self._journal, rng=rng, permits=permits)
        self._attachments = Attachments(self._driver)
        self._tg: TaskGroup | None = None
        self._snapshots = Snapshots(client, policy.max_in_flight)
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
        return self._watch(scope, ids, None, False, kinds, self._named.claim(name))

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
        """Return the final status of a job once it finishes; bound it with ``anyio.fail_after``.

        Only the end is waited for: on the v3 APIs the job list stands for the job's polls.
        """
        job_id = check_id(job_instance_id, "job_instance_id")
        async with self._watch(scope, (job_id,), None, True, frozenset(_FINAL_EVENTS)) as watch:
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
            _check_scope(scope).params(self._protocol.flavor)
            tg = self._task_group()
        except BaseException:
            if name is not None:
                self._named.release(name)
            raise
        sub = _Subscription(
            scope, ids, step, self.policy.buffer_size, kinds, name, self._handed_out
        )
        if name is None:
            tg.start_soon(self._attachments.subscribe, sub, ids)
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
            tg.start_soon(self._named.open, sub, name, ids, self._attachments.subscribe)
        self._open.add(sub)
        return Watch(
            sub,
            single=single,
            deadline=self.policy.deadline,
            leave=self._attachments.unsubscribe,
            snapshot=self._snapshots,
            join=None if single else self._attachments.subscribe,
            check_ids=None if single else _ids,
            store=self.store if name is not None else None,
            journal=self._journal if name is not None or self._outside else None,
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
