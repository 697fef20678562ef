"""Worker processes for the cluster tests (``worker_proc``), a ``Child`` each."""

from __future__ import annotations

import json

from ..child import Child

INTERVAL = 0.5


class WorkerProc(Child):
    """``python -m tests.cluster.worker_proc``; ``stats`` holds its latest ``(partitions,
    jobs, commits, refused)``, ``history`` every one of them, ``unheld`` its latest count of
    polls per job sent while it held no lease of the job (by its own clock)."""

    def __init__(self, sim, redis_server, worker_id: str, *extra: str) -> None:
        self.worker_id = worker_id
        self.history: list[tuple[int, int, int, int]] = []
        self.unheld: dict[int, int] = {}
        argv = [sim.url, redis_server.url, worker_id, str(INTERVAL), *extra]
        super().__init__(["-m", "tests.cluster.worker_proc", *argv])

    def on_line(self, line: str) -> None:
        if line.startswith("stats "):
            p, j, c, r = map(int, line.split()[1:])
            self.history.append((p, j, c, r))
        elif line.startswith("unheld "):
            self.unheld = {int(k): v for k, v in json.loads(line[7:]).items()}

    @property
    def stats(self) -> tuple[int, int, int, int] | None:
        return self.history[-1] if self.history else None


async def holders(cluster):
    """Return partition -> holder id, from the lease keys."""
    keys = [cluster.keys.lease(p) for p in range(cluster.partitions)]
    values = await cluster.redis.mget(keys)
    return {p: v.rsplit(":", 1)[0] for p, v in enumerate(values) if v is not None}
