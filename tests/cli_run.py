"""Running the command line in tests: an operator's environment and an in-process runner.

``run(argv)`` drives ``bkjob_async.cli.amain`` on the test's event loop (so a simulator on that
loop keeps serving) with captured stdout/stderr; ``tty=True`` makes stdout claim to be a terminal,
so the live view and tables render as they would for a person. ``cli_command()`` and
``subprocess_env(url)`` run it in a child process instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import attrs

from bkjob_async import Scope
from bkjob_async.cli import amain

SCOPE = Scope.biz(2)
APP_SECRET = "cli-SECRET-5e4d3c2b1a"
BK_TOKEN = "cli-BKTOKEN-0f9e8d7c"
SECRETS = (APP_SECRET, BK_TOKEN)
#: The simulator the commands run against (``pytestmark = pytest.mark.sim(**SIM)``, see
#: ``tests/conftest.py``): a real clock, hosts that finish in 50-200 ms.
SIM: dict[str, Any] = {
    "seed": 7,
    "host_duration": (0.05, 0.2),
    "host_start_delay": 0.0,
    "retry_lag": 0.05,
    "stop_delay": 0.05,
}
#: Poll flags fast enough for the simulator's short hosts.
FAST = ["--interval", "0.02", "--max-interval", "0.1"]


class TerminalIO(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@attrs.frozen
class Result:
    """What one command run printed and returned."""

    status: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """Return stdout without terminal escape sequences."""
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.out)

    @property
    def lines(self) -> list[dict[str, Any]]:
        """Return stdout parsed as JSON lines."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def assert_no_secret(self) -> None:
        for secret in SECRETS:
            assert secret not in self.out
            assert secret not in self.err
        assert "Traceback" not in self.err


def make_env(url: str, **extra: str) -> dict[str, str]:
    """Return the environment of a correctly configured operator."""
    env = {
        "BKJOB_URL": url,
        "BKJOB_SCOPE": "biz:2",
        "BKJOB_APP_CODE": "cli-app",
        "BKJOB_APP_SECRET": APP_SECRET,
        "BKJOB_USERNAME": "admin",
    }
    env.update(extra)
    return env


async def run(
    argv: list[str],
    env: Mapping[str, str] | None = None,
    *,
    tty: bool = False,
    interrupt: anyio.Event | None = None,
    stdin: str | None = None,
    out: io.StringIO | None = None,
) -> Result:
    """Run one command in-process and capture its output (``stdin``: what it may read;
    ``out``: where its standard output goes, for a test to read while it runs)."""
    if out is None:
        out = TerminalIO() if tty else io.StringIO()
    err = io.StringIO()
    given = None if stdin is None else io.StringIO(stdin)
    with anyio.fail_after(45):
        status = await amain(
            argv, stdout=out, stderr=err, env=env or {}, interrupt=interrupt, stdin=given
        )
    result = Result(status, out.getvalue(), err.getvalue())
    result.assert_no_secret()
    return result


@attrs.define
class Served:
    """A command serving pages in-process (``serving``): its address, its output, and its exit
    status once it has ended."""

    url: str
    out: io.StringIO
    err: io.StringIO
    status: int | None = None


@contextlib.asynccontextmanager
async def serving(argv: list[str], env: Mapping[str, str]) -> AsyncIterator[Served]:
    """Run a command that serves pages (``dashboard``) in-process; yield it once it has told its
    address on 127.0.0.1 (within 20 s); interrupt it when the block ends and wait for its end."""
    out, err = io.StringIO(), io.StringIO()
    interrupt = anyio.Event()
    ended: list[int] = []
    async with anyio.create_task_group() as tg:

        async def main() -> None:
            ended.append(await amain(argv, stdout=out, stderr=err, env=env, interrupt=interrupt))

        tg.start_soon(main)
        with anyio.fail_after(20):
            while "http://" not in err.getvalue():
                await anyio.sleep(0.05)
        url = re.search(r"http://127\.0\.0\.1:\d+/", err.getvalue())
        assert url, err.getvalue()
        command = Served(url[0], out, err)
        try:
            yield command
        finally:
            interrupt.set()
    command.status = ended[0]


def subprocess_env(url: str, **extra: str) -> dict[str, str]:
    """Return this process's environment with an operator's ``BKJOB_*`` settings for ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BKJOB_")}
    env.update(make_env(url, **extra))
    return env


def cli_command() -> list[str]:
    """Return the command that runs the CLI in a subprocess."""
    return [sys.executable, "-m", "bkjob_async.cli"]
