"""Regressions of issue 10's wire half: echoed secrets in every form, base_url passwords, huge
bodies, bad arguments and ids, and answers about another job; all against a loopback server."""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import functools
import json
import logging
import math
import urllib.parse
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from bkjob_async import (
    BkJobClient,
    BkJobError,
    ConnectError,
    PermissionDeniedError,
    ResponseFormatError,
    RetryPolicy,
    Scope,
    Timeouts,
    TransportError,
)
from bkjob_async._transport import send_once, sender
from bkjob_async.models.requests import Account, FileSource, GlobalVar, Targets
from bkjob_async.testing import Request, Response
from tests.conftest import (
    APP_SECRET,
    BK_TOKEN,
    CHUNKED_HEAD,
    RawServer,
    RecordingServer,
    chunked,
    envelope,
    full_text,
)

BIZ = Scope.biz(2)


def readable(text: str, secret: str) -> list[str]:
    """Return the 8-character runs of ``secret`` (in any simple echo form) found in ``text``."""
    runs = {secret[i : i + 8] for i in range(len(secret) - 7)}
    forms = [
        secret,
        json.dumps(secret)[1:-1],
        urllib.parse.quote(secret),
        base64.b64encode(secret.encode()).decode()[:10],
    ]
    return [r for r in [*runs, *forms] if r in text]


MakeClient = Callable[..., BkJobClient]


@pytest.fixture
def client(make_client: MakeClient) -> MakeClient:
    """Return ``make_client`` with a ``bk_token`` identity (no username) and no retries."""
    return functools.partial(
        make_client, username=None, bk_token=BK_TOKEN, retry=RetryPolicy(max_attempts=1)
    )


async def failure(client: MakeClient, **kwargs: Any) -> BkJobError:
    async with client(**kwargs) as c:
        with pytest.raises(BkJobError) as info:
            await c.get_job_instance_status(BIZ, 1)
    return info.value


# --- a server echoing the auth header, in every form --------------------------------------


def echoes(header: str) -> dict[str, tuple[int, bytes, dict[str, str]]]:
    """Answers that quote the request's auth header: (status, body, headers)."""
    escaped = header.encode("unicode_escape").decode()
    u_escaped = "".join(f"\\u{ord(c):04x}" for c in header)
    cut = b"x" * 150 + header.encode()[: header.find(APP_SECRET) + 9]
    message = {"result": False, "code": 1244006, "message": header}
    return {
        "message": (200, json.dumps(message).encode(), {}),
        "message, \\u-escaped": (
            200,
            f'{{"result": false, "code": 1, "message": "{u_escaped}"}}'.encode(),
            {},
        ),
        "status text": (503, f"upstream said: {header}".encode(), {}),
        "error header": (401, b"", {"X-Bkapi-Error-Message": header}),
        "url-encoded": (502, urllib.parse.quote(header).encode(), {}),
        "base64": (500, base64.b64encode(header.encode()), {}),
        "base64, shifted": (500, base64.b64encode(b"x" + header.encode()), {}),
        "repr-escaped": (500, escaped.encode(), {}),
        "body cut mid-secret": (500, cut, {}),
        "permission": (
            200,
            json.dumps(
                {
                    "result": False,
                    "code": 9900403,
                    "message": "no permission",
                    "permission": {"system": header, "actions": [{"id": APP_SECRET}]},
                }
            ).encode(),
            {},
        ),
        "request ids": (
            200,
            json.dumps(
                {"result": False, "code": 1, "request_id": header, "job_request_id": BK_TOKEN}
            ).encode(),
            {},
        ),
    }


@pytest.mark.parametrize("name", list(echoes("{}")))
async def test_echoed_auth_header_is_masked_in_every_form(
    server: RecordingServer,
    name: str,
    client: MakeClient,
) -> None:
    def handle(request: Request) -> Response:
        status, body, headers = echoes(request.headers["X-Bkapi-Authorization"])[name]
        return Response(status, headers, body)

    server.reply_with(handle)
    error = await failure(client)
    text = full_text(error)
    assert "***" in text
    for secret in (APP_SECRET, BK_TOKEN):
        assert not readable(text, secret), (name, text)
    if isinstance(error, PermissionDeniedError):
        assert error.permission == {
            "system": error.permission["system"],
            "actions": [{"id": "***"}],
        }


