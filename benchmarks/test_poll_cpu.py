"""Client CPU per poll: the engine against raw aiohttp loops on the same simulator, same run.

Targets (issue 4): an unchanged poll of a 3-step x 10-host job costs <= 1.2x a raw aiohttp
GET-and-read loop; a changed poll (decode, structure, diff) <= 1.8x a raw GET + json.loads
loop. All loops run 32 requests at once against the simulator in another process (pinned to
the other core), over the same 1,000 jobs, measured in alternation, four rounds; medians.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import aiohttp
import anyio
import pytest

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope
from bkjob_async.polling._engine import Poller as _EnginePoller

from ._harness import median, pin_client, report, simulator

JOBS = 1000
CONCURRENCY = 32
WARMUP = 1.0
WINDOW = 3.0
ROUNDS = 4
SCOPE = Scope.biz(2)


def _client(url: str) -> BkJobClient:
    return BkJobClient(
        url, app_code="bench", app_secret="secret", username="admin", connection_limit=CONCURRENCY
    )


async def _measure(count: list[int]) -> float:
    """CPU seconds per request over the window, after a warm-up."""
    await anyio.sleep(WARMUP)
    n0, c0 = count[0], time.process_time()
    await anyio.sleep(WINDOW)
    n1, c1 = count[0], time.process_time()
    return (c1 - c0) / max(1, n1 - n0)


async def raw_loop(url: str, ids: list[int], *, parse: bool) -> float:
    """The baseline: plain aiohttp, the same requests, nothing but read (and json.loads)."""
    async with _client(url) as client:
        requests = [client.protocol.job_instance_status(SCOPE, i, with_hosts=True) for i in ids]
    count = [0]
    rotation = itertools.cycle(requests)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def loop() -> None:
            while True:
                request = next(rotation)
                async with session.get(
                    request.url, params=request.query, headers=request.headers
                ) as r:
                    body = await r.read()
                if parse:
                    json.loads(body)
                count[0] += 1

        async with anyio.create_task_group() as tg:
            for _ in range(CONCURRENCY):
                tg.start_soon(loop)
            result = await _measure(count)
            tg.cancel_scope.cancel()
    return result


async def engine(url: str, ids: list[int], *, changed: bool) -> tuple[float, int, int]:
    """The poller watching every job as fast as it can; returns (CPU/poll, polls, unchanged)."""
    policy = PollPolicy(interval=0.001, max_interval=0.002, jitter=0.0, max_in_flight=CONCURRENCY)
    async with _client(url) as client, Poller(client, policy=policy) as poller:
        if changed:
            _force_one_change_per_poll(poller)
        count = [0]
        watch = poller.watch_jobs(SCOPE, ids)

        async def drain() -> None:
            async for _ in watch:
                pass

        async def counter() -> None:
            while True:
                count[0] = poller.statistics().requests
                await anyio.sleep(0.05)

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            tg.start_soon(counter)
            result = await _measure(count)
            stats = poller.statistics()
            tg.cancel_scope.cancel()
    return result, stats.requests, stats.unchanged_polls


def _force_one_change_per_poll(poller: Poller) -> None:
    """Make every poll a changed one: forget the body fingerprint and one host's status.

    The simulator's jobs are frozen, so without this every poll would be unchanged. With it,
    each poll decodes the body, reads every status, diffs every host, and structures and
    delivers exactly one host transition: a typical changed poll.
    """
    original = _EnginePoller._poll

    async def poll(instance):  # type: ignore[no-untyped-def]
        instance.fingerprint = None
        for step in instance.tracker.steps.values():
            if step.hosts:
                step.hosts[next(iter(step.hosts))] = -1
                break
        await original(poller, instance)

    poller._poll = poll  # type: ignore[method-assign]


@pytest.mark.timeout(600)
async def test_cpu_per_poll_against_raw_aiohttp() -> None:
    pin_client()
    with simulator(JOBS, steps=3, hosts=10) as sim:
        raw_read, raw_json, unchanged, changed = [], [], [], []
        details = []
        for _ in range(ROUNDS):
            raw_read.append(await raw_loop(sim.url, sim.job_ids, parse=False))
            cpu, polls, same = await engine(sim.url, sim.job_ids, changed=False)
            unchanged.append(cpu)
            details.append(f"unchanged run: {polls} polls, {same} unchanged")
            raw_json.append(await raw_loop(sim.url, sim.job_ids, parse=True))
            cpu, polls, same = await engine(sim.url, sim.job_ids, changed=True)
            changed.append(cpu)
            details.append(f"changed run: {polls} polls, {same} unchanged")
    r_unchanged = median(unchanged) / median(raw_read)
    r_changed = median(changed) / median(raw_json)
    report(
        [
            f"== CPU per poll (client process, us; median of {ROUNDS} alternating runs; load {os.getloadavg()[0]:.2f})",
            f"raw aiohttp GET + read          {median(raw_read) * 1e6:7.1f}",
            f"engine, unchanged poll          {median(unchanged) * 1e6:7.1f}   ratio {r_unchanged:.2f} (target <= 1.2)",
            f"raw aiohttp GET + json.loads    {median(raw_json) * 1e6:7.1f}",
            f"engine, changed poll            {median(changed) * 1e6:7.1f}   ratio {r_changed:.2f} (target <= 1.8)",
            *details,
        ]
    )
    assert r_unchanged <= 1.2
    assert r_changed <= 1.8
