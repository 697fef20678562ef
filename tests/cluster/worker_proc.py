"""A cluster worker process for the tests: ``python -m tests.cluster.worker_proc SIM REDIS
WORKER INTERVAL [RATE]``. Runs a ``Worker`` of cluster ``test`` (64 partitions) polling the
simulator at SIM; prints ``ready`` once it joined, then ``stats P J C R`` (partitions, jobs,
commits, refused writes) every half second, until killed."""

from __future__ import annotations

import sys

import anyio

from bkjob_async import BkJobClient, PollPolicy
from bkjob_async.cluster import Cluster, Worker


async def main(sim: str, url: str, worker_id: str, interval: float, rate: float | None) -> None:
    policy = PollPolicy(interval=interval, max_interval=interval * 2, rate_limit=rate)
    async with (
        BkJobClient(sim, app_code="app", app_secret="s", username="admin") as client,
        Cluster(url, "test", partitions=64, timeout=1.0) as cluster,
        Worker(client, cluster, policy=policy, worker_id=worker_id) as worker,
    ):
        print("ready", flush=True)
        while True:
            s = worker.statistics()
            print(f"stats {s.partitions} {s.jobs} {s.commits} {s.refused}", flush=True)
            await anyio.sleep(0.5)


if __name__ == "__main__":
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else None
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), rate)