async def test_a_one_character_secret_never_garbles_a_message(
    server: RecordingServer, client: MakeClient
) -> None:
    server.reply(None, result=False, code=1244006, message="job instance s not found")
    error = await failure(client, app_secret="s", bk_token="t")
    assert str(error).startswith("get_job_instance_status: job instance *** not found")


# --- any caller of the transport gets masked errors ----------------------------------------


async def test_the_one_send_path_masks_a_parser_error_quoting_a_secret(
    make_client: MakeClient,
) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Echo: "
        + APP_SECRET.encode()
        + b"\x00\r\n\r\nhello"
    )

    async with RawServer(answer) as raw, make_client(base_url=raw.url) as c:
        request = c.protocol.build("get_job_instance_status", BIZ, 1, with_hosts=True)
        sends = (send_once(c.transport, c.protocol, request), c.get_job_instance_status(BIZ, 1))
        for send in sends:
            with pytest.raises(TransportError) as info:
                await send
            assert not readable(full_text(info.value), APP_SECRET)
            assert info.value.__cause__ is None
            assert info.value.__context__ is None


async def test_send_once_masks_errors_of_any_transport(make_client: MakeClient) -> None:
    class Echoing:
        async def send(self, request: Any) -> Any:
            raise TransportError(f"proxy refused {request.headers['X-Bkapi-Authorization']}")

        async def aclose(self) -> None:
            return None

    async with make_client(transport=Echoing()) as c:
        request = c.protocol.build("get_job_instance_status", BIZ, 1, with_hosts=True)
        with pytest.raises(TransportError) as info:
            await send_once(c.transport, c.protocol, request)
    assert not readable(full_text(info.value), APP_SECRET)
    assert "proxy refused" in str(info.value)


async def test_send_once_masks_a_transport_error_subclass_of_its_own(
    make_client: MakeClient,
) -> None:
    class ProxyError(TransportError):
        def __init__(self, message: str, proxy: str) -> None:
            super().__init__(f"{proxy}: {message}")

    class Echoing:
        async def send(self, request: Any) -> Any:
            raise ProxyError(request.headers["X-Bkapi-Authorization"], "squid")

        async def aclose(self) -> None:
            return None

    async with make_client(transport=Echoing()) as c:
        with pytest.raises(TransportError) as info:
            await c.get_job_instance_status(BIZ, 1)
    assert type(info.value) is TransportError
    assert str(info.value).startswith("squid: ")
    assert not readable(full_text(info.value), APP_SECRET)


async def test_every_transport_takes_the_one_send_path_which_masks_and_logs_once(
    caplog: pytest.LogCaptureFixture, make_client: MakeClient
) -> None:
    """The built-in transport neither masks nor logs: ``send_once`` does, for every transport."""

    class Echoing:
        async def send(self, request: Any) -> Any:
            raise TransportError(f"proxy refused {request.headers['X-Bkapi-Authorization']}")

        async def aclose(self) -> None:
            return None

    async with make_client(base_url="http://127.0.0.1:1") as c:
        send = sender(c.transport, c.protocol)
        assert send.func is send_once  # type: ignore[attr-defined]
        request = c.protocol.build("get_job_instance_status", BIZ, 1, with_hosts=True)
        with caplog.at_level(logging.DEBUG, logger="bkjob_async"), pytest.raises(ConnectError):
            await send(request)
        lines = [r.getMessage() for r in caplog.records if "-> ConnectError in" in r.getMessage()]
        assert len(lines) == 1
        assert lines[0].startswith("GET get_job_instance_status -> ConnectError in ")
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="bkjob_async"), pytest.raises(ConnectError):
            await c.transport.send(request)  # (the transport alone: mapped, not logged)
        assert not [r for r in caplog.records if "-> ConnectError in" in r.getMessage()]
    async with make_client(transport=Echoing()) as c:
        with pytest.raises(TransportError) as info:
            await sender(c.transport, c.protocol)(
                c.protocol.build("get_job_instance_status", BIZ, 1, with_hosts=True)
            )
    assert not readable(full_text(info.value), APP_SECRET)


# --- base_url with a password --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2-password@{host}",
        "http://hunter2-password@{host}/x",
        "user:hunter2-password@{host}",
    ],
)
async def test_base_url_with_a_password_is_refused_and_never_shown(
    server: RecordingServer, url: str
) -> None:
    with pytest.raises(ValueError, match="user name or password") as info:
        BkJobClient(
            url.format(host=server.url[7:]), app_code="a", app_secret=APP_SECRET, username="u"
        )
    assert "hunter2" not in full_text(info.value)
    assert server.requests == []


