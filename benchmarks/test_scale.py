"""Scale: 10,000 jobs watched with a responsive event loop; 50,000 registered in little memory.

Targets (issue 4): p99 event-loop lag <= 50 ms with 10,000 jobs watched at once; engine memory
<= 4 KB per job of 10 hosts with 50,000 registered in one process (RSS growth per job).
The simulator runs in another process on the other core.
"""

from __future__ import annotations

import gc
import os
import time

import anyio
import pytest

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope

from ._harness import LoopLag, pin_client, report, rss_bytes, simulator

SCOPE = Scope.biz(2)


def _client(url: str, limit: int) -> BkJobClient:
    return BkJobClient(
        url, app_code="bench", app_secret="secret", username="admin", connection_limit=limit
    )


async def _watch_and_measure(
    url: str, ids: list[int], policy: PollPolicy, settle: float, window: float
):
    """Watch ``ids``; after ``settle`` seconds measure lag, CPU and polls for ``window`` seconds."""
    lag = LoopLag()
    async with (
        _client(url, policy.max_in_flight) as client,
        Poller(client, policy=policy) as poller,
    ):
        events = [0]
        watch = poller.watch_jobs(SCOPE, ids)

        async def drain() -> None:
            async for _ in watch:
                events[0] += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            tg.start_soon(lag.run)
            await anyio.sleep(settle)
            lag.samples.clear()
            n0, c0, w0 = poller.statistics().requests, time.process_time(), time.perf_counter()
            await anyio.sleep(window)
            stats = poller.statistics()
            n1, c1, w1 = stats.requests, time.process_time(), time.perf_counter()
            rss = rss_bytes()
            tg.cancel_scope.cancel()
    return lag, (n1 - n0) / (w1 - w0), (c1 - c0) / (w1 - w0), stats, events[0], rss


@pytest.mark.timeout(900)
async def test_ten_thousand_jobs_keep_the_loop_responsive() -> None:
    pin_client()
    jobs = 10_000
    policy = PollPolicy(interval=5.0, max_interval=5.0)  # the default 32 requests in flight
    with simulator(jobs, steps=1, hosts=10) as sim:
        lag, rate, cores, stats, events, _ = await _watch_and_measure(
            sim.url, sim.job_ids, policy, settle=10.0, window=30.0
        )
    report(
        [
            f"== {jobs} jobs watched, every job polled each 5 s (load {os.getloadavg()[0]:.2f})",
            f"{rate:.0f} polls/s using {cores:.2f} of a core; {stats.unchanged_polls} unchanged of {stats.requests}",
            f"{lag.summary()} (target p99 <= 50 ms)",
            f"{events} events delivered; errors {stats.errors}",
        ]
    )
    assert lag.p(0.99) <= 0.050
    assert rate >= 0.9 * jobs / 5.0


@pytest.mark.timeout(1200)
async def test_fifty_thousand_jobs_fit_in_4_kb_each() -> None:
    pin_client()
    jobs = 50_000
    policy = PollPolicy(interval=20.0, max_interval=60.0)
    with simulator(jobs, steps=1, hosts=10) as sim:
        async with (
            _client(sim.url, policy.max_in_flight) as client,
            Poller(client, policy=policy) as poller,
        ):
            lag = LoopLag()
            polled = [0]
            watch = poller.watch_jobs(SCOPE, sim.job_ids)

            async def drain() -> None:
                async for event in watch:
                    if type(event).__name__ == "JobTransition":
                        polled[0] += 1

            async with anyio.create_task_group() as tg:
                tg.start_soon(lag.run)
                await anyio.sleep(0.5)
                gc.collect()
                before = rss_bytes()
                tg.start_soon(drain)
                while polled[0] < jobs:  # every job seen once: its tracker holds 10 hosts
                    await anyio.sleep(0.5)
                await anyio.sleep(1.0)
                gc.collect()
                after = rss_bytes()
                stats = poller.statistics()
                tg.cancel_scope.cancel()
    per_job = (after - before) / jobs
    report(
        [
            f"== {jobs} jobs of 10 hosts registered and polled once (load {os.getloadavg()[0]:.2f})",
            f"RSS {before / 2**20:.0f} MB before, {after / 2**20:.0f} MB after: {per_job:.0f} bytes per job (target <= 4096)",
            f"{stats.requests} polls; {lag.summary()}",
        ]
    )
    assert per_job <= 4096
