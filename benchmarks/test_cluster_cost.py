"""What the cluster's Redis primitives cost per operation, on a real local redis-server.

Counts come from Redis itself (``INFO commandstats`` after ``CONFIG RESETSTAT``): the
top-level commands are the round trips (no pipelining here), the rest run inside the Lua
scripts. Times are loopback wall-clock per operation and Redis CPU per call; memory is
``used_memory`` growth. Figures feed the 1,000,000-job estimate in ``benchmarks/README.md``.
"""

from __future__ import annotations

import bisect
import datetime
import json
import os
import subprocess
import sys
import time

from bkjob_async import JobStatus, Scope
from bkjob_async.cluster import Cluster, LeaseKeeper, NewEvent, RateBudget
from bkjob_async.cluster._entries import encode_entry
from bkjob_async.polling.events import JobTransition
from tests.cluster.redis_server import find_redis_server

from ._harness import report

#: Commands the client sends itself; everything else counted ran inside a script.
SENT = {"evalsha", "xreadgroup", "xack", "xautoclaim"}
N = 2000
AT = datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc)


async def stats(cluster: Cluster) -> dict[str, tuple[int, float]]:
    """Return command -> (calls, total usec) since the last reset."""
    info = await cluster.redis.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), float(v["usec"]))
        for name, v in info.items()
    }


async def measure(cluster: Cluster, label: str, n: int, op) -> str:
    await cluster.redis.config_resetstat()
    began = time.perf_counter()
    for i in range(n):
        await op(i)
    wall = (time.perf_counter() - began) / n * 1e6
    counted = await stats(cluster)
    counted.pop("config|resetstat", None)
    counted.pop("info", None)
    trips = sum(c for name, (c, _) in counted.items() if name in SENT) / n
    inner = {name: c / n for name, (c, _) in counted.items() if name not in SENT}
    server = sum(u for name, (_, u) in counted.items() if name in SENT) / n
    inside = ", ".join(f"{k} {v:g}" for k, v in sorted(inner.items()) if v >= 0.01)
    return (
        f"{label:<34} {trips:5.2f} round trips, {wall:7.1f} us wall, "
        f"{server:6.1f} us Redis CPU; inside: {inside or '-'}"
    )


async def used_memory(cluster: Cluster) -> int:
    return int((await cluster.redis.info("memory"))["used_memory"])


async def test_cost_per_operation(redis_server):
    biz = Scope.biz(2)
    version = subprocess.run(
        [find_redis_server(), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]
    lines = [f"(redis-server {version}, load average {os.getloadavg()[0]:.2f})"]
    async with Cluster(redis_server.url, "bench", partitions=128) as cluster:
        keeper = LeaseKeeper(cluster, worker_id="w0", ttl=60, max_partitions=1)
        (lease,) = (await keeper.tick()).gained
        payload = {"host": "10.0.0.1", "previous": 7, "current": 9, "step": 123456, "n": 0}
        state_value = "x" * 400
        # Events as a worker writes them (the one codec), so the stream's reader reads them.
        made = [JobTransition(i + 1, AT, None, JobStatus(2)) for i in range(3 * N)]
        entries = [(e.event_id, encode_entry(e, None, {})) for e in made]

        lines.append(
            await measure(
                cluster,
                "publish (1 event)",
                N,
                lambda i: cluster.publish(lease, "w", entries[i][1], event_id=entries[i][0]),
            )
        )
        lines.append(
            await measure(
                cluster,
                "changed poll (state + 2 events)",
                N,
                lambda i: cluster.commit(
                    lease,
                    state={f"biz:2:{i}": state_value},
                    events=[NewEvent("w", *entries[N + i]), NewEvent("v", *entries[2 * N + i])],
                ),
            )
        )
        budget = RateBudget(cluster, limit=1e9)
        lines.append(await measure(cluster, "permit (GCRA)", N, lambda i: budget.acquire()))
        lines.append(
            await measure(
                cluster, "submit (1 job)", N, lambda i: cluster.submit(biz, [i + 1], watch="s")
            )
        )
        stream = cluster.events("w", consumer="c1", count=100, block=0.5)

        async def read_ack(_: int) -> None:
            await stream.ack(await stream.__anext__())

        lines.append(await measure(cluster, "consume + ack (batches of 100)", N, read_ack))

    # Lease rounds as one of 20 workers over 128 partitions (about 7 leases each).
    clusters = [Cluster(redis_server.url, "leases", partitions=128) for _ in range(20)]
    keepers = [LeaseKeeper(c, worker_id=f"w{i}", ttl=60) for i, c in enumerate(clusters)]
    for _ in range(3):
        for k in keepers:
            await k.tick()
    held = sorted(len(k.leases()) for k in keepers)
    lines.append(
        await measure(
            clusters[0],
            f"lease round (holding {len(keepers[0].leases())})",
            500,
            lambda i: keepers[0].tick(),
        )
    )
    lines.append(f"  leases per worker after 3 rounds: min {held[0]}, max {held[-1]}")
    assert held[0] >= 6
    for c in clusters:
        await c.aclose()

    # Memory per job of the watch set, per job of state, per event kept.
    async with Cluster(redis_server.url, "memory", partitions=128) as cluster:
        jobs = 100_000
        base = await used_memory(cluster)
        await cluster.submit(biz, range(1_000_000, 1_000_000 + jobs), watch="deploys")
        per_job = (await used_memory(cluster) - base) / jobs
        keeper = LeaseKeeper(cluster, worker_id="m", ttl=60)
        await keeper.tick()
        leases = keeper.leases()
        base = await used_memory(cluster)
        for i in range(0, jobs, 1000):
            lease = leases[i // 1000 % 128]
            await cluster.commit(
                lease, state={f"biz:2:{j}": state_value for j in range(i, i + 1000)}
            )
        per_state = (await used_memory(cluster) - base) / jobs
        base = await used_memory(cluster)
        body = len(json.dumps(payload))
        for i in range(0, jobs, 500):
            events = [
                NewEvent("deploys", f"biz:2:{j}:host:7->9:{j}", payload) for j in range(i, i + 500)
            ]
            await cluster.commit(leases[0], events=events)
        per_event = (await used_memory(cluster) - base) / jobs
    lines.append(
        f"memory: {per_job:.0f} B per job in the watch set; {per_state:.0f} B per job of state "
        f"(400 B values); {per_event:.0f} B per event kept ({body} B payload, ~30 B event_id)"
    )
    report(lines)


def busiest(times_us: list[int], window_us: int) -> int:
    times = sorted(times_us)
    return max(bisect.bisect_left(times, t + window_us) - i for i, t in enumerate(times))


def test_shared_rate_over_three_processes(redis_server):
    limit, seconds = 100, 10
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.cluster.procs",
                "rate",
                redis_server.url,
                str(limit),
                str(seconds),
            ],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    grants = [json.loads(p.communicate(timeout=60)[0].splitlines()[-1]) for p in procs]
    every = [t for g in grants for t in g]
    five, one = busiest(every, 5_000_000), busiest(every, 1_000_000)
    report(
        [
            f"3 processes, rate_limit={limit}/s (burst {limit // 10}), {seconds} s each: "
            f"{len(every)} permits ({', '.join(str(len(g)) for g in grants)} per process)",
            f"busiest 5 s window: {five} = {five / 5:.1f}/s (target <= 110/s); "
            f"busiest 1 s window: {one}   (load average {os.getloadavg()[0]:.2f})",
        ]
    )
    assert five <= 5 * 110
