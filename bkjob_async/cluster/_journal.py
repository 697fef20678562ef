"""Rule: a worker's job changes are fenced Redis writes, made before anything else sees them.

The cluster's journal: a worker's job changes as fenced Redis writes, before anything else sees them.

A ``Worker``'s poller records every change of every job it polls here (``Poller(journal=...)``):
the new state and the events go to each watch the job is held in (``Holdings``) in one fenced
write (``RedisStore.commit``), and the write of a job's end (``JobFinished``, or
``WatchFailed``) takes the job out of the watch. A job taken over starts from the state last
written under a valid lease (``seeds``), so its chains continue. Events are written through
the one codec (``_entries.encode_entry``), as ``EventStream`` reads them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..polling._codec import to_data
from ..polling._delivery import StoreJournal
from ..polling._tracker import EMPTY
from ..polling.events import WatchFailed
from ._entries import encode_entry, kept

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..config import Scope
    from ..polling._jobs import PolledJob
    from ..polling._tracker import JobState
    from ..polling.events import Event
    from ._keys import JobRef
    from ._store import RedisStore

__all__ = ["ClusterJournal"]

log = logging.getLogger("bkjob_async.cluster")


class ClusterJournal(StoreJournal):
    """Every change of every job a worker polls, written to Redis under its leases.

    :param wire: how the poller's client reads raw answers (``_entries.wire_of``), written
        with a ``JobFinished`` so that a reader rebuilds its snapshot the same way.
    """

    __slots__ = ("_wire", "commits", "seeds")

    #: The cluster keeps every change of every job: the job list never stands for a poll.
    keeps_all = True

    def __init__(self, store: RedisStore, *, wire: dict[str, Any]) -> None:
        super().__init__(store)
        self.store: RedisStore = store
        self._wire = wire
        #: The state to start each job the worker follows next from.
        self.seeds: dict[JobRef, JobState] = {}
        #: Writes queued (one per watch of each changed job).
        self.commits = 0

    def seed(self, scope: Scope, job_id: int) -> JobState | None:
        # Always a state: never the engine's memory of a job it polled before losing it.
        return self.seeds.pop((scope, job_id), EMPTY)

    def record(
        self,
        job: PolledJob,
        events: Sequence[Event],
        last: Event | None,
        watches: Sequence[object],
        raw: object,
    ) -> int:
        """Write a change of a job to each watch it is held in (none: it is not polled here
        any more); return the newest write's ticket."""
        if not events and last is None:
            return 0  # a state that moved without an event: nothing a consumer reads
        key = (job.scope, job.job_instance_id)
        targets = self.store.held.jobs.get(key)
        if not targets:
            return 0
        records = [(e.event_id, encode_entry(e, raw, self._wire)) for e in events if kept(e)]
        if last is not None:
            if kept(last):
                records.append((last.event_id, encode_entry(last, raw, self._wire)))
            if isinstance(last, WatchFailed):
                log.warning("job %d cannot be watched (%s); not polling it", key[1], last.error)
        data, end, ticket = to_data(job.state), last is not None, 0
        for watch, member in targets.items():
            member.ending = end
            ticket = self.store.commit(watch, key, data, records, end=end)
            self.commits += 1
        return ticket
