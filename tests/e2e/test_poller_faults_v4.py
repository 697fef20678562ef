"""A watch on ``apigw-v4`` through the simulator's HTTP server while it breaks: an outage is
ridden (stalled, resumed, nothing lost, hosts and containers alike), a 429's ``Retry-After``
obeyed, and a 403 ends the watch with what to apply for and no secret."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from bkjob_async import (
    Account,
    BkJobClient,
    ContainerTransition,
    HostStatus,
    HostTransition,
    JobFinished,
    KubeContainerFilter,
    PermissionDeniedError,
    Poller,
    PollingResumed,
    PollingStalled,
    PollPolicy,
    RetryPolicy,
    Targets,
    WatchFailed,
)
from bkjob_async.testing import BkJobSimulator, Fault, StepPlan

from ..cli_run import SIM
from ..conftest import APP_SECRET, BK_TOKEN, SECRETS
from .conftest import SCOPE

pytestmark = pytest.mark.sim(**SIM)

V4 = "apigw-v4"
STATUS = "get_job_instance_status"
FAST = PollPolicy(interval=0.02, max_interval=0.1, latency=None)


def _client(sim: BkJobSimulator) -> BkJobClient:
    return BkJobClient(
        sim.url,
        flavor=V4,
        app_code="a",
        app_secret=APP_SECRET,
        bk_token=BK_TOKEN,
        retry=RetryPolicy(max_attempts=1),
    )


async def _watch_through_an_outage(sim: BkJobSimulator, client: BkJobClient, job: int) -> list[Any]:
    """Watch ``job`` while every v4 status read fails with 503 until the watch says it stalled."""
    seen: list[Any] = []
    sim.inject(Fault.http_status(503), flavor=V4, api=STATUS, times=None, skip=1)
    async with Poller(client, policy=FAST) as poller:
        with anyio.fail_after(30):
            async for event in poller.watch_jobs(SCOPE, [job]):
                seen.append(event)
                if isinstance(event, PollingStalled):
                    sim.clear_faults()
    return seen


async def test_a_host_watch_on_v4_rides_an_outage(sim: BkJobSimulator) -> None:
    # Its hosts run 4 s: the first read, the one the fault lets through, finds it running
    # however slow the set-up (at 0.05-0.2 s a loaded machine's first read saw it ended).
    job = sim.create_job(SCOPE, [StepPlan(hosts=3, duration=(4.0, 4.0))])
    async with _client(sim) as client:
        seen = await _watch_through_an_outage(sim, client, job)
    kinds = [type(e) for e in seen]
    assert kinds.count(PollingStalled) == kinds.count(PollingResumed) == 1
    assert kinds.index(PollingStalled) < kinds.index(PollingResumed) < kinds.index(JobFinished)
    ended = {e.host.bk_host_id: e.current for e in seen if isinstance(e, HostTransition)}
    assert len(ended) == 3
    assert set(ended.values()) == {HostStatus.SUCCESS}
    assert sim.request_count(STATUS, V4) > sim.request_count(STATUS, "apigw-v3") == 0


async def test_a_container_watch_on_v4_rides_an_outage(sim: BkJobSimulator) -> None:
    pods = KubeContainerFilter(["BCS-K8S-00001"], namespaces=["prod"], container_names=["a", "b"])
    async with _client(sim) as client:
        launch = await client.fast_execute_script(
            SCOPE,
            targets=Targets(containers=[pods]),
            account=Account(alias="root"),
            script_content="echo hi",
        )
        seen = await _watch_through_an_outage(sim, client, launch.job_instance_id)
    assert [type(e) for e in seen].count(PollingResumed) == 1
    last: dict[int, HostStatus] = {}
    for event in seen:
        if isinstance(event, ContainerTransition):
            last[event.container.id] = event.current
    assert len(last) == 4  # two per container name
    assert set(last.values()) == {HostStatus.SUCCESS}
    assert not [e for e in seen if isinstance(e, HostTransition)]
    (finished,) = [e for e in seen if isinstance(e, JobFinished)]
    assert finished.status.is_success


async def test_a_watch_on_v4_obeys_retry_after(sim: BkJobSimulator) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)])  # done within 0.2 s
    sim.inject(Fault.rate_limited(retry_after=0.8), flavor=V4, api=STATUS, skip=1)
    async with _client(sim) as client, Poller(client, policy=FAST) as poller:
        started = anyio.current_time()
        with anyio.fail_after(30):
            seen = [e async for e in poller.watch_jobs(SCOPE, [job])]
        took = anyio.current_time() - started
    assert isinstance(seen[-1], JobFinished)
    assert len({e.host.bk_host_id for e in seen if isinstance(e, HostTransition)}) == 2
    assert took >= 0.75  # the poll after the 429 waited its Retry-After
    assert sim.request_count(STATUS, V4) >= 3


async def test_a_403_on_v4_ends_the_watch_with_what_to_apply_for(sim: BkJobSimulator) -> None:
    permission = {
        "system_id": "bk_job",
        "actions": [{"id": "view_history", "name": "查看执行历史"}],
    }
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    denied = Fault.business_error(9900403, f"no permission ({APP_SECRET})", permission=permission)
    sim.inject(denied, flavor=V4, api=STATUS, times=None)
    async with _client(sim) as client, Poller(client, policy=FAST) as poller:
        with anyio.fail_after(30):
            seen = [e async for e in poller.watch_jobs(SCOPE, [job])]
    (failed,) = seen
    assert isinstance(failed, WatchFailed)
    error = failed.error
    assert isinstance(error, PermissionDeniedError)
    assert (error.http_status, error.code_name, error.permission) == (
        403,
        "NO_PERMISSION",
        permission,
    )
    text = f"{error} {error!r} {failed!r}"
    assert all(secret not in text for secret in SECRETS)
    assert sim.request_count(STATUS, V4) == 1  # permanent: never asked again
