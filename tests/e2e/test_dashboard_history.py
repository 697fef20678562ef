"""A dashboard started again over the same durable store shows the earlier run (issue 65).

A poller on a ``SqliteStore`` runs a named watch to its end, its dashboard open; then the
poller, the store and the dashboard stop. A new poller over the same file (nothing watched)
and a new dashboard show what the store kept (``Store.history``): the jobs and their last
states, the totals, the latest transitions, and when the run ended; in headless Chromium, the
overview says "The run ended at ..." with the totals and lists the latest transitions, the
jobs table the jobs, the feed the transitions. A dashboard over a ``MemoryStore`` starts
empty, as before.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from bkjob_async import BkJobClient, HostStatus, SqliteStore
from bkjob_async.polling import Poller, PollPolicy, Store
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan
from bkjob_async.web import dashboard_app

from .browser import chromium, launched
from .test_dashboard_app import PREFIX, SCOPE, SECRET

pytestmark = pytest.mark.timeout(120)

JOBS = 6
HOSTS = 4


@contextlib.asynccontextmanager
async def _served(sim: BkJobSimulator, store: Store) -> AsyncIterator[tuple[str, Poller]]:
    async with (
        BkJobClient(sim.url, app_code="dash", app_secret=SECRET, username="admin") as client,
        Poller(client, policy=PollPolicy(interval=0.1, max_interval=0.3), store=store) as poller,
    ):
        app = web.Application()
        app.add_subapp(PREFIX, dashboard_app(poller, grace=0.2))
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}{PREFIX}", poller
        finally:
            await runner.cleanup()


async def _get(http: aiohttp.ClientSession, url: str, **query: str) -> Any:
    async with http.get(url, params=query) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.json()


async def _entries(http: aiohttp.ClientSession, url: str, count: int) -> list[str]:
    """Return the data of the feed's newest ``count`` entries (the backlog of a stream)."""
    got: list[str] = []
    async with http.get(url + "api/stream", params={"backlog": str(count)}) as stream:
        with anyio.move_on_after(3):
            async for line in stream.content:
                if line.startswith(b"data: "):
                    got.append(line[6:].decode())
                    if len(got) >= count:
                        break
    return got


def _run(sim: BkJobSimulator) -> list[int]:
    ids = []
    for n in range(JOBS):
        hosts = [HostPlan(duration=0.2 + 0.05 * h) for h in range(HOSTS)]
        if n == 0:
            hosts[0] = HostPlan(duration=0.2, outcome=HostStatus.FAILED, exit_code=3)
        ids.append(sim.create_job(SCOPE, [StepPlan(hosts=tuple(hosts), name="deploy")]))
    return ids


@pytest.mark.sim(apps={"dash": SECRET})
async def test_a_dashboard_started_again_on_the_same_file_shows_the_run(
    sim: BkJobSimulator, tmp_path: pathlib.Path
) -> None:
    ids = _run(sim)
    path = tmp_path / "poller.db"
    async with (
        SqliteStore(path) as store,
        _served(sim, store) as (url, poller),
        aiohttp.ClientSession() as http,
    ):
        await _get(http, url + "api/overview")  # someone looks: the board sees the run
        async with http.get(url + "api/stream"), poller.watch_jobs(SCOPE, ids, name="d") as w:
            async for _ in w:
                pass
        before = await _get(http, url + "api/overview")
        before_jobs = await _get(http, url + "api/jobs", sort="id")
    assert before["jobs"]["failed"] == 1
    assert before["jobs"]["succeeded"] == JOBS - 1

    # -- started again on the same file: nothing watched, the run as it ended -----------
    async with (
        SqliteStore(path) as store,
        _served(sim, store) as (url, poller),
        aiohttp.ClientSession() as http,
    ):
        assert poller.statistics().watches == 0
        after = await _get(http, url + "api/overview")
        run = after["run"]
        assert run["ended"] is not None
        assert run["started"] <= run["ended"] <= after["now"]
        assert after["jobs"]["failed"] == 1
        assert after["jobs"]["succeeded"] == JOBS - 1
        assert after["hosts"] == {"SUCCESS": JOBS * HOSTS - 1, "FAILED": 1}
        assert after["failed_hosts"] == 1
        jobs = await _get(http, url + "api/jobs", sort="id")
        assert [(r["job"], r["status"]) for r in jobs["rows"]] == [
            (r["job"], r["status"]) for r in before_jobs["rows"]
        ]
        failed = await _get(http, url + "api/failed")
        assert [(r["job"], r["exit_code"]) for r in failed["rows"]] == [(ids[0], 3)]
        entries = await _entries(http, url, 200)
        hosts_ended = [e for e in entries if '"kind":"host"' in e and "SUCCESS" in e]
        assert len(hosts_ended) >= JOBS * HOSTS - 1  # every host's end, from the store
        assert any("FAILED" in e for e in entries)

        # -- and as a person sees it ------------------------------------------------------
        chromium()
        async with launched(tmp_path / "profile") as browser:
            page = await browser.new_page()
            await page.goto(url)
            await page.wait_for("document.body.dataset.loaded === '1'")
            ended = await page.wait_for(
                "(document.querySelector('p.ended') || {}).innerText", timeout=15
            )
            assert "The run ended at" in ended
            assert f"{JOBS - 1} jobs succeeded, 1 failed" in ended
            rows = await page.wait_for(
                "document.querySelectorAll('#recent tr').length >= 10 &&"
                " document.querySelector('#recent').innerText",
                timeout=15,
            )
            assert str(ids[-1]) in rows or any(str(i) in rows for i in ids)
            await page.goto(url + "jobs")
            table = await page.wait_for(
                f"document.body.innerText.includes('{ids[0]}') && document.body.innerText",
                timeout=15,
            )
            assert all(str(i) in table for i in ids)
            await page.goto(url + "feed")
            feed = await page.wait_for(
                "document.querySelectorAll('tbody tr').length >= 10 && document.body.innerText",
                timeout=15,
            )
            assert "FAILED" in feed
            assert not page.errors


@pytest.mark.sim(apps={"dash": SECRET})
async def test_a_dashboard_on_a_memory_store_starts_empty(sim: BkJobSimulator) -> None:
    ids = _run(sim)
    from bkjob_async import MemoryStore

    async with (
        _served(sim, MemoryStore()) as (url, poller),
        aiohttp.ClientSession() as http,
        poller.watch_jobs(SCOPE, ids, name="d") as watch,
    ):
        async for _ in watch:
            pass
    async with _served(sim, MemoryStore()) as (url, _), aiohttp.ClientSession() as http:
        after = await _get(http, url + "api/overview")
        assert after["run"]["ended"] is None
        assert after["jobs_total"] == 0
