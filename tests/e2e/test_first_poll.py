"""A job that joins a watch is read at once, not at its phase within an interval.

With a 30 s interval, an ended job's ``JobFinished`` comes in well under a second: through
its own poll, through the job list (a watch of ends only), and when it is asked for again.
(Before, each waited for its phase: up to the whole interval, 29 s for ``watch --interval 30``.)
"""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import BkJobClient, JobFinished, Poller, PollPolicy
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..cli_run import SCOPE, SIM

pytestmark = pytest.mark.sim(**SIM)

SLOW = PollPolicy(interval=30.0, max_interval=60.0)
#: Far below the interval, far above a loaded machine's delay for a few local requests.
SOON = 5.0


async def _ended(sim: BkJobSimulator, n: int) -> list[int]:
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=2)]) for _ in range(n)]
    with anyio.fail_after(10):
        while not all(sim.job(i).status.is_finished for i in ids):
            await anyio.sleep(0.02)
    return ids


@pytest.mark.parametrize("events", [None, (JobFinished,)], ids=["every-event", "ends-only"])
async def test_a_new_watch_reads_its_jobs_at_once(sim: BkJobSimulator, events) -> None:
    ids = await _ended(sim, 3)
    async with (
        BkJobClient(sim.url, app_code="a", app_secret="s", username="admin") as client,
        Poller(client, policy=SLOW) as poller,
    ):
        ended = set()
        with anyio.fail_after(SOON):
            async for event in poller.watch_jobs(SCOPE, ids, events=events):
                if isinstance(event, JobFinished):
                    ended.add(event.job_instance_id)
        assert ended == set(ids)


async def test_a_job_asked_for_again_is_read_at_once(sim: BkJobSimulator) -> None:
    (job,) = await _ended(sim, 1)
    async with (
        BkJobClient(sim.url, app_code="a", app_secret="s", username="admin") as client,
        Poller(client, policy=SLOW) as poller,
    ):
        for _ in range(2):
            with anyio.fail_after(SOON):
                status = await poller.wait_finished(SCOPE, job)
            assert status.job.status.is_finished


async def test_a_job_joining_while_the_job_list_waits_its_round_is_read_at_once(
    sim: BkJobSimulator,
) -> None:
    (done,) = await _ended(sim, 1)
    running = sim.create_job(SCOPE, [StepPlan(hosts=1, duration=(600.0, 600.0))])
    policy = PollPolicy(interval=30.0, max_interval=60.0, latency=30.0)
    async with (
        BkJobClient(sim.url, app_code="a", app_secret="s", username="admin") as client,
        Poller(client, policy=policy) as poller,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(poller.wait_finished, SCOPE, running)  # the list reads it each round
        with anyio.fail_after(SOON):
            while poller.statistics().census_requests < 1:
                await anyio.sleep(0.02)
        with anyio.fail_after(SOON):
            await poller.wait_finished(SCOPE, done)
        tg.cancel_scope.cancel()
