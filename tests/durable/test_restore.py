"""A ``SqliteStore`` restored from an older copy of its file repeats nothing under a new id.

What a backup or a volume snapshot brought back does to a single process: its watch resumes
from states older than what its consumer already read. The jobs are followed again from
there, and what is derived again comes under the ids the consumer already has: after dedupe
by ``event_id``, no status reached again under a new id, no step back, a chain broken only by
a merge (from ``None`` or from a status passed before), one ``JobFinished`` per job, every
host's true final status (``tests/cluster/chains.consumer_view``). On hosts (v3) and on the
gateway v4's containers alike (``tests/objects``).
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import anyio
import pytest

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope, SqliteStore
from bkjob_async.testing import BkJobSimulator

from ..cluster.chains import consumer_view
from ..objects import OBJECTS, flavor, steps

SCOPE = Scope.biz(2)
POLICY = PollPolicy(interval=0.05, max_interval=0.1)


def _client(sim: BkJobSimulator, objects: str) -> BkJobClient:
    return BkJobClient(sim.url, app_code="a", app_secret="s", username="u", flavor=flavor(objects))


async def _consume(watch, seen: list) -> None:
    async for event in watch:
        seen.append(event)


async def _advance(
    sim: BkJobSimulator, seconds: float, until_ended: tuple[int, ...] | list[int] = ()
) -> None:
    """Move the simulator's clock ``seconds`` in half-second steps, polled in between (with
    ``until_ended``: no further than those jobs' end)."""
    for _ in range(int(seconds / 0.5)):
        if until_ended and all(sim.job(i).status.is_finished for i in until_ended):
            return
        sim.advance(0.5)
        await anyio.sleep(0.15)


@pytest.mark.parametrize("objects", OBJECTS)
@pytest.mark.parametrize("copied_at", [1.0, 3.0, 6.0])
async def test_a_store_restored_from_an_older_copy_repeats_nothing_under_a_new_id(
    tmp_path: Path, copied_at: float, objects: str
) -> None:
    path, backup = tmp_path / "watch.db", tmp_path / "backup.db"
    seen: list = []
    sim = BkJobSimulator(seed=int(copied_at * 10), host_duration=(1.0, 4.0), virtual_clock=True)
    async with sim:
        ids = [sim.create_job(SCOPE, steps(sim, objects, 3, 2)) for _ in range(20)]
        async with (
            SqliteStore(path) as store,
            _client(sim, objects) as client,
            Poller(client, policy=POLICY, store=store) as poller,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(_consume, poller.watch_jobs(SCOPE, ids, name="deploys"), seen)
            await _advance(sim, copied_at)
            await store.flush()
            # (``with`` on a connection only commits: ``closing`` closes it, or 3.13 warns)
            with closing(sqlite3.connect(path)) as live, closing(sqlite3.connect(backup)) as copy:
                live.backup(copy)  # (a consistent copy of a live WAL database)
            copied = len(seen)
            await _advance(sim, 20.0, ids)  # every job ends; the watch with them
        assert all(sim.job(i).status.is_finished for i in ids)
        read = len(seen)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(backup, path)
        async with (
            SqliteStore(path) as store,
            _client(sim, objects) as client,
            Poller(client, policy=POLICY, store=store) as poller,
        ):
            with anyio.fail_after(30):
                await _consume(await poller.resume("deploys"), seen)
    assert len(seen) > read  # the restored watch did derive again
    figures = consumer_view(seen, sim, ids)
    assert figures["dropped"] > 0
    print(f"\ncopied after {copied} events, {read} read: {figures}")
