"""``SqliteStore``: the store in one SQLite file; every sqlite3 call runs off the event loop.

Rule: the event loop only queues writes (``commit``, ``ack`` ... encode their values, append
to the queue under a lock and return); one writer thread takes the whole queue every
``flush_interval`` seconds (at once when ``max_batch`` calls are queued, or on ``flush()``)
and writes it in call order as one transaction (``_writer``). Reads run in a worker thread on
a second connection, which WAL lets read while the writer writes (``_file``). Opening checks
the file, locks it and migrates its schema (``_file``).

The file is in WAL mode with ``synchronous=NORMAL`` by default: a commit survives the process
being killed (SIGKILL included), and a power loss can only lose the last transactions, never
corrupt the file; ``synchronous="full"`` fsyncs every batch.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Literal

import anyio

from .... import _json
from ...._checks import is_int
from ....errors import StoreError
from .. import StoredHistory, StoredWatch, check_event_id, check_name, check_state
from .._queue import QueuedStore, WriteQueue
from ._batch import (
    _Hot,
    _Op,
    _Row,
    _Segment,
    forget,
    merged,
    scope_text,
)
from ._file import Reads, StoreFile, check_seconds
from ._writer import LogWriter, Writer

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .. import JobKey, JsonValue

__all__ = ["SqliteStore"]

logger = logging.getLogger("bkjob_async.polling.store")


class SqliteStore(QueuedStore):
    """The durable store of one process: one SQLite file, written in batches off the loop.

    :param path: the database file; created (with ``<path>.lock``) if missing.
    :param synchronous: ``"normal"`` (durable across process crashes) or ``"full"`` (also
        across power loss: one fsync per batch).
    :param flush_interval: seconds a batch may wait for more calls before it is written: the
        delay a settled event waits at most, and the store's CPU per call falls as it grows.
    :param max_batch: queued calls that start a write at once.
    :param retry_interval: seconds before the first retry of a failed write, doubling up to
        ``max_retry_interval``.
    :param check: run ``PRAGMA quick_check`` at open (linear in the file size).
    :param fold_interval: seconds between folds of the log into the tables (also when the
        log passes 1,000 rows or 2 MB, before a rare call, and at close).

    It keeps in memory the jobs of the watches this process added or loaded (about 120 bytes
    each) and the ids of their unacknowledged events.
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
        if not is_int(max_batch) or max_batch < 1:
            raise ValueError(f"max_batch must be an int >= 1, not {max_batch!r}")
        self._max_batch = max_batch
        self._fold_interval = check_seconds(fold_interval, "fold_interval")
        #: The lock and the write connection, from ``open`` (``_file``).
        self._file = StoreFile(self._path, synchronous, bool(check))
        self._state: Literal["new", "open", "closed"] = "new"
        #: Reads, in a worker thread, on a connection of their own (``_file``).
        self._reads = Reads(self._path)
        # (watch, event_id) -> (seq, scope, job) of every event committed or loaded by this
        # process and not acknowledged: acks delete by seq, and a pending id is not re-added.
        self._pending: dict[tuple[str, str], tuple[int, str, int]] = {}
        # (watch, scope, job) of every job added or loaded by this process and not removed:
        # a commit for any other job is ignored here, before encoding anything.
        self._members: set[_Row] = set()
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
            retry_interval=check_seconds(retry_interval, "retry_interval"),
            max_retry_interval=check_seconds(max_retry_interval, "max_retry_interval"),
        )
        #: The writer thread, started at ``open`` (``_writer``).
        flush = check_seconds(flush_interval, "flush_interval")
        self._writer = Writer(self._queue, self._take, self._requeue, flush, logger)
        self._hurry = self._writer.hurry

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Lock and check the file, create or migrate its schema, start the writer thread."""
        if self._state != "new":
            raise StoreError(f"the store {self._path} was already opened", path=self._path)
        self._queue.bind()
        self._limiter = anyio.CapacityLimiter(1)
        file = self._file
        self._seq = await anyio.to_thread.run_sync(file.open, limiter=self._limiter)
        assert file.conn is not None
        self._state = "open"
        self._queue.accepting = True
        self._writer.start(LogWriter(file.conn, self._fold_interval))

    async def aclose(self) -> None:
        """Write what is queued (a last attempt if unhealthy), close the file, release the lock."""
        if self._state != "open":
            return
        self._state = "closed"
        self._queue.accepting = False
        writer = self._writer
        writer.stop()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(writer.join)
            if self._queued:
                logger.error(
                    "store %s: closing with %d calls not written (%s); they are lost",
                    self._path,
                    self._queued,
                    self._queue.error,
                )
            await anyio.to_thread.run_sync(self._reads.close, limiter=self._limiter)
            await anyio.to_thread.run_sync(self._file.close, limiter=self._limiter)

    # -- reads ----------------------------------------------------------------------------

    async def watch_names(self) -> list[str]:
        await self._readable()
        return await anyio.to_thread.run_sync(self._reads.names, limiter=self._limiter)

    async def load(self, name: str) -> StoredWatch | None:
        """Return everything stored for watch ``name`` (what is durable), or ``None``."""
        check_name(name)
        await self._readable()
        loaded = await anyio.to_thread.run_sync(self._reads.load, name, limiter=self._limiter)
        if loaded is None:
            return None
        watch, seqs = loaded
        self._members.update((name, scope_text(scope), job) for scope, job in watch.jobs)
        for event, seq in zip(watch.pending, seqs, strict=True):
            scope, job = event.job
            self._pending.setdefault((name, event.event_id), (seq, scope_text(scope), job))
        return watch

    async def history(self) -> StoredHistory:
        """Return the watches this file dropped lately (they ended), with their jobs' last
        states, and the latest 2,000 events committed (folded in: up to ``fold_interval``
        seconds behind, and a crash loses the last fold's)."""
        await self._readable()
        return await anyio.to_thread.run_sync(self._reads.history, limiter=self._limiter)

    async def _readable(self) -> None:
        self._check_open()
        await self.flush()

    # -- writes (the hot path: queue and return) ------------------------------------------

    def _check_open(self) -> None:
        if self._state != "open":
            raise StoreError(f"the store {self._path} is not open", path=self._path)

    def _hot_segment(self) -> _Hot:
        hot = self._hot
        if hot is None:
            hot = self._hot = _Hot()
            self._segments.append(hot)
        return hot

    def _enqueue_op(self, kind: str, name: str, jobs: Iterable[JobKey]) -> int:
        self._check_open()
        check_name(name)
        with self._lock:
            rows = []
            for scope, job in jobs:
                self._seq += 1
                rows.append((scope_text(scope), job, self._seq))
            self._segments.append(_Op(kind, name, rows))
            self._hot = None
            self._queued += 1
            ticket = self._queue.issue()
        if kind == "add":
            self._members.update((name, text, job) for text, job, _ in rows)
        else:
            gone = {(text, job) for text, job, _ in rows}
            self._members = forget(self._members, self._pending, name, gone, kind == "drop")
        self._writer.poke(self._queued >= self._max_batch)
        return ticket

    def add_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        return self._enqueue_op("add", name, jobs)

    def remove_jobs(self, name: str, jobs: Iterable[JobKey]) -> int:
        return self._enqueue_op("remove", name, jobs)

    def drop(self, name: str) -> int:
        return self._enqueue_op("drop", name, ())

    def commit(
        self,
        name: str,
        job: JobKey,
        state: JsonValue,
        events: Sequence[tuple[str, JsonValue]] = (),
    ) -> int:
        if self._state != "open":
            self._check_open()
        check_state(state)
        scope, job_id = job
        where = scope_text(scope)
        if (name, where, job_id) not in self._members:
            return self._queue.ticket  # not in the watch: nothing to write
        text = _json.dumps(state)
        rows = []
        for event_id, payload in events:
            if type(event_id) is not str or not event_id:
                check_event_id(event_id)
            rows.append((event_id, _json.dumps(payload)))
        known, queue = self._pending, self._queue
        with self._lock:
            hot = self._hot_segment()
            hot.states[(name, where, job_id)] = (text, name, where, job_id)
            for event_id, payload_text in rows:
                key = (name, event_id)
                if key not in known:
                    seq = self._seq = self._seq + 1
                    known[key] = (seq, where, job_id)
                    hot.events[seq] = row = (seq, name, event_id, where, job_id, payload_text)
                    hot.recent.append(row)
            self._queued += 1
            ticket = queue.ticket = queue.ticket + 1
        if self._queued >= self._max_batch or not self._writer.wake.is_set():
            self._writer.poke(self._queued >= self._max_batch)
        return ticket

    def ack(self, name: str, event_ids: Iterable[str]) -> int:
        if self._state != "open":
            self._check_open()
        known, queue = self._pending, self._queue
        with self._lock:
            hot = self._hot_segment()
            queued, acked = hot.events, hot.acked
            for event_id in event_ids:
                entry = known.pop((name, event_id), None)
                if entry is not None and queued.pop(entry[0], None) is None:
                    acked[entry[0]] = None
            self._queued += 1
            ticket = queue.ticket = queue.ticket + 1
        if self._queued >= self._max_batch or not self._writer.wake.is_set():
            self._writer.poke(self._queued >= self._max_batch)
        return ticket

    # -- the queue, as the writer thread takes it ---------------------------------------------

    def _take(self) -> tuple[list[_Segment], int, int]:
        """Take the whole queue: its segments, how many calls, the last one's ticket."""
        queue = self._queue
        with self._lock:
            taken = self._segments, self._queued, queue.ticket
            self._segments, self._hot, self._queued = [], None, 0
            queue.started += 1
        return taken

    def _requeue(self, segments: list[_Segment], count: int) -> int:
        """Put back a batch that failed, ahead of newer calls; return how many are queued."""
        with self._lock:
            self._segments = merged([*segments, *self._segments])
            last = self._segments[-1] if self._segments else None
            self._hot = last if isinstance(last, _Hot) else None
            self._queued += count
            return self._queued
