"""The facade against a real aiohttp server on 127.0.0.1: what goes on the wire, what comes back."""

from __future__ import annotations

import asyncio
import base64
import builtins
import datetime as dt
from typing import Any

import aiohttp
import pytest

from bkjob_async import (
    Account,
    ApiError,
    BkJobClient,
    ConnectError,
    ConnectTimeoutError,
    EndpointNotFoundError,
    FileSource,
    GlobalVar,
    HostStatus,
    InvalidRequestError,
    JobInstanceStatus,
    JobLaunch,
    JobOperation,
    JobStatus,
    NotFoundError,
    OperationNotAllowedError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseFormatError,
    RetryPolicy,
    Scope,
    ServerError,
    StepInstanceStatus,
    StepOperation,
    Targets,
    Timeouts,
    TransportError,
    UnsupportedOperationError,
)
from bkjob_async import TimeoutError as BkTimeoutError
from bkjob_async.testing import Request, Response
from tests.conftest import (
    ACCESS_TOKEN,
    APP_SECRET,
    BK_TOKEN,
    CHUNKED_HEAD,
    RawServer,
    RecordingServer,
    chunked,
    closed_port_url,
    json_answer,
    load_sample,
)

BIZ = Scope.biz(2)
STAGE = "/api/bk-job/prod"
NO_RETRY = RetryPolicy(max_attempts=1)

#: Path prefix and scope parameters per flavor.
FLAVORS = {
    "apigw-v3": (STAGE + "/api/v3/", {"bk_scope_type": "biz", "bk_scope_id": "2"}),
    "esb-jobv3": ("/api/c/compapi/v2/jobv3/", {"bk_scope_type": "biz", "bk_scope_id": "2"}),
    "esb-v2": ("/api/c/compapi/v2/job/", {"bk_biz_id": 2}),
}


def path(flavor: str, api: str) -> str:
    prefix, _ = FLAVORS[flavor]
    return prefix + api + ("" if flavor == "apigw-v3" else "/")


def client_for(
    make_client: Any, server: RecordingServer, flavor: str, **kwargs: Any
) -> BkJobClient:
    base = server.url + (STAGE if flavor == "apigw-v3" else "")
    return make_client(base_url=base, flavor=flavor, **kwargs)


def assert_auth(request: Any, **identity: str) -> None:
    expected = {"bk_app_code": "my-app", "bk_app_secret": APP_SECRET}
    expected.update(identity or {"bk_username": "admin"})
    assert request.auth == expected


def data(name: str) -> Any:
    return load_sample(name)["data"]


# --- status ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", list(FLAVORS))
async def test_get_job_instance_status(
    make_client: Any, server: RecordingServer, flavor: str
) -> None:
    sample = (
        "get_job_instance_status.v2.esb-doc-zh.json"
        if flavor == "esb-v2"
        else ("get_job_instance_status.v3.apigw-doc.json")
    )
    server.reply(data(sample))
    async with client_for(make_client, server, flavor) as client:
        status = await client.get_job_instance_status(BIZ, 100)
    assert isinstance(status, JobInstanceStatus)
    assert status.job.job_instance_id == 100
    assert status.job.status is JobStatus.FAIL
    assert status.steps[0].hosts is not None
    assert status.steps[0].hosts[0].status is HostStatus.SUCCESS
    (request,) = server.requests
    assert request.path == path(flavor, "get_job_instance_status")
    assert_auth(request)
    _, scope = FLAVORS[flavor]
    # A GET with a query on every flavor (the ESB reads it as a POST's JSON: spec §1).
    assert request.method == "GET"
    assert request.body == b""
    assert "Content-Type" not in request.headers
    extra = {} if flavor == "esb-v2" else {"return_ip_result": "true"}
    sent = {k: str(v) for k, v in scope.items()}  # (a query's values are text)
    assert request.query == {**sent, "job_instance_id": "100", **extra}


