"""Secrets (app_secret, bk_token, access_token) never show in reprs, logs or error messages."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from bkjob_async import (
    ApiError,
    BkJobClient,
    BkJobError,
    Credentials,
    JobInstanceStatus,
    JobOperation,
    ResponseFormatError,
    RetryPolicy,
    Scope,
    ServerError,
    TransportError,
)
from bkjob_async._protocol import Protocol, Request, Response
from bkjob_async.testing import BkJobSimulator, Fault, StepPlan
from tests.conftest import (
    ACCESS_TOKEN,
    APP_SECRET,
    BK_TOKEN,
    SECRETS,
    RawServer,
    RecordingServer,
    closed_port_url,
    full_text,
)

MakeClient = Callable[..., BkJobClient]

BIZ = Scope.biz(2)
FLAVORS = ["apigw-v3", "esb-jobv3", "esb-v2"]
IDENTITIES = [{"bk_token": BK_TOKEN}, {"access_token": ACCESS_TOKEN}, {"username": "admin"}]
#: A secret that JSON and repr() both escape.
ODD_SECRET = "p\"a\\ss/wörd'\t"


def assert_clean(text: str, secrets: tuple[str, ...] = SECRETS) -> None:
    for secret in secrets:
        assert secret not in text
        assert secret[:12] not in text  # not even a cut-off piece
        escaped = json.dumps(secret)[1:-1]
        assert escaped not in text
        assert escaped[:12] not in text


#: ``make_client`` options: every kind of secret at once, one retry.
ALL_SECRETS: dict[str, Any] = {
    "bk_token": BK_TOKEN,
    "access_token": ACCESS_TOKEN,
    "retry": RetryPolicy(max_attempts=2),
}


# --- reprs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_reprs_hide_secrets(make_client: MakeClient, flavor: str) -> None:
    async with make_client(**ALL_SECRETS, flavor=flavor) as client:
        protocol = client.protocol
        request = protocol.build("operate_job_instance", BIZ, 1, JobOperation.START)
        credentials = Credentials(
            "my-app", APP_SECRET, username="u", bk_token=BK_TOKEN, access_token=ACCESS_TOKEN
        )
        objects = [client, protocol, request, credentials, client.transport, client.retry]
        for value in objects:
            assert_clean(repr(value))
            assert_clean(str(value))
        # The secrets are there, only hidden.
        assert APP_SECRET in request.headers["X-Bkapi-Authorization"]


# --- server messages that echo a secret ------------------------------------------------------


def echo_programs() -> list[tuple[str, Any]]:
    """Ways a server can echo the caller's secrets back."""
    all_of_them = " / ".join(SECRETS)
    header_json = json.dumps({"bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN})
    return [
        (
            "message",
            lambda s: s.reply(
                None, result=False, code=1640001, message=f"bad secret {all_of_them}"
            ),
        ),
        (
            "gateway header",
            lambda s: s.reply_raw(
                b"denied",
                status=401,
                headers={"X-Bkapi-Error-Message": f"secret {APP_SECRET} token {BK_TOKEN}"},
            ),
        ),
        (
            "request ids",
            lambda s: s.reply(
                None,
                result=False,
                code=1244006,
                request_id=APP_SECRET,
                job_request_id=ACCESS_TOKEN,
            ),
        ),
        ("html 502", lambda s: s.reply_raw(f"<p>{all_of_them}</p>".encode(), status=502)),
        ("html 200", lambda s: s.reply_raw(f"<p>{all_of_them}</p>".encode())),
        (
            "echoed header 200",
            lambda s: s.reply_raw(header_json.encode(), content_type="text/plain"),
        ),
        (
            "secret cut by the excerpt",
            lambda s: s.reply_raw(b"x" * 180 + APP_SECRET.encode(), status=500),
        ),
        ("data value", lambda s: s.reply({"finished": True, "job_instance": APP_SECRET})),
        ("data number", lambda s: s.reply({"finished": BK_TOKEN, "job_instance": {}})),
    ]


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize(("name", "program"), echo_programs())
async def test_echoed_secrets_are_masked_in_errors(
    server: RecordingServer, make_client: MakeClient, flavor: str, name: str, program: Any
) -> None:
    program(server)
    options = {**ALL_SECRETS, "retry": RetryPolicy(max_attempts=1)}
    async with make_client(**options, flavor=flavor) as c:
        with pytest.raises(BkJobError) as info:
            await c.get_job_instance_status(BIZ, 1)
    assert_clean(full_text(info.value))
    if isinstance(info.value, ApiError):
        assert_clean(f"{info.value.message} {info.value.request_id} {info.value.job_request_id}")


def test_secrets_that_need_escaping_are_masked() -> None:
    protocol = Protocol(
        "http://127.0.0.1:1",
        flavor="apigw-v3",
        credentials=Credentials("my-app", ODD_SECRET, username="u"),
    )
    request = protocol.build("get_job_instance_status", BIZ, 1, with_hosts=True)
    header = request.headers["X-Bkapi-Authorization"].encode()
    bodies = [
        (200, header),  # the header echoed verbatim: JSON-escaped
        (502, header),
        (200, ODD_SECRET.encode()),
        (500, ODD_SECRET.encode()),
        (200, json.dumps({"result": False, "code": 1, "message": ODD_SECRET}).encode()),
    ]
    for status, body in bodies:
        with pytest.raises(BkJobError) as info:
            protocol.decipher(request, Response(status, {}, body))
        assert_clean(full_text(info.value), (ODD_SECRET,))
        assert "***" in str(info.value)


def test_redact_masks_every_form_of_every_secret() -> None:
    protocol = Protocol(
        "http://127.0.0.1:1",
        flavor="esb-v2",
        credentials=Credentials("a", APP_SECRET, bk_token=BK_TOKEN, access_token=ACCESS_TOKEN),
    )
    text = protocol.redact(f"{APP_SECRET}|{BK_TOKEN}|{ACCESS_TOKEN}|ok")
    assert text == "***|***|***|ok"


def test_converter_errors_with_secrets_keep_no_secret_in_the_chain() -> None:
    protocol = Protocol(
        "http://127.0.0.1:1",
        flavor="apigw-v3",
        credentials=Credentials("my-app", APP_SECRET, access_token=ACCESS_TOKEN),
    )
    with pytest.raises(ResponseFormatError) as info:
        protocol.parse(
            {"finished": True, "job_instance": {"job_instance_id": APP_SECRET, "status": 2}},
            JobInstanceStatus,
        )
    assert_clean(full_text(info.value))
    # The converter names the type of a bad value, never the value.
    assert "not an integer: a str" in str(info.value)


# --- logs ------------------------------------------------------------------------------------


def echo_everything(request: Request) -> Response:
    """Answer 503 with the request's own auth header in the body and a header."""
    auth = request.headers.get("X-Bkapi-Authorization", "")
    headers = {"Content-Type": "text/plain; charset=utf-8", "X-Bkapi-Error-Message": auth[:200]}
    return Response(503, headers, f"echo {auth}".encode())


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("identity", IDENTITIES)
async def test_logs_never_show_secrets(
    server: RecordingServer,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    flavor: str,
    identity: dict[str, str],
) -> None:
    caplog.set_level(logging.DEBUG)
    all_of_them = " ".join(SECRETS)
    server.reply({"job_instance_id": 1})  # success
    server.reply_with(echo_everything)  # retried read ...
    server.reply(None, result=False, code=1306429, message=f"slow down {all_of_them}")
    server.reply({"job_instance_id": 1})  # ... succeeds on the third attempt
    server.reply(None, result=False, code=1244006, message=f"no job {all_of_them}")  # failure
    server.reply_with(echo_everything)  # failing operation, not retried
    options: dict[str, Any] = {
        "flavor": flavor,
        "retry": RetryPolicy(max_attempts=3),
        "username": None,
        **identity,
    }
    async with make_client(**options) as client:
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
        with pytest.raises(ResponseFormatError):
            await client.get_job_instance_status(BIZ, 1)  # data lacks 'finished'
        with pytest.raises(ApiError):
            await client.get_job_instance_status(BIZ, 1)
        with pytest.raises(ServerError):
            await client.operate_job_instance(BIZ, 1, JobOperation.TERMINATE)
    async with make_client(base_url=closed_port_url(), **options) as offline:
        with pytest.raises(BkJobError):
            await offline.get_job_instance_status(BIZ, 1)

    # The client can mask only its own secrets: the app secret and the identity's token.
    own = tuple(s for s in (APP_SECRET, *identity.values()) if s in SECRETS)
    ours = [r for r in caplog.records if r.name.startswith("bkjob_async")]
    assert any(r.levelno == logging.DEBUG for r in ours)
    assert sum("retry" in r.getMessage() for r in ours) >= 3
    for record in caplog.records:
        text = [record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info and record.exc_info[1] is not None:
            text.append(full_text(record.exc_info[1]))
        assert_clean("\n".join(text), own)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Echo: "
        + APP_SECRET.encode()
        + b"\x00\r\n\r\nhello",
        b"HTTP/1.1 2x0 " + APP_SECRET.encode() + b"\r\n\r\n",
        b"garbage " + APP_SECRET.encode() + b"\r\n\r\n",
    ],
)
async def test_garbled_http_echoing_a_secret(make_client: MakeClient, answer: bytes) -> None:
    no_retry = RetryPolicy(max_attempts=1)
    async with (
        RawServer(answer) as raw,
        make_client(base_url=raw.url, retry=no_retry) as client,
    ):
        with pytest.raises(TransportError) as info:
            await client.get_job_instance_status(BIZ, 1)
    assert_clean(full_text(info.value), (APP_SECRET,))
    assert "***" in str(info.value)


# --- the poller's path: every fault kind of the simulator, through watch_jobs, at DEBUG ----------

#: A long secret and a long token, each one JSON and URLs must escape.
LONG_SECRET = "app-secret/+" + "Zq8" * 20 + '"quoted\\'
LONG_TOKEN = "bk-token=" + "k9W" * 30 + "é€"
AUTH_ECHO = json.dumps(
    {"bk_app_code": "my-app", "bk_app_secret": LONG_SECRET, "bk_token": LONG_TOKEN}
)


def echoed_forms() -> str:
    """The auth header as a server or gateway might quote it, in several encodings at once."""
    return " | ".join(
        [
            AUTH_ECHO,
            json.dumps(AUTH_ECHO),
            urllib.parse.quote(AUTH_ECHO),
            base64.b64encode(AUTH_ECHO.encode()).decode(),
            repr(AUTH_ECHO.encode()),
            AUTH_ECHO[: AUTH_ECHO.index("bk_token") + 30],
        ]
    )


def sweep_faults() -> list[tuple[str, Fault, int | None]]:
    """(name, fault, times) for every fault kind; echoing the secrets wherever a fault can."""
    echo = echoed_forms()
    return [
        ("http 502 echoing", Fault.http_status(502, body=f"<pre>{echo}</pre>"), 3),
        ("http 401 echoing", Fault.http_status(401, body=echo), None),
        ("http 403 json echoing", Fault.http_status(403, body={"message": echo, "code": 9900403}), None),
        ("permission echoing", Fault.business_error(9900403, echo, permission={"why": echo, "a": [echo]}), None),
        ("not found echoing", Fault.business_error(1244006, echo), None),
        ("server error echoing", Fault.business_error(1240002, echo), 3),
        ("rate limited", Fault.rate_limited(0.01), 3),
        ("delay", Fault.delay(0.05), 3),
        ("reset", Fault.reset(), 3),
        ("truncated", Fault.truncated(), 3),
        ("not json", Fault.not_json(), 3),
        ("unknown status", Fault.unknown_status(job=99, step=98, host=97), 3),
    ]  # fmt: skip


def assert_no_long_secret(text: str) -> None:
    for secret in (LONG_SECRET, LONG_TOKEN):
        for form in (secret, json.dumps(secret)[1:-1], urllib.parse.quote(secret)):
            for start in range(len(form) - 7):
                assert form[start : start + 8] not in text, (form[start : start + 8], text[:2000])
        assert base64.b64encode(secret.encode()).decode()[:12] not in text


async def sweep(
    make_client: MakeClient, url: str, flavor: str, caplog: pytest.LogCaptureFixture, run: Any
) -> list[Any]:
    """Watch three jobs through the poller for a while; return the events."""
    from bkjob_async import Poller, PollPolicy

    caplog.set_level(logging.DEBUG)
    events: list[Any] = []
    async with make_client(
        base_url=url,
        app_secret=LONG_SECRET,
        username=None,
        bk_token=LONG_TOKEN,
        flavor=flavor,
        retry=RetryPolicy(max_attempts=1),
    ) as client:
        policy = PollPolicy(interval=0.01, max_interval=0.02, max_in_flight=4, poll_timeout=2.0)
        async with Poller(client, policy=policy) as poller:
            with anyio.move_on_after(2):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(run)
                    async for event in poller.watch_jobs(BIZ, [1, 2, 3]):
                        events.append(event)
                    tg.cancel_scope.cancel()
    texts = [repr(event) for event in events]
    texts += [
        full_text(e.error) for e in events if isinstance(getattr(e, "error", None), BaseException)
    ]
    texts += [repr(getattr(getattr(e, "error", None), "permission", None)) for e in events]
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(full_text(record.exc_info[1]))
    assert_no_long_secret("\n".join(texts))
    return events


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize(
    ("name", "fault", "times"), sweep_faults(), ids=[f[0] for f in sweep_faults()]
)
async def test_poller_sweep_every_fault_kind_at_debug(
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    flavor: str,
    name: str,
    fault: Fault,
    times: int | None,
) -> None:
    async with BkJobSimulator(virtual_clock=True, seed=3) as sim:
        for _ in range(3):
            sim.create_job(BIZ, [StepPlan(hosts=2, duration=(1.0, 1.0), start_delay=(0.0, 0.0))])
        rule = sim.inject(fault, api="get_job_instance_status", times=times)

        async def advance() -> None:
            while True:
                await anyio.sleep(0.01)
                sim.advance(0.2)

        events = await sweep(make_client, sim.url, flavor, caplog, advance)
    assert rule.hits > 0, "the fault never fired: the sweep would prove nothing"
    assert events or name == "rate limited"  # the rate collapse may hold ESB polls


async def test_poller_sweep_garbled_http_echoing_secrets(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp's parser quotes the bytes it choked on: a status line, a header, a chunk size."""
    answers = [
        b"HTTP/1.1 2x0 " + LONG_SECRET.encode()[:40] + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Echo: " + AUTH_ECHO.encode() + b"\x00\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + LONG_TOKEN.encode()[:30] + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + LONG_SECRET.encode()[:30]
        + b"\r\n",
    ]
    async with RawServer(*answers) as raw:
        events = await sweep(make_client, raw.url, "apigw-v3", caplog, anyio.sleep_forever)
    assert raw.served >= len(answers)
    # What the engine shows of these failures (WatchFailed, PollingStalled, its log lines)
    # was checked by ``sweep``; each error is a masked TransportError (test_wire_defects.py).
    del events
