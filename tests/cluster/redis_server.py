"""A real ``redis-server`` for tests and benchmarks: 127.0.0.1, a free port, no persistence
(unless a test restarts it with its append-only file: ``restart_keeping_data``).

Never a fake: every cluster guarantee is proven against this process. ``find_redis_server``
skips (or fails, when ``CI=true``) if the binary is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest

from ..child import Child

INSTALL_HINT = (
    "redis-server not found: `make redis` installs it as root (apt-get install redis-server); "
    "without root, install Redis 6.2+ any other way and put redis-server on PATH"
)


def find_redis_server() -> str:
    """Return the path of ``redis-server``; skip the test if missing, fail if ``CI=true``."""
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{INSTALL_HINT} (CI=true: not skipping)")
        pytest.skip(INSTALL_HINT)
    return path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sigstop(pid: int) -> None:
    """Freeze a process (it keeps its sockets, answers nothing)."""
    os.kill(pid, signal.SIGSTOP)


def sigcont(pid: int) -> None:
    """Thaw a process frozen by ``sigstop``."""
    os.kill(pid, signal.SIGCONT)


class RedisServer:
    """One ``redis-server`` process in ``directory``; ``url`` stays the same across restarts."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: Child | None = None
        #: Started with ``appendonly yes`` (``restart_keeping_data``); ``reset`` undoes it.
        self.persistent = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None, "redis-server is not running"
        return self.process.pid

    def start(self, *, persistent: bool = False) -> None:
        """Start the server (empty: persistence is off; ``persistent``: from its append-only
        file, every write synced) and wait until it answers PING."""
        self.persistent = persistent
        self.process = Child(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes" if persistent else "no",
                "--appendfsync", "always",
                "--dir", str(self.directory),
                "--logfile", str(self.directory / "redis.log"),
                "--daemonize", "no",
            ],
            python=False,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not self.process.alive:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.wait()}: {log}")
            if self._pong():
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def _pong(self) -> bool:
        # Generous: a busy machine is slow to answer, not down (start() retries until 10 s).
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server; it is unreachable after. Nothing is persisted, so SIGKILL loses
        nothing and spares the ~0.1 s a graceful shutdown takes."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.stop()

    def thaw(self) -> None:
        """Undo a ``sigstop`` the test may have left (harmless otherwise)."""
        if self.process is not None and self.process.alive:
            self.process.signal(signal.SIGCONT)

    def reset(self) -> None:
        """Make the server as a fresh one is: running, answering, default memory limit, no
        data. A server that is gone or does not answer is started again."""
        self.thaw()
        if self.persistent:  # back to a server without persistence
            self.stop()
            shutil.rmtree(self.directory / "appendonlydir", ignore_errors=True)
        if self.process is not None and self.process.alive and self._pong():
            self.command("CONFIG", "SET", "maxmemory", "0")
            if self.command("FLUSHALL").startswith(b"+OK"):
                return
        self.stop()
        self.start()

    def restart_empty(self) -> None:
        """Stop the server and start it again on the same port, with no data."""
        self.stop()
        self.start()

    def restart_keeping_data(self) -> None:
        """Kill the server (SIGKILL, as a crash) and start it again on the same port from its
        append-only file (``appendonly yes``, ``appendfsync always``): every write it answered
        is back, as on a production Redis with persistence."""
        if not self.persistent:
            self.command("CONFIG", "SET", "appendonly", "yes")  # writes the file from memory
            deadline = time.monotonic() + 30
            while b"aof_rewrite_in_progress:0" not in self.command("INFO", "persistence") or (
                b"aof_rewrite_scheduled:0" not in self.command("INFO", "persistence")
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not write its append-only file in 30 s")
                time.sleep(0.02)
        self.stop()
        self.start(persistent=True)

    def snapshot(self) -> Path:
        """Write the server's data to an RDB file now (``SAVE``); return a copy of it."""
        reply = self.command("SAVE")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"SAVE failed: {reply!r}")
        kept = self.directory / f"snapshot-{time.monotonic_ns()}.rdb"
        (self.directory / "dump.rdb").rename(kept)  # (a later start is empty)
        return kept

    def restart_from(self, snapshot: Path) -> None:
        """Kill the server (SIGKILL, as a crash) and start it again from ``snapshot``: every
        write since is lost, as after a failover to a replica that lagged, or a restart from
        the last RDB snapshot."""
        self.stop()
        dump = self.directory / "dump.rdb"
        shutil.copyfile(snapshot, dump)
        try:
            self.start()
        finally:
            dump.unlink()  # loaded: a later start is empty again

    def command(self, *args: str) -> bytes:
        """Send one command in the inline protocol; return the raw reply (for checks only)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(" ".join(args).encode() + b"\r\n")
            return sock.recv(65536)
