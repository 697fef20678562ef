"""The dashboard over a run, without a browser (issue 65): operations, failed hosts, the end.

A simulator on 127.0.0.1 and a dashboard under a prefix (``test_dashboard_app``'s). Checked: a
retry from the dashboard makes the jobs table and the overview follow the job again (it had
ended FAIL; it ends SUCCESS), and its failed host leaves the failed-hosts list; a step waiting
for a person offers confirm and refuse, with a hint, and confirm lets the job go on; the
failed-hosts view lists host, job, step, exit code and error across jobs, filtered by job and
by error, and learns why a host failed before the board looked; the "failed" filter takes a
running job with a failed host; when the watches end the overview says when, with totals,
and keeps its latest transitions for whoever opens it later.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import pytest

from bkjob_async import HostStatus
from bkjob_async.models import StepType
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan
from bkjob_async.web._board import BOARD

from .test_dashboard_app import SCOPE, SECRET, TOKEN, dashboard

OPS = {"X-Dashboard-Token": TOKEN}


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as answer:
        assert answer.status == 200, (url, await answer.text())
        return await answer.json()


async def _until(check: Any, seconds: float = 20.0) -> Any:
    with anyio.fail_after(seconds):
        while True:
            got = await check()
            if got:
                return got
            await anyio.sleep(0.1)


async def _row(http: aiohttp.ClientSession, url: str, job: int, **query: str) -> Any:
    params = {"q": str(job), **query}
    async with http.get(url + "api/jobs", params=params) as answer:
        rows = (await answer.json())["rows"]
    return next((r for r in rows if r["job"] == job), None)


@pytest.mark.sim(host_duration=(0.2, 0.4), apps={"dash": SECRET})
async def test_after_a_retry_the_table_and_overview_follow_the_job_to_its_new_end(
    sim: BkJobSimulator,
) -> None:
    hosts = (
        HostPlan(duration=0.3),
        HostPlan(
            duration=0.3,
            outcome=HostStatus.FAILED,
            exit_code=3,
            retry_outcomes=(HostStatus.SUCCESS,),
        ),
    )
    job = sim.create_job(SCOPE, [StepPlan(hosts=hosts, name="deploy")], name="deploy")
    async with (
        dashboard(sim, allow_operations=True, token=TOKEN) as (url, poller, _),
        aiohttp.ClientSession() as http,
    ):
        await _get(http, url + "api/overview")  # the board opens: it sees the whole run
        async with poller.watch_jobs(SCOPE, [job]) as watch:
            async for _ in watch:
                pass
        row = await _row(http, url, job)
        assert (row["status"], row["bucket"], row["failed"]) == ("FAIL", "failed", 1)
        assert row["start"] is not None
        assert row["end"] >= row["start"]
        failed = await _get(http, url + "api/failed")
        (host,) = failed["rows"]
        assert (host["job"], host["exit_code"], host["status"]) == (job, 3, "FAILED")
        why = "FAILED exit 3" + (f" error {host['error_code']}" if host["error_code"] else "")
        assert failed["errors"] == [{"error": why, "hosts": 1}]
        # The watch ended: nobody polls the job now. A retry from the dashboard follows it.
        async with http.post(url + f"api/job/biz:2/{job}/retry-failed", json={}, headers=OPS) as a:
            assert a.status == 200, await a.text()

        async def succeeded() -> Any:
            row = await _row(http, url, job)
            return row if row["status"] == "SUCCESS" else None

        row = await _until(succeeded)
        assert (row["bucket"], row["failed"], row["finished"]) == ("succeeded", 0, 2)
        overview = await _get(http, url + "api/overview")
        assert (overview["jobs"]["failed"], overview["jobs"]["succeeded"]) == (0, 1)
        assert overview["failed_hosts"] == 0
        assert (await _get(http, url + "api/failed"))["rows"] == []
        page = await _get(http, url + f"api/job/biz:2/{job}")
        assert page["status"] == "SUCCESS"


@pytest.mark.sim(host_duration=(0.2, 0.4), apps={"dash": SECRET})
async def test_a_step_waiting_for_a_person_is_confirmed_from_its_page(sim: BkJobSimulator) -> None:
    steps = [
        StepPlan(hosts=1, name="canary"),
        StepPlan(StepType.MANUAL_CONFIRM, name="confirm the canary"),
        StepPlan(hosts=2, name="the rest"),
    ]
    job = sim.create_job(SCOPE, steps, name="canary, confirm, the rest")
    async with (
        dashboard(sim, allow_operations=True, token=TOKEN) as (url, poller, _),
        poller.watch_jobs(SCOPE, [job]) as watch,
        aiohttp.ClientSession() as http,
    ):

        async def waiting() -> Any:
            row = await _row(http, url, job)
            return row if row and row["bucket"] == "waiting" else None

        await _until(waiting)
        page = await _get(http, url + f"api/job/biz:2/{job}")
        (step,) = [s for s in page["steps"] if s["status"] == "WAITING_USER"]
        assert step["actions"] == ["confirm", "refuse"]
        assert f"bkjob-async operate {job} {step['step']} confirm" in step["hint"]
        assert page["terminable"] is True
        assert all(s["actions"] == [] for s in page["steps"] if s is not step)
        # A step that does not wait cannot be confirmed; no step at all: the waiting one.
        other = page["steps"][0]["step"]
        body = {"step": other}
        async with http.post(url + f"api/job/biz:2/{job}/confirm", json=body, headers=OPS) as a:
            assert a.status == 409
        async with http.post(url + f"api/job/biz:2/{job}/confirm", json={}, headers=OPS) as a:
            assert a.status == 200
            assert await a.json() == {"done": "confirm", "steps": [step["step"]]}
        async for _ in watch:
            pass
        row = await _row(http, url, job)
        assert row["status"] == "SUCCESS"
        async with http.post(url + f"api/job/biz:2/{job}/skip", json={}, headers=OPS) as a:
            assert a.status == 409  # nothing stops: nothing to skip
        async with http.post(url + f"api/job/biz:2/{job}/nonsense", json={}, headers=OPS) as a:
            assert a.status == 404


@pytest.mark.sim(host_duration=(0.2, 0.4), apps={"dash": SECRET})
async def test_failed_hosts_across_jobs_filtered_by_job_and_error(sim: BkJobSimulator) -> None:
    def bad(code: int, duration: float = 0.3) -> HostPlan:
        return HostPlan(duration=duration, outcome=HostStatus.FAILED, exit_code=code)

    early = sim.create_job(SCOPE, [StepPlan(hosts=(bad(7), HostPlan(duration=0.2)))], name="a")
    async with dashboard(sim) as (url, poller, sub), aiohttp.ClientSession() as http:
        # One job failed before anyone looked: why is asked of bk-job when it is shown.
        async with poller.watch_jobs(SCOPE, [early]) as watch:
            async for _ in watch:
                pass
        jobs = [
            sim.create_job(SCOPE, [StepPlan(hosts=(bad(3), bad(3), bad(4)))], name="b"),
            sim.create_job(SCOPE, [StepPlan(hosts=(bad(3), HostPlan(duration=30.0)))], name="c"),
        ]
        await _get(http, url + "api/overview")
        async with poller.watch_jobs(SCOPE, jobs) as watch:

            async def all_failed() -> Any:
                return (await _get(http, url + "api/failed"))["total"] == 5

            await _until(all_failed)
            first = await _get(http, url + "api/failed")
            assert {r["job"] for r in first["rows"]} == {early, *jobs}

            async def explained() -> Any:
                rows = (await _get(http, url + f"api/failed?job={early}"))["rows"]
                return rows if rows[0]["exit_code"] == 7 else None

            (old,) = await _until(explained)
            assert (old["status"], old["name"]) == ("FAILED", "a")
            assert old["error"].startswith("FAILED exit 7")
            threes = await _get(http, url + "api/failed?error=exit+3")
            assert threes["total"] == 3
            assert all(r["exit_code"] == 3 for r in threes["rows"])
            assert sorted((e["error"][:13], e["hosts"]) for e in threes["errors"]) == [
                ("FAILED exit 3", 3),
                ("FAILED exit 4", 1),
                ("FAILED exit 7", 1),
            ]
            one = await _get(http, url + f"api/failed?job={jobs[0]}&error=exit+4")
            assert [(r["job"], r["exit_code"], r["step"] > 0) for r in one["rows"]] == [
                (jobs[0], 4, True)
            ]
            # The running job with a failed host is among the "failed" ones.
            row = await _row(http, url, jobs[1], status="failed")
            assert row is not None
            assert row["bucket"] == "running"
            assert row["failed"] == 1
            overview = await _get(http, url + "api/overview")
            assert overview["jobs_with_failed_hosts"] == 3
            assert overview["failed_hosts"] == 5
            await watch.aclose()
        assert sub[BOARD].failures


@pytest.mark.sim(host_duration=(0.2, 0.6), apps={"dash": SECRET})
async def test_when_the_watches_end_the_overview_says_when_with_totals(
    sim: BkJobSimulator,
) -> None:
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=3)]) for _ in range(4)]
    async with dashboard(sim, grace=0.2) as (url, poller, sub), aiohttp.ClientSession() as http:
        board = sub[BOARD]
        first = await _get(http, url + "api/overview")
        assert first["run"]["ended"] is None
        # Someone looks while the jobs run (a page's stream holds the board open).
        async with http.get(url + "api/stream"), poller.watch_jobs(SCOPE, ids) as watch:
            async for _ in watch:
                pass

        async def ended() -> Any:
            body = await _get(http, url + "api/overview")
            return body if body["run"]["ended"] else None

        body = await _until(ended, 10)
        run = body["run"]
        assert run["started"] <= run["ended"] <= body["now"]
        assert (run["watches"], run["jobs_watched"]) == (0, 0)
        assert body["jobs"]["succeeded"] == 4
        assert body["hosts"] == {"SUCCESS": 12}
        assert body["series"]  # one sample a second
        assert sum(s[1] for s in body["series"]) >= 12  # (each host's transitions at least)
        # Nobody looks a while: the board closes its tap, and keeps its picture.
        with anyio.fail_after(10):
            while board.open:
                await anyio.sleep(0.05)
        later = await _get(http, url + "api/overview")
        assert later["run"]["ended"] == run["ended"]
        assert later["jobs"]["succeeded"] == 4
        kept = board.feed.end - board.feed.start
        assert kept > 12
        async with http.get(url + "api/stream", params={"backlog": str(kept)}) as stream:
            got = []
            with anyio.fail_after(10):
                async for line in stream.content:
                    if line.startswith(b"data: "):
                        got.append(line)
                    if len(got) == kept:
                        break
        assert b'"kind":"gap"' in got[-1]  # the newest: the time nobody looked
        assert sum(b'"kind":"finished"' in g for g in got) == 4
