"""The dashboard in a real browser: headless Chromium over a poller of 10,000 jobs.

The world (``dashboard_world``): the simulator, one poller watching 10,000 jobs (most running
for an hour, a tenth failed, a tenth succeeded) and the dashboard mounted under a prefix of a
user's own aiohttp app, behind a proxy the test can cut. Chromium (``browser``: Debian's
package, driven over DevTools) opens its pages. Checked: each page loads with no console
error and nothing refused by the Content-Security-Policy; a host's change shows within 1 s of
its event (with a core to spare: scaled by the machine's measured slowdown, ``tests/load.py``);
the jobs table filters and pages on the server; a job named
``<img src=x onerror=alert(1)>`` shows as text and runs nothing; a dropped connection resumes
the feed from ``Last-Event-ID`` with no entry lost or shown twice; no secret reaches a page.

``BKJOB_SCREENSHOTS=1`` writes the pictures of ``docs/howto/dashboard.md`` from here
(``docs/_static/dashboard-*.png``); otherwise they go to a temporary folder and are checked
to be drawn pages.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import io
import json
import os
import pathlib
import re
import urllib.request

import anyio
import pytest

from bkjob_async.cli import amain
from bkjob_async.models import HostStatus
from bkjob_async.testing import HostPlan, StepPlan

from ..load import deadline, slowdown
from .browser import Browser, Page
from .dashboard_world import PREFIX, SCOPE, SECRET, TOKEN, XSS, World, browsing, poll_until, served

pytestmark = pytest.mark.timeout(300)

BULK = 10_000
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world():
    with served(BULK) as world:
        yield world


@pytest.fixture(scope="module")
def browser(world: World, tmp_path_factory: pytest.TempPathFactory):
    with browsing(world, tmp_path_factory.mktemp("chromium")) as opened:
        yield opened


@pytest.fixture
def page(world: World, browser: Browser):
    opened: Page = world.call(browser.new_page())
    yield opened
    world.call(opened.send("Page.close"))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    if os.environ.get("BKJOB_SCREENSHOTS") == "1":
        return ROOT / "docs" / "_static"
    return tmp_path_factory.mktemp("pictures")


def _shot(world: World, page: Page, folder: pathlib.Path, name: str) -> None:
    path = folder / f"dashboard-{name}.png"
    world.call(page.screenshot(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 20_000, f"{name}: a blank page compresses smaller ({len(data)} bytes)"


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_overview_loads_under_a_prefix_with_no_console_error(
    world: World, page: Page, pictures: pathlib.Path
) -> None:
    poll_until(lambda: len(world.finished) >= BULK // 5, timeout=120)
    world.call(page.goto(world.base))
    total = world.call(
        page.wait_for("document.querySelector('#cards .b-unfinished dd')?.textContent")
    )
    assert int(total.replace(",", "")) > 0
    text = world.call(page.evaluate("document.body.innerText"))
    for title in ("Jobs (10,000)", "Hosts", "Transitions", "Polls", "Change to event"):
        assert title in text
    assert (
        world.call(page.evaluate("document.querySelector('header nav a').getAttribute('href')"))
        == PREFIX
    )
    world.call(page.wait_for("document.getElementById('live').textContent === 'live'"))
    assert page.errors == []
    assert SECRET not in text


def test_a_hosts_change_shows_within_a_second_of_its_event(
    world: World, page: Page, pictures: pathlib.Path
) -> None:
    before = slowdown()
    hosts = [HostPlan(duration=(2.0 + i * 0.4)) for i in range(12)]
    hosts += [HostPlan(duration=2.5, outcome=HostStatus.FAILED, exit_code=3)]
    job_id = world.call(world.launch([StepPlan(hosts=tuple(hosts), name="deploy")], name="deploy"))
    world.call(world.watch_job_page(page, job_id))
    poll_until(lambda: world.finished.get(job_id) is not None, timeout=60)
    allowed = deadline(1.0, before, slowdown())  # (1 s with a core to spare)
    world.call(page.wait_for("document.getElementById('job-status').textContent !== 'RUNNING'"))
    changes = world.call(page.evaluate("window.changes"))
    feed = world.feed_entries(f"{SCOPE.type.value}:{SCOPE.id}/{job_id}")
    ends = {(str(e["step"]), e["host"], e["state"]): e for e in feed if e["kind"] == "host"}
    delays = []
    for step, host, state, shown_ms in changes:
        event = ends.get((step, host, state))
        if event is None or state == "running":
            continue
        seen = _dt.datetime.fromisoformat(event["at"]).timestamp()
        delays.append((shown_ms / 1000 - seen, event["id"], event["at"], shown_ms))
    assert len(delays) >= 10, (changes, len(ends))
    assert max(delays)[0] < allowed, (allowed, sorted(delays))
    failed = world.call(page.wait_for("document.querySelectorAll('#failed tr').length"))
    assert failed == 1
    assert (
        world.call(
            page.evaluate("document.querySelector('#failed tr td:nth-child(4)').textContent")
        )
        == "3"
    )
    world.call(page.evaluate("document.querySelector('#failed button').click()"))
    tail = world.call(
        page.wait_for(
            "!document.querySelector('#failed pre').hidden && document.querySelector('#failed pre').textContent"
        )
    )
    assert tail
    _shot(world, page, pictures, "job")
    assert page.errors == []


def test_the_jobs_table_filters_sorts_and_pages_on_the_server(
    world: World, page: Page, pictures: pathlib.Path
) -> None:
    world.call(page.goto(f"{world.base}jobs"))
    world.call(page.wait_for("document.querySelectorAll('#rows tr').length === 50"))
    every = BULK + len(world.launched)  # the bulk, and the jobs tests before launched
    shown = world.call(page.evaluate("document.getElementById('range').textContent"))
    assert shown == f"1\u201350 of {every:,}"
    world.call(page.evaluate("document.querySelector('#next').click()"))
    world.call(page.wait_for("document.getElementById('range').textContent.startsWith('51')"))
    first = world.call(page.evaluate("document.querySelector('#rows tr').dataset.job"))
    assert int(first) == sorted(world.bulk_ids)[50]
    # Failed jobs only, sorted by id descending: every row failed, the total is a tenth.
    world.call(page.choose("#status", "failed"))
    world.call(page.choose("#order", "desc"))
    # (the URL changes when a page is asked for, the rows when its answer comes: wait for the
    # descending answer, not the ascending one asked for when the status was chosen)
    world.call(
        page.wait_for(
            "location.search.includes('status=failed') && location.search.includes('order=desc') && document.querySelectorAll('#rows tr.b-failed').length === 50"
            " && Number(document.querySelector('#rows tr').dataset.job) > Number(document.querySelector('#rows tr:last-child').dataset.job)"
        )
    )

    # The failed jobs: a tenth of the bulk, and any a test before made fail.
    def failed_jobs() -> int:
        return sum(not e.status.is_success for e in world.finished.values())

    poll_until(lambda: failed_jobs() >= BULK // 10, timeout=120)
    failed = failed_jobs()
    expected = f"1\u201350 of {failed:,}"
    text = world.call(
        page.wait_for(f"document.getElementById('range').textContent === {json.dumps(expected)}")
    )
    assert text
    ids = world.call(
        page.evaluate("[...document.querySelectorAll('#rows tr')].map(r => Number(r.dataset.job))")
    )
    assert ids == sorted(ids, reverse=True)
    # A filter by text: one job id.
    wanted = world.bulk_ids[1234]
    world.call(page.choose("#status", ""))
    world.call(page.choose("#q", str(wanted), "input"))
    world.call(
        page.wait_for(
            f"document.querySelectorAll('#rows tr').length === 1 && document.querySelector('#rows tr').dataset.job === '{wanted}'"
        )
    )
    # No answer ever carried more than a page of rows.
    status, _, body = _get(f"{world.base}api/jobs?limit=100000")
    assert status == 200
    assert len(json.loads(body)["rows"]) == 200
    world.call(page.goto(f"{world.base}jobs?sort=updated&order=desc"))
    world.call(page.wait_for("document.querySelectorAll('#rows tr').length === 50"))
    # The names of the rows shown are asked of bk-job (a few at a time, the rows shown now
    # first, at most 10 a second: 5 s for a page). The rows of a page sorted by the latest
    # change come and go as jobs end, so the names are awaited for the rows shown at one time
    # (all of them came in 30 s on an idle machine while the rows churned, not on a loaded
    # one), then the page shows each name on its own (it redraws every 2 s).
    shown = world.call(
        page.evaluate("[...document.querySelectorAll('#rows tr')].map(r => r.dataset.job)")
    )
    keys = [(SCOPE.type.value, SCOPE.id, int(job)) for job in shown]
    poll_until(lambda: all(key in world.board.names for key in keys), timeout=120)
    named = json.dumps(shown)
    world.call(
        page.wait_for(
            "[...document.querySelectorAll('#rows tr')]"
            f".filter(r => {named}.includes(r.dataset.job))"
            ".every(r => r.querySelector('td.name').textContent)",
            timeout=30,
        )
    )
    _shot(world, page, pictures, "jobs")
    assert page.errors == []


def test_a_job_named_as_markup_shows_as_text_and_runs_nothing(world: World, page: Page) -> None:
    job_id = world.call(world.launch([StepPlan(hosts=2, name=XSS)], name=XSS))
    world.call(page.goto(f"{world.base}job/{SCOPE.type.value}:{SCOPE.id}/{job_id}"))
    world.call(page.wait_for("document.body.dataset.loaded === '1'"))
    assert world.call(page.evaluate("document.getElementById('job-name').textContent")) == XSS
    assert world.call(page.evaluate("document.querySelector('.step h2 .name').textContent")) == XSS
    assert world.call(page.evaluate("document.querySelectorAll('main img').length")) == 0
    # The jobs table shows it too, once the name was asked for.
    world.call(page.goto(f"{world.base}jobs?q=onerror"))
    world.call(
        page.wait_for(
            "document.querySelector('#rows td.name')?.textContent === " + json.dumps(XSS),
            timeout=15,
        )
    )
    assert world.call(page.evaluate("document.querySelectorAll('main img').length")) == 0
    world.call(asyncio.sleep(0.5))
    assert page.dialogs == []
    assert page.errors == []


def test_a_dropped_connection_resumes_the_feed_with_nothing_lost_or_twice(
    world: World, page: Page
) -> None:
    world.call(
        world.launch([StepPlan(hosts=tuple(HostPlan(duration=(0.5, 12.0)) for _ in range(300)))])
    )
    world.call(page.goto(f"{world.base}feed"))
    world.call(page.wait_for("document.querySelectorAll('#feed tr').length > 20"))
    for _ in range(3):
        opened = world.call(page.evaluate("window.bkjobDashboard.opened"))
        assert world.call(_cut(world)) >= 1
        world.call(page.wait_for(f"window.bkjobDashboard.opened > {opened}", timeout=10))
        world.call(asyncio.sleep(0.7))
    stats = world.call(
        page.evaluate("({d: window.bkjobDashboard.duplicates, r: window.bkjobDashboard.resets})")
    )
    assert stats == {"d": 0, "r": 0}
    world.call(asyncio.sleep(0.5))
    shown = world.call(
        page.evaluate("[...document.querySelectorAll('#feed tr')].map(r => r.dataset.id).reverse()")
    )
    server = [e["id"] for e in world.feed_entries()]
    start = server.index(shown[0])
    # Every entry of the server's feed from the first shown on is shown once, in order.
    assert len(shown) == len(set(shown))
    missing = [i for i in server[start:] if i not in set(shown)]
    # (the newest few may still be on their way)
    assert shown == server[start : start + len(shown)], missing[:5]
    assert len(server) - (start + len(shown)) < 50
    assert page.errors == [] or all("net::ERR" in e or "EventSource" in e for e in page.errors)


async def _cut(world: World) -> int:
    return world.proxy.cut()


def test_no_secret_and_strict_headers_on_every_answer(world: World) -> None:
    job_id = world.bulk_ids[0]
    for path in (
        "",
        "jobs",
        "feed",
        f"job/biz:2/{job_id}",
        "api/overview",
        "api/jobs",
        f"api/job/biz:2/{job_id}",
        "static/dashboard.js",
        "static/dashboard.css",
    ):
        status, headers, body = _get(world.base + path)
        assert status == 200, path
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert SECRET.encode() not in body
        assert TOKEN.encode() not in body


def test_operations_need_the_token_and_refuse_other_origins(world: World) -> None:
    job_id = world.bulk_ids[5]
    url = f"{world.base}api/job/biz:2/{job_id}/terminate"

    def post(**headers: str) -> int:
        request = urllib.request.Request(url, data=b"{}", method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    json_type = {"Content-Type": "application/json"}
    assert post(**json_type) == 401
    assert post(**json_type, **{"X-Dashboard-Token": "wrong-token-wrong-token"}) == 401
    assert post(**json_type, **{"X-Dashboard-Token": TOKEN, "Origin": "http://evil.example"}) == 403
    assert post(**{"Content-Type": "text/plain", "X-Dashboard-Token": TOKEN}) == 415
    assert post(**json_type, **{"X-Dashboard-Token": TOKEN}) == 200
    poll_until(lambda: job_id in world.finished, timeout=30)


def test_the_command_shows_a_thousand_simulated_jobs_live(
    world: World, page: Page, pictures: pathlib.Path
) -> None:
    err = io.StringIO()

    async def start() -> tuple[asyncio.Task[int], anyio.Event]:
        interrupt = anyio.Event()
        argv = ["dashboard", "--simulate", "--jobs", "1000", "--hosts", "5", "--port", "0"]
        task = asyncio.get_running_loop().create_task(
            amain(argv, stdout=io.StringIO(), stderr=err, env={}, interrupt=interrupt)
        )
        return task, interrupt

    task, interrupt = world.call(start())
    try:
        poll_until(lambda: "http://" in err.getvalue(), timeout=60)
        url = re.search(r"http://127\.0\.0\.1:\d+/", err.getvalue())
        assert url, err.getvalue()
        world.call(page.goto(url[0]))
        world.call(page.wait_for("document.body.innerText.includes('Jobs (1,000)')", timeout=20))
        # Live: transitions arrive on the page as they happen.
        world.call(page.wait_for("document.querySelectorAll('#recent tr').length >= 5", timeout=20))
        world.call(page.wait_for("document.getElementById('live').textContent === 'live'"))
        # Hosts have ended: the delay from a change to its event is measured.
        world.call(page.wait_for("!document.body.innerText.includes('p50 -')", timeout=60))
        _shot(world, page, pictures, "overview")
        assert page.errors == []
    finally:

        async def stop() -> int:
            interrupt.set()
            return await task

        assert world.call(stop()) == 0
