"""``bkjob-async watch --state FILE [--name NAME]``: interrupted, run again without ids, it resumes."""

from __future__ import annotations

import io
import json
import signal
import sys
from pathlib import Path

import anyio
import pytest

from bkjob_async.testing import BkJobSimulator, StepPlan

from ..cli_run import FAST, SCOPE, SIM, cli_command, run, subprocess_env

pytestmark = pytest.mark.sim(**SIM)

PLAN = [StepPlan(hosts=3), StepPlan(hosts=3), StepPlan(hosts=3)]


def _chains(*runs: list[dict]) -> dict[tuple, list[tuple]]:
    """Each host's (previous, current) transitions across runs, repeats of one removed."""
    chains: dict[tuple, list[tuple]] = {}
    for lines in runs:
        for e in lines:
            if e["event"] == "host_transition":
                key = (e["job_instance_id"], e["step_instance_id"], e["host"]["bk_host_id"])
                step = (e["previous"], e["current"])
                chain = chains.setdefault(key, [])
                if step not in chain:
                    chain.append(step)
    return chains


async def _interrupt_after(sim: BkJobSimulator, requests: int, event: anyio.Event) -> None:
    while sim.request_count("get_job_instance_status") < requests:
        await anyio.sleep(0.005)
    event.set()


async def test_interrupted_then_run_again_without_ids_it_resumes(
    sim: BkJobSimulator, env, tmp_path: Path
) -> None:
    # One job of three 1-1.5 s steps: the first run cannot see every end before its eighth
    # read, however slow a loaded machine starts it (all three jobs of PLAN alone could end
    # before it, in fewer reads: the interrupt never came and the test hung).
    slow = [StepPlan(hosts=3, duration=(1.0, 1.5)) for _ in range(3)]
    ids = [sim.create_job(SCOPE, PLAN) for _ in range(2)] + [sim.create_job(SCOPE, slow)]
    db = str(tmp_path / "watch.db")
    interrupt = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_interrupt_after, sim, 8, interrupt)
        first = await run(["watch", *map(str, ids), "--state", db, *FAST], env, interrupt=interrupt)
        tg.cancel_scope.cancel()  # (a run that ended by itself fails below, not hangs here)
    assert first.status == 130, first.err
    assert f"resume it with: bkjob-async watch --state {db}\n" in first.err
    assert len([e for e in first.lines if e["event"] == "job_finished"]) < 3
    second = await run(["watch", "--state", db, *FAST], env)
    assert second.status == 0, second.err
    finished = [
        e["job_instance_id"] for e in first.lines + second.lines if e["event"] == "job_finished"
    ]
    assert sorted(finished) == ids  # each job's finish exactly once over both runs
    for chain in _chains(first.lines, second.lines).values():
        previous = None
        for was, now in chain:
            assert was == previous, f"broken chain {chain}"
            previous = now
        assert previous == 9
    again = await run(["watch", "--state", db, *FAST], env)  # the watch is over
    assert again.status == 2
    assert "no watch named 'watch'" in again.err


async def test_names_keep_watches_apart(sim: BkJobSimulator, env, tmp_path: Path) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    db = str(tmp_path / "watch.db")
    result = await run(["watch", str(job), "--state", db, "--name", "a", *FAST], env)
    assert result.status == 0, result.err
    other = await run(["watch", "--state", db, "--name", "b", *FAST], env)
    assert other.status == 2
    assert "no watch named 'b'" in other.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["watch"], "give the JOB_IDs"),
        (["watch", "1", "--name", "x"], "--name names a watch in a --state file"),
    ],
)
async def test_usage_errors(argv: list[str], message: str, sim: BkJobSimulator, env) -> None:
    result = await run(argv, env)
    assert result.status == 2
    assert message in result.err
    assert sim.request_count("get_job_instance_status") == 0


