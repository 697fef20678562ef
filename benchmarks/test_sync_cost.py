"""The cost of the blocking facade: a sync call over the same async call, and a watch event.

Against the simulator in another process (core 1), the client pinned to core 0: ``CALLS``
``get_job_instance_status`` calls one after another, through ``bkjob_async.BkJobClient`` in
``anyio.run`` (the baseline) and through ``bkjob_async.sync.BkJobClient`` from the main thread
(each call crosses to the loop thread and back), in alternating rounds; the ratio of the
medians of wall time per call. Target: <= 1.3x. Then the same for a watch's events: a watch of
100 ended jobs of 3 steps x 10 hosts (each read at once: ~3,700 events) through ``async for``
and through the sync iterator.
"""

from __future__ import annotations

import time

import anyio
import pytest

from bkjob_async import BkJobClient as AsyncClient
from bkjob_async import JobFinished, PollPolicy, Scope
from bkjob_async import Poller as AsyncPoller
from bkjob_async.sync import BkJobClient, Poller

from ._harness import median, pin_client, report, simulator

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}
CALLS = 400
ROUNDS = 7
POLICY = PollPolicy(interval=0.05, max_interval=0.1)


def _async_calls(url: str, job: int) -> float:
    async def main() -> float:
        async with AsyncClient(url, **CREDENTIALS) as client:
            await client.get_job_instance_status(SCOPE, job)  # (a warm connection)
            started = time.perf_counter()
            for _ in range(CALLS):
                await client.get_job_instance_status(SCOPE, job)
            return (time.perf_counter() - started) / CALLS

    return anyio.run(main)


def _sync_calls(url: str, job: int) -> float:
    with BkJobClient(url, **CREDENTIALS) as client:
        client.get_job_instance_status(SCOPE, job)
        started = time.perf_counter()
        for _ in range(CALLS):
            client.get_job_instance_status(SCOPE, job)
        return (time.perf_counter() - started) / CALLS


def _async_events(url: str, ids: list[int]) -> float:
    async def main() -> float:
        async with (
            AsyncClient(url, **CREDENTIALS) as client,
            AsyncPoller(client, policy=POLICY) as p,
        ):
            started = time.perf_counter()
            events = [event async for event in p.watch_jobs(SCOPE, ids)]
            assert isinstance(events[-1], JobFinished)
            return (time.perf_counter() - started) / len(events)

    return anyio.run(main)


def _sync_events(url: str, ids: list[int]) -> float:
    with BkJobClient(url, **CREDENTIALS) as client, Poller(client, policy=POLICY) as poller:
        started = time.perf_counter()
        events = list(poller.watch_jobs(SCOPE, ids))
        assert isinstance(events[-1], JobFinished)
        return (time.perf_counter() - started) / len(events)


@pytest.mark.timeout(600)
def test_a_sync_call_costs_little_more_than_the_async_call() -> None:
    pin_client()
    with simulator(200, steps=3, hosts=10, duration=(0.01, 0.02)) as sim:
        job, ids = sim.job_ids[0], sim.job_ids[:100]
        calls: list[float] = []
        events: list[float] = []
        for n in range(ROUNDS):
            pair = (_async_calls, _sync_calls) if n % 2 == 0 else (_sync_calls, _async_calls)
            timed = {f.__name__: f(sim.url, job) for f in pair}
            calls.append(timed["_sync_calls"] / timed["_async_calls"])
            pair_e = (_async_events, _sync_events) if n % 2 == 0 else (_sync_events, _async_events)
            timed_e = {f.__name__: f(sim.url, ids) for f in pair_e}
            events.append(timed_e["_sync_events"] / timed_e["_async_events"])
    report(
        [
            f"sync facade, {CALLS} calls x {ROUNDS} rounds, alternating:",
            f"  a sync call / the async call: median {median(calls):.2f}x "
            f"(rounds {', '.join(f'{r:.2f}' for r in calls)}); target <= 1.3x",
            f"  a watch event through the sync iterator / async for: median {median(events):.2f}x",
        ]
    )
    assert median(calls) <= 1.3
