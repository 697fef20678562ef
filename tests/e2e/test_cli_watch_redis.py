"""``watch --redis`` against a real redis-server, with a worker polling the simulator (issue 28).

It prints what ``watch`` prints (``event``, ``event_id``, ``previous``/``current`` with their
names, ``observed_at``), ends once each JOB_ID has ended (``--follow``, or no JOB_ID: until
Ctrl-C), and on a terminal draws the same live view, with the workers and their jobs.
"""

from __future__ import annotations

import io
import re

import anyio
import pytest

from bkjob_async.cli import amain
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..cli_run import SCOPE, TerminalIO, make_env, run


async def _with_a_worker(redis_url: str, sim: BkJobSimulator, body, worker_id: str = "") -> None:
    """Run ``body()`` while a ``worker`` command polls the cluster ``cli`` for ``sim``."""
    interrupt = anyio.Event()
    argv = ["worker", "--redis", redis_url, "--cluster", "cli", "--url", sim.url]
    argv += ["--worker-id", worker_id] if worker_id else []
    argv += ["--interval", "0.1", "--max-interval", "0.3", "--report-every", "60"]
    # (a lease of 3 s, renewed every second: the default at this interval, 0.3 s, lapses on a
    # loaded machine, and the worker drops and takes back its jobs in the middle of a test)
    argv += ["--lease-ttl", "3"]
    async with anyio.create_task_group() as tg:

        async def work() -> None:
            env, err = make_env(sim.url), io.StringIO()
            try:
                await amain(argv, stdout=io.StringIO(), stderr=err, env=env, interrupt=interrupt)
            except Exception:
                # Stopped mid lease round, the worker can fail with BrokenResourceError
                # (LeaseKeeper.run's on_tick into a closed stream): not what is tested here.
                if not interrupt.is_set():
                    raise

        tg.start_soon(work)
        try:
            await body()
        finally:
            interrupt.set()


async def _submit(redis_url: str, watch: str, ids: list[int]) -> None:
    argv = ["submit", *map(str, ids), "--redis", redis_url, "--cluster", "cli"]
    assert (await run([*argv, "--watch", watch, "--scope", "biz:2"])).status == 0


async def test_watch_redis_ends_when_its_jobs_end_and_prints_watchs_shape(redis_server) -> None:
    async with BkJobSimulator(seed=4, host_duration=(0.1, 0.4), host_start_delay=0.0) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=2)]) for _ in range(3)]
        await _submit(redis_server.url, "deploys", ids)
        results = []

        async def follow() -> None:
            argv = ["watch", *map(str, ids), "--redis", redis_server.url, "--cluster", "cli"]
            results.append(await run([*argv, "--watch", "deploys"]))  # bounded: 45 s

        await _with_a_worker(redis_server.url, sim, follow)
    result = results[0]
    assert result.status == 0, result.err  # ended by itself: every job ended, all succeeded
    lines = result.lines
    finished = [line for line in lines if line["event"] == "job_finished"]
    assert sorted(line["job_instance_id"] for line in finished) == sorted(ids)
    assert all(line["status_name"] == "SUCCESS" for line in finished)
    hosts = [line for line in lines if line["event"] == "host_transition"]
    assert hosts
    for line in hosts:  # the shape of ``watch``'s lines, not the stream's own
        assert {"event", "event_id", "job_instance_id", "observed_at", "step_instance_id"} <= set(
            line
        )
        assert {"previous", "previous_name", "current", "current_name"} <= set(line)
        assert not {"type", "prev", "cur"} & set(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["observed_at"])
    assert len({line["event_id"] for line in lines}) == len(lines)  # each once
    assert "jobs by final status" in result.err  # the summary, on stderr in JSON mode


