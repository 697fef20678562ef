"""Results at a job's end (issue 87): success as the caller defines it, hosts at a wait's end."""

from __future__ import annotations

import functools
from typing import Any

import anyio
import pytest

from bkjob_async import BkJobClient, JobFailedError, JobInstanceStatus, JobResult, Poller, Scope
from bkjob_async.markers import extract, tagged_json
from bkjob_async.models import (
    BK_SOPS_SUCCESS,
    DBM_SUCCESS,
    DEFAULT_SUCCESS,
    Host,
    HostLog,
    HostStatus,
    JobStatus,
)
from bkjob_async.polling import check_job
from bkjob_async.sync import BkJobClient as SyncClient
from bkjob_async.sync import Poller as SyncPoller
from bkjob_async.sync import check_job as check_job_blocking
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan, loop_time, run_virtual
from tests.unit.test_markers import bk_sops

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


def test_a_job_result_sorts_every_host_by_its_final_row() -> None:
    async def main() -> tuple[JobResult, JobResult, int]:
        sim = BkJobSimulator(virtual_clock=loop_time, seed=5)
        first = [HostPlan(duration=2), HostPlan(duration=3, outcome=FAILS), HostPlan(duration=4)]
        second = [HostPlan(duration=2), HostPlan(duration=2), HostPlan(duration=30)]
        job = sim.create_job(SCOPE, [StepPlan(hosts=first), StepPlan(hosts=second)])
        async with _client(sim) as client, Poller(client) as poller:
            status = await poller.wait_finished(SCOPE, job, with_hosts=True)
            before = sim.request_count()
            ended = await client.job_result(SCOPE, job, status=status, success=DBM_SUCCESS)
            spent = sim.request_count() - before
            read = await client.job_result(SCOPE, job)  # (no status: one read)
        return ended, read, spent

    ended, read, spent = run_virtual(main)
    assert spent == 0  # the wait's end had every host: no request
    assert ended.finished
    assert ended.succeeded is False
    assert ended.status is JobStatus.FAIL
    assert ended.complete
    assert len(ended.succeeded_hosts) == 2  # step 1's successes; step 2 never ran
    assert list(ended.failed_hosts) == [FAILS]
    assert len(ended.failed_hosts[FAILS]) == 1
    assert ended.not_run == ()
    assert ended.running == ()
    assert len(ended.hosts) == 3
    assert read == ended
    assert JobResult.of(ended.source, success={4}).succeeded is True


def test_a_job_result_of_a_job_that_runs_and_one_read_without_hosts() -> None:
    async def main() -> tuple[JobResult, JobResult]:
        sim = BkJobSimulator(virtual_clock=loop_time)
        hosts = [HostPlan(duration=2), HostPlan(duration=500)]
        job = sim.create_job(SCOPE, [StepPlan(hosts=hosts), StepPlan(hosts=2)])
        sim.advance(10)
        async with _client(sim) as client:
            status = await client.get_job_instance_status(SCOPE, job)
            bare = await client.get_job_instance_status(SCOPE, job, with_hosts=False)
        return JobResult.of(status), JobResult.of(bare)

    running, bare = run_virtual(main)
    assert running.succeeded is None
    assert (len(running.succeeded_hosts), len(running.running), len(running.not_run)) == (1, 1, 0)
    assert not bare.complete
    assert bare.hosts == ()


def _printed(job: int, step: int, host: Host) -> str:
    """Each host prints its own markers: raw, HTML-escaped, multi-line and repeated keys."""
    n = host.bk_host_id or 0
    lines = [f"<SOPS_VAR>id:{n}</SOPS_VAR>", f"<SOPS_VAR>step:{step}</SOPS_VAR>"]
    if n % 3 == 0:
        lines.append(f"&lt;SOPS_VAR&gt;id:escaped-{n}&lt;/SOPS_VAR&gt;")  # beats the raw one
    if n % 5 == 0:
        lines.append("<SOPS_VAR>multi:line one\nline two</SOPS_VAR>")
    lines.append(f'<ctx>{{"host": {n}}}</ctx>')
    return "\n".join(lines)


