"""The real ``BkJobClient`` against the simulator: every API and generation, every operation,
retry rounds, and faults arriving as the right typed errors (and healed by the client's retries).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bkjob_async import (
    Account,
    ApiError,
    FileSource,
    InvalidRequestError,
    JobOperation,
    NotFoundError,
    OperationNotAllowedError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseFormatError,
    RetryPolicy,
    ServerError,
    StepOperation,
    Targets,
    TransportError,
    UnsupportedOperationError,
)
from bkjob_async.config import ApiFlavor
from bkjob_async.models.enums import HostStatus, JobStatus, StepType
from bkjob_async.testing import BkJobSimulator, Fault, HostPlan, StepPlan

from ..conftest import FakeSleep
from .conftest import ALL_FLAVORS, GATEWAY, JOBV3, LAG, SCOPE, V2
from .test_sim_operations import ALLOWED, STATES, make

H = HostStatus
OK = HostPlan(duration=2.0, start_delay=0.5)
FIXES = HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE, retry_outcomes=(H.SUCCESS,), duration=3.0)


def _epoch(moment: dt.datetime | None) -> int | None:
    return None if moment is None else round(moment.timestamp() * 1000)


# -- every API, every generation --------------------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_job_status_matches_the_simulators_state(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[OK, FIXES]), StepPlan(StepType.MANUAL_CONFIRM)])
    sim.advance(1.0)
    async with make_client(flavor=flavor) as client:
        status = await client.get_job_instance_status(SCOPE, job_id)
    view = sim.job(job_id)
    assert (status.finished, status.job.status, status.job.job_instance_id) == (
        False,
        JobStatus.RUNNING,
        job_id,
    )
    assert [s.status for s in status.steps] == [s.status for s in view.steps]
    script = status.steps[0]
    assert script.hosts is not None
    assert [h.status for h in script.hosts] == [H.RUNNING, H.RUNNING]
    assert [h.host.ip for h in script.hosts] == [h.ip for h in view.steps[0].hosts or ()]
    precision = 1000 if flavor is V2 else 1  # v2 times are whole seconds
    assert _epoch(status.job.start_time) // precision == view.start_time // precision
    if flavor is not V2:
        assert [h.host.bk_host_id for h in script.hosts] == [
            h.bk_host_id for h in view.steps[0].hosts or ()
        ]
        assert _epoch(script.hosts[0].start_time) == view.steps[0].hosts[0].start_time


@pytest.mark.parametrize("flavor", [GATEWAY, JOBV3])
async def test_v3_host_rows_come_only_when_asked(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    async with make_client(flavor=flavor) as client:
        bare = await client.get_job_instance_status(SCOPE, job_id, with_hosts=False)
        full = await client.get_job_instance_status(SCOPE, job_id)
    assert bare.steps[0].hosts is None
    assert full.steps[0].hosts is not None
    assert len(full.steps[0].hosts) == 2


@pytest.mark.parametrize("flavor", [GATEWAY, V2])
async def test_step_status_groups_and_reads(sim, make_client, flavor):
    rows = [HostPlan(tag="x"), HostPlan(outcome=H.TASK_TIMEOUT)]
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=rows)])
    sim.advance(10)
    step_id = sim.job(job_id).steps[0].step_instance_id
    async with make_client(flavor=flavor) as client:
        result = await client.get_step_instance_status(SCOPE, job_id, step_id)
    assert result.finished is True
    assert result.step.status is JobStatus.FAIL
    # v2 fills only the first group: bk-job queries it with fetchAllGroupData=false, so the
    # size of the others is unknown, not 0 (§7.5)
    timeouts = None if flavor is V2 else 1
    assert [(g.status, g.host_size) for g in result.groups] == [
        (H.SUCCESS, 1),
        (H.TASK_TIMEOUT, timeouts),
    ]
    assert result.partial is (flavor is V2)


async def test_jobv3_has_no_step_status_and_the_client_says_so_without_sending(sim, make_client):
    async with make_client(flavor=JOBV3) as client:
        with pytest.raises(UnsupportedOperationError):
            await client.get_step_instance_status(SCOPE, 1, 1)
    assert sim.request_count() == 0


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_launches_create_the_jobs_they_report(sim, make_client, flavor):
    sim.add_plan(11, [StepPlan(hosts=1)], name="plan eleven")
    targets = Targets(ips=["0:10.0.0.7"]) if flavor is V2 else Targets(host_ids=[1007])
    async with make_client(flavor=flavor, username="dave") as client:
        script = await client.fast_execute_script(
            SCOPE,
            targets=targets,
            account=Account(alias="root"),
            script_content="echo hi",
            task_name="greet",
        )
        copy = await client.fast_transfer_file(
            SCOPE,
            targets=targets,
            account=Account(alias="root"),
            file_target_path="/tmp/",
            file_sources=[
                FileSource(files=["/data/a.tgz"], server=targets, account=Account(alias="root"))
            ],
        )
        plan = await client.execute_job_plan(SCOPE, 11)
    assert script.job_instance_name == "greet"
    assert sim.job(script.job_instance_id).steps[0].step_instance_id == script.step_instance_id
    assert sim.job(script.job_instance_id).steps[0].hosts[0].ip == "10.0.0.7"
    assert sim.job(script.job_instance_id).operator == "dave"
    assert sim.job(copy.job_instance_id).steps[0].type is StepType.FILE
    assert (sim.job(plan.job_instance_id).name, plan.job_instance_name) == ("plan eleven",) * 2


# -- operations -------------------------------------------------------------------------------


def _cases() -> list[tuple[ApiFlavor, StepOperation, str, bool]]:
    cases = []
    for flavor in ALL_FLAVORS:
        for operation, allowed in ALLOWED.items():
            refused = next(state for state in STATES if state not in allowed)
            cases.append((flavor, operation, sorted(allowed)[0], True))
            cases.append((flavor, operation, refused, False))
    return cases


@pytest.mark.parametrize(("flavor", "operation", "state", "allowed"), _cases())
async def test_each_operation_is_allowed_or_refused_as_bk_job_does(
    sim, wire, make_client, flavor, operation, state, allowed
):
    job_id, step_id = await make(sim, wire, state)
    async with make_client(flavor=flavor) as client:
        if allowed:
            await client.operate_step_instance(SCOPE, job_id, step_id, operation)
        else:
            with pytest.raises(OperationNotAllowedError) as caught:
                await client.operate_step_instance(SCOPE, job_id, step_id, operation)
            assert caught.value.code == 1241003
    assert sim.request_count("operate_step_instance") == 1 + (state == "confirm_terminated")


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_job_operations(sim, wire, make_client, flavor):
    waiting, _ = await make(sim, wire, "blank")
    async with make_client(flavor=flavor) as client:
        await client.operate_job_instance(SCOPE, waiting, JobOperation.START)
        with pytest.raises(OperationNotAllowedError) as again:
            await client.operate_job_instance(SCOPE, waiting, JobOperation.START)
        await client.operate_job_instance(SCOPE, waiting, JobOperation.TERMINATE)
        sim.advance(LAG + 1.0)
        finished = await client.get_job_instance_status(SCOPE, waiting)
    assert again.value.code == 1241015
    assert finished.job.status is JobStatus.STOP_SUCCESS
    assert finished.finished


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_retry_rounds_as_the_client_sees_them(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[OK, FIXES])])
    sim.advance(10)
    step_id = sim.job(job_id).steps[0].step_instance_id
    async with make_client(flavor=flavor) as client:
        await client.operate_step_instance(SCOPE, job_id, step_id, StepOperation.RETRY_FAILED)
        lagging = await client.get_job_instance_status(SCOPE, job_id)
        sim.advance(0.5)
        reset = await client.get_job_instance_status(SCOPE, job_id)
        sim.advance(10)
        done = await client.get_job_instance_status(SCOPE, job_id)
    assert (lagging.finished, lagging.job.status) == (False, JobStatus.RUNNING)
    assert (lagging.steps[0].status, lagging.steps[0].execute_count) == (JobStatus.FAIL, 1)
    assert lagging.steps[0].hosts == ()
    assert [h.status for h in reset.steps[0].hosts or ()] == [H.SUCCESS, H.WAITING]
    assert done.job.status is JobStatus.SUCCESS


async def test_earlier_rounds_through_the_client(sim, make_client):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[OK, FIXES])])
    sim.advance(10)
    step_id = sim.job(job_id).steps[0].step_instance_id
    async with make_client(flavor=GATEWAY) as client:
        await client.operate_step_instance(SCOPE, job_id, step_id, StepOperation.RETRY_FAILED)
        sim.advance(10)
        first = await client.get_step_instance_status(SCOPE, job_id, step_id, execute_count=0)
        latest = await client.get_step_instance_status(SCOPE, job_id, step_id)
    assert [g.status for g in first.groups] == [H.SUCCESS, H.SCRIPT_NOT_ZERO_EXIT_CODE]
    assert [g.status for g in latest.groups] == [H.SUCCESS]


# -- faults as typed errors -------------------------------------------------------------------


def _no_retry() -> dict[str, Any]:
    return {"retry": RetryPolicy(max_attempts=1)}


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_business_errors_are_typed(sim, make_client, flavor):
    permission = {"system_id": "bk_job", "system_name": "Job", "actions": []}
    async with make_client(flavor=flavor, **_no_retry()) as client:
        with pytest.raises(NotFoundError) as missing:
            await client.get_job_instance_status(SCOPE, 424242)
        sim.inject(Fault.business_error(9900403, "denied", permission=permission))
        with pytest.raises(PermissionDeniedError) as denied:
            await client.get_job_instance_status(SCOPE, 424242)
        sim.inject(Fault.business_error(1241001, "missing"))
        with pytest.raises(InvalidRequestError):
            await client.get_job_instance_status(SCOPE, 424242)
    assert missing.value.code == 1244006
    assert missing.value.job_request_id
    assert denied.value.permission == permission


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.http_status(503), ServerError),
        (Fault.http_status(502), ServerError),
        (Fault.rate_limited(retry_after=0.5), RateLimitedError),
        (Fault.not_json(), ResponseFormatError),
        (Fault.truncated(), ResponseFormatError),
        (Fault.reset(), TransportError),
    ],
)
async def test_transport_and_gateway_faults_are_typed(sim, make_client, flavor, fault, error):
    job_id = sim.create_job(SCOPE, [StepPlan()])
    sim.inject(fault)
    async with make_client(flavor=flavor, **_no_retry()) as client:
        with pytest.raises(error) as caught:
            await client.get_job_instance_status(SCOPE, job_id)
    if isinstance(caught.value, RateLimitedError) and flavor is GATEWAY:
        assert caught.value.retry_after == 0.5


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_unknown_status_codes_reach_the_client_as_unknown_members(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    sim.inject(Fault.unknown_status(job=99, step=12, host=650))
    async with make_client(flavor=flavor) as client:
        status = await client.get_job_instance_status(SCOPE, job_id)
    assert int(status.job.status) == 99
    assert not status.job.status.is_known
    assert not status.finished
    assert int(status.steps[0].status) == 12
    assert int((status.steps[0].hosts or ())[0].status) == 650


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
@pytest.mark.parametrize(
    "fault",
    [Fault.http_status(503), Fault.http_status(502), Fault.rate_limited(0.2), Fault.reset()],
)
async def test_the_clients_retries_heal_transient_faults_on_reads(sim, make_client, flavor, fault):
    job_id = sim.create_job(SCOPE, [StepPlan()])
    sim.inject(fault, times=2)
    sleep = FakeSleep()
    async with make_client(flavor=flavor, sleep=sleep) as client:
        status = await client.get_job_instance_status(SCOPE, job_id)
    assert status.job.job_instance_id == job_id
    assert sim.request_count("get_job_instance_status") == 3
    assert len(sleep.delays) == 2


async def test_a_gateway_retry_after_is_honoured(sim, make_client):
    job_id = sim.create_job(SCOPE, [StepPlan()])
    sim.inject(Fault.rate_limited(retry_after=3.0))
    sleep = FakeSleep()
    async with make_client(flavor=GATEWAY, sleep=sleep) as client:
        await client.get_job_instance_status(SCOPE, job_id)
    assert sleep.delays[0] >= 3.0


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_operations_are_not_retried_after_reaching_the_server(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1, duration=60)])
    sim.inject(Fault.http_status(503), api="operate_job_instance", times=3)
    async with make_client(flavor=flavor) as client:
        with pytest.raises(ServerError):
            await client.operate_job_instance(SCOPE, job_id, JobOperation.TERMINATE)
    assert sim.request_count("operate_job_instance") == 1
    assert sim.job(job_id).status is JobStatus.RUNNING


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_bad_credentials_are_api_errors(make_client, flavor):
    async with BkJobSimulator(virtual_clock=True, apps={"client-app": "right"}) as strict:
        client = make_client(
            base_url=strict.url, app_code="client-app", app_secret="wrong", flavor=flavor,
            **_no_retry(),
        )  # fmt: skip
        async with client:
            with pytest.raises(ApiError) as caught:
                await client.get_job_instance_status(SCOPE, 1)
    expected = 1640001 if flavor is GATEWAY else 1306000
    assert caught.value.code == expected
