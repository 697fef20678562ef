"""Rule: a watch is a plain async iterator over a mailbox the poller puts into without blocking.

What the poller holds of a watch is a ``_subscription._Subscription`` (its jobs, its filter,
its mailbox), never the caller's ``Watch``, so dropping a watch ends it. A ``Watch`` reads the
mailbox (PEP 789: no generator here owns a task group); ``Completed`` reads a watch for final
statuses only.
"""

from __future__ import annotations

import math
import typing
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.abc
import anyio.lowlevel

from .. import errors
from .._checks import check_bool
from ..config import MAX_ID, check_id
from ._summary import Told
from .events import (
    ContainerTransition,
    Event,
    HostTransition,
    JobFinished,
    JobTransition,
    WatchFailed,
    WatchTimedOut,
    now_utc,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ..client import BkJobClient
    from ..config import Scope
    from ..models import JobInstanceStatus
    from ._delivery import Journal
    from ._subscription import _Subscription
    from ._summary import WatchSummary
    from .stores import Store

__all__ = ["Completed", "Jobs", "Snapshots", "Watch"]


# --- watch ---------------------------------------------------------------------------------------


#: The events a summary is made of (host and step transitions are not).
_TOLD = frozenset({JobTransition, JobFinished, WatchFailed, WatchTimedOut})


class Jobs(Protocol):
    """What a watch asks of its poller (``poller.Attachments``): to poll its jobs or stop, and a
    job's whole status now."""

    async def subscribe(
        self, sub: _Subscription, ids: Sequence[int], launched: bool = False
    ) -> None:
        """Poll ``ids`` for ``sub`` (``launched``: launched a moment ago)."""

    async def unsubscribe(self, sub: _Subscription, job_ids: Sequence[int]) -> None:
        """Stop polling ``job_ids`` for ``sub``, to the end even when cancelled."""

    async def snapshot(self, scope: Scope, job_id: int) -> JobInstanceStatus | None:
        """Return a job's whole status now (``None``: it could not be read)."""


class Watch(anyio.abc.AsyncResource):
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
        jobs: Jobs,
        *,
        single: bool,
        deadline: float | None,
        store: Store | None = None,
        journal: Journal | None = None,
    ) -> None:
        """``jobs`` polls the watch's jobs (``Jobs``); ``single``: a watch of one job, which
        takes no more and raises a ``WatchFailed``'s error."""
        self._sub = subscription
        self._jobs = jobs
        #: A named watch's store (``None``: the watch is not named).
        self._store = store if subscription.name is not None else None
        #: The journal whose tickets the watch waits for (``None``: it waits for nothing).
        self._journal = journal
        #: The id of the event handed out last and not yet acknowledged.
        self._unacked: str | None = None
        #: How many events at the head of the mailbox are known durable (a named watch).
        self._durable_head = 0
        self._single = single
        self._deadline = math.inf if deadline is None else anyio.current_time() + deadline
        #: What the watch handed out, per job (``summary``).
        self._told = Told()

    def __len__(self) -> int:
        """How many jobs the watch holds (``jobs``)."""
        return len(self._sub.job_instance_ids)

    @property
    def jobs(self) -> tuple[int, ...]:
        """Every job the watch holds, finished or not, in the order added (not removed ones)."""
        return self._sub.job_instance_ids

    def _checked(self, scope: Scope, job_instance_ids: Iterable[int]) -> tuple[int, ...]:
        if self._single:
            raise TypeError("only a watch of many jobs (watch_jobs) can take or drop jobs")
        if scope != self._sub.scope:
            raise ValueError(f"this watch holds jobs of {self._sub.scope}, not of {scope}")
        if self._sub.closed:
            raise RuntimeError("the watch has ended")
        return _ids(job_instance_ids)

    async def add(
        self, scope: Scope, job_instance_ids: Iterable[int], *, launched: bool = False
    ) -> None:
        """Watch more jobs on this watch; their first events report ``previous=None`` unless
        the poller already knows them. Jobs it holds already are ignored. The watch's
        ``deadline`` (from its start) applies to them too. ``launched=True``: they were
        launched a moment ago (``Poller.watch_jobs``).
        """
        check_bool(launched, "launched")
        ids = self._checked(scope, job_instance_ids)
        new = self._sub.add(ids)
        if new and self._store is not None and self._sub.name is not None:
            # The job set is durable before the new jobs are polled.
            ticket = self._store.add_jobs(self._sub.name, [(scope, i) for i in new])
            await self._store.wait_settled(ticket)
        if new:
            await self._jobs.subscribe(self._sub, new, launched)

    async def remove(self, scope: Scope, job_instance_ids: Iterable[int]) -> None:
        """Stop watching these jobs on this watch (events already received stay); polling of a
        job stops when its last watch lets go. A watch with no job left ends.
        """
        ids = self._checked(scope, job_instance_ids)
        await self._jobs.unsubscribe(self._sub, self._sub.remove(ids))
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

    def summary(self) -> WatchSummary:
        """Return what this watch has handed out so far, per job: jobs by status, the failed
        hosts of those that ended, the jobs waiting for a person, those given up on."""
        return self._told.summary(self._sub.job_instance_ids)

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Event:
        """Wait for and return the next event; ``StopAsyncIteration`` once every job has ended.

        Per job, events come in observation order (hosts, then steps, then the job), and a
        job's end (``JobFinished``, ``WatchFailed``, ``WatchTimedOut``) is its last event. On
        a named watch, asking for the next event acknowledges the previous one.
        """
        if self._journal is not None:
            told = await self._next_durable(self._journal)
            if type(told) in _TOLD:
                self._told.feed(told)
            return told
        sub = self._sub
        event = sub.mailbox.get_nowait()
        while True:
            if event is not None:
                if self._single and isinstance(event, WatchFailed):
                    await self._end()
                    raise event.error
                sub.handed_out.events += 1
                if type(event) in _TOLD:
                    self._told.feed(event)
                return event
            if sub.closed or not sub.remaining:
                await self._end()
                raise StopAsyncIteration
            event = await self._next(sub)

    async def _next_durable(self, journal: Journal) -> Event:
        """``__anext__`` through a journal: hand out only settled events; on a named watch, ack
        the last one first."""
        sub = self._sub
        name, store = sub.name, self._store
        if self._unacked is not None and store is not None and name is not None:
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
                    if ticket and not journal.settled(ticket):
                        await journal.wait_settled(ticket)
                    self._durable_head = min(count, len(sub.mailbox))
                    continue
                self._durable_head -= 1
                event = sub.mailbox.get_nowait()
                assert event is not None
                if store is not None:
                    self._unacked = event.event_id
                if self._single and isinstance(event, WatchFailed):
                    await self._end()
                    raise event.error
                sub.handed_out.events += 1
                return event
            if sub.closed or not sub.remaining:
                if store is not None and name is not None and not sub.closed and sub.error is None:
                    store.drop(name)  # every job ended and every event was delivered
                await self._end()
                raise StopAsyncIteration
            await self._wait(sub)

    async def _next(self, sub: _Subscription) -> Event | None:
        """Wait for the mailbox and return its next event (``None``: none came), or end the
        watch's jobs when its deadline passes (``_wait``)."""
        if self._deadline == math.inf:  # no deadline: no cancel scope (every wait comes here)
            return await sub.mailbox.next()
        remaining = self._deadline - anyio.current_time()
        if remaining <= 0:
            await self._time_out()
            return sub.mailbox.get_nowait()
        with anyio.move_on_after(remaining):
            return await sub.mailbox.next()
        return sub.mailbox.get_nowait()

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
        await self._jobs.unsubscribe(self._sub, jobs)
        snapshots: dict[int, JobInstanceStatus | None] = {}

        async def fetch(job_id: int) -> None:
            snapshots[job_id] = await self._jobs.snapshot(self._sub.scope, job_id)

        async with anyio.create_task_group() as tg:
            for job_id in jobs:
                tg.start_soon(fetch, job_id)
        now = now_utc()
        for job_id in jobs:
            self._sub.end_job(job_id, WatchTimedOut(job_id, now, snapshots[job_id]))

    async def _end(self) -> None:
        """Close the watch at once (nothing more reaches it), then let go of its jobs in
        slices, to the end even when cancelled (``poller.Attachments.unsubscribe``)."""
        sub = self._sub
        left = list(sub.remaining)
        sub.remaining.clear()
        sub.close()
        if left:
            await self._jobs.unsubscribe(sub, left)

    async def aclose(self) -> None:
        """Stop watching; polling of a job stops when its last watch leaves.

        Every job is let go of before it returns, even when it is cancelled; a large watch
        lets go of its jobs in slices, letting other tasks run between them.
        """
        await self._end()
        await anyio.lowlevel.checkpoint()

    def __del__(self) -> None:
        # A caller broke out of ``async for`` and dropped the watch. Only mark it: the poller
        # lets go of the subscription the next time it touches one of its jobs.
        self._sub.closed = True


