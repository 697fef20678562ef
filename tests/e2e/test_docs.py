"""Every code block of ``docs/`` runs, as printed, against the simulator (as the README's do).

The machinery is ``test_readme.py``'s: the same block parser, the same ``sim`` fixture and
output checks for Python blocks. Shell blocks run line by line with ``bash`` against
``bkjob-async simulate`` started as a user starts it, with the ``export`` lines it prints;
a line may exit 0 or 1 (1: a job it shows has failed, as documented), never with a usage or
connection error or a traceback. The command-line tour runs in order with the exit status
and a line of output checked for each command, and the tutorial runs from top to bottom
against one ``simulate``, as a newcomer follows it. A block that cannot run is preceded by
``<!-- readme-test: skip (reason) -->``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from tests.e2e.test_readme import (
    ROOT,
    TOUR,
    Block,
    blocks,
    check_output,
    commands,
    environment,
    is_tour,
    run,
    sim,  # noqa: F401  (the fixture the Python blocks run against)
)

DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial.md"
GENERATED = ("_build", "reference/api")
RUNS_IN = re.compile(r"runs in (tests/\S+\.py)")


def pages() -> list[Block]:
    found = []
    for path in sorted(DOCS.rglob("*.md")):
        relative = path.relative_to(DOCS).as_posix()
        if not relative.startswith(GENERATED):
            found += blocks(path)
    return found


def runnable(lang: str, *, tutorial: bool = False) -> list[Block]:
    return [
        b for b in pages() if b.lang == lang and b.skip is None and (b.path == TUTORIAL) == tutorial
    ]


def test_every_block_is_tagged_and_says_why_it_is_skipped() -> None:
    found = pages()
    assert len([b for b in found if b.lang == "python"]) >= 12
    assert {b.lang for b in found} <= {"python", "sh", "text", "json"}, [str(b) for b in found]
    assert all(b.lang != "text" for b in found if b.skip)
    # A block that runs in a test of its own (in a real Django project, a Celery worker) says
    # which, and that test reads the block's page.
    elsewhere = [b for b in found if b.skip and RUNS_IN.search(b.skip)]
    for block in elsewhere:
        test = RUNS_IN.search(block.skip or "")
        assert test is not None
        assert block.path.name in (ROOT / test[1]).read_text(encoding="utf-8"), str(block)
    skipped = [b for b in found if b.skip and b not in elsewhere]
    # Few: what needs a real bk-job, a Redis and a bk-job, or serves until Ctrl-C.
    assert len(skipped) <= len(found) // 3, [f"{b}: {b.skip}" for b in skipped]
    assert len([b for b in runnable("sh") if is_tour(b)]) == 1


@pytest.mark.parametrize("block", runnable("python"), ids=str)
async def test_python_block_runs_as_printed(block: Block, sim) -> None:  # noqa: F811
    status, out, err = await run([sys.executable, "-c", block.body], sim.url)
    assert status == 0, f"{block} failed:\n{err}"
    assert "Traceback" not in err
    check_output(block, out)


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


SHELL = [b for b in runnable("sh") + runnable("sh", tutorial=True) if not is_tour(b)]


@pytest.mark.parametrize("block", SHELL, ids=str)
async def test_shell_block_runs_against_simulate(block: Block) -> None:
    async with simulate() as env:
        for line in commands(block):
            status, output = await bash(line, env)
            assert status in (0, 1), f"{block}: {line!r} exited {status}:\n{output}"
            assert "Traceback" not in output, output
            assert "usage:" not in output, output


async def test_the_command_line_tour_runs_in_order_against_simulate() -> None:
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


async def test_the_tutorial_works_as_printed() -> None:
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
                    assert "Traceback" not in output
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
