"""Acknowledgements per second: ``await watch.ack(event)``, durable, on ``SqliteStore`` and ``RedisStore``.

A named watch on the store follows 100 jobs of the simulator (one step of 10 hosts each) that
have all ended: the first polls commit every job's events (1,300), and once the watch holds
them all and the poller has nothing left to poll, a consumer acknowledges them, each ``ack``
returning only once it is written (issue 25):

- one at a time, ``async for event in watch: await watch.ack(event)``: the rate one consumer
  gets, bounded by the store's write latency (SQLite: its batch window, ``flush_interval``;
  Redis: one round trip);
- up to 64 acks in flight (each ``watch.ack`` a task): the store's ceiling, as its batching
  (SQLite: one transaction per window; Redis: one pipeline per round trip) allows.

Store defaults (``SqliteStore(flush_interval=0.01)``). The median of three runs; recorded in
``benchmarks/README.md`` ("Durable acks").
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import anyio
import pytest

from bkjob_async import Poller, PollPolicy, SqliteStore
from bkjob_async.cluster import Cluster, LeaseKeeper, RedisStore

from ._harness import report, simulator
from ._loops import CONCURRENCY, SCOPE, _client

POLICY = PollPolicy(interval=0.05, max_interval=0.1, jitter=0.0, max_in_flight=CONCURRENCY)
ROUNDS = 3
IN_FLIGHT = 64
JOBS = 100


async def _acks_per_second(url: str, ids: list[int], store, in_flight: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Let the watch ``bench`` on ``store`` take every event of ``ids``, then acknowledge them
    all; return acks per second and how many."""
    done = [0]
    slots = anyio.Semaphore(in_flight)

    async def ack(watch, event) -> None:  # type: ignore[no-untyped-def]
        try:
            await watch.ack(event)
            done[0] += 1
        finally:
            slots.release()

    async with _client(url) as client, Poller(client, policy=POLICY, store=store) as poller:
        watch = poller.watch_jobs(SCOPE, ids, name="bench")
        seen = -1
        with anyio.fail_after(60):  # until every job was answered: no new event for 1 s
            while watch.pending != seen or not seen:
                seen = watch.pending
                await anyio.sleep(1.0)
        began = time.perf_counter()
        async with anyio.create_task_group() as acks:
            async for event in watch:
                if in_flight == 1:
                    await watch.ack(event)
                    done[0] += 1
                else:
                    await slots.acquire()  # released when the ack returns
                    acks.start_soon(ack, watch, event)
        elapsed = time.perf_counter() - began
    return done[0] / elapsed, done[0]


@pytest.mark.timeout(600)
async def test_acks_per_second_sqlite_and_redis(redis_server) -> None:
    figures: dict[str, list[float]] = {}
    counts: set[int] = set()
    with (
        simulator(JOBS, steps=1, hosts=10, duration=(0.1, 0.5)) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        await anyio.sleep(3.0)  # every job ends (a host starts within 1 s, runs 0.1-0.5 s)
        for round_ in range(ROUNDS):
            for in_flight in (1, IN_FLIGHT):
                path = Path(tmp) / f"ack-{round_}-{in_flight}.db"
                async with SqliteStore(path) as store:
                    rate, n = await _acks_per_second(sim.url, sim.job_ids, store, in_flight)
                figures.setdefault(f"SqliteStore, {in_flight} in flight", []).append(rate)
                counts.add(n)
                name = f"bench{round_}x{in_flight}"
                async with Cluster(redis_server.url, name, partitions=64) as cluster:
                    keeper = LeaseKeeper(cluster, worker_id="bench", ttl=600)
                    await keeper.tick()  # a lone worker: it holds every partition
                    async with RedisStore(cluster, keeper.lease) as store:
                        rate, n = await _acks_per_second(sim.url, sim.job_ids, store, in_flight)
                    await keeper.release()
                figures.setdefault(f"RedisStore, {in_flight} in flight", []).append(rate)
                counts.add(n)
    lines = [f"durable acks per second (await watch.ack), {sorted(counts)} events, median of 3:"]
    for label, rates in figures.items():
        spread = ", ".join(f"{r:,.0f}" for r in rates)
        lines.append(f"  {label:<26} {statistics.median(rates):>8,.0f}/s   ({spread})")
    report(lines)
    for rates in figures.values():
        assert statistics.median(rates) > 20  # a regression guard, not the figure
