"""A watch of a rolling job reports its batches: each start and end, and the hosts waiting."""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import HostTransition, JobFinished, Poller, PollPolicy, StepTransition
from bkjob_async.models.enums import JobStatus
from bkjob_async.polling.batches import BatchEnded, BatchStarted, BatchWaiting, follow_batches
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

from .conftest import ALL_FLAVORS, SCOPE

pytestmark = pytest.mark.sim(
    virtual_clock=True, seed=3, host_duration=1.0, host_start_delay=0.0, operation_lag=0.5
)
POLICY = PollPolicy(interval=0.005, max_interval=0.02, max_in_flight=4)


async def watched(sim: BkJobSimulator, make_client, flavor, job_id: int) -> list:
    events: list = []
    async with (
        make_client(flavor=flavor) as client,
        Poller(client, policy=POLICY) as poller,
        anyio.create_task_group() as tg,
    ):

        async def clock() -> None:
            while True:
                await anyio.sleep(0.01)
                sim.advance(0.1)

        tg.start_soon(clock)
        with anyio.fail_after(30):
            async for event in follow_batches(poller.watch_job(SCOPE, job_id)):
                events.append(event)
        tg.cancel_scope.cancel()
    return events


def batch_events(events: list) -> list[tuple]:
    kinds = {BatchStarted: "start", BatchEnded: "end", BatchWaiting: "wait"}
    return [
        (kinds[type(e)], e.batch, len(e.hosts))
        for e in events
        if isinstance(e, (BatchStarted, BatchEnded, BatchWaiting))
    ]


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_ten_batch_rolling_job_yields_every_batch_in_order(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=20, rolling_batch_size=2)])
    step = sim.job(job_id).steps[0]
    by_batch: dict[int, set] = {}
    for host in step.hosts or ():
        key = host.bk_host_id if flavor.is_v3 else (host.bk_cloud_id, host.ip, None)
        by_batch.setdefault(host.batch, set()).add(key)
    events = await watched(sim, make_client, flavor, job_id)
    assert isinstance(events[-1], JobFinished)
    expected = []
    for batch in range(1, 11):
        expected += [("start", batch, 2), ("end", batch, 2)]
        if batch < 10:
            expected.append(("wait", batch + 1, 20 - 2 * batch))
    assert batch_events(events) == expected
    for event in events:
        if isinstance(event, (BatchStarted, BatchEnded)):
            assert set(event.hosts) == by_batch[event.batch]
        if isinstance(event, BatchWaiting):
            assert set(event.hosts) == set().union(*(by_batch[b] for b in range(event.batch, 11)))
    # each batch event follows the host transitions it is made of
    ends = [i for i, e in enumerate(events) if isinstance(e, BatchEnded)]
    for i in ends:
        done = {e.host_key for e in events[:i] if isinstance(e, HostTransition) and e.current == 9}
        assert set(events[i].hosts) <= done
    assert len({e.event_id for e in events if hasattr(e, "batch")}) == 29


async def test_a_failed_batch_ends_with_its_failures_and_the_rest_wait(sim, make_client):
    bad = HostPlan(outcome=104)
    plan = StepPlan(
        hosts=[HostPlan(), HostPlan(), bad, HostPlan(), HostPlan()], rolling_batch_size=2
    )
    job_id = sim.create_job(SCOPE, [plan])
    events = await watched(sim, make_client, ALL_FLAVORS[0], job_id)
    assert batch_events(events) == [
        ("start", 1, 2),
        ("end", 1, 2),
        ("wait", 2, 3),
        ("start", 2, 2),
        ("end", 2, 2),
        ("wait", 3, 1),  # the step fails at batch 2 (pause on failure): host 5 never runs
    ]
    (failed_end,) = [e for e in events if isinstance(e, BatchEnded) and e.batch == 2]
    assert len(failed_end.failed) == 1
    assert sim.job(job_id).status is JobStatus.FAIL


async def test_a_step_that_does_not_roll_yields_no_batch_event(sim, make_client):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=4), StepPlan(hosts=2)])
    events = await watched(sim, make_client, ALL_FLAVORS[0], job_id)
    assert any(isinstance(e, StepTransition) for e in events)
    assert batch_events(events) == []
