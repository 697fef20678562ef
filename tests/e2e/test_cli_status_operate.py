"""``bkjob-async status`` and ``operate`` in-process against the simulator."""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import HostStatus, JobStatus, StepType
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

from ..cli_run import FAST, SCOPE, SIM, make_env, run

pytestmark = pytest.mark.sim(**SIM)

FAILS_THEN_SUCCEEDS = [
    StepPlan(
        hosts=[
            HostPlan(),
            HostPlan(
                outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, retry_outcomes=[HostStatus.SUCCESS]
            ),
        ]
    )
]
CONFIRM = [StepPlan(hosts=1), StepPlan(StepType.MANUAL_CONFIRM)]


async def wait_for(sim: BkJobSimulator, job: int, status: JobStatus) -> None:
    with anyio.fail_after(10):
        while sim.job(job).status is not status:
            await anyio.sleep(0.02)


# --- status ---------------------------------------------------------------------------------------


async def test_status_plain_lines_when_piped(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=3)])
    await wait_for(sim, job, JobStatus.SUCCESS)
    result = await run(["status", str(job)], env)
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"job {job}  SUCCESS(3)  finished")
    assert lines[1].split()[:3] == [
        "step",
        str(sim.job(job).steps[0].step_instance_id),
        "SUCCESS(3)",
    ]
    assert lines[2].split() == ["host_id", "ip", "cloud", "status", "exit", "time"]
    hosts = sim.job(job).steps[0].hosts
    assert hosts is not None
    for line, host in zip(lines[3:], hosts, strict=True):
        assert line.split()[:4] == [str(host.bk_host_id), host.ip, "0", "SUCCESS(9)"]
    assert "\x1b[" not in result.out


async def test_status_json_one_object_per_job(sim: BkJobSimulator, env) -> None:
    done = sim.create_job(SCOPE, FAILS_THEN_SUCCEEDS)
    waiting = sim.create_job(SCOPE, CONFIRM)
    await wait_for(sim, done, JobStatus.FAIL)
    await wait_for(sim, waiting, JobStatus.WAITING_USER)
    result = await run(["status", str(done), str(waiting), "99999", "--json"], env)
    assert result.status == 1  # one failed, one unknown
    by_id = {obj["job_instance_id"]: obj for obj in result.lines}
    assert by_id[done]["job"]["status_name"] == "FAIL"
    assert by_id[done]["finished"] is True
    statuses = [h["status_name"] for h in by_id[done]["steps"][0]["hosts"]]
    assert statuses == ["SUCCESS", "SCRIPT_NOT_ZERO_EXIT_CODE"]
    assert by_id[waiting]["job"]["status_name"] == "WAITING_USER"
    assert by_id[99999]["error"]["code"] == 1244006


async def test_status_running_is_not_a_failure(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, CONFIRM)
    result = await run(["status", str(job), "--no-hosts"], env)
    assert result.status == 0
    assert "host_id" not in result.out


