"""The dashboard's cluster page against a real redis-server, in JSON and in headless Chromium:
workers, leases, watches, lag and dead letters as the cluster holds them; looking writes
nothing; Redis gone is said without its URL. ``BKJOB_SCREENSHOTS=1`` writes the picture of
``docs/howto/dashboard.md`` (``docs/_static/dashboard-cluster.png``)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest
from aiohttp import web

from bkjob_async import BkJobClient, Poller
from bkjob_async.cluster import ClusterReader
from bkjob_async.testing import BkJobSimulator
from bkjob_async.web import dashboard_app
from tests.cli_run import serving
from tests.e2e.browser import chromium, launched

from .test_cluster_events import a_lease, made, publish, take
from .test_cluster_status import snapshot, two_workers_and_a_lagging_group

ROOT = pathlib.Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


async def lagging_and_a_dead_letter(make_cluster):
    """Two workers, watch ``deploys`` of 10 events, group ``slow`` lagging (4 given, 1 acked),
    and group ``g`` that gave event 0 up (delivered twice, at most once allowed)."""
    cluster, keepers = await two_workers_and_a_lagging_group(make_cluster)
    first = cluster.events("deploys", consumer="c1", group="g", count=2, block=0.1)
    _, two = await take(first, 2)
    await first.ack(two)
    await anyio.sleep(0.2)  # event 0 idles past the heir's claim_idle
    heir = make_cluster().events(
        "deploys", consumer="c2", group="g", claim_idle=0.1, block=0.1, max_deliveries=1
    )
    reader = ClusterReader(cluster)
    with anyio.move_on_after(5.0):
        while not await reader.dead_letters("deploys"):
            with anyio.move_on_after(0.5):
                await heir.__anext__()
    assert len(await reader.dead_letters("deploys")) == 1
    return cluster, keepers


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with http.get(url) as answer:
        return answer.status, await answer.json()


async def test_the_cluster_page_reads_workers_leases_lag_and_dead_letters_and_writes_nothing(
    make_cluster,
):
    cluster, _ = await lagging_and_a_dead_letter(make_cluster)
    before = await snapshot(cluster)
    async with served(dashboard_app(make_cluster())) as url, aiohttp.ClientSession() as http:
        async with http.get(url) as page:
            assert page.status == 200
            html = await page.text()
            assert 'data-page="cluster"' in html
            assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        status, body = await get(http, url + "api/cluster")
        assert status == 200
        assert (body["name"], body["exists"], body["partitions"]) == ("test", True, 64)
        assert [m["worker"] for m in body["members"]] == ["w0", "w1"]
        assert sorted(p for m in body["members"] for p in m["partitions"]) == list(range(64))
        assert {lease["holder"] for lease in body["leases"]} == {"w0", "w1"}
        (watch,) = body["watches"]
        assert (watch["watch"], watch["jobs"], watch["dead_letters"]) == ("deploys", 5, 1)
        lags = {g["group"]: (g["pending"], g["lag"]) for g in watch["groups"]}
        assert lags["slow"] == (3, 6)
        status, dead = await get(http, url + "api/cluster/dead-letters?watch=deploys")
        assert status == 200
        (letter,) = dead["dead_letters"]
        assert (letter["group"], letter["deliveries"]) == ("g", 2)
        assert letter["event"] == {
            "kind": "JobTransition",
            "job": made(0).job_instance_id,
            "host": None,
        }
        assert letter["event_id"] == made(0).event_id
        async with http.get(url + "api/cluster/dead-letters?watch=") as bad:
            assert bad.status == 400
    assert await snapshot(cluster) == before  # looking joined no group, acked nothing


async def test_redis_gone_is_said_by_its_kind_without_the_url(make_cluster):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cluster = make_cluster(url=f"redis://:pw-never-shown@127.0.0.1:{port}/0", timeout=1.0)
    async with served(dashboard_app(cluster)) as url, aiohttp.ClientSession() as http:
        status, body = await get(http, url + "api/cluster")
        dead_status, dead = await get(http, url + "api/cluster/dead-letters?watch=deploys")
    assert (status, dead_status) == (502, 502)
    assert body["error"] == dead["error"] == "Redis did not answer: ClusterUnavailableError"


async def test_a_pollers_dashboard_with_its_cluster_links_the_cluster_page(make_cluster):
    cluster, _ = await two_workers_and_a_lagging_group(make_cluster)
    with pytest.raises(TypeError, match="Poller or a Cluster"):
        dashboard_app("redis://127.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="read only"):
        dashboard_app(cluster, allow_operations=True, token="x" * 16)
    async with BkJobSimulator() as sim:
        client = BkJobClient(sim.url, app_code="a", app_secret="s", username="u")
        async with client, Poller(client) as poller:
            with pytest.raises(TypeError, match="cluster must be a Cluster"):
                dashboard_app(poller, cluster=object())  # type: ignore[arg-type]
            app = dashboard_app(poller, cluster=cluster)
            async with served(app) as url, aiohttp.ClientSession() as http:
                async with http.get(url) as page:
                    assert 'href="/cluster"' in await page.text()
                async with http.get(url + "cluster") as page:
                    assert 'data-page="cluster"' in await page.text()
                status, body = await get(http, url + "api/cluster")
                assert (status, len(body["members"])) == (200, 2)


@pytest.mark.timeout(120)
async def test_the_cluster_page_in_chromium(make_cluster, tmp_path):
    chromium()
    _, keepers = await lagging_and_a_dead_letter(make_cluster)
    await keepers[1].release()  # w1 leaves: its 32 partitions are nobody's until w0's round
    pictures = ROOT / "docs" / "_static" if os.environ.get("BKJOB_SCREENSHOTS") == "1" else tmp_path
    async with (
        served(dashboard_app(make_cluster())) as url,
        launched(tmp_path / "profile") as browser,
    ):
        page = await browser.new_page()
        await page.goto(url)
        assert await page.wait_for("document.querySelectorAll('#leases .lease').length") == 64
        assert (
            await page.evaluate("document.querySelectorAll('#leases .lease.unheld').length") == 32
        )
        assert await page.evaluate("document.querySelectorAll('tr[data-worker]').length") == 1
        text = await page.evaluate("document.body.innerText")
        for shown in ("Cluster test", "Workers", "deploys", "slow"):
            assert shown in text
        await page.evaluate("document.querySelector('tr[data-watch] button').click()")
        assert (
            await page.wait_for("document.querySelector('#dead-letters tbody')?.childElementCount")
            == 1
        )
        await page.wait_for("document.getElementById('live').textContent === 'live'")
        await page.screenshot(pictures / "dashboard-cluster.png")
        assert (pictures / "dashboard-cluster.png").read_bytes().startswith(b"\x89PNG")
        assert page.errors == []


async def test_the_command_serves_a_clusters_page_until_interrupted(make_cluster, redis_server):
    await two_workers_and_a_lagging_group(make_cluster)
    argv = ["dashboard", "--redis", redis_server.url, "--cluster", "test", "--port", "0"]
    async with serving(argv, {}) as dashboard:
        assert "cluster 'test'" in dashboard.err.getvalue()
        async with aiohttp.ClientSession() as http:
            code, body = await get(http, dashboard.url + "api/cluster")
    assert (code, [m["worker"] for m in body["members"]]) == (200, ["w0", "w1"])
    assert dashboard.status == 0


@pytest.mark.timeout(120)
async def test_a_cluster_dashboard_started_again_shows_what_the_streams_hold(
    make_cluster, tmp_path
):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 30)  # a watch's events; its jobs all ended (none left)
    newest = [made(i).job_instance_id for i in range(29, 9, -1)]
    async with served(dashboard_app(cluster)) as url, aiohttp.ClientSession() as http:
        status, first = await get(http, url + "api/cluster")
    assert status == 200
    assert [r["job"] for r in first["recent"]] == newest
    # -- the dashboard stopped; another, on a new connection to the same Redis ----------
    async with served(dashboard_app(make_cluster())) as url, aiohttp.ClientSession() as http:
        status, body = await get(http, url + "api/cluster")
        assert status == 200
        assert body["recent"] == first["recent"]
        (watch,) = body["watches"]
        assert (watch["watch"], watch["jobs"], watch["stream_length"]) == ("deploys", 0, 30)
        assert watch["last_event"] == body["recent"][0]["at"]
        assert body["recent"][0]["kind"] == "JobTransition"
        assert (body["recent"][0]["previous"], body["recent"][0]["current"]) == (None, "RUNNING")
        chromium()
        async with launched(tmp_path / "profile") as browser:
            page = await browser.new_page()
            await page.goto(url)
            rows = await page.wait_for("document.querySelectorAll('tr.recent').length")
            assert rows == 20
            text = await page.evaluate("document.body.innerText")
            assert "Latest transitions" in text
            assert "ended, last at" in text
            assert str(newest[0]) in text
            assert page.errors == []
