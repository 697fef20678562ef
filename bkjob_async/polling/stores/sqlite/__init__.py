"""``SqliteStore``: the store in one SQLite file; every sqlite3 call runs off the event loop.

Rule: the event loop only queues writes (``commit``, ``ack`` ... encode their values, append
to the queue under a lock and return); one writer thread, which owns the write connection,
takes the whole queue every ``flush_interval`` seconds (at once when ``max_batch`` calls are
queued, or on ``flush()``) and writes it as **one transaction**. Calls are written in call
order, so whatever is durable, every earlier call is too. After each attempt the thread wakes
the loop's waiters with one ``call_soon_threadsafe`` (asyncio, like aiohttp), and only if
someone waits. Reads (``load``, ``watch_names``) run in a worker thread on a second
connection, which WAL lets read while the writer writes. See ``bkjob_async.polling.stores`` for the contract.

**What a batch writes.** Commits and acks (the hot path: one of each per changed poll) are
not written to the tables row by row: a batch's net (each job's latest state, the events
not acknowledged within it, the acks of older events) is appended as **one row** of the
``log`` table, its values JSON text already. The writer keeps the net of every batch logged
since the last fold in memory and *folds* it into ``jobs`` and ``events`` every
``fold_interval`` seconds (sooner if the log grows past ``_FOLD_ROWS`` rows or
``_FOLD_BYTES``, or its net past ``_FOLD_SIZE`` entries: a burst makes neither a long fold
nor a large log, whose pages the file keeps for reuse), before a rare call (add, remove,
drop; those write the tables) and at close, in the transaction that empties the log. So a
changed poll costs a small share of one insert; a state that changed many times between
folds is written to ``jobs`` once; an event committed and acknowledged between two folds
(the usual case: delivery waits one batch, the ack follows at once) never touches
``events``. ``load`` reads the tables and the log in one snapshot (the log is newer);
``open`` folds a log left by a process that died.

The file is stdlib ``sqlite3`` in WAL mode with ``synchronous=NORMAL`` by default: a commit
survives the process being killed (SIGKILL included) and, in WAL mode, a power loss can only
lose the last transactions, never corrupt the file. ``synchronous="full"`` syncs every
transaction, for power-loss durability at the cost of an fsync per batch.

**Opening** checks, in this order, and refuses with ``StoreError`` (naming the file and what
to do) before any polling: the directory exists; no other live process holds the store (an
exclusive ``flock`` on the sidecar ``<path>.lock``, which the kernel releases when its
process dies, SIGKILL included, so a stale lock cannot exist; lock files on network file
systems are not supported); the file is readable; it is a SQLite file; it is a bkjob-async
store (``PRAGMA application_id``); its schema is not newer than this code; ``PRAGMA
quick_check`` finds no corruption; the file is writable. A missing or empty file starts a
new store; nothing else ever does.

**Schema and migrations.** ``PRAGMA user_version`` is the schema version, 2 today (1 had no
``log``: ``_MIGRATIONS[1]`` adds it, so a store of the first release opens as it was). A store
with a lower version is migrated in place at open, in one transaction, by ``_MIGRATIONS[v]``
(version ``v`` to ``v + 1``, in turn); a higher version is refused (written by a newer
bkjob-async: upgrade, or use another file). To change the schema: bump ``SCHEMA_VERSION``, add
the step to ``_MIGRATIONS``, and add a test that opens a file of the old version.

**Faults while running.** A failed transaction (disk full, I/O error, read-only file) is rolled
back and its calls stay queued, ahead of newer ones. The first failure logs one ERROR record
and turns ``statistics().healthy`` false (``.error`` says why); the store retries after
``retry_interval`` seconds, doubling up to ``max_retry_interval`` (``flush()`` retries at
once), and logs a WARNING when a write succeeds again. While unhealthy every call is settled
at once, so the poller keeps running from memory. ``aclose`` makes a last attempt and logs
an ERROR with the count of calls it could not write.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
from typing import TYPE_CHECKING, Literal

import anyio

from ...._checks import is_int, is_number
from ....config import Scope
from ....errors import StoreError
from .. import Store, StoredEvent, StoredWatch, StoreStatistics, check_event_id, check_name
from .._queue import WriteQueue
from ._batch import (
    _dumps,
    _Hot,
    _loads,
    _Op,
    _Row,
    _scope_text,
    _Segment,
)
from ._file import (
    _check_file,
    _connect,
    _lock,
    _max_seq,
    _read_log,
)
from ._writer import LogWriter

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .. import JobKey, JsonValue

__all__ = ["SqliteStore"]

logger = logging.getLogger("bkjob_async.polling.store")


class SqliteStore(Store):
    """The durable store of one process: one SQLite file, written in batches off the loop.

    :param path: the database file; created (with ``<path>.lock``) if missing.
    :param synchronous: ``"normal"`` (durable across process crashes) or ``"full"`` (also
        across power loss: one fsync per batch).
    :param flush_interval: seconds a batch may wait for more calls before it is written: the
        delay a settled event waits at most, and the store's CPU per call falls as it grows.
    :param max_batch: queued calls that start a write at once.
    :param retry_interval: seconds before the first retry of a failed write; doubles...
    :param max_retry_interval: ...up to this.
    :param check: run ``PRAGMA quick_check`` at open (linear in the file size).
    :param fold_interval: seconds between folds of the log into the tables (see the module
        docstring); a fold also happens when the log passes 1,000 rows or 2 MB, before a rare
        call, and at close.

    Besides its queue, it keeps in memory the jobs of the watches this process added or
    loaded (about 120 bytes each) and the ids of their unacknowledged events: commits for
    other jobs are ignored before anything is encoded, acks delete by sequence number, and an
    id already pending is not stored twice. So a watch is loaded before the engine commits or
    acks for it (``resume`` does; so does ``watch_jobs(name=...)`` extending a stored watch).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["normal", "full"] = "normal",
        flush_interval: float = 0.01,
        max_batch: int = 5000,
        retry_interval: float = 1.0,
        max_retry_interval: float = 30.0,
        check: bool = True,
        fold_interval: float = 1.0,
    ) -> None:
        self._path = os.fspath(path)
        if not isinstance(self._path, str) or not self._path:
            raise ValueError(f"invalid store path {path!r}")
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', not {synchronous!r}")
        for label, value in (
            ("flush_interval", flush_interval),
            ("retry_interval", retry_interval),
            ("max_retry_interval", max_retry_interval),
            ("fold_interval", fold_interval),
        ):
            if not is_number(value):
                raise TypeError(f"{label} must be a number of seconds, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{label} must be finite and >= 0, not {value!r}")
        if not is_int(max_batch) or max_batch < 1:
            raise ValueError(f"max_batch must be an int >= 1, not {max_batch!r}")
        self._synchronous = synchronous
        self._flush_interval = float(flush_interval)
        self._max_batch = max_batch
        self._check = check
        self._fold_interval = float(fold_interval)
        self._state: Literal["new", "open", "closed"] = "new"
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._scopes: dict[Scope, str] = {}
        # (watch, event_id) -> (seq, scope, job) of every event committed or loaded by this
        # process and not acknowledged: acks delete by seq, and a pending id is not re-added.
        self._pending: dict[tuple[str, str], tuple[int, str, int]] = {}
        # (watch, scope, job) of every job added or loaded by this process and not removed:
        # a commit for any other job is ignored here, before encoding anything.
        self._members: set[_Row] = set()
        self._parsed: dict[str, Scope] = {}
        # The queue, shared with the writer thread under ``_lock``: segments in call order;
        # ``_hot`` is the last one if it is a ``_Hot``.
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._hot: _Hot | None = None
        self._queued = 0
        self._seq = 0
        #: Tickets, settling, health and backoff (its ``ticket`` is counted under ``_lock``).
        self._queue = WriteQueue(
            f"store {self._path}",
            logger,
            retry_interval=float(retry_interval),
            max_retry_interval=float(max_retry_interval),
        )
        #: The log and its folds, on the write connection (the writer thread only).
        self._log: LogWriter | None = None
        # Wakes the writer: something is queued / write now.
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self._stopping = False

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Lock and check the file, create or migrate its schema, start the writer thread."""
        if self._state != "new":
            raise StoreError(f"the store {self._path} was already opened", path=self._path)
        self._queue.bind()
        self._limiter = anyio.CapacityLimiter(1)
        self._seq = await anyio.to_thread.run_sync(self._open_sync, limiter=self._limiter)
        self._thread = threading.Thread(
            target=self._run, name=f"bkjob-async store {self._path}", daemon=True
        )
        self._state = "open"
        self._thread.start()

    async def aclose(self) -> None:
        """Write what is queued (a last attempt if unhealthy), close the file, release the lock."""
        if self._state != "open":
            return
        self._state = "closed"
        self._stopping = True
        self._urgent.set()
        self._wake.set()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._thread.join)
            if self._queued:
                logger.error(
                    "store %s: closing with %d calls not written (%s); they are lost",
                    self._path,
                    self._queued,
                    self._queue.error,
                )
            await anyio.to_thread.run_sync(self._close_sync, limiter=self._limiter)

    # -- reads ----------------------------------------------------------------------------

    async def watch_names(self) -> list[str]:
        """Return the names of the stored watches, sorted."""
        await self._readable()
        return await anyio.to_thread.run_sync(self._names_sync, limiter=self._limiter)

    async def load(self, name: str) -> StoredWatch | None:
        """Return everything stored for watch ``name`` (what is durable), or ``None``."""
        check_name(name)
        await self._readable()
        loaded = await anyio.to_thread.run_sync(self._load_sync, name, limiter=self._limiter)
        if loaded is None:
            return None
        watch, seqs = loaded
        self._members.update((name, self._text(scope), job) for scope, job in watch.jobs)
        for event, seq in zip(watch.pending, seqs, strict=True):
            scope, job = event.job
            self._pending.setdefault((name, event.event_id), (seq, self._text(scope), job))
        return watch

    async def _readable(self) -> None:
        if self._state != "open":
            raise StoreError(f"the store {self._path} is not open", path=self._path)
        await self.flush()

    # -- writes (the hot path: queue and return) ------------------------------------------

    def _open_for_writes(self) -> None:
        if self._state != "open":
            raise StoreError(f"the store {self._path} is not open", path=self._path)

    def _hot_segment(self) -> _Hot:
        hot = self._hot
        if hot is None:
            hot = self._hot = _Hot()
            self._segments.append(hot)
        return hot

    def _queued_one(self) -> int:
        """Count one queued call (under ``_lock``); return its ticket."""
        self._queued += 1
        return self._queue.issue()

    def _poke(self) -> None:
        if not self._wake.is_set():
            self._wake.set()
        if self._queued >= self._max_batch and not self._urgent.is_set():
            self._urgent.set()

    def _text(self, scope: Scope) -> str:
        text = self._scopes.get(scope)
        if text is None:
            text = self._scopes[scope] = _scope_text(scope)
        return text

    def _enqueue_op(self, kind: str, name: str, jobs: Iterable[JobKey]) -> int:
        self._open_for_writes()
        check_name(name)
        with self._lock:
            rows = []
            for scope, job in jobs:
                self._seq += 1
                rows.append((self._text(scope), job, self._seq))
            self._segments.append(_Op(kind, name, rows))
            self._hot = None
            ticket = self._queued_one()
        if kind == "add":
            self._members.update((name, text, job) for text, job, _ in rows)
        else:
            self._forget(name, {(text, job) for text, job, _ in rows}, kind == "drop")
        self._poke()
        return ticket

    def _forget(self, name: str, jobs: set[tuple[str, int]], everything: bool) -> None:
        """Forget the membership and pending ids of ``jobs`` (or all) of watch ``name``."""
        if everything:
            self._members = {row for row in self._members if row[0] != name}
        else:
            self._members.difference_update((name, text, job) for text, job in jobs)
        for key, (_, text, job) in list(self._pending.items()):
            if key[0] == name and (everything or (text, job) in jobs):
                del self._pending[key]

    def add_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        """Queue: create watch ``name`` if new and add ``jobs``; return a ticket."""
        return self._enqueue_op("add", name, jobs)

    def remove_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        """Queue: remove ``jobs`` with their states and pending events; return a ticket."""
        return self._enqueue_op("remove", name, jobs)

    def drop(self, name: str) -> int:
        """Queue: delete watch ``name`` and everything stored for it; return a ticket."""
        return self._enqueue_op("drop", name, ())

    def commit(
        self,
        name: str,
        job: JobKey,
        state: JsonValue,
        events: Sequence[tuple[str, JsonValue]] = (),
    ) -> int:
        """Queue one observation (state and events, one transaction); return a ticket.

        :raises TypeError: a value is not JSON.
        :raises ValueError: ``state`` is ``None``, a float is not finite, or an id is empty.
        """
        if self._state != "open":
            self._open_for_writes()
        if state is None:
            raise ValueError("a committed state cannot be None (None means 'no state yet')")
        scope, job_id = job
        scope_text = self._scopes.get(scope) or self._text(scope)
        if (name, scope_text, job_id) not in self._members:
            return self._queue.ticket  # not in the watch: nothing to write
        text = _dumps(state)
        rows = []
        for event_id, payload in events:
            if type(event_id) is not str or not event_id:
                check_event_id(event_id)
            rows.append((event_id, _dumps(payload)))
        known, queue = self._pending, self._queue
        with self._lock:
            hot = self._hot
            if hot is None:
                hot = self._hot_segment()
            hot.states[(name, scope_text, job_id)] = (text, name, scope_text, job_id)
            for event_id, payload_text in rows:
                key = (name, event_id)
                if key not in known:
                    seq = self._seq = self._seq + 1
                    known[key] = (seq, scope_text, job_id)
                    hot.events[seq] = (seq, name, event_id, scope_text, job_id, payload_text)
            self._queued += 1
            ticket = queue.ticket = queue.ticket + 1
        if self._queued >= self._max_batch or not self._wake.is_set():
            self._poke()
        return ticket

    def ack(self, name: str, event_ids: Iterable[str]) -> int:
        """Queue: forget these pending events of watch ``name``; return a ticket."""
        if self._state != "open":
            self._open_for_writes()
        known, queue = self._pending, self._queue
        with self._lock:
            hot = self._hot
            if hot is None:
                hot = self._hot_segment()
            queued, acked = hot.events, hot.acked
            for event_id in event_ids:
                entry = known.pop((name, event_id), None)
                if entry is not None and queued.pop(entry[0], None) is None:
                    acked[entry[0]] = None
            self._queued += 1
            ticket = queue.ticket = queue.ticket + 1
        if self._queued >= self._max_batch or not self._wake.is_set():
            self._poke()
        return ticket

    # -- durability (``stores._queue``) ----------------------------------------------------

    def settled(self, ticket: int) -> bool:
        """Return whether call ``ticket`` is durable, or the store is unhealthy or closed."""
        return self._queue.settled(ticket) or self._state != "open"

    async def wait_settled(self, ticket: int) -> None:
        """Wait until ``settled(ticket)``: at most about ``flush_interval`` plus one write."""
        queue = self._queue
        while True:
            attempt = queue.next_attempt()
            if self.settled(ticket):
                return
            await attempt.wait()

    async def flush(self) -> None:
        """Write every call so far now; return once durable, or once that attempt failed."""
        queue = self._queue
        ticket, mark = queue.ticket, queue.started
        while True:
            attempt = queue.next_attempt()
            if queue.durable >= ticket or self._state != "open":
                return
            if queue.error is not None and queue.finished > mark:
                return
            self._urgent.set()
            self._wake.set()
            await attempt.wait()

    def statistics(self) -> StoreStatistics:
        """Return a snapshot of the store's writes and health."""
        return self._queue.statistics()

    # -- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._write_loop()
        except BaseException as exc:  # pragma: no cover - a bug; never leave waiters hanging
            logger.exception("store %s: the writer thread failed", self._path)
            self._queue.error = f"the writer thread failed: {type(exc).__name__}: {exc}"
            self._queue.attempted_threadsafe()

    def _write_loop(self) -> None:
        delay = 0.0
        while True:
            self._wake.wait()
            window = self._flush_interval if self._queue.error is None else delay
            if window and not self._stopping:
                self._urgent.wait(window)
            self._wake.clear()
            self._urgent.clear()
            # ``aclose`` sets ``_stopping`` before ``_wake``: seen here, or on the next turn.
            if self._stopping:
                self._attempt()
                return
            retry_in = self._attempt()
            if retry_in is not None:
                delay = retry_in
                self._wake.set()

    def _attempt(self) -> float | None:
        """Write the whole queue as one transaction; on failure put it back and return the
        delay before the next attempt (``None``: it succeeded)."""
        queue, log = self._queue, self._log
        assert log is not None
        with self._lock:
            segments, count, upto = self._segments, self._queued, queue.ticket
            self._segments, self._hot, self._queued = [], None, 0
            queue.started += 1
            attempt = queue.started
        fold = self._stopping or log.fold_due()
        wrote = bool(segments) or (fold and log.logged > 0)
        retry_in = None
        try:
            done = log.write(segments, fold) if wrote else None
        except Exception as exc:
            with self._lock:
                self._requeue(segments, count)
                queued = self._queued
            retry_in = queue.failed(exc, queued)
        else:
            if done is not None:
                log.written(*done)
            queue.applied(upto, wrote=wrote)
        queue.finished = attempt
        queue.attempted_threadsafe()
        return retry_in

    def _requeue(self, segments: list[_Segment], count: int) -> None:
        merged: list[_Segment] = []
        for segment in segments + self._segments:
            last = merged[-1] if merged else None
            if isinstance(last, _Hot) and isinstance(segment, _Hot):
                last.absorb(segment)
                continue
            merged.append(segment)
        self._segments = merged
        self._hot = merged[-1] if merged and isinstance(merged[-1], _Hot) else None
        self._queued += count

    # -- reads, in a worker thread, on their own connection (WAL: readers never block) ----

    def _read_connection(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = sqlite3.connect(self._path, timeout=5.0, check_same_thread=False)
        return self._reader

    def _scope(self, text: str) -> Scope:
        scope = self._parsed.get(text)
        if scope is None:
            scope = self._parsed[text] = Scope.parse(text)
        return scope

    def _names_sync(self) -> list[str]:
        rows = self._read_connection().execute("SELECT name FROM watches ORDER BY name")
        return [name for (name,) in rows]

    def _load_sync(self, name: str) -> tuple[StoredWatch, list[int]] | None:
        conn = self._read_connection()
        with conn:  # one read transaction: a consistent snapshot
            conn.execute("BEGIN")
            if conn.execute("SELECT 1 FROM watches WHERE name = ?", (name,)).fetchone() is None:
                return None
            scope = self._scope
            jobs = {
                (scope(text), job): None if state is None else _loads(state)
                for text, job, state in conn.execute(
                    "SELECT scope, job, state FROM jobs WHERE watch = ? ORDER BY added", (name,)
                )
            }
            rows = conn.execute(
                "SELECT seq, event_id, scope, job, payload FROM events WHERE watch = ?", (name,)
            ).fetchall()
            logged = _read_log(conn, self._path)
        # What the log holds is newer than the tables: its states win, its acks delete.
        for (watch, text, job), (state, *_) in logged.states.items():
            key = (scope(text), job)
            if watch == name and key in jobs:
                jobs[key] = _loads(state)
        if logged.acked:
            rows = [row for row in rows if row[0] not in logged.acked]
        rows += [
            (q, i, text, job, p) for q, w, i, text, job, p in logged.events.values() if w == name
        ]
        rows.sort()
        pending, seqs, seen = [], [], set()
        for seq, event_id, text, job, payload in rows:
            key = (scope(text), job)
            if event_id not in seen and key in jobs:  # the first of an id committed twice
                seen.add(event_id)
                pending.append(StoredEvent(event_id, key, _loads(payload)))
                seqs.append(seq)
        return StoredWatch(name, jobs, tuple(pending)), seqs

    def _open_sync(self) -> int:
        self._lock_fd = _lock(self._path)
        try:
            _check_file(self._path)
            self._conn = _connect(self._path, self._synchronous, self._check)
            self._log = LogWriter(self._conn, self._fold_interval)
            return _max_seq(self._conn)
        except BaseException:
            self._close_sync()
            raise

    def _close_sync(self) -> None:
        for attribute in ("_reader", "_conn"):
            conn = getattr(self, attribute)
            if conn is not None:
                setattr(self, attribute, None)
                conn.close()
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)  # releases the flock
