"""The driver's guard: no job is polled twice within the policy's smallest gap (issue 22).

Whatever the schedule asks, the driver puts off a poll that comes sooner than ``min_gap``
after the job's last one, counts it in ``statistics().refused_polls`` and logs the first at
WARNING: a scheduling bug becomes a number, never a flood of requests against bk-job.
"""

from __future__ import annotations

import logging

import anyio
import pytest

from bkjob_async import JobFinished, Poller, PollPolicy
from bkjob_async.polling import _decide
from bkjob_async.testing import Fault

from ..virtual import SCOPE, VirtualBkJob, run_virtual

POLICY = PollPolicy(interval=1.0, max_interval=15.0, jitter=0.1)


def test_a_scheduling_bug_becomes_a_count_not_a_flood(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A schedule that asks for the next poll at once: the bug of issue 22, made on purpose.
    monkeypatch.setattr(_decide, "next_interval", lambda *_: (0.0, 0.0))
    server = VirtualBkJob({1: 1e9, 2: 1e9}, hosts=2)  # (polled: not parked)
    one, two = server.job(1), server.job(2)

    async def main() -> int:
        async with Poller(server.client(), policy=POLICY) as poller:
            async with poller.watch_jobs(SCOPE, [one, two]):
                await anyio.sleep(20.0)
            return poller.statistics().refused_polls

    with caplog.at_level(logging.WARNING, logger="bkjob_async.polling"):
        refused = run_virtual(main)
    gap = 1.0 * 0.5
    for job in (one, two):  # one poll per gap at most, never thousands
        assert server.polls[job] <= 20.0 / gap + 1
        assert server.polls[job] >= 20.0 / gap - 2  # put off, not dropped
    assert refused >= server.polls[one] + server.polls[two] - 4
    warnings = [r for r in caplog.records if "sooner than the policy allows" in r.message]
    assert len(warnings) == 1


def test_a_correct_schedule_is_never_refused() -> None:
    # Changing and unchanging jobs, failures and a job that ends: nothing trips the guard.
    server = VirtualBkJob({1: 3.0, 2: 1e9, 3: 12.0})

    async def main() -> int:
        async with server.outage_beside(5.0, 9.0, policy=POLICY) as poller:
            with anyio.move_on_after(30.0):
                async for _ in poller.watch_jobs(SCOPE, list(server.ids.values())):
                    pass
            return poller.statistics().refused_polls

    assert run_virtual(main) == 0


def test_watching_a_remembered_job_again_polls_it_at_the_policy_pace() -> None:
    # A job the poller remembers starts from its known state, like a restored one: its first
    # answer is unchanged, and the interval must not grow from zero.
    server = VirtualBkJob({1: 1e9})
    one = server.job(1)

    async def main() -> tuple[int, int]:
        async with Poller(server.client(), policy=POLICY) as poller:
            async with poller.watch_jobs(SCOPE, [one]) as watch:
                await watch.__anext__()  # polled once: the poller knows the job now
            before = server.polls[one]
            async with poller.watch_jobs(SCOPE, [one]):
                await anyio.sleep(10.0)
            return server.polls[one] - before, poller.statistics().refused_polls

    polls, refused = run_virtual(main)
    assert polls <= 5  # 0, 0.9, 2.25, 4.28, 7.31: interval, then growing by 1.5
    assert refused == 0


def test_throttled_polls_wait_the_gap_too() -> None:
    # A 429 answer is rescheduled after the governor's pause and the gap: never refused.
    server = VirtualBkJob({1: 5.0, 2: 5.0})

    async def main() -> tuple[int, bool]:
        async with server.outage_beside(0.0, 3.0, Fault.rate_limited(), policy=POLICY) as poller:
            ended = 0
            with anyio.fail_after(60):
                async for event in poller.watch_jobs(SCOPE, list(server.ids.values())):
                    ended += isinstance(event, JobFinished)
            return poller.statistics().refused_polls, ended == 2

    refused, ended = run_virtual(main)
    assert ended
    assert refused == 0