async def test_job_status_without_hosts(make_client: Any, server: RecordingServer) -> None:
    value = data("get_job_instance_status.v3.apigw-doc.json")
    value["step_instance_list"][0]["step_ip_result_list"] = None
    server.reply(value)
    async with client_for(make_client, server, "apigw-v3") as client:
        status = await client.get_job_instance_status(BIZ, 100, with_hosts=False)
    assert server.requests[0].query["return_ip_result"] == "false"
    assert status.steps[0].hosts is None


async def test_get_step_instance_status_apigw(make_client: Any, server: RecordingServer) -> None:
    server.reply(data("get_step_instance_status.v3.apigw-doc.json"))
    async with client_for(make_client, server, "apigw-v3") as client:
        status = await client.get_step_instance_status(
            BIZ, 100, 75, execute_count=1, status=HostStatus.SUCCESS, max_host_num_per_group=10
        )
    assert isinstance(status, StepInstanceStatus)
    assert [h.host.bk_host_id for h in status.step.hosts or ()] == [101, 102]
    (request,) = server.requests
    assert (request.method, request.path) == ("GET", path("apigw-v3", "get_step_instance_status"))
    assert request.query == {
        "bk_scope_type": "biz",
        "bk_scope_id": "2",
        "job_instance_id": "100",
        "step_instance_id": "75",
        "execute_count": "1",
        "status": "9",
        "max_host_num_per_group": "10",
        "batch": "0",  # every rolling batch: the gateway alone answers the latest only (§7.6)
    }
    assert_auth(request)


async def test_get_step_instance_status_v2_sends_ids_top_level(
    make_client: Any, server: RecordingServer
) -> None:
    server.reply(data("get_step_instance_status.v2.esb-doc-en.json"))
    async with client_for(make_client, server, "esb-v2") as client:
        status = await client.get_step_instance_status(BIZ, 490001, 790001)
    assert status.step.step_instance_id == 790001
    assert status.step.target_hosts is not None
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", path("esb-v2", "get_step_instance_status"))
    assert request.json == {"bk_biz_id": 2, "job_instance_id": 490001, "step_instance_id": 790001}


async def test_step_status_on_esb_jobv3_is_unsupported_before_sending(
    make_client: Any, server: RecordingServer
) -> None:
    async with client_for(make_client, server, "esb-jobv3") as client:
        with pytest.raises(UnsupportedOperationError):
            await client.get_step_instance_status(BIZ, 1, 2)
    assert server.requests == []


async def test_v2_times_use_the_client_server_tz(make_client: Any, server: RecordingServer) -> None:
    value = data("get_job_instance_status.v2.esb-doc-zh.json")
    value["job_instance"]["create_time"] = "2024-05-06 07:08:09"
    server.reply(value)
    tz = dt.timezone(dt.timedelta(hours=-4))
    async with client_for(make_client, server, "esb-v2", server_tz=tz) as client:
        status = await client.get_job_instance_status(BIZ, 100)
    assert status.job.create_time == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=tz)


# --- operations and launches -----------------------------------------------------------------


@pytest.mark.parametrize("flavor", list(FLAVORS))
async def test_operations(make_client: Any, server: RecordingServer, flavor: str) -> None:
    server.reply({"job_instance_id": 10, "step_instance_id": 20})
    server.reply({"job_instance_id": 10})
    async with client_for(make_client, server, flavor) as client:
        assert await client.operate_step_instance(BIZ, 10, 20, StepOperation.RETRY_FAILED) is None
        assert await client.operate_job_instance(BIZ, 10, JobOperation.TERMINATE) is None
    step, job = server.requests
    _, scope = FLAVORS[flavor]
    assert (step.method, step.path) == ("POST", path(flavor, "operate_step_instance"))
    assert step.json == {
        **scope,
        "job_instance_id": 10,
        "step_instance_id": 20,
        "operation_code": 2,
    }
    assert (job.method, job.path) == ("POST", path(flavor, "operate_job_instance"))
    assert job.json == {**scope, "job_instance_id": 10, "operation_code": 1}
    assert_auth(step)
    assert_auth(job)


