"""Disk full and I/O errors while running: data kept in memory, reported once, written later.

Disk full is SQLite's own ``PRAGMA max_page_count``; an I/O error is the WAL file's descriptor
swapped for a read-only one under SQLite (both fail as intended when the suite runs as root).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from bkjob_async import SqliteStore

from .conftest import BIZ, wal_fds

PAD = "x" * 4000


@contextmanager
def _disk_full(store: SqliteStore) -> Iterator[None]:
    # The file may not grow by a single page.
    assert store._file.conn is not None
    pages = store._file.conn.execute("PRAGMA page_count").fetchone()[0]
    store._file.conn.execute(f"PRAGMA max_page_count = {pages}")
    try:
        yield
    finally:
        if store._file.conn is not None:
            store._file.conn.execute("PRAGMA max_page_count = 1073741823")


@contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    """Make every write to the store's WAL fail with EBADF, then put the file back."""
    wal = Path(f"{path}-wal")
    fds = wal_fds(wal)
    assert fds, "the WAL file is not open"
    saved = [os.dup(fd) for fd in fds]
    read_only = os.open(wal, os.O_RDONLY)
    try:
        for fd in fds:
            os.dup2(read_only, fd)
        yield
    finally:
        for fd, original in zip(fds, saved, strict=True):
            os.dup2(original, fd)
            os.close(original)
        os.close(read_only)


def _commit_many(store: SqliteStore, start: int, count: int) -> int:
    ticket = 0
    for n in range(start, start + count):
        ticket = store.commit("w", (BIZ, n % 20), {"n": n, "pad": PAD}, [(str(n), {"n": n})])
    return ticket


async def _reload(path: Path):  # type: ignore[no-untyped-def]
    async with SqliteStore(path) as store:
        return await store.load("w")


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("fault", ["disk full", "I/O error"])
async def test_a_failing_disk_keeps_data_in_memory_reports_once_and_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="bkjob_async.polling.store")
    path = tmp_path / "s.db"
    async with SqliteStore(path, retry_interval=0.01, max_retry_interval=0.02) as store:
        store.add_jobs("w", [(BIZ, j) for j in range(20)])
        _commit_many(store, 0, 20)
        await store.flush()
        with _disk_full(store) if fault == "disk full" else _write_errors(path):
            ticket = _commit_many(store, 20, 200)
            await store.flush()
            stats = store.statistics()
            assert not stats.healthy
            assert stats.error is not None
            assert ("full" if fault == "disk full" else "I/O") in stats.error
            assert stats.pending_writes == 200
            # While unhealthy every call is settled: the poller runs on from memory.
            assert store.settled(ticket)
            while store.statistics().failed_transactions < 4:
                await anyio.sleep(0.01)
            store.ack("w", [str(n) for n in range(20, 120)])
            assert len(_errors(caplog)) == 1
        # The fault is gone: the next retry writes everything, in order.
        with anyio.fail_after(10):
            while not store.statistics().healthy:
                await anyio.sleep(0.01)
        assert store.statistics().pending_writes == 0
    assert len(_errors(caplog)) == 1
    error = _errors(caplog)[0].getMessage()
    assert str(path) in error
    # The calls queued when the first write failed: the writer thread may take the first of
    # the 200 while the loop still queues the rest (seen under load: 62).
    kept = re.search(r"keeping (\d+) calls in memory", error)
    assert kept is not None, error
    assert 1 <= int(kept[1]) <= 200, error
    assert any("writes resumed" in r.getMessage() for r in caplog.records)
    loaded = await _reload(path)
    assert [s["n"] for s in loaded.jobs.values()] == list(range(200, 220))
    assert [int(e.event_id) for e in loaded.pending] == list(range(20)) + list(range(120, 220))


async def test_closing_while_the_disk_is_full_says_what_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, retry_interval=30) as store:
        store.add_jobs("w", [(BIZ, j) for j in range(20)])
        await store.flush()
        with _disk_full(store):
            _commit_many(store, 0, 5)
            await store.flush()
            assert not store.statistics().healthy
            await store.aclose()
    messages = [r.getMessage() for r in _errors(caplog)]
    assert len(messages) == 2
    assert "closing with 5 calls not written" in messages[1]
    assert str(path) in messages[1]
    loaded = await _reload(path)
    assert list(loaded.jobs.values()) == [None] * 20