def _ids(job_instance_ids: Iterable[int]) -> tuple[int, ...]:
    """Check job ids (before anything is sent) and drop repeats, keeping their order."""
    if isinstance(job_instance_ids, (str, bytes)):
        raise TypeError("job_instance_ids must be an iterable of ints, not a string")
    ids = tuple(job_instance_ids)
    # Plain ints in range are checked in C, and a set tells whether any repeats (50,000 ids
    # checked one by one, or put in order in a dict, hold the loop for milliseconds); anything
    # else one by one, for its error.
    if ids and set(map(type, ids)) == {int} and min(ids) >= 1 and max(ids) <= MAX_ID:
        return ids if len(set(ids)) == len(ids) else tuple(dict.fromkeys(ids))
    return tuple(dict.fromkeys(check_id(i, "job_instance_id") for i in ids))


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


class Snapshots:
    """Read a job's whole status now (a timed-out watch's last word); ``None`` on failure."""

    def __init__(self, client: BkJobClient, at_once: int) -> None:
        self._client = client
        self._limiter = anyio.CapacityLimiter(at_once)

    async def __call__(self, scope: Scope, job_id: int) -> JobInstanceStatus | None:
        async with self._limiter:
            try:
                return await self._client.get_job_instance_status(scope, job_id)
            except errors.BkJobError:
                return None


class Completed(anyio.abc.AsyncResource):
    """What ``Poller.as_completed`` returns: final statuses in finishing order.

    An async iterator; ``aclose()`` (or leaving ``async with``) stops watching.
    """

    def __init__(self, watch: Watch) -> None:
        self._watch = watch

    def __aiter__(self) -> Completed:
        return self

    async def __anext__(self) -> JobInstanceStatus:
        event = await self._watch.__anext__()
        while isinstance(event, (HostTransition, ContainerTransition)):  # (``with_hosts``)
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

    async def add(
        self, scope: Scope, job_instance_ids: Iterable[int], *, launched: bool = False
    ) -> None:
        """Wait for more jobs too (a service that launches over time waits on one set);
        ``launched=True``: they were launched a moment ago (``Poller.watch_jobs``)."""
        await self._watch.add(scope, job_instance_ids, launched=launched)

    async def aclose(self) -> None:
        """Stop watching the jobs that have not finished."""
        await self._watch.aclose()
