"""A cluster worker process for the tests: ``python -m tests.cluster.worker_proc SIM REDIS
WORKER INTERVAL [RATE]``. Runs a ``Worker`` of cluster ``test`` (64 partitions) polling the
simulator at SIM; prints ``ready`` once it joined, then every half second ``stats P J C R``
(partitions, jobs, commits, refused writes) and ``unheld {JOB: N}``: the polls it sent of
each job while it held no lease of the job's partition by its own clock, until killed."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import anyio

from bkjob_async import BkJobClient, PollPolicy, Scope
from bkjob_async.cluster import Cluster, Worker


def job_of(request: Any) -> int | None:
    """Return the job instance id a request asks about, if any."""
    if request.query and "job_instance_id" in request.query:
        return int(request.query["job_instance_id"])
    if request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            return None
        if isinstance(body, dict) and "job_instance_id" in body:
            return int(body["job_instance_id"])
    if "?" in request.url:
        found = parse_qs(request.url.split("?", 1)[1]).get("job_instance_id")
        return int(found[0]) if found else None
    return None


class Counting:
    """The client's transport, counting the polls of jobs whose lease it does not hold."""

    def __init__(self, inner: Any, scope: Scope) -> None:
        self.inner = inner
        self.scope = scope
        self.worker: Worker | None = None
        self.unheld: Counter[int] = Counter()

    async def send(self, request: Any) -> Any:
        job = job_of(request)
        worker = self.worker
        if job is not None and worker is not None:
            part = worker.cluster.partition(self.scope, job)
            if worker.keeper.lease(part) is None:
                self.unheld[job] += 1
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def main(sim: str, url: str, worker_id: str, interval: float, rate: float | None) -> None:
    policy = PollPolicy(interval=interval, max_interval=interval * 2, rate_limit=rate)
    async with (
        BkJobClient(sim, app_code="app", app_secret="s", username="admin") as client,
        Cluster(url, "test", partitions=64, timeout=1.0) as cluster,
    ):
        counting = Counting(client.transport, Scope.biz(2))
        client.transport = counting
        async with Worker(client, cluster, policy=policy, worker_id=worker_id) as worker:
            counting.worker = worker
            print("ready", flush=True)
            while True:
                s = worker.statistics()
                print(f"stats {s.partitions} {s.jobs} {s.commits} {s.refused}", flush=True)
                print(f"unheld {json.dumps(counting.unheld)}", flush=True)
                await anyio.sleep(0.5)


if __name__ == "__main__":
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else None
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), rate)
