"""Delivery: a polled job's events to the watches that hold it, after the journal has them.

The driver calls it with what ``decide`` said (``Deliver``, ``Failing``, ``Recovered``,
``GiveUp``) and with an outage's stalls and resumes. It decides nothing about polling; it knows which watch wants which event (a
watch's filter, its step), which watches a job's end ends, and that a change is recorded in
the poller's journal (``_journal``) first: each watch it reaches holds the journal's ticket,
and hands nothing out before that ticket is settled. A job no open watch holds any more
leaves the registry here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._subscription import now_utc
from ._tracker import step_done
from .events import JobPollFailing, JobPollRecovered

if TYPE_CHECKING:
    import datetime as _dt

    from .. import errors
    from ._decide import Deliver, Failing
    from ._jobs import Registry, Watched
    from ._journal import Journal
    from ._tap import Tap
    from .events import WatchFailed

__all__ = ["Delivery"]

logger = logging.getLogger("bkjob_async.polling")


class Delivery:
    """Hand a job's events to its watches, once the journal has recorded them."""

    __slots__ = ("events", "journal", "registry", "taps")

    def __init__(self, journal: Journal, registry: Registry) -> None:
        self.journal = journal
        #: The jobs polled (a job no open watch holds leaves it here).
        self.registry = registry
        #: Events observed, before each watch's filter (``statistics().events_observed``).
        self.events = 0
        #: The open taps (``Poller.tap``): empty unless someone reads every event.
        self.taps: tuple[Tap, ...] = ()

    def deliver(self, watched: Watched, what: Deliver) -> None:
        """Hand ``what.events`` to the job's watches; ``what.finished``: the job has ended so."""
        events, finished = what.events, what.finished
        job_id = watched.job.job_instance_id
        subscribers = watched.subscribers  # (closed ones are skipped below)
        self.events += len(events)
        if self.taps:
            for tap in self.taps:
                tap.offer(watched.job.scope, events, finished)
        ticket = 0
        if what.changed or finished is not None:
            ticket = self.journal.record(watched.job, events, finished, subscribers, what.data)
        for sub in subscribers:
            if sub.closed:
                continue
            if ticket:
                sub.ticket = ticket
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
            watched.subscribers = tuple(s for s in watched.subscribers if s is not sub)
        self._release(watched)

    def stall(self, watched: Watched, since: _dt.datetime, error: errors.BkJobError) -> None:
        """Tell the job's watches bk-job cannot be reached (an outage)."""
        for sub in watched.subscribers:
            sub.stall(watched.job.job_instance_id, since, error)

    def resume(self, watched: Watched, since: _dt.datetime, at: _dt.datetime) -> None:
        """Tell the job's watches bk-job answers again."""
        for sub in watched.subscribers:
            sub.resume(watched.job.job_instance_id, at, since)

    def failing(self, watched: Watched, failing: Failing) -> None:
        """Tell the job's watches its reads fail alone (``JobPollFailing``)."""
        event = JobPollFailing(
            watched.job.job_instance_id, now_utc(), failing.since, failing.error, failing.failures
        )
        for sub in watched.subscribers:
            sub.notice(event)

    def recovered(self, watched: Watched, since: _dt.datetime, at: _dt.datetime) -> None:
        """Tell the job's watches it answers again (``JobPollRecovered``)."""
        event = JobPollRecovered(watched.job.job_instance_id, at, since)
        for sub in watched.subscribers:
            sub.notice(event)

    def give_up(self, watched: Watched, failed: WatchFailed) -> None:
        """End the job on every watch with ``failed``, and stop polling it."""
        job = watched.job
        if self.taps:
            for tap in self.taps:
                tap.offer(job.scope, (), failed)
        self.journal.record(job, [], failed, watched.subscribers, None)
        for sub in watched.subscribers:
            sub.end_job(job.job_instance_id, failed)
        watched.subscribers = ()
        self._release(watched)

    def _release(self, watched: Watched) -> None:
        self.registry.release_if_unwatched(watched)
