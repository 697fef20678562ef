"""Which failures are retried, how often, and how long the client waits (with a fake sleep)."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from typing import Any

import pytest

from bkjob_async import (
    Account,
    AuthenticationError,
    ConnectError,
    EndpointNotFoundError,
    InvalidRequestError,
    JobOperation,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    ResponseFormatError,
    RetryPolicy,
    Scope,
    ServerError,
    Targets,
    Timeouts,
    TransportError,
)
from bkjob_async import TimeoutError as BkTimeoutError
from bkjob_async.testing import Request, Response
from tests.conftest import FakeSleep, RecordingServer, closed_port_url, load_sample

BIZ = Scope.biz(2)
V3_JOB = "get_job_instance_status.v3.apigw-doc.json"
POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=3.0, max_retry_after=20.0)


def job_data() -> Any:
    return load_sample(V3_JOB)["data"]


def drop(_: Request) -> Response:
    raise TransportError("the server drops the connection")


async def slow(_: Request) -> Response:
    await asyncio.sleep(1)
    return Response(200, {}, b"")


# --- reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3"])
async def test_read_retries_5xx_then_succeeds(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep, flavor: str
) -> None:
    server.reply_raw(b"<html>503</html>", status=503)
    server.reply_raw(b"<html>502</html>", status=502)
    server.reply(job_data())
    async with make_client(flavor=flavor, retry=POLICY) as client:
        status = await client.get_job_instance_status(BIZ, 100)
    assert status.job.job_instance_id == 100
    assert len(server.requests) == 3
    assert len(fake_sleep.delays) == 2
    assert 0.0 <= fake_sleep.delays[0] <= 0.5
    assert 0.0 <= fake_sleep.delays[1] <= 1.0


async def test_read_gives_up_after_max_attempts(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep
) -> None:
    for _ in range(10):
        server.reply_raw(b"down", status=500)
    async with make_client(retry=POLICY) as client:
        with pytest.raises(ServerError) as info:
            await client.get_job_instance_status(BIZ, 100)
    assert info.value.http_status == 500
    assert len(server.requests) == 4
    assert len(fake_sleep.delays) == 3


async def test_backoff_is_capped_full_jitter(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep
) -> None:
    policy = RetryPolicy(max_attempts=40, base_delay=0.5, max_delay=3.0)
    for _ in range(39):
        server.reply(None, result=False, code=1240002, message="internal")
    server.reply(job_data())
    async with make_client(retry=policy) as client:
        await client.get_job_instance_status(BIZ, 100)
    delays = fake_sleep.delays
    assert len(delays) == 39
    for n, delay in enumerate(delays, start=1):
        assert 0.0 <= delay <= min(3.0, 0.5 * 2 ** (n - 1))
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder
    assert max(delays[5:]) > 2.0  # grows to the cap


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"Retry-After": "7"}, 7.0, 7.5),
        ({"X-Bkapi-RateLimit-Reset": "4"}, 4.0, 4.5),
        ({"Retry-After": "600"}, 20.0, 20.5),  # clamped to max_retry_after
        ({}, 0.0, 0.5),
    ],
)
async def test_429_honours_retry_after(
    make_client: Any,
    server: RecordingServer,
    fake_sleep: FakeSleep,
    headers: dict[str, str],
    low: float,
    high: float,
) -> None:
    server.reply_json(
        load_sample("error.apigw.http429.rate-limit.json"), status=429, headers=headers
    )
    server.reply(job_data())
    started = time.monotonic()
    async with make_client(retry=POLICY) as client:
        await client.get_job_instance_status(BIZ, 100)
    assert time.monotonic() - started < 5  # the fake sleep took no real time
    (delay,) = fake_sleep.delays
    assert low <= delay <= high
    assert len(server.requests) == 2


async def test_429_retry_after_http_date(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep
) -> None:
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    server.reply(None, status=429, result=False, code=1642901, headers={"Retry-After": when})
    server.reply(job_data())
    async with make_client(retry=POLICY) as client:
        await client.get_job_instance_status(BIZ, 100)
    (delay,) = fake_sleep.delays
    assert 8.0 <= delay <= 10.5


@pytest.mark.parametrize("flavor", ["esb-jobv3", "esb-v2"])
async def test_esb_rate_limit_at_200_is_retried(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep, flavor: str
) -> None:
    server.reply(None, result=False, code=1306429, message="rate limited", times=2)
    server.reply({"job_instance_id": 1})
    async with make_client(flavor=flavor, retry=POLICY) as client:
        await client.operate_job_instance(BIZ, 1, JobOperation.TERMINATE)
    assert len(server.requests) == 3
    assert len(fake_sleep.delays) == 2


async def test_read_retries_connection_refused(make_client: Any, fake_sleep: FakeSleep) -> None:
    async with make_client(base_url=closed_port_url(), retry=POLICY) as client:
        with pytest.raises(ConnectError):
            await client.get_job_instance_status(BIZ, 1)
    assert len(fake_sleep.delays) == 3


async def test_read_retries_a_dropped_connection(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep
) -> None:
    # A job's status is a GET (on the ESB too): on a dropped connection aiohttp sends a GET
    # once more by itself (its idempotent methods), so the client's own retry comes after a
    # second drop.
    server.reply_with(drop)
    server.reply_with(drop)
    server.reply(job_data())
    async with make_client(flavor="esb-jobv3", retry=POLICY) as client:
        status = await client.get_job_instance_status(BIZ, 100)
    assert status.job.job_instance_id == 100
    assert [r.method for r in server.requests] == ["GET"] * 3
    assert len(fake_sleep.delays) == 1


async def test_read_retries_a_timeout(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep
) -> None:
    server.reply_with(slow)
    server.reply(job_data())
    timeouts = Timeouts(connect=5, read=0.2, total=None)
    async with make_client(flavor="esb-jobv3", retry=POLICY, timeouts=timeouts) as client:
        await client.get_job_instance_status(BIZ, 100)
    assert len(server.requests) == 2
    assert len(fake_sleep.delays) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"result": False, "code": 1244006}, NotFoundError),
        ({"result": False, "code": 9900403}, PermissionDeniedError),
        ({"result": False, "code": 1241002}, InvalidRequestError),
        ({"status": 400, "result": False, "code": 1640001}, AuthenticationError),
        ({"status": 403, "result": False, "code": 1640301}, PermissionDeniedError),
        ({"status": 404, "result": False, "code": 1640401}, EndpointNotFoundError),
        ({"data": {"finished": "??"}}, ResponseFormatError),
    ],
)
async def test_read_does_not_retry_what_cannot_change(
    make_client: Any,
    server: RecordingServer,
    fake_sleep: FakeSleep,
    reply: dict[str, Any],
    error: type[Exception],
) -> None:
    reply = dict(reply)
    data = reply.pop("data", None)
    server.reply(data, times=3, **reply)
    async with make_client(retry=POLICY) as client:
        with pytest.raises(error):
            await client.get_job_instance_status(BIZ, 1)
    assert len(server.requests) == 1
    assert fake_sleep.delays == []


async def test_max_attempts_one_disables_retries(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep
) -> None:
    server.reply_raw(b"", status=503)
    async with make_client(retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(ServerError):
            await client.get_job_instance_status(BIZ, 1)
    assert len(server.requests) == 1
    assert fake_sleep.delays == []


# --- operations and launches -----------------------------------------------------------------


async def operate(client: Any) -> None:
    await client.operate_job_instance(BIZ, 1, JobOperation.TERMINATE)


async def launch(client: Any) -> None:
    await client.fast_execute_script(
        BIZ, targets=Targets(host_ids=[1]), account=Account(alias="root"), script_content="ls"
    )


async def operate_step(client: Any) -> None:
    await client.operate_step_instance(BIZ, 1, 2, 2)


async def run_plan(client: Any) -> None:
    await client.execute_job_plan(BIZ, 3)


WRITES = [operate, launch, operate_step, run_plan]


async def _sent_once(
    client: Any, server: RecordingServer, fake_sleep: FakeSleep, write: Any, error: type[Exception]
) -> None:
    """``write`` through ``client`` fails with ``error`` after one request, never resent."""
    async with client:
        with pytest.raises(error):
            await write(client)
    assert len(server.requests) == 1
    assert fake_sleep.delays == []


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(
    ("program", "error"),
    [
        (lambda s: s.reply_raw(b"bad gateway", status=502), ServerError),
        (lambda s: s.reply_raw(b"unavailable", status=503), ServerError),
        (lambda s: s.reply(None, result=False, code=1240002), ServerError),
        (lambda s: s.reply(None, result=False, code=1306201), ServerError),
        (lambda s: s.reply_with(drop), TransportError),
    ],
)
async def test_writes_that_may_have_arrived_are_not_retried(
    make_client: Any,
    server: RecordingServer,
    fake_sleep: FakeSleep,
    write: Any,
    program: Any,
    error: type[Exception],
) -> None:
    program(server)
    server.reply({"job_instance_id": 1})
    await _sent_once(make_client(retry=POLICY), server, fake_sleep, write, error)


@pytest.mark.parametrize("write", WRITES)
async def test_write_timeout_is_not_retried(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep, write: Any
) -> None:
    server.reply_with(slow)
    timeouts = Timeouts(connect=5, read=0.2, total=None)
    client = make_client(retry=POLICY, timeouts=timeouts)
    await _sent_once(client, server, fake_sleep, write, BkTimeoutError)


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(
    "program",
    [
        lambda s: s.reply(None, status=429, result=False, code=1642903),
        lambda s: s.reply(None, result=False, code=1306429),
        lambda s: s.reply_raw(b"", status=429, headers={"Retry-After": "2"}),
    ],
)
async def test_rate_limited_writes_are_retried(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep, write: Any, program: Any
) -> None:
    program(server)
    server.reply({"job_instance_id": 1, "job_instance_name": "x", "step_instance_id": 2})
    async with make_client(retry=POLICY) as client:
        await write(client)
    assert len(server.requests) == 2
    assert len(fake_sleep.delays) == 1


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("code", [1244032, 1244033, 1244034])
async def test_quota_refused_writes_are_not_retried(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep, write: Any, code: int
) -> None:
    # A running-job quota frees when a job ends, not with time: a blind resend is refused again.
    server.reply(None, result=False, code=code)
    server.reply({"job_instance_id": 1, "job_instance_name": "x", "step_instance_id": 2})
    await _sent_once(make_client(retry=POLICY), server, fake_sleep, write, QuotaExceededError)


@pytest.mark.parametrize("write", WRITES)
async def test_writes_retry_connection_refused(
    make_client: Any, fake_sleep: FakeSleep, write: Any
) -> None:
    async with make_client(base_url=closed_port_url(), retry=POLICY) as client:
        with pytest.raises(ConnectError):
            await write(client)
    assert len(fake_sleep.delays) == 3


async def test_rate_limited_write_gives_up_after_max_attempts(
    make_client: Any, server: RecordingServer, fake_sleep: FakeSleep
) -> None:
    server.reply(None, status=429, result=False, code=1642903, times=10)
    async with make_client(retry=POLICY) as client:
        with pytest.raises(RateLimitedError):
            await operate(client)
    assert len(server.requests) == 4
    assert len(fake_sleep.delays) == 3


async def test_delays_come_from_the_injected_rng(make_client: Any, server: RecordingServer) -> None:
    runs: list[list[float]] = []
    for _ in range(2):
        sleep = FakeSleep()
        server.reply_raw(b"", status=503)
        server.reply_raw(b"", status=503)
        server.reply(job_data())
        async with make_client(retry=POLICY, sleep=sleep, rng=random.Random(99)) as client:
            await client.get_job_instance_status(BIZ, 100)
        runs.append(sleep.delays)
    assert runs[0] == runs[1]
    rng = random.Random(99)
    assert runs[0] == [POLICY.delay(1, rng=rng), POLICY.delay(2, rng=rng)]
