"""Rule: a rollout only sends launches and operations and applies ``_rollout``'s decisions.

Rollouts: many launches kept under a cap and bk-job's running-job quota, each exactly once.

::

    async with poller.rollout(scope, key="deploy-42", max_running=50) as rollout:
        for host in hosts:
            rollout.submit(host.name, Launch.script(targets=..., account=..., script_id=...))
        async for event in rollout:
            ...  # Launched, LaunchFailed, LaunchTimedOut, HostTransition, JobFinished, ...

Iterating yields ``Launched(key, job_instance_id)`` once a key's job runs, ``LaunchFailed(key,
error)`` for a key that never ran, the per-host transitions and ``JobFinished`` of its jobs (as
``poller.watch_jobs`` gives them), and ``LaunchTimedOut`` for a job stopped by a deadline; it
ends once every key submitted so far has ended. ``events=(JobFinished,)`` keeps only the jobs'
ends (and the rollout's own events): on the v3 APIs the job list then stands for the jobs'
polls (the census), one read a round for all of them.

**Slots.** At most ``max_running`` of the rollout's jobs are sent and not ended; a slot is
refilled the moment the poller's own events end a job (no request more). A refusal by bk-job's
running-job quota (1244032-1244034, v4 ``RESOURCE_EXHAUSTED``) puts the key back at the head of
the queue and holds launches until one of the rollout's jobs ends; with none of its own running,
launches back off with jitter (``_rollout.Gate``). Launches take the poller's rate allowance
before polls do: they never wait behind the poll queue.

**Exactly once** (gateway v3, ESB jobv3, gateway v4; scripts and file transfers): the key's
intent is stored, the job is created with ``start_task=false`` and a task name that carries the
key (``<task_name> [rollout <rollout>/<key>]``), then started (``operate_job_instance`` START).
A create whose answer is lost is looked up by that name in the job list (bk-job's ``name``
filter is SQL ``LIKE``: the answer is matched exactly) before it is sent again; a job created
and never started is started. The rollout's entries live in the poller's store (under
``rollout:<key>``): on a durable store a rollout opened again with the same ``key`` after a
crash goes on from them (a key whose job ran before the crash is told ``Launched`` again: at
least once, its job once). ``exactly_once=True`` refuses (``LaunchFailed`` with
``UnsupportedOperationError``, nothing sent) what cannot be: a job plan (``execute_job_plan``
takes no task name) and every launch on ESB v2 (no job list). By default those are sent once
and a lost answer fails their key (``LaunchFailed`` with the transport's error).

**Deadlines.** ``deadline`` (seconds from entering) bounds the whole rollout, ``submit(...,
deadline=)`` one key (from its submission). When one passes, a key not yet launched fails with
``RolloutDeadlineError``; a running job is terminated (``on_deadline="terminate"``) and its
events go on until bk-job ends it, or left running (``"leave"``); either way
``LaunchTimedOut`` carries the job's status read after the stop, in which hosts that had
finished count as finished.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import random
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio
import attrs

from .. import errors
from ..models import JobInstanceStatus, JobOperation, JobStatus
from ._launch import Launch
from ._rollout import (
    Entry,
    Gate,
    Ledger,
    entry_slot,
    goes_exactly_once,
    refuse_bad_rollout,
    task_name,
    to_send,
)
from .events import JobFinished, WatchFailed, WatchTimedOut

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    from anyio.abc import TaskGroup

    from ..client import BkJobClient
    from ..config import Scope
    from ._driver import Driver
    from ._watch import Watch
    from .events import Event
    from .stores import Store

__all__ = [
    "Launch",
    "LaunchFailed",
    "LaunchTimedOut",
    "Launched",
    "Rollout",
    "RolloutDeadlineError",
    "RolloutStatistics",
    "is_quota",
]

logger = logging.getLogger("bkjob_async.polling")

#: How far around a create the job list is searched for it (clock skew between hosts).
_WINDOW = _dt.timedelta(hours=1)
#: How long after a lost answer the job list is read: a create still in flight lands first.
_SETTLE = 2.0
#: How long a terminated job may take to end before its status is read once instead.
_STOP_GRACE = 120.0


class Poller(Protocol):
    """What a rollout uses of its ``Poller`` (named here: the poller imports this module)."""

    client: BkJobClient
    store: Store
    _driver: Driver

    def watch_jobs(
        self,
        scope: Scope,
        job_instance_ids: Iterable[int],
        *,
        events: Iterable[type[Event]] | None = None,
        launched: bool = False,
    ) -> Watch: ...


class RolloutDeadlineError(errors.PollingError):
    """A rollout's or a launch's deadline passed before its key was launched."""


@attrs.frozen
class Launched:
    """A key's job was created and runs."""

    key: str
    job_instance_id: int


