"""A SQLite store's file: the lock, every check, the schema and its migrations, and its reads.

**Opening** checks, in this order, and refuses with ``StoreError`` (naming the file and what
to do): the directory exists; no other live process holds the store (an exclusive ``flock``
on ``<path>.lock``, which the kernel releases when its process dies, so a lock is never
stale; not on network file systems); the file is readable, a SQLite file, a bkjob-async store
(``PRAGMA application_id``) of a schema not newer than this code; ``PRAGMA quick_check``
finds no corruption; the file is writable. A missing or empty file starts a new store.

**Schema.** ``PRAGMA user_version`` is the schema version; a lower one is migrated in place at
open, in one transaction, by ``_MIGRATIONS[v]`` (``v`` to ``v + 1``). To change the schema:
bump ``SCHEMA_VERSION``, add the step, and test opening a file of the old version.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import socket
import sqlite3
from typing import TYPE_CHECKING

from .... import _json
from ...._checks import is_number
from ....config import Scope
from ....errors import StoreError
from .. import EndedWatch, StoredEvent, StoredHistory, StoredWatch
from ._batch import _Hot

if TYPE_CHECKING:
    from collections.abc import Callable

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

SCHEMA_VERSION = 3
#: ``PRAGMA application_id`` of a bkjob-async store: "bkja".
APPLICATION_ID = 0x626B6A61
_HEADER = b"SQLite format 3\x00"

_SCHEMA_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE watches (name TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE jobs (watch TEXT NOT NULL, scope TEXT NOT NULL, job INTEGER NOT NULL,"
    " added INTEGER NOT NULL, state TEXT, PRIMARY KEY (watch, scope, job)) WITHOUT ROWID",
    # Keyed by the commit sequence alone: an insert appends, an ack deletes by rowid. Loads
    # and removals scan (they are rare and the table holds only unacknowledged events).
    "CREATE TABLE events (seq INTEGER PRIMARY KEY, watch TEXT NOT NULL, event_id TEXT NOT NULL,"
    " scope TEXT NOT NULL, job INTEGER NOT NULL, payload TEXT NOT NULL)",
)


def _add_log(conn: sqlite3.Connection) -> None:
    """Schema 1 -> 2: the log of batches not yet folded into ``jobs`` and ``events``."""
    conn.execute("CREATE TABLE log (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")


def _add_history(conn: sqlite3.Connection) -> None:
    """Schema 2 -> 3: the history (``Store.history``): the latest events committed, and the
    watches dropped lately with their jobs' last states (``_batch``)."""
    conn.execute(
        "CREATE TABLE recent (seq INTEGER PRIMARY KEY, watch TEXT NOT NULL, event_id TEXT"
        " NOT NULL, scope TEXT NOT NULL, job INTEGER NOT NULL, payload TEXT NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE ended (watch TEXT PRIMARY KEY, at REAL NOT NULL, jobs TEXT NOT NULL)"
        " WITHOUT ROWID"
    )


#: ``_MIGRATIONS[v]`` upgrades a store from schema ``v`` to ``v + 1`` inside a transaction.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _add_log, 2: _add_history}

#: ``Scope.parse``, cached: a load parses the same few scopes for every row.
_scope = functools.lru_cache(maxsize=4096)(Scope.parse)


def _lock(path: str) -> int:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise StoreError(
            f"cannot open the store {path}: the directory {directory} does not exist;"
            " create it first",
            path=path,
        )
    if os.path.isdir(path):
        raise StoreError(f"the store {path} is a directory; give a file path", path=path)
    if fcntl is None:  # pragma: no cover - not POSIX
        raise StoreError(f"cannot lock the store {path}: this platform has no flock", path=path)
    lock_path = path + ".lock"
    try:
        fd = _open_lock(lock_path)
    except OSError as exc:
        raise StoreError(
            f"cannot open the lock file {lock_path} of the store {path}: {exc.strerror};"
            " give this user write access to that directory",
            path=path,
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
        os.close(fd)
        raise StoreError(
            f"the store {path} is in use by another live poller ({holder}); stop that poller,"
            " or give this one another file",
            path=path,
        ) from None
    with contextlib.suppress(OSError):  # the holder's name is a courtesy
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
    return fd


def _open_lock(lock_path: str) -> int:
    """Open the lock file, read-write if possible (to name the holder); flock needs only read."""
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError:
        return os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)


