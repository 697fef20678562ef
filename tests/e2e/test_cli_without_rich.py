"""Without the ``cli`` extra (no ``rich``), a terminal gets plain lines and is told once how
to get the live view (issue 28)."""

from __future__ import annotations

import sys

import pytest

from bkjob_async.testing import BkJobSimulator, StepPlan

from ..cli_run import FAST, SCOPE, SIM, run

pytestmark = pytest.mark.sim(**SIM)

HINT = "pip install 'bkjob-async[cli]'"


@pytest.fixture
def no_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``rich`` impossible to find or import, as when the extra is not installed."""
    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rich", None)


async def test_watch_on_a_terminal_says_once_how_to_get_the_live_view(
    no_rich: None, sim: BkJobSimulator, env: dict[str, str]
) -> None:
    ids = [str(sim.create_job(SCOPE, [StepPlan(hosts=3)])) for _ in range(3)]
    result = await run(["watch", *ids, *FAST, "--timeout", "10"], env, tty=True)
    assert result.status == 0, result.err
    assert result.err.count(HINT) == 1
    assert "for the live view" in result.err
    assert "jobs: running" in result.out  # plain progress lines instead of the panel
    assert "╭" not in result.out


async def test_the_demo_on_a_terminal_says_it_once_too(no_rich: None) -> None:
    argv = ["demo", "--jobs", "3", "--hosts", "2", "--host-duration", "0.05", "0.2"]
    result = await run(argv, tty=True)
    assert result.err.count(HINT) == 1
    assert "╭" not in result.out


async def test_json_or_a_pipe_needs_no_hint(
    no_rich: None, sim: BkJobSimulator, env: dict[str, str]
) -> None:
    job = str(sim.create_job(SCOPE, [StepPlan(hosts=1)]))
    for argv, tty in ((["watch", job, "--json"], True), (["watch", job], False)):
        result = await run([*argv, *FAST], env, tty=tty)
        assert result.status == 0, result.err
        assert HINT not in result.err


async def test_a_dumb_terminal_gets_plain_lines(sim: BkJobSimulator, env: dict[str, str]) -> None:
    """``TERM=dumb`` cannot redraw a panel (rich prints only its last frame): plain lines."""
    job = str(sim.create_job(SCOPE, [StepPlan(hosts=2)]))
    result = await run(["watch", job, *FAST], {**env, "TERM": "dumb"}, tty=True)
    assert result.status == 0, result.err
    assert "jobs: running" in result.out
    assert "╭" not in result.out
    assert "\x1b[" not in result.out
    assert HINT not in result.err  # rich is there: nothing to install
