"""Delivery: a polled job's events to the watches that hold it, named watches through the store.

The driver calls it with what ``decide`` said (``Deliver``, ``Stalled``, ``Resumed``,
``GiveUp``). It decides nothing about polling; it knows which watch wants which event (a
watch's filter, its step), which watches a job's end ends, and that a named watch's events
are committed to the store before they are handed out. A job no open watch holds any more
leaves the registry here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .. import errors
from ._durable import STORED, encode_event
from ._tracker import JobState, step_done, to_data
from .events import Event, JobFinished, WatchFailed

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable

    from ..config import Scope
    from ._decide import Deliver
    from ._jobs import Registry, Watched
    from ._store import Store
    from ._subscription import _Subscription

    #: ``on_change(scope, job, state, events, last)``: see ``Poller``.
    OnChange = Callable[[Scope, int, JobState, list[Event], "Event | None"], None]

__all__ = ["Delivery"]

logger = logging.getLogger("bkjob_async.polling")


class Delivery:
    """Hand a job's events to its watches; commit a named watch's first."""

    __slots__ = ("events", "on_change", "registry", "store")

    def __init__(self, store: Store, on_change: OnChange | None) -> None:
        self.store = store
        self.on_change = on_change
        #: Set by the driver that owns the registry.
        self.registry: Registry | None = None
        #: Events observed, before each watch's filter (``statistics().events_observed``).
        self.events = 0

    def deliver(self, watched: Watched, what: Deliver) -> None:
        """Hand ``what.events`` to the job's watches; ``what.finished``: the job has ended so."""
        events, finished = what.events, what.finished
        job_id = watched.job.job_instance_id
        subscribers = tuple(watched.subscribers)  # (closed ones are skipped below)
        self.events += len(events)
        for sub in subscribers:
            if sub.closed:
                continue
            if sub.name is not None and what.changed:
                self._commit(sub, watched, events, finished, what.data)
            sub.offer(job_id, events)
        state = watched.job.state
        for sub in subscribers:
            if sub.closed:
                continue
            step = sub.step_instance_id
            if finished is not None and (step is None or not step_done(state, step)):
                sub.end_job(job_id, finished)
            elif step is not None and step_done(state, step):
                sub.end_job(job_id, None)
            else:
                continue
            watched.subscribers.remove(sub)
        if self.on_change is not None and (events or finished is not None):
            self.on_change(watched.job.scope, job_id, state, events, finished)
        self._release(watched)

    def stall(self, watched: Watched, since: _dt.datetime, error: errors.BkJobError) -> None:
        """Tell the job's watches its polls keep failing."""
        for sub in watched.subscribers:
            sub.stall(watched.job.job_instance_id, since, error)

    def resume(self, watched: Watched, since: _dt.datetime, at: _dt.datetime) -> None:
        """Tell the job's watches it answers again."""
        for sub in watched.subscribers:
            sub.resume(watched.job.job_instance_id, at, since)

    def give_up(self, watched: Watched, failed: WatchFailed) -> None:
        """End the job on every watch with ``failed``, and stop polling it."""
        job = watched.job
        for sub in watched.subscribers:
            sub.end_job(job.job_instance_id, failed)
        watched.subscribers.clear()
        if self.on_change is not None:
            self.on_change(job.scope, job.job_instance_id, job.state, [], failed)
        self._release(watched)

    def _release(self, watched: Watched) -> None:
        assert self.registry is not None
        self.registry.release_if_unwatched(watched)

    def _commit(
        self,
        sub: _Subscription,
        watched: Watched,
        events: list[Event],
        finished: JobFinished | None,
        data: object,
    ) -> None:
        """Store a named watch's new state and events in one transaction, before delivery."""
        job = watched.job
        job_id = job.job_instance_id
        if job_id not in sub.remaining:
            return
        wanted = sub.wanted(job_id, events)
        if finished is not None:
            wanted = [*wanted, finished]
        records = [
            (e.event_id, encode_event(e, data if isinstance(e, JobFinished) else None))
            for e in wanted
            if isinstance(e, STORED)
        ]
        assert sub.name is not None
        try:
            ticket = self.store.commit(sub.name, (job.scope, job_id), to_data(job.state), records)
        except errors.StoreError as exc:  # the store is closed: the poller is leaving
            logger.warning("watch %r: job %s not stored (%s)", sub.name, job_id, exc)
            return
        if not self.store.settled(ticket):
            sub.ticket = ticket
