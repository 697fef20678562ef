"""How much Redis a cluster takes, from a real run: a worker polls simulated jobs to their end.

``BENCH_SIZING_JOBS`` jobs (300) of 2 steps x 5 hosts run on the simulator over HTTP; one
``Worker`` polls them and writes every change to the watch's stream, as in production. Redis
says the sizes (``MEMORY USAGE ... SAMPLES 0``, every entry counted): while every job runs,
the watch set, the partition sets and the fenced state, per job; at the end, the stream per
event it holds, the events per job, and ``used_memory`` growth. ``docs/howto/cluster-operations.md``
quotes the figures (Retention and sizing).
"""

from __future__ import annotations

import os

import anyio

from bkjob_async import BkJobClient, PollPolicy, Scope
from bkjob_async.cluster import Cluster, Worker, read_history
from bkjob_async.polling.events import JobFinished
from bkjob_async.testing import BkJobSimulator, StepPlan

from ._harness import report

SCOPE = Scope.biz(2)
JOBS = int(os.environ.get("BENCH_SIZING_JOBS", "300"))


async def key_bytes(cluster: Cluster, pattern: str) -> tuple[int, int]:
    """Return (keys, bytes) of the cluster's keys matching ``pattern``."""
    total = count = 0
    async for key in cluster.redis.scan_iter(match=cluster.keys.prefix + pattern, count=1000):
        total += int(await cluster.redis.memory_usage(key, samples=0) or 0)
        count += 1
    return count, total


async def used(cluster: Cluster) -> int:
    return int((await cluster.redis.info("memory"))["used_memory"])


async def test_redis_bytes_per_job_and_per_event(redis_server):
    policy = PollPolicy(interval=0.5, max_interval=1.0)
    async with (
        BkJobSimulator(seed=9, host_duration=(3.0, 8.0)) as sim,
        Cluster(redis_server.url, "sizing", partitions=128) as cluster,
        BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as client,
    ):
        before = await used(cluster)
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=5), StepPlan(hosts=5)]) for _ in range(JOBS)]
        await cluster.submit(SCOPE, ids, watch="deploys")
        _, watch_set = await key_bytes(cluster, "watch:*")
        _, part_sets = await key_bytes(cluster, "part:*")
        async with Worker(client, cluster, policy=policy, worker_id="w1"):

            async def states() -> int:
                fields = 0
                for part in range(128):
                    fields += sum(1 for f in await cluster.read_state(part) if f.startswith("s:"))
                return fields

            with anyio.fail_after(120):
                while await states() < JOBS:  # every job polled once, none ended yet
                    await anyio.sleep(0.2)
            _, state = await key_bytes(cluster, "state:*")
            running_ended = sum(sim.job(i).status.is_finished for i in ids)

            async def finished() -> int:
                events = await read_history(cluster, "deploys")
                return len(
                    {e.event.job_instance_id for e in events if isinstance(e.event, JobFinished)}
                )

            with anyio.fail_after(300):
                while await finished() < JOBS:
                    await anyio.sleep(0.5)
        length = int(await cluster.redis.xlen(cluster.keys.events("deploys")))
        _, stream = await key_bytes(cluster, "events:*")
        _, left = await key_bytes(cluster, "state:*")
        after = await used(cluster)
    report(
        [
            f"{JOBS} jobs x 2 steps x 5 hosts, one worker (redis-server, MEMORY USAGE SAMPLES 0)",
            f"while running ({running_ended} ended): watch set {watch_set / JOBS:.0f} B/job, "
            f"partition sets {part_sets / JOBS:.0f} B/job, fenced state {state / JOBS:.0f} B/job",
            f"at the end: {length} events ({length / JOBS:.1f} per job), stream "
            f"{stream / length:.0f} B/event ({stream / JOBS:.0f} B/job), state left {left} B",
            f"used_memory growth {((after - before) / JOBS):.0f} B/job over the run",
        ]
    )
    assert length >= JOBS * 11  # 10 hosts' runs and a JobFinished at least
