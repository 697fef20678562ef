"""Rule: a change reaches a watch only after the journal has it; delivery decides no polling.

The dispatcher: a polled job's events to the watches that hold it, after the journal has them.

The driver calls it with what ``decide`` said (``Deliver``, ``Failing``, ``Recovered``,
``GiveUp``) and with an outage's stalls and resumes, each with plain values: the job's value
and its watches, as the driver read them. It decides nothing about polling and reads no job
table; it knows which watch wants which event (a watch's filter, its step), which watches a
job's end ends (``deliver`` returns those left, for the driver to keep), and that a change is
recorded in the poller's journal (``Journal``, below) first: each watch it reaches holds the
journal's ticket, and hands nothing out before that ticket is settled.
"""

from __future__ import annotations

import logging
import typing
from typing import TYPE_CHECKING

from .. import errors
from ._codec import STORED, encode_event, to_data
from ._tracker import step_done
from .events import Event, JobFinished, JobPollFailing, JobPollRecovered, now_utc

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Sequence

    from ..config import Scope
    from ._decide import Deliver, Failing
    from ._jobs import PolledJob, Registry
    from ._subscription import _Subscription
    from ._tap import Tap
    from ._tracker import JobState
    from .events import WatchFailed
    from .stores import Store

__all__ = ["Dispatcher", "Journal", "StoreJournal"]


# --- journal -------------------------------------------------------------------------------------
#
# The one durable path of a poller: a journal seeds new jobs and records changes before delivery.
#
# A ``Poller`` has exactly one journal. After every poll that changed a job, the delivery calls
# ``record``; the journal writes what it keeps and returns a *ticket*, and no watch hands those
# events out before ``settled(ticket)`` (0: nothing to wait for; tickets only grow, so the
# newest ticket of a watch covers every event delivered to it before). A job new to the poller
# starts from ``seed`` (a state kept elsewhere, so its chains continue), or from nothing.
# Journals: ``StoreJournal`` (named watches on a ``Store``; the default) and the cluster's
# (``bkjob_async.cluster._journal``).


logger = logging.getLogger("bkjob_async.polling")


class Journal(typing.Protocol):
    """Where a poller makes job states and events durable before it hands them out."""

    #: Whether it keeps every change of every job (then the job list, which shows only a
    #: job's status, never stands for a job's polls).
    keeps_all: bool

    def seed(self, scope: Scope, job_id: int) -> JobState | None:
        """Return the state to poll a job new to the poller from (``None``: from nothing)."""

    def record(
        self,
        job: PolledJob,
        events: Sequence[Event],
        last: Event | None,
        watches: Sequence[_Subscription],
        raw: object,
    ) -> int:
        """Keep a change of ``job`` (its new value): its ``events`` and its end ``last``
        (``JobFinished`` or ``WatchFailed``), for the ``watches`` holding it. ``raw``: the
        answer a ``JobFinished``'s snapshot was parsed from. Return the ticket to wait for.
        """

    def settled(self, ticket: int) -> bool:
        """Whether everything recorded up to ``ticket`` is durable."""

    async def wait_settled(self, ticket: int) -> None:
        """Return once ``settled(ticket)``."""


class StoreJournal:
    """Named watches on a ``Store``: each commits its job's state and kept events."""

    __slots__ = ("store",)

    keeps_all = False

    def __init__(self, store: Store) -> None:
        self.store = store

    def seed(self, scope: Scope, job_id: int) -> JobState | None:
        return None  # a named watch seeds its own jobs from the states it stored

    def record(
        self,
        job: PolledJob,
        events: Sequence[Event],
        last: Event | None,
        watches: Sequence[_Subscription],
        raw: object,
    ) -> int:
        """Commit the job's new state and kept events to each named watch holding it, each
        in one transaction (a ``WatchFailed`` is about this process: not stored)."""
        ticket, job_id = 0, job.job_instance_id
        if not (last is None or isinstance(last, JobFinished)):
            return 0
        for sub in watches:
            if sub.name is None or sub.closed or job_id not in sub.remaining:
                continue
            wanted = [*sub.wanted(job_id, events), *([] if last is None else [last])]
            records = [
                (e.event_id, encode_event(e, raw if isinstance(e, JobFinished) else None))
                for e in wanted
                if isinstance(e, STORED)
            ]
            try:
                commit = self.store.commit(
                    sub.name, (job.scope, job_id), to_data(job.state), records
                )
            except errors.StoreError as exc:  # the store is closed: the poller is leaving
                logger.warning("watch %r: job %s not stored (%s)", sub.name, job_id, exc)
                continue
            ticket = max(ticket, commit)
        return ticket

    def settled(self, ticket: int) -> bool:
        return self.store.settled(ticket)

    async def wait_settled(self, ticket: int) -> None:
        await self.store.wait_settled(ticket)


