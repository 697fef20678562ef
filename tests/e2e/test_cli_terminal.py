"""The live view in a real terminal: ``tmux`` runs the CLI, ``capture-pane`` reads the screen.

Skipped (nothing is installed) when ``tmux`` is missing; ``scripts/check-live-view.sh`` is the
same check by hand. Each test is bounded: it waits for what it checks, never for a fixed time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

from ..load import deadline, slowdown

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (the tests install nothing)"
)


class Tmux:
    """One private tmux server (its own socket) with one pane running a command."""

    def __init__(self, command: list[str], width: int = 110, height: int = 45) -> None:
        self.socket = f"bkjob-cli-test-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height
        script = " ".join(_quote(part) for part in command) + "; echo EXIT=$?; sleep 60"
        # The pane's size is tmux's: no COLUMNS or LINES (an xdist worker has 80 and 24).
        skip = ("TMUX", "BKJOB_", "COLUMNS", "LINES")
        env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
        env["TERM"] = "xterm-256color"
        size = ["-x", str(width), "-y", str(height)]
        self._tmux("new-session", "-d", "-s", "t", "-c", os.getcwd(), *size, script, env=env)

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

    def make(command: list[str], width: int = 110, height: int = 45) -> Tmux:
        made.append(Tmux(command, width, height))
        return made[-1]

    yield make
    for session in made:
        session.close()


CLI = [sys.executable, "-m", "bkjob_async.cli"]
DEMO = [*CLI, "demo"]


def panel(screen: str) -> list[str] | None:
    """Return the live panel's lines on a screen, top border to bottom border (None: not whole)."""
    lines = screen.splitlines()
    top = next((i for i, line in enumerate(lines) if line.startswith("╭─ bkjob-async")), None)
    if top is None:
        return None
    bottom = next((i for i in range(top, len(lines)) if lines[i].startswith("╰")), None)
    return None if bottom is None else lines[top : bottom + 1]


def wait_for_panel(term: Tmux, text: str, timeout: float = 15.0) -> tuple[str, list[str]]:
    """Wait until the screen shows ``text`` in a whole panel (a capture can catch a redraw)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = term.screen()
        lines = panel(screen) if text in screen else None
        if lines is not None:
            return screen, lines
        time.sleep(0.1)
    raise AssertionError(f"no whole panel with {text!r}; the screen:\n{term.screen(True)}")


DEMO_ARGS = [
    "--jobs",
    "20",
    "--hosts",
    "10",
    "--fail-rate",
    "0.03",
    "--host-duration",
    "0.5",
    "1.5",
]


def test_the_live_view_fits_80x24(tmux_factory) -> None:
    term = tmux_factory([*DEMO, *DEMO_ARGS], 80, 24)
    # The confirm job is waiting; the whole panel is on the screen: top and bottom border.
    screen, lines = wait_for_panel(term, "bkjob-async operate")
    assert len(lines) <= 23
    assert all(len(line) <= 80 for line in lines)
    assert all(line.startswith(("╭", "│", "╰")) for line in lines)  # no line wrapped out
    assert not any(line.strip() == "..." for line in screen.splitlines())  # not cut
    assert any("req/s" in line and "in flight" in line for line in lines)
    waiting = next(line for line in lines if "bkjob-async operate" in line)
    assert waiting.rstrip("│ ").endswith(" confirm")
    assert "waiting 1" in screen


def test_the_live_view_uses_200x50(tmux_factory) -> None:
    term = tmux_factory([*DEMO, *DEMO_ARGS], 200, 50)
    live, lines = wait_for_panel(term, "bkjob-async operate")
    assert len(lines) >= 40  # the space is used: a job table and many transitions
    assert "╭─ bkjob-async demo: 20 jobs x 10 hosts" in live
    assert "━" in live  # the progress bar
    assert "/200 finished" in live
    assert "unchanged)" in live  # the wide form of the figures
    assert "RUNNING(7)" in live  # and of the transitions
    final = term.wait_for("EXIT=", timeout=20, history=True)
    assert "EXIT=0" in final
    assert "Jobs by final status" in final
    assert "transition latency p50" in final
    assert "retry round of job" in final
    assert "Traceback" not in final
    assert term.cursor_visible()


def test_ctrl_c_restores_the_terminal(tmux_factory) -> None:
    term = tmux_factory([*DEMO, "--jobs", "5", "--hosts", "4", "--host-duration", "20", "30"])
    term.wait_for("Latest transitions", timeout=10)
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


def test_feedback_within_2_seconds_from_a_silent_server(tmux_factory) -> None:
    """A server that never answers: the live view is up, saying so, at once; then one line."""
    with socket.socket() as silent:  # listens (the kernel completes handshakes), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env = ["env", f"BKJOB_URL={url}", "BKJOB_SCOPE=biz:2", "BKJOB_APP_CODE=a"]
        env += ["BKJOB_APP_SECRET=s", "BKJOB_USERNAME=admin"]
        before = slowdown()
        started = time.monotonic()
        term = tmux_factory([*env, *CLI, "watch", "10001", "--timeout", "3"], 80, 24)
        term.wait_for(f"connecting to {url}", timeout=10)
        shown_after = time.monotonic() - started
        allowed = deadline(2.0, before, slowdown())  # (2 s with a core to spare)
        final = term.wait_for("EXIT=", timeout=15, history=True)
    assert shown_after < allowed, f"the first frame took {shown_after:.2f} s (> {allowed:.2f})"
    assert "EXIT=2" in final
    unwrapped = "".join(final.splitlines())  # the message wraps at 80 columns
    assert f"no answer from {url}" in unwrapped
    assert "within 3 s (--timeout)" in unwrapped
