"""``bkjob-async demo`` and ``simulate`` in-process; ``--help`` of every command.

The demo gives its plan job's confirmation 0.2 s after the job starts to wait, not the 2 s a
person watching it gets (``CONFIRM_AFTER``): no test here reads that pause, and four demos each
waited it out.
"""

from __future__ import annotations

import argparse
import io
import re
import socket
import subprocess

import anyio
import pytest

from bkjob_async.cli import _demo, amain

from ..cli_run import run

QUICK = ["--host-duration", "0.05", "0.2"]


@pytest.fixture(autouse=True)
def _quick_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_demo, "CONFIRM_AFTER", 0.2)


async def test_demo_plain_in_a_pipe() -> None:
    result = await run(["demo", "--jobs", "6", "--hosts", "5", "--fail-rate", "0.3", *QUICK])
    assert result.status == 0, result.err
    out = result.out
    assert "a simulated bk-job serves at http://127.0.0.1:" in out
    assert "launched 6 jobs" in out
    assert "hosts 30/30 100%" in out  # the last progress line of the first round
    for heading in ("jobs by final status", "hosts by final status", "polls made"):
        assert heading in out
    assert "unchanged polls" in out
    assert "retries" in out
    # Hosts seen running, then ended (one that ended between two polls says nothing): on a
    # loaded machine a 50 ms host can end before its first poll.
    seen = re.search(r"transition latency p50 \(n=(\d+)\)", out)
    assert seen, out
    assert 0 < int(seen[1]) <= 30  # never more than the 30 hosts
    assert "transition latency p99" in out
    assert "operations: retrying the" in out
    assert "retry round of job" in out
    assert "after the retry" in out
    assert "\x1b[" not in out
    assert "bkjob-async operate" not in out  # no advice to act on a simulator that is gone


async def test_demo_without_failures_has_nothing_to_retry() -> None:
    result = await run(["demo", "--jobs", "2", "--hosts", "2", "--fail-rate", "0", *QUICK])
    assert result.status == 0
    assert "SUCCESS" in result.out
    assert "nothing to retry" in result.out


async def test_demo_json_lines() -> None:
    result = await run(
        ["demo", "--jobs", "3", "--hosts", "2", "--fail-rate", "1", *QUICK, "--json"]
    )
    assert result.status == 0
    events = result.lines
    finished = [e for e in events if e["event"] == "job_finished"]
    assert len(finished) == 4  # three jobs, then the retried one again
    # Every script host fails; the last job is the plan that waits for a confirmation.
    assert [e["status_name"] for e in finished].count("FAIL") == 3
    plan_job = max(e["job_instance_id"] for e in finished)
    assert [e["status_name"] for e in finished if e["job_instance_id"] == plan_job] == ["SUCCESS"]
    assert "jobs by final status" in result.err


async def test_demo_live_view_on_a_terminal() -> None:
    result = await run(
        ["demo", "--jobs", "3", "--hosts", "4", "--fail-rate", "0.5", *QUICK], tty=True
    )
    assert result.status == 0
    text = result.text
    assert "bkjob-async demo: 3 jobs x 4 hosts" in text
    assert "Latest transitions" in text
    assert "req/s" in text
    assert "Jobs by final status" in text
    assert "retry round of job" in text


async def test_demo_interrupted() -> None:
    interrupt = anyio.Event()

    async def press_ctrl_c() -> None:
        await anyio.sleep(1.0)
        interrupt.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(press_ctrl_c)
        argv = ["demo", "--jobs", "5", "--hosts", "3", "--host-duration", "20", "30"]
        result = await run(argv, interrupt=interrupt)
    assert result.status == 130
    assert "interrupted after" in result.out
    assert "(not finished)" in result.out
    assert "RUNNING (7)" not in result.out  # hosts by final status: final ones only


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--jobs", "0"],
        ["demo", "--hosts", "-1"],
        ["demo", "--fail-rate", "2"],
        ["demo", "--host-duration", "3", "1"],
    ],
)
async def test_demo_usage_errors(argv: list[str]) -> None:
    result = await run(argv)
    assert result.status == 2
    assert result.err


async def test_simulate_serves_until_its_time_is_up() -> None:
    result = await run(
        ["simulate", "--port", "0", "--jobs", "2", "--hosts", "2", "--run-for", "0.3"]
    )
    assert result.status == 0, result.err
    assert "listening on http://127.0.0.1:" in result.out
    assert "bkjob-async watch 10001" in result.out
    # With --port 0 the hint names the port bound: valid shell, after the server is up.
    assert re.search(r"export BKJOB_URL=http://127\.0\.0\.1:\d+ BKJOB_SCOPE=biz:2", result.out)
    assert result.out.index("listening on") < result.out.index("export BKJOB_URL")
    assert "export BKJOB_APP_CODE=demo BKJOB_APP_SECRET=demo" in result.out  # it takes any


async def test_simulate_hints_the_credentials_it_was_started_with() -> None:
    argv = ["simulate", "--port", "0", "--jobs", "1", "--run-for", "0.1", "--app", "myapp:s3"]
    result = await run(argv)
    assert result.status == 0, result.err
    assert "export BKJOB_APP_CODE=myapp BKJOB_APP_SECRET=s3 BKJOB_USERNAME=admin" in result.out


