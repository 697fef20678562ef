"""The simulator calls ``callback_url`` as bk-job's ``CallbackListener`` does (spec §2).

JSON first; after any answer but HTTP 200 the same JSON text once more, labelled
``application/x-www-form-urlencoded``; never a third post; nothing when the egress whitelist
refuses the URL. The simulator's request handling never waits for a receiver.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from bkjob_async import (
    Account,
    BkJobClient,
    Callback,
    CallbackReceiver,
    JobOperation,
    JobStatus,
    StepOperation,
    Targets,
)
from bkjob_async.testing import BkJobSimulator, HostPlan, Request, Response, StepPlan, serve

from ..conftest import Clients
from .conftest import SCOPE

pytestmark = pytest.mark.sim(seed=1, host_duration=(0.05, 0.1), host_start_delay=0.0)


class Recorder:
    """A callback receiver served by ``testing.serve``: it answers each post to ``/hook`` with
    the next status of ``answers`` (200 once they run out)."""

    def __init__(self, answers: list[int], *, hold: anyio.Event | None = None) -> None:
        self.answers, self.hold = answers, hold
        self.posts: list[tuple[str, bytes]] = []
        self.arrived = anyio.Event()
        self.server = serve(self)
        self.url = ""

    async def __call__(self, request: Request) -> Response:
        if request.method != "POST" or urlsplit(request.url).path != "/hook":
            return Response(404, {"Content-Type": "text/plain"}, b"404: Not Found")
        self.posts.append((request.headers.get("Content-Type", ""), request.body or b""))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        status = self.answers.pop(0) if self.answers else 200
        return Response(status, {"Content-Type": "text/plain; charset=utf-8"}, b"x")

    async def __aenter__(self) -> Recorder:
        await self.server.start()
        self.url = f"{self.server.url}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.__aexit__(*exc)


async def until(predicate: Any, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


async def launch(client: BkJobClient, callback_url: str, hosts: int = 1) -> int:
    launched = await client.fast_execute_script(
        SCOPE,
        targets=Targets(host_ids=list(range(1001, 1001 + hosts))),
        account=Account(alias="root"),
        script_content="uptime",
        callback_url=callback_url,
    )
    return launched.job_instance_id


@pytest.fixture
def client(make_client: Clients) -> BkJobClient:
    return make_client()


async def test_a_job_end_reaches_the_receiver_with_its_steps(
    sim: BkJobSimulator, client: BkJobClient
) -> None:
    received: list[Callback] = []
    async with CallbackReceiver(received.append) as receiver:
        job_id = await launch(client, receiver.callback_url, hosts=2)
        await until(lambda: received)
        await anyio.sleep(0.2)  # and nothing more
    (callback,) = received
    view = sim.job(job_id)
    assert callback.job_instance_id == job_id
    assert callback.status is JobStatus.SUCCESS
    assert callback.step_instances == tuple((s.step_instance_id, s.status) for s in view.steps)
    stats = sim.statistics()
    assert (stats.callbacks_sent, stats.callbacks_delivered, stats.callbacks_retried) == (1, 1, 0)
    assert receiver.statistics().accepted == 1


async def test_a_non_200_gets_the_same_json_once_more_labelled_form(
    sim: BkJobSimulator, client: BkJobClient
) -> None:
    async with Recorder([500]) as server:
        job_id = await launch(client, server.url)
        await until(lambda: len(server.posts) == 2)
        await anyio.sleep(0.2)
    (first_type, first), (second_type, second) = server.posts
    assert first_type == "application/json"
    assert second_type == "application/x-www-form-urlencoded"
    assert first == second  # the same JSON text, not form-encoded
    assert json.loads(first) == {
        "job_instance_id": job_id,
        "status": 3,
        "step_instances": [
            {"step_instance_id": sim.job(job_id).steps[0].step_instance_id, "status": 3}
        ],
    }
    stats = sim.statistics()
    assert (stats.callbacks_sent, stats.callbacks_retried, stats.callbacks_delivered) == (1, 1, 1)


async def test_never_a_third_post(sim: BkJobSimulator, client: BkJobClient) -> None:
    async with Recorder([500, 404, 500]) as server:
        await launch(client, server.url)
        await until(lambda: len(server.posts) == 2)
        await anyio.sleep(0.3)
        assert len(server.posts) == 2
    stats = sim.statistics()
    assert (stats.callbacks_retried, stats.callbacks_failed, stats.callbacks_delivered) == (1, 1, 0)


async def test_the_second_post_reaches_the_receiver_after_its_sink_failed(
    sim: BkJobSimulator, client: BkJobClient
) -> None:
    received: list[Callback] = []

    def flaky(callback: Callback) -> None:
        received.append(callback)
        if len(received) == 1:
            raise RuntimeError("not now")

    async with CallbackReceiver(flaky) as receiver:
        await launch(client, receiver.callback_url)
        await until(lambda: len(received) == 2)
        assert receiver.statistics().accepted == 1
        assert receiver.statistics().sink_errors == 1
    assert received[0] == received[1]


async def test_no_answer_is_no_retry(sim: BkJobSimulator, client: BkJobClient) -> None:
    async with Recorder([]) as server:
        dead = server.url  # nothing listens there once the server is gone
    await launch(client, dead)
    await until(lambda: sim.statistics().callbacks_failed == 1)
    assert sim.statistics().callbacks_retried == 0


async def test_the_egress_whitelist_drops_callbacks_silently(
    sim: BkJobSimulator, client: BkJobClient
) -> None:
    received: list[Callback] = []
    async with CallbackReceiver(received.append) as receiver:
        sim.set_callback_whitelist(lambda url: "10.0.0." in url)
        await launch(client, receiver.callback_url)
        await until(lambda: sim.statistics().callbacks_dropped == 1)
        sim.set_callback_whitelist(None)
        await launch(client, receiver.callback_url)
        await until(lambda: len(received) == 1)
    assert sim.statistics().callbacks_sent == 1


async def test_a_slow_receiver_never_slows_the_simulator(
    sim: BkJobSimulator, client: BkJobClient
) -> None:
    release = anyio.Event()
    async with Recorder([], hold=release) as server:
        job_id = await launch(client, server.url)
        await until(lambda: server.posts)  # the receiver holds the post until released
        began = time.monotonic()
        for _ in range(20):
            await client.get_job_instance_status(SCOPE, job_id)
        await launch(client, server.url)
        assert time.monotonic() - began < 1.0
        release.set()
        await until(lambda: sim.statistics().callbacks_delivered == 2)


async def test_a_retried_job_that_ends_again_calls_back_again(
    sim: BkJobSimulator, client: BkJobClient
) -> None:
    received: list[Callback] = []
    failing = HostPlan(outcome=11, retry_outcomes=[9], duration=0.05)
    sim.add_plan(7, [StepPlan(hosts=[failing])])
    async with CallbackReceiver(received.append) as receiver:
        launched = await client.execute_job_plan(SCOPE, 7, callback_url=receiver.callback_url)
        job_id = launched.job_instance_id
        await until(lambda: received)
        assert received[0].status is JobStatus.FAIL
        step_id = received[0].step_instances[0][0]
        await client.operate_step_instance(SCOPE, job_id, step_id, StepOperation.RETRY_FAILED)
        await until(lambda: len(received) == 2)
        await anyio.sleep(0.2)
    assert [c.status for c in received] == [JobStatus.FAIL, JobStatus.SUCCESS]


async def test_a_job_started_later_calls_back_when_it_ends(
    sim: BkJobSimulator, client: BkJobClient
) -> None:
    received: list[Callback] = []
    async with CallbackReceiver(received.append) as receiver:
        launched = await client.fast_execute_script(
            SCOPE,
            targets=Targets(host_ids=[1001]),
            account=Account(alias="root"),
            script_content="uptime",
            callback_url=receiver.callback_url,
            start_task=False,
        )
        await anyio.sleep(0.3)
        assert received == []
        await client.operate_job_instance(SCOPE, launched.job_instance_id, JobOperation.START)
        await until(lambda: received)
    assert received[0].status is JobStatus.SUCCESS


async def test_with_a_virtual_clock_callbacks_follow_advance(make_client: Clients) -> None:
    received: list[Callback] = []
    async with (
        BkJobSimulator(virtual_clock=True, host_duration=5.0, host_start_delay=0.0) as sim,
        make_client(base_url=sim.url) as client,
        CallbackReceiver(received.append) as receiver,
    ):
        job_id = await launch(client, receiver.callback_url)
        await anyio.sleep(0.3)
        assert received == []  # the clock has not moved
        sim.advance(6.0)
        await until(lambda: received)
    assert received[0].job_instance_id == job_id


async def test_many_jobs_ending_together_all_call_back(
    sim: BkJobSimulator, client: BkJobClient
) -> None:
    received: list[Callback] = []
    async with CallbackReceiver(received.append) as receiver:
        ids = [await launch(client, receiver.callback_url) for _ in range(200)]
        await until(lambda: len(received) == 200, timeout=30)
    assert sorted(c.job_instance_id for c in received) == sorted(ids)


async def test_create_job_takes_a_callback_url(sim: BkJobSimulator) -> None:
    received: list[Callback] = []
    async with CallbackReceiver(received.append) as receiver:
        job_id = sim.create_job(SCOPE, [StepPlan(hosts=2)], callback_url=receiver.callback_url)
        await until(lambda: received)
    assert received[0].job_instance_id == job_id
    assert received[0].status is JobStatus.SUCCESS


async def test_start_and_aclose_may_be_called_from_any_task_and_scope() -> None:
    """The sender's task group lives in a task of the simulator's own, not the caller's."""
    sim = BkJobSimulator()
    async with anyio.create_task_group() as group:
        group.start_soon(sim.start)
    received: list[Callback] = []
    async with CallbackReceiver(received.append) as receiver:
        sim.create_job(SCOPE, [StepPlan(hosts=1)], callback_url=receiver.callback_url)
        with anyio.fail_after(10):
            while not received:
                await anyio.sleep(0.01)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await sim.aclose()  # closes even in a cancelled scope
    with pytest.raises(RuntimeError, match="not started"):
        _ = BkJobSimulator().url
