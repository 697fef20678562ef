"""A hung server: requests it accepts and never answers cost a poll its timeout, no more.

Target (issue 10): a poll is bounded by the client's ``Timeouts`` and ``PollPolicy.poll_timeout``,
whichever is smaller, and other jobs keep being polled meanwhile. The simulator (another
process) accepts 16 requests and never answers them, while 500 jobs are polled about 500 times
a second; the client's read timeout is 2 s, the policy's poll timeout 10 s (the default).
"""

from __future__ import annotations

import time

import anyio
import pytest

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope, Timeouts

from ._harness import pin_client, report, steered_simulator

SCOPE = Scope.biz(2)
HUNG = 16


async def _run(sim) -> dict[str, object]:  # type: ignore[no-untyped-def]
    policy = PollPolicy(interval=1.0, max_interval=1.0, jitter=0.0, max_in_flight=32)
    async with (
        BkJobClient(
            sim.url,
            app_code="bench",
            app_secret="secret",
            username="admin",
            timeouts=Timeouts(read=2.0),
            connection_limit=32,
        ) as client,
        Poller(client, policy=policy) as poller,
    ):
        durations: list[float] = []
        send = client.transport.send

        async def timed(request):  # type: ignore[no-untyped-def]
            started = time.monotonic()
            try:
                return await send(request)
            except Exception:
                durations.append(time.monotonic() - started)
                raise

        poller._driver.reader._send = timed  # measure every poll request, failed ones kept
        watch = poller.watch_jobs(SCOPE, sim.job_ids)

        async def drain() -> None:
            async for _ in watch:
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            await anyio.sleep(5.0)
            n0 = poller.statistics().requests
            await anyio.sleep(3.0)
            n1 = poller.statistics().requests
            await sim.acommand(f"hang {HUNG}")
            await anyio.sleep(3.0)
            n2 = poller.statistics().requests
            await anyio.sleep(2.0)
            stats = poller.statistics()
            tg.cancel_scope.cancel()
    return {
        "before": (n1 - n0) / 3.0,
        "during": (n2 - n1) / 3.0,
        "durations": durations,
        "timeouts": stats.errors.get("TimeoutError", 0),
    }


@pytest.mark.timeout(300)
def test_hung_requests_cost_their_timeout_and_others_go_on() -> None:
    pin_client()
    with steered_simulator(500) as sim:
        result = anyio.run(_run, sim)
    durations: list[float] = result["durations"]  # type: ignore[assignment]
    report(
        [
            f"== {HUNG} requests accepted and never answered; Timeouts(read=2.0), "
            "poll_timeout 10 s",
            f"failed polls: {len(durations)} ({result['timeouts']} timeouts), each took "
            f"{min(durations, default=0):.2f}-{max(durations, default=0):.2f} s",
            f"polls per second: {result['before']:.0f} before, {result['during']:.0f} "
            "in the 3 s after the hang began",
        ]
    )
    assert result["timeouts"] == HUNG
    assert all(1.9 <= d <= 2.5 for d in durations)
    assert result["during"] >= 0.8 * result["before"]  # type: ignore[operator]