async def test_status_tables_on_a_terminal(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    await wait_for(sim, job, JobStatus.SUCCESS)
    result = await run(["status", str(job)], env, tty=True)
    assert result.status == 0
    assert "host_id" in result.text
    assert f"job {job} SUCCESS(3)" in result.text
    assert "\x1b[" in result.out


async def test_status_unknown_first_job_is_job_level(sim: BkJobSimulator, env) -> None:
    result = await run(["status", "99999"], env)
    assert result.status == 1
    assert "job 99999  ERROR  not found in scope biz:2" in result.out


async def test_status_connection_error_is_2() -> None:
    result = await run(["status", "1"], make_env("http://127.0.0.1:9"))
    assert result.status == 2
    assert "cannot connect" in result.err


# --- operate --------------------------------------------------------------------------------------


async def test_retry_failed_then_watch(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, FAILS_THEN_SUCCEEDS)
    await wait_for(sim, job, JobStatus.FAIL)
    step = sim.job(job).steps[0].step_instance_id
    result = await run(["operate", str(job), str(step), "retry-failed", "--watch", *FAST], env)
    assert result.status == 0, result.err
    events = result.lines
    assert events[0] == {
        "event": "operation_accepted",
        "job_instance_id": job,
        "step_instance_id": step,
        "operation": "retry-failed",
        "operation_code": 2,
    }
    assert events[-1]["event"] == "job_finished"
    assert events[-1]["status_name"] == "SUCCESS"
    assert sim.job(job).steps[0].execute_count == 1


async def test_step_is_found_when_not_given(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, FAILS_THEN_SUCCEEDS)
    await wait_for(sim, job, JobStatus.FAIL)
    step = sim.job(job).steps[0].step_instance_id
    result = await run(["operate", str(job), "retry-failed"], env)
    assert result.status == 0, result.err
    assert result.out.strip() == f"job {job} step {step}: retry-failed (operation code 2) accepted"


async def test_refused_operation_says_what_state_it_needs(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    await wait_for(sim, job, JobStatus.SUCCESS)
    step = sim.job(job).steps[0].step_instance_id
    result = await run(["operate", str(job), str(step), "retry-failed"], env)
    assert result.status == 1
    assert "bk-job refused retry-failed" in result.err
    assert f"step {step} is SUCCESS(3)" in result.err
    assert "needs FAIL(4) or ABNORMAL_STATE(9) or STOP_SUCCESS(11)" in result.err
    result = await run(["operate", str(job), "retry-failed"], env)
    assert result.status == 1
    assert "no step of job" in result.err


async def test_confirm_a_waiting_step(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, CONFIRM)
    await wait_for(sim, job, JobStatus.WAITING_USER)
    result = await run(["operate", str(job), "confirm", "--watch", *FAST], env)
    assert result.status == 0, result.err
    assert result.lines[-1]["status_name"] == "SUCCESS"


async def test_terminate_then_watch_exits_1(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=30.0)])])
    await wait_for(sim, job, JobStatus.RUNNING)
    result = await run(["operate", str(job), "terminate", "--watch", *FAST], env)
    assert result.status == 1
    assert result.lines[0]["operation_code"] == 1
    assert result.lines[0]["step_instance_id"] is None
    assert result.lines[-1]["status_name"] == "STOP_SUCCESS"


async def test_operate_usage_errors(sim: BkJobSimulator, env) -> None:
    result = await run(["operate", "1", "2", "reboot"], env)
    assert result.status == 2
    assert "retry-failed" in result.err
    result = await run(["operate", "1", "x", "retry-failed"], env)
    assert result.status == 2
    result = await run(["operate", "1", "2", "3", "retry-failed"], env)
    assert result.status == 2
    result = await run(["operate", "99999", "retry-failed"], env)
    assert result.status == 1
    assert "not found" in result.err


HOSTILE_NAME = "deploy\x1b[2J\x1b]0;owned\x07\r\nall jobs succeeded\u202e\x9b"


@pytest.mark.parametrize("tty", [False, True])
async def test_status_escapes_control_characters_in_names(
    sim: BkJobSimulator, env, tty: bool
) -> None:
    """A job or step name can clear the screen, retitle the window or draw a fake line: every
    control character is shown escaped (issue 46, point 4); ``--json`` keeps the name whole."""
    job = sim.create_job(SCOPE, [StepPlan(hosts=1, name=HOSTILE_NAME)], name=HOSTILE_NAME)
    await wait_for(sim, job, JobStatus.SUCCESS)
    result = await run(["status", str(job)], env, tty=tty)
    assert result.status == 0, result.err
    shown = "deploy\\u001b[2J\\u001b]0;owned\\u0007\\u000d\\u000aall jobs succeeded\\u202e\\u009b"
    assert result.out.count(shown) == 2  # the job's name and the step's
    for raw in ("\x1b[2J", "\x1b]0", "\x07", "\u202e", "\x9b", *(() if tty else ("\r",))):
        assert raw not in result.out  # (on a terminal the live view draws with its own \r)
    assert not any(line.startswith("all jobs") for line in result.out.splitlines())
    if not tty:
        data = await run(["status", str(job), "--json"], env)
        assert data.lines[0]["job"]["name"] == HOSTILE_NAME
