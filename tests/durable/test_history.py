"""A store's history (``Store.history``): what a dashboard started again reads of the past.

``SqliteStore`` keeps the latest events committed, acknowledged or not (bounded), and each
dropped watch's jobs with their last states and when it was dropped; across a restart, and
from a file of the schema before it (migrated, empty history). ``MemoryStore`` keeps none.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bkjob_async import MemoryStore, SqliteStore
from bkjob_async.polling.stores import StoredHistory
from bkjob_async.polling.stores.sqlite import _batch

from .conftest import BIZ


async def test_acknowledged_events_and_a_dropped_watch_survive_in_the_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    before = time.time()
    async with SqliteStore(path, fold_interval=0.0) as store:
        store.add_jobs("w", [(BIZ, 1), (BIZ, 2)])
        store.add_jobs("other", [(BIZ, 9)])
        for n in range(5):
            store.commit("w", (BIZ, 1 + n % 2), {"n": n}, [(f"e{n}", {"n": n})])
            store.ack("w", [f"e{n}"])  # delivered at once: never in ``events``
        store.commit("other", (BIZ, 9), {"n": 9}, [("x", {"n": 9})])
        store.drop("w")
    async with SqliteStore(path) as store:
        history = await store.history()
        assert await store.load("w") is None  # dropped: not resumable
        assert await store.load("other") is not None
    (ended,) = history.ended
    assert ended.name == "w"
    assert before <= ended.ended_at <= time.time()
    assert ended.jobs == {(BIZ, 1): {"n": 4}, (BIZ, 2): {"n": 3}}
    assert [(w, e.event_id, e.job, e.payload) for w, e in history.recent] == [
        *[("w", f"e{n}", (BIZ, 1 + n % 2), {"n": n}) for n in range(5)],
        ("other", "x", (BIZ, 9), {"n": 9}),
    ]


async def test_the_history_keeps_the_latest_events_only(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    total = _batch.RECENT + 300
    async with SqliteStore(path, fold_interval=0.0) as store:
        store.add_jobs("w", [(BIZ, 1)])
        for n in range(total):
            store.commit("w", (BIZ, 1), {"n": n}, [(f"e{n}", n)])
            store.ack("w", [f"e{n}"])
            if n % 500 == 0:
                await store.flush()
    async with SqliteStore(path) as store:
        history = await store.history()
    assert [e.payload for _, e in history.recent] == list(range(300, total))
    assert history.ended == ()


async def test_a_file_of_the_schema_before_is_migrated_with_an_empty_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as store:
        store.add_jobs("w", [(BIZ, 1)])
        store.commit("w", (BIZ, 1), {"n": 1}, [("e", 1)])
    with sqlite3.connect(path) as conn:  # as schema 2 left it
        conn.execute("DROP TABLE recent")
        conn.execute("DROP TABLE ended")
        conn.execute("PRAGMA user_version = 2")
    async with SqliteStore(path) as store:
        assert await store.history() == StoredHistory()
        loaded = await store.load("w")
        assert loaded is not None
        assert [e.event_id for e in loaded.pending] == ["e"]
        store.commit("w", (BIZ, 1), {"n": 2}, [("f", 2)])
        store.drop("w")
    async with SqliteStore(path) as store:
        history = await store.history()
    assert [e.event_id for _, e in history.recent] == ["f"]
    assert history.ended[0].jobs == {(BIZ, 1): {"n": 2}}


async def test_a_memory_store_keeps_no_history() -> None:
    async with MemoryStore() as store:
        store.add_jobs("w", [(BIZ, 1)])
        store.commit("w", (BIZ, 1), {"n": 1}, [("e", 1)])
        store.drop("w")
        assert await store.history() == StoredHistory()
