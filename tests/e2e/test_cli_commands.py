"""Issue 12, point 4: ``logs``, ``status --failed``, ``launch``, ``list``; and the logs helper."""

from __future__ import annotations

import datetime as dt

import anyio
import attrs
import pytest

from bkjob_async import (
    BkJobClient,
    HostStatus,
    JobFinished,
    JobStatus,
    Poller,
    PollPolicy,
    UnsupportedOperationError,
)
from bkjob_async.testing import BkJobSimulator, HostPlan, PlanVar, StepPlan

from ..cli_run import FAST, SCOPE, SIM, run

pytestmark = pytest.mark.sim(**SIM)

BAD = HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE
ONE_FAILS = [StepPlan(hosts=[HostPlan(), HostPlan(outcome=BAD, exit_code=3), HostPlan()])]


async def finished(sim: BkJobSimulator, job: int) -> None:
    with anyio.fail_after(10):
        while not sim.job(job).status.is_finished:
            await anyio.sleep(0.02)


async def test_logs_of_the_failed_hosts(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, ONE_FAILS)
    await finished(sim, job)
    step = sim.job(job).steps[0].step_instance_id
    result = await run(["logs", str(job), "--failed"], env)
    assert result.status == 0, result.err
    headers = [line for line in result.out.splitlines() if line.startswith("== ")]
    assert len(headers) == 1
    assert headers[0].startswith(f"== job {job} step {step} host ")
    assert "SCRIPT_NOT_ZERO_EXIT_CODE(104), exit 3" in headers[0]
    assert "exit code 3" in result.out  # the host's own log
    everything = await run(["logs", str(job), str(step), "--json"], env)
    assert len(everything.lines) == 3
    assert {e["status_name"] for e in everything.lines} == {"SUCCESS", BAD.name}
    assert all(e["log_type_name"] == "SCRIPT" for e in everything.lines)


async def test_logs_of_many_jobs_in_one_run(sim: BkJobSimulator, env) -> None:
    """Many ids, and ``-`` for more on stdin: one process reads every job's failed hosts."""
    jobs = [sim.create_job(SCOPE, ONE_FAILS) for _ in range(4)]
    for job in jobs:
        await finished(sim, job)
    result = await run(
        ["logs", str(jobs[0]), "-", "--failed", "--json"], env, stdin=" ".join(map(str, jobs[1:]))
    )
    assert result.status == 0, result.err
    assert [e["job_instance_id"] for e in result.lines] == jobs  # one failed host each
    step = sim.job(jobs[0]).steps[0].step_instance_id
    old = await run(["logs", str(jobs[0]), str(step), "--json"], env)  # JOB_ID STEP_ID
    assert len(old.lines) == 3
    assert "write --step STEP_ID" in old.err
    by_step = await run(["logs", *map(str, jobs[:3]), "--step", str(step), "--json"], env)
    assert {e["job_instance_id"] for e in by_step.lines} == {jobs[0]}
    assert f"has no step {step}" in by_step.err  # the other jobs' steps have other ids
    assert by_step.status == 1  # each job was tried; one (or more) could not be read


async def test_logs_of_named_hosts(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, ONE_FAILS)
    await finished(sim, job)
    host = sim.job(job).steps[0].hosts[2]
    by_id = await run(["logs", str(job), "--host", str(host.bk_host_id), "--json"], env)
    assert [e["host"]["bk_host_id"] for e in by_id.lines] == [host.bk_host_id]
    by_ip = await run(["logs", str(job), "--host", f"0:{host.ip}", "--json"], env)
    assert [e["host"]["ip"] for e in by_ip.lines] == [host.ip]


async def test_logs_usage_errors(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, ONE_FAILS)
    await finished(sim, job)
    result = await run(["logs", str(job), "99"], env)
    assert result.status == 1
    assert f"job {job} has no step 99" in result.err
    result = await run(["logs", str(job), "--host", "x:y"], env)
    assert result.status == 2
    assert "CLOUD:IP" in result.err
    result = await run(["logs", "99999"], env)
    assert result.status == 1


async def test_logs_on_esb_v2_say_the_api_is_missing_before_any_request(
    sim: BkJobSimulator, env
) -> None:
    before = sim.request_count()
    result = await run(["logs", "10001", "--flavor", "esb-v2"], env)
    assert result.status == 2
    assert "esb-v2 API has no host logs" in result.err
    assert "apigw-v3" in result.err
    assert sim.request_count() == before


