"""Results at a job's end (issue 87): success as the caller defines it, hosts at a wait's end."""

from __future__ import annotations

import pytest

from bkjob_async import BkJobClient, JobFailedError, JobInstanceStatus, Poller, Scope
from bkjob_async.models import (
    BK_SOPS_SUCCESS,
    DBM_SUCCESS,
    DEFAULT_SUCCESS,
    HostStatus,
    JobStatus,
)
from bkjob_async.polling import check_job
from bkjob_async.sync import BkJobClient as SyncClient
from bkjob_async.sync import Poller as SyncPoller
from bkjob_async.sync import check_job as check_job_blocking
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan, loop_time, run_virtual

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}
FAILS = HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE


def _client(sim: BkJobSimulator) -> BkJobClient:
    return BkJobClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS)


async def test_success_is_the_callers_set_on_checks() -> None:
    async with BkJobSimulator(virtual_clock=True) as sim:
        ok = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=2)])])
        async with _client(sim) as client:
            running = await check_job(client, SCOPE, ok, success=BK_SOPS_SUCCESS)
            sim.advance(30)
            ended = await check_job(client, SCOPE, ok, running.state, success={3})
            by_dbm = await check_job(client, SCOPE, ok, success=DBM_SUCCESS)
            with pytest.raises(ValueError, match=r"success must be .*RUNNING.* not a final"):
                await check_job(client, SCOPE, ok, success={2})
            with pytest.raises(TypeError, match="success must be a set of final job statuses"):
                await check_job(client, SCOPE, ok, success="3")  # type: ignore[arg-type]
        assert sim.request_count("get_job_instance_status") == 3  # (refusals sent nothing)
    assert running.succeeded is None
    assert ended.succeeded is True
    assert ended.success == {JobStatus.SUCCESS}
    assert by_dbm.succeeded is True


def test_a_wait_raises_when_the_end_is_outside_success() -> None:
    async def main() -> tuple[pytest.ExceptionInfo[JobFailedError], JobInstanceStatus]:
        sim = BkJobSimulator(virtual_clock=loop_time)
        job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=2, outcome=FAILS)])])
        async with _client(sim) as client, Poller(client) as poller:
            with pytest.raises(
                JobFailedError, match=r"ended FAIL \(Failed\), not in success=\[3\]"
            ) as caught:
                await poller.wait_finished(SCOPE, job, success=BK_SOPS_SUCCESS)
            status = await poller.wait_finished(SCOPE, job)  # no success: any end returns
            return caught, status

    caught, status = run_virtual(main)
    assert caught.value.status.job.status is JobStatus.FAIL
    assert status.job.status is JobStatus.FAIL


def test_a_wait_with_hosts_ends_with_every_hosts_row_and_no_extra_request() -> None:
    async def main() -> tuple[JobInstanceStatus, JobInstanceStatus, int, int]:
        sim = BkJobSimulator(virtual_clock=loop_time)
        hosts = [HostPlan(duration=d) for d in (2, 5)] + [HostPlan(duration=3, outcome=FAILS)]
        job = sim.create_job(SCOPE, [StepPlan(hosts=hosts)])
        async with _client(sim) as client, Poller(client) as poller:
            status = await poller.wait_finished(SCOPE, job, with_hosts=True)
            polls, requests = sim.request_count("get_job_instance_status"), sim.request_count()
        bare = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=2)])])
        async with _client(sim) as client, Poller(client) as poller:
            without = await poller.wait_finished(SCOPE, bare)
        return status, without, polls, requests

    status, without, polls, requests = run_virtual(main)
    (step,) = status.steps
    assert step.hosts is not None
    assert sorted(int(r.status) for r in step.hosts) == [9, 9, 104]
    # Every request was a poll of this job with its hosts: the end came with the last of them.
    assert polls == requests
    assert all(s.hosts is None for s in without.steps)  # (the job list's end: no host rows)


def test_the_blocking_facade_takes_the_same_keywords() -> None:
    sim = BkJobSimulator(virtual_clock=True)
    job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=2, outcome=FAILS)])])
    with SyncClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS) as client:
        with SyncPoller(client) as poller, pytest.raises(TypeError, match="success must be"):
            poller.wait_finished(SCOPE, job, with_hosts=True, success=3)  # type: ignore[arg-type]
        sim.advance(30)
        found = check_job_blocking(client, SCOPE, job, success=DBM_SUCCESS)
    assert found.succeeded is False
    assert sim.request_count() == 1


def test_default_success_sets_are_the_documented_ones() -> None:
    assert {int(s) for s in DEFAULT_SUCCESS} == {3, 5, 6}
    assert {int(s) for s in BK_SOPS_SUCCESS} == {3}
    assert {int(s) for s in DBM_SUCCESS} == {3, 5, 6, 8, 11}
    assert all(s.is_success for s in DEFAULT_SUCCESS)
