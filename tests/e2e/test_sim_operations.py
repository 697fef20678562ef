"""Step and job operations over HTTP: every code's allowed and refused states, and their effects."""

from __future__ import annotations

import itertools

import pytest

from bkjob_async.config import Scope
from bkjob_async.models.enums import HostStatus, JobStatus, StepOperation, StepType
from bkjob_async.testing import BkJobSimulator, HostPlan, RollingMode, StepPlan

from .conftest import ALL_FLAVORS, GATEWAY, JOBV3, LAG, SCOPE, V2, Wire

H = HostStatus
OK = HostPlan(duration=2.0, start_delay=0.5)
BAD = HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE, duration=3.0, start_delay=0.5)
SLOW = HostPlan(duration=30.0, start_delay=0.5)
FIXES = HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE, retry_outcomes=(H.SUCCESS,), duration=3.0)

#: Step statuses each operation accepts (``TaskExecuteServiceImpl.doStepOperation``).
ALLOWED = {
    StepOperation.RETRY_FAILED: {"failed", "abnormal", "stopped"},
    StepOperation.IGNORE_ERROR: {"failed", "abnormal"},
    StepOperation.CONFIRM_CONTINUE: {"confirming"},
    StepOperation.RETRY_ALL: {"failed", "abnormal", "stopped"},
    StepOperation.CONFIRM_TERMINATE: {"confirming"},
    StepOperation.CONFIRM_RESTART: {"confirm_terminated"},
    StepOperation.NEXT_STEP: {"stopped"},
    StepOperation.SKIP: {"stopping"},
    StepOperation.ROLLING_CONTINUE: {"rolling_paused"},
}
STATES = (
    "blank", "running", "succeeded", "failed", "abnormal", "stopping", "stopped",
    "confirming", "confirm_terminated", "rolling_paused",
)  # fmt: skip


async def make(sim: BkJobSimulator, wire: Wire, state: str) -> tuple[int, int]:
    """Build a job whose first step is in ``state``; return (job id, step instance id)."""
    plans = {
        "blank": [StepPlan(hosts=[OK])],
        "running": [StepPlan(hosts=[SLOW])],
        "succeeded": [StepPlan(hosts=[OK])],
        "failed": [StepPlan(hosts=[OK, BAD]), StepPlan()],
        "abnormal": [StepPlan(hosts=[OK], final_status=JobStatus.ABNORMAL_STATE), StepPlan()],
        "stopping": [StepPlan(hosts=[SLOW]), StepPlan(hosts=[OK])],
        "stopped": [StepPlan(hosts=[SLOW]), StepPlan(hosts=[OK])],
        "confirming": [StepPlan(StepType.MANUAL_CONFIRM), StepPlan(hosts=[OK])],
        "confirm_terminated": [StepPlan(StepType.MANUAL_CONFIRM), StepPlan()],
        "rolling_paused": [
            StepPlan(hosts=[OK, OK, OK], rolling_batch_size=1, rolling_mode=RollingMode.MANUAL)
        ],
    }[state]
    job_id = sim.create_job(SCOPE, plans, start=state != "blank")
    step_id = sim.job(job_id).steps[0].step_instance_id
    if state in ("stopping", "stopped"):
        (await wire.operate_job(GATEWAY, job_id, 1)).ok()
        sim.advance(LAG)  # bk-job applies operations through its message queue
    if state == "confirm_terminated":
        (await wire.operate(GATEWAY, job_id, step_id, 9)).ok()
        sim.advance(LAG)
    if state in ("succeeded", "failed", "abnormal", "stopped", "rolling_paused"):
        sim.advance(10)
    expected = {
        "blank": 1, "running": 2, "succeeded": 3, "failed": 4, "abnormal": 9, "stopping": 10,
        "stopped": 11, "confirming": 7, "confirm_terminated": 13, "rolling_paused": 7,
    }[state]  # fmt: skip
    assert sim.job(job_id).steps[0].status == expected
    return job_id, step_id