async def test_failed_host_logs_helper_asks_500_hosts_per_request(sim: BkJobSimulator) -> None:
    hosts = [HostPlan(outcome=BAD, duration=0.05) for _ in range(600)] + [HostPlan()]
    job = sim.create_job(SCOPE, [StepPlan(hosts=hosts), StepPlan(hosts=2)])
    await finished(sim, job)
    step = sim.job(job).steps[0].step_instance_id
    async with BkJobClient(sim.url, app_code="a", app_secret="s", username="admin") as client:
        before = sim.request_count("batch_get_job_instance_ip_log")
        logs = await client.failed_host_logs(SCOPE, job)
        assert sim.request_count("batch_get_job_instance_ip_log") - before == 2
    assert list(logs) == [step]  # only the step with failed hosts
    assert len(logs[step]) == 600
    assert all("status 104" in (log.log_content or "") for log in logs[step])


async def test_failed_host_logs_helper_on_esb_v2(sim: BkJobSimulator) -> None:
    async with BkJobClient(
        sim.url, app_code="a", app_secret="s", username="admin", flavor="esb-v2"
    ) as client:
        before = sim.request_count()
        with pytest.raises(UnsupportedOperationError, match="esb-v2"):
            await client.failed_host_logs(SCOPE, 10001)
        assert sim.request_count() == before


async def test_status_failed_shows_only_what_failed(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, [*ONE_FAILS, StepPlan(hosts=2)])
    await finished(sim, job)
    result = await run(["status", str(job), "--failed"], env)
    assert result.status == 1
    assert result.out.count("SCRIPT_NOT_ZERO_EXIT_CODE(104)") == 1
    assert "SUCCESS(9)" not in result.out
    json_result = await run(["status", str(job), "--failed", "--json"], env)
    (obj,) = json_result.lines
    assert [len(step["hosts"]) for step in obj["steps"]] == [1]


async def test_launch_script_then_watch(sim: BkJobSimulator, env) -> None:
    argv = ["launch", "script", "--host-id", "1001", "--host-id", "1002", "--content", "echo"]
    result = await run([*argv, "--watch", *FAST], env)
    assert result.status == 0, result.err
    launched = result.lines[0]
    assert launched["event"] == "job_launched"
    job = launched["job_instance_id"]
    assert result.lines[-1] == {**result.lines[-1], "event": "job_finished", "job_instance_id": job}
    assert result.lines[-1]["status_name"] == "SUCCESS"
    hosts = sim.job(job).steps[0].hosts
    assert {h.bk_host_id for h in hosts} == {1001, 1002}


async def test_launch_plan_and_file(sim: BkJobSimulator, env) -> None:
    sim.add_plan(7, [StepPlan(hosts=1)], name="p", variables=[PlanVar("v")])
    result = await run(["launch", "plan", "7", "--var", "v=1"], env)
    assert result.status == 0, result.err
    assert result.lines[0]["kind"] == "plan"
    argv = ["launch", "file", "--host-id", "1001", "--from-host-id", "1002"]
    result = await run([*argv, "--source", "/etc/hosts", "--dest", "/tmp/"], env)
    assert result.status == 0, result.err
    assert result.lines[0]["event"] == "job_launched"


async def test_launch_checks_its_input_before_any_request(sim: BkJobSimulator, env) -> None:
    before = sim.request_count()
    for argv, says in [
        (["launch", "script", "--content", "x"], "no target host"),
        (["launch", "script", "--host-id", "1"], "--content TEXT, --file PATH"),
        (["launch", "script", "--host-id", "1", "--file", "/nonexistent/x.sh"], "cannot read"),
        (["launch", "plan", "7", "--var", "novalue"], "NAME=VALUE"),
    ]:
        result = await run(argv, env)
        assert result.status == 2, argv
        assert says in result.err
    assert sim.request_count() == before


async def test_list_recent_jobs_by_status(sim: BkJobSimulator, env) -> None:
    good = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    bad = sim.create_job(SCOPE, ONE_FAILS)
    await finished(sim, good)
    await finished(sim, bad)
    result = await run(["list", "--since", "1h", "--json"], env)
    assert result.status == 0, result.err
    ids = [job["job_instance_id"] for job in result.lines]
    assert ids == [bad, good]  # newest first
    failed = await run(["list", "--status", "fail", "--json"], env)
    assert [job["job_instance_id"] for job in failed.lines] == [bad]
    assert sim.job(bad).status is JobStatus.FAIL
    paged = await run(["list", "--page-size", "1", "--limit", "0", "--json"], env)
    assert sorted(job["job_instance_id"] for job in paged.lines) == sorted(ids)
    text = await run(["list"], env)
    assert text.out.splitlines()[0].split() == ["job", "status", "created", "operator", "name"]
    created = dt.datetime.fromisoformat(result.lines[0]["create_time"])
    assert created.utcoffset() == dt.timedelta(0)  # JSON times: UTC, one form