@pytest.mark.parametrize("follow", [["--follow"], []])
async def test_watch_redis_follow_goes_on_until_interrupted(redis_server, follow) -> None:
    """``--follow``, or no JOB_ID: on after the jobs ended, then the summary of what it saw."""
    async with BkJobSimulator(seed=5, host_duration=(0.1, 0.2), host_start_delay=0.0) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=1)])]
        await _submit(redis_server.url, "forever", ids)
        out, err, interrupt = io.StringIO(), io.StringIO(), anyio.Event()

        async def follow_it() -> None:
            argv = ["watch", *([str(ids[0])] if follow else []), *follow]
            argv += ["--redis", redis_server.url, "--cluster", "cli", "--watch", "forever"]
            async with anyio.create_task_group() as tg:

                async def watch() -> None:
                    status = await amain(argv, stdout=out, stderr=err, interrupt=interrupt)
                    assert status == 130
                    assert "interrupted after" in err.getvalue()
                    assert re.search(r"SUCCESS +1\b", err.getvalue()), err.getvalue()

                tg.start_soon(watch)
                with anyio.fail_after(20):
                    while "job_finished" not in out.getvalue():
                        await anyio.sleep(0.05)
                await anyio.sleep(0.5)
                assert not interrupt.is_set()  # still following after its job ended
                interrupt.set()

        await _with_a_worker(redis_server.url, sim, follow_it)


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 50)])
async def test_watch_redis_on_a_terminal_draws_the_live_view(
    redis_server, width, height, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))  # the terminal's size, as rich reads it
    monkeypatch.setenv("LINES", str(height))
    # Jobs of 2-3 s: the view reads who polls which job every second.
    async with BkJobSimulator(seed=6, host_duration=(2.0, 3.0), host_start_delay=0.0) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=3)]) for _ in range(4)]
        watch = f"live{width}"
        await _submit(redis_server.url, watch, ids)
        screen = TerminalIO()

        async def follow() -> None:
            argv = ["watch", *map(str, ids), "--redis", redis_server.url, "--cluster", "cli"]
            with anyio.fail_after(30):
                status = await amain([*argv, "--watch", watch], stdout=screen, env={})
            assert status == 0

        await _with_a_worker(redis_server.url, sim, follow, worker_id=f"cli-w{width}")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "╭─ bkjob-async watch --redis" in text
    assert re.search(r"│ Redis +redis://127.0.0.1:\d+.* \(cluster 'cli', watc", text)  # the source
    assert "host ?" not in text  # a host known by its id alone is named by it
    assert "Latest transitions" in text
    assert "12/12 finished 100%" in text
    assert "Jobs by final status" in text
    last = text.split("╭─ bkjob-async watch --redis")[-1].split("╰")[0].splitlines()
    assert len(last) + 1 <= height - 1  # the last frame, top and bottom borders included
    assert all(len(line) <= width for line in last)
    if height >= 50:
        assert sum("→" in line for line in last) > 10  # the room is used for transitions
    # The workers and their jobs: the worker polling the four jobs, then none once they ended.
    worker = f"cli-w{width}"
    assert re.search(rf"│ Workers +(1 live: )?{worker} 4 jobs", text), text[-3000:]
    assert any(
        re.fullmatch(rf"│ +\d+ +RUNNING\S* .* {worker} +│", line) for line in text.splitlines()
    )
    assert re.search(rf"Workers +(1 live: )?{worker} 0 jobs", "\n".join(last))


async def test_watch_redis_says_which_jobs_its_watch_does_not_hold(redis_server) -> None:
    """A JOB_ID never submitted would be waited for in silence: it is named, with the fix."""
    await _submit(redis_server.url, "typo", [10001])
    interrupt = anyio.Event()
    out, err = io.StringIO(), io.StringIO()
    argv = ["watch", "10001", "10002", "--redis", redis_server.url, "--cluster", "cli"]

    async def watch() -> None:
        status = await amain(
            [*argv, "--watch", "typo"], stdout=out, stderr=err, interrupt=interrupt
        )
        assert status == 130

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        with anyio.fail_after(20):
            while "bkjob-async submit" not in err.getvalue():
                await anyio.sleep(0.02)
        interrupt.set()
    text = err.getvalue()
    assert "not in watch 'typo' of cluster 'cli': 1 job (10002); waiting for it. To add it:" in text
    assert "\n  bkjob-async submit 10002 --watch typo --cluster cli --scope SCOPE\n" in text
    assert "10001" not in text.split("bkjob-async submit", 1)[1].splitlines()[0]
