"""The cluster's journal: a worker's job changes as fenced Redis writes, before anything else sees them.

A ``Worker``'s poller records every change of every job it polls here (``Poller(journal=...)``,
``polling._journal.Journal``): the new state and the events go to each watch of the job in one
fenced write (``RedisStore.commit``), and a job taken over starts from the state last written
under a valid lease (``seed``), so its chains continue. The worker supplies what it knows of
its jobs (``seed``, ``changed``); this module only adapts it to the journal's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..config import Scope
    from ..polling._jobs import PolledJob
    from ..polling._tracker import JobState
    from ..polling.events import Event
    from ._store import RedisStore

    #: ``changed(scope, job, state, events, last) -> ticket``: write a change of a job.
    Changed = Callable[[Scope, int, JobState, list[Event], "Event | None"], int]

__all__ = ["ClusterJournal"]


class ClusterJournal:
    """Every change of every job a worker polls, written to Redis under its leases."""

    __slots__ = ("_changed", "_seed", "store")

    #: The cluster keeps every change of every job: the job list never stands for a poll.
    keeps_all = True

    def __init__(
        self,
        store: RedisStore,
        *,
        seed: Callable[[Scope, int], JobState | None],
        changed: Changed,
    ) -> None:
        self.store = store
        self._seed = seed
        self._changed = changed

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
        if not events and last is None:
            return 0  # a state that moved without an event: nothing a consumer reads
        return self._changed(job.scope, job.job_instance_id, job.state, list(events), last)

    def settled(self, ticket: int) -> bool:
        return self.store.settled(ticket)

    async def wait_settled(self, ticket: int) -> None:
        await self.store.wait_settled(ticket)