async def test_list_usage_errors(sim: BkJobSimulator, env) -> None:
    for argv, says in [
        (["list", "--since", "yesterday"], "expected a duration"),
        (["list", "--since", "40d"], "30 days"),
        (["list", "--status", "SOMETIMES"], "expected a code or one of"),
    ]:
        result = await run(argv, env)
        assert result.status == 2
        assert says in result.err


def _times(value, found):
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(("_time", "_at")) and isinstance(item, str):
                found[key] = item
            _times(item, found)
    elif isinstance(value, list):
        for item in value:
            _times(item, found)
    return found


async def test_json_times_have_one_form_whatever_the_flavor(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    await finished(sim, job)
    seen = {}
    for flavor in ("apigw-v3", "esb-jobv3", "esb-v2"):
        result = await run(["status", str(job), "--json", "--flavor", flavor], env)
        assert result.status == 0, result.err
        times = _times(result.lines[0], {})
        assert times
        for text in times.values():
            assert text.endswith("+00:00")  # UTC, whatever offset the generation sent
            assert dt.datetime.fromisoformat(text).microsecond % 1000 == 0
            assert len(text.split("T")[1]) == len("08:00:02.000+00:00")  # milliseconds
        seen[flavor] = times["start_time"]
    # The same instant (v2 sends whole seconds): one form, comparable as text.
    assert len({text[: len("2025-01-01T08:00:02")] for text in seen.values()}) == 1, seen


async def test_operate_waits_until_bk_job_shows_the_operation() -> None:
    """bk-job applies an operation a moment after answering: read until the change shows."""
    from bkjob_async import JobInstance, JobInstanceStatus, StepInstance
    from bkjob_async.cli._commands import wait_for_effect

    def status(job: JobStatus, step: JobStatus, count: int) -> JobInstanceStatus:
        steps = (StepInstance(20001, step, execute_count=count, hosts=None),)
        return JobInstanceStatus(job.is_finished, JobInstance(10001, job), steps)

    before = status(JobStatus.FAIL, JobStatus.FAIL, 0)
    answers = [before, before, status(JobStatus.RUNNING, JobStatus.RUNNING, 1)]

    class Client:
        reads = 0

        async def get_job_instance_status(self, scope, job_id, *, with_hosts):
            self.reads += 1
            return answers[min(self.reads, len(answers)) - 1]

    client = Client()
    with anyio.fail_after(5):
        await wait_for_effect(client, SCOPE, before, period=0.01)
    assert client.reads == 3


async def test_status_of_a_waiting_job_says_how_to_go_on(sim: BkJobSimulator, env) -> None:
    from bkjob_async import StepType

    job = sim.create_job(SCOPE, [StepPlan(hosts=1), StepPlan(StepType.MANUAL_CONFIRM)])
    with anyio.fail_after(10):
        while sim.job(job).status is not JobStatus.WAITING_USER:
            await anyio.sleep(0.02)
    step = sim.job(job).steps[1].step_instance_id
    command = f"to go on: bkjob-async operate {job} {step} confirm"
    plain = await run(["status", str(job)], env)
    assert command in plain.out
    table = await run(["status", str(job)], env, tty=True)
    assert command in table.text


async def test_failed_host_logs_with_a_snapshot_without_hosts_reads_the_job(
    sim: BkJobSimulator,
) -> None:
    """A ``JobFinished`` of a watch asking for ends only may carry a snapshot read from the job
    list, with no host rows: the helper must read the job, never answer "no failed hosts"."""
    job = sim.create_job(SCOPE, ONE_FAILS)
    await finished(sim, job)
    async with (
        BkJobClient(sim.url, app_code="a", app_secret="s", username="admin") as client,
        Poller(client, policy=PollPolicy(interval=0.05, max_interval=0.1)) as poller,
    ):
        async for event in poller.watch_jobs(SCOPE, [job], events=(JobFinished,)):
            ended = event
        full = await client.get_job_instance_status(SCOPE, job)
        bare = attrs.evolve(full, steps=[attrs.evolve(s, hosts=None) for s in full.steps])
        for snapshot in (ended.snapshot, bare):
            logs = await client.failed_host_logs(SCOPE, job, status=snapshot)
            assert [len(rows) for rows in logs.values()] == [1]
        other = attrs.evolve(full, job=attrs.evolve(full.job, job_instance_id=job + 1))
        before = sim.request_count()
        with pytest.raises(ValueError, match="not job"):
            await client.failed_host_logs(SCOPE, job, status=other)
        assert sim.request_count() == before
