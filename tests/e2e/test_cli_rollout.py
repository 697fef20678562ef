"""``bkjob-async rollout``: targets from a file or stdin, caps, a failed key, resuming a store."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import anyio
import pytest

from bkjob_async import HostStatus
from bkjob_async.testing import BkJobSimulator, Fault, HostPlan, RunningJobQuota

from ..cli_run import FAST, SCOPE, SIM, run

pytestmark = pytest.mark.sim(**SIM)


def names(sim: BkJobSimulator) -> list[str]:
    return sorted(sim.job(i).name for i in sim.job_ids())


def launch_line(key: str, host: int) -> str:
    arguments = {
        "targets": {"host_ids": [host]},
        "account": {"alias": "root"},
        "script_content": "echo",
    }
    return json.dumps({"key": key, "api": "fast_execute_script", "arguments": arguments})


async def test_hosts_in_batches_piped_give_a_line_per_key(
    sim: BkJobSimulator, env, tmp_path: Path
) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# the web tier\n1001 1002\n1003,1004\n0:10.0.0.5\n", encoding="utf-8")
    argv = ["rollout", str(hosts), "--content", "uptime", "--batch-size", "2"]
    result = await run([*argv, "--max-running", "2", "--key", "web", *FAST], env)
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    for key in ("batch-1", "batch-2", "batch-3"):
        assert any(line.startswith(f"launched {key}: job ") for line in lines)
        assert any(line.startswith(f"finished {key}: job ") and "SUCCESS" in line for line in lines)
    assert "rollout web: 3/3 keys ended, 3 launched, 3 succeeded, 0 failed" in result.out
    assert names(sim) == [f"rollout [rollout web/batch-{i}]" for i in (1, 2, 3)]
    assert sim.peak_running(SCOPE) <= 2
    jobs = [sim.job(i) for i in sim.job_ids()]
    assert sorted(len(j.steps[0].hosts) for j in jobs) == [1, 2, 2]


async def test_json_lines_from_stdin_and_a_failed_key_exit_1(sim: BkJobSimulator, env) -> None:
    sim.plan_hosts(HostPlan(bk_host_id=1002, outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE))
    stdin = "\n".join(launch_line(f"k{i}", 1000 + i) for i in (1, 2, 3)) + "\n"
    result = await run(["rollout", "-", "--json", *FAST], env, stdin=stdin)
    assert result.status == 1, result.err
    objects = result.lines
    launched = {o["key"]: o["job_instance_id"] for o in objects if o["event"] == "launched"}
    assert sorted(launched) == ["k1", "k2", "k3"]
    finished = {o["key"]: o["status_name"] for o in objects if o["event"] == "job_finished"}
    assert finished == {"k1": "SUCCESS", "k2": "FAIL", "k3": "SUCCESS"}
    summary = objects[-1]
    assert summary["event"] == "summary"
    assert summary["failed"] == ["k2"]
    assert summary["succeeded"] == 2


async def test_a_bad_line_is_refused_before_any_request(sim: BkJobSimulator, env) -> None:
    stdin = launch_line("a", 1001) + "\n" + '{"key": "b", "api": "rm_rf", "arguments": {}}\n'
    result = await run(["rollout", "-", *FAST], env, stdin=stdin)
    assert result.status == 2
    assert "stdin line 2:" in result.err
    assert "rm_rf" in result.err
    assert sim.request_count() == 0
    twice = launch_line("a", 1001) + "\n" + launch_line("a", 1002) + "\n"
    result = await run(["rollout", "-", *FAST], env, stdin=twice)
    assert result.status == 2
    assert "the key 'a' comes twice" in result.err
    result = await run(["rollout", "-", "--content", "x"], env, stdin="1001 nohost!\n")
    assert result.status == 2
    assert "stdin line 1:" in result.err
    assert sim.request_count() == 0


async def test_a_quota_refusal_waits_for_a_slot(sim: BkJobSimulator, env) -> None:
    sim.set_quota(RunningJobQuota(scope=2))
    stdin = "\n".join(str(1001 + i) for i in range(6))
    argv = ["rollout", "-", "--content", "echo", "--batch-size", "1", *FAST]
    result = await run(argv, env, stdin=stdin)
    assert result.status == 0, result.err
    assert sim.peak_running(SCOPE) <= 2
    assert len(sim.job_ids()) == 6
    assert "6 succeeded" in result.out
    assert sim.statistics().quota_refused >= 1


async def test_a_store_resumes_without_launching_a_key_twice(
    sim: BkJobSimulator, env, tmp_path: Path
) -> None:
    store = tmp_path / "rollout.db"
    stdin = "\n".join(str(1001 + i) for i in range(6))
    argv = ["rollout", "-", "--content", "echo", "--batch-size", "1", "--max-running", "1"]
    argv += ["--store", str(store), "--key", "r", *FAST]
    interrupt = anyio.Event()

    async def stop_after_two() -> None:
        while len(sim.job_ids()) < 2:
            await anyio.sleep(0.01)
        interrupt.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_after_two)
        first = await run(argv, env, stdin=stdin, interrupt=interrupt)
    assert first.status == 130
    assert 2 <= len(sim.job_ids()) < 6
    hint = first.err.split("resume it with: ", 1)[1].splitlines()[0]
    command, note = hint.split("  ", 1)
    assert note == "(the same targets on stdin)"
    assert shlex.split(command) == ["bkjob-async", *argv]  # the script flags too: runnable as is
    again = await run(shlex.split(command)[1:], env, stdin=stdin)
    assert again.status == 0, again.err
    assert names(sim) == sorted(f"rollout [rollout r/batch-{i}]" for i in range(1, 7))
    assert "held already" in again.out


async def test_a_lost_answer_is_found_by_name_not_sent_again(sim: BkJobSimulator, env) -> None:
    sim.inject(Fault.reset(), api="fast_execute_script")
    result = await run(["rollout", "-", "--content", "echo", *FAST], env, stdin="1001\n")
    assert result.status == 0, result.err
    assert names(sim) == ["rollout [rollout rollout/batch-1]"]


async def test_the_live_view_on_a_terminal(sim: BkJobSimulator, env) -> None:
    stdin = "1001\n1002\n"
    argv = ["rollout", "-", "--content", "echo", "--batch-size", "1", "--key", "tty", *FAST]
    result = await run(argv, {**env, "COLUMNS": "100", "LINES": "30"}, stdin=stdin, tty=True)
    assert result.status == 0, result.err
    assert "rollout tty: 2/2 keys ended, 2 launched, 2 succeeded" in result.text
    assert "Latest transitions" in result.text


async def test_an_unreachable_bk_job_ends_it_with_status_2(env) -> None:
    bad = {**env, "BKJOB_URL": "http://127.0.0.1:1"}
    result = await run(["rollout", "-", "--content", "echo", "--timeout", "2"], bad, stdin="1\n")
    assert result.status == 2
    assert "cannot connect to http://127.0.0.1:1" in result.err