def _exports(text: str) -> dict[str, str]:
    """Return the variables of the ``export`` lines a command printed."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip().startswith("export "):
            for pair in line.split()[1:]:
                name, _, value = pair.partition("=")
                found[name] = value
    return found


@pytest.mark.parametrize(
    "accept",
    [
        ["--app", "myapp", "--secret", "s"],
        ["--app", "myapp:s"],
        ["--secret", "s", "--app", "myapp"],
    ],
)
async def test_simulate_hint_works_with_the_credentials_it_accepts(accept: list[str]) -> None:
    """Issue 28: ``simulate --app myapp --secret s`` hints myapp/s, and the hint works."""
    out, stop = io.StringIO(), anyio.Event()
    argv = ["simulate", "--port", "0", "--jobs", "3", "--hosts", "2", *accept]
    async with anyio.create_task_group() as tg:

        async def serve() -> None:
            assert await amain(argv, stdout=out, stderr=io.StringIO(), interrupt=stop) == 0

        tg.start_soon(serve)
        with anyio.fail_after(10):
            while "bkjob-async watch 10001" not in out.getvalue():
                await anyio.sleep(0.02)
        env = _exports(out.getvalue())
        assert (env["BKJOB_APP_CODE"], env["BKJOB_APP_SECRET"]) == ("myapp", "s")
        good = await run(["status", "10001", "--no-hosts", "--json"], env)
        assert good.status == 0, good.err
        wrong = await run(["status", "10001", "--json"], {**env, "BKJOB_APP_SECRET": "demo"})
        assert wrong.status == 2  # the simulator accepts only what the hint says
        stop.set()


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (["--app", "myapp"], "--app myapp has no secret: --app myapp --secret SECRET"),
        (["--secret", "s"], "--secret is the secret of an --app CODE"),
        (["--app", "myapp:"], "needs CODE or CODE:SECRET, got 'myapp:'"),
    ],
)
async def test_simulate_says_which_credentials_are_missing(bad: list[str], says: str) -> None:
    result = await run(["simulate", "--port", "0", "--run-for", "0.1", *bad])
    assert result.status == 2
    assert says in result.err
    assert "export BKJOB" not in result.out


def test_simulate_help_shows_every_default() -> None:
    """Issue 28: port, jobs, hosts, speed (how long a host runs), failure rate."""
    from bkjob_async.cli._parser import build_parser

    sub = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["simulate"]
    text = " ".join(sub.format_help().split())
    for shown in (
        "--port PORT port to bind; 0: any free port (9000)",
        "--jobs JOBS jobs to create at start, the command-line tour's three first (50)",
        "--hosts HOSTS hosts per step of those jobs (20)",
        "--duration MIN MAX seconds a host runs (1 5)",
        "chance a host fails, 0..1 (0.01)",
        "(default: any non-empty code and secret)",
    ):
        assert shown in text


@pytest.mark.parametrize(
    "bad",
    [
        ["--fail-rate", "2"],
        ["--duration", "5", "1"],
        ["--duration", "0", "1"],
        ["--jobs", "-1"],
        ["--hosts", "0"],
        ["--port", "70000"],
        ["--run-for", "-1"],
    ],
)
async def test_simulate_checks_its_input(bad: list[str]) -> None:
    result = await run(["simulate", "--port", "0", "--run-for", "0.1", *bad])
    assert result.status == 2
    assert "error:" in result.err
    assert "Traceback" not in result.err
    assert "ExceptionGroup" not in result.err
    assert "listening" not in result.out


async def test_simulate_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await run(["simulate", "--port", str(port), "--run-for", "0.1"])
    assert result.status == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.err
    assert "export BKJOB_URL" not in result.out  # no hint for a server that is not there


@pytest.mark.parametrize(
    "command", ["demo", "watch", "status", "operate", "logs", "list", "launch", "simulate"]
)
async def test_every_command_has_help_with_examples(command: str) -> None:
    result = await run([command, "--help"])
    assert result.status == 0
    assert "examples:" in result.out
    assert f"bkjob-async {command}" in result.out
    # Examples show placeholders, never a real-looking secret.
    for line in result.out.splitlines():
        if "BKJOB_APP_SECRET=" in line:
            assert "BKJOB_APP_SECRET=... " in line or "BKJOB_APP_SECRET=demo " in line


async def test_top_level_help_and_version() -> None:
    result = await run(["--help"])
    assert result.status == 0
    for command in ("demo", "watch", "status", "operate", "logs", "list", "launch", "simulate"):
        assert command in result.out
    assert "BKJOB_APP_SECRET" in result.out
    result = await run(["--version"])
    assert result.status == 0
    assert result.out.startswith("bkjob-async ")
    result = await run([])
    assert result.status == 2
    assert "COMMAND" in result.err


async def test_simulate_input_errors_as_a_program() -> None:
    """Three programs at once (each its own interpreter, nothing shared)."""
    import sys

    argvs = [
        ["-m", "bkjob_async.cli", "simulate", "--fail-rate", "2"],
        ["-m", "bkjob_async.cli", "simulate", "--duration", "5", "1"],
        ["-m", "bkjob_async.testing", "--jobs", "-1"],
    ]
    done: dict[int, subprocess.CompletedProcess[bytes]] = {}

    async def one(index: int) -> None:
        argv = [sys.executable, *argvs[index]]
        done[index] = await anyio.run_process(argv, check=False)

    with anyio.fail_after(45):  # (a hang; each once had 30 s alone)
        async with anyio.create_task_group() as tg:
            for index in range(len(argvs)):
                tg.start_soon(one, index)
    for index, argv in enumerate(argvs):
        assert done[index].returncode == 2, argv
        err = done[index].stderr.decode()
        assert "error:" in err, argv
        assert "Traceback" not in err, argv
        assert b"export BKJOB_URL" not in done[index].stdout, argv
