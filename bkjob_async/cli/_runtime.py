"""What every command runs with: its streams, environment, exit codes and the Ctrl-C switch.

Rule: commands never touch ``sys.stdout``, ``sys.stderr`` or ``os.environ`` directly; they use a
``Context``, so tests can drive them in-process. An expected failure is a ``CliError`` carrying
its exit status and a message a person can act on; only bugs end in a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import TYPE_CHECKING, TextIO

import anyio

from .._numbers import ID

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE_CLOSED",
    "EXIT_USAGE",
    "CliError",
    "Context",
    "printable",
]

#: Every job succeeded (or the one-shot command did what it was asked).
EXIT_OK = 0
#: A job failed, could not be watched, or an operation was refused.
EXIT_FAILED = 1
#: Bad arguments, missing credentials, or bk-job could not be used at all.
EXIT_USAGE = 2
#: Stopped by Ctrl-C (SIGINT) or SIGTERM; a partial summary was printed.
EXIT_INTERRUPTED = 130
#: Stdout was closed under us (``bkjob-async watch ... | head -1``), as a shell's SIGPIPE.
EXIT_PIPE_CLOSED = 141


class CliError(Exception):
    """An expected failure: print ``message`` (no traceback) and exit with ``status``."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Context:
    """Streams, environment and interrupt state of one command run.

    ``interrupt`` is set by the signal handler (or by a test); every ``interruptible()`` scope
    open at that moment, or opened later, is cancelled, so in-flight requests stop and the
    command can print what it has.
    """

    def __init__(
        self,
        *,
        stdout: TextIO,
        stderr: TextIO,
        env: Mapping[str, str],
        interrupt: anyio.Event | None = None,
        stdin: TextIO | None = None,
        argv: Sequence[str] = (),
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        #: Where ``-`` among the job ids reads more ids (``read_ids``).
        self.stdin = stdin
        self.env = env
        #: The command's arguments as given (what a resume hint repeats).
        self.argv = tuple(argv)
        self.interrupt = interrupt or anyio.Event()
        self._scopes: list[anyio.CancelScope] = []

    @property
    def tty(self) -> bool:
        """Tell whether stdout is a terminal (live view) rather than a pipe or file (plain)."""
        isatty = getattr(self.stdout, "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # a closed stream
            return False

    @property
    def interrupted(self) -> bool:
        """Tell whether Ctrl-C (or SIGTERM) arrived."""
        return self.interrupt.is_set()

    def cancel_all(self) -> None:
        """Cancel every open interruptible scope (called once the interrupt is set)."""
        for scope in self._scopes:
            scope.cancel()

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[anyio.CancelScope]:
        """Run the body in a scope that the interrupt cancels."""
        scope = anyio.CancelScope()
        if self.interrupted:
            scope.cancel()
        self._scopes.append(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.remove(scope)

    def out(self, text: str = "") -> None:
        """Write a line to stdout, control characters escaped (``printable``)."""
        print(printable(text, lines=True), file=self.stdout, flush=True)

    def err(self, text: str) -> None:
        """Write a line to stderr, control characters escaped (``printable``)."""
        print(printable(text, lines=True), file=self.stderr, flush=True)


def _escapes(*, lines: bool) -> dict[int, str]:
    codes = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
    codes += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]  # bidirectional overrides
    return {c: f"\\u{c:04x}" for c in codes if not (lines and c == 0x0A)}


_LINES, _ONE_LINE = _escapes(lines=True), _escapes(lines=False)


def printable(text: str, *, lines: bool = False) -> str:
    """Return ``text`` with every control character escaped as ``\\uXXXX``.

    A job, step or host name, a server's message or a log can hold escape sequences that
    clear the screen, retitle the window or move the cursor to draw a fake line: every human
    line the CLI prints goes through here (``Context.out``, ``err``; the live view's names).
    C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional overrides
    are escaped; newlines too unless ``lines`` (the CLI's own line breaks). The escape is
    JSON's, so a JSON line (which has none of them raw) stays valid JSON.
    """
    return text.translate(_LINES if lines else _ONE_LINE)


def read_ids(given: Sequence[int | str], stdin: TextIO | None) -> list[int]:
    """Return the job ids of ``given``, where ``-`` stands for those read from ``stdin``.

    Stdin holds ids separated by white space, or JSON lines with a ``job_instance_id`` (what
    ``list --json`` and ``watch --json`` print); each id once, in the order first given.
    """
    ids: list[int] = []
    for value in given:
        if value != "-":
            ids.append(int(value))
            continue
        if stdin is None:
            raise CliError("'-' reads job ids from stdin, and there is none")
        for number, line in enumerate(stdin, start=1):
            text = line.strip()
            if text.startswith("{"):
                try:
                    found = json.loads(text).get("job_instance_id")
                except (ValueError, AttributeError):
                    found = None
                if found is None:
                    continue  # (a line of another kind: a summary, a progress object)
                words = [str(found)]
            else:
                words = text.split()
            for word in words:
                try:
                    ids.append(ID(word))
                except argparse.ArgumentTypeError as exc:
                    raise CliError(f"stdin line {number}: {exc}") from None
    if not ids:
        raise CliError("no job id given (stdin had none)")
    return list(dict.fromkeys(ids))
