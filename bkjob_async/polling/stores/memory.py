"""``MemoryStore``: the default store, in this process's memory; every call settles at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import StoreError
from . import (
    Store,
    StoredEvent,
    StoredWatch,
    StoreStatistics,
    check_event_id,
    check_name,
    check_state,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from . import JobKey, JsonValue

__all__ = ["MemoryStore"]


class _MemoryWatch:
    __slots__ = ("events", "jobs")

    def __init__(self) -> None:
        self.jobs: dict[JobKey, JsonValue] = {}
        self.events: dict[str, StoredEvent] = {}


class MemoryStore(Store):
    """The default store: everything in this process's memory, lost when it exits.

    Unbounded by design: a watch holds its jobs until removed and its events until
    acknowledged, as the poller does anyway. It outlives a ``Poller``, so ``resume`` works
    across pollers of one process. Values are kept as given, not copied.
    """

    def __init__(self) -> None:
        self._watches: dict[str, _MemoryWatch] = {}
        self._ticket = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryStore(watches={len(self._watches)})"

    async def open(self) -> None:
        self._closed = False

    async def aclose(self) -> None:
        """Close the store; its contents stay for a later ``open``."""
        self._closed = True

    async def watch_names(self) -> list[str]:
        return sorted(self._watches)

    async def load(self, name: str) -> StoredWatch | None:
        watch = self._watches.get(check_name(name))
        if watch is None:
            return None
        return StoredWatch(name, dict(watch.jobs), tuple(watch.events.values()))

    def _next(self) -> int:
        if self._closed:
            raise StoreError("the MemoryStore is closed")
        self._ticket += 1
        return self._ticket

    def add_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        ticket = self._next()
        watch = self._watches.get(check_name(name))
        if watch is None:
            watch = self._watches[name] = _MemoryWatch()
        for job in jobs:
            watch.jobs.setdefault(job, None)
        return ticket

    def remove_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        ticket = self._next()
        watch = self._watches.get(check_name(name))
        if watch is not None:
            gone = {job for job in jobs if watch.jobs.pop(job, False) is not False}
            if gone and watch.events:
                watch.events = {k: e for k, e in watch.events.items() if e.job not in gone}
        return ticket

    def drop(self, name: str) -> int:
        ticket = self._next()
        self._watches.pop(check_name(name), None)
        return ticket

    def commit(
        self,
        name: str,
        job: JobKey,
        state: JsonValue,
        events: Sequence[tuple[str, JsonValue]] = (),
    ) -> int:
        ticket = self._next()
        check_state(state)
        watch = self._watches.get(name)
        if watch is None or job not in watch.jobs:
            return ticket
        watch.jobs[job] = state
        pending = watch.events
        for event_id, payload in events:
            if event_id not in pending:
                check_event_id(event_id)
                pending[event_id] = StoredEvent(event_id, job, payload)
        return ticket

    def ack(self, name: str, event_ids: Iterable[str]) -> int:
        ticket = self._next()
        watch = self._watches.get(name)
        if watch is not None:
            for event_id in event_ids:
                watch.events.pop(event_id, None)
        return ticket

    def settled(self, ticket: int) -> bool:
        return True

    async def wait_settled(self, ticket: int) -> None:
        """Return at once."""

    async def flush(self) -> None:
        """Return at once."""

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(
            healthy=True,
            error=None,
            writes=self._ticket,
            pending_writes=0,
            transactions=0,
            failed_transactions=0,
        )
