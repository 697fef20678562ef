"""The cluster's journal: a worker's job changes as fenced Redis writes, before anything else sees them.

A ``Worker``'s poller records every change of every job it polls here (``Poller(journal=...)``,
``polling._journal.Journal``): the new state and the events go to each watch of the job in one
fenced write (``RedisStore.commit``), the write of a job's end (``JobFinished``, or
``WatchFailed``) takes the job out of the watch, and a job taken over starts from the state
last written under a valid lease (``seed``), so its chains continue. The worker says which
watches a job is written to (``watches``) and hears of every end recorded (``ending``).
Events are written through the one codec (``_entries.encode_entry``), as ``EventStream`` reads
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..polling._codec import to_data
from ..polling._journal import StoreJournal
from ._entries import encode_entry, kept

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..config import Scope
    from ..polling._jobs import PolledJob
    from ..polling._tracker import JobState
    from ..polling.events import Event
    from ._keys import JobRef
    from ._store import RedisStore

__all__ = ["ClusterJournal"]


class ClusterJournal(StoreJournal):
    """Every change of every job a worker polls, written to Redis under its leases.

    :param seed: the state to start a job new to the poller from.
    :param watches: the watches a job is written to; ``None`` or empty: it is not polled
        here any more (a refused write, a lapsed lease), and nothing is written.
    :param ending: called with a job and its watches when its end is recorded (one write
        per watch is then under way).
    :param wire: how the poller's client reads raw answers (``_entries.wire_of``), written
        with a ``JobFinished`` so that a reader rebuilds its snapshot the same way.
    """

    __slots__ = ("_ending", "_seed", "_watches", "_wire", "commits")

    #: The cluster keeps every change of every job: the job list never stands for a poll.
    keeps_all = True

    def __init__(
        self,
        store: RedisStore,
        *,
        seed: Callable[[Scope, int], JobState | None],
        watches: Callable[[JobRef], frozenset[str] | None],
        ending: Callable[[JobRef, frozenset[str], Event], None],
        wire: dict[str, Any],
    ) -> None:
        super().__init__(store)
        self.store: RedisStore = store
        self._seed = seed
        self._watches = watches
        self._ending = ending
        self._wire = wire
        #: Writes queued (one per watch of each changed job).
        self.commits = 0

    def seed(self, scope: Scope, job_id: int) -> JobState | None:
        return self._seed(scope, job_id)

    def record(
        self,
        job: PolledJob,
        events: Sequence[Event],
        last: Event | None,
        watches: Sequence[object],
        raw: object,
    ) -> int:
        """Write a change of a job to each of its watches; return the newest write's ticket."""
        if not events and last is None:
            return 0  # a state that moved without an event: nothing a consumer reads
        scope = job.scope
        key = (scope, job.job_instance_id)
        targets = self._watches(key)
        if not targets:
            return 0
        records = [(e.event_id, encode_entry(e, raw, self._wire)) for e in events if kept(e)]
        if last is not None:
            if kept(last):
                records.append((last.event_id, encode_entry(last, raw, self._wire)))
            self._ending(key, targets, last)
        data, end, ticket = to_data(job.state), last is not None, 0
        for watch in targets:
            ticket = self.store.commit(watch, key, data, records, end=end)
            self.commits += 1
        return ticket