@pytest.mark.parametrize("flavor", list(FLAVORS))
async def test_fast_execute_script(make_client: Any, server: RecordingServer, flavor: str) -> None:
    server.reply({"job_instance_id": 5, "job_instance_name": "n", "step_instance_id": 6})
    async with client_for(make_client, server, flavor) as client:
        launch = await client.fast_execute_script(
            BIZ,
            # v2 cannot target by host id (§7.2)
            targets=Targets(ips=["10.0.0.1"]) if flavor == "esb-v2" else Targets(host_ids=[101]),
            account=Account(alias="root"),
            script_content="echo $1",
            script_param="hi",
            script_timeout=60,
        )
    assert launch == JobLaunch(5, "n", 6)
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", path(flavor, "fast_execute_script"))
    sent = request.json
    assert base64.b64decode(sent["script_content"]) == b"echo $1"
    assert base64.b64decode(sent["script_param"]) == b"hi"
    if flavor == "esb-v2":
        assert sent["bk_biz_id"] == 2
        assert (sent["account"], sent["script_timeout"], sent["script_type"]) == ("root", 60, 1)
        assert sent["target_server"] == {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
    else:
        assert (sent["bk_scope_type"], sent["bk_scope_id"]) == ("biz", "2")
        assert (sent["account_alias"], sent["timeout"], sent["script_language"]) == ("root", 60, 1)
        assert sent["target_server"] == {"host_id_list": [101]}
    assert_auth(request)


@pytest.mark.parametrize(
    ("flavor", "name", "sources_key"),
    [
        ("apigw-v3", "fast_transfer_file", "file_source_list"),
        ("esb-jobv3", "fast_transfer_file", "file_source_list"),
        ("esb-v2", "fast_push_file", "file_source"),
    ],
)
async def test_fast_transfer_file(
    make_client: Any, server: RecordingServer, flavor: str, name: str, sources_key: str
) -> None:
    server.reply({"job_instance_id": 7, "job_instance_name": "push"})
    async with client_for(make_client, server, flavor) as client:
        launch = await client.fast_transfer_file(
            BIZ,
            targets=Targets(ips=["0:10.0.0.1"]),
            account=Account(alias="root"),
            file_target_path="/tmp/",
            file_sources=[FileSource(["/etc/hosts"], server=Targets(ips=["0:10.0.0.9"]))],
        )
    assert launch == JobLaunch(7, "push")
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", path(flavor, name))
    assert request.json["file_target_path"] == "/tmp/"
    assert len(request.json[sources_key]) == 1


@pytest.mark.parametrize(
    ("flavor", "name", "id_key"),
    [
        ("apigw-v3", "execute_job_plan", "job_plan_id"),
        ("esb-jobv3", "execute_job_plan", "job_plan_id"),
        ("esb-v2", "execute_job", "bk_job_id"),
    ],
)
async def test_execute_job_plan(
    make_client: Any, server: RecordingServer, flavor: str, name: str, id_key: str
) -> None:
    server.reply({"job_instance_id": 8, "job_instance_name": "plan"})
    async with client_for(make_client, server, flavor) as client:
        launch = await client.execute_job_plan(
            BIZ, 1000, global_vars=[GlobalVar(name="v", value="1")]
        )
    assert launch == JobLaunch(8, "plan")
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", path(flavor, name))
    assert request.json[id_key] == 1000
    assert "job_plan_id" not in request.json or id_key == "job_plan_id"


# --- identity headers ------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", list(FLAVORS))
@pytest.mark.parametrize(
    ("identity", "header"),
    [
        ({"username": "alice"}, {"bk_username": "alice"}),
        ({"username": None, "bk_token": BK_TOKEN}, {"bk_token": BK_TOKEN}),
        ({"username": None, "access_token": ACCESS_TOKEN}, {"access_token": ACCESS_TOKEN}),
    ],
)
async def test_auth_header_per_identity(
    make_client: Any,
    server: RecordingServer,
    flavor: str,
    identity: dict[str, Any],
    header: dict[str, str],
) -> None:
    server.reply({"job_instance_id": 1})
    async with client_for(make_client, server, flavor, **identity) as client:
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
    (request,) = server.requests
    assert_auth(request, **header)
    on_the_wire = f"{request.path} {request.query} {request.body!r}"
    for secret in (APP_SECRET, BK_TOKEN, ACCESS_TOKEN, "my-app"):
        assert secret not in on_the_wire


async def test_tenant_header(make_client: Any, server: RecordingServer) -> None:
    async with client_for(make_client, server, "apigw-v3", tenant_id="t1") as client:
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
    assert server.requests[0].headers["X-Bk-Tenant-Id"] == "t1"


# --- server errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1244006, NotFoundError),
        (9900403, PermissionDeniedError),
        (1241003, OperationNotAllowedError),
        (1241002, InvalidRequestError),
        (1306429, RateLimitedError),
        (1240002, ServerError),
    ],
)
async def test_result_false_at_200(
    make_client: Any, server: RecordingServer, code: int, cls: type[ApiError]
) -> None:
    server.reply(
        None,
        result=False,
        code=code,
        message="作业实例不存在",
        request_id="esb-9",
        job_request_id="job-9",
        permission={"system_id": "bk_job", "actions": []},
    )
    async with client_for(make_client, server, "esb-jobv3", retry=NO_RETRY) as client:
        with pytest.raises(cls) as info:
            await client.get_job_instance_status(BIZ, 1)
    error = info.value
    assert (error.code, error.http_status, error.message) == (code, 200, "作业实例不存在")
    assert (error.request_id, error.job_request_id) == ("esb-9", "job-9")
    assert error.permission == {"system_id": "bk_job", "actions": []}
    assert error.api == "get_job_instance_status"


