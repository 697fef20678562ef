"""Worker processes for the cluster tests (``worker_proc``), their output read in threads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

from .conftest import ROOT

INTERVAL = 0.5


class WorkerProc:
    """``python -m tests.cluster.worker_proc``; ``stats`` holds its latest ``(partitions,
    jobs, commits, refused)``, ``history`` every one of them, ``unheld`` its latest count of
    polls per job sent while it held no lease of the job (by its own clock)."""

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
        self.unheld: dict[int, int] = {}
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
            elif line.startswith("unheld "):
                self.unheld = {int(k): v for k, v in json.loads(line[7:]).items()}

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
