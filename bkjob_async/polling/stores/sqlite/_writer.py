"""The SQLite store's log: each batch one ``log`` row, folded into the tables now and then.

Runs in the store's writer thread only, on the write connection. A batch of commits and acks
(one ``_Hot``) is one insert into ``log``, a transaction of its own; a rare call (add, remove,
drop), a fold asked for (close), or a log grown old (``fold_interval``) or large first folds
the net of the logged batches into ``jobs`` and ``events`` and empties the log, in the same
transaction. Nothing in memory changes before a transaction succeeded (``written``): a failed
one is rolled back and retried whole.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time

from ._batch import _FOLD_BYTES, _FOLD_ROWS, _FOLD_SIZE, _INSERT_LOG, _Hot, _Segment

__all__ = ["LogWriter"]


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
        if not self.logged:
            return False
        if (
            self.logged >= _FOLD_ROWS
            or self.log_bytes >= _FOLD_BYTES
            or self.dirty.size() >= _FOLD_SIZE
        ):
            return True
        return time.monotonic() - self.folded_at >= self.fold_interval

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