async def test_gateway_rate_limit_sample_with_headers(
    make_client: Any, server: RecordingServer
) -> None:
    server.reply_json(
        load_sample("error.apigw.http429.rate-limit.json"),
        status=429,
        headers={
            "X-Bkapi-Error-Code": "1642903",
            "X-Bkapi-Request-Id": "gw-req",
            "Retry-After": "7",
        },
    )
    async with client_for(make_client, server, "apigw-v3", retry=NO_RETRY) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.get_job_instance_status(BIZ, 1)
    error = info.value
    assert (error.code, error.http_status, error.request_id) == (1642903, 429, "gw-req")
    assert error.retry_after == 7.0


async def test_gateway_error_headers_without_json_body(
    make_client: Any, server: RecordingServer
) -> None:
    server.reply_raw(
        b"not found",
        status=404,
        headers={
            "X-Bkapi-Error-Code": "1640401",
            "X-Bkapi-Error-Message": "API not found",
            "X-Bkapi-Request-Id": "gw-1",
        },
        content_type="text/plain",
    )
    async with client_for(make_client, server, "apigw-v3", retry=NO_RETRY) as client:
        with pytest.raises(EndpointNotFoundError) as info:
            await client.get_job_instance_status(BIZ, 1)
    assert (info.value.code, info.value.message, info.value.request_id) == (
        1640401,
        "API not found",
        "gw-1",
    )
    assert info.value.http_status == 404


async def test_html_502_is_server_error(make_client: Any, server: RecordingServer) -> None:
    server.reply_raw(b"<html><h1>502 Bad Gateway</h1></html>", status=502)
    async with client_for(make_client, server, "apigw-v3", retry=NO_RETRY) as client:
        with pytest.raises(ServerError) as info:
            await client.get_job_instance_status(BIZ, 1)
    assert info.value.http_status == 502
    assert "502 Bad Gateway" in str(info.value)


async def test_non_json_200_is_response_format_error(
    make_client: Any, server: RecordingServer
) -> None:
    for _ in range(4):
        server.reply_raw(b"<html>login page</html>")
    async with client_for(make_client, server, "apigw-v3") as client:
        with pytest.raises(ResponseFormatError, match="login page"):
            await client.get_job_instance_status(BIZ, 1)
    assert len(server.requests) == 4  # a read retries it (a proxy page can pass), then gives up


