"""A bk-job that accepts connections and answers nothing (SIGSTOP, a hung gateway) mid-watch.

The outage is told once (``PollingStalled``) at the first poll that times out, and its end
once (``PollingResumed``): for one job alone (three timeouts in a row would take three poll
timeouts) and for a wait for ends only (the job list read with the poll timeout, not the
client's ``Timeouts``).
"""

from __future__ import annotations

import time

import anyio
import attrs

from bkjob_async import (
    BkJobClient,
    JobFinished,
    Poller,
    PollingResumed,
    PollingStalled,
    PollPolicy,
    TimeoutError,
)
from bkjob_async.testing import BkJobSimulator, StepPlan

from .conftest import SCOPE
from .unplug import Unpluggable

POLICY = PollPolicy(interval=0.1, max_interval=0.3, poll_timeout=0.6)  # (below OUTAGE_AFTER)


async def _frozen_watch(
    jobs: int, events: tuple[type, ...] | None, freeze: float, policy: PollPolicy = POLICY
) -> tuple[list, int]:
    """Watch ``jobs`` long jobs; freeze bk-job for ``freeze`` s once polls answer; return what
    the watch told, with the time since the freeze, until the outage is over, and how many
    jobs the job list followed before the freeze."""
    told: list = []
    async with BkJobSimulator(seed=5, host_duration=(60.0, 90.0), host_start_delay=0.0) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=2)]) for _ in range(jobs)]
        async with Unpluggable(sim.url) as proxy:
            client = BkJobClient(proxy.url, app_code="app", app_secret="secret", username="u")
            async with (
                client,
                Poller(client, policy=policy) as poller,
                poller.watch_jobs(SCOPE, ids, events=events) as watch,
            ):
                await anyio.sleep(0.5)  # polls answer (the census too)
                census = poller.statistics().census_jobs
                frozen = time.monotonic()
                proxy.freeze()
                with anyio.fail_after(20):
                    async for event in watch:
                        if isinstance(event, (PollingStalled, PollingResumed)):
                            told.append((event, time.monotonic() - frozen))
                            if isinstance(event, PollingStalled):
                                await anyio.sleep(max(0.0, frozen + freeze - time.monotonic()))
                                proxy.thaw()
                            else:
                                break
    return told, census


async def test_one_job_a_frozen_server_is_an_outage_at_the_first_poll_timeout() -> None:
    """Three timeouts in a row would take three poll timeouts and more; one is enough."""
    policy = attrs.evolve(POLICY, poll_timeout=2.5)
    told, census = await _frozen_watch(1, None, freeze=3.5, policy=policy)
    assert census == 0
    assert [type(e) for e, _ in told] == [PollingStalled, PollingResumed]
    stalled, at = told[0]
    assert isinstance(stalled.error, TimeoutError)
    assert at < 2 * 2.5  # the first poll that timed out (one in flight at the freeze)


async def test_a_wait_for_ends_only_hears_of_a_frozen_server_too() -> None:
    """The job list (the census) is read with the poll timeout, not the client's 65 s."""
    told, census = await _frozen_watch(3, (JobFinished, PollingStalled, PollingResumed), 3.0)
    assert census == 3  # the job list stands for their polls: a wait for ends only
    assert [type(e) for e, _ in told] == [PollingStalled, PollingResumed]
    assert told[0][1] < 3.0