# --- a huge body -----------------------------------------------------------------------------


async def test_a_body_over_the_cap_is_refused_from_its_content_length(
    client: MakeClient,
) -> None:
    async def promise_a_lot(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % 10**9)
        writer.write(b"{" * 1000)
        await writer.drain()
        await asyncio.sleep(30)  # never sends the rest: the client must not wait for it

    with pytest.raises(ResponseFormatError, match="max_body_size") as info:
        async with (
            RawServer(promise_a_lot) as raw,
            client(base_url=raw.url, max_body_size=1024 * 1024) as c,
        ):
            await asyncio.wait_for(c.get_job_instance_status(BIZ, 1), 5)
    assert "1,048,576 bytes" in str(info.value)


@pytest.mark.parametrize("compress", [False, True])
async def test_a_streamed_body_is_refused_once_past_the_cap(
    compress: bool,
    client: MakeClient,
) -> None:
    sent = []

    async def stream_forever(writer: asyncio.StreamWriter) -> None:
        deflate = zlib.compressobj()
        head = CHUNKED_HEAD
        if compress:
            head = head.replace(b"\r\n\r\n", b"\r\nContent-Encoding: deflate\r\n\r\n")
        writer.write(head)
        for _ in range(10_000):  # 640 MB if read whole
            sent.append(1)
            data = b"x" * 65536
            if compress:
                data = deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
            writer.write(chunked(data))
            await writer.drain()
            await asyncio.sleep(0)  # a flushed deflate chunk is too small to fill the buffer

    with pytest.raises(ResponseFormatError, match="max_body_size"):
        async with (
            RawServer(stream_forever) as raw,
            client(base_url=raw.url, max_body_size=1024 * 1024) as c,
        ):
            await c.get_job_instance_status(BIZ, 1)
    assert len(sent) < 200


async def test_a_refused_body_gives_its_connection_back_and_the_next_request_works(
    client: MakeClient,
) -> None:
    # One connection in the pool: a refused answer whose connection were kept (or reused
    # half-read) would make the next request wait for the pool, or read garbage.
    data = {"finished": True, "job_instance": {"job_instance_id": 1, "status": 3}}

    async def too_long(writer: asyncio.StreamWriter) -> None:
        writer.write(CHUNKED_HEAD)
        for _ in range(100):
            writer.write(chunked(b"x" * 65536))
            await writer.drain()

    body = json.dumps(envelope(data)).encode()
    fine = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (len(body), body)
    )
    async with (
        RawServer(too_long, fine) as raw,
        client(base_url=raw.url, max_body_size=1024 * 1024, connection_limit=1) as c,
    ):
        for _ in range(3):
            with pytest.raises(ResponseFormatError, match="max_body_size"):
                await asyncio.wait_for(c.get_job_instance_status(BIZ, 1), 5)
            status = await asyncio.wait_for(c.get_job_instance_status(BIZ, 1), 5)
            assert status.finished


@pytest.mark.parametrize("compress", [False, True])
async def test_a_body_under_the_cap_is_read(
    server: RecordingServer, compress: bool, client: MakeClient
) -> None:
    data = {"finished": True, "job_instance": {"job_instance_id": 1, "status": 3}}

    def answer(_: Request) -> Response:
        body = json.dumps(envelope(data)).encode()
        if not compress:
            return Response(200, {"Content-Type": "application/json"}, body)
        headers = {"Content-Type": "application/json", "Content-Encoding": "deflate"}
        return Response(200, headers, zlib.compress(body))

    server.reply_with(answer)
    async with client(max_body_size=200) as c:
        status = await c.get_job_instance_status(BIZ, 1)
    assert status.finished


# --- arguments checked before anything is sent ----------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"server_tz": "UTC"}, TypeError, "server_tz"),
        ({"connection_limit": "10"}, TypeError, "connection_limit"),
        ({"connection_limit": 0}, ValueError, "connection_limit"),
        ({"connection_limit": True}, TypeError, "connection_limit"),
        ({"max_body_size": 0}, ValueError, "max_body_size"),
        ({"max_body_size": 1.5}, TypeError, "max_body_size"),
        ({"timeouts": {"total": 3}}, TypeError, "timeouts"),
        ({"retry": None}, TypeError, "retry"),
        ({"sleep": 1}, TypeError, "sleep"),
        ({"rng": 42}, TypeError, "rng"),
        ({"transport": object()}, TypeError, "transport"),
        ({"session": "s"}, TypeError, "session"),
        ({"flavor": "apigw-v9"}, ValueError, "flavor"),
        ({"tenant_id": 5}, TypeError, "tenant_id"),
    ],
)
def test_bad_client_arguments(kwargs: dict[str, Any], error: type[Exception], name: str) -> None:
    with pytest.raises(error, match=name if name != "flavor" else "API flavor"):
        BkJobClient("http://127.0.0.1:1", app_code="a", app_secret="b", username="u", **kwargs)