async def test_a_read_recovers_from_a_body_cut_short(
    make_client: Any, server: RecordingServer
) -> None:
    server.reply_raw(
        b'{"result": true, "code": 0, "data": {"finis', content_type="application/json"
    )
    server.reply(data("get_job_instance_status.v3.apigw-doc.json"))
    async with client_for(make_client, server, "apigw-v3") as client:
        status = await client.get_job_instance_status(BIZ, 100)
    assert status.job.job_instance_id == 100
    assert len(server.requests) == 2


async def test_wrong_shape_is_response_format_error(
    make_client: Any, server: RecordingServer
) -> None:
    server.reply({"finished": True})
    async with client_for(make_client, server, "apigw-v3") as client:
        with pytest.raises(ResponseFormatError, match="JobInstanceStatus"):
            await client.get_job_instance_status(BIZ, 1)


# --- invalid input fails before anything is sent ---------------------------------------------


INVALID_CALLS = [
    ("get_job_instance_status", (BIZ, 0), {}),
    ("get_job_instance_status", (BIZ, -1), {}),
    ("get_job_instance_status", (BIZ, True), {}),
    ("get_job_instance_status", (BIZ, "1"), {}),
    ("get_job_instance_status", (BIZ, 1.0), {}),
    ("get_job_instance_status", (2, 1), {}),
    ("get_step_instance_status", (BIZ, 1, 0), {}),
    ("get_step_instance_status", (BIZ, 1, 2), {"execute_count": -1}),
    ("get_step_instance_status", (BIZ, 1, 2), {"batch": True}),
    ("operate_step_instance", (BIZ, 1, 2, 4), {}),
    ("operate_step_instance", (BIZ, 1, 2, True), {}),
    ("operate_job_instance", (BIZ, 1, 3), {}),
    ("operate_job_instance", (BIZ, False, JobOperation.START), {}),
    (
        "fast_execute_script",
        (BIZ,),
        {"targets": Targets(), "account": Account(alias="root"), "script_content": "ls"},
    ),
    (
        "fast_execute_script",
        (BIZ,),
        {
            "targets": Targets(host_ids=[1]),
            "account": Account(alias="root"),
            "script_content": "ls",
            "script_timeout": 0,
        },
    ),
    (
        "fast_execute_script",
        (BIZ,),
        {"targets": Targets(host_ids=[1]), "account": Account(alias="root")},
    ),
    (
        "fast_transfer_file",
        (BIZ,),
        {
            "targets": Targets(host_ids=[1]),
            "account": Account(alias="root"),
            "file_target_path": "/tmp",
            "file_sources": [],
        },
    ),
    ("execute_job_plan", (BIZ, 0), {}),
    ("execute_job_plan", (BIZ, True), {}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), INVALID_CALLS)
async def test_invalid_input_sends_nothing(
    make_client: Any, server: RecordingServer, method: str, args: tuple, kwargs: dict
) -> None:
    async with client_for(make_client, server, "apigw-v3") as client:
        with pytest.raises((TypeError, ValueError)):
            await getattr(client, method)(*args, **kwargs)
    assert server.requests == []


async def test_business_set_on_v2_sends_nothing(make_client: Any, server: RecordingServer) -> None:
    async with client_for(make_client, server, "esb-v2") as client:
        with pytest.raises(ValueError, match="business sets"):
            await client.get_job_instance_status(Scope.biz_set(3), 1)
    assert server.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flavor": "esb-v3"},
        {"username": None},
        {"app_secret": ""},
        {"base_url": "127.0.0.1:80"},
        {"timeouts": Timeouts(total=None, read=None, connect=None), "retry": "fast"},
        {"timeouts": 5},
        {"session": "x", "transport": "y"},
    ],
)
async def test_invalid_construction(
    make_client: Any, server: RecordingServer, kwargs: dict[str, Any]
) -> None:
    with pytest.raises((TypeError, ValueError)):
        make_client(**kwargs)
    assert server.requests == []


