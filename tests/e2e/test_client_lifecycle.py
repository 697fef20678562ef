"""Opening, closing and session ownership of ``BkJobClient``."""

from __future__ import annotations

import asyncio
import builtins
import gc
import warnings
from typing import Any

import aiohttp
import anyio
import pytest

from bkjob_async import BkJobClient, JobOperation, RetryPolicy, Scope, Timeouts
from bkjob_async._protocol import Request, Response
from tests.conftest import APP_SECRET, RecordingServer

BIZ = Scope.biz(2)


def owned_session(client: BkJobClient) -> aiohttp.ClientSession | None:
    """White box: the session the default transport created, if any."""
    session: aiohttp.ClientSession | None = client.transport._session  # type: ignore[attr-defined]
    return session


async def test_async_with_opens_and_closes(make_client: Any, server: RecordingServer) -> None:
    client = make_client()
    assert "unopened" in repr(client)
    async with client as entered:
        assert entered is client
        assert "opened" in repr(client)
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
        session = owned_session(client)
        assert session is not None
        assert not session.closed
    assert "closed" in repr(client)
    assert session.closed
    assert len(server.requests) == 1


async def test_session_is_created_lazily_and_once(
    make_client: Any, server: RecordingServer
) -> None:
    async with make_client() as client:
        assert owned_session(client) is None
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
        first = owned_session(client)
        await asyncio.gather(
            *(client.operate_job_instance(BIZ, i, JobOperation.START) for i in range(2, 6))
        )
        assert owned_session(client) is first


async def test_closed_client_cannot_be_reopened_or_used(
    make_client: Any, server: RecordingServer
) -> None:
    client = make_client()
    async with client:
        pass
    with pytest.raises(RuntimeError, match="reopened"):
        async with client:
            pass
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_job_instance_status(BIZ, 1)
    with pytest.raises(RuntimeError, match="closed"):
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
    assert server.requests == []


async def test_aclose_is_idempotent_and_fine_before_use(make_client: Any) -> None:
    client = make_client()
    await client.aclose()
    await client.aclose()
    assert owned_session(client) is None
    assert "closed" in repr(client)


async def test_exit_on_error_still_closes(make_client: Any, server: RecordingServer) -> None:
    client = make_client()
    sessions: list[aiohttp.ClientSession | None] = []

    async def fail_inside() -> None:
        async with client:
            await client.operate_job_instance(BIZ, 1, JobOperation.START)
            sessions.append(owned_session(client))
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await fail_inside()
    (session,) = sessions
    assert session is not None
    assert session.closed


async def test_aclose_finishes_inside_a_cancelled_scope(
    make_client: Any, server: RecordingServer
) -> None:
    client = make_client()
    await client.operate_job_instance(BIZ, 1, JobOperation.START)
    session = owned_session(client)
    assert session is not None
    with anyio.CancelScope() as scope:
        scope.cancel()
        await client.aclose()
    assert session.closed


async def test_usable_without_async_with(make_client: Any, server: RecordingServer) -> None:
    client = make_client()
    await client.operate_job_instance(BIZ, 1, JobOperation.START)
    session = owned_session(client)
    await client.aclose()
    assert session is not None
    assert session.closed


async def test_borrowed_session_stays_open(server: RecordingServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with BkJobClient(
            server.url, app_code="a", app_secret=APP_SECRET, username="u", session=session
        ) as client:
            await client.operate_job_instance(BIZ, 1, JobOperation.START)
        assert not session.closed
        assert len(server.requests) == 1
        # The caller can still use its session after the client is gone.
        async with session.get(server.url + "/ping") as response:
            assert response.status == 200
        assert len(server.requests) == 2


async def test_borrowed_session_still_gets_the_client_timeouts(server: RecordingServer) -> None:
    async def slow(_: Request) -> Response:
        await asyncio.sleep(2)
        return Response(200, {}, b"")

    server.reply_with(slow)
    no_limits = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=no_limits) as session:
        async with BkJobClient(
            server.url,
            app_code="a",
            app_secret=APP_SECRET,
            username="u",
            session=session,
            timeouts=Timeouts(connect=5, read=0.2, total=None),
            retry=RetryPolicy(max_attempts=1),
        ) as client:
            with pytest.raises(builtins.TimeoutError):
                await client.get_job_instance_status(BIZ, 1)
        assert not session.closed


async def test_session_and_transport_are_exclusive() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="not both"):
            BkJobClient(
                "http://127.0.0.1:1",
                app_code="a",
                app_secret="b",
                username="u",
                session=session,
                transport=_CountingTransport(),
            )


class _CountingTransport:
    def __init__(self) -> None:
        self.sent: list[Request] = []
        self.closed = 0

    async def send(self, request: Request) -> Response:
        self.sent.append(request)
        return Response(200, {}, b'{"result": true, "code": 0, "data": {"job_instance_id": 1}}')

    async def aclose(self) -> None:
        self.closed += 1


async def test_custom_transport_is_used_and_closed_once() -> None:
    transport = _CountingTransport()
    client = BkJobClient(
        "http://127.0.0.1:1", app_code="a", app_secret="b", username="u", transport=transport
    )
    async with client:
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
    await client.aclose()
    assert [r.api for r in transport.sent] == ["operate_job_instance"]
    assert transport.closed == 1


async def test_unclosed_open_client_warns(make_client: Any) -> None:
    client = make_client()
    await client.__aenter__()
    with pytest.warns(ResourceWarning, match="unclosed"):
        client.__del__()
    await client.aclose()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.__del__()  # closed: silent


async def test_never_opened_client_does_not_warn() -> None:
    client = BkJobClient("http://127.0.0.1:1", app_code="a", app_secret="b", username="u")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.__del__()


async def test_no_unclosed_session_warning_after_close(server: RecordingServer) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with BkJobClient(server.url, app_code="a", app_secret="b", username="u") as client:
            await client.operate_job_instance(BIZ, 1, JobOperation.START)
        del client
        gc.collect()
        await asyncio.sleep(0)
    assert [str(w.message) for w in caught] == []


async def test_closing_during_a_retry_backoff_does_not_reopen(
    make_client: Any, server: RecordingServer
) -> None:
    server.reply_raw(b"busy", status=503)
    clients: list[BkJobClient] = []

    async def close_while_waiting(_: float) -> None:
        await clients[0].aclose()

    client = make_client(sleep=close_while_waiting)
    clients.append(client)
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_job_instance_status(BIZ, 1)
    assert len(server.requests) == 1
    assert owned_session(client) is None


async def test_closing_with_a_request_in_flight_does_not_reopen(
    make_client: Any, server: RecordingServer
) -> None:
    started = asyncio.Event()

    async def slow(_: Request) -> Response:
        started.set()
        await asyncio.sleep(1)
        return Response(200, {}, b"")

    server.reply_with(slow)
    sleeps: list[float] = []

    async def no_wait(delay: float) -> None:
        sleeps.append(delay)

    client = make_client(sleep=no_wait)
    call = asyncio.ensure_future(client.get_job_instance_status(BIZ, 1))
    await started.wait()
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await call
    assert owned_session(client) is None
    assert sleeps  # the interrupted read was retried, and the retry found the client closed
    assert len(server.requests) == 1
