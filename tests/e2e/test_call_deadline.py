"""One deadline per call (``Timeouts.call``): a hung server costs a default call at most 30 s.

On virtual time, a transport that behaves like a server that accepts and never answers (each
attempt ends after the client's read timeout, as aiohttp's ``sock_read`` ends it) or one that
never returns at all; and over a real socket, a server that accepts and never answers.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import anyio
import pytest

from bkjob_async import (
    BkJobClient,
    RetryPolicy,
    Scope,
    ServerError,
    Timeouts,
    sync,
)
from bkjob_async import TimeoutError as BkTimeoutError
from bkjob_async.testing import MockTransport, Request, Response, run_virtual

BIZ = Scope.biz(2)


def _hung(read: float | None, sent: list[float]) -> MockTransport:
    """A server that accepts and never answers, as a client with read timeout ``read`` sees it."""

    async def handler(_: Request) -> Response:
        sent.append(anyio.current_time())
        if read is None:
            await anyio.sleep_forever()
        await anyio.sleep(read)
        raise BkTimeoutError(f"no answer within the read timeout ({read} s)")

    return MockTransport(handler)


async def _cost(timeouts: Timeouts, read: float | None, sent: list[float]) -> tuple[Any, float]:
    """Call once with the library's defaults but ``timeouts``; return the outcome and its time."""
    client = BkJobClient(
        "http://bkjob.test",
        app_code="app",
        app_secret="secret-value",
        username="admin",
        timeouts=timeouts,
        transport=_hung(read, sent),
        rng=random.Random(7),
    )
    started = anyio.current_time()
    async with client:
        try:
            await client.get_job_instance_status(BIZ, 100)
        except Exception as exc:  # (the outcome is what is compared)
            return exc, anyio.current_time() - started
    raise AssertionError("a hung server answered")


def test_a_hung_server_costs_a_default_call_at_most_30_s() -> None:
    sent: list[float] = []
    error, cost = run_virtual(_cost, Timeouts(), Timeouts().read, sent)
    assert isinstance(error, BkTimeoutError)
    assert isinstance(error, TimeoutError)  # the builtin, too
    assert "deadline of 30 s" in str(error)
    assert 29.9 <= cost <= 30.0
    assert len(sent) == 1  # the one attempt used the whole budget: no retry was started


def test_without_the_deadline_the_same_call_took_four_read_timeouts() -> None:
    """The issue's 261 s: what ``call=None`` (no deadline) gives with the other defaults."""
    sent: list[float] = []
    error, cost = run_virtual(_cost, Timeouts(call=None), Timeouts().read, sent)
    assert isinstance(error, BkTimeoutError)
    assert len(sent) == RetryPolicy().max_attempts
    assert cost > 4 * 65.0


def test_a_server_that_never_returns_is_cut_at_the_deadline() -> None:
    sent: list[float] = []
    error, cost = run_virtual(_cost, Timeouts(call=12.5), None, sent)
    assert isinstance(error, BkTimeoutError)
    assert "deadline of 12.5 s (1 attempt;" in str(error)
    assert 12.4 <= cost <= 12.5


def test_retries_stop_before_the_deadline_with_the_last_error() -> None:
    """A server that fails fast: the call retries while a retry can start before the deadline,
    then raises the last answer's error at once rather than sleeping into the deadline."""
    attempts: list[float] = []

    def busy(_: Request) -> Response:
        attempts.append(anyio.current_time())
        return Response(503, {}, b"<html>busy</html>")

    async def main() -> tuple[Exception, float]:
        client = BkJobClient(
            "http://bkjob.test",
            app_code="app",
            app_secret="secret-value",
            username="admin",
            timeouts=Timeouts(call=10.0),
            retry=RetryPolicy(max_attempts=1000, base_delay=1.0, max_delay=4.0),
            transport=MockTransport(busy),
            rng=random.Random(3),
        )
        async with client:
            with pytest.raises(ServerError) as info:
                await client.get_job_instance_status(BIZ, 100)
        return info.value, anyio.current_time()

    error, ended = run_virtual(main)
    assert error.http_status == 503
    assert 3 <= len(attempts) < 1000
    assert ended < 10.0
    assert ended == attempts[-1]  # no sleep after the last attempt


def test_the_deadline_is_checked_with_the_other_timeouts() -> None:
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="call"):
            Timeouts(call=bad)
    with pytest.raises(TypeError, match="call"):
        Timeouts(call="30")  # type: ignore[arg-type]
    assert Timeouts().call == 30.0
    assert Timeouts(call=None).call is None


async def _silent_server() -> tuple[asyncio.Server, str, list[asyncio.StreamWriter]]:
    """A server on 127.0.0.1 that accepts every connection and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", held


async def test_over_a_socket_the_deadline_ends_the_call() -> None:
    server, url, held = await _silent_server()
    try:
        async with BkJobClient(
            url,
            app_code="app",
            app_secret="secret-value",
            username="admin",
            timeouts=Timeouts(call=0.5),
            retry=RetryPolicy(base_delay=0.01),
        ) as client:
            started = time.monotonic()
            with pytest.raises(BkTimeoutError, match=r"deadline of 0\.5 s"):
                await client.get_job_instance_status(BIZ, 100)
            assert time.monotonic() - started < 3.0
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def test_the_sync_client_has_the_same_deadline() -> None:
    """A Django view or a Celery task: the blocking call returns within the deadline."""

    async def serve(ready: Any, stop: asyncio.Event) -> None:
        server, url, held = await _silent_server()
        ready(url)
        await stop.wait()
        for writer in held:
            writer.close()
        server.close()

    with anyio.from_thread.start_blocking_portal() as portal:
        stop = portal.call(asyncio.Event)
        found: list[str] = []
        future = portal.start_task_soon(serve, found.append, stop)
        while not found:
            time.sleep(0.01)
        client = sync.BkJobClient(
            found[0],
            app_code="app",
            app_secret="secret-value",
            username="admin",
            timeouts=Timeouts(call=0.5),
        )
        try:
            started = time.monotonic()
            with pytest.raises(BkTimeoutError):
                client.get_job_instance_status(BIZ, 100)
            assert time.monotonic() - started < 3.0
        finally:
            client.close()
            portal.call(stop.set)
            future.result(timeout=5)
