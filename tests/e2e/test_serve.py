"""``serve(handler)``: a ``MockTransport`` handler over real HTTP, on 127.0.0.1 port 0.

The handler sees what the client would have handed ``MockTransport``; its answer reaches the
client byte for byte; a ``TransportError`` drops the connection; a handler's own bug is a 500
to the client and an error raised when the server closes.
"""

from __future__ import annotations

import gzip
import json
import logging

import aiohttp
import pytest

from bkjob_async import ApiFlavor, BkJobClient, JobOperation, RetryPolicy, TransportError
from bkjob_async.testing import (
    HandlerServer,
    MockTransport,
    Request,
    ResetMidBody,
    Response,
    json_response,
    serve,
)

from ..scripted import SCOPE, job_body

NO_RETRY = RetryPolicy(max_attempts=1)


def ok(data: object) -> Response:
    return json_response({"result": True, "code": 0, "message": "", "data": data})


async def no_sleep(delay: float) -> None:
    """Retry at once."""


def client_on(url: str, **kwargs: object) -> BkJobClient:
    return BkJobClient(url, app_code="a", app_secret="s", username="admin", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("flavor", list(ApiFlavor))
async def test_the_handler_sees_the_request_the_client_would_have_handed_its_transport(
    flavor: ApiFlavor,
) -> None:
    over_http: list[Request] = []
    in_memory: list[Request] = []

    def recorder(into: list[Request]):
        def handle(request: Request) -> Response:
            into.append(request)
            return ok({"job_instance_id": 7})

        return handle

    async def send_two(c: BkJobClient) -> None:
        for request in (
            c.protocol.build("get_job_instance_status", SCOPE, 7, with_hosts=True),
            c.protocol.build("operate_job_instance", SCOPE, 7, JobOperation.TERMINATE),
        ):
            answer = await c.transport.send(request)
            assert answer.status == 200
            assert json.loads(answer.body)["data"] == {"job_instance_id": 7}

    async with serve(recorder(over_http)) as server:
        assert isinstance(server, HandlerServer)
        async with client_on(server.url, flavor=flavor, retry=NO_RETRY) as c:
            await send_two(c)
    async with client_on(
        server.url, flavor=flavor, transport=MockTransport(recorder(in_memory))
    ) as c:
        await send_two(c)
    assert len(over_http) == len(in_memory) == 2
    for wire, memory in zip(over_http, in_memory, strict=True):
        assert (wire.api, wire.method, wire.url) == (memory.api, memory.method, memory.url)
        assert wire.query == memory.query
        assert wire.body == memory.body
        for name, value in memory.headers.items():  # the client's own, and the wire's too
            assert wire.headers[name] == value
        assert wire.headers["Host"] == server.url.removeprefix("http://")
    assert over_http[0].method == "GET"  # (a job's status, on the ESB too)
    assert over_http[0].body is None
    assert over_http[1].body is not None
    assert json.loads(over_http[1].body)["job_instance_id"] == 7


async def test_the_answer_goes_back_byte_for_byte() -> None:
    body = gzip.compress(b'{"result": true,  "code": 0, "data": {"k": "\\u00e9"}}')
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "X-Odd": "a b"}

    def handle(request: Request) -> Response:
        return Response(418, headers, body)

    async with (
        serve(handle) as server,
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.post(f"{server.url}/anything?x=1", data=b"raw") as answer,
    ):
        assert answer.status == 418
        assert await answer.read() == body
        for name, value in headers.items():
            assert answer.headers[name] == value
        assert answer.headers["Content-Length"] == str(len(body))


async def test_an_async_handler_and_the_api_name_of_each_path() -> None:
    seen: list[tuple[str, str, dict[str, str] | None, bytes | None]] = []

    async def handle(request: Request) -> Response:
        seen.append((request.api, request.url, request.query, request.body))
        return ok(None)

    paths = {
        "/api/v3/get_job_instance_status?a=1&b=2": "get_job_instance_status",
        "/api/bk-job/prod/api/v3/system/fast_execute_script": "fast_execute_script",
        "/api/c/compapi/v2/jobv3/get_job_instance_status/": "get_job_instance_status",
        "/api/c/compapi/v2/job/fast_push_file/": "fast_push_file",
        "/somewhere/else/": "else",
    }
    async with serve(handle) as server, aiohttp.ClientSession() as session:
        for path in paths:
            async with session.get(server.url + path) as answer:
                assert answer.status == 200
    assert [api for api, *_ in seen] == list(paths.values())
    assert seen[0][1] == f"{server.url}/api/v3/get_job_instance_status"
    assert seen[0][2] == {"a": "1", "b": "2"}
    assert all(query is None and body is None for _, _, query, body in seen[1:])


async def test_a_transport_error_drops_the_connection_and_the_client_retries() -> None:
    drops = iter([True, True, False])  # two drops, then an answer

    def handle(request: Request) -> Response:
        if next(drops):
            raise TransportError("dropped")
        return ok(job_body(1, 3, [(2, 3, 0, [3])]))

    async with serve(handle) as server:
        async with client_on(server.url, retry=NO_RETRY) as c:
            with pytest.raises(TransportError) as info:
                await c.operate_job_instance(SCOPE, 1, JobOperation.TERMINATE)
            assert isinstance(info.value.__cause__, aiohttp.ServerDisconnectedError)
        async with client_on(server.url, retry=RetryPolicy(max_attempts=2), sleep=no_sleep) as c:
            status = await c.get_job_instance_status(SCOPE, 1)  # a drop, then the answer
            assert status.finished
    assert server.requests == 3
    assert server.errors == []


async def test_a_reset_mid_body_sends_the_headers_and_part_of_the_body() -> None:
    whole = ok({"job_instance_id": 1, "pad": "x" * 1000})

    def handle(request: Request) -> Response:
        raise ResetMidBody("cut", whole, 100)

    async with (
        serve(handle) as server,
        aiohttp.ClientSession() as session,
        session.get(server.url + "/api/v3/get_job_instance_status") as answer,
    ):
        assert answer.status == 200
        assert answer.headers["Content-Length"] == str(len(whole.body))
        with pytest.raises(aiohttp.ClientPayloadError):
            await answer.read()


async def test_a_handlers_own_bug_is_a_500_then_raised_when_the_server_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handle(request: Request) -> Response:
        raise KeyError("a bug in the test's handler")

    server = serve(handle)
    with pytest.raises(KeyError, match="a bug"):  # noqa: PT012
        async with (
            server,
            aiohttp.ClientSession() as session,
            session.get(server.url + "/api/v3/x") as answer,
        ):
            assert answer.status == 500
            assert await answer.text() == "the handler failed: KeyError"
    assert [type(e) for e in server.errors] == [KeyError]
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failed
    assert "failed on x" in failed[0].getMessage()


async def test_a_block_that_raised_keeps_its_own_error() -> None:
    def handle(request: Request) -> Response:
        return "not a Response"  # type: ignore[return-value]

    with pytest.raises(RuntimeError, match="the test's own"):  # noqa: PT012
        async with serve(handle) as server, aiohttp.ClientSession() as session:
            async with session.get(server.url) as answer:
                assert answer.status == 500
            raise RuntimeError("the test's own")
    assert [type(e) for e in server.errors] == [TypeError]


def test_a_handler_must_be_callable_and_the_url_needs_a_start() -> None:
    with pytest.raises(TypeError, match="callable"):
        serve("not callable")  # type: ignore[arg-type]
    server = serve(lambda request: ok(None))
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    assert "not started" in repr(server)
