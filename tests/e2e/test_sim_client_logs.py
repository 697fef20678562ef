"""Host logs and the history list from the real client against ``BkJobSimulator``, on both v3
flavors: a finished script job's logs, a file job's transfer rows, and the jobs just launched."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from bkjob_async import (
    Account,
    BkJobClient,
    FileLogMode,
    FileSource,
    FileTaskStatus,
    Host,
    HostStatus,
    JobStatus,
    LaunchMode,
    LogType,
    RetryPolicy,
    Scope,
    StepType,
    Targets,
    TaskType,
)
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

from .conftest import SCOPE

pytestmark = pytest.mark.sim(seed=11, virtual_clock=True, host_duration=2.0)
V3_FLAVORS = ["apigw-v3", "esb-jobv3"]
FAILS = HostPlan(outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=3)

MakeClient = Callable[[str], BkJobClient]


@pytest.fixture
def client_for(sim: BkJobSimulator, make_client: Any) -> MakeClient:
    """Return ``make_client`` aimed at ``sim`` for one flavor, acting as dave (whose jobs the
    history lists), with two attempts."""
    return lambda flavor: make_client(
        base_url=sim.url, flavor=flavor, username="dave", retry=RetryPolicy(max_attempts=2)
    )


def now(sim: BkJobSimulator) -> dt.datetime:
    return dt.datetime.fromtimestamp(sim.now_ms() / 1000, dt.timezone.utc)


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_a_finished_script_jobs_host_logs(sim, client_for, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(), FAILS, HostPlan()])])
    sim.advance(30)
    step = sim.job(job_id).steps[0]
    ok, failed, third = step.hosts or ()
    async with client_for(flavor) as client:
        by_id = await client.get_job_instance_ip_log(
            SCOPE, job_id, step.step_instance_id, ok.bk_host_id
        )
        by_ip = await client.get_job_instance_ip_log(
            SCOPE, job_id, step.step_instance_id, (failed.bk_cloud_id, failed.ip)
        )
        by_host = await client.get_job_instance_ip_log(
            SCOPE, job_id, step.step_instance_id, Host(bk_host_id=third.bk_host_id)
        )
        batch = await client.batch_get_job_instance_ip_log(
            SCOPE, job_id, step.step_instance_id, [h.bk_host_id for h in (ok, failed, third)]
        )
    assert sim.job(job_id).status is JobStatus.FAIL
    assert (by_id.log_type, by_id.host.bk_host_id, by_id.file_logs) == (
        LogType.SCRIPT,
        ok.bk_host_id,
        None,
    )
    assert ok.ip in (by_id.log_content or "")
    assert by_ip.host.ip == failed.ip
    assert "exit code 3" in (by_ip.log_content or "")
    assert by_host.host.bk_host_id == third.bk_host_id
    assert [log.host.bk_host_id for log in batch] == [
        ok.bk_host_id,
        failed.bk_host_id,
        third.bk_host_id,
    ]
    assert [log.log_content for log in batch] == [
        by_id.log_content,
        by_ip.log_content,
        by_host.log_content,
    ]
    assert {log.log_type for log in batch} == {LogType.SCRIPT}


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_a_file_jobs_transfer_logs(sim, client_for, flavor):
    targets = Targets(host_ids=[1007, 1008])
    async with client_for(flavor) as client:
        launch = await client.fast_transfer_file(
            SCOPE,
            targets=targets,
            account=Account(alias="root"),
            file_target_path="/tmp/",
            file_sources=[FileSource(["/data/a.tgz"], server=Targets(host_ids=[9]))],
        )
        sim.advance(30)
        step_id = launch.step_instance_id
        assert step_id is not None
        one = await client.get_job_instance_ip_log(SCOPE, launch.job_instance_id, step_id, 1007)
        both = await client.batch_get_job_instance_ip_log(
            SCOPE,
            launch.job_instance_id,
            step_id,
            [(0, h.ip) for h in sim.job(launch.job_instance_id).steps[0].hosts or ()],
        )
    assert sim.job(launch.job_instance_id).steps[0].type is StepType.FILE
    assert (one.log_type, one.log_content) == (LogType.FILE, None)
    assert one.file_logs is not None
    row, upload = one.file_logs  # bk-job adds the source host's upload row (§7.15)
    assert (row.mode, row.status) == (FileLogMode.DOWNLOAD, FileTaskStatus.SUCCESS)
    assert (upload.mode, upload.src_host) == (FileLogMode.UPLOAD, row.src_host)
    assert row.dest_host is not None
    assert row.dest_host.bk_host_id == 1007
    assert row.src_host is not None
    assert row.dest_path
    assert [log.host.bk_host_id for log in both] == [1007, 1008]
    assert all(log.log_type is LogType.FILE and log.file_logs for log in both)


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_the_history_finds_the_jobs_just_launched(sim, client_for, flavor):
    before = now(sim) - dt.timedelta(minutes=1)
    older = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    async with client_for(flavor) as client:
        script = await client.fast_execute_script(
            SCOPE,
            targets=Targets(host_ids=[1001]),
            account=Account(alias="root"),
            script_content="ls",
            task_name="list-files",
        )
        copy = await client.fast_transfer_file(
            SCOPE,
            targets=Targets(host_ids=[1002]),
            account=Account(alias="root"),
            file_target_path="/tmp/",
            file_sources=[FileSource(["/data/a.tgz"], server=Targets(host_ids=[9]))],
        )
        sim.advance(30)
        window: dict[str, Any] = {"created_from": before, "created_to": now(sim)}
        page = await client.get_job_instance_list(SCOPE, **window)
        files = await client.get_job_instance_list(SCOPE, **window, type=TaskType.FAST_FILE)
        mine = await client.get_job_instance_list(
            SCOPE, **window, operator="dave", name="list-files"
        )
        every = [job async for job in client.iter_job_instances(SCOPE, **window, page_size=1)]
        elsewhere = await client.get_job_instance_list(Scope.biz(3), **window)
    launched = {script.job_instance_id, copy.job_instance_id}
    assert page.total == 3
    assert {item.job_instance_id for item in page.items} == {*launched, older}
    by_id = {item.job_instance_id: item for item in page.items}
    summary = by_id[script.job_instance_id]
    assert (summary.name, summary.operator, summary.type) == (
        "list-files",
        "dave",
        TaskType.FAST_SCRIPT,
    )
    assert summary.launch_mode is LaunchMode.API
    assert summary.status is JobStatus.SUCCESS
    assert summary.create_time is not None
    assert before <= summary.create_time <= now(sim)
    assert summary.total_time is not None
    assert [item.job_instance_id for item in files.items] == [copy.job_instance_id]
    assert [item.job_instance_id for item in mine.items] == [script.job_instance_id]
    assert sorted(job.job_instance_id for job in every) == sorted([*launched, older])
    assert sim.request_count("get_job_instance_list") == 4 + 3
    assert elsewhere.total == 0


async def test_batch_logs_of_1201_hosts_in_500s(sim, client_for):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1201)])
    sim.advance(30)
    step = sim.job(job_id).steps[0]
    hosts = [h.bk_host_id for h in step.hosts or ()]
    async with client_for("esb-jobv3") as client:
        logs = await client.batch_get_job_instance_ip_log(
            SCOPE, job_id, step.step_instance_id, hosts
        )
    assert [log.host.bk_host_id for log in logs] == hosts
    assert sim.request_count("batch_get_job_instance_ip_log") == 3
