"""A consumer that stops reading for 60 s delays no other job's poll by more than one interval.

Two watches share one poller: A (1,000 running jobs) is not read for 60 s, B (200 other
running jobs) is read as events come. The transport records when each request is sent and
answered. For a B job, the wait from one answer to its next request is the scheduled delay (at
most ``max_interval`` plus jitter) plus any delay the engine adds; that added delay must stay
within one ``interval``. Server latency is not counted: a stalled reader cannot cause it. A's
buffer must stay bounded (it coalesces per host once past ``buffer_size``).
"""

from __future__ import annotations

import itertools
import os
import time
from collections import defaultdict

import anyio
import pytest

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope

from ._harness import pin_client, report, rss_bytes, simulator

SCOPE = Scope.biz(2)
STALL = 60.0


class _Stamping:
    """Wrap a transport; remember when each job's requests were sent and answered."""

    def __init__(self, inner, stamps: dict[int, list[tuple[float, float]]]) -> None:
        self.inner, self.stamps = inner, stamps

    async def send(self, request):
        sent = time.monotonic()
        try:
            return await self.inner.send(request)
        finally:
            self.stamps[int(request.query["job_instance_id"])].append((sent, time.monotonic()))

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.timeout(600)
async def test_a_stalled_consumer_delays_nobody() -> None:
    pin_client()
    policy = PollPolicy(
        interval=1.0, max_interval=2.0, jitter=0.1, max_in_flight=32, buffer_size=2_000
    )
    stamps: dict[int, list[tuple[float, float]]] = defaultdict(list)
    # Hosts run 20-60 s per step over 3 steps: jobs keep changing for the whole stall.
    with simulator(1200, steps=3, hosts=10, duration=(20.0, 60.0)) as sim:
        a_ids, b_ids = sim.job_ids[:1000], sim.job_ids[1000:]
        async with BkJobClient(
            sim.url, app_code="bench", app_secret="secret", username="admin"
        ) as client:
            client.transport = _Stamping(client.transport, stamps)
            async with Poller(client, policy=policy) as poller:
                stalled = poller.watch_jobs(SCOPE, a_ids)
                reader = poller.watch_jobs(SCOPE, b_ids)
                b_events = [0]

                async def read_b() -> None:
                    async for _ in reader:
                        b_events[0] += 1

                async with anyio.create_task_group() as tg:
                    tg.start_soon(read_b)
                    await anyio.sleep(5.0)  # let every job be seen once
                    start = time.monotonic()
                    rss0 = rss_bytes()
                    await anyio.sleep(STALL)  # nobody reads `stalled`
                    end = time.monotonic()
                    pending, coalescing = stalled.pending, stalled._sub.mailbox.coalescing
                    rss1 = rss_bytes()
                    drained = 0
                    with anyio.move_on_after(10):
                        async for _ in stalled:
                            drained += 1
                            if not stalled.pending:
                                break
                    tg.cancel_scope.cancel()
    waits, gaps = [], []
    for job_id in b_ids:
        polls = [(sent, answered) for sent, answered in stamps[job_id] if start <= sent <= end]
        waits += [b[0] - a[1] for a, b in itertools.pairwise(polls)]
        gaps += [b[0] - a[0] for a, b in itertools.pairwise(polls)]
    scheduled = policy.max_interval * (1 + policy.jitter)
    added = max(waits) - scheduled
    report(
        [
            f"== watch A (1000 jobs) unread for {STALL:.0f} s; watch B (200 jobs) read (load {os.getloadavg()[0]:.2f})",
            f"B: {len(waits)} waits from an answer to the next poll; worst {max(waits):.3f} s, "
            f"of which {max(added, 0.0):.3f} s beyond the scheduled {scheduled:.2f} s (bound: one interval, "
            f"{policy.interval:.1f} s); worst gap between sends, server latency included, {max(gaps):.2f} s",
            f"A: {pending} events pending at the end of the stall (coalescing: {coalescing}); "
            f"{drained} read after; RSS {rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MB",
            f"B received {b_events[0]} events during the run",
        ]
    )
    assert added <= policy.interval
    assert pending <= policy.buffer_size + 1000 * (3 * 10 + 3 + 1 + 1)