@pytest.mark.parametrize(("operation", "state"), list(itertools.product(StepOperation, STATES)))
async def test_each_step_operation_is_allowed_only_in_its_states(sim, wire, operation, state):
    job_id, step_id = await make(sim, wire, state)
    reply = (await wire.operate(GATEWAY, job_id, step_id, int(operation))).json
    if state in ALLOWED[operation]:
        assert reply["result"] is True, reply
        assert reply["data"] == {
            "job_instance_id": job_id,
            "job_instance_name": None,
            "step_instance_id": step_id,
        }
    else:
        assert (reply["result"], reply["code"]) == (False, 1241003), reply
        assert "data" not in reply


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
@pytest.mark.parametrize("code", [0, 1, 4, 5, 7, 14, 99])
async def test_operation_codes_bk_job_does_not_know_are_invalid_parameters(sim, wire, flavor, code):
    job_id, step_id = await make(sim, wire, "failed")
    reply = (await wire.operate(flavor, job_id, step_id, code)).json
    assert (reply["result"], reply["code"]) == (False, 1241002)
    assert sim.job(job_id).steps[0].execute_count == 0


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_unknown_jobs_steps_and_scopes_are_not_found(sim, wire, flavor):
    job_id, step_id = await make(sim, wire, "failed")
    unknown_job = (await wire.operate(flavor, job_id + 1000, step_id, 2)).json
    unknown_step = (await wire.operate(flavor, job_id, step_id + 1000, 2)).json
    assert unknown_job["code"] == 1244006
    assert unknown_step["code"] == 1244007
    other = Scope.biz(3)
    params = {**other.params(flavor), "job_instance_id": job_id, "step_instance_id": step_id}
    wrong_scope = await wire.call(flavor, "operate_step_instance", {**params, "operation_code": 2})
    assert wrong_scope.json["code"] == 1244006
    status = await wire.call(flavor, "get_job_instance_status", params, scoped=False)
    assert status.json["code"] == 1244006


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_retry_failed_bumps_execute_count_at_once_and_resets_hosts_after_the_lag(
    sim, wire, flavor
):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[OK, FIXES])])
    sim.advance(10)
    before = sim.job(job_id).steps[0]
    step_id = before.step_instance_id
    (await wire.operate(flavor, job_id, step_id, 2)).ok()

    lagging = sim.job(job_id)  # no clock movement: only the synchronous part happened
    assert lagging.status is JobStatus.RUNNING
    assert not lagging.finished
    assert lagging.steps[0].status is JobStatus.FAIL
    assert lagging.steps[0].execute_count == 1
    assert lagging.steps[0].hosts is None  # the new round's rows do not exist yet
    job_data = await wire.job_status(flavor, job_id)
    step_data = _steps(job_data)[0]
    assert (step_data["status"], step_data["execute_count"]) == (4, 1)
    assert _host_rows(step_data) == []

    sim.advance(0.5)
    reset = sim.job(job_id).steps[0]
    assert reset.status is JobStatus.RUNNING
    assert reset.end_time is None
    kept, retried = reset.hosts or ()
    assert (kept.status, kept.start_time, kept.end_time) == (
        H.SUCCESS,
        before.hosts[0].start_time,
        before.hosts[0].end_time,
    )
    assert retried.status is H.WAITING
    assert retried.start_time is None
    sim.advance(10)
    done = sim.job(job_id)
    assert done.status is JobStatus.SUCCESS
    assert done.steps[0].statuses() == [H.SUCCESS] * 2
    assert done.steps[0].rounds[0][1].status is H.SCRIPT_NOT_ZERO_EXIT_CODE


async def test_retry_all_reruns_every_host(sim, wire):
    job_id, step_id = await make(sim, wire, "failed")
    (await wire.operate(GATEWAY, job_id, step_id, 8)).ok()
    sim.advance(0.5)
    assert sim.job(job_id).steps[0].statuses() == [H.WAITING, H.WAITING]
    sim.advance(10)
    rounds = sim.job(job_id).steps[0].rounds
    assert sorted(rounds) == [0, 1]
    assert rounds[1][0].start_time != rounds[0][0].start_time


async def test_earlier_rounds_stay_readable_by_execute_count(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[OK, FIXES])])
    sim.advance(10)
    step_id = sim.job(job_id).steps[0].step_instance_id
    (await wire.operate(GATEWAY, job_id, step_id, 2)).ok()
    sim.advance(10)
    base = {"job_instance_id": job_id, "step_instance_id": step_id}
    first = await wire.data(GATEWAY, "get_step_instance_status", {**base, "execute_count": 0})
    latest = await wire.data(GATEWAY, "get_step_instance_status", base)
    assert [g["result_type"] for g in first["step_result_group_list"]] == [9, 104]
    assert [g["result_type"] for g in latest["step_result_group_list"]] == [9]
    assert first["execute_count"] == latest["execute_count"] == 1  # bk-job reports the latest


