"""The engine with a named watch on a store, in its own process: what the durable path costs.

``python benchmarks/_durable_loop.py MODE URL IDS_FILE SECONDS DIR``; one JSON line out.

- ``changed-memory`` / ``changed-sqlite``: the poller watching every job back to back as the
  named watch ``bench`` on a ``MemoryStore`` / ``SqliteStore`` in DIR, against a simulator
  that moves a host in every answer (``simulator(flip=True)``, as ``engine-changed``): CPU per poll, process CPU (the store's writer
  thread included), events drained (so each is acked).
- ``unchanged``: the same on a counting ``MemoryStore``, no poll forced to change: store calls
  made by unchanged polls after the first poll of every job.
- ``fill``: watch every job as ``bench`` on ``SqliteStore`` DIR/resume.db until each was
  polled once, then leave (the watch stays in the store); ``resume``: open that store, resume
  ``bench``, and time the first answered poll and the first poll of every job.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from _harness import pin_client
from _loops import CONCURRENCY, SCOPE, _client, _measure

from bkjob_async import MemoryStore, Poller, PollPolicy, SqliteStore
from bkjob_async.polling.stores import Store
from bkjob_async.tuning import keep_receive_buffers_on_heap

FAST = PollPolicy(interval=0.001, max_interval=0.002, jitter=0.0, max_in_flight=CONCURRENCY)


class CountingStore(MemoryStore):
    """A ``MemoryStore`` that counts every write call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def _next(self) -> int:
        self.calls += 1
        return super()._next()


async def _drain(watch, delivered: list[int] | None = None) -> None:  # type: ignore[no-untyped-def]
    async for _ in watch:
        if delivered is not None:
            delivered[0] += 1


async def changed(url: str, ids: list[int], seconds: float, store: Store) -> dict:
    async with store, _client(url) as client, Poller(client, policy=FAST, store=store) as poller:
        watch = poller.watch_jobs(SCOPE, ids, name="bench")
        delivered = [0]
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, watch, delivered)
            cpu, requests_made = await _measure(lambda: poller._requests, seconds)
            stats = poller.statistics()
            tg.cancel_scope.cancel()
    assert stats.store is not None
    return {
        "cpu_per_request": cpu,
        "requests": requests_made,
        "transactions": stats.store.transactions,
        # Over the whole run (warm-up included): how far the consumer kept up.
        "delivered_per_poll": delivered[0] / max(1, stats.requests),
    }


async def unchanged(url: str, ids: list[int], seconds: float) -> dict:
    store = CountingStore()
    async with _client(url) as client, Poller(client, policy=FAST, store=store) as poller:
        watch = poller.watch_jobs(SCOPE, ids, name="bench")
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, watch)
            while poller._requests < 2 * len(ids):  # every job polled at least once
                await anyio.sleep(0.05)
            calls, polls = store.calls, poller.statistics().unchanged_polls
            await anyio.sleep(seconds)
            stats = poller.statistics()
            tg.cancel_scope.cancel()
    return {"unchanged_polls": stats.unchanged_polls - polls, "store_calls": store.calls - calls}


async def fill(url: str, ids: list[int], directory: str) -> dict:
    policy = PollPolicy(interval=1.0, max_in_flight=CONCURRENCY)
    async with (
        SqliteStore(Path(directory) / "resume.db") as store,
        _client(url) as client,
        Poller(client, policy=policy, store=store) as poller,
    ):
        watch = poller.watch_jobs(SCOPE, ids, name="bench")
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, watch)
            while poller._requests < len(ids):
                await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        await store.flush()
    files = list(Path(directory).glob("resume.db*"))
    conn = sqlite3.connect(Path(directory) / "resume.db")
    try:
        pages, free, size = (
            conn.execute(f"PRAGMA {pragma}").fetchone()[0]
            for pragma in ("page_count", "freelist_count", "page_size")
        )
    finally:
        conn.close()
    return {
        "bytes": sum(f.stat().st_size for f in files),
        "live_bytes": (pages - free) * size,
        "jobs": len(ids),
    }


async def resume(url: str, ids: list[int], directory: str) -> dict:
    policy = PollPolicy(interval=1.0, max_in_flight=CONCURRENCY)
    start = time.perf_counter()
    async with (
        SqliteStore(Path(directory) / "resume.db") as store,
        _client(url) as client,
        Poller(client, policy=policy, store=store) as poller,
    ):
        watch = await poller.resume("bench")
        loaded = time.perf_counter() - start
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, watch)
            while poller._requests < 1:
                await anyio.sleep(0.001)
            first = time.perf_counter() - start
            while poller._requests < len(ids):
                await anyio.sleep(0.01)
            every = time.perf_counter() - start
            tg.cancel_scope.cancel()
    return {"jobs": len(watch), "loaded": loaded, "first_poll": first, "every_job": every}


async def main(mode: str, url: str, ids: list[int], seconds: float, directory: str) -> None:
    if mode == "changed-memory":
        result = await changed(url, ids, seconds, MemoryStore())
    elif mode == "changed-sqlite":
        result = await changed(url, ids, seconds, SqliteStore(Path(directory) / "changed.db"))
    elif mode == "unchanged":
        result = await unchanged(url, ids, seconds)
    elif mode == "fill":
        result = await fill(url, ids, directory)
    else:
        result = await resume(url, ids, directory)
    print(json.dumps({"mode": mode, **result}), flush=True)


if __name__ == "__main__":
    pin_client()
    keep_receive_buffers_on_heap()  # the opt-in a program polling many jobs makes (README)
    mode_, url_, ids_file, seconds_, directory_ = sys.argv[1:6]
    ids_ = json.loads(Path(ids_file).read_text())
    anyio.run(main, mode_, url_, ids_, float(seconds_), directory_)
