"""The consumer side of watching: a watch's mailbox, what the poller holds of it, the iterator.

Workers put events in a ``_Mailbox`` and never block; a ``Watch`` is a plain async iterator
reading it (PEP 789: no generator here owns a task group). The poller holds a
``_Subscription``, never the caller's ``Watch``, so dropping a watch ends it.
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import attrs

from .events import (
    Event,
    HostTransition,
    JobTransition,
    PollingResumed,
    PollingStalled,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from types import TracebackType

    from ..config import Scope
    from ..errors import BkJobError
    from ..models import JobInstanceStatus
    from ._store import Store

    #: Detach a subscription from some of its jobs (the poller stops polling unwatched jobs).
    Leave = Callable[["_Subscription", list[int]], None]
    #: Read a job's status now, or ``None`` if it cannot be read.
    Snapshot = Callable[["Scope", int], Awaitable["JobInstanceStatus | None"]]
    #: Attach a subscription to more of its jobs (the poller starts polling them).
    Join = Callable[["_Subscription", tuple[int, ...]], Awaitable[None]]
    #: Check job ids and return them as a tuple (or raise before anything changes).
    CheckIds = Callable[[Iterable[int]], tuple[int, ...]]

__all__ = ["HandedOut", "Watch"]

_UTC = _dt.timezone.utc


def now_utc() -> _dt.datetime:
    """Return the current time, aware, in UTC: every event's ``observed_at``."""
    return _dt.datetime.now(_UTC)


def _event_key(event: Event) -> tuple[Any, ...]:
    if isinstance(event, HostTransition):
        return ("h", event.job_instance_id, event.step_instance_id, event.host.key)
    if isinstance(event, StepTransition):
        return ("s", event.job_instance_id, event.step_instance_id)
    if isinstance(event, JobTransition):
        return ("j", event.job_instance_id)
    if isinstance(event, PollingStalled):
        return ("stalled",)
    if isinstance(event, PollingResumed):
        return ("resumed",)
    return ("end", event.job_instance_id)


