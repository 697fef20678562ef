"""``MockTransport`` and ``BkJobSimulator.transport()``: the client and the poller in memory.

The simulator in memory answers what it answers over HTTP, byte for byte, on every flavor;
a handler of the user's own answers the client; neither opens a socket.
"""

from __future__ import annotations

import itertools
import socket
import time

import anyio
import pytest

from bkjob_async import (
    ApiFlavor,
    BkJobClient,
    ConnectError,
    JobFinished,
    JobStatus,
    NotFoundError,
    Poller,
    PollPolicy,
    Scope,
    TransportError,
)
from bkjob_async.testing import (
    BkJobSimulator,
    Fault,
    MockTransport,
    Request,
    Response,
    StepPlan,
    json_response,
)

SCOPE = Scope.biz(2)
FLAVORS = [ApiFlavor.APIGW_V3, ApiFlavor.ESB_JOBV3, ApiFlavor.ESB_V2]


def client(transport: MockTransport, **kwargs) -> BkJobClient:
    return BkJobClient(
        "http://bkjob.test", app_code="a", app_secret="s", username="admin",
        transport=transport, **kwargs,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in memory may open a socket (the real simulator would)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "bind", refuse)


async def test_a_handler_answers_the_client() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        data = {
            "finished": True,
            "job_instance": {"job_instance_id": 7, "status": 3, "name": "x"},
            "step_instance_list": [],
        }
        return json_response({"result": True, "code": 0, "data": data})

    mock = MockTransport(handler)
    async with client(mock) as c:
        status = await c.get_job_instance_status(SCOPE, 7)
    assert status.job.status is JobStatus.SUCCESS
    assert mock.requests == 1
    assert seen[0].api == "get_job_instance_status"
    assert seen[0].query is not None
    assert seen[0].query["job_instance_id"] == "7"


async def test_an_async_handler_and_its_errors_behave_as_a_network_would() -> None:
    calls = 0

    async def handler(request: Request) -> Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectError("refused (mock)")
        return json_response({"result": False, "code": 1244006, "message": "no such job"})

    async with client(MockTransport(handler)) as c:
        with pytest.raises(NotFoundError):
            await c.get_job_instance_status(SCOPE, 7)
    assert calls == 2  # the connect error was retried, as a real one is


async def test_a_handler_must_answer_a_response() -> None:
    async with client(MockTransport(lambda request: {"result": True})) as c:
        with pytest.raises(TypeError, match="must return a Response"):
            await c.get_job_instance_status(SCOPE, 7)
    with pytest.raises(TypeError, match="callable"):
        MockTransport("not a function")  # type: ignore[arg-type]


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_the_simulator_in_memory_answers_as_over_http(
    flavor: ApiFlavor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # this one compares with the HTTP server: sockets allowed
    sim = BkJobSimulator(seed=3, virtual_clock=True)
    job = sim.create_job(SCOPE, [StepPlan(hosts=3), StepPlan(hosts=2)])
    sim.advance(1.0)
    async with sim, client(sim.transport(), flavor=flavor) as memory:
        over_http = BkJobClient(
            sim.url, app_code="a", app_secret="s", username="admin", flavor=flavor
        )
        async with over_http:
            assert await memory.get_job_instance_status(SCOPE, job) == (
                await over_http.get_job_instance_status(SCOPE, job)
            )
            with pytest.raises(NotFoundError) as in_memory:
                await memory.get_job_instance_status(SCOPE, 999)
            with pytest.raises(NotFoundError) as by_http:
                await over_http.get_job_instance_status(SCOPE, 999)
            assert in_memory.value.code == by_http.value.code


async def test_faults_in_memory() -> None:
    sim = BkJobSimulator(seed=3)
    job = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    sim.inject(Fault.reset(), api="get_job_instance_status", times=1)
    sim.inject(Fault.http_status(502), api="get_job_instance_status", times=1)
    async with client(sim.transport()) as c:
        status = await c.get_job_instance_status(SCOPE, job)  # after a reset and a 502
    assert status.job.job_instance_id == job
    assert sim.request_count("get_job_instance_status") == 3
    transport = sim.transport()
    sim.inject(Fault.reset(), api="get_job_instance_status", times=1)
    request = BkJobClient(
        "http://bkjob.test", app_code="a", app_secret="s", username="admin"
    ).protocol.build("get_job_instance_status", SCOPE, job, with_hosts=True)
    with pytest.raises(TransportError, match="reset"):
        await transport.send(request)


async def test_a_poller_watches_the_simulator_in_memory() -> None:
    sim = BkJobSimulator(seed=4, host_duration=(0.05, 0.2), host_start_delay=0.0)
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=5), StepPlan(hosts=3)]) for _ in range(20)]
    finished = {}
    async with (
        client(sim.transport()) as c,
        Poller(c, policy=PollPolicy(interval=0.05, max_interval=0.2)) as poller,
    ):
        with anyio.fail_after(20):
            async for event in poller.watch_jobs(SCOPE, ids):
                if isinstance(event, JobFinished):
                    finished[event.job_instance_id] = event.status
    assert finished == {i: sim.job(i).status for i in ids}


async def test_a_handler_that_answers_at_once_never_starves_the_program() -> None:
    # Jobs always due (a round of polls takes longer than the interval) and a handler that
    # never waits: the poller must still let the rest of the program run between requests,
    # as a socket would. The jobs end at the 400th request.
    calls = 0
    seen_at: list[int] = []  # the request count each time another task got to run

    def handler(request: Request) -> Response:
        nonlocal calls
        calls += 1
        time.sleep(0.0002)
        job_id = int((request.query or {})["job_instance_id"])
        status = 3 if calls >= 400 else 2
        data = {
            "finished": status == 3,
            "job_instance": {"job_instance_id": job_id, "status": status, "name": "x"},
            "step_instance_list": [],
        }
        return json_response({"result": True, "code": 0, "data": data})

    async def other_task() -> None:
        while True:
            seen_at.append(calls)
            await anyio.sleep(0)

    policy = PollPolicy(interval=0.001, max_interval=0.001, jitter=0.0)
    async with (
        client(MockTransport(handler)) as c,
        Poller(c, policy=policy) as poller,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(other_task)
        async for _ in poller.watch_jobs(SCOPE, range(1, 51)):
            pass
        tg.cancel_scope.cancel()
    gaps = [b - a for a, b in itertools.pairwise(seen_at)]
    assert calls >= 400
    # Each worker sends one request a turn of the loop (a starved program would see no turn
    # until the jobs end: 449 requests before this was fixed).
    assert max(gaps) <= policy.max_in_flight
