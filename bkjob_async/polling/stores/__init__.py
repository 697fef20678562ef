"""Where a named watch keeps its jobs, tracker states and unacknowledged events; no engine logic.

The store is a dumb, durable map the engine writes through. It never interprets a state or
an event: both are opaque JSON values (``None``, ``bool``, ``int``, ``float``, ``str``,
``list``, ``dict`` with ``str`` keys) that the engine encodes and decodes. A durable store
gives them back as ``json.loads(json.dumps(value))`` would, so keep them in that form
(lists, not tuples; ``str`` keys). ``MemoryStore`` keeps the very objects it is given: never
mutate a value after handing it over.

What a store holds, per watch name:

- the job set: ``(Scope, job_instance_id)`` keys in the order they were added, each with the
  tracker state of its last committed observation (``None`` until the first commit);
- the pending events: ``(event_id, job, payload)`` in commit order (the delivery order),
  until acknowledged.

**The write API is the hot path** and never blocks: ``add_jobs``, ``remove_jobs``, ``drop``,
``commit`` and ``ack`` are plain methods that queue the write and return a *ticket* (an int
that grows with every call). A durable store writes its queue in batches, off the event loop,
each batch one transaction, in call order: so whatever is durable, every earlier call is too.
``settled(ticket)`` / ``await wait_settled(ticket)`` tell when a call is durable, or when the
store has given up durability for now (see *Faults*); ``await flush()`` settles every call so
far. Reads (``load``, ``watch_names``) first flush, so they see every earlier write.

**The commit order that makes delivery at-least-once.** The engine calls the store only when
a poll changed something; an unchanged poll writes nothing. For a changed poll of job ``J``
in named watch ``W``:

1. compute: ``(new_state, events) = observe(state, observation)``, each event carrying a
   deterministic ``event_id`` (a function of the transition, never of a counter);
2. store: ``ticket = store.commit(W, J, new_state, [(e.event_id, encode(e)) ...])``: the
   state and the events of one observation go in one transaction, so no crash can leave one
   without the other; the engine keeps ``new_state`` as its in-memory state at once;
3. deliver: put the events in the watch's buffer, but hand an event to the consumer only
   once ``store.settled(ticket)`` (awaiting ``wait_settled``; a few ms with ``SqliteStore``);
4. acknowledge: when the consumer asks for the next event (or acks explicitly), call
   ``store.ack(W, [event_id])``.

A crash at any point then loses nothing and repeats only what was not acknowledged:

- before the commit is durable: nothing of the observation was handed out (step 3 waits);
  the store still holds the previous state, and the next poll after ``resume`` re-derives the
  transitions from it (the same ids if the hosts did not move meanwhile; one merged
  ``7 -> 9`` if they did, which continues the consumer's chain, since it never saw ``8``);
- after the commit, before the ack is durable: ``load`` returns the events as pending; the
  engine redelivers them, with the same ids and in the same order, before any new event of
  the watch, and polls on from the stored state;
- after the ack is durable: the event is gone and never repeated.

A consumer dedupes by ``event_id``: after a crash it may see again the events it received
but had not acknowledged (at most those delivered since its last ack), never an event it
acknowledged, and never two ids for one transition. Without step 3's wait (handing events out
before they are durable) a crash could show a consumer ``7 -> 8`` and, after ``resume``,
``7 -> 9``: a broken chain. That wait is the only latency the store adds to delivery.

**Membership.** ``commit`` for a job that is not in the watch (never added, or removed) is
ignored, events included: the engine may finish a poll of a job just removed. ``remove_jobs``
deletes the jobs' states and pending events; ``drop`` deletes the watch. ``add_jobs`` keeps
the state of a job already there. Committing an ``event_id`` that is already pending keeps the
first one (same transition, same position).

**Engine calls, in short**: at ``watch_jobs(scope, ids, name=W)``: ``await load(W)`` (``W``
may exist: then this extends it, and its stored states and pending events apply), then
``add_jobs`` and ``await wait_settled(ticket)`` before the first poll (the job set is durable
before it is watched); at ``resume(W)``: ``await load(W)`` (``None``: no such watch), rebuild
each job's tracker from its state, queue the pending events first, poll the jobs whose state
is not final; on each changed poll: ``commit``; on each delivery: ``ack``;
``watch.add``/``watch.remove``: ``add_jobs``/``remove_jobs``; a watch the caller is done
with: ``drop``. Unnamed watches never touch the store. A watch is loaded before the engine
commits or acks for it: a durable store may only know the pending ids of this process (an ack
of an id it does not know is ignored; the event would be delivered again after a restart).

**Faults.** ``open()`` refuses a store it cannot use with ``bkjob_async.StoreError`` naming the
file and what to do, before any polling. While running, a write that fails (disk full, I/O
error) leaves the data queued in memory: the store reports it once (an ERROR log record and
``statistics().healthy is False`` with ``.error``), retries with backoff, and says so when
writes resume. While unhealthy, ``settled()`` is true at once, so the engine keeps delivering
from memory; a crash in that window can lose what was not yet written.

**Lifecycle.** A store is an async context manager (``open``/``aclose``); it is opened once by
its owner (the poller) and ``aclose`` flushes what is queued. Write calls on a closed store
raise ``StoreError``.
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
    "JobKey",
    "JsonValue",
    "Store",
    "StoreStatistics",
    "StoredEvent",
    "StoredWatch",
    "UnknownWatchError",
    "check_name",
]

#: A JSON value: ``None``, ``bool``, ``int``, ``float``, ``str``, ``list`` or ``dict[str, ...]``.
JsonValue = Any
#: A watched job: its scope and ``job_instance_id``.
JobKey = tuple[Scope, int]

_MAX_NAME = 200
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
    """What ``load`` returns: a watch's jobs (in add order) with their states, and its pending events.

    ``jobs[key]`` is the state of the job's last committed observation, ``None`` before the
    first one. ``pending`` is in commit order: the order to deliver them again.
    """

    name: str
    jobs: Mapping[JobKey, JsonValue]
    pending: tuple[StoredEvent, ...]


@attrs.frozen
class StoreStatistics:
    """A snapshot of a store's writes and health."""

    #: False while writes fail (disk full, I/O error); the data is kept in memory meanwhile.
    healthy: bool
    #: The last write error while unhealthy (``"database or disk is full"``), else ``None``.
    error: str | None
    #: Write calls accepted since the store was opened.
    writes: int
    #: Write calls accepted but not yet durable.
    pending_writes: int
    #: Write transactions committed (one per batch).
    transactions: int
    #: Write transactions that failed and were kept for a retry.
    failed_transactions: int


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
        """Queue one observation: the job's new state and its new ``(event_id, payload)``s.

        Both are written in one transaction. Ignored if ``job`` is not in the watch.

        :raises ValueError: ``state`` is ``None`` or an ``event_id`` empty; in a durable
            store, also a float that JSON cannot hold (``nan``, ``inf``).
        :raises TypeError: in a durable store, a value that is not JSON.
        """

    @abc.abstractmethod
    def ack(self, name: str, event_ids: Iterable[str]) -> int:
        """Queue: forget these pending events of watch ``name`` (unknown ids are ignored)."""

    @abc.abstractmethod
    def settled(self, ticket: int) -> bool:
        """Return whether the call that returned ``ticket`` is durable, or durability is off.

        Durability is off while the store is unhealthy (``statistics().healthy``) or closed.
        """

    @abc.abstractmethod
    async def wait_settled(self, ticket: int) -> None:
        """Wait until ``settled(ticket)``."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Write every call so far now; return once durable, or once that attempt failed."""

    @abc.abstractmethod
    def statistics(self) -> StoreStatistics:
        """Return a snapshot of the store's writes and health."""
