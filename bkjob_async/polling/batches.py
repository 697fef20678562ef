"""Rule: rolling batch progress derived from a watch's own events; pure, no request, no engine.

A rolling step's answers carry no batch number (bk-job's step status filters by ``batch`` and
labels nothing), so the batches are read from the host and step transitions a watch already
yields: the hosts that leave waiting (5) while no batch runs start the next batch; a batch ends
when every host of it has finished; the hosts still at 5 then wait for the next one.

A step counts as rolling once it shows it: at 15 (``ROLLING_WAITING``, between batches), or with
no host running, some finished and some waiting (a batch boundary seen in one poll, as a manual
rolling pause at 7 shows it). Until then its batch events are held, then handed out in order
(each with the time its poll was seen), so a step that turns out not to roll yields none.

Staggered rolling (``execution_mode`` 2) starts batches while others run and never stops at 15:
its overlapping batches read as one batch here, and a step whose batches never pause yields no
batch events. ``follow_batches(watch)`` yields the watch's events with these added; a
``BatchFollower`` does the same one event at a time.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

import attrs

from ..models import HostKey, HostStatus, JobStatus
from .events import HostTransition, JobFinished, StepTransition, WatchFailed, WatchTimedOut

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator

__all__ = [
    "BatchEnded",
    "BatchEvent",
    "BatchFollower",
    "BatchStarted",
    "BatchWaiting",
    "follow_batches",
]


@attrs.frozen
class _Batch:
    """What every batch event tells: the step round, its batch and the hosts of the event."""

    job_instance_id: int
    observed_at: _dt.datetime
    step_instance_id: int
    execute_count: int
    batch: int
    hosts: tuple[HostKey, ...]


def _event_id(event: _Batch, tail: str) -> str:
    """A batch event's identity: job, step, round and batch, then what it tells (``tail``)."""
    return f"{event.job_instance_id}/{event.step_instance_id}/{event.execute_count}/b{event.batch}{tail}"


@attrs.frozen
class BatchStarted(_Batch):
    """Rolling batch ``batch`` (from 1) of a step round started: ``hosts`` are those seen
    starting in that poll (a host of the batch that starts a poll later is in its end only)."""

    @property
    def event_id(self) -> str:
        """Stable identity: job, step, round and batch."""
        return _event_id(self, "")


@attrs.frozen
class BatchEnded(_Batch):
    """Every host of batch ``batch`` finished; ``failed`` are those that did not succeed."""

    failed: tuple[HostKey, ...] = ()

    @property
    def event_id(self) -> str:
        """Stable identity: job, step, round and batch."""
        return _event_id(self, "/end")


@attrs.frozen
class BatchWaiting(_Batch):
    """After batch ``batch - 1`` ended, ``hosts`` wait (at 5) for batch ``batch``."""

    @property
    def event_id(self) -> str:
        """Stable identity: job, step, round and the batch waited for."""
        return _event_id(self, "/wait")


#: Any of the batch events ``BatchFollower`` and ``follow_batches`` add to a watch.
BatchEvent = BatchStarted | BatchEnded | BatchWaiting
_Round = tuple[int, int, int]  # (job, step, execute_count)


@attrs.define
class _Step:
    """What one step round's hosts do, and the batch events not handed out yet."""

    status: dict[Any, HostStatus] = attrs.Factory(dict)
    started: list[Any] = attrs.Factory(list)  # hosts that left 5 since the last evaluation
    batch: int = 0
    members: tuple[Any, ...] = ()  # the open batch's hosts (empty: none open)
    rolling: bool = False
    held: list[BatchEvent] = attrs.Factory(list)
    at: _dt.datetime | None = None
    step_status: JobStatus | None = None


