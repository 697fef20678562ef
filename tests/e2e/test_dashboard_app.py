"""The dashboard's HTTP side without a browser: mounting, the feed's resumption, safety, cost.

A simulator on 127.0.0.1, a poller, and the dashboard mounted under a prefix of a user's own
aiohttp app served on 127.0.0.1 (port 0). Checked here: the tap is attached only while someone
looks (and closed ``grace`` after the last viewer, one who left a quiet stream too; a quiet stream
says it is alive each ``KEEPALIVE``); the feed resumes from ``Last-Event-ID``
with nothing lost or repeated, and says ``reset`` for an id it does not hold; paging is capped;
headers, the read-only default, the token, CSRF and secrets. The browser checks are in
``test_dashboard_browser.py``. The mounting example of ``docs/howto/dashboard.md`` runs here
as printed (its ``build_app`` behind its own authentication middleware).
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from bkjob_async import BkJobClient, HostStatus, KubeContainerFilter
from bkjob_async.polling import Poller, PollPolicy
from bkjob_async.polling.events import ContainerTransition, HostTransition
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan
from bkjob_async.web import _stream, dashboard_app
from bkjob_async.web._board import BOARD
from bkjob_async.web._feed import held_entry, held_id
from bkjob_async.web._stream import KEEPALIVE

from .conftest import SCOPE
from .test_readme import blocks

SECRET = "sim-secret-never-shown"
TOKEN = "0123456789abcdef-token"
PREFIX = "/tools/dash/"


@contextlib.asynccontextmanager
async def dashboard(
    sim: BkJobSimulator, flavor: str = "apigw-v3", **options: Any
) -> AsyncIterator[tuple[str, Poller, web.Application]]:
    """Serve a poller's dashboard under ``PREFIX``; yield (its URL, the poller, the sub-app)."""
    async with (
        BkJobClient(
            sim.url, app_code="dash", app_secret=SECRET, username="admin", flavor=flavor
        ) as client,
        Poller(client, policy=PollPolicy(interval=0.1, max_interval=0.5)) as poller,
    ):
        app = web.Application()
        sub = dashboard_app(poller, **options)
        app.add_subapp(PREFIX, sub)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}{PREFIX}", poller, sub
        finally:
            await runner.cleanup()


async def _events(response: aiohttp.ClientResponse, count: int) -> list[tuple[str, str]]:
    """Read ``count`` server-sent events: (id or event name, data)."""
    got: list[tuple[str, str]] = []
    name = data = ""
    with anyio.fail_after(20):
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("id: "):
                name = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                got.append((name, data))
                name = data = ""
                if len(got) == count:
                    break
    return got


@pytest.mark.sim(host_duration=(0.3, 3.0), apps={"dash": SECRET})
async def test_the_tap_is_open_only_while_someone_looks(sim: BkJobSimulator) -> None:
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=5)]) for _ in range(5)]
    async with dashboard(sim, grace=0.3) as (url, poller, sub):
        board = sub[BOARD]
        delivery = poller._driver.delivery
        async with poller.watch_jobs(SCOPE, ids) as watch:
            async for _ in watch:
                break
            assert delivery.taps == ()  # nobody looked: nothing attached
            assert not board.open
            async with aiohttp.ClientSession() as http:
                async with http.get(url + "api/overview") as answer:
                    body = await answer.json()
                assert body["jobs_total"] == 5
                assert len(delivery.taps) == 1
                async with http.get(url + "api/stream") as stream:
                    assert stream.headers["Content-Type"] == "text/event-stream"
                    await _events(stream, 2)
                    await anyio.sleep(0.6)  # past grace: the stream holds it open
                    assert len(delivery.taps) == 1
            with anyio.fail_after(5):
                while delivery.taps:
                    await anyio.sleep(0.05)
            assert not board.open
            assert board.opened == 1
            # What it showed stays, for whoever comes after (the tap is closed: nothing folds).
            assert len(board.jobs) == 5
            kept = board.feed.end
            assert kept > 0
            async with aiohttp.ClientSession() as http, http.get(url + "api/overview") as answer:
                body = await answer.json()
            assert board.opened == 2
            assert body["jobs_total"] == 5
            # The feed kept its entries, then a gap: nobody looked for a while.
            gap = json.loads(held_entry(board.feed.read(kept, 1)[0])[2])
            assert (gap["kind"], gap["to"] >= gap["from"]) == ("gap", True)


