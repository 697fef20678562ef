"""Issue 12, point 5: the numbers are right.

Transition latency counts only transitions the command saw happen; the demo's defaults show
a realistic mix (most jobs succeed, a few fail, one waits for a confirmation that the demo
gives); the retry round counts the retried hosts only, consistently.
"""

from __future__ import annotations

import re

import anyio
import pytest

from bkjob_async import JobStatus, StepType
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..cli_run import FAST, SCOPE, SIM, run

pytestmark = pytest.mark.sim(**SIM)

QUICK = ["--host-duration", "0.05", "0.2"]


async def wait_for(sim: BkJobSimulator, job: int, status: JobStatus) -> None:
    with anyio.fail_after(10):
        while sim.job(job).status is not status:
            await anyio.sleep(0.02)


async def test_latency_is_not_measured_for_jobs_that_had_already_finished(
    sim: BkJobSimulator, env
) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=5)])
    await wait_for(sim, job, JobStatus.SUCCESS)
    result = await run(["watch", str(job), *FAST], env)
    assert result.status == 0
    assert "transition latency p50 (n=0)" in result.err  # the watch saw no host finish


async def test_latency_is_measured_for_transitions_the_watch_saw(sim: BkJobSimulator, env) -> None:
    # The hosts start when the watch has read the job (held at a confirmation till then): at a
    # load of 10, the watch's start took longer than the hosts' 0.5-0.8 s, and it saw none end.
    gate = StepPlan(StepType.MANUAL_CONFIRM)
    job = sim.create_job(SCOPE, [gate, StepPlan(hosts=5, duration=(0.5, 0.8))])
    results = []

    async def watch() -> None:
        results.append(await run(["watch", str(job), *FAST], env))

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        with anyio.fail_after(30):
            while not sim.request_count("get_job_instance_status"):
                await anyio.sleep(0.02)
        step = sim.job(job).steps[0].step_instance_id
        assert (await run(["operate", str(job), str(step), "confirm"], env)).status == 0
    (result,) = results
    assert result.status == 0, result.err
    samples = int(re.search(r"transition latency p50 \(n=(\d+)\)", result.err).group(1))
    assert samples == 5
    p99 = re.search(r"transition latency p99\s+([\d,]+) ms", result.err).group(1)
    assert int(p99.replace(",", "")) < 2000  # poll intervals, not the job's age


async def test_the_demo_defaults_show_a_realistic_mix() -> None:
    result = await run(["demo", *QUICK, "--json"])  # 200 jobs x 50 hosts, the default rates
    assert result.status == 0, result.err
    events = result.lines
    first_round = {}
    for event in events:
        if event["event"] == "job_finished":
            first_round.setdefault(event["job_instance_id"], event["status_name"])
    outcomes = list(first_round.values())
    assert len(outcomes) == 200
    assert outcomes.count("SUCCESS") >= 180  # most succeed
    assert 1 <= outcomes.count("FAIL") <= 20  # a few fail
    waited = {
        e["job_instance_id"]
        for e in events
        if e["event"] == "job_transition" and e["current_name"] == "WAITING_USER"
    }
    assert len(waited) == 1  # one waits for a person...
    assert first_round[waited.pop()] == "SUCCESS"  # ...who the demo is
    assert "waits for a confirmation" in result.err


async def test_the_retry_round_counts_only_the_retried_hosts() -> None:
    result = await run(["demo", "--jobs", "6", "--hosts", "5", "--fail-rate", "0.3", *QUICK])
    assert result.status == 0, result.err
    retry = result.out.split("operations: retrying the ", 1)[1]
    failed = int(retry.split(" ", 1)[0])
    progress = re.findall(r"hosts (\d+)/(\d+)", retry)
    assert progress
    assert {int(total) for _, total in progress} == {failed}
    done = [int(n) for n, _ in progress]
    assert done == sorted(done)  # never "50/50" then "48/50"
    assert done[-1] == failed