def test_every_hosts_log_of_a_2000_host_job_in_4_requests_with_bk_sops_markers() -> None:
    async def main() -> tuple[dict[int, tuple[HostLog, ...]], int, int]:
        sim = BkJobSimulator(virtual_clock=loop_time, seed=11)
        sim.set_log_output(_printed)
        hosts = [HostPlan(duration=1 + n % 7) for n in range(2000)]
        job = sim.create_job(SCOPE, [StepPlan(hosts=hosts)])
        async with _client(sim) as client, Poller(client) as poller:
            status = await poller.wait_finished(SCOPE, job, with_hosts=True)
            before = sim.request_count()
            logs = await client.host_logs(SCOPE, job, status=status)
            return logs, sim.request_count("batch_get_job_instance_ip_log"), before

    logs, log_requests, _ = run_virtual(main)
    assert log_requests == 4  # ceil(2,000 / 500)
    ((_, rows),) = logs.items()
    assert len(rows) == 2000
    assert len({row.host.key for row in rows}) == 2000
    values = extract(logs)
    for row in rows:
        assert values[row.host] == bk_sops(row.log_content or "")
        n = row.host.bk_host_id
        assert values[row.host]["id"] == (f"escaped-{n}" if n % 3 == 0 else str(n))
    assert extract(logs, tagged_json)[rows[7].host] == {"host": rows[7].host.bk_host_id}


def test_hosts_still_running_at_a_deadline_are_read_when_asked() -> None:
    async def main() -> tuple[Any, ...]:
        sim = BkJobSimulator(virtual_clock=loop_time)
        sim.set_log_output(lambda job, step, host: "<SOPS_VAR>done:yes</SOPS_VAR>")
        hosts = [HostPlan(duration=2), HostPlan(duration=3, outcome=FAILS), HostPlan(duration=900)]
        job = sim.create_job(SCOPE, [StepPlan(hosts=hosts)])
        async with _client(sim) as client, Poller(client) as poller:
            with anyio.move_on_after(60):
                await poller.wait_finished(SCOPE, job, with_hosts=True)
            status = await client.get_job_instance_status(SCOPE, job)
            ended = await client.host_logs(SCOPE, job, status=status)
            every = await client.host_logs(SCOPE, job, status=status, running=True)
            with pytest.raises(ValueError, match=r"has not finished .* pass running=True"):
                await client.failed_host_logs(SCOPE, job, status=status)
            failed = await client.failed_host_logs(SCOPE, job, status=status, running=True)
        return ended, every, failed

    ended, every, failed = run_virtual(main)
    assert [len(rows) for rows in ended.values()] == [2]
    assert [len(rows) for rows in every.values()] == [3]
    assert [len(rows) for rows in failed.values()] == [2]  # the failed one, the running one
    values = extract(every)
    assert sorted(v.get("done", "-") for v in values.values()) == ["-", "yes", "yes"]


async def _summary(job: int, client: BkJobClient) -> tuple[str, int]:
    """One coroutine for both kinds of app: the async one awaits it, the blocking one runs it."""
    result = await client.job_result(SCOPE, job)
    return result.status.text_en, len(result.hosts)


def test_the_blocking_client_runs_the_apps_own_coroutine_on_its_loop() -> None:
    sim = BkJobSimulator(virtual_clock=True)
    job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=2), HostPlan(duration=2)])])
    sim.advance(30)
    with SyncClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS) as client:
        assert client.run(functools.partial(_summary, job)) == ("Success", 2)
        with pytest.raises(TypeError, match="func must be an async function"):
            client.run(None)  # type: ignore[arg-type]


def test_as_completed_with_hosts_yields_each_end_with_every_hosts_row() -> None:
    async def main() -> tuple[list[JobInstanceStatus], int, int]:
        sim = BkJobSimulator(virtual_clock=loop_time, seed=8)
        jobs = [
            sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=d), HostPlan(duration=2)])])
            for d in (9, 3)
        ]
        async with _client(sim) as client, Poller(client) as poller:
            async with poller.as_completed(SCOPE, jobs, with_hosts=True) as finished:
                ended = [status async for status in finished]
            reads = sim.request_count("get_job_instance_status")
            return ended, reads + sim.request_count("get_job_instance_list"), sim.request_count()

    ended, polls, requests = run_virtual(main)
    assert [len(s.steps[0].hosts or ()) for s in ended] == [2, 2]
    assert ended[0].job.job_instance_id == 10002  # the quicker one first
    assert polls == requests  # polls (and the engine's job-list reads) only: no read after an end
