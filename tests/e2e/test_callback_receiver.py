"""``CallbackReceiver``: bk-job's job-end callbacks over HTTP, on its own server or mounted.

What bk-job sends (spec §2, "Callback"): the JSON ``{job_instance_id, status,
step_instances[{step_instance_id, status}]}`` with ``application/json``, and after a non-200
the same JSON text labelled ``application/x-www-form-urlencoded``.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from bkjob_async import (
    BkJobError,
    Callback,
    CallbackBindError,
    CallbackReceiver,
    CallbackStatistics,
    JobStatus,
)

BODY = {
    "job_instance_id": 10001,
    "status": 3,
    "step_instances": [
        {"step_instance_id": 20001, "status": 3},
        {"step_instance_id": 20002, "status": 5},
    ],
}
EXPECTED = Callback(
    10001, JobStatus.SUCCESS, ((20001, JobStatus.SUCCESS), (20002, JobStatus.SKIPPED))
)
FORM = "application/x-www-form-urlencoded"


async def post(
    url: str, body: bytes | str, content_type: str = "application/json", method: str = "POST"
) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body, headers={"Content-Type": content_type}) as resp,
    ):
        await resp.read()
        return resp.status


def text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@pytest.fixture
async def received() -> list[Callback]:
    return []


@pytest.fixture
async def receiver(received: list[Callback]) -> Any:
    async with CallbackReceiver(received.append) as running:
        yield running


async def test_json_and_form_labelled_posts_both_reach_the_sink(
    receiver: CallbackReceiver, received: list[Callback]
) -> None:
    assert receiver.callback_url.startswith("http://127.0.0.1:")
    assert await post(receiver.callback_url, text(BODY)) == 200
    assert await post(receiver.callback_url, text(BODY), FORM) == 200
    assert await post(receiver.callback_url, text(BODY), f"{FORM}; charset=UTF-8") == 200
    assert received == [EXPECTED, EXPECTED, EXPECTED]
    assert receiver.statistics() == CallbackStatistics(accepted=3)


async def test_a_wrong_or_missing_token_is_404_and_never_reaches_the_sink(
    receiver: CallbackReceiver, received: list[Callback]
) -> None:
    url = receiver.callback_url
    base, token = url.rsplit("/", 1)
    wrong = [
        f"{base}/{token[:-1]}",  # one character short
        f"{base}/{token}x",
        f"{base}/",
        base,
        f"{base}/{token.upper() if token != token.upper() else token.lower()}",
        f"{base}/{token}/",
    ]
    for candidate in wrong:
        assert await post(candidate, text(BODY)) == 404, candidate
    # An oversized or malformed body with the wrong token is refused for the token first.
    assert await post(f"{base}/nope", b"x" * 200_000) == 404
    assert await post(f"{base}/nope", b"{", method="PUT") == 404
    assert received == []
    assert receiver.statistics() == CallbackStatistics(refused_token=len(wrong) + 2)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"job_instance_id=1&status=3",  # really form-encoded: bk-job never sends that
        b"[]",
        b'"text"',
        b"\xff\xfe\x00",
        text({"status": 3}).encode(),
        text({"job_instance_id": "10001", "status": 3}).encode(),
        text({"job_instance_id": 0, "status": 3}).encode(),
        text({"job_instance_id": True, "status": 3}).encode(),
        text({"job_instance_id": 1, "status": 3.5}).encode(),
        text({"job_instance_id": 1, "status": 3, "step_instances": {}}).encode(),
        text({"job_instance_id": 1, "status": 3, "step_instances": [1]}).encode(),
        text({"job_instance_id": 1, "status": 3, "step_instances": [{"status": 3}]}).encode(),
        b"[" * 5000 + b"]" * 5000,
    ],
)
async def test_a_malformed_body_is_400(
    receiver: CallbackReceiver, received: list[Callback], body: bytes
) -> None:
    assert await post(receiver.callback_url, body) == 400
    assert await post(receiver.callback_url, body, FORM) == 400
    assert received == []
    assert receiver.statistics() == CallbackStatistics(malformed=2)


async def test_lenient_where_bk_job_may_differ(
    receiver: CallbackReceiver, received: list[Callback]
) -> None:
    # No steps, null steps, the documented (wrong) key, extra keys and unknown statuses.
    bodies = [
        {"job_instance_id": 7, "status": 4},
        {"job_instance_id": 7, "status": 4, "step_instances": None},
        {
            "job_instance_id": 7,
            "status": 4,
            "step_instance_list": [{"step_instance_id": 9, "status": 4}],
        },
        {"job_instance_id": 7, "status": 99, "extra": {"a": 1}, "step_instances": []},
    ]
    for body in bodies:
        assert await post(receiver.callback_url, text(body), "text/plain") == 200
    assert [c.step_instances for c in received] == [(), (), ((9, JobStatus.FAIL),), ()]
    assert received[3].status == 99
    assert not received[3].status.is_known


async def test_a_body_over_the_bound_is_413(received: list[Callback]) -> None:
    async with CallbackReceiver(received.append, max_body=1024) as receiver:
        padded = dict(BODY, padding="x" * 2000)
        assert await post(receiver.callback_url, text(padded)) == 413

        async def chunks() -> Any:  # no Content-Length: the bound holds on a chunked body
            for _ in range(10):
                yield b" " * 300

        async with (
            aiohttp.ClientSession() as session,
            session.post(receiver.callback_url, data=chunks()) as resp,
        ):
            assert resp.status == 413
        assert await post(receiver.callback_url, text(BODY)) == 200
        assert receiver.statistics() == CallbackStatistics(accepted=1, too_large=2)
    assert received == [EXPECTED]


async def test_the_default_bound_is_64_kib(receiver: CallbackReceiver) -> None:
    steps = [{"step_instance_id": i, "status": 3} for i in range(1, 1500)]
    body = text({"job_instance_id": 1, "status": 3, "step_instances": steps})
    assert len(body) < 64 * 1024
    assert await post(receiver.callback_url, body) == 200
    assert await post(receiver.callback_url, body + " " * (64 * 1024 - len(body) + 1)) == 413


async def test_other_methods_are_405_with_the_right_token(receiver: CallbackReceiver) -> None:
    assert await post(receiver.callback_url, b"", method="GET") == 405
    assert await post(receiver.callback_url, text(BODY), method="PUT") == 405
    assert receiver.statistics() == CallbackStatistics(wrong_method=2)


async def test_replayed_callbacks_each_reach_the_sink(
    receiver: CallbackReceiver, received: list[Callback]
) -> None:
    for _ in range(3):
        assert await post(receiver.callback_url, text(BODY)) == 200
    assert received == [EXPECTED] * 3  # deduplication is the poller's job


async def test_a_sink_that_raises_answers_500_so_bk_job_posts_again() -> None:
    calls: list[Callback] = []

    def sink(callback: Callback) -> None:
        calls.append(callback)
        if len(calls) == 1:
            raise RuntimeError("busy")

    async with CallbackReceiver(sink) as receiver:
        assert await post(receiver.callback_url, text(BODY)) == 500
        assert await post(receiver.callback_url, text(BODY), FORM) == 200
        assert receiver.statistics() == CallbackStatistics(accepted=1, sink_errors=1)


async def test_a_flood_of_1000_callbacks_is_handled(
    receiver: CallbackReceiver, received: list[Callback]
) -> None:
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(job_id: int) -> None:
            body = text({"job_instance_id": job_id, "status": 3, "step_instances": []})
            async with session.post(
                receiver.callback_url, data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                assert resp.status == 200

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for job_id in range(1, 1001):
                    group.start_soon(one, job_id)
    assert sorted(c.job_instance_id for c in received) == list(range(1, 1001))
    assert receiver.statistics().accepted == 1000


async def test_a_port_in_use_is_a_typed_error_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        receiver = CallbackReceiver(lambda _: None, port=port)
        with pytest.raises(CallbackBindError) as caught:
            async with receiver:
                pass
    error = caught.value
    assert isinstance(error, BkJobError)
    assert isinstance(error, OSError)
    assert error.errno is not None
    assert f"127.0.0.1:{port}" in str(error)
    assert "callbacks" in str(error)
    with pytest.raises(RuntimeError, match="start it"):
        _ = receiver.callback_url  # it never started


async def test_mounted_on_a_user_app(caplog: pytest.LogCaptureFixture) -> None:
    received: list[Callback] = []
    receiver = CallbackReceiver(received.append, base_url="http://example.test:8080/")
    app = web.Application()

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello")

    app.router.add_get("/", hello)
    receiver.add_routes(app, prefix="/hooks/bkjob")
    assert receiver.callback_url.startswith("http://example.test:8080/hooks/bkjob/callback/")
    token = receiver.callback_url.rsplit("/", 1)[1]
    runner = web.AppRunner(app)  # with aiohttp's access log, as a user's app has it
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        with caplog.at_level(logging.DEBUG):
            local = receiver.callback_url.replace("http://example.test:8080", base)
            assert await post(local, text(BODY)) == 200
            assert await post(local, text(BODY), FORM) == 200
            assert await post(f"{base}/hooks/bkjob/callback/wrong", text(BODY)) == 404
            assert await post(local, b"{") == 400
            async with aiohttp.ClientSession() as session, session.get(f"{base}/") as resp:
                assert await resp.text() == "hello"
    finally:
        await runner.cleanup()
        await receiver.aclose()
    assert received == [EXPECTED, EXPECTED]
    assert receiver.statistics() == CallbackStatistics(accepted=2, refused_token=1, malformed=1)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/hooks/bkjob/callback/" in logged  # the access log saw the requests...
    assert token not in logged
    assert token[:8] not in logged
    assert token not in repr(receiver)
    assert "***" in repr(receiver)
    assert token not in receiver.path


async def test_mounted_without_base_url_says_what_is_missing() -> None:
    receiver = CallbackReceiver(lambda _: None)
    receiver.add_routes(web.Application())
    with pytest.raises(RuntimeError, match="base_url"):
        _ = receiver.callback_url
    await receiver.aclose()


async def test_listening_on_every_address_needs_a_base_url() -> None:
    async with CallbackReceiver(lambda _: None, host="0.0.0.0") as receiver:
        with pytest.raises(RuntimeError, match="base_url"):
            _ = receiver.callback_url
    async with CallbackReceiver(lambda _: None, host="0.0.0.0", base_url="http://h:1") as r:
        assert r.callback_url.startswith("http://h:1/bkjob/callback/")


def test_tokens_are_unguessable_and_checked() -> None:
    urls = {CallbackReceiver(lambda _: None, base_url="http://h").callback_url for _ in range(50)}
    assert len(urls) == 50
    assert all(len(url.rsplit("/", 1)[1]) >= 40 for url in urls)
    with pytest.raises(ValueError, match="16 characters"):
        CallbackReceiver(lambda _: None, token="short")
    with pytest.raises(ValueError, match="max_body"):
        CallbackReceiver(lambda _: None, max_body=0)


def test_parse_is_public_for_other_frameworks() -> None:
    assert Callback.parse(text(BODY)) == EXPECTED
    assert Callback.parse(text(BODY).encode()) == EXPECTED
    with pytest.raises(ValueError, match="job_instance_id"):
        Callback.parse("{}")


# --- hostile clients (issue 46, point 4) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_body": float("nan")}, TypeError),
        ({"max_body": True}, TypeError),
        ({"max_body": 0}, ValueError),
        ({"timeout": float("nan")}, ValueError),
        ({"timeout": float("inf")}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"timeout": True}, TypeError),
        ({"port": 80.5}, TypeError),
    ],
)
def test_every_numeric_option_is_checked(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        CallbackReceiver(lambda callback: None, **options)


async def test_slow_clients_cannot_hold_connections_open(received: list[Callback]) -> None:
    """Connections whose headers never complete are closed after ``timeout``; a body that
    stops coming is answered 408; a good callback still gets through meanwhile."""
    async with CallbackReceiver(received.append, timeout=0.5) as receiver:
        port = int(receiver.callback_url.split(":")[2].split("/")[0])
        path = receiver.callback_url.split(str(port), 1)[1]
        slow_headers = []
        for _ in range(50):
            stream = await anyio.connect_tcp("127.0.0.1", port)
            await stream.send(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n")  # no end
            slow_headers.append(stream)
        slow_body = await anyio.connect_tcp("127.0.0.1", port)
        await slow_body.send(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        )
        assert await post(receiver.callback_url, text(BODY)) == 200
        with anyio.fail_after(10):
            for stream in slow_headers:
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await stream.receive()
                await stream.aclose()
            answer = await slow_body.receive()
            await slow_body.aclose()
        assert answer.startswith(b"HTTP/1.1 408")
        assert receiver.statistics().timed_out == 51
        assert received == [EXPECTED]
