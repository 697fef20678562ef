"""The dashboard of a container job (gateway v4) in a real browser: headless Chromium.

A small world (``dashboard_world``) whose poller speaks ``flavor="apigw-v4"``. A job run in four
Kubernetes containers of the simulator (one fails, exit code 3) is opened on its page: each
container's change shows in its cell within 1 s of its event (scaled by the machine's measured
slowdown, as the hosts' check), the failed container is listed with its exit code and its
log's tail, the overview counts the containers, the jobs table counts them, and no console
error is raised. The host pages are checked in ``test_dashboard_browser.py``.
"""

from __future__ import annotations

import datetime as _dt

import pytest

from bkjob_async import HostStatus, KubeContainerFilter
from bkjob_async.testing import HostPlan, StepPlan

from ..load import deadline, slowdown
from .browser import Page
from .dashboard_world import SCOPE, World, browsing, poll_until, served

pytestmark = pytest.mark.timeout(300)

PODS = KubeContainerFilter(cluster_uids=["BCS-K8S-00001"], container_names=["app", "cron"])


@pytest.fixture(scope="module")
def world():
    with served(5, flavor="apigw-v4") as world:
        yield world


@pytest.fixture(scope="module")
def page(world: World, tmp_path_factory: pytest.TempPathFactory):
    with browsing(world, tmp_path_factory.mktemp("c")) as browser:
        opened: Page = world.call(browser.new_page())
        yield opened


def _pod_job(world: World, first: float) -> tuple[int, list[int]]:
    """Launch a job in four containers (the last fails, exit code 3); return it and them."""
    ids = world.call(world.containers(PODS))
    plans = [HostPlan(duration=first + i * 0.4, bk_host_id=c) for i, c in enumerate(ids[:3])]
    plans.append(
        HostPlan(duration=first, outcome=HostStatus.FAILED, exit_code=3, bk_host_id=ids[3])
    )
    steps = [StepPlan(hosts=tuple(plans), name="in pods")]
    return world.call(world.launch(steps, name="pods")), ids


def test_a_containers_change_shows_on_the_job_page_within_a_second(
    world: World, page: Page
) -> None:
    before = slowdown()
    job_id, ids = _pod_job(world, 2.0)
    world.call(world.watch_job_page(page, job_id))
    poll_until(lambda: world.finished.get(job_id) is not None, timeout=60)
    allowed = deadline(1.0, before, slowdown())
    world.call(page.wait_for("document.getElementById('job-status').textContent !== 'RUNNING'"))
    cells = world.call(
        page.evaluate(
            "[...document.querySelectorAll('#steps .container')]"
            ".map((c) => [c.dataset.container, c.dataset.state])"
        )
    )
    assert sorted(cells) == sorted(
        [[str(c), "succeeded"] for c in ids[:3]] + [[str(ids[3]), "failed"]]
    )
    assert world.call(page.evaluate("document.querySelectorAll('#steps .host').length")) == 0
    feed = world.feed_entries(f"{SCOPE.type.value}:{SCOPE.id}/{job_id}")
    ends = {
        (str(e["step"]), e["container"], e["state"]): e for e in feed if e["kind"] == "container"
    }
    delays = []
    for step, container, state, shown_ms in world.call(page.evaluate("window.changes")):
        event = ends.get((step, container, state))
        if event is not None and state != "running":
            seen = _dt.datetime.fromisoformat(event["at"]).timestamp()
            delays.append((shown_ms / 1000 - seen, event["id"]))
    # Each container's end that came after the page loaded showed within the second.
    assert len(delays) >= 3, (delays, ends)
    assert max(delays)[0] < allowed, (allowed, sorted(delays))
    failed = "document.querySelector('#failed tr[data-container]')"
    assert world.call(page.wait_for(f"{failed}?.dataset.container")) == str(ids[3])
    assert (
        world.call(page.evaluate(f"{failed}.querySelector('td:nth-child(4)').textContent")) == "3"
    )
    heading = world.call(page.evaluate("[...document.querySelectorAll('h2')].at(-1).textContent"))
    assert heading == "Failed containers"
    retry = world.call(page.evaluate("document.getElementById('retry').textContent"))
    assert retry == "retry failed containers"
    world.call(page.evaluate(f"{failed}.querySelector('button').click()"))
    pre = f"{failed}.querySelector('pre')"
    assert world.call(page.wait_for(f"!{pre}.hidden && {pre}.textContent"))
    assert page.errors == []


def test_the_overview_and_the_jobs_table_count_the_containers(world: World, page: Page) -> None:
    job_id, _ = _pod_job(world, 0.3)
    poll_until(lambda: world.finished.get(job_id) is not None, timeout=60)
    world.call(page.goto(world.base))
    counts = world.call(
        page.wait_for(
            "[...document.querySelectorAll('#cards section')]"
            ".find((s) => s.querySelector('h2').textContent === 'Containers')?.innerText"
        )
    )
    assert "SUCCESS" in counts
    assert "FAILED" in counts
    world.call(page.goto(world.base + "jobs"))
    world.call(page.wait_for("document.body.dataset.loaded"))
    shown = world.call(
        page.evaluate(
            f"document.querySelector('#rows tr[data-job=\"{job_id}\"]').children[3].textContent"
        )
    )
    assert shown == "4/4 containers"
    assert page.errors == []
