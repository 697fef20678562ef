"""The poller against the simulator on what spec §7 changes (issue 9 points 4, 5 and 6).

* It never reads a v2 step status (which lists the first result group only, §7.5): result
  groups are followed on the gateway alone, and v2 hosts come from the job status.
* Its result-group polls on the gateway cover every rolling batch (``batch=0``, §7.6).
* A credentials refusal of the ESB is final at once, never retried (§7.16).
"""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import (
    AuthenticationError,
    HostTransition,
    JobFinished,
    Poller,
    PollPolicy,
    StepTransition,
)
from bkjob_async.models.enums import HostStatus, JobStatus, StepType
from bkjob_async.testing import BkJobSimulator, StepPlan

from .conftest import ALL_FLAVORS, GATEWAY, SCOPE, V2, read_to_end, ticking

pytestmark = pytest.mark.sim(virtual_clock=True, seed=3, host_duration=1.0, host_start_delay=0.0)
POLICY = PollPolicy(interval=0.005, max_interval=0.02, group_threshold=3, max_in_flight=4)


async def follow(sim: BkJobSimulator, watch, *, tick: float = 0.1) -> list:
    """Read ``watch`` to its end while the virtual clock moves ``tick`` s every 10 ms."""
    return await read_to_end(watch, ticking(sim, tick), within=20)


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_large_steps_are_followed_by_groups_on_the_gateway_only(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=8, fail_rate=0.5)])
    async with make_client(flavor=flavor) as c, Poller(c, policy=POLICY) as poller:
        events = await follow(sim, poller.watch_job(SCOPE, job_id))
    finished = events[-1]
    assert isinstance(finished, JobFinished)
    last = {e.host.key: e.current for e in events if isinstance(e, HostTransition)}
    assert sorted(last.values()) == sorted(h.status for h in finished.snapshot.steps[0].hosts)
    assert len(last) == 8
    step_status_polls = sim.request_count("get_step_instance_status")
    if flavor is GATEWAY:
        assert step_status_polls > 0
    else:  # v2's step status is partial (§7.5); jobv3 has none: read the job status only
        assert step_status_polls == 0


async def test_group_polls_on_the_gateway_see_every_rolling_batch_as_it_ends(sim, make_client):
    rolling = StepPlan(hosts=6, rolling_batch_size=2)
    job_id = sim.create_job(SCOPE, [rolling, StepPlan(hosts=1, duration=600)])
    events: list = []

    async def clock() -> None:
        while True:
            await anyio.sleep(0.01)
            sim.advance(0.1)

    async with (
        make_client(flavor=GATEWAY) as c,
        Poller(c, policy=POLICY) as poller,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(clock)
        with anyio.fail_after(20):
            async for event in poller.watch_job(SCOPE, job_id):
                events.append(event)
                if isinstance(event, StepTransition) and event.current is JobStatus.SUCCESS:
                    break  # the second step runs for 10 minutes: the job is not finished
        tg.cancel_scope.cancel()
    assert sim.request_count("get_step_instance_status") > 0
    done = {e.host.key for e in events if isinstance(e, HostTransition) and e.current == 9}
    # Every batch's hosts were seen succeeding by the time the step did, not just the last
    # batch's (the job is not finished, so no final full poll filled anything in).
    assert len(done) == 6
    assert sim.job(job_id).status is JobStatus.RUNNING


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_wrong_secret_ends_the_watch_at_once(make_client, flavor):
    async with BkJobSimulator(virtual_clock=True, apps={"sim-app": "sim-secret"}) as strict:
        job_id = strict.create_job(SCOPE, [StepPlan()])
        async with (
            make_client(
                base_url=strict.url, flavor=flavor, app_code="sim-app", app_secret="wrong"
            ) as c,
            Poller(c, policy=POLICY) as poller,
        ):
            with anyio.fail_after(10), pytest.raises(AuthenticationError):
                async for _ in poller.watch_job(SCOPE, job_id):
                    pass  # the watch ends with the error (a WatchFailed) at once
        assert strict.request_count() == 1  # neither the client nor the poller retried


async def test_v2_hosts_of_a_large_step_come_from_the_job_status(sim, make_client):
    job_id = sim.create_job(SCOPE, [StepPlan(StepType.FILE, hosts=5, fail_rate=1.0)])
    async with make_client(flavor=V2) as c, Poller(c, policy=POLICY) as poller:
        events = await follow(sim, poller.watch_job(SCOPE, job_id))
    last = {e.host.key: e.current for e in events if isinstance(e, HostTransition)}
    assert set(last.values()) == {HostStatus.COPYFILE_FAILED}
    assert len(last) == 5