@pytest.mark.sim(apps={"dash": SECRET})
async def test_a_viewer_who_leaves_a_quiet_stream_lets_the_board_close(sim: BkJobSimulator) -> None:
    # Nothing changes after the viewer leaves: the stream finds it gone within ``LOOK`` (1 s),
    # not at its next keepalive (15 s), and the board closes ``grace`` later.
    async with dashboard(sim, grace=0.2) as (url, _, sub), aiohttp.ClientSession() as http:
        board = sub[BOARD]
        async with http.get(url + "api/stream") as stream:
            assert await stream.content.readline() == b"retry: 1000\n"
            assert board.open
        left = anyio.current_time()
        with anyio.fail_after(10):
            while board.open:
                await anyio.sleep(0.05)
        assert anyio.current_time() - left < KEEPALIVE


@pytest.mark.sim(apps={"dash": SECRET})
async def test_a_quiet_stream_says_it_is_alive_each_keepalive(
    sim: BkJobSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_stream, "KEEPALIVE", 0.5)
    monkeypatch.setattr(_stream, "LOOK", 0.1)
    async with (
        dashboard(sim) as (url, _, _),
        aiohttp.ClientSession() as http,
        http.get(url + "api/stream") as stream,
    ):
        assert await stream.content.readline() == b"retry: 1000\n"
        assert await stream.content.readline() == b"\n"
        began = anyio.current_time()
        with anyio.fail_after(10):
            lines = [await stream.content.readline() for _ in range(4)]
        took = anyio.current_time() - began
    assert lines == [b": keepalive\n", b"\n"] * 2
    assert took >= 2 * 0.5  # one a keepalive, not one a look


@pytest.mark.sim(host_duration=(0.2, 4.0), apps={"dash": SECRET})
async def test_the_feed_resumes_from_last_event_id_with_nothing_lost_or_twice(
    sim: BkJobSimulator,
) -> None:
    hosts = tuple(HostPlan(duration=(0.2, 4.0)) for _ in range(60))
    job = sim.create_job(SCOPE, [StepPlan(hosts=hosts)])
    async with (
        dashboard(sim) as (url, poller, sub),
        poller.watch_jobs(SCOPE, [job]) as watch,
        aiohttp.ClientSession() as http,
    ):
        seen: list[HostTransition] = []
        async with anyio.create_task_group() as tg:

            async def drain() -> None:
                async for event in watch:
                    if isinstance(event, HostTransition):
                        seen.append(event)

            tg.start_soon(drain)
            async with http.get(url + "api/overview") as answer:
                mark = await answer.json()
            query = {"after": mark["after"]}
            got: list[tuple[str, str]] = []
            async with http.get(url + "api/stream", params=query) as stream:
                got += await _events(stream, 15)
            last = got[-1][0]
            await anyio.sleep(0.5)  # events go on while disconnected
            async with http.get(
                url + "api/stream", params=query, headers={"Last-Event-ID": last}
            ) as stream:
                got += await _events(stream, 40)
            await anyio.sleep(0.5)  # the watch's consumer catches up
            tg.cancel_scope.cancel()
        cursors = [name for name, _ in got]
        assert "reset" not in cursors
        assert len(cursors) == len(set(cursors))
        ids = [json.loads(data)["id"] for _, data in got]
        assert len(ids) == len(set(ids))
        feed = sub[BOARD].feed
        held = [held_id(h) for h in feed.read(feed.start, 10**6)]
        start = held.index(ids[0])
        assert ids == held[start : start + len(ids)]  # in order, no gap
        # Each cursor names the number after its entry, in this feed.
        assert [feed.number_of(c) for c in cursors] == list(
            range(feed.start + start + 1, feed.start + start + 1 + len(ids))
        )
        # Each is one of the watch's own transitions (host ones), under the same id.
        host_ids = {e.event_id for e in seen}
        hosts_sent = [json.loads(data) for _, data in got if json.loads(data)["kind"] == "host"]
        assert hosts_sent
        assert {h["id"] for h in hosts_sent} <= host_ids
        # A cursor the feed does not hold: the stream says so, once, and goes on. Among them
        # a cursor of another process's feed, with a number this one holds (a dashboard that
        # restarted: its event ids are the same as before, its cursors are not).
        other = cursors[-1].replace(feed.boot, "0badf00d")
        for cursor in ("no/such/id", other):
            async with http.get(url + "api/stream", headers={"Last-Event-ID": cursor}) as s:
                first = await _events(s, 1)
            assert first == [("reset", "{}")]


