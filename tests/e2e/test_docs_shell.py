"""The shell blocks of ``docs/``, the command-line tour and the tutorial run as printed.

Beside ``test_docs.py`` (its Python blocks; this file is the other half of that page-by-page
check, on a worker of its own). Shell blocks run line by line with ``bash`` against
``bkjob-async simulate`` started as a user starts it, with the ``export`` lines it prints; a
line may exit 0 or 1 (1: a job it shows has failed, as documented), never with a usage or
connection error or a traceback. The command-line tour runs in order with the exit status and
a line of output checked for each command, and the tutorial runs from top to bottom against
one ``simulate``, as a newcomer follows it.

All of them run at once (``at_once``), each against its own ``simulate``: one after another
they held a worker for 114 s at a load of 10, mostly waiting on the commands' schedules. Each
is still a test of its own, failing with its own message.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from tests.e2e.at_once import at_once, outcome, selected
from tests.e2e.test_docs import TUTORIAL, runnable
from tests.e2e.test_readme import TOUR, Block, blocks, commands, environment, is_tour


@asynccontextmanager
async def simulate() -> AsyncIterator[dict[str, str]]:
    """``bkjob-async simulate`` on a free port; yield the environment its export lines make."""
    argv = [sys.executable, "-m", "bkjob_async.cli", "simulate", "--port", "0"]
    async with await anyio.open_process(argv, env=environment("unused")) as proc:
        assert proc.stdout is not None
        printed = ""
        try:
            with anyio.fail_after(20):
                async for chunk in proc.stdout:
                    printed += chunk.decode()
                    if "bkjob-async watch 10001" in printed:
                        break
            assert (
                "the tour of docs/howto/command-line.md: 10001 has succeeded, 10002 has failed"
                in printed
            )
            exports = dict(re.findall(r"(BKJOB_\w+)=(\S+)", printed))
            yield {**environment(exports["BKJOB_URL"]), **exports}
        finally:
            proc.terminate()


async def bash(line: str, env: dict[str, str]) -> tuple[int, str]:
    with anyio.fail_after(60):
        done = await anyio.run_process(["bash", "-o", "pipefail", "-c", line], env=env, check=False)
    return done.returncode, done.stdout.decode() + done.stderr.decode()


#: The pages' shell blocks but the tour's and the tutorial's: those run in their own tests below
#: (the tutorial's last block ran twice, once here, 6-11 s each time).
SHELL = [b for b in runnable("sh") if not is_tour(b)]


async def shell_block_runs_against_simulate(block: Block) -> None:
    async with simulate() as env:
        for line in commands(block):
            status, output = await bash(line, env)
            assert status in (0, 1), f"{block}: {line!r} exited {status}:\n{output}"
            assert "Traceback" not in output, output
            assert "usage:" not in output, output


async def the_command_line_tour_runs_in_order() -> None:
    """The tour, as a new user runs it: ``bkjob-async simulate`` with its defaults, the
    ``export`` lines it prints, then each command of the page in order."""
    (tour,) = [b for b in runnable("sh") if is_tour(b)]
    lines = commands(tour)
    assert [next(k for k in TOUR if line.startswith(k)) for line in lines] == list(TOUR)
    async with simulate() as env:
        for line in lines:
            status, pattern = next(v for k, v in TOUR.items() if line.startswith(k))
            code, output = await bash(line, env)
            assert code == status, f"{line!r} exited {code}:\n{output}"
            assert re.search(pattern, output), f"{line!r} printed:\n{output}"
            assert "Traceback" not in output


async def the_tutorial_works_as_printed() -> None:
    """Every runnable block of the tutorial, top to bottom, against one ``simulate``."""
    steps = [b for b in blocks(TUTORIAL) if b.skip is None and b.lang in ("sh", "python")]
    assert [b.lang for b in steps] == ["sh", "python", "sh"]
    assert 'Scope.parse(os.environ["BKJOB_SCOPE"])' in steps[1].body  # what it exports, read
    skipped = [b for b in blocks(TUTORIAL) if b.skip]
    assert any("bkjob-async simulate" in b.body for b in skipped)  # what the test starts
    async with simulate() as env:
        for block in steps:
            if block.lang == "sh":
                for line in commands(block):
                    status, output = await bash(line, env)
                    assert status in (0, 1), f"{line!r} exited {status}:\n{output}"
                    assert "Traceback" not in output, output
                    assert "usage:" not in output, output
                continue
            with anyio.fail_after(60):
                done = await anyio.run_process(
                    [sys.executable, "-c", block.body], env=env, check=False
                )
            out, err = done.stdout.decode(), done.stderr.decode()
            assert done.returncode == 0, err
            assert re.match(r"launched \[\d+, \d+, \d+\]\n", out), out
            assert len(re.findall(r"^job \d+ finished: SUCCESS$", out, re.MULTILINE)) == 3
            assert re.search(r"^job \d+ .*\(host 1001\): RUNNING$", out, re.MULTILINE), out


TOUR_TEST = "test_the_command_line_tour_runs_in_order_against_simulate"
TUTORIAL_TEST = "test_the_tutorial_works_as_printed"
WHOLE = {
    TOUR_TEST: the_command_line_tour_runs_in_order,
    TUTORIAL_TEST: the_tutorial_works_as_printed,
}


async def _body(case: Block | str) -> None:
    if isinstance(case, Block):
        await shell_block_runs_against_simulate(case)
    else:
        await WHOLE[case]()


@pytest.fixture(scope="module")
async def ran(request: pytest.FixtureRequest) -> dict[Block | str, BaseException | None]:
    """What each selected case raised, all run at once, each with its own ``simulate``."""
    # The tour and the tutorial are a dozen commands each: 16 s on a quiet machine, past 60 s
    # at a load of 9 (each command has its own 60 s limit, so none hangs unseen).
    cases = selected(request, tests=WHOLE)
    return await at_once(cases, _body, limit=len(cases) or 1, within=240)


# (the first test waits for every case's run: the run's own bound, not pytest's 60 s)
@pytest.mark.timeout(300)
@pytest.mark.parametrize("block", SHELL, ids=str)
async def test_shell_block_runs_against_simulate(
    block: Block, ran: dict[Block | str, BaseException | None]
) -> None:
    outcome(ran, block)


@pytest.mark.timeout(300)
async def test_the_command_line_tour_runs_in_order_against_simulate(
    ran: dict[Block | str, BaseException | None],
) -> None:
    """``the_command_line_tour_runs_in_order``."""
    outcome(ran, TOUR_TEST)


@pytest.mark.timeout(300)
async def test_the_tutorial_works_as_printed(
    ran: dict[Block | str, BaseException | None],
) -> None:
    """``the_tutorial_works_as_printed``."""
    outcome(ran, TUTORIAL_TEST)