@pytest.mark.parametrize(
    "kwargs", [{"connect": 0}, {"read": -1}, {"total": 0.0}, {"total": float("nan")}]
)
def test_bad_timeouts(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        Timeouts(**kwargs)


# --- transport failures ----------------------------------------------------------------------


async def test_connection_refused_is_connect_error(make_client: Any) -> None:
    async with make_client(base_url=closed_port_url(), retry=NO_RETRY) as client:
        with pytest.raises(ConnectError) as info:
            await client.get_job_instance_status(BIZ, 1)
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)
    assert not isinstance(info.value, builtins.TimeoutError)


async def test_slow_response_is_timeout_error(make_client: Any, server: RecordingServer) -> None:
    async def slow(_: Request) -> Response:
        await asyncio.sleep(5)
        return Response(200, {}, b"")

    server.reply_with(slow)
    timeouts = Timeouts(connect=5, read=0.2, total=None)
    async with make_client(timeouts=timeouts, retry=NO_RETRY) as client:
        with pytest.raises(BkTimeoutError) as info:
            await client.get_job_instance_status(BIZ, 1)
    assert isinstance(info.value, builtins.TimeoutError)
    assert isinstance(info.value, TransportError)
    assert not isinstance(info.value, ConnectError)  # the request was sent
    assert isinstance(info.value.__cause__, asyncio.TimeoutError)  # builtin since 3.11 only


async def test_total_timeout(make_client: Any) -> None:
    async def trickle(writer: asyncio.StreamWriter) -> None:  # a body no handler can send
        writer.write(CHUNKED_HEAD)
        for _ in range(50):
            writer.write(chunked(b" "))
            await writer.drain()
            await asyncio.sleep(0.05)

    timeouts = Timeouts(connect=5, read=1, total=0.3)
    async with (
        RawServer(trickle) as raw,
        make_client(base_url=raw.url, timeouts=timeouts, retry=NO_RETRY) as client,
    ):
        with pytest.raises(builtins.TimeoutError):
            await client.get_job_instance_status(BIZ, 1)


async def test_dropped_connection_is_transport_error(
    make_client: Any, server: RecordingServer
) -> None:
    def drop(_: Request) -> Response:
        raise TransportError("the server drops the connection")

    server.reply_with(drop)
    async with make_client() as client:
        with pytest.raises(TransportError) as info:
            await client.operate_job_instance(BIZ, 1, JobOperation.TERMINATE)
    assert not isinstance(info.value, ConnectError)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)
    assert len(server.requests) == 1


async def test_pool_wait_counts_as_connect_timeout(
    make_client: Any, server: RecordingServer
) -> None:
    release = asyncio.Event()

    async def hold(_: Request) -> Response:
        await release.wait()
        return json_answer({"result": True, "code": 0, "data": {"job_instance_id": 1}})

    server.reply_with(hold)
    timeouts = Timeouts(connect=0.2, read=10, total=None)
    async with make_client(timeouts=timeouts, connection_limit=1, retry=NO_RETRY) as client:
        first = asyncio.ensure_future(client.operate_job_instance(BIZ, 1, JobOperation.START))
        while not server.requests:
            await asyncio.sleep(0.01)
        with pytest.raises(ConnectTimeoutError) as info:
            await client.operate_job_instance(BIZ, 2, JobOperation.START)
        release.set()
        await first
    assert isinstance(info.value, builtins.TimeoutError)
    assert len(server.requests) == 1


async def test_concurrent_calls_share_one_session(
    make_client: Any, server: RecordingServer
) -> None:
    async with make_client() as client:
        results = await asyncio.gather(
            *(client.operate_job_instance(BIZ, i, JobOperation.START) for i in range(1, 21))
        )
    assert results == [None] * 20
    assert sorted(r.json["job_instance_id"] for r in server.requests) == list(range(1, 21))
