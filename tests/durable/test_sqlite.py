"""SqliteStore specifics: exact JSON round-trips, batching, durability, the loop never blocked."""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from bkjob_async import SqliteStore
from bkjob_async.polling.stores.sqlite import _file as _sqlite

from .conftest import BIZ

VALUES: list[Any] = [
    {"a": [1, 2.5, -0.0, 1e300, 2**70, -(2**63)], "b": {"c": None, "d": True, "e": False}},
    ["unicode 中文 ✓ \u0000 \ud7ff", "", 'quote " and \\ backslash'],
    {"deep": [[[[{"x": [[]]}]]]], "empty": {}, "list": []},
    0,
    "just a string",
    3.141592653589793,
]


async def test_json_values_come_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as store:
        store.add_jobs("w", [(BIZ, i) for i in range(len(VALUES))])
        for i, value in enumerate(VALUES):
            store.commit("w", (BIZ, i), value, [(f"e{i}", value)])
    async with SqliteStore(path) as store:
        loaded = await store.load("w")
    assert loaded is not None
    assert list(loaded.jobs.values()) == VALUES
    assert [e.payload for e in loaded.pending] == VALUES
    for got, want in zip(loaded.jobs.values(), VALUES, strict=True):
        assert type(got) is type(want)


async def test_a_value_that_is_not_json_is_refused_and_nothing_is_queued(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        store.add_jobs("w", [(BIZ, 1)])
        writes = store.statistics().writes
        with pytest.raises(TypeError):
            store.commit("w", (BIZ, 1), {"when": object()})
        with pytest.raises(ValueError, match=r"JSON|Out of range"):
            store.commit("w", (BIZ, 1), {"n": 1}, [("e", float("nan"))])
        assert store.statistics().writes == writes
        loaded = await store.load("w")
    assert loaded is not None
    assert loaded.jobs == {(BIZ, 1): None}


async def test_many_calls_make_few_transactions(tmp_path: Path) -> None:
    # No time-based flush: only max_batch and flush() start a write.
    async with SqliteStore(tmp_path / "s.db", flush_interval=3600, max_batch=100) as store:
        store.add_jobs("w", [(BIZ, i) for i in range(50)])
        await store.flush()
        before = store.statistics().transactions
        for n in range(1000):
            store.commit("w", (BIZ, n % 50), {"n": n}, [(str(n), n)])
            if n % 10 == 9:
                await anyio.sleep(0)
        await store.flush()
        stats = store.statistics()
        loaded = await store.load("w")
    assert 1 <= stats.transactions - before <= 11
    assert stats.pending_writes == 0
    assert loaded is not None
    assert [s["n"] for s in loaded.jobs.values()] == list(range(950, 1000))
    assert len(loaded.pending) == 1000


async def test_a_call_is_not_durable_before_its_batch_is_written(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, flush_interval=3600) as store:
        await store.flush()
        ticket = store.add_jobs("w", [(BIZ, 1)])
        for _ in range(5):
            await anyio.sleep(0)
        assert not store.settled(ticket)
        assert store.statistics().pending_writes == 1
        assert _read(path, "SELECT count(*) FROM jobs") == 0
        await store.flush()
        assert store.settled(ticket)
        # Durable means on disk: another connection sees it.
        assert _read(path, "SELECT count(*) FROM jobs") == 1


async def test_wait_settled_returns_after_a_flush_interval(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db", flush_interval=0.001) as store:
        ticket = store.add_jobs("w", [(BIZ, 1)])
        with anyio.fail_after(5):
            await store.wait_settled(ticket)
        assert store.settled(ticket)


def _read(path: Path, sql: str) -> Any:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


class _Spy:
    """A connection proxy recording the thread of every call."""

    def __init__(self, conn: sqlite3.Connection, threads: set[int]) -> None:
        self._conn, self._threads = conn, threads

    def __getattr__(self, name: str) -> Any:
        self._threads.add(threading.get_ident())
        return getattr(self._conn, name)


async def test_no_sqlite_call_runs_on_the_event_loop_thread(tmp_path: Path) -> None:
    threads: set[int] = set()
    async with SqliteStore(tmp_path / "s.db") as store:
        log = store._writer.log
        assert log is not None
        log.conn = _Spy(log.conn, threads)  # type: ignore[assignment]
        reads = store._reads
        read_connection = reads._connection

        def spied_reader() -> Any:
            threads.add(threading.get_ident())
            return read_connection()

        reads._connection = spied_reader  # type: ignore[method-assign]
        store.add_jobs("w", [(BIZ, i) for i in range(10)])
        for n in range(200):
            store.commit("w", (BIZ, n % 10), {"n": n}, [(str(n), n)])
            store.ack("w", [str(n - 1)])
        await store.flush()
        await store.load("w")
        await store.watch_names()
    assert threads
    assert threading.get_ident() not in threads


async def test_the_file_is_wal_with_a_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path):
        pass
    assert _read(path, "PRAGMA user_version") == _sqlite.SCHEMA_VERSION == 3
    assert _read(path, "PRAGMA application_id") == _sqlite.APPLICATION_ID
    assert _read(path, "PRAGMA journal_mode") == "wal"


async def test_an_older_schema_is_migrated_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as store:
        store.add_jobs("w", [(BIZ, 1)])
        store.commit("w", (BIZ, 1), {"n": 1}, [("e", 1)])

    def to_v4(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE watches ADD COLUMN note TEXT")

    monkeypatch.setattr(_sqlite, "SCHEMA_VERSION", 4)
    monkeypatch.setitem(_sqlite._MIGRATIONS, 3, to_v4)
    async with SqliteStore(path) as store:
        loaded = await store.load("w")
    assert loaded is not None
    assert loaded.jobs == {(BIZ, 1): {"n": 1}}
    assert _read(path, "PRAGMA user_version") == 4
    assert _read(path, "SELECT count(note) FROM watches") == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"flush_interval": float("inf")}, ValueError),
        ({"flush_interval": -1}, ValueError),
        ({"flush_interval": "5"}, TypeError),
        ({"retry_interval": float("nan")}, ValueError),
        ({"max_batch": 0}, ValueError),
        ({"synchronous": "off"}, ValueError),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        SqliteStore("x.db", **kwargs)


