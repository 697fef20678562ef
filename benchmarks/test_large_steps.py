"""A step of 5,000 hosts: result-group polling against reading every host row on every poll.

Jobs of one 5,000-host step run on the real clock in the simulator's process. The same poller
watches a job for 20 s twice: with ``group_threshold=None`` (every poll reads every host row)
and with the default (group sizes, then only the groups that grew). Two cases:

- a long step (hosts run 1-10 min): few hosts change per poll, the usual case when watching a
  deployment; groups should cut the bytes read many times over;
- churn (hosts run 5-60 s): thousands of hosts finish every second, so the growing success
  group is read whole on every poll (the API has no offsets); groups must not cost more.
"""

from __future__ import annotations

import os
import time

import anyio
import pytest

from bkjob_async import BkJobClient, HostTransition, Poller, PollPolicy, Scope

from ._harness import pin_client, report, simulator

SCOPE = Scope.biz(2)
WINDOW = 20.0


class _Counting:
    def __init__(self, inner) -> None:
        self.inner, self.bytes, self.requests = inner, 0, 0

    async def send(self, request):
        response = await self.inner.send(request)
        self.bytes += len(response.body)
        self.requests += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _run(url: str, job_id: int, threshold: int | None) -> tuple[int, int, float, int]:
    policy = PollPolicy(interval=1.0, max_interval=1.0, max_in_flight=4, group_threshold=threshold)
    async with BkJobClient(url, app_code="bench", app_secret="secret", username="admin") as client:
        counting = _Counting(client.transport)
        client.transport = counting
        async with Poller(client, policy=policy) as poller:
            transitions = [0]
            watch = poller.watch_job(SCOPE, job_id)

            async def read() -> None:
                async for event in watch:
                    transitions[0] += isinstance(event, HostTransition)

            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                c0 = time.process_time()
                await anyio.sleep(WINDOW)
                cpu = time.process_time() - c0
                tg.cancel_scope.cancel()
    return counting.bytes, counting.requests, cpu, transitions[0]


async def _compare(duration: tuple[float, float]) -> tuple[tuple, tuple]:
    with simulator(2, steps=1, hosts=5000, duration=duration) as sim:
        full = await _run(sim.url, sim.job_ids[0], None)
        grouped = await _run(sim.url, sim.job_ids[1], 500)
    return full, grouped


def _lines(name: str, full: tuple, grouped: tuple) -> list[str]:
    return [
        f"-- {name}",
        f"every row:     {full[0] / 2**20:7.2f} MB in {full[1]} requests, {full[2]:.2f} s CPU, {full[3]} host transitions",
        f"result groups: {grouped[0] / 2**20:7.2f} MB in {grouped[1]} requests, {grouped[2]:.2f} s CPU, {grouped[3]} host transitions",
        f"bytes ratio {grouped[0] / full[0]:.3f}, CPU ratio {grouped[2] / full[2]:.2f}",
    ]


@pytest.mark.timeout(600)
async def test_result_groups_read_far_less_than_every_row() -> None:
    pin_client()
    long_full, long_grouped = await _compare((60.0, 600.0))
    churn_full, churn_grouped = await _compare((5.0, 60.0))
    report(
        [
            f"== one step of 5,000 hosts, polled every second for {WINDOW:.0f} s (load {os.getloadavg()[0]:.2f})",
            *_lines("long step, hosts run 1-10 min", long_full, long_grouped),
            *_lines("churn, hosts run 5-60 s", churn_full, churn_grouped),
        ]
    )
    assert long_grouped[0] < 0.2 * long_full[0]
    assert churn_grouped[0] <= 1.05 * churn_full[0]