@attrs.frozen
class LaunchFailed:
    """A key that will not run: a refused, invalid or lost launch, or a deadline before it."""

    key: str
    error: BaseException


@attrs.frozen
class LaunchTimedOut:
    """A deadline stopped a key's job (``terminated``) or left it running: ``snapshot`` is its
    status read after the stop (``None`` if it could not be read)."""

    key: str
    job_instance_id: int
    snapshot: JobInstanceStatus | None
    terminated: bool


@attrs.frozen
class RolloutStatistics:
    """What a rollout has done so far."""

    submitted: int
    launched: int
    failed: int
    ended: int
    running: int
    peak_running: int
    launch_requests: int
    quota_refusals: int
    lookups: int
    starts: int


def is_quota(exc: BaseException) -> bool:
    """Tell whether ``exc`` is bk-job's running-job quota refusal (not a rate limit)."""
    return isinstance(exc, errors.QuotaExceededError)


def _ambiguous(exc: BaseException) -> bool:
    """Tell whether a create that failed so may have reached bk-job (its answer was lost)."""
    if isinstance(exc, errors.ConnectError):
        return False  # never sent
    return isinstance(exc, (errors.TransportError, errors.ServerError, errors.ResponseFormatError))


class Rollout:
    """Launch keys under a cap and bk-job's quota, each once; see the module docstring."""

    def __init__(
        self,
        poller: Poller,
        scope: Scope,
        *,
        key: str,
        max_running: int | None = None,
        deadline: float | None = None,
        exactly_once: bool | None = None,
        on_deadline: Literal["terminate", "leave"] = "terminate",
        events: Iterable[type[Event]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        refuse_bad_rollout(scope, key, max_running)
        if deadline is not None and not (isinstance(deadline, (int, float)) and deadline > 0):
            raise ValueError(f"deadline must be positive seconds or None, not {deadline!r}")
        if exactly_once not in (None, True, False):
            raise TypeError("exactly_once must be a bool or None")
        if on_deadline not in ("terminate", "leave"):
            raise ValueError("on_deadline is 'terminate' or 'leave'")
        self.poller, self.scope, self.key = poller, scope, key
        self.client = poller.client
        self._flavor = self.client.flavor
        self._exactly_once = exactly_once
        self._on_deadline = on_deadline
        self._rollout_deadline = deadline
        self._rng = rng or random.Random()
        self._events = None if events is None else tuple(events)
        self.ledger = Ledger()
        self.gate = Gate(limit=max_running)
        self._store_name = f"rollout:{key}"
        self._deadlines: dict[str, float] = {}
        self._stopping: dict[str, anyio.CancelScope] = {}
        self._tg: TaskGroup | None = None
        self._send, self._receive = anyio.create_memory_object_stream[Any](math.inf)
        self._wake = anyio.Event()
        self._tick = anyio.Event()
        self._clock = poller._driver.clock
        self._anchor = 0.0
        self._counts = {"launched": 0, "failed": 0, "requests": 0, "lookups": 0, "starts": 0}
        self._peak = 0

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Rollout:
        if self._tg is not None:
            raise RuntimeError("a Rollout can be entered only once")
        import time

        self._clock = self.poller._driver.clock
        self._anchor = time.time() - self._clock()
        if self._rollout_deadline is not None:
            self._rollout_deadline += self._clock()
        stored = await self.poller.store.load(self._store_name)
        if stored is not None:
            try:
                self.ledger = Ledger(Entry.from_data(data) for data in stored.jobs.values() if data)
            except ValueError as exc:
                raise errors.StoreError(f"the rollout {self.key!r} cannot be read: {exc}") from None
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._launcher)
        self._tg.start_soon(self._deadline_keeper)
        for entry in list(self.ledger.in_phase("intent", "created", "started")):
            self._tg.start_soon(self._resume, entry)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        try:
            await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            self._send.close()
            self._receive.close()
            with anyio.CancelScope(shield=True):
                await self.poller.store.flush()
        return None

    # --- submitting -----------------------------------------------------------------------------

    def submit(self, key: str, launch: Launch, *, deadline: float | None = None) -> bool:
        """Queue ``launch`` under ``key``; return ``False`` if the key is held already (queued,
        running or ended in this rollout): a key is never held twice.

        A launch this client's flavor cannot send fails its key alone (``LaunchFailed``, nothing
        sent). ``deadline``: seconds from now for this key (``on_deadline`` says what then).
        """
        if self._tg is None:
            raise RuntimeError("use the rollout inside 'async with poller.rollout(...)'")
        if not isinstance(key, str) or not key or not key.isprintable():
            raise ValueError("a key is a non-empty printable str")
        if not isinstance(launch, Launch):
            raise TypeError(f"launch must be a Launch, not {type(launch).__name__}")
        if deadline is not None and not (isinstance(deadline, (int, float)) and deadline > 0):
            raise ValueError(f"deadline must be positive seconds or None, not {deadline!r}")
        entry = Entry(key, launch)
        if not self.ledger.submit(entry):
            return False
        try:
            launch.spell(self.client.protocol, self.scope)
            if goes_exactly_once(launch, self._flavor, self._exactly_once):
                task_name(launch.task_name, self.key, key)
        except (errors.BkJobError, ValueError, TypeError) as exc:
            self._fail(entry, exc)
            return True
        if deadline is not None:
            self._deadlines[key] = self._clock() + deadline
        self._save(entry)
        self._poke()
        return True

    # --- iterating ------------------------------------------------------------------------------

    def __aiter__(self) -> Rollout:
        return self

    async def __anext__(self) -> Any:
        """Return the next event; stop once every key submitted so far has ended."""
        while True:
            try:
                return self.receive_nowait()
            except anyio.WouldBlock:
                event = await self._receive.receive()
            if event is not None:
                return event

    def receive_nowait(self) -> Any:
        """Return the next event received already; raise ``anyio.WouldBlock`` if there is none
        yet, ``StopAsyncIteration`` once every key submitted so far has ended."""
        while True:
            try:
                event = self._receive.receive_nowait()
            except anyio.WouldBlock:
                if self.ledger.open() == 0:
                    raise StopAsyncIteration from None
                raise
            if event is not None:
                return event

    def statistics(self) -> RolloutStatistics:
        """Return a snapshot of the rollout's counters."""
        entries = self.ledger.entries.values()
        return RolloutStatistics(
            submitted=len(self.ledger.entries),
            launched=self._counts["launched"],
            failed=self._counts["failed"],
            ended=sum(1 for e in entries if e.phase == "ended"),
            running=self.ledger.running(),
            peak_running=self._peak,
            launch_requests=self._counts["requests"],
            quota_refusals=self.gate.refusals,
            lookups=self._counts["lookups"],
            starts=self._counts["starts"],
        )

    # --- the launcher ---------------------------------------------------------------------------

    def _poke(self) -> None:
        self._wake.set()
        self._tick.set()

    async def _launcher(self) -> None:
        """Launch what fits whenever a key comes, a job ends or a back-off passes."""
        assert self._tg is not None
        while True:
            now = self._clock()
            room = self.gate.room(self.ledger.running(), self.ledger.sending(), now)
            for entry in self.ledger.to_launch(room):
                self._peak = max(self._peak, self.ledger.running())
                self._tg.start_soon(self._launch, entry)
            self._wake = anyio.Event()
            wait = math.inf
            if self.ledger.queue and self.gate.retry_at > now:
                wait = self.gate.retry_at - now
            elif self.ledger.queue and self.gate.learned is not None and not self.gate.probing:
                wait = self.gate.probe_at() - now if self.gate.probe_at() > now else math.inf
            with anyio.move_on_after(wait):
                await self._wake.wait()

    async def _launch(self, entry: Entry) -> None:
        """Create (and start) one key's job; requeue it on a quota refusal."""
        try:
            launch, exact = to_send(entry, self.key, self._flavor, self._exactly_once)
        except (errors.BkJobError, ValueError, TypeError) as exc:
            self._fail(entry, exc)
            return
        if entry.sent_at is None:
            entry.sent_at = self._wall()
        await self._save_settled(entry)  # the intent is durable before the create is sent
        try:
            await self._budget()
            self._counts["requests"] += 1
            answer = await launch.send(self.client, self.scope, start_task=not exact)
        except errors.BkJobError as exc:
            await self._refused(entry, exc, exact)
            return
        entry.job, entry.phase = answer.job_instance_id, "created" if exact else "started"
        self.gate.created(self.ledger.jobs())
        self._save(entry)
        if exact:
            await self._start(entry)
        else:
            self._running(entry, launched=True)

    async def _refused(self, entry: Entry, exc: BaseException, exact: bool) -> None:
        if is_quota(exc):
            self.gate.refused(self.ledger.jobs(), self._clock(), self._rng)
            self._requeue(entry)
        elif isinstance(exc, (errors.ConnectError, errors.RateLimitedError)):
            retry = getattr(exc, "retry_after", None) or 1.0
            self.gate.retry_at = max(self.gate.retry_at, self._clock() + retry)
            self._requeue(entry)  # (never reached bk-job, or throttled: send it again)
        elif _ambiguous(exc) and exact:
            await self._find(entry)
        else:
            self._fail(entry, exc)

    def _requeue(self, entry: Entry) -> None:
        self.ledger.requeue(entry)
        self._save(entry)
        self._poke()

    async def _budget(self) -> None:
        """Take a request from the poller's budget ahead of its polls."""
        driver = self.poller._driver
        governor = driver.governor
        while True:  # (a token bucket: how long to wait is known, nothing to wake on)
            if governor.take(self._clock()):
                break
            await anyio.sleep(max(governor.wait(self._clock()), 0.001))
        if driver.permits is not None:
            await driver.permits.acquire()

    # --- exactly once ---------------------------------------------------------------------------

    async def _find(self, entry: Entry) -> None:
        """Look a key's job up by its task name (its create's answer was lost): start it if
        found, queue the key again if bk-job has no such job."""
        await anyio.sleep(_SETTLE)
        found = None
        while True:
            try:
                found = await self._lookup(entry)
                break
            except errors.BkJobError as exc:
                logger.warning(
                    "rollout %r: key %r: job list read failed (%s)", self.key, entry.key, exc
                )
                await anyio.sleep(1.0 + self._rng.random())
        if found is None:
            self._requeue(entry)
            return
        job_id, status = found
        entry.job = job_id
        if status == JobStatus.BLANK:
            entry.phase = "created"
            self._save(entry)
            await self._start(entry)
        else:
            entry.phase = "started"
            self._save(entry)
            self._running(entry, launched=False)

    async def _lookup(self, entry: Entry) -> tuple[int, JobStatus] | None:
        """Return the job whose task name is exactly the key's, from the job list."""
        assert entry.name is not None
        assert entry.sent_at is not None
        self._counts["lookups"] += 1
        sent = _dt.datetime.fromtimestamp(entry.sent_at, _dt.timezone.utc)
        now = _dt.datetime.fromtimestamp(self._wall(), _dt.timezone.utc)
        async for job in self.client.iter_job_instances(
            self.scope,
            created_from=sent - _WINDOW,
            created_to=max(now, sent) + _WINDOW,
            name=entry.name,
        ):
            if job.name == entry.name:  # (``LIKE``: ``_`` and ``%`` match more than themselves)
                return job.job_instance_id, job.status
        return None

    async def _start(self, entry: Entry) -> None:
        """Start a created job; a START whose answer was lost is checked by a status read."""
        assert entry.job is not None
        while True:
            try:
                await self._budget()
                self._counts["starts"] += 1
                await self.client.operate_job_instance(self.scope, entry.job, JobOperation.START)
                break
            except errors.OperationNotAllowedError:
                break  # started already (a START before a crash, or one whose answer was lost)
            except errors.BkJobError as exc:
                if not (
                    _ambiguous(exc)
                    or isinstance(exc, (errors.ConnectError, errors.RateLimitedError))
                ):
                    self._fail(entry, exc)
                    return
                await anyio.sleep(1.0 + self._rng.random())
                try:
                    status = await self.client.get_job_instance_status(
                        self.scope, entry.job, with_hosts=False
                    )
                except errors.BkJobError:
                    continue
                if status.job.status != JobStatus.BLANK:
                    break
        entry.phase = "started"
        self._save(entry)
        self._running(entry, launched=True)

    async def _resume(self, entry: Entry) -> None:
        """Go on with a key a crash left sent and not ended."""
        if entry.phase == "intent":
            if entry.name is None:  # not exactly once: its outcome is unknown
                self._fail(entry, errors.PollingError("the launch's outcome was lost in a restart"))
            else:
                await self._find(entry)
        elif entry.phase == "created":
            await self._start(entry)
        else:  # told again: the run that crashed may have died before its reader heard it
            self._running(entry, launched=False)

    # --- running jobs ---------------------------------------------------------------------------

    def _running(self, entry: Entry, *, launched: bool) -> None:
        assert self._tg is not None
        assert entry.job is not None
        self._counts["launched"] += 1
        self._send.send_nowait(Launched(entry.key, entry.job))
        self._tg.start_soon(self._follow, entry, launched)
        self._poke()  # (a deadline may be due)

    async def _follow(self, entry: Entry, launched: bool) -> None:
        """Hand out a job's events until it ends; free its slot then."""
        assert entry.job is not None
        outcome, snapshot = "finished", None
        scope = self._stopping[entry.key] = anyio.CancelScope()
        with scope:
            watch = self.poller.watch_jobs(
                self.scope, [entry.job], events=self._events, launched=launched
            )
            async with watch:
                async for event in watch:
                    self._send.send_nowait(event)
                    if isinstance(event, JobFinished):
                        snapshot = event.snapshot
                    elif isinstance(event, (WatchFailed, WatchTimedOut)):
                        outcome = "failed"
        self._stopping.pop(entry.key, None)
        stopped = self._deadlines.get(entry.key)
        if stopped is not None and stopped <= self._clock():  # a deadline stopped it
            terminated = self._on_deadline == "terminate"
            if scope.cancel_called:  # left running, or not ended in the grace: read it once
                snapshot = await self._status(entry.job)
            self._send.send_nowait(LaunchTimedOut(entry.key, entry.job, snapshot, terminated))
            outcome = "timed_out"
        self._end(entry, outcome)

    async def _status(self, job: int) -> JobInstanceStatus | None:
        try:
            return await self.client.get_job_instance_status(self.scope, job)
        except errors.BkJobError:
            return None

    def _end(self, entry: Entry, outcome: str) -> None:
        self.ledger.end(entry, outcome)
        self.gate.ended()
        self._save(entry)
        self._poke()
        self._send.send_nowait(None)  # (wakes the iteration: it may be over)

    def _fail(self, entry: Entry, exc: BaseException) -> None:
        self._counts["failed"] += 1
        self._send.send_nowait(LaunchFailed(entry.key, exc))
        self._end(entry, "failed")

    # --- deadlines ------------------------------------------------------------------------------

    def _deadline_of(self, key: str) -> float:
        own = self._deadlines.get(key, math.inf)
        whole = self._rollout_deadline if self._rollout_deadline is not None else math.inf
        return min(own, whole)

    async def _deadline_keeper(self) -> None:
        """Stop what a passed deadline bounds: fail keys not launched, stop running jobs."""
        assert self._tg is not None
        stopped: set[str] = set()
        while True:
            now = self._clock()
            soonest = math.inf
            for entry in list(self.ledger.in_phase("queued", "started")):
                due = self._deadline_of(entry.key)
                if entry.key in stopped or due == math.inf:
                    continue
                if due > now:
                    soonest = min(soonest, due)
                    continue
                stopped.add(entry.key)
                self._deadlines[entry.key] = due
                if entry.phase == "queued":
                    self._fail(entry, RolloutDeadlineError(f"key {entry.key!r}: deadline passed"))
                else:
                    self._tg.start_soon(self._stop, entry)
            self._tick = anyio.Event()
            with anyio.move_on_after(max(0.0, soonest - now)):
                await self._tick.wait()

    async def _stop(self, entry: Entry) -> None:
        assert entry.job is not None
        scope = self._stopping.get(entry.key)
        if self._on_deadline == "leave":
            if scope is not None:
                scope.cancel()
            return
        try:
            await self._budget()
            await self.client.operate_job_instance(self.scope, entry.job, JobOperation.TERMINATE)
        except errors.BkJobError as exc:  # (ended meanwhile, say: its events say how)
            logger.info("rollout %r: key %r: terminate: %s", self.key, entry.key, exc)
        await anyio.sleep(_STOP_GRACE)
        if scope is not None:
            scope.cancel()

    # --- the store ------------------------------------------------------------------------------

    def _wall(self) -> float:
        """Epoch seconds on the poller's clock (a virtual loop's too)."""
        return self._anchor + self._clock()

    def _save(self, entry: Entry) -> int:
        store, name, job = self.poller.store, self._store_name, (self.scope, entry_slot(entry.key))
        store.add_jobs(name, [job])
        return store.commit(name, job, entry.to_data())

    async def _save_settled(self, entry: Entry) -> None:
        await self.poller.store.wait_settled(self._save(entry))
