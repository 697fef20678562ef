"""The one durable path of a poller: a journal seeds new jobs and records changes before delivery.

A ``Poller`` has exactly one journal. After every poll that changed a job, the delivery calls
``record``; the journal writes what it keeps and returns a *ticket*, and no watch hands those
events out before ``settled(ticket)`` (0: nothing to wait for; tickets only grow, so the
newest ticket of a watch covers every event delivered to it before). A job new to the poller
starts from ``seed`` (a state kept elsewhere, so its chains continue), or from nothing.
Journals: ``StoreJournal`` (named watches on a ``Store``; the default) and the cluster's
(``bkjob_async.cluster._journal``).
"""

from __future__ import annotations

import logging
import typing
from typing import TYPE_CHECKING

from .. import errors
from ._codec import STORED, encode_event, to_data
from .events import Event, JobFinished

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..config import Scope
    from ._jobs import PolledJob
    from ._subscription import _Subscription
    from ._tracker import JobState
    from .stores import Store

__all__ = ["Journal", "StoreJournal"]

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