@pytest.mark.sim(host_duration=(0.2, 0.5), apps={"dash": SECRET})
async def test_a_container_job_shows_its_containers_as_a_host_job_its_hosts(
    sim: BkJobSimulator,
) -> None:
    pods = KubeContainerFilter(cluster_uids=["BCS-K8S-00001"], container_names=["app", "cron"])
    ids = sim.containers(pods)  # four: two a name
    plans = [HostPlan(duration=0.3 + 0.2 * i, bk_host_id=c) for i, c in enumerate(ids[:3])]
    plans.append(HostPlan(duration=0.5, outcome=HostStatus.FAILED, exit_code=3, bk_host_id=ids[3]))
    pods_job = sim.create_job(SCOPE, [StepPlan(hosts=tuple(plans), name="in pods")])
    host_job = sim.create_job(SCOPE, [StepPlan(hosts=2)])  # beside it, on the same v4 poller
    async with (
        dashboard(sim, flavor="apigw-v4") as (url, poller, sub),
        aiohttp.ClientSession() as http,
    ):
        async with http.get(url + "api/overview") as answer:
            mark = await answer.json()  # the board opens: what comes next is folded in
        moves: list[ContainerTransition] = []
        sent: list[dict[str, Any]] = []
        query = {"after": mark["after"]}
        async with (
            poller.watch_jobs(SCOPE, [pods_job, host_job]) as watch,
            http.get(url + "api/stream", params={**query, "job": f"biz:2/{pods_job}"}) as stream,
        ):
            async for event in watch:
                if isinstance(event, ContainerTransition):
                    moves.append(event)
            while not sent or sent[-1]["kind"] != "finished":
                sent += [json.loads(data) for _, data in await _events(stream, 1)]
        # The feed sent each container's transition under the watch's own id, as a container.
        assert [e["id"] for e in sent if e["kind"] == "container"] == [e.event_id for e in moves]
        assert {e["container"] for e in sent if e["kind"] == "container"} == {str(c) for c in ids}
        (failed,) = [e for e in sent if e.get("state") == "failed"]
        assert (failed["container"], failed["exit_code"]) == (str(ids[3]), 3)
        assert failed["label"].endswith(f"(container {ids[3]})")
        assert "host" not in failed

        async with http.get(url + "api/overview") as answer:
            overview = await answer.json()
        assert overview["containers"] == {"SUCCESS": 3, "FAILED": 1}
        assert sum(overview["hosts"].values()) == 2  # the host job's only
        async with http.get(url + "api/jobs") as answer:
            rows = {r["job"]: r for r in (await answer.json())["rows"]}
        assert rows[pods_job] | {"hosts": 0} == rows[pods_job]
        assert (rows[pods_job]["containers"], rows[pods_job]["finished"]) == (4, 4)
        assert rows[pods_job]["failed"] == 1
        assert (rows[host_job]["hosts"], rows[host_job]["containers"]) == (2, 0)

        async with http.get(url + f"api/job/biz:2/{pods_job}") as answer:
            (step,) = (await answer.json())["steps"]
        assert step["hosts"] == []
        shown = {c["container"]: c for c in step["containers"]}
        assert set(shown) == {str(c) for c in ids}
        assert shown[str(ids[3])]["failed"]
        assert shown[str(ids[3])]["exit_code"] == 3
        assert [c["state"] for c in step["containers"]].count("succeeded") == 3
        log = f"api/job/biz:2/{pods_job}/log?step={step['step']}&container={ids[3]}"
        async with http.get(url + log) as answer:
            tail = await answer.json()
        assert answer.status == 200, tail
        assert tail["container"].endswith(f"(container {ids[3]})")
        assert "host" not in tail
        assert tail["tail"]  # the simulator's log of it
        async with http.get(url + log.replace(str(ids[3]), "x1")) as answer:
            assert answer.status == 400
        # A board opened now reads the containers from the poller's memory of the jobs.
        board = sub[BOARD]
        with poller.tap() as tap:
            board._load(tap.jobs())
        async with http.get(url + "api/overview") as answer:
            assert (await answer.json())["containers"] == overview["containers"]
        assert board.jobs[("biz", 2, pods_job)].containers == 4