def _check_file(path: str) -> None:
    try:
        with open(path, "rb") as file:
            header = file.read(len(_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(
            f"cannot read the store {path}: {exc.strerror}; give this user read and write"
            " access to it and its directory",
            path=path,
        ) from None
    if header and header != _HEADER:
        raise _corrupt(path, "it is not a SQLite database")


def _corrupt(path: str, why: str) -> StoreError:
    return StoreError(
        f"the store {path} is unusable: {why}. Nothing was changed; move the file (with its"
        " -wal file) aside to keep it for inspection and start a new store, or restore a backup",
        path=path,
    )


def _connect(path: str, synchronous: str, check: bool) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _unopenable(path, exc) from None
    try:
        _prepare(conn, path, synchronous, check)
    except StoreError:
        conn.close()
        raise
    except sqlite3.OperationalError as exc:
        conn.close()
        raise _unopenable(path, exc) from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _corrupt(path, str(exc)) from None
    return conn


def _unopenable(path: str, exc: sqlite3.Error) -> StoreError:
    return StoreError(
        f"cannot use the store {path}: {exc}; check that this user can read and write the"
        " file, its -wal and -shm files and its directory, and that the disk has space",
        path=path,
    )


def _prepare(conn: sqlite3.Connection, path: str, synchronous: str, check: bool) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id == 0 and version == 0 and tables == 0:
        version = 0  # a new (or empty) file
    elif app_id != APPLICATION_ID:
        raise StoreError(
            f"the file {path} is a SQLite database but not a bkjob-async store; give another"
            " path (nothing was changed)",
            path=path,
        )
    elif version > SCHEMA_VERSION:
        raise StoreError(
            f"the store {path} was written by a newer bkjob-async (schema {version}; this one"
            f" reads up to {SCHEMA_VERSION}); upgrade bkjob-async, or use another file",
            path=path,
        )
    if check and version:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            lines = "\n".join(problems).splitlines()
            raise _corrupt(path, "integrity check failed: " + "; ".join(lines[:3]))
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise StoreError(f"the store {path} cannot use WAL mode (got {mode!r})", path=path)
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if version == 0:
            for statement in _SCHEMA_V1:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            version = 1
        while version < SCHEMA_VERSION:
            _MIGRATIONS[version](conn)
            version += 1
        conn.execute(f"PRAGMA user_version = {version}")
        _fold_log(conn, path)
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('opened_by', ?)",
            (f"pid {os.getpid()} on {socket.gethostname()}",),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _read_log(conn: sqlite3.Connection, path: str) -> _Hot:
    """Return the net of the batches in the log (not yet folded into the tables)."""
    net = _Hot()
    for (body,) in conn.execute("SELECT body FROM log ORDER BY seq"):
        try:
            net.absorb(_Hot.parse(body))
        except ValueError as exc:
            raise _corrupt(path, f"its log holds a damaged batch ({exc})") from None
    return net


def _fold_log(conn: sqlite3.Connection, path: str) -> None:
    """Fold the batches a previous run logged and did not fold (it was killed) into the tables."""
    net = _read_log(conn, path)
    conn.execute("DELETE FROM log")
    if net:
        net.apply(conn)


def _max_seq(conn: sqlite3.Connection) -> int:
    jobs = conn.execute("SELECT max(added) FROM jobs").fetchone()[0] or 0
    events = conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0  # the last rowid
    return max(jobs, events)


def check_seconds(value: object, name: str) -> float:
    """Return ``value`` if it is a finite number of seconds >= 0, else raise."""
    if not is_number(value):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, not {value!r}")
    return float(value)


class StoreFile:
    """The store's file as this process holds it: the lock and the write connection."""

    def __init__(self, path: str, synchronous: str, check: bool) -> None:
        self.path, self.synchronous, self.check = path, synchronous, check
        self.conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None

    def open(self) -> int:
        """Lock, check, connect, create or migrate; return the highest sequence number used."""
        self._lock_fd = _lock(self.path)
        try:
            _check_file(self.path)
            self.conn = _connect(self.path, self.synchronous, self.check)
            return _max_seq(self.conn)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection and release the lock (the kernel's flock)."""
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)


class Reads:
    """The read connection of one store (opened on first use), in a worker thread (WAL: never
    blocked by the writer), and what it reads: one read transaction, the tables and the log in
    one snapshot. The log is newer than the tables: its states win, its acks delete, its events
    come after the tables' in commit order."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def names(self) -> list[str]:
        """Return the names of the stored watches, sorted."""
        rows = self._connection().execute("SELECT name FROM watches ORDER BY name")
        return [name for (name,) in rows]

    def history(self) -> StoredHistory:
        """Return the watches dropped lately (oldest first) and the latest events folded in."""
        conn = self._connection()
        with conn:  # one read transaction: a consistent snapshot
            conn.execute("BEGIN")
            ended = conn.execute("SELECT watch, at, jobs FROM ended ORDER BY at").fetchall()
            recent = conn.execute(
                "SELECT watch, event_id, scope, job, payload FROM recent ORDER BY seq"
            ).fetchall()
        return StoredHistory(
            tuple(
                EndedWatch(
                    name,
                    at,
                    {(_scope(text), job): state for text, job, state in _json.loads(jobs)},
                )
                for name, at, jobs in ended
            ),
            tuple(
                (name, StoredEvent(event_id, (_scope(text), job), _json.loads(payload)))
                for name, event_id, text, job, payload in recent
            ),
        )

    def load(self, name: str) -> tuple[StoredWatch, list[int]] | None:
        """Return watch ``name`` and the sequence numbers of its pending events, or ``None``."""
        conn = self._connection()
        with conn:  # one read transaction: a consistent snapshot
            conn.execute("BEGIN")
            if conn.execute("SELECT 1 FROM watches WHERE name = ?", (name,)).fetchone() is None:
                return None
            jobs = {
                (_scope(text), job): None if state is None else _json.loads(state)
                for text, job, state in conn.execute(
                    "SELECT scope, job, state FROM jobs WHERE watch = ? ORDER BY added", (name,)
                )
            }
            rows = conn.execute(
                "SELECT seq, event_id, scope, job, payload FROM events WHERE watch = ?", (name,)
            ).fetchall()
            logged = _read_log(conn, self.path)
        for (watch, text, job), (state, *_) in logged.states.items():
            key = (_scope(text), job)
            if watch == name and key in jobs:
                jobs[key] = _json.loads(state)
        if logged.acked:
            rows = [row for row in rows if row[0] not in logged.acked]
        rows += [
            (q, i, text, job, p) for q, w, i, text, job, p in logged.events.values() if w == name
        ]
        rows.sort()
        pending, seqs, seen = [], [], set()
        for seq, event_id, text, job, payload in rows:
            key = (_scope(text), job)
            if event_id not in seen and key in jobs:  # the first of an id committed twice
                seen.add(event_id)
                pending.append(StoredEvent(event_id, key, _json.loads(payload)))
                seqs.append(seq)
        return StoredWatch(name, jobs, tuple(pending)), seqs
