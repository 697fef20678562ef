"""``check_jobs`` (issue 87): many jobs checked a visit at a time, one job-list read each."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from bkjob_async import BkJobClient, Callback, Scope
from bkjob_async.markers import extract
from bkjob_async.models import BK_SOPS_SUCCESS, HostStatus
from bkjob_async.polling import JobChecks, add_jobs, check_jobs
from bkjob_async.sync import BkJobClient as SyncClient
from bkjob_async.sync import check_jobs as check_jobs_blocking
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}
FAILS = HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE


def _now(sim: BkJobSimulator) -> dt.datetime:
    return dt.datetime.fromtimestamp(sim.now_ms() / 1000, dt.timezone.utc)


def _stored(found: JobChecks) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(json.dumps(found.state))  # (as a caller stores it)
    return state


async def test_a_thousand_jobs_cost_one_list_read_a_visit_until_some_end() -> None:
    async with BkJobSimulator(virtual_clock=True, seed=2) as sim:
        sim.set_log_output(lambda job, step, host: f"<SOPS_VAR>job:{job}</SOPS_VAR>")
        quick = [sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=5)])]) for _ in range(3)]
        slow = [
            sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=3600)])]) for _ in range(997)
        ]
        async with BkJobClient(
            "http://bk-job.test", transport=sim.transport(), **CREDENTIALS
        ) as client:
            found = await check_jobs(client, SCOPE, quick + slow, now=_now(sim))
            counts = [sim.request_count()]
            for _ in range(2):
                sim.advance(1)
                found = await check_jobs(client, SCOPE, _stored(found), now=_now(sim))
                counts.append(sim.request_count())
            assert found.ended == ()
            assert sim.request_count("get_job_instance_list") == 3  # one page of 1,000 a visit
            assert counts == [1, 2, 3]
            sim.advance(10)
            ended = await check_jobs(client, SCOPE, _stored(found), now=_now(sim), logs=True)
            later = await check_jobs(client, SCOPE, _stored(ended), now=_now(sim))
    assert sorted(e.result.job_instance_id for e in ended.ended) == sorted(quick)
    assert sim.request_count("get_job_instance_status") == 3  # the ended jobs, once each
    assert len(ended.running) == 997
    for job in ended.ended:
        assert job.result.succeeded
        assert job.check.events[-1].__class__.__name__ == "JobFinished"
        assert job.logs is not None
        expected = {"job": str(job.result.job_instance_id)}
        assert list(extract(job.logs).values()) == [expected]
    assert later.ended == ()
    assert later.running == ended.running


async def test_a_callback_reads_its_job_at_once_and_a_dropped_one_costs_a_visit() -> None:
    async with BkJobSimulator(virtual_clock=True) as sim:
        jobs = [sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=5)])]) for _ in range(2)]
        async with BkJobClient(
            "http://bk-job.test", transport=sim.transport(), **CREDENTIALS
        ) as client:
            state = add_jobs(None, SCOPE, jobs)
            sim.advance(30)
            # Job 1's callback came; job 2's was dropped: the same visit's list read sees both.
            callback = Callback.parse(json.dumps({"job_instance_id": jobs[0], "status": 3}))
            found = await check_jobs(
                client, SCOPE, state, callback=callback, now=_now(sim), success=BK_SOPS_SUCCESS
            )
    assert sorted(e.result.job_instance_id for e in found.ended) == jobs
    assert sim.request_count("get_job_instance_status") == 2  # each ended job once, no more
    assert found.running == frozenset()
    assert found.state["jobs"] == {}


async def test_a_deadline_kept_in_the_state_gives_up_with_running_hosts() -> None:
    async with BkJobSimulator(virtual_clock=True) as sim:
        hosts = [HostPlan(duration=2), HostPlan(duration=3, outcome=FAILS), HostPlan(duration=9000)]
        job = sim.create_job(SCOPE, [StepPlan(hosts=hosts)])
        async with BkJobClient(
            "http://bk-job.test", transport=sim.transport(), **CREDENTIALS
        ) as client:
            deadline = _now(sim) + dt.timedelta(minutes=10)
            first = await check_jobs(
                client, SCOPE, add_jobs(None, SCOPE, [job], deadline=deadline), now=_now(sim)
            )
            sim.advance(601)
            given_up = await check_jobs(client, SCOPE, _stored(first), now=_now(sim), logs=True)
    assert first.ended == ()
    (ended,) = given_up.ended
    assert ended.timed_out
    assert ended.result.succeeded is None
    assert len(ended.result.running) == 1
    assert list(ended.result.failed_hosts) == [FAILS]
    assert ended.logs is not None
    assert [len(rows) for rows in ended.logs.values()] == [3]  # the running host's log too
    assert given_up.state["jobs"] == {}


async def test_a_state_is_its_scopes_and_checked() -> None:
    state = add_jobs(None, SCOPE, [7, 8])
    assert json.loads(json.dumps(state)) == state
    with pytest.raises(ValueError, match="not a stored check_jobs state"):
        add_jobs({"jobs": {}}, SCOPE, [9])
    with pytest.raises(ValueError, match="scope"):
        add_jobs(state, Scope.biz(3), [9])
    with pytest.raises(TypeError, match="deadline must be an aware datetime"):
        add_jobs(state, SCOPE, [9], deadline=dt.datetime(2030, 1, 1))
    assert set(add_jobs(state, SCOPE, [9])["jobs"]) == {"7", "8", "9"}


def test_the_blocking_client_checks_jobs_too() -> None:
    sim = BkJobSimulator(virtual_clock=True)
    job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=2)])])
    with SyncClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS) as client:
        found = check_jobs_blocking(client, SCOPE, [job], now=_now(sim))
        sim.advance(30)
        done = check_jobs_blocking(client, SCOPE, _stored(found), now=_now(sim))
    assert found.ended == ()
    assert [e.result.job_instance_id for e in done.ended] == [job]


async def test_on_esb_v2_each_job_is_read_as_there_is_no_list() -> None:
    async with BkJobSimulator(virtual_clock=True) as sim:
        jobs = [sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=d)])]) for d in (5, 600)]
        async with BkJobClient(
            "http://bk-job.test", transport=sim.transport(), flavor="esb-v2", **CREDENTIALS
        ) as client:
            sim.advance(30)
            found = await check_jobs(client, SCOPE, jobs, now=_now(sim))
    assert [e.result.job_instance_id for e in found.ended] == jobs[:1]
    assert found.running == {jobs[1]}
    assert sim.request_count("get_job_instance_list") == 0
    assert sim.request_count() == 2
