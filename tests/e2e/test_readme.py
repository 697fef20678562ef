"""Every code block of the README runs, as printed, against the simulator.

Python blocks run as programs with ``BKJOB_*`` pointing at a simulator this test starts.
``text`` blocks are output, not code. A block preceded by
``<!-- readme-test: skip (reason) -->`` is not run: it needs a real bk-job, or it is the
suite itself; there must be few. ``tests/e2e/test_docs.py`` and ``test_docs_shell.py`` run the
blocks of ``docs/`` with this module's machinery (``blocks``, ``sim``, ``run``, ``check_output``).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import sys
from collections.abc import AsyncIterator

import anyio
import attrs
import pytest

from bkjob_async import HostStatus, StepType
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

from .conftest import SCOPE

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(
    r"(?:<!-- readme-test: skip \((?P<skip>[^)]+)\) -->\n)?"
    r"^```(?P<lang>\{[\w-]+\}|[a-z]*)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


@attrs.frozen
class Block:
    path: pathlib.Path
    line: int
    lang: str
    body: str
    skip: str | None

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.lang})"


def blocks(path: pathlib.Path = README) -> list[Block]:
    """Return the fenced blocks of a Markdown file (``{directive}`` fences are not blocks)."""
    text = path.read_text(encoding="utf-8")
    return [
        Block(path, text.count("\n", 0, m.start("body")), m["lang"], m["body"], m["skip"])
        for m in FENCE.finditer(text)
        if not m["lang"].startswith("{")  # a MyST directive ({toctree}, {eval-rst}): no code
    ]


def runnable(lang: str, path: pathlib.Path = README) -> list[Block]:
    return [b for b in blocks(path) if b.lang == lang and b.skip is None]


def test_every_block_is_tagged_and_few_are_skipped() -> None:
    found = blocks()
    # The landing page: the two commands, the environment, and one example each of a call,
    # a watch and a test (the rest of the tour is in docs/, run by test_docs_shell.py).
    assert len(found) >= 5
    assert len(runnable("python")) >= 3
    assert {b.lang for b in found} <= {"python", "sh", "text"}, [str(b) for b in found]
    assert len([b for b in found if b.skip]) <= 2
    assert all(b.lang != "text" for b in found if b.skip)
    # No runnable shell block: the command-line tour lives in docs/howto/command-line.md,
    # where test_docs_shell.py runs it; a new one here needs a test of its own.
    assert runnable("sh") == []


@contextlib.asynccontextmanager
async def simulator() -> AsyncIterator[BkJobSimulator]:
    """A simulator holding jobs 10001 (succeeds), 10002 (a host fails), 10003 (waits)."""
    async with BkJobSimulator(
        seed=5, host_duration=(0.05, 0.2), host_start_delay=0.0, retry_lag=0.05, fail_rate=0.3
    ) as started:
        bad = HostPlan(outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=1)
        started.create_job(SCOPE, [StepPlan(hosts=3)])
        started.create_job(SCOPE, [StepPlan(hosts=[HostPlan(), bad])])
        started.create_job(SCOPE, [StepPlan(hosts=1), StepPlan(StepType.MANUAL_CONFIRM)])
        yield started


@pytest.fixture
async def sim() -> AsyncIterator[BkJobSimulator]:
    """``simulator()``, a test's own."""
    async with simulator() as started:
        yield started


