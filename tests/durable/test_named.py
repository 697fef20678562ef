"""Named watches on a store: restore, redelivery of what was not acknowledged, resume, add/remove."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from bkjob_async import (
    BkJobClient,
    HostTransition,
    JobFinished,
    MemoryStore,
    Poller,
    SqliteStore,
    StoreError,
)
from bkjob_async.polling import UnknownWatchError
from bkjob_async.polling.stores.sqlite import _file as _sqlite
from tests.scripted import FAST, SCOPE, ScriptedServer, job_body

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.anyio


def running(job: int, host: int) -> dict:
    return job_body(job, 2, [(job * 10, 2, 0, [host])])


def done(job: int, host: int = 9) -> dict:
    return job_body(job, 3, [(job * 10, 3, 0, [host])])


def hosts(events: list) -> list[tuple[int, int | None, int]]:
    return [
        (e.job_instance_id, None if e.previous is None else int(e.previous), int(e.current))
        for e in events
        if isinstance(e, HostTransition)
    ]


async def take(watch, n: int) -> list:
    got = []
    with anyio.fail_after(10):
        async for event in watch:
            got.append(event)
            if len(got) == n:
                break
    return got


@contextlib.asynccontextmanager
async def watching_one(
    scripted: ScriptedServer, client: BkJobClient, store: MemoryStore, name: str
) -> AsyncIterator[tuple[Any, list]]:
    """Watch job 1 (running on host 7) on ``store`` under ``name``: yield the watch and its
    first three events (host None -> 7, step, job), the poller still running."""
    scripted.script(1, running(1, 7))
    async with Poller(client, policy=FAST, store=store) as poller:
        watch = poller.watch_jobs(SCOPE, [1], name=name)
        yield watch, await take(watch, 3)


async def test_resume_continues_each_host_from_its_stored_status(
    scripted: ScriptedServer, client: BkJobClient
) -> None:
    store = MemoryStore()
    async with watching_one(scripted, client, store, "deploys") as (watch, first):
        await watch.ack(first[-1])  # all three delivered
        for event in first[:-1]:
            await watch.ack(event)
    # While no poller runs, the host goes 7 -> 8 -> 9 and the job ends.
    scripted.script(1, done(1))
    async with Poller(client, policy=FAST, store=store) as poller:
        watch = await poller.resume("deploys")
        assert watch.name == "deploys"
        assert watch.jobs == (1,)
        with anyio.fail_after(10):
            rest = [event async for event in watch]
    assert hosts(first) == [(1, None, 7)]
    assert hosts(rest) == [(1, 7, 9)]
    assert [type(e) for e in rest][-1] is JobFinished
    assert await store.load("deploys") is None  # every event delivered: the watch is over


async def test_events_not_acknowledged_come_again_with_the_same_ids_in_order(
    scripted: ScriptedServer, client: BkJobClient
) -> None:
    store = MemoryStore()
    scripted.script(1, running(1, 7))
    scripted.script(2, running(2, 5))
    async with Poller(client, policy=FAST, store=store) as poller:
        watch = poller.watch_jobs(SCOPE, [1, 2], name="w")
        got = await take(watch, 6)
        # Asking for the next event acknowledged all but the last one.
    stored = await store.load("w")
    assert stored is not None
    assert [e.event_id for e in stored.pending] == [got[-1].event_id]
    async with Poller(client, policy=FAST, store=store) as poller:
        watch = await poller.resume("w")
        again = await take(watch, 1)
    assert again[0].event_id == got[-1].event_id
    assert again[0] == got[-1]


async def test_an_explicit_ack_is_not_redelivered(
    scripted: ScriptedServer, client: BkJobClient
) -> None:
    store = MemoryStore()
    async with watching_one(scripted, client, store, "w") as (watch, got):
        await watch.ack(got[-1])
    stored = await store.load("w")
    assert stored is not None
    assert stored.pending == ()


async def test_unchanged_polls_write_nothing(scripted: ScriptedServer, client: BkJobClient) -> None:
    store = MemoryStore()
    async with watching_one(scripted, client, store, "w"):
        writes = store.statistics().writes
        polls = scripted.polls[1]
        # Polled on, unchanged, six times (however long a loaded machine takes for them).
        with anyio.fail_after(30):
            while scripted.polls[1] <= polls + 5:
                await anyio.sleep(0.01)
        assert store.statistics().writes == writes


async def test_resume_of_an_unknown_name_raises_a_typed_error(client: BkJobClient) -> None:
    async with Poller(client, policy=FAST) as poller:
        with pytest.raises(UnknownWatchError, match="nope"):
            await poller.resume("nope")
        with pytest.raises(StoreError):
            await poller.resume("nope")
        with pytest.raises(ValueError, match="invalid watch name"):
            await poller.resume("")


async def test_a_stored_event_of_a_newer_format_is_refused_at_resume(
    client: BkJobClient,
) -> None:
    """A store written by a newer bkjob-async is refused with a clear error, never misread."""
    async with MemoryStore() as store:
        await store.wait_settled(store.add_jobs("w", [(SCOPE, 1)]))
        newer = {"v": 99, "j": 1, "t": "2026-11-23T12:00:00+00:00", "o": 0, "k": "j"}
        state = {"status": 2, "finished": False, "steps": [], "seq": 1}
        store.commit("w", (SCOPE, 1), state, [("j:1:0", newer)])
        async with Poller(client, policy=FAST, store=store) as poller:
            with pytest.raises(StoreError, match="newer bkjob-async"):
                await poller.resume("w")
            with pytest.raises(StoreError, match="newer bkjob-async"):  # the name is free again
                await poller.resume("w")
        store.commit("w", (SCOPE, 1), {"steps": "?"})
        async with Poller(client, policy=FAST, store=store) as poller:
            with pytest.raises(StoreError, match="not a saved job state"):
                await poller.resume("w")


async def test_one_name_is_one_open_watch(scripted: ScriptedServer, client: BkJobClient) -> None:
    scripted.script(1, running(1, 7))
    async with Poller(client, policy=FAST) as poller:
        watch = poller.watch_jobs(SCOPE, [1], name="w")
        with pytest.raises(RuntimeError, match="open already"):
            poller.watch_jobs(SCOPE, [1], name="w")
        await watch.aclose()
        again = poller.watch_jobs(SCOPE, [1], name="w")  # closed: the name is free again
        await take(again, 1)


async def test_add_and_remove_on_a_named_watch_persist(
    scripted: ScriptedServer, client: BkJobClient, tmp_path: Path
) -> None:
    for job in (1, 2, 3):
        scripted.script(job, running(job, 7))
    path = tmp_path / "state.db"
    async with SqliteStore(path) as store, Poller(client, policy=FAST, store=store) as poller:
        watch = poller.watch_jobs(SCOPE, [1, 2], name="w")
        await take(watch, 1)
        await watch.add(SCOPE, [3])
        await watch.remove(SCOPE, [1])
        assert watch.jobs == (2, 3)
        assert len(watch) == 2
        await watch.aclose()
    async with SqliteStore(path) as store, Poller(client, policy=FAST, store=store) as poller:
        polls_of_1 = scripted.polls[1]
        watch = await poller.resume("w")
        assert watch.jobs == (2, 3)
        for job in (2, 3):
            scripted.script(job, done(job))
        with anyio.fail_after(10):
            finished = {e.job_instance_id async for e in watch if isinstance(e, JobFinished)}
    assert finished == {2, 3}
    assert scripted.polls[1] == polls_of_1  # job 1 was not polled by the resumed watch


async def test_extending_a_stored_watch_keeps_its_jobs(
    scripted: ScriptedServer, client: BkJobClient
) -> None:
    store = MemoryStore()
    scripted.script(2, running(2, 7))
    async with watching_one(scripted, client, store, "w"):
        pass
    async with Poller(client, policy=FAST, store=store) as poller:
        watch = poller.watch_jobs(SCOPE, [2], name="w")
        got = await take(watch, 4)  # the last event of job 1 again, then job 2's first three
        assert watch.jobs == (1, 2)
    assert got[0].job_instance_id == 1
    assert hosts(got) == [(2, None, 7)]


async def test_a_store_the_caller_passes_stays_open(client: BkJobClient, tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        async with Poller(client, policy=FAST, store=store) as poller:
            assert poller.store is store
            stats = poller.statistics().store
            assert stats is not None
            assert stats.healthy
        assert await store.watch_names() == []  # still open: the caller closes it


async def test_a_poller_refuses_a_store_of_the_wrong_type(client: BkJobClient) -> None:
    with pytest.raises(TypeError, match="store must be a Store"):
        Poller(client, store="state.db")  # type: ignore[arg-type]


# The schema-1 file format, as the first release wrote it (never change: it is history).
_SCHEMA_1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE watches (name TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE jobs (watch TEXT NOT NULL, scope TEXT NOT NULL, job INTEGER NOT NULL,"
    " added INTEGER NOT NULL, state TEXT, PRIMARY KEY (watch, scope, job)) WITHOUT ROWID",
    "CREATE TABLE events (seq INTEGER PRIMARY KEY, watch TEXT NOT NULL, event_id TEXT NOT NULL,"
    " scope TEXT NOT NULL, job INTEGER NOT NULL, payload TEXT NOT NULL)",
    f"PRAGMA application_id = {0x626B6A61}",  # "bkja"
    "PRAGMA user_version = 1",
)


async def test_a_store_file_of_schema_1_opens_and_resumes(
    scripted: ScriptedServer, client: BkJobClient, tmp_path: Path
) -> None:
    # What a schema-1 store holds after a watch saw host 7 and delivered all but the last event.
    memory = MemoryStore()
    scripted.script(1, running(1, 7))
    async with Poller(client, policy=FAST, store=memory) as poller:
        first = await take(poller.watch_jobs(SCOPE, [1], name="deploys"), 3)
    saved = await memory.load("deploys")
    assert saved is not None
    assert [e.event_id for e in saved.pending] == [first[-1].event_id]
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in _SCHEMA_1:
        conn.execute(statement)
    conn.execute("INSERT INTO watches VALUES ('deploys')")
    conn.execute(
        "INSERT INTO jobs VALUES ('deploys', 'biz:2', 1, 1, ?)",
        (json.dumps(saved.jobs[(SCOPE, 1)]),),
    )
    for seq, event in enumerate(saved.pending, start=2):
        conn.execute(
            "INSERT INTO events VALUES (?, 'deploys', ?, 'biz:2', 1, ?)",
            (seq, event.event_id, json.dumps(event.payload)),
        )
    conn.close()
    # Upgraded, the poller resumes it: the pending event again, then 7 -> 9 and the end.
    scripted.script(1, done(1))
    async with SqliteStore(path) as store, Poller(client, policy=FAST, store=store) as poller:
        watch = await poller.resume("deploys")
        with anyio.fail_after(10):
            rest = [event async for event in watch]
    assert rest[0].event_id == first[-1].event_id
    assert rest[0] == first[-1]
    assert hosts(rest) == [(1, 7, 9)]
    assert isinstance(rest[-1], JobFinished)
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == _sqlite.SCHEMA_VERSION
    finally:
        check.close()
