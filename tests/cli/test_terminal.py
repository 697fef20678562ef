"""The live view in a real terminal: ``tmux`` runs the CLI, ``capture-pane`` reads the screen.

Skipped when ``tmux`` is not installed; ``scripts/check-live-view.sh`` is the same check by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One private tmux server (its own socket) with one pane running a command."""

    def __init__(self, command: list[str], width: int = 110, height: int = 45) -> None:
        self.socket = f"bkjob-cli-test-{uuid.uuid4().hex[:8]}"
        script = " ".join(_quote(part) for part in command) + "; echo EXIT=$?; sleep 60"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "BKJOB_"))}
        env["TERM"] = "xterm-256color"
        self._tmux(
            "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), script, env=env
        )

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
            env=env,
        )
        return done.stdout

    def screen(self, history: bool = False) -> str:
        """Return what the pane shows now (with ``history``: everything since it started)."""
        return self._tmux("capture-pane", "-p", "-t", "t", *(["-S", "-"] if history else []))

    def wait_for(self, text: str, timeout: float = 30.0, history: bool = False) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen(history)
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen(True)}")

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def cursor_visible(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "t", "#{cursor_flag}").strip() == "1"

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def tmux_factory():
    made: list[Tmux] = []

    def make(command: list[str]) -> Tmux:
        made.append(Tmux(command))
        return made[-1]

    yield make
    for session in made:
        session.close()


DEMO = [sys.executable, "-m", "bkjob_async.cli", "demo"]


def test_demo_live_view_in_a_real_terminal(tmux_factory) -> None:
    argv = [
        *DEMO,
        "--jobs",
        "20",
        "--hosts",
        "10",
        "--fail-rate",
        "0.1",
        "--host-duration",
        "1",
        "3",
    ]
    term = tmux_factory(argv)
    live = term.wait_for("Latest transitions")
    assert "╭─ bkjob-async demo: 20 jobs x 10 hosts" in live
    assert "━" in live  # the progress bar
    assert "req/s" in live
    assert "Host status" in live
    assert "/200 finished" in live
    final = term.wait_for("EXIT=", timeout=45, history=True)
    assert "EXIT=0" in final
    assert "Jobs by final status" in final
    assert "transition latency p50" in final
    assert "retry round of job" in final
    assert "Traceback" not in final
    assert term.cursor_visible()


def test_ctrl_c_restores_the_terminal(tmux_factory) -> None:
    term = tmux_factory([*DEMO, "--jobs", "5", "--hosts", "4", "--host-duration", "20", "30"])
    term.wait_for("→ RUNNING")
    assert not term.cursor_visible()  # the live view hides it while drawing
    term.send("C-c")
    final = term.wait_for("EXIT=", history=True)
    assert "EXIT=130" in final
    assert "interrupted after" in final
    assert "(not finished)" in final  # the partial summary: hosts not final yet, apart
    assert "RUNNING (7)" not in final
    assert "Traceback" not in final
    assert term.cursor_visible()