class BatchFollower:
    """Turn a watch's events into rolling batch events, one event at a time; pure."""

    def __init__(self) -> None:
        self._steps: dict[_Round, _Step] = {}
        self._pending: set[_Round] = set()  # rounds with host changes not evaluated yet
        self._group: tuple[int, _dt.datetime] | None = None

    def feed(self, event: object) -> list[BatchEvent]:
        """Take the next event of the watch; return the batch events it makes known."""
        out: list[BatchEvent] = []
        job = getattr(event, "job_instance_id", None)
        at = getattr(event, "observed_at", None)
        if self._group is not None and (job, at) != self._group:
            out += self._evaluate()  # the previous poll's events are all in
        self._group = None if job is None or at is None else (job, at)
        if isinstance(event, HostTransition):
            step = self._step(event.job_instance_id, event.step_instance_id, event.execute_count)
            key = event.host_key
            if event.current is not HostStatus.WAITING and event.previous in (
                None,
                HostStatus.WAITING,
            ):
                step.started.append(key)
            step.status[key] = event.current
            step.at = event.observed_at
            self._pending.add((event.job_instance_id, event.step_instance_id, event.execute_count))
        elif isinstance(event, StepTransition):
            step = self._step(event.job_instance_id, event.step_instance_id, event.execute_count)
            step.step_status, step.at = event.current, event.observed_at
            self._pending.add((event.job_instance_id, event.step_instance_id, event.execute_count))
            out += self._evaluate()  # a poll's host events come before its step's
        elif isinstance(event, (JobFinished, WatchFailed, WatchTimedOut)):
            out += self._evaluate()
            for ended in [k for k in self._steps if k[0] == event.job_instance_id]:
                del self._steps[ended]
        return out

    def close(self) -> list[BatchEvent]:
        """Return the batch events the last poll made known (the watch ended)."""
        return self._evaluate()

    def _step(self, job: int, step: int, execute_count: int) -> _Step:
        return self._steps.setdefault((job, step, execute_count), _Step())

    def _evaluate(self) -> list[BatchEvent]:
        out: list[BatchEvent] = []
        for key in sorted(self._pending):
            step = self._steps.get(key)
            if step is not None:
                out += _advance(key, step)
        self._pending.clear()
        return out


def _advance(key: _Round, step: _Step) -> list[BatchEvent]:
    """Apply one poll's changes to a step round; return the batch events it releases."""
    at = step.at or _dt.datetime.now(_dt.timezone.utc)
    status = step.status
    started = [h for h in step.started if h not in step.members]
    step.started.clear()
    if step.members and all(status[h].is_finished for h in step.members):
        failed = tuple(h for h in step.members if not status[h].is_success)
        job, step_id, execute_count = key
        step.held.append(
            BatchEnded(job, at, step_id, execute_count, step.batch, step.members, failed)
        )
        step.members = ()
        # (hosts that left 5 in this very poll waited for the next batch too: 15 went unseen)
        waiting = tuple(h for h, s in status.items() if s is HostStatus.WAITING or h in started)
        if waiting:
            step.held.append(BatchWaiting(key[0], at, key[1], key[2], step.batch + 1, waiting))
    if started:
        if step.members:  # a batch's hosts starting a poll apart: the same batch
            step.members += tuple(started)
        else:
            step.batch += 1
            step.members = tuple(started)
            step.held.append(BatchStarted(key[0], at, key[1], key[2], step.batch, step.members))
    values = status.values()
    boundary = (
        not any(s is HostStatus.RUNNING for s in values)
        and any(s is HostStatus.WAITING for s in values)
        and any(s.is_finished for s in values)
    )
    if step.step_status is JobStatus.ROLLING_WAITING or boundary:
        step.rolling = True
    if not step.rolling:
        if step.step_status is not None and step.step_status.is_finished:
            step.held.clear()  # it ended without rolling
        return []
    released, step.held = step.held, []
    return released


async def follow_batches(events: AsyncIterable[Any]) -> AsyncIterator[Any]:
    """Yield ``events`` (a watch) with the rolling batch events they make known put in: each
    after the host events of the poll that showed it, before that poll's step or job
    transition (or, when it has none, before the next poll's first event)."""
    follower = BatchFollower()
    async for event in events:
        for derived in follower.feed(event):
            yield derived
        yield event
    for derived in follower.close():
        yield derived
