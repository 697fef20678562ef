"""Every child process a test starts and talks to line by line runs through ``Child``.

``Child(argv)`` starts ``[sys.executable, *argv]`` (``python=False``: ``argv`` as is) in the
repository root with the repository on ``PYTHONPATH``, unbuffered. Threads collect its stdout
lines (``lines``) and stderr lines (``err``); ``line()`` and ``wait_for(predicate)`` wait for
the next (matching) line, and fail the test with the child's stderr if it exits first or the
timeout passes. Timeouts are for a busy machine (a minute by default, never a fraction of a
second): a test fails on the product's behaviour, not on the machine being slow. ``tell``
writes a line to its stdin, ``signal`` sends a signal, ``kill`` SIGKILLs it and waits, ``stop``
(also on leaving a ``with`` block) ends it whatever its state: SIGCONT (it may be stopped), then
SIGKILL, wait, join the readers, close the pipes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
#: How long a test waits for a child's line or exit unless it says otherwise.
PATIENCE = 60.0


class Child:
    """One child process, its stdout and stderr read line by line in threads."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path = ROOT,
        python: bool = True,
    ) -> None:
        self.lines: list[str] = []
        self.err: list[str] = []
        self._read_upto = 0  # lines before this one were returned by line() / wait_for()
        self._changed = threading.Condition()
        self._ended = False  # stdout closed
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, *argv] if python else list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.process.stdout, self.lines), daemon=True
            ),
            threading.Thread(target=self._read, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def on_line(self, line: str) -> None:
        """Called in the reader thread for each stdout line (a subclass parses its own)."""

    def _read(self, pipe: IO[str], into: list[str]) -> None:
        for raw in pipe:
            line = raw.rstrip("\r\n")
            if into is self.lines:
                self.on_line(line)
            with self._changed:
                into.append(line)
                self._changed.notify_all()
        with self._changed:  # end of output: wake a waiter so it can fail at once
            self._ended = self._ended or into is self.lines
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def failure(self, what: str) -> AssertionError:
        """Return an error saying ``what`` went wrong, with the child's last output."""
        code = self.process.poll()
        state = "running" if code is None else f"exited {code}"
        return AssertionError(
            f"{what} ({self.process.args!r}, {state}); last stdout lines: {self.lines[-5:]};"
            " stderr:\n" + "\n".join(self.err[-40:])
        )

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = PATIENCE) -> str:
        """Return the first line not yet returned that matches ``predicate`` (the lines before
        it are passed over); fail if the child's output ends or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._ended or self._read_upto < len(self.lines):
                while self._read_upto < len(self.lines):
                    line = self.lines[self._read_upto]
                    self._read_upto += 1
                    if predicate(line):
                        return line
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise self.failure(f"no line awaited within {timeout} s")
        self._readers[1].join(PATIENCE)  # all of its stderr, for the message
        raise self.failure("the child's output ended before the line awaited")

    def line(self, timeout: float = PATIENCE) -> str:
        """Return its next stdout line (fail if it exits first)."""
        return self.wait_for(lambda _: True, timeout)

    def tell(self, line: str) -> None:
        """Write one line to its stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = PATIENCE) -> int:
        """Wait for it to exit (fail after ``timeout``); join the readers, close the pipes;
        return its exit code."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise self.failure(f"the child did not exit within {timeout} s") from None
        for reader in self._readers:
            reader.join(PATIENCE)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        return code

    def finish(self, timeout: float = PATIENCE) -> list[str]:
        """Close its stdin, wait for it to exit 0 (fail otherwise); return the lines not yet
        returned by ``line``/``wait_for``."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.wait(timeout) != 0:
            raise self.failure("the child failed")
        return self.lines[self._read_upto :]

    def kill(self) -> None:
        """SIGKILL it now and wait until it is gone (every line it wrote is in ``lines``)."""
        self.signal(signal.SIGKILL)
        self.wait()

    def stop(self) -> str:
        """End it whatever its state (stopped, running or gone); return its stderr."""
        if self.alive:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
        self.wait()
        return "\n".join(self.err)

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_python(code: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh interpreter in this one's environment and wait for
    its end; return what it printed and its exit status (not checked)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
