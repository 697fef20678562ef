"""Every code block of ``docs/`` runs, as printed, against the simulator (as the README's do).

The machinery is ``test_readme.py``'s: the same block parser, the same ``sim`` fixture and
output checks for Python blocks. Shell blocks run line by line with ``bash`` against
``bkjob-async simulate`` started as a user starts it, with the ``export`` lines it prints;
a line may exit 0 or 1 (1: a job it shows has failed, as documented), never with a usage or
connection error or a traceback. The command-line tour runs in order with the exit status
and a line of output checked for each command, and the tutorial runs from top to bottom
against one ``simulate``, as a newcomer follows it. A block that cannot run is preceded by
``<!-- readme-test: skip (reason) -->``. The shell blocks, the tour and the tutorial are in
``test_docs_shell.py``.

The Python blocks run at once, ``AT_ONCE`` at a time, each against its own simulator
(``at_once``): one after another they held a worker for 100 s at a load of 10, mostly waiting
on the poller's schedule. Each block is still a test of its own, failing with its own message.
"""

from __future__ import annotations

import re
import sys

import pytest

from tests.e2e.at_once import at_once, outcome, selected
from tests.e2e.test_readme import ROOT, Block, blocks, check_output, is_tour, run, simulator

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


#: Blocks running at once: each is a Python process (about 0.7 s of CPU, its imports) that
#: waits on its simulator for 1-7 s.
AT_ONCE = 6


async def runs_as_printed(block: Block) -> None:
    """Run ``block`` as a program against a simulator of its own, and check what it printed."""
    async with simulator() as sim:
        status, out, err = await run([sys.executable, "-c", block.body], sim.url)
    assert status == 0, f"{block} failed:\n{err}"
    assert "Traceback" not in err
    check_output(block, out)


@pytest.fixture(scope="module")
async def python_blocks(request: pytest.FixtureRequest) -> dict[Block, BaseException | None]:
    """What each selected Python block's run raised, all run at once (``AT_ONCE``)."""
    # (each block has run()'s 40 s; the whole run at most its waves' worth)
    return await at_once(selected(request), runs_as_printed, limit=AT_ONCE, within=240)


# (the first test waits for every block's run: the run's own bound, not pytest's 60 s)
@pytest.mark.timeout(300)
@pytest.mark.parametrize("block", runnable("python"), ids=str)
async def test_python_block_runs_as_printed(
    block: Block, python_blocks: dict[Block, BaseException | None]
) -> None:
    outcome(python_blocks, block)