async def test_a_store_opens_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    async with store:
        pass
    with pytest.raises(Exception, match="already opened"):
        await store.open()
    assert repr(store) == f"SqliteStore({str(tmp_path / 's.db')!r})"


async def test_a_cancelled_owner_still_writes_what_is_queued_on_close(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with anyio.fail_after(10), anyio.move_on_after(0.2):
        async with SqliteStore(path, flush_interval=3600) as store:
            store.add_jobs("w", [(BIZ, 1)])
            store.commit("w", (BIZ, 1), {"n": 1}, [("e", 1)])
            await anyio.sleep(30)
    async with SqliteStore(path) as store:
        loaded = await store.load("w")
    assert loaded is not None
    assert loaded.jobs == {(BIZ, 1): {"n": 1}}
    assert [e.event_id for e in loaded.pending] == ["e"]


_DIES_WITH_A_LOG = """
import os, sys, anyio
from bkjob_async import Scope, SqliteStore

async def main():
    store = SqliteStore(sys.argv[1], fold_interval=3600)
    await store.open()
    store.add_jobs("w", [(Scope.biz(2), 1), (Scope.biz(2), 2)])
    await store.flush()
    for n in range(10):
        store.commit("w", (Scope.biz(2), 1 + n % 2), {"n": n}, [(f"e{n}", {"p": n})])
        await store.flush()
        if n % 3 == 0:
            store.ack("w", [f"e{n}"])
    await store.flush()
    os._exit(0)  # no close: the last batches stay in the log, not folded

anyio.run(main)
"""


async def test_batches_logged_and_not_folded_are_read_and_folded_after_a_crash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    proc = await anyio.run_process([sys.executable, "-c", _DIES_WITH_A_LOG, str(path)])
    assert proc.returncode == 0
    assert _read(path, "SELECT count(*) FROM log") == 11  # a batch per flush, none folded
    assert _read(path, "SELECT count(state) FROM jobs") == 0
    assert _read(path, "SELECT count(*) FROM events") == 0
    async with SqliteStore(path) as store:
        assert _read(path, "SELECT count(*) FROM log") == 0  # folded at open
        assert _read(path, "SELECT count(state) FROM jobs") == 2
        loaded = await store.load("w")
        assert loaded is not None
        assert loaded.jobs == {(BIZ, 1): {"n": 8}, (BIZ, 2): {"n": 9}}
        pending = [n for n in range(10) if n % 3 != 0]
        assert [e.event_id for e in loaded.pending] == [f"e{n}" for n in pending]
        assert [e.payload for e in loaded.pending] == [{"p": n} for n in pending]
        # On from there: a commit and an ack after the fold, read back from the log.
        store.commit("w", (BIZ, 1), {"n": 10}, [("e10", {"p": 10})])
        store.ack("w", ["e1", "e2"])
        again = await store.load("w")
    assert again is not None
    assert again.jobs[(BIZ, 1)] == {"n": 10}
    assert [e.event_id for e in again.pending] == ["e4", "e5", "e7", "e8", "e10"]
