"""Code written against v3 (hosts) runs on ``apigw-v4`` unchanged, over HTTP: one function that
knows nothing of v4 (launches on hosts, reads statuses, logs and history, retries failed hosts,
handles errors) run with ``flavor="apigw-v3"`` and then ``"apigw-v4"`` against one simulator
gives the same results, while the simulator sees v4's own paths used where v4 has the API."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from bkjob_async import (
    Account,
    BkJobClient,
    HostStatus,
    HostTransition,
    JobFinished,
    JobInstanceStatus,
    JobStatus,
    NotFoundError,
    PermissionDeniedError,
    Poller,
    PollPolicy,
    StepOperation,
    Targets,
)
from bkjob_async.testing import BkJobSimulator, Fault, HostPlan, StepPlan

from ..cli_run import SIM
from .conftest import SCOPE

pytestmark = pytest.mark.sim(**SIM)

STATUS = "get_job_instance_status"
PERMISSION = {"system_id": "bk_job", "actions": [{"id": "view_history", "name": "view history"}]}


async def _finished(client: BkJobClient, job: int) -> JobInstanceStatus:
    with anyio.fail_after(10):
        while True:
            status = await client.get_job_instance_status(SCOPE, job)
            if status.finished:
                return status
            await anyio.sleep(0.02)


def _hosts(status: JobInstanceStatus) -> list[Any]:
    return [
        (step.status, [(h.host.bk_host_id, h.host.ip, h.status, h.exit_code) for h in step.hosts])
        for step in status.steps
        if step.hosts is not None
    ]


def _text(log: str | None) -> str:
    return re.sub(r"\[[^\]]*\]|_\d+", "", log or "")  # (times and the job's name stamp)


async def v3_code(
    client: BkJobClient, failing: int, watched: int, deny: Callable[[], object]
) -> list[Any]:
    """Written for v3: hosts, host logs, step result groups; nothing of v4. ``deny`` makes
    bk-job refuse the next status read (the test's fault)."""
    seen: list[Any] = []
    launch = await client.fast_execute_script(
        SCOPE,
        targets=Targets(host_ids=[1001, 1002]),
        account=Account(alias="root"),
        script_content="echo hi",
    )
    status = await _finished(client, launch.job_instance_id)
    seen.append(("launched", status.job.status, _hosts(status)))
    step = status.steps[0].step_instance_id
    logs = await client.batch_get_job_instance_ip_log(
        SCOPE, launch.job_instance_id, step, [1001, 1002]
    )
    seen.append(sorted((log.host.bk_host_id, _text(log.log_content)) for log in logs))
    one = await client.get_job_instance_ip_log(SCOPE, launch.job_instance_id, step, 1002)
    seen.append((one.host.bk_host_id, _text(one.log_content)))

    status = await _finished(client, failing)
    seen.append(("failing", status.job.status, _hosts(status)))
    failed = await client.failed_host_logs(SCOPE, failing, status=status)
    seen.append([[log.host.bk_host_id for log in logs] for logs in failed.values()])
    step = status.steps[0].step_instance_id
    groups = await client.get_step_instance_status(SCOPE, failing, step)
    seen.append(sorted((g.status, g.host_size) for g in groups.groups))
    await client.operate_step_instance(SCOPE, failing, step, StepOperation.RETRY_FAILED)
    with anyio.fail_after(10):
        while (status := await _finished(client, failing)).steps[0].execute_count == 0:
            await anyio.sleep(0.02)
    seen.append(("retried", status.job.status, _hosts(status)))

    created = status.job.create_time
    assert created is not None
    window = {
        "created_from": created - dt.timedelta(minutes=5),
        "created_to": created + dt.timedelta(minutes=5),
    }
    listed = [j.job_instance_id async for j in client.iter_job_instances(SCOPE, **window)]
    seen.append({launch.job_instance_id, failing} <= set(listed))

    async with Poller(client, policy=PollPolicy(interval=0.02, latency=None)) as poller:
        with anyio.fail_after(10):
            events = [e async for e in poller.watch_jobs(SCOPE, [watched])]
    last = {e.host.bk_host_id: e.current for e in events if isinstance(e, HostTransition)}
    finished = events[-1]
    assert isinstance(finished, JobFinished)
    seen.append(("watched", last, finished.status, _hosts(finished.snapshot)))

    try:
        await client.get_job_instance_status(SCOPE, 987654321)
    except NotFoundError as exc:
        seen.append(("not found", exc.code))
    deny()
    try:
        await client.get_job_instance_status(SCOPE, failing)
    except PermissionDeniedError as exc:
        seen.append(("denied", exc.permission))
    return seen


async def test_v3_code_gives_the_same_answers_on_apigw_v4(sim: BkJobSimulator) -> None:
    seen = {}
    denied = Fault.business_error(9900403, "no permission", permission=PERMISSION)
    for flavor in ("apigw-v3", "apigw-v4"):
        ok = HostPlan(bk_host_id=1001, ip="10.0.0.1")
        fails = HostPlan(
            HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE,
            retry_outcomes=[HostStatus.SUCCESS],
            bk_host_id=1002,
            ip="10.0.0.2",
        )
        failing = sim.create_job(SCOPE, [StepPlan(hosts=[ok, fails])])
        watched = sim.create_job(SCOPE, [StepPlan(hosts=[ok, fails])])
        options = {"app_code": "a", "app_secret": "s", "username": "admin"}
        async with BkJobClient(sim.url, flavor=flavor, **options) as client:
            seen[flavor] = await v3_code(
                client, failing, watched, lambda: sim.inject(denied, api=STATUS)
            )
    assert seen["apigw-v4"] == seen["apigw-v3"]
    assert seen["apigw-v4"][-1] == ("denied", PERMISSION)
    assert seen["apigw-v4"][-2] == ("not found", 1244006)
    fine = (1001, "10.0.0.1", HostStatus.SUCCESS, 0)
    fail = (1002, "10.0.0.2", HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, 1)
    assert seen["apigw-v4"][3] == ("failing", JobStatus.FAIL, [(JobStatus.FAIL, [fine, fail])])
    assert seen["apigw-v4"][4] == [[1002]]  # the failed host's log
    assert seen["apigw-v4"][6][1] is JobStatus.SUCCESS  # retried
    assert seen["apigw-v4"][8] == (
        "watched",
        {1001: HostStatus.SUCCESS, 1002: HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE},
        JobStatus.FAIL,
        [(JobStatus.FAIL, [fine, fail])],
    )
    for api in ("fast_execute_script", "get_job_instance_status", "get_job_instance_list"):
        assert sim.request_count(api, "apigw-v4") > 0, api
    for api in ("get_step_instance_status", "batch_get_job_instance_ip_log"):
        assert sim.request_count(api, "apigw-v3") > sim.request_count(api, "apigw-v4") == 0
