"""Worker processes for the cluster tests (``worker_proc``), their output read in threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import asynccontextmanager

import anyio

from .conftest import ROOT

INTERVAL = 0.5


class SimClock:
    """Drives a ``BkJobSimulator(virtual_clock=True)``: its hosts progress only while the
    clock runs, ``speed`` simulated seconds per real second, so a slow or busy machine changes
    how long a test takes, never where the jobs stand when the test acts (a kill, a freeze)."""

    TICK = 0.05

    def __init__(self, sim, speed: float = 3.0) -> None:
        self.sim = sim
        self.speed = speed
        self.running = False
        self.elapsed = 0.0

    async def _run(self) -> None:
        while True:
            await anyio.sleep(self.TICK)
            if self.running:
                self.sim.advance(self.TICK * self.speed)
                self.elapsed += self.TICK * self.speed

    async def advance_by(self, seconds: float) -> None:
        """Run the clock until it moved ``seconds`` more (simulated), then hold it."""
        target = self.elapsed + seconds
        self.running = True
        try:
            while self.elapsed < target:
                await anyio.sleep(self.TICK)
        finally:
            self.running = False


@asynccontextmanager
async def sim_clock(sim, speed: float = 3.0):
    """Yield a held ``SimClock`` for ``sim``; ``clock.running = True`` lets it run."""
    clock = SimClock(sim, speed)
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock._run)
        try:
            yield clock
        finally:
            tg.cancel_scope.cancel()


class WorkerProc:
    """``python -m tests.cluster.worker_proc``; ``stats`` holds its latest ``(partitions,
    jobs, commits, refused)``, ``history`` every one of them."""

    def __init__(self, sim, redis_server, worker_id: str, *extra: str) -> None:
        self.worker_id = worker_id
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.cluster.worker_proc",
                sim.url,
                redis_server.url,
                worker_id,
                str(INTERVAL),
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.history: list[tuple[int, int, int, int]] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("stats "):
                p, j, c, r = map(int, line.split()[1:])
                self.history.append((p, j, c, r))

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        self.err.extend(self.process.stderr)

    @property
    def stats(self) -> tuple[int, int, int, int] | None:
        return self.history[-1] if self.history else None

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)

    def stop(self) -> str:
        """Kill it (if alive); return its stderr."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)
        for thread in self._threads:
            thread.join(10)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()
        return "".join(self.err)


async def holders(cluster):
    """Return partition -> holder id, from the lease keys."""
    keys = [cluster.keys.lease(p) for p in range(cluster.partitions)]
    values = await cluster.redis.mget(keys)
    return {p: v.rsplit(":", 1)[0] for p, v in enumerate(values) if v is not None}
