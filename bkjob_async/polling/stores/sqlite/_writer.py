"""The SQLite store's writer thread, and its log: each batch one ``log`` row, folded now and then.

A batch's net (one ``_Hot``: each job's latest state, the events not acknowledged within it,
the acks of older events) is **one row** of ``log``, a transaction of its own. The net of the
batches logged since the last fold is kept in memory and *folded* into ``jobs`` and
``events`` every ``fold_interval`` seconds (sooner past ``_FOLD_ROWS`` rows, ``_FOLD_BYTES``
or ``_FOLD_SIZE`` entries), before a rare call (add, remove, drop) and at close, in the
transaction that empties the log. Nothing in memory changes before a transaction succeeded
(``written``): a failed one is rolled back, and its calls stay queued ahead of newer ones.
``open`` folds a log left by a process that died.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from ._batch import _FOLD_BYTES, _FOLD_ROWS, _FOLD_SIZE, _INSERT_LOG, _Hot, _Segment

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from .._queue import WriteQueue

__all__ = ["LogWriter", "Writer"]


class LogWriter:
    """Write batches to the log and fold it into the tables (the writer thread only)."""

    def __init__(self, conn: sqlite3.Connection, fold_interval: float) -> None:
        self.conn = conn
        self.fold_interval = fold_interval
        #: The net of the batches logged since the last fold, their rows and bytes in ``log``,
        #: and when the last fold was.
        self.dirty = _Hot()
        self.logged = 0
        self.log_bytes = 0
        self._batch_bytes = 0
        self.folded_at = time.monotonic()

    def fold_due(self) -> bool:
        """Tell whether the log should be folded now: it is old or large."""
        return self.logged > 0 and (
            self.logged >= _FOLD_ROWS
            or self.log_bytes >= _FOLD_BYTES
            or self.dirty.size() >= _FOLD_SIZE
            or time.monotonic() - self.folded_at >= self.fold_interval
        )

    def write(self, segments: list[_Segment], fold: bool) -> tuple[bool, list[_Hot]]:
        """Write ``segments`` in one transaction; return whether the log was folded and the
        batches logged after that, for ``written`` once the transaction succeeded."""
        conn = self.conn
        if not fold and len(segments) == 1 and isinstance(segments[0], _Hot):
            # The usual batch: one insert, a transaction of its own (no BEGIN/COMMIT trips).
            if not segments[0]:
                return False, []
            body = segments[0].body()
            conn.execute(_INSERT_LOG, (body,))
            self._batch_bytes = len(body)
            return False, [segments[0]]
        conn.execute("BEGIN IMMEDIATE")
        try:
            folded = False
            hots: list[_Hot] = []
            for segment in segments:
                if isinstance(segment, _Hot):
                    hots.append(segment)
                    continue
                self._fold(folded, hots)
                folded, hots = True, []
                segment.apply(conn)
            if fold:
                self._fold(folded, hots)
                folded, hots = True, []
            self._batch_bytes = 0
            for hot in hots:
                if hot:
                    body = hot.body()
                    conn.execute(_INSERT_LOG, (body,))
                    self._batch_bytes += len(body)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return folded, [hot for hot in hots if hot]

    def _fold(self, folded: bool, hots: list[_Hot]) -> None:
        """Fold the logged batches (unless done already in this transaction), then ``hots``."""
        if not folded and self.logged:
            self.conn.execute("DELETE FROM log")  # first: the tables' new rows reuse its pages
            self.dirty.apply(self.conn)
        for hot in hots:
            hot.apply(self.conn)

    def written(self, folded: bool, logged: list[_Hot]) -> None:
        """After a successful write: account for the fold and the batches logged."""
        if folded:
            self.dirty, self.logged, self.log_bytes = _Hot(), 0, 0
            self.folded_at = time.monotonic()
        for hot in logged:
            self.dirty.absorb(hot)
            self.logged += 1
        self.log_bytes += self._batch_bytes if logged else 0


class Writer:
    """The store's writer thread: it waits for something queued (``wake``), then up to
    ``flush_interval`` for more (cut short by ``urgent``: a full batch, a flush, the close),
    takes the whole queue (``take``) and writes it as one transaction; a failed write is put
    back (``requeue``) and retried after the queue's backoff."""

    def __init__(
        self,
        queue: WriteQueue,
        take: Callable[[], tuple[list[_Segment], int, int]],
        requeue: Callable[[list[_Segment], int], int],
        flush_interval: float,
        logger: logging.Logger,
    ) -> None:
        self.queue = queue
        #: Set by ``start``: the log on the write connection.
        self.log: LogWriter | None = None
        self._take, self._requeue = take, requeue
        self.flush_interval = flush_interval
        self._logger = logger
        #: Something is queued / write now.
        self.wake = threading.Event()
        self.urgent = threading.Event()
        #: The store is closing: one last attempt, then the thread ends.
        self.stopping = False
        self._thread = threading.Thread(target=self._run, name=queue.what, daemon=True)

    def start(self, log: LogWriter) -> None:
        self.log = log
        self._thread.start()

    def poke(self, full: bool) -> None:
        """Something was queued (``full``: a whole batch is): write soon (at once)."""
        if not self.wake.is_set():
            self.wake.set()
        if full and not self.urgent.is_set():
            self.urgent.set()

    def hurry(self) -> None:
        """Ask for an attempt now (``flush``)."""
        self.urgent.set()
        self.wake.set()

    def stop(self) -> None:
        """Ask for the last attempt and the end of the thread (``join`` waits for it)."""
        self.stopping = True
        self.urgent.set()
        self.wake.set()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # pragma: no cover - a bug; never leave waiters hanging
            self._logger.exception("%s: the writer thread failed", self.queue.what)
            self.queue.error = f"the writer thread failed: {type(exc).__name__}: {exc}"
            self.queue.attempted_threadsafe()

    def _loop(self) -> None:
        delay = 0.0
        while True:
            self.wake.wait()
            window = self.flush_interval if self.queue.error is None else delay
            if window and not self.stopping:
                self.urgent.wait(window)
            self.wake.clear()
            self.urgent.clear()
            # ``stop`` sets ``stopping`` before ``wake``: seen here, or on the next turn.
            if self.stopping:
                self._attempt()
                return
            retry_in = self._attempt()
            if retry_in is not None:
                delay = retry_in
                self.wake.set()

    def _attempt(self) -> float | None:
        """Write the whole queue as one transaction; on failure put it back and return the
        delay before the next attempt (``None``: it succeeded)."""
        queue, log = self.queue, self.log
        assert log is not None
        segments, count, upto = self._take()
        attempt = queue.started
        fold = self.stopping or log.fold_due()
        wrote = bool(segments) or (fold and log.logged > 0)
        retry_in = None
        try:
            done = log.write(segments, fold) if wrote else None
        except Exception as exc:
            retry_in = queue.failed(exc, self._requeue(segments, count))
        else:
            if done is not None:
                log.written(*done)
            queue.applied(upto, wrote=wrote)
        queue.finished = attempt
        queue.attempted_threadsafe()
        return retry_in
