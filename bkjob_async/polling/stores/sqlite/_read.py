"""Reads of a SQLite store, in a worker thread, on a connection of their own (WAL: never blocked).

A read is one read transaction: the tables and the log in one snapshot. The log is newer than
the tables (its batches are not folded yet): its states win, its acks delete, its events come
after the tables' in commit order.
"""

from __future__ import annotations

import sqlite3

from ....config import Scope
from .. import StoredEvent, StoredWatch
from ._batch import _loads
from ._file import _read_log

__all__ = ["Reads"]


class Reads:
    """The read connection of one store (opened on first use), and what it reads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._parsed: dict[str, Scope] = {}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _scope(self, text: str) -> Scope:
        scope = self._parsed.get(text)
        if scope is None:
            scope = self._parsed[text] = Scope.parse(text)
        return scope

    def names(self) -> list[str]:
        """Return the names of the stored watches, sorted."""
        rows = self._connection().execute("SELECT name FROM watches ORDER BY name")
        return [name for (name,) in rows]

    def load(self, name: str) -> tuple[StoredWatch, list[int]] | None:
        """Return watch ``name`` and the sequence numbers of its pending events, or ``None``."""
        conn = self._connection()
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
            logged = _read_log(conn, self.path)
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
