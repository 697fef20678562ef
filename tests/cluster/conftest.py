"""Fixtures of the cluster tests: a real ``redis-server``, empty for each test, and clusters on it.

Every test here talks to a real Redis (see ``redis_server.py``); none uses a fake. One
``redis-server`` process serves the whole session: each test gets it running, answering and
flushed (a test that froze, stopped or reconfigured it is undone first). Without
``redis-server`` the tests skip, unless ``CI=true``: then they fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .redis_server import RedisServer, find_redis_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def _redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One ``redis-server`` for the session (starting one costs more than most tests here)."""
    server = RedisServer(find_redis_server(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(_redis_session: RedisServer) -> Iterator[RedisServer]:
    """Return the session's ``RedisServer`` on 127.0.0.1, running, default-configured and
    empty, as if started for this test."""
    _redis_session.reset()
    try:
        yield _redis_session
    finally:
        _redis_session.thaw()


@pytest.fixture
async def make_cluster(redis_server: RedisServer) -> AsyncIterator[Callable[..., Any]]:
    """Return a factory of ``Cluster`` objects on ``redis_server`` (each its own connections),
    closed after the test."""
    from bkjob_async.cluster import Cluster

    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        # The test's own reads wait as long as a busy machine needs: a test fails on the
        # product's behaviour, never on Redis answering slowly under load. A test of
        # timeouts passes its own.
        options: dict[str, Any] = {"name": "test", "partitions": 64, "timeout": 10.0}
        options.update(kwargs)
        url = options.pop("url", redis_server.url)
        cluster = Cluster(url, **options)
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            await cluster.aclose()


class Child:
    """A Python subprocess running ``tests.cluster.procs``; lines of its stdout are results."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.cluster.procs", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def say(self, text: str) -> None:
        """Write one line to its stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def line(self) -> str:
        """Return its next output line (fail if it exited)."""
        assert self.process.stdout is not None
        text = self.process.stdout.readline()
        if not text:
            self.process.wait(10)
            assert self.process.stderr is not None
            raise AssertionError(
                f"child exited {self.process.returncode}: {self.process.stderr.read()}"
            )
        return text.strip()

    def finish(self, timeout: float = 30) -> list[str]:
        """Wait for it to exit 0; return the rest of its output lines."""
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, err
        return out.splitlines()

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
        self.process.communicate(timeout=10)


@pytest.fixture
def child() -> Iterator[Callable[..., Child]]:
    """Return a factory of ``Child`` processes, all killed after the test."""
    made: list[Child] = []

    def make(*args: str) -> Child:
        proc = Child(*args)
        made.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in made:
            proc.kill()