async def test_a_second_retry_during_the_lag_counts_twice_but_resets_once(sim, wire):
    job_id, step_id = await make(sim, wire, "failed")
    (await wire.operate(GATEWAY, job_id, step_id, 2)).ok()
    (await wire.operate(GATEWAY, job_id, step_id, 2)).ok()
    sim.advance(0.5)
    step = sim.job(job_id).steps[0]
    assert step.execute_count == 2
    assert sorted(step.rounds) == [0, 2]


async def test_ignore_error_on_a_failed_step_continues_the_job(sim, wire):
    job_id, step_id = await make(sim, wire, "failed")
    (await wire.operate(GATEWAY, job_id, step_id, 3)).ok()
    job = sim.job(job_id)  # the answer changed the job only (§7.9)
    assert (job.status, job.steps[0].status) == (JobStatus.RUNNING, JobStatus.FAIL)
    assert job.end_time is None
    sim.advance(LAG)
    job = sim.job(job_id)
    assert job.steps[0].status is JobStatus.IGNORE_ERROR
    assert job.status is JobStatus.RUNNING
    assert job.steps[1].status is JobStatus.RUNNING
    sim.advance(10)
    assert sim.job(job_id).status is JobStatus.SUCCESS


async def test_ignore_error_on_an_abnormal_step_leaves_the_job_running_like_bk_job(sim, wire):
    job_id, step_id = await make(sim, wire, "abnormal")
    (await wire.operate(GATEWAY, job_id, step_id, 3)).ok()
    sim.advance(3600)
    job = sim.job(job_id)
    assert job.status is JobStatus.RUNNING
    assert job.steps[0].status is JobStatus.ABNORMAL_STATE


def _job_and_first_step(sim: BkJobSimulator, job_id: int) -> tuple[JobStatus, JobStatus]:
    """A simulated job's status and its first step's."""
    job = sim.job(job_id)
    return job.status, job.steps[0].status


async def test_confirm_continue_terminate_and_restart(sim, wire):
    job_id, step_id = await make(sim, wire, "confirming")
    (await wire.operate(GATEWAY, job_id, step_id, 9)).ok()
    assert (sim.job(job_id).status, sim.job(job_id).steps[0].status) == (
        JobStatus.WAITING_USER,
    ) * 2
    sim.advance(LAG)
    job = sim.job(job_id)
    assert (job.status, job.steps[0].status) == (JobStatus.CONFIRM_TERMINATED,) * 2
    assert job.finished
    assert job.end_time is not None
    (await wire.operate(GATEWAY, job_id, step_id, 10)).ok()
    assert sim.job(job_id).steps[0].status is JobStatus.CONFIRM_TERMINATED
    sim.advance(LAG)
    job = sim.job(job_id)
    assert (job.status, job.steps[0].status) == (JobStatus.WAITING_USER,) * 2
    (await wire.operate(GATEWAY, job_id, step_id, 6)).ok()
    assert _job_and_first_step(sim, job_id) == (JobStatus.RUNNING, JobStatus.WAITING_USER)
    sim.advance(LAG)
    assert _job_and_first_step(sim, job_id) == (JobStatus.RUNNING, JobStatus.SUCCESS)
    assert sim.job(job_id).steps[1].status is JobStatus.RUNNING


async def test_only_listed_confirmers_may_confirm_when_roles_are_set(sim, wire):
    plan = StepPlan(StepType.MANUAL_CONFIRM, confirm_users=("bob",), confirm_roles=("OPS",))
    job_id = sim.create_job(SCOPE, [plan])
    step_id = sim.job(job_id).steps[0].step_instance_id
    reply = (await wire.operate(GATEWAY, job_id, step_id, 6)).json
    assert reply["code"] == 1244016
    assert sim.job(job_id).status is JobStatus.WAITING_USER


async def test_terminate_goes_10_then_11_and_kills_running_hosts(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[OK, SLOW]), StepPlan()])
    sim.advance(3)
    (await wire.operate_job(GATEWAY, job_id, 1)).ok()
    assert sim.job(job_id).status is JobStatus.RUNNING  # the stop event is still queued
    sim.advance(LAG)
    job = sim.job(job_id)
    assert (job.status, job.steps[0].status) == (JobStatus.STOPPING,) * 2
    assert not job.finished
    sim.advance(1.0)
    job = sim.job(job_id)
    assert (job.status, job.steps[0].status) == (JobStatus.STOP_SUCCESS,) * 2
    assert job.steps[0].statuses() == [H.SUCCESS, H.GSE_TASK_TERMINATE_SUCCESS]
    assert job.steps[1].status is JobStatus.BLANK