# --- delivery ------------------------------------------------------------------------------------


class Dispatcher:
    """Hand a job's events to its watches, once the journal has recorded them."""

    __slots__ = ("events", "journal", "registry", "taps")

    def __init__(self, journal: Journal, registry: Registry) -> None:
        self.journal = journal
        #: The jobs polled (the driver's: it keeps the watches ``deliver`` leaves a job).
        self.registry = registry
        #: Events observed, before each watch's filter (``statistics().events_observed``).
        self.events = 0
        #: The open taps (``Poller.tap``): empty unless someone reads every event.
        self.taps: tuple[Tap, ...] = ()

    def deliver(
        self, job: PolledJob, subscribers: tuple[_Subscription, ...], what: Deliver
    ) -> tuple[_Subscription, ...]:
        """Hand ``what.events`` of ``job`` (its new value) to ``subscribers``, its watches;
        ``what.finished``: the job has ended so. Return the watches that still hold it."""
        events, finished = what.events, what.finished
        job_id = job.job_instance_id
        self.events += len(events)
        if self.taps:
            for tap in self.taps:
                tap.offer(job.scope, events, finished)
        ticket = 0
        if what.changed or finished is not None:
            ticket = self.journal.record(job, events, finished, subscribers, what.data)
        for sub in subscribers:  # (closed ones are skipped)
            if sub.closed:
                continue
            if ticket:
                sub.ticket = ticket
            sub.offer(job_id, events)
        state, held = job.state, subscribers
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
            held = tuple(s for s in held if s is not sub)
        return held

    def stall(
        self,
        job_id: int,
        subscribers: Sequence[_Subscription],
        since: _dt.datetime,
        error: errors.BkJobError,
    ) -> None:
        """Tell the job's watches bk-job cannot be reached (an outage)."""
        for sub in subscribers:
            sub.stall(job_id, since, error)

    def resume(
        self,
        job_id: int,
        subscribers: Sequence[_Subscription],
        since: _dt.datetime,
        at: _dt.datetime,
    ) -> None:
        """Tell the job's watches bk-job answers again."""
        for sub in subscribers:
            sub.resume(job_id, at, since)

    def failing(self, job_id: int, subscribers: Sequence[_Subscription], failing: Failing) -> None:
        """Tell the job's watches its reads fail alone (``JobPollFailing``)."""
        event = JobPollFailing(job_id, now_utc(), failing.since, failing.error, failing.failures)
        for sub in subscribers:
            sub.notice(event)

    def recovered(
        self,
        job_id: int,
        subscribers: Sequence[_Subscription],
        since: _dt.datetime,
        at: _dt.datetime,
    ) -> None:
        """Tell the job's watches it answers again (``JobPollRecovered``)."""
        event = JobPollRecovered(job_id, at, since)
        for sub in subscribers:
            sub.notice(event)

    def give_up(
        self, job: PolledJob, subscribers: Sequence[_Subscription], failed: WatchFailed
    ) -> None:
        """End the job on every watch with ``failed`` (the caller then stops polling it)."""
        if self.taps:
            for tap in self.taps:
                tap.offer(job.scope, (), failed)
        self.journal.record(job, [], failed, subscribers, None)
        for sub in subscribers:
            sub.end_job(job.job_instance_id, failed)