async def test_a_bad_state_file_is_one_clear_message_before_any_request(
    sim: BkJobSimulator, env, tmp_path: Path
) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not a database" * 100)
    result = await run(["watch", str(job), "--state", str(bad), *FAST], env)
    assert result.status == 2
    assert str(bad) in result.err
    assert len(result.err.strip().splitlines()) <= 3, result.err
    assert sim.request_count("get_job_instance_status") == 0
    assert bad.read_bytes() == b"this is not a database" * 100


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_sigint_then_resume_as_a_subprocess(tmp_path: Path) -> None:
    # The jobs move only when the test advances the simulator's clock: however slowly the
    # process starts on a busy machine, it is interrupted while they run.
    sim = BkJobSimulator(seed=3, virtual_clock=True, host_duration=(0.3, 0.8), host_start_delay=0.0)
    async with sim:
        ids = [sim.create_job(SCOPE, PLAN) for _ in range(2)]
        db = str(tmp_path / "watch.db")
        env = subprocess_env(sim.url)
        argv = [*cli_command(), "watch", *map(str, ids), "--state", db, *FAST]

        async def polled(more: int) -> None:
            target = sim.request_count("get_job_instance_status") + more
            while sim.request_count("get_job_instance_status") < target:
                await anyio.sleep(0.01)

        with anyio.fail_after(60):
            async with await anyio.open_process(argv, env=env) as process:
                assert process.stdout is not None
                await polled(4)  # both jobs seen running
                sim.advance(1.0)  # the first step's hosts end
                await polled(4)  # ... and that is seen
                process.send_signal(signal.SIGINT)
                assert await process.wait() == 130
                out = b""
                async for chunk in process.stdout:
                    out += chunk
            sim.advance(60.0)  # every job ends while nothing watches
            done = await anyio.run_process(
                [*cli_command(), "watch", "--state", db, *FAST], env=env, check=False
            )
        assert done.returncode == 0, done.stderr
        first = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        second = [json.loads(line) for line in done.stdout.decode().splitlines()]
        finished = [e["job_instance_id"] for e in first + second if e["event"] == "job_finished"]
        assert sorted(finished) == ids
        resumed = [e for e in second if e["event"] == "host_transition"]
        seen = {
            (e["job_instance_id"], e["host"]["bk_host_id"], e["step_instance_id"])
            for e in first
            if e["event"] == "host_transition"
        }
        for e in resumed:
            if (e["job_instance_id"], e["host"]["bk_host_id"], e["step_instance_id"]) in seen:
                assert e["previous"] is not None  # continued from its stored status


async def test_a_resumed_watch_polls_at_the_policy_pace(
    sim: BkJobSimulator, env, tmp_path: Path
) -> None:
    """Issue 22: interrupted and run again, the watch once polled 3 jobs 13,000+ times in 29 s.

    With the default policy (1 s, growing) and a 3 s deadline, each of the two running jobs
    may be polled 3 times plus once for its last snapshot; the ended one not at all; and the
    command reads one job once first, to know bk-job answers.
    """
    quick = sim.create_job(SCOPE, [StepPlan(hosts=2, duration=(0.1, 0.2))])
    slow = [sim.create_job(SCOPE, [StepPlan(hosts=2, duration=(60, 60))]) for _ in range(2)]
    db = str(tmp_path / "watch.db")
    interrupt, out = anyio.Event(), io.StringIO()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_interrupt_when_done, out, quick, interrupt)
        first = await run(
            ["watch", str(quick), *map(str, slow), "--state", db], env, interrupt=interrupt, out=out
        )
    assert first.status == 130, first.err
    assert [e["job_instance_id"] for e in first.lines if e["event"] == "job_finished"] == [quick]
    before = sim.request_count("get_job_instance_status")
    second = await run(["watch", "--state", db, "--deadline", "3"], env)
    assert second.status == 1, second.err  # the deadline ended the two running jobs
    # The command's first read (is bk-job there?), then per running job 3 polls and a snapshot.
    assert sim.request_count("get_job_instance_status") - before <= 1 + 2 * (3 + 1)


def _printed(out: io.StringIO) -> list[dict[str, object]]:
    """Return the whole JSON lines ``out`` holds so far."""
    text = out.getvalue()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]


async def _interrupt_when_done(
    out: io.StringIO, job: int, event: anyio.Event, after: float = 2.5
) -> None:
    """Interrupt the watch writing to ``out`` ``after`` seconds after it printed ``job``'s
    end (the others polled meanwhile): not after the simulator ended it, which a loaded
    machine's watch may not have read yet."""
    while not any(
        line.get("event") == "job_finished" and line.get("job_instance_id") == job
        for line in _printed(out)
    ):
        await anyio.sleep(0.01)
    await anyio.sleep(after)
    event.set()


async def test_a_resumed_summary_counts_every_job_of_the_watch(
    sim: BkJobSimulator, env, tmp_path: Path
) -> None:
    """Issue 28: after a resume the summary counted only what the second run saw."""
    quick = sim.create_job(SCOPE, [StepPlan(hosts=2, duration=(0.05, 0.1))])
    slow = sim.create_job(SCOPE, [StepPlan(hosts=3, duration=(3.0, 3.5))])
    db = str(tmp_path / "watch.db")
    interrupt, out = anyio.Event(), io.StringIO()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_interrupt_when_done, out, quick, interrupt, 0.5)
        first = await run(
            ["watch", str(quick), str(slow), "--state", db, *FAST],
            env,
            interrupt=interrupt,
            out=out,
        )
    assert first.status == 130, first.err
    assert [e["job_instance_id"] for e in first.lines if e["event"] == "job_finished"] == [quick]
    second = await run(["watch", "--state", db, *FAST], env)
    assert second.status == 0, second.err
    blocks = {b.split()[0]: b for b in second.err.split("\n\n") if b.strip()}
    jobs = dict(line.split()[:2] for line in blocks["jobs"].splitlines()[1:] if line.strip())
    assert jobs["total"] == "2"  # both jobs of the watch, not only the one this run saw end
    assert jobs["SUCCESS"] == "2"
    assert "1 job had ended before this run" in blocks["jobs"]
    hosts = [line for line in second.err.splitlines() if line.strip().startswith("SUCCESS (9)")]
    assert hosts[0].split()[-1] == "5"  # every host of both jobs
