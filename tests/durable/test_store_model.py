"""Random call sequences give the same stored watches on SqliteStore as on MemoryStore.

The sequences mix every call with flushes, reopenings (each followed by loading every watch,
as the engine does at resume) and spells of disk full, during which failed batches are put
back and merged with newer calls: the part of SqliteStore most easily got wrong. (The real
disk-full and I/O faults are in ``test_faults.py``; here a batch is applied and rolled back.)
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bkjob_async import MemoryStore, SqliteStore

from .conftest import BIZ, BIZ_SET

JOBS = [(BIZ, 1), (BIZ, 2), (BIZ_SET, 1)]
WATCHES = ["a", "b"]
IDS = [f"e{i}" for i in range(6)]

job = st.sampled_from(JOBS)
watch = st.sampled_from(WATCHES)
call = st.one_of(
    st.tuples(st.just("add"), watch, st.lists(job, max_size=3)),
    st.tuples(st.just("remove"), watch, st.lists(job, max_size=2)),
    st.tuples(st.just("drop"), watch),
    st.tuples(
        st.just("commit"),
        watch,
        job,
        st.integers(0, 9),
        st.lists(st.tuples(st.sampled_from(IDS), st.integers(0, 9)), max_size=3),
    ),
    st.tuples(st.just("ack"), watch, st.lists(st.sampled_from(IDS), max_size=3)),
    st.tuples(st.just("flush")),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("disk"), st.booleans()),
    st.tuples(st.just("disk"), st.just(True)),  # listed twice: more spells of disk full
)


def _apply(store: Any, op: tuple) -> None:
    kind = op[0]
    if kind == "add":
        store.add_jobs(op[1], op[2])
    elif kind == "remove":
        store.remove_jobs(op[1], op[2])
    elif kind == "drop":
        store.drop(op[1])
    elif kind == "commit":
        store.commit(op[1], op[2], {"n": op[3]}, [(i, {"p": p}) for i, p in op[4]])
    elif kind == "ack":
        store.ack(op[1], op[2])


async def _snapshot(store: Any) -> dict:
    out = {}
    for name in await store.watch_names():
        loaded = await store.load(name)
        out[name] = (
            list(loaded.jobs.items()),
            [(e.event_id, e.job, e.payload) for e in loaded.pending],
        )
    return out


def _set_disk_full(store: SqliteStore, full: bool) -> None:
    """While full, every write applies its batch inside a transaction, then fails to commit."""
    if not full:
        store._writer.log.__dict__.pop("write", None)  # type: ignore[union-attr]
        return

    def failing_write(segments: list, fold: bool) -> None:
        conn = store._file.conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            for segment in segments:
                segment.apply(conn)
        finally:
            conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full (injected)")

    store._writer.log.write = failing_write  # type: ignore[method-assign,union-attr]


async def _run(ops: list[tuple], path: Path, fold: float) -> None:
    memory = MemoryStore()
    sqlite = SqliteStore(path, flush_interval=3600, retry_interval=3600, fold_interval=fold)
    await memory.open()
    await sqlite.open()
    full = False
    try:
        for op in ops:
            if op[0] == "flush":
                await sqlite.flush()
            elif op[0] == "disk":
                full = op[1]
                _set_disk_full(sqlite, full)
            elif op[0] == "reopen":
                if full:
                    _set_disk_full(sqlite, False)
                    full = False
                await sqlite.aclose()
                sqlite = SqliteStore(
                    path, flush_interval=3600, retry_interval=3600, fold_interval=fold
                )
                await sqlite.open()
                await _snapshot(sqlite)  # load every watch, as resume does
            else:
                _apply(memory, op)
                _apply(sqlite, op)
        if full:
            _set_disk_full(sqlite, False)
        await sqlite.flush()
        assert sqlite.statistics().healthy
        assert await _snapshot(sqlite) == await _snapshot(memory)
        await sqlite.aclose()
        sqlite = SqliteStore(path)
        await sqlite.open()
        assert await _snapshot(sqlite) == await _snapshot(memory)
    finally:
        await sqlite.aclose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(call, max_size=40), st.sampled_from([0.0, 3600.0]))
def test_sqlite_store_matches_memory_store(ops: list[tuple], fold: float) -> None:
    # fold 0: every batch is folded into the tables at once; 3600: batches stay in the log
    # until a rare call or the close, and loads read them from there.
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(_run, ops, Path(tmp) / "s.db", fold)
