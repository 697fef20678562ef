"""A tap: every event a poller's polls observe, for one reader, attached only while it is open.

Rule: the delivery calls a tap only while one is open (``Poller.tap()``); with none open a
delivery costs one truth test more, and nothing else. A tap never blocks a poll and never
decides anything: it keeps references to the event lists the delivery hands out, bounded
(``limit`` events: past it the oldest batches go and ``dropped`` counts their events), until
its reader ``take``\\ s them, or hands each delivery at once to its ``sink`` (a sink that
raises loses that delivery, counted in ``dropped``, and is logged; the poll goes on). ``jobs`` reads every job the poller knows now (polled, or
remembered after its watches ended) as plain values, so a reader starts from the present and
follows it with the events that come after, without a gap: both happen between two awaits.
``past`` reads what the poller's store kept of earlier runs (``Store.history``) the same way.
"""

from __future__ import annotations

import logging
import typing
from collections import deque
from typing import TYPE_CHECKING

import attrs

from ..config import Scope
from ..models import HostKey, HostStatus, JobStatus, StepStatus
from .events import Event

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from ._jobs import Registry
    from ._tracker import JobState
    from .stores import StoredHistory

__all__ = ["History", "JobSeen", "PastWatch", "StepSeen", "Tap", "past"]


@attrs.frozen
class StepSeen:
    """One step of a job as the poller last saw it."""

    step_instance_id: int
    status: StepStatus | None
    execute_count: int
    #: Each host's last status, in the order first seen.
    hosts: dict[HostKey, HostStatus]


@attrs.frozen
class JobSeen:
    """One job as the poller last saw it (``Tap.jobs``)."""

    scope: Scope
    job_instance_id: int
    #: ``None``: not answered yet.
    status: JobStatus | None
    finished: bool
    steps: tuple[StepSeen, ...]
    #: Polled now (``False``: its watches ended and the poller remembers its last state).
    polled: bool
    #: Only its end is watched and bk-job's job list stands for its polls (``_census``): it
    #: has not ended, and its status is not kept (``status`` stays ``None`` until it ends).
    listed: bool = False


#: One delivery: the job's scope, its events, and its last event when it ended.
Batch = tuple["Scope", "Sequence[Event]", "Event | None"]
if TYPE_CHECKING:
    from typing import TypeAlias

    #: What takes each delivery at once, when a tap has one.
    Sink: TypeAlias = Callable[[Scope, Sequence[Event], Event | None], None]

logger = logging.getLogger("bkjob_async.polling")


def _seen(
    scope: Scope, job_id: int, state: JobState, polled: bool, listed: bool = False
) -> JobSeen:
    steps = tuple(
        StepSeen(
            step.step_instance_id,
            None if step.status is None else StepStatus(step.status),
            step.execute_count,
            {k: HostStatus(c) for k, c in zip(step.keys, step.codes, strict=True)},
        )
        for step in state.steps
    )
    status = None if state.status is None else JobStatus(state.status)
    return JobSeen(scope, job_id, status, state.finished, steps, polled, listed)


@attrs.frozen
class PastWatch:
    """A watch the store dropped when it ended: when (seconds since the epoch), and its jobs as
    last seen (``polled`` false)."""

    name: str
    ended_at: float
    jobs: tuple[JobSeen, ...]


@attrs.frozen
class History:
    """What a poller's store kept of the past (``Poller.history``): the watches it dropped
    lately, oldest first, and the latest events committed, in order, with their jobs'
    scopes."""

    ended: tuple[PastWatch, ...] = ()
    recent: tuple[tuple[Scope, Event], ...] = ()


def past(stored: StoredHistory, parse: Callable[[Any, type[Any]], Any]) -> History:
    """Decode a store's history (what this version cannot read is left out)."""
    from ._codec import decode_event, from_data

    ended = []
    for watch in stored.ended:
        jobs = []
        for (scope, job_id), data in watch.jobs.items():
            if data is not None:
                try:
                    jobs.append(_seen(scope, job_id, from_data(data), False))
                except ValueError:
                    continue
        ended.append(PastWatch(watch.name, watch.ended_at, tuple(jobs)))
    recent = []
    for _, stored_event in stored.recent:
        try:
            recent.append((stored_event.job[0], decode_event(stored_event.payload, parse)))
        except ValueError:
            continue
    return History(tuple(ended), tuple(recent))


class _Taps(typing.Protocol):
    """Where a tap attaches: the delivery's open taps."""

    taps: tuple[Tap, ...]


class Tap:
    """Every event the poller's polls observe, kept for one reader while the tap is open.

    ::

        with poller.tap() as tap:
            jobs = tap.jobs()          # the present
            ...
            for scope, events, last in tap.take():   # what came since
                ...

    Events come before any watch's filter, in observation order per job. A reader that does
    not take for long loses the oldest batches past ``limit`` events (``dropped`` counts them:
    read ``jobs()`` again to start over).

    With a ``sink``, nothing is kept: each delivery goes to ``sink(scope, events, last)`` as
    it is made, inside the poll that made it, so the events are not held past it (a reader
    that folds each into counts keeps a busy poller's events from piling up between its
    reads). The sink must be quick and must not await; one that raises loses that delivery
    (``dropped``).
    """

    def __init__(
        self, delivery: _Taps, registry: Registry, limit: int, sink: Sink | None = None
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._delivery, self._registry, self._limit = delivery, registry, limit
        self._sink = sink
        self._batches: deque[Batch] = deque()
        self._held = 0
        #: Events lost because the reader did not take them in time.
        self.dropped = 0
        self.closed = True

    def __enter__(self) -> Tap:
        if not self.closed:
            raise RuntimeError("the tap is open already")
        self.closed = False
        self._delivery.taps = (*self._delivery.taps, self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Detach from the poller; later events are not kept (closing twice is fine)."""
        if not self.closed:
            self.closed = True
            self._delivery.taps = tuple(t for t in self._delivery.taps if t is not self)
            self._batches.clear()
            self._held = 0

    def offer(self, scope: Scope, events: Sequence[Event], last: Event | None) -> None:
        """Keep one delivery, or hand it to the sink (the delivery calls it); never blocks."""
        if self._sink is not None:
            try:
                self._sink(scope, events, last)
            except Exception:
                self.dropped += len(events) + (last is not None)
                logger.exception("a tap's sink failed: %d events lost", self.dropped)
            return
        self._batches.append((scope, events, last))
        self._held += len(events) + (last is not None)
        while self._held > self._limit and len(self._batches) > 1:
            _, old, old_last = self._batches.popleft()
            lost = len(old) + (old_last is not None)
            self._held -= lost
            self.dropped += lost

    def take(self) -> list[Batch]:
        """Return the deliveries kept since the last ``take``, oldest first."""
        batches = list(self._batches)
        self._batches.clear()
        self._held = 0
        return batches

    def jobs(self) -> list[JobSeen]:
        """Return every job the poller polls now, then those it remembers, as plain values."""
        registry = self._registry
        seen = [
            _seen(w.job.scope, w.job.job_instance_id, w.job.state, True, w.job.census)
            for w in registry.jobs.values()
        ]
        polled = {(j.scope.type.value, j.scope.id, j.job_instance_id) for j in seen}
        for (kind, scope_id, job_id), state in registry.remembered():
            if (kind, scope_id, job_id) not in polled:
                seen.append(_seen(Scope(kind, scope_id), job_id, state, False))
        return seen
