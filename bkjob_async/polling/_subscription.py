"""What the poller holds of a watch: its jobs, its filter and its mailbox; no I/O.

Workers put events in a ``_Mailbox`` and never block. The poller holds a ``_Subscription``,
never the caller's ``Watch`` (``_watch``), so dropping a watch ends it. A consumer waits on a
bare asyncio future, as parked workers do (``_jobs.Due``): no anyio Event made per wait and set
per event.
"""

from __future__ import annotations

import asyncio
import sys
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

import attrs

from .events import (
    ContainerTransition,
    Event,
    HostTransition,
    JobPollFailing,
    JobPollRecovered,
    JobTransition,
    PollingResumed,
    PollingStalled,
    StepTransition,
    now_utc,
    waits_for_a_person,
)

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Sequence

    from ..config import Scope
    from ..errors import BkJobError

__all__ = ["HandedOut"]


def _event_key(event: Event) -> tuple[Any, ...]:
    if isinstance(event, HostTransition):
        return ("h", event.job_instance_id, event.step_instance_id, event.host_key)
    if isinstance(event, ContainerTransition):
        return ("h", event.job_instance_id, event.step_instance_id, event.container_key)
    if isinstance(event, StepTransition):
        return ("s", event.job_instance_id, event.step_instance_id)
    if isinstance(event, JobTransition):
        return ("j", event.job_instance_id)
    if isinstance(event, PollingStalled):
        return ("stalled",)
    if isinstance(event, PollingResumed):
        return ("resumed",)
    if isinstance(event, (JobPollFailing, JobPollRecovered)):  # (the newer says it all)
        return ("poll", event.job_instance_id)
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

    __slots__ = ("_exact", "_limit", "_merged", "_waiter")

    def __init__(self, limit: int) -> None:
        self._exact: deque[Event] = deque()
        self._merged: OrderedDict[tuple[Any, ...], Event] | None = None
        self._limit = limit
        #: The consumer's wait, while it waits (``wait``); ``wake`` resolves it.
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._exact) + len(self._merged or ())

    @property
    def coalescing(self) -> bool:
        return self._merged is not None

    def put(self, event: Event) -> None:
        if self._merged is None:
            if len(self._exact) < self._limit:
                self._exact.append(event)
                if self._waiter is not None:
                    self.wake()
                return
            self._merged = OrderedDict()
            for pending in self._exact:
                self._coalesce(pending)
            self._exact.clear()
        self._coalesce(event)
        self.wake()

    def _coalesce(self, event: Event) -> None:
        assert self._merged is not None
        key = _event_key(event)
        old = self._merged.get(key)
        if isinstance(old, (HostTransition, ContainerTransition, StepTransition, JobTransition)):
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
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> Event | None:
        """Wait as ``wait`` does, then return the next event (``None``: woken with none): a
        consumer waiting here is handed the event it was woken for."""
        await self.wait()
        return self.get_nowait()

    async def wait(self) -> None:
        """Return once an event was put or ``wake`` was called (at once if one is pending)."""
        if not len(self):
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None


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
        #: The journal's ticket of the newest change whose events are in the mailbox (0: none
        #: unsettled). A watch that waits for its journal hands out nothing before it settles.
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
                (
                    step is None
                    or (
                        isinstance(event, (HostTransition, ContainerTransition, StepTransition))
                        and event.step_instance_id == step
                    )
                )
                and (kinds is None or type(event) in kinds)
            ) or waits_for_a_person(event):
                self.mailbox.put(event)

    def wanted(self, job_id: int, events: Sequence[Event]) -> list[Event]:
        """Return the events ``offer`` would deliver (a named watch commits exactly those)."""
        if self.closed or job_id not in self.remaining:
            return []
        kinds = self.kinds
        if kinds is None:
            return list(events)
        return [e for e in events if type(e) in kinds or waits_for_a_person(e)]

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

    def notice(self, event: JobPollFailing | JobPollRecovered) -> None:
        """Hand out a notice about one of the watch's jobs, if it is still open there."""
        if not self.closed and event.job_instance_id in self.remaining:
            self._put(event)

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
        stalled = self.stalled
        if stalled is not None:
            stalled.discard(job_id)
            if not stalled:  # the last stalled job ended: no job of the watch is stalled now
                self.stalled = None
                if not self.closed and self.remaining - {job_id}:
                    now = now_utc()
                    self._put(PollingResumed(job_id, now, self.stalled_since or now))
        if job_id in self.remaining:
            self.remaining.discard(job_id)
            if last is not None:
                self._put(last)
            if not self.remaining:
                self.mailbox.wake()

    def close(self) -> None:
        self.closed = True
        self.mailbox.wake()
