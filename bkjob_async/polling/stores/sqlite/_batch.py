"""What a batch of commits and acks writes to the SQLite store: the net of the batch; no I/O.

A ``_Hot`` holds the calls between two rarer ones, net (see the ``sqlite`` package docstring);
an ``_Op`` is a rare call (add, remove, drop). Values are JSON text already when they get here.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from typing import TYPE_CHECKING

from .... import _json

if TYPE_CHECKING:
    import sqlite3

    from ....config import Scope

_UPDATE_STATE = "UPDATE jobs SET state = ? WHERE watch = ? AND scope = ? AND job = ?"
_INSERT_EVENT = (
    "INSERT INTO events (seq, watch, event_id, scope, job, payload) VALUES (?, ?, ?, ?, ?, ?)"
)
_DELETE_EVENT = "DELETE FROM events WHERE seq = ?"
_INSERT_RECENT = (
    "INSERT OR IGNORE INTO recent (seq, watch, event_id, scope, job, payload)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_TRIM_RECENT = (
    "DELETE FROM recent WHERE seq <= (SELECT seq FROM recent ORDER BY seq DESC LIMIT 1 OFFSET ?)"
)
#: Events the history keeps (``recent``, store-wide), and watches dropped (``ended``).
RECENT = 2000
ENDED = 20
_INSERT_LOG = "INSERT INTO log (body) VALUES (?)"
#: Fold the log when it has this many rows or bytes, or its net this many states and events.
_FOLD_ROWS = 1000
_FOLD_BYTES = 2_000_000
_FOLD_SIZE = 20_000


# Store values as JSON text: compact, UTF-8 as is, no NaN (``orjson`` with the ``speedups``
# extra, the standard library otherwise: the same values either way, see ``_json``), looked up
# at each call (``_json`` chooses at its first use). ``_json.quote``: a str as JSON text.

_Row = tuple[str, str, int]  # (watch, scope text, job id)


@functools.lru_cache(maxsize=4096)
def scope_text(scope: Scope) -> str:
    """Return ``scope`` as the store writes it (``str(scope)``, ``"biz:2"``); cached: every
    commit asks."""
    return str(scope)


class _Hot:
    """Commits and acks between two rarer calls, net: the latest state of each job, the events
    not acknowledged since, and the acks of events committed before (``_writer``); and the
    latest events committed, acknowledged or not, for the history (written when folded, not
    logged: a crash loses the last fold's)."""

    __slots__ = ("acked", "events", "recent", "states")

    def __init__(self) -> None:
        # (watch, scope, job) -> (state, watch, scope, job): the latest state wins.
        self.states: dict[_Row, tuple[str, str, str, int]] = {}
        # seq -> (seq, watch, event_id, scope, job, payload), in commit order.
        self.events: dict[int, tuple[int, str, str, str, int, str]] = {}
        # seqs of acknowledged events committed before this one's events
        self.acked: dict[int, None] = {}
        # the latest events committed, as in ``events``, acknowledged or not
        self.recent: deque[tuple[int, str, str, str, int, str]] = deque(maxlen=RECENT)

    def __bool__(self) -> bool:
        return bool(self.states or self.events or self.acked)

    def size(self) -> int:
        return len(self.states) + len(self.events) + len(self.acked)

    def absorb(self, later: _Hot) -> None:
        """Merge ``later`` into this one (sequence numbers keep every event distinct)."""
        self.states.update(later.states)
        self.events.update(later.events)
        self.recent.extend(later.recent)
        events, acked = self.events, self.acked
        for seq in later.acked:
            if events.pop(seq, None) is None:
                acked[seq] = None

    def apply(self, conn: sqlite3.Connection) -> None:
        if self.states:
            conn.executemany(_UPDATE_STATE, self.states.values())
        if self.events:
            conn.executemany(_INSERT_EVENT, self.events.values())
        if self.acked:
            conn.executemany(_DELETE_EVENT, [(seq,) for seq in self.acked])
        if self.recent:
            conn.executemany(_INSERT_RECENT, self.recent)
            conn.execute(_TRIM_RECENT, (RECENT,))

    def body(self) -> str:
        """Return this batch as the JSON text of a ``log`` row (values are JSON text already)."""
        # Nearly always one watch and one scope: their JSON text is made once per body.
        quoted: dict[tuple[str, str], tuple[str, str]] = {}

        def q(watch: str, scope: str) -> tuple[str, str]:
            found = quoted[watch, scope] = (_json.quote(watch), _json.quote(scope))
            return found

        out = []
        for t, w, s, j in self.states.values():
            qw, qs = quoted.get((w, s)) or q(w, s)
            out.append(f"[{qw},{qs},{j},{t}]")
        states = ",".join(out)
        out = []
        for n, w, i, s, j, p in self.events.values():
            qw, qs = quoted.get((w, s)) or q(w, s)
            out.append(f"[{n},{qw},{_json.quote(i)},{qs},{j},{p}]")
        events = ",".join(out)
        acked = ",".join(map(str, self.acked))
        return f"[[{states}],[{events}],[{acked}]]"

    @classmethod
    def parse(cls, body: str) -> _Hot:
        """Rebuild a batch from ``body`` (``ValueError`` if it is not such text)."""
        hot = cls()
        try:
            states, events, acked = _json.loads(body)
            for watch, scope, job, state in states:
                hot.states[(watch, scope, job)] = (_json.dumps(state), watch, scope, job)
            for seq, watch, event_id, scope, job, payload in events:
                hot.events[seq] = (seq, watch, event_id, scope, job, _json.dumps(payload))
            hot.acked = dict.fromkeys(acked)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a logged batch: {type(exc).__name__}: {exc}") from None
        return hot


class _Op:
    """A rare call (add, remove, drop): a barrier between two ``_Hot`` batches."""

    __slots__ = ("at", "jobs", "kind", "name")

    def __init__(self, kind: str, name: str, jobs: list[tuple[str, int, int]]) -> None:
        self.kind, self.name, self.jobs = kind, name, jobs
        self.at = time.time()

    def apply(self, conn: sqlite3.Connection) -> None:
        name = self.name
        if self.kind == "add":
            conn.execute("INSERT OR IGNORE INTO watches (name) VALUES (?)", (name,))
            conn.executemany(
                "INSERT OR IGNORE INTO jobs (watch, scope, job, added) VALUES (?, ?, ?, ?)",
                [(name, scope, job, seq) for scope, job, seq in self.jobs],
            )
        elif self.kind == "remove":
            rows = [(name, scope, job) for scope, job, _ in self.jobs]
            conn.executemany("DELETE FROM jobs WHERE watch = ? AND scope = ? AND job = ?", rows)
            gone = {(scope, job) for _, scope, job in rows}
            found = conn.execute("SELECT seq, scope, job FROM events WHERE watch = ?", (name,))
            seqs = [(seq,) for seq, scope, job in found.fetchall() if (scope, job) in gone]
            conn.executemany(_DELETE_EVENT, seqs)
        else:
            self._keep_ended(conn)
            for table, column in (("events", "watch"), ("jobs", "watch"), ("watches", "name")):
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))

    def _keep_ended(self, conn: sqlite3.Connection) -> None:
        """Keep a dropped watch's jobs and their last states in ``ended`` (the history)."""
        rows = conn.execute(
            "SELECT scope, job, state FROM jobs WHERE watch = ? ORDER BY added", (self.name,)
        ).fetchall()
        if not rows:
            return
        jobs = ",".join(f"[{_json.quote(s)},{j},{t or 'null'}]" for s, j, t in rows)
        conn.execute(
            "INSERT OR REPLACE INTO ended (watch, at, jobs) VALUES (?, ?, ?)",
            (self.name, self.at, f"[{jobs}]"),
        )
        conn.execute(
            "DELETE FROM ended WHERE watch NOT IN"
            " (SELECT watch FROM ended ORDER BY at DESC LIMIT ?)",
            (ENDED,),
        )


_Segment = _Hot | _Op


def merged(segments: list[_Segment]) -> list[_Segment]:
    """Return ``segments`` with each run of adjacent batches merged into one, in order."""
    out: list[_Segment] = []
    for segment in segments:
        last = out[-1] if out else None
        if isinstance(last, _Hot) and isinstance(segment, _Hot):
            last.absorb(segment)
            continue
        out.append(segment)
    return out


def forget(
    members: set[_Row],
    pending: dict[tuple[str, str], tuple[int, str, int]],
    name: str,
    jobs: set[tuple[str, int]],
    everything: bool,
) -> set[_Row]:
    """Forget the pending ids of ``jobs`` (or all) of watch ``name``; return the members left."""
    for key, (_, text, job) in list(pending.items()):
        if key[0] == name and (everything or (text, job) in jobs):
            del pending[key]
    if everything:
        return {row for row in members if row[0] != name}
    members.difference_update((name, text, job) for text, job in jobs)
    return members
