"""A named watch on a failing disk runs on from memory, says so once, and writes again later;
``as_completed`` under transient server faults."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest

from bkjob_async import BkJobClient, JobFinished, Poller, SqliteStore
from tests.durable.test_store_faults import _write_errors
from tests.scripted import FAST, SCOPE, Fault, ScriptedServer, job_body

pytestmark = pytest.mark.anyio


def _history(job: int, steps: int) -> list[dict]:
    """A host going 7 -> ... one status per poll for ``steps`` polls, then success."""
    running = [job_body(job, 2, [(job * 10, 2, 0, [5 + (n % 2) * 2])]) for n in range(steps)]
    return [*running, job_body(job, 3, [(job * 10, 3, 0, [9])])]


async def test_a_failing_disk_keeps_the_watch_running_reported_once(
    scripted: ScriptedServer, client: BkJobClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every write fails (the WAL is read-only) for the whole spell. (A full disk simulated
    # by PRAGMA max_page_count lets a write through whenever it fits the pages freed by
    # an earlier one: honest flapping, but not the single spell this test is about.)
    caplog.set_level(logging.INFO, logger="bkjob_async.polling")
    for job in (1, 2):
        scripted.script(job, *_history(job, 30))
    path = tmp_path / "s.db"
    async with (
        SqliteStore(path, retry_interval=0.01, max_retry_interval=0.05) as store,
        Poller(client, policy=FAST, store=store) as poller,
    ):
        watch = poller.watch_jobs(SCOPE, [1, 2], name="w")
        got = []
        with anyio.fail_after(20):
            async for event in watch:
                got.append(event)
                if len(got) == 3:
                    break_at = len(got)
                    with _write_errors(path):
                        while len(got) < break_at + 20:
                            got.append(await watch.__anext__())  # delivered from memory
                        while store.statistics().healthy:
                            await anyio.sleep(0.01)
                        while len(got) < break_at + 30:
                            got.append(await watch.__anext__())
                        stats = poller.statistics().store
                        assert stats is not None
                        assert not stats.healthy
                        assert "I/O" in (stats.error or "")
        with anyio.fail_after(10):
            while not store.statistics().healthy:
                await anyio.sleep(0.01)
            finished = {e.job_instance_id async for e in watch if isinstance(e, JobFinished)}
        assert (poller.statistics().store or store.statistics()).healthy
    assert finished | {e.job_instance_id for e in got if isinstance(e, JobFinished)} == {1, 2}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert any("writes resumed" in r.getMessage() for r in caplog.records)


async def test_as_completed_rides_out_transient_faults(
    scripted: ScriptedServer, client: BkJobClient
) -> None:
    flaky = Fault(503, "busy")
    scripted.script(1, flaky, flaky, *_history(1, 2))
    scripted.script(2, *_history(2, 1), flaky, flaky, job_body(2, 3, [(20, 3, 0, [9])]))
    scripted.script(3, flaky, job_body(3, 4, [(30, 4, 0, [11])]))
    async with Poller(client, policy=FAST) as poller:
        with anyio.fail_after(20):
            async with poller.as_completed(SCOPE, [1, 2, 3]) as finished:
                statuses = {s.job.job_instance_id: int(s.job.status) async for s in finished}
    assert statuses == {1: 3, 2: 3, 3: 4}
