"""The dashboard as an operator keeps it open all day (issue 65): headless Chromium, 1,000 jobs.

The world (``dashboard_world``): 1,000 jobs of 20 to 50 hosts on the simulator (a tenth with a
host that fails with exit code 3 and succeeds when retried, one waiting for a confirmation),
watched by one poller, its dashboard under a prefix. One browser, in Asia/Shanghai. In the
order an operator meets them: the overview (no stray ``null``, times in the browser's zone
with the zone named, a rate chart drawn from the run), the failed hosts across jobs filtered
by error and by job, a retry from a job's page that the jobs table and the overview agree
with within one refresh, a confirmation of the waiting job, every page within 390 px, and a
page opened after the run that says when it ended, with its totals and latest transitions.
Then, on dashboards of their own over the same poller: a dashboard restarted under an open
page (the page says it started over), and the feed at 10,000 transitions a second with the
browser's heap bounded.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import random
import zoneinfo
from typing import Any

import pytest
from aiohttp import web

from bkjob_async.models import Host, HostResult, HostStatus, StepType
from bkjob_async.polling.events import HostTransition
from bkjob_async.testing import HostPlan, StepPlan
from bkjob_async.web import dashboard_app
from bkjob_async.web._board import BOARD

from .browser import Browser, Page
from .dashboard_world import SCOPE, TOKEN, World, browsing, poll_until, served

pytestmark = pytest.mark.timeout(600)

JOBS = 1000
CONFIRM = 7  # the job (by its number) that waits for a person
ZONE = "Asia/Shanghai"


def _plans(n: int) -> list[StepPlan]:
    rng = random.Random(n)
    hosts = [HostPlan(duration=rng.uniform(2.0, 20.0)) for _ in range(rng.randint(20, 50))]
    if n % 10 == 1:
        hosts[0] = HostPlan(
            duration=rng.uniform(2.0, 6.0),
            outcome=HostStatus.FAILED,
            exit_code=3,
            retry_outcomes=(HostStatus.SUCCESS,),
        )
    steps = [StepPlan(hosts=tuple(hosts), name="deploy")]
    if n == CONFIRM:
        steps += [StepPlan(StepType.MANUAL_CONFIRM, name="confirm"), StepPlan(hosts=3)]
    return steps


@pytest.fixture(scope="module")
def world():
    with served(JOBS, plans=_plans, every_event=True) as world:
        yield world


@pytest.fixture(scope="module")
def browser(world: World, tmp_path_factory: pytest.TempPathFactory):
    with browsing(world, tmp_path_factory.mktemp("o")) as opened:
        yield opened


def _page(world: World, browser: Browser) -> Page:
    page: Page = world.call(browser.new_page())
    world.call(page.send("Emulation.setTimezoneOverride", {"timezoneId": ZONE}))
    return page


def _phone(world: World, page: Page, mobile: bool = True) -> None:
    width = 390 if mobile else 1280
    world.call(
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 844, "deviceScaleFactor": 1, "mobile": mobile},
        )
    )


def _fits(world: World, page: Page) -> int:
    return int(world.call(page.evaluate("document.documentElement.scrollWidth")))


def _api(world: World, path: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(world.base + path, timeout=30) as answer:
        return json.loads(answer.read())


def _job_text(job_id: int) -> str:
    return f"{SCOPE.type.value}:{SCOPE.id}/{job_id}"


def test_an_operators_day(world: World, browser: Browser) -> None:
    page = _page(world, browser)
    # --- the overview, in the browser's zone ---------------------------------------------
    world.call(page.goto(world.base))
    world.call(page.wait_for("document.body.dataset.loaded === '1'"))
    world.call(page.wait_for("document.querySelectorAll('#recent tr').length >= 5", timeout=30))
    text = world.call(page.evaluate("document.body.innerText"))
    assert "null" not in text
    assert "undefined" not in text
    zone = world.call(page.evaluate("document.getElementById('zone').textContent"))
    assert zone == f"times: {ZONE} (GMT+8)"
    # A transition's time, as the page shows it, is the event's in Shanghai.
    row_id, shown = world.call(
        page.evaluate(
            "[document.querySelector('#recent tr').dataset.id,"
            " document.querySelector('#recent tr td').textContent]"
        )
    )
    entry = next(e for e in world.feed_entries() if e["id"] == row_id)
    at = _dt.datetime.fromisoformat(entry["at"]).astimezone(zoneinfo.ZoneInfo(ZONE))
    assert shown == at.strftime("%H:%M:%S.") + f"{at.microsecond // 1000:03d}"
    # The rate chart: a line a series, drawn from seconds of the run.
    points = world.call(
        page.wait_for(
            "(document.querySelector('svg.chart polyline[data-series=transitions]')"
            "?.getAttribute('points') || '').split(' ').length >= 4 &&"
            " document.querySelector('svg.chart polyline[data-series=transitions]')"
            ".getAttribute('points')",
            timeout=30,
        )
    )
    heights = {float(p.split(",")[1]) for p in points.split(" ")}
    assert len(heights) > 1  # not a flat line: the run's rate moved
    for series in ("polls", "failures"):
        assert world.call(
            page.evaluate(f"!!document.querySelector('polyline[data-series={series}]')")
        )
    assert page.errors == []

    # --- failed hosts across jobs ----------------------------------------------------------
    poll_until(lambda: _api(world, "api/overview")["failed_hosts"] >= 20, timeout=120)
    world.call(page.goto(world.base + "failed"))
    # Each with its exit code: a host that failed before the board first looked (before this
    # browser's first page) is shown at once, its exit code asked of bk-job for the next refresh.
    codes = (
        "[...document.querySelectorAll('#failed-hosts tr td:nth-child(5)')]"
        ".map(td => td.textContent)"
    )
    world.call(page.wait_for(f"{codes}.length >= 20 && {codes}.every(code => code === '3')", 30))
    chip = world.call(page.evaluate("document.querySelector('#errors .chip').dataset.error"))
    assert chip.startswith("FAILED exit 3")
    failed_job = int(
        world.call(page.evaluate("document.querySelector('#failed-hosts tr').dataset.job"))
    )
    world.call(page.choose("#f-job", str(failed_job), "input"))
    world.call(
        page.wait_for(
            "document.querySelectorAll('#failed-hosts tr').length === 1 &&"
            f" document.querySelector('#failed-hosts tr').dataset.job === '{failed_job}'"
        )
    )
    assert f"job={failed_job}" in world.call(page.evaluate("location.search"))

    # --- a retry from a job's page: the table and the overview agree -------------------------
    poll_until(
        lambda: (r := _row(world, failed_job)) is not None and r["status"] == "FAIL", timeout=120
    )
    world.call(page.goto(world.base + "job/" + _job_text(failed_job)))
    world.call(page.wait_for("document.body.dataset.loaded === '1'"))
    world.call(page.choose("#token", TOKEN, "input"))
    world.call(page.evaluate("document.getElementById('retry').click()"))
    world.call(page.wait_for("document.getElementById('job-status').textContent === 'SUCCESS'", 60))
    # Within one refresh of the jobs table (2 s; twice that beside the test's own work).
    poll_until(lambda: _row(world, failed_job)["status"] == "SUCCESS", timeout=4)
    assert _row(world, failed_job)["failed"] == 0
    failed_now = _api(world, f"api/failed?job={failed_job}")
    assert failed_now["total"] == 0

    # --- a job waiting for a person --------------------------------------------------------
    waiting = world.bulk_ids[CONFIRM]
    poll_until(lambda: _row(world, waiting)["bucket"] == "waiting", timeout=120)
    world.call(page.goto(world.base + "job/" + _job_text(waiting)))
    world.call(page.wait_for("!!document.querySelector('p.hint.waiting')"))
    hint = world.call(page.evaluate("document.querySelector('p.hint.waiting').textContent"))
    assert f"bkjob-async operate {waiting}" in hint
    world.call(page.evaluate("document.querySelector('button[data-action=confirm]').click()"))
    world.call(
        page.wait_for("document.getElementById('op-result').textContent === 'done: confirm'")
    )
    poll_until(lambda: _row(world, waiting)["bucket"] != "waiting", timeout=30)

    # --- a phone: every page within 390 px --------------------------------------------------
    _phone(world, page)
    for path in ("", "jobs", "feed", "failed", "job/" + _job_text(failed_job)):
        world.call(page.goto(world.base + path))
        world.call(page.wait_for("document.getElementById('main').childElementCount > 0"))
        world.call(asyncio.sleep(0.5))
        assert _fits(world, page) <= 390, path
    # A job's page with a failed host's log open.
    other = next(r["job"] for r in _api(world, "api/failed")["rows"] if r["job"] != failed_job)
    world.call(page.goto(world.base + "job/" + _job_text(other)))
    world.call(page.wait_for("!!document.querySelector('#failed button')"))
    world.call(page.evaluate("document.querySelector('#failed button').click()"))
    world.call(page.wait_for("!document.querySelector('#failed pre').hidden"))
    assert _fits(world, page) <= 390
    _phone(world, page, mobile=False)

    # --- after the run -----------------------------------------------------------------------
    poll_until(lambda: _api(world, "api/overview")["run"]["ended"] is not None, timeout=240)
    later = _page(world, browser)
    world.call(later.goto(world.base))
    ended = world.call(later.wait_for("document.querySelector('#run .ended')?.textContent"))
    assert ended.startswith("The run ended at ")
    assert f"{JOBS:,} in all" in ended
    # (Once its stream is open: "connecting" until then.)
    world.call(
        later.wait_for("document.getElementById('live').textContent.startsWith('ended at ')")
    )
    world.call(later.wait_for("document.querySelectorAll('#recent tr').length === 20"))
    assert later.errors == []
    assert page.errors == []


def _row(world: World, job_id: int) -> Any:
    rows = _api(world, f"api/jobs?q={job_id}")["rows"]
    return next((r for r in rows if r["job"] == job_id), None)


async def _serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, int(runner.addresses[0][1])


def test_a_restarted_dashboard_tells_an_open_page_it_started_over(
    world: World, browser: Browser
) -> None:
    page = _page(world, browser)
    runner, port = world.call(_serve(dashboard_app(world.poller)))
    try:
        world.call(
            world.launch([StepPlan(hosts=tuple(HostPlan(duration=(1.0, 30.0)) for _ in range(40)))])
        )
        world.call(page.goto(f"http://127.0.0.1:{port}/feed"))
        world.call(page.wait_for("document.querySelectorAll('#feed tr').length > 5", timeout=30))
        assert world.call(page.evaluate("window.bkjobDashboard.resets")) == 0
        world.call(runner.cleanup())
        world.call(page.wait_for("document.getElementById('live').textContent === 'reconnecting'"))
        runner, _ = world.call(_serve(dashboard_app(world.poller), port))
        world.call(page.wait_for("window.bkjobDashboard.resets === 1", timeout=20))
        notice = world.call(page.wait_for("document.getElementById('notice')?.textContent"))
        assert notice.startswith("The dashboard started over at ")
        gap = world.call(page.evaluate("document.querySelector('#feed tr.gap').textContent"))
        assert "started over" in gap
        world.call(page.wait_for("document.getElementById('live').textContent === 'live'"))
    finally:
        world.call(runner.cleanup())


def test_the_feed_at_ten_thousand_transitions_a_second_keeps_the_heap_bounded(
    world: World, browser: Browser
) -> None:
    app = dashboard_app(world.poller)
    board = app[BOARD]
    runner, port = world.call(_serve(app))
    page = _page(world, browser)
    at = _dt.datetime.now(_dt.timezone.utc)

    batch = [
        HostTransition(
            900_001,
            at,
            5,
            0,
            Host(bk_host_id=n),
            HostStatus.RUNNING,
            HostStatus.SUCCESS,
            HostResult(Host(bk_host_id=n), HostStatus.SUCCESS),
            visit=1,
        )
        for n in range(1, 501)
    ]
    stop = asyncio.Event()

    async def pour() -> int:
        """Fold 500 transitions every 50 ms: 10,000 a second."""
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), 0
        while not stop.is_set():
            board.fold(SCOPE, batch, None)
            sent += len(batch)
            await asyncio.sleep(max(0.0, start + sent / 10_000 - loop.time()))
        return sent

    async def heap() -> float:
        await page.send("HeapProfiler.collectGarbage")
        return float((await page.send("Runtime.getHeapUsage"))["usedSize"])

    try:
        world.call(page.goto(f"http://127.0.0.1:{port}/feed"))
        world.call(page.wait_for("document.getElementById('live').textContent === 'live'"))
        task = asyncio.run_coroutine_threadsafe(pour(), world.loop)
        world.call(asyncio.sleep(3))
        early = world.call(heap())
        world.call(asyncio.sleep(8))
        late = world.call(heap())
        received = world.call(page.evaluate("window.bkjobDashboard.received"))
        rows = world.call(page.evaluate("document.querySelectorAll('#feed tr').length"))
        world.call(_set(stop))
        sent = task.result(30)
        assert sent > 80_000
        assert received > 50_000  # the page took them (the newest shown, the rest let go)
        assert rows <= 1000
        assert late - early < 4e6, (early, late)
        assert page.errors == []
    finally:
        world.call(_set(stop))
        world.call(runner.cleanup())


async def _set(event: asyncio.Event) -> None:
    event.set()