def environment(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BKJOB_")}
    env.update(
        BKJOB_URL=url,
        BKJOB_SCOPE="biz:2",
        BKJOB_APP_CODE="readme",
        BKJOB_APP_SECRET="readme-secret",
        BKJOB_USERNAME="admin",
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    )
    return env


async def run(argv: list[str], url: str) -> tuple[int, str, str]:
    with anyio.fail_after(40):
        done = await anyio.run_process(argv, env=environment(url), check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.parametrize("block", runnable("python"), ids=str)
async def test_python_block_runs_as_printed(block: Block, sim: BkJobSimulator) -> None:
    status, out, err = await run([sys.executable, "-c", block.body], sim.url)
    assert status == 0, f"{block} failed:\n{err}"
    assert "Traceback" not in err
    check_output(block, out)


def check_output(block: Block, out: str) -> None:
    """Check what an example printed, for the examples whose output says something testable."""
    ported = "check_job" in block.body or "client.host_logs" in block.body
    if "failed_host_logs" in block.body and not ported:
        # (A one-shot check's example, and the ported apps' results from logs, print what their
        # page shows: test_docs_blueking_apps.py.)
        # The poller example prints readable status names, never raw codes, and the logs of
        # the failed hosts of a failed job (the simulator fails 30% of generated hosts).
        assert "finished: SUCCESS" in out
        assert "finished: FAIL" in out
        assert re.search(r"  step \d+ .*: .*exit code", out, re.DOTALL)
        assert re.search(r"\(first seen\) -> [A-Z_]+", out)
        assert not re.search(r"\b\d+ -> \d+\b", out)
    if "failed_container_logs" in block.body:
        # The containers how-to: the poller's ContainerTransitions follow each of the ten
        # containers to its end (seed 5 fails one), then the failed ones' logs are printed.
        ends = dict(re.findall(r"(?m)^(\S+ \(container \d+\)): .* -> ([A-Z_]+)$", out))
        assert len(ends) == 10, out
        assert "RUNNING" not in ends.values()
        failed = sorted(c for c, status in ends.items() if status != "SUCCESS")
        assert failed, out
        assert re.search(r"(?m)^job \d+ finished: FAIL$", out)
        logs = re.findall(r"(?m)^  step \d+ (.+):\n    .*\n    .*exit code 1$", out)
        assert sorted(logs) == failed, out
    if (
        "BkJobSimulator(virtual_clock=True) as sim" in block.body
        and "sim.advance(10.0)" in block.body
    ):
        assert out == "FAIL ['FAILED']\n"
    if "create_file_source" in block.body:
        # The endpoints page: the credential's password never prints; the rest as shown there.
        assert "s3cret-pw" not in out
        assert "password='***'" in out.splitlines()[0]
        assert out.splitlines()[1:] == [
            "Build artifacts BLUEKING_ARTIFACTORY True",
            "deploy Linux",
            "ping the db SUCCESS",
        ]
    if "SqliteStore" in block.body and "-- restarted --" in block.body:
        # The durable example stops after two events, restarts, and resumes: the job still
        # ends once, with no event handled twice.
        before, after = out.split("-- restarted --\n")
        assert len(before.splitlines()) == 2
        assert after.count("JobFinished") == 1
        ids = [line.split()[1] for line in out.splitlines() if " " in line]
        assert len(ids) == len(set(ids))
    if "MockTransport(handler)" in block.body:
        lines = out.splitlines()
        assert sorted(lines[:5]) == [f"{job} SUCCESS" for job in range(10001, 10006)]
        assert lines[5] == "NotFoundError"
        # On virtual time: the hosts' 1-30 s and the poller's 5 s gaps took no real time.
        assert re.fullmatch(r"(\d+) s of virtual time", lines[6])
        assert int(lines[6].split()[0]) >= 5
        assert lines[7:] == []
    if "PollerMetrics" in block.body:
        assert "bkjob_poller_polls_total" in out
        assert 'bkjob_events_total{type="job_finished"} 1.0' in out


def commands(block: Block) -> list[str]:
    return [line for line in block.body.splitlines() if line.strip() and not line.startswith("#")]


def is_tour(block: Block) -> bool:
    return any(line.startswith("bkjob-async status 10001") for line in commands(block))


#: The command-line tour against ``bkjob-async simulate`` as started by hand: by the first
#: words of each command, its exit status and a line its output must have.
TOUR = {
    "bkjob-async status 10001 10002 --failed": (1, r"job 10002\s+FAIL\(4\)\s+finished"),
    "bkjob-async watch 10001 10002": (1, r"job 10002: FAIL \(step \d+: 1 failed host\)"),
    "bkjob-async logs 10002 --failed": (
        0,
        r"== job 10002 step \d+ host .*SCRIPT_NOT_ZERO.*exit 1 ==",
    ),
    "bkjob-async list --since 1h --status FAIL": (0, r"(?m)^10002\s+FAIL\(4\)"),
    "bkjob-async launch script": (0, r"SUCCESS \(9\)\s+1\n"),
    "bkjob-async operate 10003 confirm": (
        0,
        r'"event":"operation_accepted","job_instance_id":10003',
    ),
    "bkjob-async demo": (0, r"no job has failed hosts: nothing to retry|retry"),
}


def test_help_gives_a_real_overview() -> None:
    import pydoc

    import bkjob_async

    doc = bkjob_async.__doc__ or ""
    assert len(doc.splitlines()) >= 30
    for name in ("BkJobClient", "Poller", "PollingStalled", "aclose()", "failed_host_logs"):
        assert name in doc
    # Issue 28: the tour covers durable watches, the cluster and testing without a socket.
    for name in ("SqliteStore", "resume", "bkjob_async.cluster", "Worker", "MockTransport"):
        assert name in doc
    assert "bkjob_async.metrics" in pydoc.render_doc(bkjob_async)


def test_public_cli_and_metrics_names_have_docstrings() -> None:
    import importlib
    import inspect

    modules = [
        "bkjob_async.metrics",
        *(
            f"bkjob_async.cli.{name}"
            for name in (
                "_catalog",
                "_commands",
                "_connect",
                "_follow",
                "_format",
                "_runtime",
            )
        ),
    ]
    missing = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():  # every public name made here, not only __all__
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if name.startswith("_") or value.__module__ != module_name:
                continue
            if not inspect.getdoc(value):
                missing.append(f"{module_name}.{name}")
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_") or not inspect.isfunction(member):
                        continue
                    if not inspect.getdoc(member):
                        missing.append(f"{module_name}.{name}.{attr}")
    assert not missing


#: Where README.zh-CN.md links the docs: the Chinese site (Read the Docs' translation of the
#: English project, ``/zh-cn/<version>/``: docs/_ext/languages.py), a page's ``.html``.
CHINESE_SITE = "https://bkjob-async.readthedocs.io/zh-cn/latest/"


def _uncommented(block: Block) -> str:
    """A block's code without its comments (``docs/_ext/codecomments.py``'s reading)."""
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        import codecomments
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    lines = block.body.split("\n")
    for line, column, _ in codecomments.every_comment(block.body, block.lang):
        lines[line] = lines[line][:column]
    return "\n".join(lines)


def test_the_chinese_readme_has_the_english_one_s_code_and_is_linked_from_its_top() -> None:
    """README.zh-CN.md has the English README's code blocks, skipped alike, the code byte for
    byte but for the comments, which are Chinese: the blocks this module runs cover both."""
    chinese = ROOT / "README.zh-CN.md"
    english = [(b.lang, _uncommented(b), b.skip) for b in blocks()]
    found = blocks(chinese)
    assert len([b for b in found if b.lang == "python"]) >= 3
    assert [(b.lang, _uncommented(b), b.skip) for b in found] == english
    comments = [c for b in found for c in re.findall(r"#\s*([^\n]+)", b.body)]
    assert len(comments) >= 10
    assert [c for c in comments if not re.search("[\u4e00-\u9fff]", c)] == []
    assert "[简体中文](README.zh-CN.md)" in "".join(
        README.read_text(encoding="utf-8").splitlines(True)[:5]
    )
    assert "[English](README.md)" in chinese.read_text(encoding="utf-8")


def _prose(path: pathlib.Path) -> str:
    """Return a README without its code blocks."""
    return re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)


def test_the_chinese_readme_keeps_up_with_the_english_prose() -> None:
    """What the English prose names the Chinese names too: every page it links (on the Chinese
    site, never an English source; the language switch aside) and every identifier in its code
    spans. A sentence added to README.md alone
    (a new API generation, a new page) fails here until README.zh-CN.md says it too."""
    english, chinese = _prose(README), _prose(ROOT / "README.zh-CN.md")
    links = re.compile(r"\]\(([^)]+)\)")
    code = re.compile(r"`([^`]+)`")
    # A page of docs/ is linked on the Chinese site; the repository's files (LICENSE) as they are.
    wanted = {
        CHINESE_SITE + link.removeprefix("docs/").removesuffix(".md") + ".html"
        if link.startswith("docs/")
        else link
        for link in links.findall(english)
    }
    linked = set(links.findall(chinese))
    assert wanted - linked - {"README.zh-CN.md"} == set()
    assert [link for link in linked if link.startswith("docs/")] == []
    assert set(code.findall(english)) - set(code.findall(chinese)) == set()