@pytest.mark.parametrize(
    ("make", "error", "name"),
    [
        (lambda: Timeouts(connect="1"), TypeError, "connect"),
        (lambda: Timeouts(read=math.inf), ValueError, "read"),
        (lambda: Timeouts(total=math.nan), ValueError, "total"),
        (lambda: Timeouts(total=-1), ValueError, "total"),
        (lambda: Timeouts(connect=True), TypeError, "connect"),
        (lambda: RetryPolicy(max_attempts=0), ValueError, "max_attempts"),
        (lambda: RetryPolicy(max_attempts=10**6), ValueError, "max_attempts"),
        (lambda: RetryPolicy(max_attempts=2.0), TypeError, "max_attempts"),
        (lambda: RetryPolicy(base_delay="0.2"), TypeError, "base_delay"),
        (lambda: RetryPolicy(max_delay=math.inf), ValueError, "max_delay"),
        (lambda: RetryPolicy(max_retry_after=0), ValueError, "max_retry_after"),
    ],
)
def test_bad_config_values(make: Any, error: type[Exception], name: str) -> None:
    with pytest.raises(error, match=name):
        make()


async def test_ids_above_a_java_long_are_refused_before_sending(
    server: RecordingServer, client: MakeClient
) -> None:
    async with client() as c:
        with pytest.raises(ValueError, match="2\\*\\*63-1"):
            await c.get_job_instance_status(BIZ, 2**63)
        with pytest.raises(ValueError, match="2\\*\\*63-1"):
            await c.get_step_instance_status(BIZ, 1, 2**64)
        with pytest.raises(ValueError, match="2\\*\\*63-1"):
            await c.get_job_instance_ip_log(BIZ, 1, 1, 2**63)
    with pytest.raises(ValueError, match="scope id"):
        Scope.biz(2**63)
    assert server.requests == []


def test_a_tz_object_is_accepted() -> None:
    BkJobClient(
        "http://127.0.0.1:1", app_code="a", app_secret="b", username="u", server_tz=_dt.timezone.utc
    )


# --- an answer about another job --------------------------------------------------------------


async def test_an_answer_about_another_job_is_refused(
    server: RecordingServer, client: MakeClient
) -> None:
    server.reply_json(
        envelope({"finished": True, "job_instance": {"job_instance_id": 8, "status": 3}})
    )
    with pytest.raises(ResponseFormatError, match=r"asked for job 7.*job 8"):
        async with client() as c:
            await c.get_job_instance_status(BIZ, 7)


@pytest.mark.parametrize(
    "make",
    [
        lambda: GlobalVar(id=2**63, value="v"),
        lambda: FileSource(files=["/a"], file_source_id=2**63),
        lambda: Targets(ips=[(2**63, "10.0.0.1")]),
        lambda: Targets(host_ids=[2**63]),
        lambda: Account(id=2**63),
    ],
)
def test_ids_above_a_java_long_are_refused_in_request_models(make: Any) -> None:
    with pytest.raises(ValueError, match="2\\*\\*63-1"):
        make()


async def test_counts_above_a_java_long_are_refused(
    server: RecordingServer, client: MakeClient
) -> None:
    async with client() as c:
        with pytest.raises(ValueError, match="execute_count must be <= 2\\*\\*63-1"):
            await c.get_step_instance_status(BIZ, 1, 1, execute_count=2**63)
        with pytest.raises(ValueError, match="bk_cloud_id must be <= 2\\*\\*63-1"):
            await c.get_job_instance_ip_log(BIZ, 1, 1, (2**64, "10.0.0.1"))
    assert server.requests == []


@pytest.mark.parametrize("at", [0, 1990, 1996, 5000])
async def test_a_huge_message_is_cut_and_still_masked(
    server: RecordingServer, at: int, client: MakeClient
) -> None:
    server.reply(None, result=False, code=1244006, message="x" * at + APP_SECRET + "y" * 10_000)
    error = await failure(client)
    assert not readable(full_text(error), APP_SECRET)
    assert len(str(error)) < 2100
