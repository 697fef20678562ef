"""Where a named watch keeps its jobs, tracker states and unacknowledged events; no engine logic.

The store is a dumb, durable map the engine writes through. States and events are opaque JSON
values; a durable store gives them back as ``json.loads(json.dumps(value))`` would, and
``MemoryStore`` keeps the very objects it is given (never mutate a value handed over). Per
watch name it holds the job set (``(Scope, job_instance_id)`` in add order, each with the
state of its last committed observation, ``None`` before) and the pending events
(``(event_id, job, payload)`` in commit order, the delivery order) until acknowledged.

**The write API is the hot path** and never blocks: ``add_jobs``, ``remove_jobs``, ``drop``,
``commit`` and ``ack`` queue the write and return a *ticket* (an int that grows with every
call), written in call order: whatever is durable, every earlier call is too (``_queue``:
settling, health, backoff). Reads (``load``, ``watch_names``) flush first.

**Order.** ``commit`` writes a changed job's new state and its events (deterministic
``event_id``s) in one transaction, and the engine hands the events out only once it is settled
(the delivery rule and why: ``bkjob_async.polling``); after a crash, ``load`` returns them as
pending, same ids and order.

**Membership.** ``commit`` of a job not in the watch is ignored, events included.
``remove_jobs`` deletes the jobs' states and pending events; ``add_jobs`` keeps a known job's
state; an ``event_id`` already pending keeps its first place. A watch is loaded before the
engine commits or acks for it: a durable store may know only the pending ids of this process.
``open()`` refuses a store it cannot use with ``StoreError``; a write call on a closed store
raises ``StoreError``.

**History** (``history()``, optional: nothing by default). A durable store may keep, for
whoever looks after a restart (the dashboard), the latest events committed, acknowledged or
not, and each dropped watch's jobs with their last states and when it was dropped: a watch is
dropped when it ended. It is best effort, written off the hot path (``SqliteStore``: at each
fold of its log, about once a second), and never read by the engine.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from anyio.abc import AsyncResource

from ..._checks import check_watch as check_name
from ...config import Scope
from ...errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "EndedWatch",
    "JobKey",
    "JsonValue",
    "Store",
    "StoreStatistics",
    "StoredEvent",
    "StoredHistory",
    "StoredWatch",
    "UnknownWatchError",
    "check_name",
]

#: A JSON value: ``None``, ``bool``, ``int``, ``float``, ``str``, ``list`` or ``dict[str, ...]``.
JsonValue = Any
#: A watched job: its scope and ``job_instance_id``.
JobKey = tuple[Scope, int]

_S = TypeVar("_S", bound="Store")


class UnknownWatchError(StoreError, LookupError):
    """``Poller.resume(name)``: the store holds no watch of that name (or it has ended)."""


@attrs.frozen
class StoredEvent:
    """An event committed and not yet acknowledged: its id, its job and the engine's payload."""

    event_id: str
    job: JobKey
    payload: JsonValue


@attrs.frozen
class StoredWatch:
    """What ``load`` returns: a watch's jobs (in add order) with their states, and its pending events."""

    name: str
    jobs: Mapping[JobKey, JsonValue]
    pending: tuple[StoredEvent, ...]


@attrs.frozen
class EndedWatch:
    """A watch the store dropped (it ended): its name, when (seconds since the epoch), and its
    jobs (in add order) with the states of their last committed observations."""

    name: str
    ended_at: float
    jobs: Mapping[JobKey, JsonValue]


@attrs.frozen
class StoredHistory:
    """What ``history`` returns: the watches dropped lately (oldest first) and the latest
    events committed (``(watch name, event)`` in commit order, acknowledged or not)."""

    ended: tuple[EndedWatch, ...] = ()
    recent: tuple[tuple[str, StoredEvent], ...] = ()


@attrs.frozen
class StoreStatistics:
    """A snapshot of a store's writes and health: ``healthy`` is false while writes fail (disk
    full, I/O error; the data is kept in memory meanwhile), ``error`` the last write error then
    (``"database or disk is full"``); write calls accepted since the store was opened
    (``writes``) and not yet durable (``pending_writes``); ``transactions`` committed (one per
    batch) and ``failed_transactions`` (kept for a retry)."""

    healthy: bool
    error: str | None
    writes: int
    pending_writes: int
    transactions: int
    failed_transactions: int


def check_state(state: JsonValue) -> None:
    """Raise ``ValueError`` if a committed ``state`` is ``None`` (which means "no state yet")."""
    if state is None:
        raise ValueError("a committed state cannot be None (None means 'no state yet')")


def check_event_id(event_id: object) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``event_id`` is a non-empty string."""
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"an event_id must be a non-empty str, not {event_id!r}")


class Store(AsyncResource):
    """The durable-state interface the poller writes through; see the module docstring."""

    async def __aenter__(self: _S) -> _S:
        await self.open()
        return self

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the store; raise ``StoreError`` if it cannot be used. Call once."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Write what is queued (log what cannot be), then release the store."""

    async def history(self) -> StoredHistory:
        """Return what the store kept of the past (module docstring): nothing by default."""
        return StoredHistory()

    @abc.abstractmethod
    async def watch_names(self) -> list[str]:
        """Return the names of the stored watches, sorted."""

    @abc.abstractmethod
    async def load(self, name: str) -> StoredWatch | None:
        """Return everything stored for watch ``name``, or ``None`` if there is no such watch."""

    @abc.abstractmethod
    def add_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        """Queue: create watch ``name`` if new and add ``jobs`` (keeping known jobs' states)."""

    @abc.abstractmethod
    def remove_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        """Queue: remove ``jobs`` from watch ``name``, with their states and pending events."""

    @abc.abstractmethod
    def drop(self, name: str) -> int:
        """Queue: delete watch ``name`` and everything stored for it."""

    @abc.abstractmethod
    def commit(
        self,
        name: str,
        job: JobKey,
        state: JsonValue,
        events: Sequence[tuple[str, JsonValue]] = (),
    ) -> int:
        """Queue one observation: the job's new state and its new ``(event_id, payload)`` pairs.

        :raises ValueError: ``state`` is ``None`` or an ``event_id`` empty; in a durable
            store, also a float that JSON cannot hold (``nan``, ``inf``).
        :raises TypeError: in a durable store, a value that is not JSON.
        """

    @abc.abstractmethod
    def ack(self, name: str, event_ids: Iterable[str]) -> int:
        """Queue: forget these pending events of watch ``name`` (unknown ids are ignored)."""

    @abc.abstractmethod
    def settled(self, ticket: int) -> bool:
        """Return whether the call that returned ``ticket`` is durable, or durability is off
        (the store is unhealthy or closed)."""

    @abc.abstractmethod
    async def wait_settled(self, ticket: int) -> None:
        """Wait until ``settled(ticket)``."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Write every call so far now; return once durable, or once that attempt failed."""

    @abc.abstractmethod
    def statistics(self) -> StoreStatistics:
        """Return a snapshot of the store's writes and health."""