async def test_terminate_a_job_waiting_for_confirmation(sim, wire):
    job_id, _ = await make(sim, wire, "confirming")
    (await wire.operate_job(GATEWAY, job_id, 1)).ok()
    assert sim.job(job_id).status is JobStatus.WAITING_USER
    sim.advance(LAG)
    assert sim.job(job_id).status is JobStatus.STOPPING
    sim.advance(1)
    job = sim.job(job_id)
    assert (job.status, job.steps[0].status) == (JobStatus.STOP_SUCCESS,) * 2


async def test_next_step_after_a_terminate_skips_the_stopped_step(sim, wire):
    job_id, step_id = await make(sim, wire, "stopped")
    (await wire.operate(GATEWAY, job_id, step_id, 11)).ok()
    assert _job_and_first_step(sim, job_id) == (JobStatus.RUNNING, JobStatus.STOP_SUCCESS)
    sim.advance(LAG)
    assert _job_and_first_step(sim, job_id) == (JobStatus.RUNNING, JobStatus.SKIPPED)
    sim.advance(10)
    assert sim.job(job_id).status is JobStatus.SUCCESS


async def test_force_skip_while_stopping_moves_on(sim, wire):
    job_id, step_id = await make(sim, wire, "stopping")
    (await wire.operate(GATEWAY, job_id, step_id, 12)).ok()
    job = sim.job(job_id)
    assert (job.status, job.steps[0].status) == (JobStatus.STOPPING,) * 2
    sim.advance(LAG)
    job = sim.job(job_id)
    assert job.steps[0].status is JobStatus.SKIPPED
    assert job.steps[1].status is JobStatus.RUNNING
    sim.advance(10)
    job = sim.job(job_id)
    assert job.status is JobStatus.SUCCESS
    assert job.steps[0].statuses() == [H.GSE_TASK_TERMINATE_SUCCESS]


async def test_rolling_continue_starts_the_next_batch(sim, wire):
    job_id, step_id = await make(sim, wire, "rolling_paused")
    (await wire.operate(GATEWAY, job_id, step_id, 13)).ok()
    job = sim.job(job_id)
    assert (job.status, job.steps[0].status) == (JobStatus.RUNNING, JobStatus.WAITING_USER)
    sim.advance(LAG)
    job = sim.job(job_id)
    assert job.status is JobStatus.RUNNING
    assert job.steps[0].status is JobStatus.RUNNING
    sim.advance(10)
    assert sim.job(job_id).steps[0].statuses() == [H.SUCCESS, H.SUCCESS, H.WAITING]


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_start_runs_a_blank_job_once(sim, wire, flavor):
    job_id, _ = await make(sim, wire, "blank")
    (await wire.operate_job(flavor, job_id, 2)).ok()
    assert sim.job(job_id).status is JobStatus.RUNNING
    again = (await wire.operate_job(flavor, job_id, 2)).json
    assert (again["result"], again["code"]) == (False, 1241015)
    assert str(job_id) in again["message"]


@pytest.mark.parametrize("state", ["blank", "succeeded", "failed", "stopping", "stopped"])
async def test_terminate_is_refused_unless_running_or_waiting(sim, wire, state):
    job_id, _ = await make(sim, wire, state)
    reply = (await wire.operate_job(GATEWAY, job_id, 1)).json
    assert (reply["result"], reply["code"]) == (False, 1241003)


@pytest.mark.parametrize("code", [0, 3, 99])
async def test_unknown_job_operation_codes_are_invalid_parameters(sim, wire, code):
    job_id, _ = await make(sim, wire, "running")
    assert (await wire.operate_job(JOBV3, job_id, code)).json["code"] == 1241002


async def test_operations_need_ids(wire):
    reply = await wire.call(V2, "operate_step_instance", {"operation_code": 2})
    assert reply.json["code"] == 1241002


def _steps(data: dict) -> list[dict]:
    if "blocks" in data:
        return [block["step_instances"][0] for block in data["blocks"]]
    return data["step_instance_list"]


def _host_rows(step: dict) -> list[dict]:
    return step.get("step_ip_result_list", step.get("step_ip_status"))