@pytest.mark.sim(host_duration=(0.2, 0.5), apps={"dash": SECRET})
async def test_headers_paging_and_no_secret_under_a_prefix(sim: BkJobSimulator) -> None:
    ids = [
        sim.create_job(SCOPE, [StepPlan(hosts=2, name="<b>step</b>")], name=f"<i>{n}</i>")
        for n in range(250)
    ]
    async with (
        dashboard(sim) as (url, poller, _),
        poller.watch_jobs(SCOPE, ids) as watch,
        aiohttp.ClientSession() as http,
    ):
        async for _ in watch:
            break
        pages = ["", "jobs", "feed", f"job/biz:2/{ids[0]}", "static/dashboard.js"]
        apis = ["api/overview", "api/jobs?limit=100000", f"api/job/biz:2/{ids[0]}"]
        for path in pages + apis:
            async with http.get(url + path) as answer:
                assert answer.status == 200, path
                body = await answer.read()
                csp = answer.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp
            assert "'unsafe-inline'" not in csp
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert SECRET.encode() not in body
            if path == "":
                assert re.search(
                    rb'href="' + PREFIX.encode() + rb'static/dashboard\.[0-9a-f]{12}\.css"', body
                )
                assert b"<script>" not in body  # no inline script
        async with http.get(url + "api/jobs", params={"limit": "100000"}) as answer:
            page = await answer.json()
        assert page["total"] == 250
        assert len(page["rows"]) == 200  # never more than a page
        async with http.get(url + "api/jobs", params={"status": "nonsense"}) as answer:
            assert answer.status == 400
        async with http.get(url + f"api/job/biz:2/{ids[0]}") as answer:
            job = await answer.json()
        assert job["name"] == "<i>0</i>"  # data, shown as text by the page
        # A job of the scope this poller does not watch: nothing about it is asked or shown.
        other = sim.create_job(SCOPE, [StepPlan(hosts=1)], name="not watched here")
        for path in (f"api/job/biz:2/{other}", f"api/job/biz:2/{other}/log?step=1&host=1"):
            async with http.get(url + path) as answer:
                assert answer.status == 404, path

        async with http.post(
            url + f"api/job/biz:2/{ids[0]}/terminate",
            json={},
            headers={"X-Dashboard-Token": TOKEN},
        ) as answer:
            assert answer.status == 403  # read-only by default
            assert "read-only" in await answer.text()


@pytest.mark.sim(host_duration=(30.0, 30.0), apps={"dash": SECRET})
async def test_operations_need_the_token_json_and_the_same_origin(sim: BkJobSimulator) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    async with (
        dashboard(sim, allow_operations=True, token=TOKEN) as (url, poller, _),
        poller.watch_jobs(SCOPE, [job]),
        aiohttp.ClientSession() as http,
    ):
        target = url + f"api/job/biz:2/{job}/terminate"

        async def post(headers: dict[str, str], data: bytes = b"{}") -> int:
            async with http.post(target, data=data, headers=headers) as answer:
                return answer.status

        as_json = {"Content-Type": "application/json"}
        assert await post(as_json) == 401
        assert await post({**as_json, "X-Dashboard-Token": TOKEN[:-1] + "x"}) == 401
        evil = {**as_json, "X-Dashboard-Token": TOKEN, "Origin": "http://evil.example"}
        assert await post(evil) == 403
        assert await post({"Content-Type": "text/plain", "X-Dashboard-Token": TOKEN}) == 415
        assert sim.job(job).status.name == "RUNNING"
        assert await post({**as_json, "X-Dashboard-Token": TOKEN}) == 200
        async with http.get(url + f"job/biz:2/{job}") as answer:
            assert TOKEN not in await answer.text()


def test_operations_without_a_token_are_refused_before_serving() -> None:
    with pytest.raises(ValueError, match="token"):
        dashboard_app(object.__new__(Poller), allow_operations=True)
    with pytest.raises(ValueError, match="token"):
        dashboard_app(object.__new__(Poller), allow_operations=True, token="short")
    with pytest.raises(ValueError, match="allow_operations"):
        dashboard_app(object.__new__(Poller), token=TOKEN)
    with pytest.raises(TypeError, match="Poller"):
        dashboard_app("poller")  # type: ignore[arg-type]


@pytest.mark.sim(host_duration=(5.0, 5.0), apps={"dash": SECRET})
async def test_the_docs_mounting_example_serves_behind_its_own_authentication(
    sim: BkJobSimulator,
) -> None:
    page = pathlib.Path(__file__).resolve().parents[2] / "docs" / "howto" / "dashboard.md"
    (block,) = [b for b in blocks(page) if b.lang == "python"]
    example: dict[str, Any] = {"__name__": "dashboard_example"}
    exec(compile(block.body, str(page), "exec"), example)  # (its main runs only as a script)
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)], name="deploy")
    async with (
        BkJobClient(sim.url, app_code="dash", app_secret=SECRET, username="admin") as client,
        Poller(client) as poller,
        poller.watch_jobs(SCOPE, [job]),
    ):
        runner = web.AppRunner(example["build_app"](poller), shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}/bk-job/"
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(base) as answer:
                    assert answer.status == 401  # the app's own authentication first
                user = {"X-Forwarded-User": "alice"}
                async with http.get(base, headers=user) as answer:
                    assert answer.status == 200
                    assert 'data-root="/bk-job/"' in await answer.text()
                async with http.get(base + "api/overview", headers=user) as answer:
                    assert (await answer.json())["jobs_total"] == 1
        finally:
            await runner.cleanup()