class HandedOut:
    """Events handed out by a poller's watches: one per poller, shared by its watches."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events = 0


class _Mailbox:
    """A watch's pending events; ``put`` never blocks and memory stays bounded.

    Up to ``limit`` events are kept exactly. Past that, the box coalesces: a new transition of a
    host, step or job that is still pending replaces it (``previous`` from the oldest, the rest
    from the newest) and moves to the back, so order by observation holds. The box then holds
    at most one event per host, step and job it watches, plus each job's last event.
    """

    __slots__ = ("_exact", "_limit", "_merged", "_ready")

    def __init__(self, limit: int) -> None:
        self._exact: deque[Event] = deque()
        self._merged: OrderedDict[tuple[Any, ...], Event] | None = None
        self._limit = limit
        self._ready = anyio.Event()

    def __len__(self) -> int:
        return len(self._exact) + len(self._merged or ())

    @property
    def coalescing(self) -> bool:
        return self._merged is not None

    def put(self, event: Event) -> None:
        if self._merged is None:
            if len(self._exact) < self._limit:
                self._exact.append(event)
                self._ready.set()
                return
            self._merged = OrderedDict()
            for pending in self._exact:
                self._coalesce(pending)
            self._exact.clear()
        self._coalesce(event)
        self._ready.set()

    def _coalesce(self, event: Event) -> None:
        assert self._merged is not None
        key = _event_key(event)
        old = self._merged.get(key)
        if isinstance(old, (HostTransition, StepTransition, JobTransition)):
            # A merged transition is a new one (``previous`` from the oldest): a new id too.
            event = attrs.evolve(event, previous=old.previous)  # type: ignore[arg-type]
        self._merged[key] = event
        self._merged.move_to_end(key)

    def get_nowait(self) -> Event | None:
        if self._exact:
            return self._exact.popleft()
        if self._merged:
            event = self._merged.popitem(last=False)[1]
            if not self._merged:
                self._merged = None
            return event
        return None

    def wake(self) -> None:
        self._ready.set()

    async def wait(self) -> None:
        if not len(self):
            self._ready = anyio.Event()
            await self._ready.wait()


class _Subscription:
    """What the poller holds for one watch: its jobs, filter and mailbox (never the ``Watch``)."""

    __slots__ = (
        "closed",
        "error",
        "handed_out",
        "job_instance_ids",
        "kinds",
        "mailbox",
        "name",
        "remaining",
        "scope",
        "seeds",
        "stalled",
        "stalled_since",
        "step_instance_id",
        "ticket",
    )

    def __init__(
        self,
        scope: Scope,
        job_ids: tuple[int, ...],
        step_instance_id: int | None,
        buffer_size: int,
        kinds: frozenset[type] | None = None,
        name: str | None = None,
        handed_out: HandedOut | None = None,
    ) -> None:
        self.scope = scope
        #: Counts the events this watch hands out (``Poller.statistics().events_emitted``).
        self.handed_out = HandedOut() if handed_out is None else handed_out
        #: A named (durable) watch's name in the store; ``None``: the watch is in memory only.
        self.name = name
        #: The store ticket of the newest commit whose events are in the mailbox (0: none
        #: unsettled). A named watch hands out nothing before it is settled.
        self.ticket = 0
        #: Stored states of a named watch's jobs, for the jobs' first poll (taken once).
        self.seeds: dict[int, Any] | None = None
        #: Why a named watch could not be opened (raised to the consumer).
        self.error: BaseException | None = None
        #: Every job the watch holds, in the order added (removed ones leave).
        self.job_instance_ids = job_ids
        #: The event classes the watch delivers (``None``: all).
        self.kinds = kinds
        self.step_instance_id = step_instance_id
        self.remaining = set(job_ids)
        # A named watch never coalesces: every event it hands out is the one stored.
        self.mailbox = _Mailbox(sys.maxsize if name is not None else buffer_size)
        self.closed = False
        #: Jobs of this watch whose polls are stalled (``None``: none).
        self.stalled: set[int] | None = None
        self.stalled_since: _dt.datetime | None = None

    def offer(self, job_id: int, events: list[Event]) -> None:
        if self.closed or job_id not in self.remaining:
            return
        step, kinds = self.step_instance_id, self.kinds
        for event in events:
            if (
                step is None
                or (
                    isinstance(event, (HostTransition, StepTransition))
                    and event.step_instance_id == step
                )
            ) and (kinds is None or type(event) in kinds):
                self.mailbox.put(event)

    def wanted(self, job_id: int, events: list[Event]) -> list[Event]:
        """Return the events ``offer`` would deliver (a named watch commits exactly those)."""
        if self.closed or job_id not in self.remaining:
            return []
        kinds = self.kinds
        return events if kinds is None else [e for e in events if type(e) in kinds]

    def fail(self, error: BaseException) -> None:
        """End the watch with ``error`` (its store could not be read): the consumer gets it."""
        self.error = error
        self.remaining.clear()
        self.close()

    def _put(self, event: Event) -> None:
        if self.kinds is None or type(event) in self.kinds:
            self.mailbox.put(event)

    def add(self, job_ids: tuple[int, ...]) -> tuple[int, ...]:
        """Hold more jobs; return those that are new to this watch."""
        held = set(self.job_instance_ids)
        new = tuple(i for i in job_ids if i not in held)
        self.job_instance_ids += new
        self.remaining.update(new)
        return new

    def remove(self, job_ids: tuple[int, ...]) -> list[int]:
        """Let go of jobs; return those it held unfinished (the poller detaches them)."""
        gone = set(job_ids)
        self.job_instance_ids = tuple(i for i in self.job_instance_ids if i not in gone)
        open_ = [i for i in job_ids if i in self.remaining]
        self.remaining.difference_update(gone)
        if self.stalled is not None:
            self.stalled.difference_update(gone)
            if not self.stalled:
                self.stalled = None
        if not self.remaining:
            self.mailbox.wake()
        return open_

    def stall(self, job_id: int, since: _dt.datetime, error: BkJobError) -> None:
        """Note a stalled job; the first of an outage tells the watch (``PollingStalled``)."""
        if self.closed or job_id not in self.remaining:
            return
        if not self.stalled:
            self.stalled, self.stalled_since = set(), since
            self._put(PollingStalled(job_id, now_utc(), since, error))
        self.stalled.add(job_id)

    def resume(self, job_id: int, now: _dt.datetime, since: _dt.datetime) -> None:
        """Note a job answering again; the last stalled one tells the watch (``PollingResumed``)."""
        stalled = self.stalled
        if stalled is None or job_id not in stalled:
            return
        stalled.discard(job_id)
        if not stalled:
            self.stalled = None
            if not self.closed:
                self._put(PollingResumed(job_id, now, self.stalled_since or since))

    def end_job(self, job_id: int, last: Event | None) -> None:
        if self.stalled is not None:
            self.stalled.discard(job_id)
            if not self.stalled:
                self.stalled = None
        if job_id in self.remaining:
            self.remaining.discard(job_id)
            if last is not None:
                self._put(last)
            if not self.remaining:
                self.mailbox.wake()

    def close(self) -> None:
        self.closed = True
        self.mailbox.wake()


class Watch:
    """Events of one or more jobs, as an async iterator.

    A watch ends when its last job ends, on ``aclose()``, on leaving ``async with``, or when
    it is dropped: ``break`` out of an inline ``async for event in poller.watch_jobs(...)``
    drops it, but ``break`` does not end a watch kept in a variable (call ``aclose()``). A
    job's polling stops when its last watch ends. A single-job watch raises the error of a
    ``WatchFailed`` instead of yielding it.
    """

    def __init__(
        self,
        subscription: _Subscription,
        *,
        single: bool,
        deadline: float | None,
        leave: Leave,
        snapshot: Snapshot,
        join: Join | None = None,
        check_ids: CheckIds | None = None,
        store: Store | None = None,
    ) -> None:
        self._sub = subscription
        #: A named watch's store (``None``: the watch is not named).
        self._store = store if subscription.name is not None else None
        #: The id of the event handed out last and not yet acknowledged.
        self._unacked: str | None = None
        #: How many events at the head of the mailbox are known durable (a named watch).
        self._durable_head = 0
        self._single = single
        self._deadline = math.inf if deadline is None else anyio.current_time() + deadline
        self._leave = leave
        self._snapshot = snapshot
        self._join = join
        self._check_ids = check_ids

    def __len__(self) -> int:
        """How many jobs the watch holds (``jobs``)."""
        return len(self._sub.job_instance_ids)

    @property
    def jobs(self) -> tuple[int, ...]:
        """Every job the watch holds, finished or not, in the order added (not removed ones)."""
        return self._sub.job_instance_ids

    def _checked(self, scope: Scope, job_instance_ids: Iterable[int]) -> tuple[int, ...]:
        if self._join is None or self._check_ids is None:
            raise TypeError("only a watch of many jobs (watch_jobs) can take or drop jobs")
        if scope != self._sub.scope:
            raise ValueError(f"this watch holds jobs of {self._sub.scope}, not of {scope}")
        if self._sub.closed:
            raise RuntimeError("the watch has ended")
        return self._check_ids(job_instance_ids)

    async def add(self, scope: Scope, job_instance_ids: Iterable[int]) -> None:
        """Watch more jobs on this watch; their first events report ``previous=None`` unless
        the poller already knows them. Jobs it holds already are ignored. The watch's
        ``deadline`` (from its start) applies to them too.
        """
        ids = self._checked(scope, job_instance_ids)
        new = self._sub.add(ids)
        if new and self._store is not None and self._sub.name is not None:
            # The job set is durable before the new jobs are polled.
            ticket = self._store.add_jobs(self._sub.name, [(scope, i) for i in new])
            await self._store.wait_settled(ticket)
        if new and self._join is not None:
            await self._join(self._sub, new)

    async def remove(self, scope: Scope, job_instance_ids: Iterable[int]) -> None:
        """Stop watching these jobs on this watch (events already received stay); polling of a
        job stops when its last watch lets go. A watch with no job left ends.
        """
        ids = self._checked(scope, job_instance_ids)
        self._leave(self._sub, self._sub.remove(ids))
        if self._store is not None and self._sub.name is not None:
            self._store.remove_jobs(self._sub.name, [(scope, i) for i in ids])
        await anyio.lowlevel.checkpoint()

    @property
    def name(self) -> str | None:
        """The name of a durable watch (``watch_jobs(name=...)``, ``resume``), else ``None``."""
        return self._sub.name

    async def ack(self, event: Event) -> None:
        """Mark ``event`` delivered, and return once that is written: after a restart, neither
        it nor any event before it is handed out again.

        Asking for the next event acknowledges the one before too, lazily: the write is queued
        and batched, not waited for, so a process killed right then may get that one event
        again from ``resume``. Call ``ack`` where that matters (before a long piece of work, or
        a side effect that must not run twice). It does nothing on a watch without a name.
        """
        store, name = self._store, self._sub.name
        if store is None or name is None:
            return
        event_id = event.event_id
        if event_id == self._unacked:
            self._unacked = None
        await store.wait_settled(store.ack(name, [event_id]))

    def __repr__(self) -> str:
        sub = self._sub
        what = f"step {sub.step_instance_id} of " if sub.step_instance_id else ""
        jobs = ", ".join(map(str, sub.job_instance_ids[:5]))
        more = "..." if len(sub.job_instance_ids) > 5 else ""
        return f"<Watch {what}job {jobs}{more} in {sub.scope}, {len(sub.remaining)} open>"

    @property
    def closed(self) -> bool:
        """Whether the watch has ended."""
        return self._sub.closed

    @property
    def pending(self) -> int:
        """Events received but not yet read."""
        return len(self._sub.mailbox)

    @property
    def unfinished(self) -> frozenset[int]:
        """Jobs of this watch that have not had their last event yet."""
        return frozenset(self._sub.remaining)

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Event:
        """Wait for and return the next event; ``StopAsyncIteration`` once every job has ended.

        Per job, events come in observation order (hosts, then steps, then the job), and a
        job's end (``JobFinished``, ``WatchFailed``, ``WatchTimedOut``) is its last event. On
        a named watch, asking for the next event acknowledges the previous one.
        """
        if self._store is not None:
            return await self._next_durable(self._store)
        sub = self._sub
        while True:
            event = sub.mailbox.get_nowait()
            if event is not None:
                if self._single and isinstance(event, WatchFailed):
                    self._end()
                    raise event.error
                sub.handed_out.events += 1
                return event
            if sub.closed or not sub.remaining:
                self._end()
                raise StopAsyncIteration
            await self._wait(sub)

    async def _next_durable(self, store: Store) -> Event:
        """``__anext__`` of a named watch: ack the last event, hand out only settled ones."""
        sub = self._sub
        name = sub.name
        assert name is not None
        if self._unacked is not None:
            store.ack(name, [self._unacked])
            self._unacked = None
        while True:
            if sub.error is not None:
                raise sub.error
            if len(sub.mailbox):
                if not self._durable_head:
                    # Nothing leaves before it is durable (a crash could break the chain).
                    # Every event in the mailbox now was committed at or before ``sub.ticket``:
                    # once that is durable they all go. (Waiting again for the newest ticket
                    # after each wait would starve the consumer while commits keep coming.)
                    ticket, count = sub.ticket, len(sub.mailbox)
                    if ticket and not store.settled(ticket):
                        await store.wait_settled(ticket)
                    self._durable_head = min(count, len(sub.mailbox))
                    continue
                self._durable_head -= 1
                event = sub.mailbox.get_nowait()
                assert event is not None
                self._unacked = event.event_id
                if self._single and isinstance(event, WatchFailed):
                    self._end()
                    raise event.error
                sub.handed_out.events += 1
                return event
            if sub.closed or not sub.remaining:
                if not sub.closed and sub.error is None:
                    store.drop(name)  # every job ended and every event was delivered
                self._end()
                raise StopAsyncIteration
            await self._wait(sub)

    async def _wait(self, sub: _Subscription) -> None:
        """Wait for the mailbox, or end the watch's jobs when its deadline passes."""
        if self._deadline == math.inf:  # no deadline: no cancel scope (every wait comes here)
            await sub.mailbox.wait()
            return
        remaining = self._deadline - anyio.current_time()
        if remaining <= 0:
            await self._time_out()
            return
        with anyio.move_on_after(remaining):
            await sub.mailbox.wait()

    async def _time_out(self) -> None:
        """End every unfinished job of this watch with ``WatchTimedOut`` and a fresh snapshot."""
        jobs = sorted(self._sub.remaining)
        self._leave(self._sub, jobs)
        snapshots: dict[int, JobInstanceStatus | None] = {}

        async def fetch(job_id: int) -> None:
            snapshots[job_id] = await self._snapshot(self._sub.scope, job_id)

        async with anyio.create_task_group() as tg:
            for job_id in jobs:
                tg.start_soon(fetch, job_id)
        now = now_utc()
        for job_id in jobs:
            self._sub.end_job(job_id, WatchTimedOut(job_id, now, snapshots[job_id]))

    def _end(self) -> None:
        sub = self._sub
        if sub.remaining:
            self._leave(sub, list(sub.remaining))
            sub.remaining.clear()
        sub.close()

    async def aclose(self) -> None:
        """Stop watching; polling of a job stops when its last watch leaves."""
        self._end()
        await anyio.lowlevel.checkpoint()

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # A caller broke out of ``async for`` and dropped the watch. Only mark it: the poller
        # lets go of the subscription the next time it touches one of its jobs.
        self._sub.closed = True
