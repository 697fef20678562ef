"""The sync ``Poller`` on virtual time (issue 87): a blocking app tests its waits without
sleeping, on a client made with ``BkJobClient.on_loop(VirtualTimeLoop, ...)``."""

from __future__ import annotations

import time

import pytest

from bkjob_async import BkJobClient, PollPolicy, Scope
from bkjob_async.models import HostStatus, JobStatus
from bkjob_async.sync import BkJobClient as SyncClient
from bkjob_async.sync import Poller as SyncPoller
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan, VirtualTimeLoop, loop_time

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}
URL = "http://bk-job.test"


async def _now(client: BkJobClient) -> float:
    return loop_time()


def test_a_sync_poller_waits_an_hour_of_virtual_time() -> None:
    sim = BkJobSimulator(virtual_clock=loop_time)
    hosts = [HostPlan(duration=3600), HostPlan(duration=1200, outcome=HostStatus.FAILED)]
    job = sim.create_job(SCOPE, [StepPlan(hosts=hosts)])
    started = time.monotonic()
    with (
        SyncClient.on_loop(
            VirtualTimeLoop, URL, transport=sim.transport(), **CREDENTIALS
        ) as client,
        SyncPoller(client, clock=loop_time) as poller,
    ):
        status = poller.wait_finished(SCOPE, job, with_hosts=True)
        now = client.run(_now)
        reads = sim.request_count()
    real = time.monotonic() - started
    assert status.finished
    assert status.job.status is JobStatus.FAIL
    assert {row.status for row in status.steps[0].hosts or ()} == {
        HostStatus.SUCCESS,
        HostStatus.FAILED,
    }
    assert 3600 <= now < 3600 + 120  # the hour passed on the loop's clock ...
    assert real < now / 10  # ... in a small share of it on the wall clock
    assert reads <= 3600 / PollPolicy().interval + 20  # at the policy's pace, no tight loop


def test_a_sync_client_on_virtual_time_keeps_its_own_loop() -> None:
    sim = BkJobSimulator(virtual_clock=loop_time)
    job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=600)])])
    with (
        SyncClient.on_loop(
            VirtualTimeLoop, URL, transport=sim.transport(), **CREDENTIALS
        ) as virtual,
        SyncPoller(virtual) as poller,
    ):
        with pytest.raises(TimeoutError):  # the real-time bound of a wait still holds
            poller.wait_finished(SCOPE, job, timeout=0)
        assert poller.wait_finished(SCOPE, job).finished  # (the loop's own clock by default)
        assert client_loop_time(virtual) >= 600
    assert virtual.closed


def client_loop_time(client: SyncClient) -> float:
    return client.run(_now)


def test_a_loop_factory_is_checked_first() -> None:
    with pytest.raises(TypeError, match="loop_factory must make an event loop"):
        SyncClient.on_loop(None, URL, **CREDENTIALS)  # type: ignore[arg-type]
