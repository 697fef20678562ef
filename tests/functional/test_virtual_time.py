"""``bkjob_async.testing.run_virtual``: users' tests of a poller on virtual time take no time.

The README's example, as a user writes it: a poller with its default 5 s gaps, a simulator in
memory on the loop's clock. Minutes of polling pass in virtual time; the real time it takes
is a small fraction of that (a ratio, not a timing: the run waits for no timer at all).
"""

from __future__ import annotations

import time

from bkjob_async import BkJobClient, JobFinished, Poller, PollPolicy, Scope
from bkjob_async.testing import BkJobSimulator, StepPlan, loop_time, run_virtual

SCOPE = Scope.biz(2)


async def _watch(n: int) -> tuple[list[int], float]:
    sim = BkJobSimulator(host_duration=(30, 300), virtual_clock=loop_time)
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=3), StepPlan(hosts=2)]) for _ in range(n)]
    ended = []
    async with (
        BkJobClient(
            "http://bkjob.test",
            transport=sim.transport(),
            app_code="a",
            app_secret="s",
            username="u",
        ) as client,
        Poller(client, policy=PollPolicy()) as poller,
    ):
        async for event in poller.watch_jobs(SCOPE, ids):
            if isinstance(event, JobFinished):
                ended.append(event.job_instance_id)
                assert event.status.is_success
    assert sorted(ended) == sorted(ids)
    return ended, loop_time()


def test_minutes_of_polling_run_in_virtual_time() -> None:
    started = time.perf_counter()
    _, virtual = run_virtual(_watch, 10)
    real = time.perf_counter() - started
    assert virtual >= 60  # hosts ran 30-300 s each, two steps: minutes of 5 s gaps
    assert real < virtual / 10, (real, virtual)


def test_loop_time_outside_a_loop_is_zero() -> None:
    assert loop_time() == 0.0
