"""The sans-I/O protocol: requests per flavor, input checks, and deciphering every response."""

from __future__ import annotations

import base64
import email.utils
import json
import time
from typing import Any

import pytest

from bkjob_async import (
    Account,
    ApiError,
    AuthenticationError,
    Credentials,
    EndpointNotFoundError,
    FileSource,
    GlobalVar,
    HostStatus,
    InvalidRequestError,
    JobOperation,
    NotFoundError,
    OperationNotAllowedError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    ResponseFormatError,
    RollingConfig,
    Scope,
    ScriptLanguage,
    ServerError,
    StepOperation,
    Targets,
    UnsupportedOperationError,
)
from bkjob_async._protocol import Protocol, Request, Response
from tests.conftest import ACCESS_TOKEN, APP_SECRET, BK_TOKEN, load_sample
from tests.protocols import BASE, BIZ, V3_SCOPE, body, protocol


def response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Response(status, headers or {}, raw)


def ok(data: Any) -> dict[str, Any]:
    return {"result": True, "code": 0, "message": "", "data": data}


def failure(code: int, message: str = "nope", **extra: Any) -> dict[str, Any]:
    return {"result": False, "code": code, "message": message, "data": None, **extra}


# --- URLs, methods and where parameters travel ----------------------------------------------


@pytest.mark.parametrize(
    ("flavor", "api", "url"),
    [
        ("apigw-v3", "get_job_instance_status", BASE + "api/v3/get_job_instance_status"),
        (
            "esb-jobv3",
            "get_job_instance_status",
            BASE + "api/c/compapi/v2/jobv3/get_job_instance_status/",
        ),
        (
            "esb-v2",
            "get_job_instance_status",
            BASE + "api/c/compapi/v2/job/get_job_instance_status/",
        ),
        ("esb-v2", "fast_transfer_file", BASE + "api/c/compapi/v2/job/fast_push_file/"),
        ("esb-v2", "execute_job_plan", BASE + "api/c/compapi/v2/job/execute_job/"),
        ("esb-jobv3", "execute_job_plan", BASE + "api/c/compapi/v2/jobv3/execute_job_plan/"),
        ("apigw-v3", "fast_transfer_file", BASE + "api/v3/fast_transfer_file"),
    ],
)
def test_url_per_flavor(flavor: str, api: str, url: str) -> None:
    assert protocol(flavor).request(api, {"x": 1}).url == url


def test_apigw_job_status_is_get_with_query_and_no_body() -> None:
    request = protocol("apigw-v3").build("get_job_instance_status", BIZ, 100, with_hosts=True)
    assert request.method == "GET"
    assert request.body is None
    assert request.query == {
        **V3_SCOPE,
        "job_instance_id": "100",
        "return_ip_result": "true",
    }
    assert request.idempotent
    assert "Content-Type" not in request.headers


def test_apigw_bool_false_is_spelled_false() -> None:
    request = protocol("apigw-v3").build("get_job_instance_status", BIZ, 100, with_hosts=False)
    assert request.query is not None
    assert request.query["return_ip_result"] == "false"


def test_esb_jobv3_job_status_is_a_get_with_a_query() -> None:
    # The ESB reads a GET's query as it reads a POST's JSON and forwards either as POST (spec
    # §1): a poll goes as the hand loop's and the component SDK's GET, no body to write.
    request = protocol("esb-jobv3").build(
        "get_job_instance_status", Scope.biz_set(9991001), 7, with_hosts=True
    )
    assert request.method == "GET"
    assert request.body is None
    assert "Content-Type" not in request.headers
    assert dict(request.query or {}) == {
        "bk_scope_type": "biz_set",
        "bk_scope_id": "9991001",
        "job_instance_id": "7",
        "return_ip_result": "true",  # (spec §2.1: on GET the string true)
    }
    assert request.url.endswith("/api/c/compapi/v2/jobv3/get_job_instance_status/")
    assert request.idempotent


def test_esb_v2_job_status_uses_bk_biz_id() -> None:
    request = protocol("esb-v2").build("get_job_instance_status", BIZ, 7, with_hosts=True)
    assert request.method == "GET"  # ESB v2's job.yaml suggests GET for it
    assert request.body is None
    assert dict(request.query or {}) == {"bk_biz_id": "2", "job_instance_id": "7"}
    assert request.idempotent


def test_esb_v2_step_status_stays_a_post_with_json() -> None:
    # v2's job.yaml suggests POST for the step's status (spec §2.5): its row says nothing else.
    request = protocol("esb-v2").build("get_step_instance_status", BIZ, 7, 8)
    assert request.method == "POST"
    assert request.query is None
    assert body(request) == {"bk_biz_id": 2, "job_instance_id": 7, "step_instance_id": 8}


def test_esb_v2_rejects_business_sets() -> None:
    with pytest.raises(ValueError, match="business sets"):
        protocol("esb-v2").build("get_job_instance_status", Scope.biz_set(5), 7, with_hosts=True)


def test_apigw_step_status_query_with_filters() -> None:
    request = protocol("apigw-v3").build(
        "get_step_instance_status",
        BIZ,
        1,
        2,
        execute_count=0,
        batch=3,
        max_host_num_per_group=50,
        status=HostStatus.FAILED,
        tag="x",
    )
    assert request.method == "GET"
    assert request.url == BASE + "api/v3/get_step_instance_status"
    assert request.query == {
        **V3_SCOPE,
        "job_instance_id": "1",
        "step_instance_id": "2",
        "execute_count": "0",
        "batch": "3",
        "max_host_num_per_group": "50",
        "status": "11",
        "tag": "x",
    }


def test_step_status_unsupported_on_esb_jobv3() -> None:
    with pytest.raises(UnsupportedOperationError, match="esb-jobv3"):
        protocol("esb-jobv3").build("get_step_instance_status", BIZ, 1, 2)


def test_v2_step_status_sends_ids_top_level() -> None:
    request = protocol("esb-v2").build("get_step_instance_status", BIZ, 1, 2)
    assert request.method == "POST"
    assert request.url == BASE + "api/c/compapi/v2/job/get_step_instance_status/"
    assert body(request) == {"bk_biz_id": 2, "job_instance_id": 1, "step_instance_id": 2}


def test_v2_step_status_has_no_filters() -> None:
    with pytest.raises(ValueError, match="execute_count"):
        protocol("esb-v2").build("get_step_instance_status", BIZ, 1, 2, execute_count=1)


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
def test_operations_are_post_and_not_idempotent(flavor: str) -> None:
    proto = protocol(flavor)
    scope = V3_SCOPE if proto.flavor.is_v3 else {"bk_biz_id": 2}
    step = proto.build("operate_step_instance", BIZ, 10, 20, StepOperation.RETRY_FAILED)
    job = proto.build("operate_job_instance", BIZ, 10, JobOperation.TERMINATE)
    for request in (step, job):
        assert request.method == "POST"
        assert not request.idempotent
    assert step.url.rstrip("/").endswith("/operate_step_instance")
    assert job.url.rstrip("/").endswith("/operate_job_instance")
    assert body(step) == {
        **scope,
        "job_instance_id": 10,
        "step_instance_id": 20,
        "operation_code": 2,
    }
    assert body(job) == {**scope, "job_instance_id": 10, "operation_code": 1}


def test_operation_accepts_plain_int_code() -> None:
    assert body(protocol().build("operate_step_instance", BIZ, 1, 2, 13))["operation_code"] == 13


@pytest.mark.parametrize("code", [4, 5, 0, 99])
def test_unknown_step_operation_is_value_error(code: int) -> None:
    with pytest.raises(ValueError, match="StepOperation"):
        protocol().build("operate_step_instance", BIZ, 1, 2, code)


@pytest.mark.parametrize("code", [True, "2", 2.0, None])
def test_non_int_operation_is_type_error(code: Any) -> None:
    with pytest.raises(TypeError):
        protocol().build("operate_job_instance", BIZ, 1, code)


def test_v3_fast_execute_script() -> None:
    request = protocol("apigw-v3").build(
        "fast_execute_script",
        BIZ,
        targets=Targets(ips=["1:10.0.0.1", (0, "10.0.0.2")], dynamic_group_ids=["g"]),
        account=Account(alias="root"),
        script_content="echo 你好",
        script_param="a 'b c'",
        script_language=ScriptLanguage.PYTHON,
        script_timeout=600,
        task_name="t",
        callback_url="http://cb",
        rolling_config=RollingConfig("10%", 2),
        start_task=False,
    )
    assert request.method == "POST"
    assert request.url == BASE + "api/v3/fast_execute_script"
    assert not request.idempotent
    assert body(request) == {
        **V3_SCOPE,
        "task_name": "t",
        "script_content": base64.b64encode("echo 你好".encode()).decode(),
        "script_param": base64.b64encode(b"a 'b c'").decode(),
        "is_param_sensitive": 0,
        "account_alias": "root",
        "script_language": 4,
        "timeout": 600,
        "target_server": {
            "ip_list": [{"bk_cloud_id": 1, "ip": "10.0.0.1"}, {"bk_cloud_id": 0, "ip": "10.0.0.2"}],
            "dynamic_group_list": [{"id": "g"}],
        },
        "callback_url": "http://cb",
        "rolling_config": {"expression": "10%", "mode": 2},
        "start_task": False,
    }


def test_v3_fast_execute_script_by_id_and_topology() -> None:
    sent = body(
        protocol("esb-jobv3").build(
            "fast_execute_script",
            BIZ,
            targets=Targets(dynamic_group_ids=["g1"], topo_nodes=[("module", 42)]),
            account=Account(id=7),
            script_version_id=55,
            is_param_sensitive=True,
        )
    )
    assert sent["script_version_id"] == 55
    assert "script_content" not in sent
    assert sent["account_id"] == 7
    assert sent["is_param_sensitive"] == 1
    assert sent["target_server"] == {
        "dynamic_group_list": [{"id": "g1"}],
        "topo_node_list": [{"node_type": "module", "id": 42}],
    }
    assert sent["start_task"] is True


def test_v2_fast_execute_script() -> None:
    request = protocol("esb-v2").build(
        "fast_execute_script",
        BIZ,
        targets=Targets(ips=["10.0.0.2"], topo_nodes=[("module", 4)]),
        account=Account(alias="root"),
        script_content="ls",
        script_timeout=30,
        callback_url="http://cb",
    )
    assert request.url == BASE + "api/c/compapi/v2/job/fast_execute_script/"
    assert body(request) == {
        "bk_biz_id": 2,
        "script_content": base64.b64encode(b"ls").decode(),
        "is_param_sensitive": 0,
        "target_server": {
            "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.2"}],
            "topo_node_list": [{"node_type": "module", "id": 4}],
        },
        "script_type": 1,
        "script_timeout": 30,
        "account": "root",
        "bk_callback_url": "http://cb",
    }


@pytest.mark.parametrize(
    "extra",
    [
        {"script_id": "abc", "script_content": None},
        {"rolling_config": RollingConfig("5")},
        {"start_task": False},
    ],
)
def test_v2_fast_execute_script_rejects_v3_only_options(extra: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"script_content": "ls", **extra}
    with pytest.raises(ValueError, match="ESB v2"):
        protocol("esb-v2").build(
            "fast_execute_script",
            BIZ,
            targets=Targets(ips=["10.0.0.1"]),
            account=Account(alias="root"),
            **kwargs,
        )


def test_v2_needs_account_alias() -> None:
    with pytest.raises(ValueError, match="alias"):
        protocol("esb-v2").build(
            "fast_execute_script",
            BIZ,
            targets=Targets(ips=["10.0.0.1"]),
            account=Account(id=3),
            script_content="ls",
        )


def test_v3_fast_transfer_file() -> None:
    request = protocol("apigw-v3").build(
        "fast_transfer_file",
        BIZ,
        targets=Targets(host_ids=[1]),
        account=Account(alias="root"),
        file_target_path="/tmp/",
        file_sources=[
            FileSource(["/etc/hosts"], server=Targets(host_ids=[5]), account=Account(id=9)),
            FileSource(["bucket/x"], file_type=3, file_source_code="cos"),
        ],
        file_target_name="renamed",
        transfer_timeout=100,
        transfer_mode=1,
        download_speed_limit=10,
        upload_speed_limit=20,
    )
    assert request.url == BASE + "api/v3/fast_transfer_file"
    assert not request.idempotent
    assert body(request) == {
        **V3_SCOPE,
        "file_target_path": "/tmp/",
        "timeout": 100,
        "download_speed_limit": 10,
        "upload_speed_limit": 20,
        "account_alias": "root",
        "file_source_list": [
            {
                "file_list": ["/etc/hosts"],
                "file_type": 1,
                "server": {"host_id_list": [5]},
                "account": {"id": 9},
            },
            {"file_list": ["bucket/x"], "file_type": 3, "file_source_code": "cos"},
        ],
        "file_target_name": "renamed",
        "target_server": {"host_id_list": [1]},
        "transfer_mode": 1,
        "start_task": True,
    }


def test_v2_fast_push_file() -> None:
    request = protocol("esb-v2").build(
        "fast_transfer_file",
        BIZ,
        targets=Targets(ips=["0:10.0.0.1"]),
        account=Account(alias="root"),
        file_target_path="/tmp/",
        file_sources=(
            FileSource(["/a"], server=Targets(ips=["0:10.0.0.9"]), account=Account(alias="u")),
        ),
    )
    assert request.url == BASE + "api/c/compapi/v2/job/fast_push_file/"
    assert request.api == "fast_transfer_file"
    assert body(request) == {
        "bk_biz_id": 2,
        "file_target_path": "/tmp/",
        "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]},
        "file_source": [
            {
                "files": ["/a"],
                "file_type": 1,
                "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.9"}]},
                "account": "u",
            }
        ],
        "account": "root",
    }


def test_v3_execute_job_plan() -> None:
    request = protocol("esb-jobv3").build(
        "execute_job_plan",
        BIZ,
        1000,
        global_vars=[GlobalVar(name="a", value="1"), GlobalVar(id=3, server=Targets(host_ids=[7]))],
        callback_url="http://cb",
        start_task=False,
    )
    assert request.url == BASE + "api/c/compapi/v2/jobv3/execute_job_plan/"
    assert body(request) == {
        **V3_SCOPE,
        "job_plan_id": 1000,
        "global_var_list": [
            {"name": "a", "value": "1"},
            {"id": 3, "server": {"host_id_list": [7]}},
        ],
        "callback_url": "http://cb",
        "start_task": False,
    }


def test_v2_execute_job_uses_bk_job_id() -> None:
    request = protocol("esb-v2").build(
        "execute_job_plan", BIZ, 1000, global_vars=[GlobalVar(id=1, value="v")]
    )
    assert request.url == BASE + "api/c/compapi/v2/job/execute_job/"
    assert not request.idempotent
    assert body(request) == {
        "bk_biz_id": 2,
        "bk_job_id": 1000,
        "global_vars": [{"id": 1, "value": "v"}],
    }


# --- credentials and headers -----------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ({"username": "admin"}, {"bk_username": "admin"}),
        ({"bk_token": BK_TOKEN}, {"bk_token": BK_TOKEN}),
        ({"access_token": ACCESS_TOKEN}, {"access_token": ACCESS_TOKEN}),
    ],
)
def test_credentials_travel_only_in_the_auth_header(
    flavor: str, identity: dict[str, str], expected: dict[str, str]
) -> None:
    proto = protocol(flavor, credentials=Credentials("my-app", APP_SECRET, **identity))
    requests = [
        proto.build("get_job_instance_status", BIZ, 1, with_hosts=True),
        proto.build("operate_job_instance", BIZ, 1, JobOperation.START),
        proto.build("execute_job_plan", BIZ, 3),
    ]
    for request in requests:
        auth = json.loads(request.headers["X-Bkapi-Authorization"])
        assert auth == {"bk_app_code": "my-app", "bk_app_secret": APP_SECRET, **expected}
        elsewhere = f"{request.url} {request.query} {request.body!r}"
        for secret in (APP_SECRET, BK_TOKEN, ACCESS_TOKEN, "my-app", "admin"):
            assert secret not in elsewhere


def test_tenant_header() -> None:
    request = protocol(tenant_id="tenant-a").build(
        "get_job_instance_status", BIZ, 1, with_hosts=False
    )
    assert request.headers["X-Bk-Tenant-Id"] == "tenant-a"
    assert (
        "X-Bk-Tenant-Id"
        not in protocol().build("get_job_instance_status", BIZ, 1, with_hosts=False).headers
    )


# --- invalid input ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, True, False, 1.0, "1", None])
def test_bad_job_instance_id(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        protocol().build("get_job_instance_status", BIZ, bad, with_hosts=True)


@pytest.mark.parametrize("bad", [0, -5, True, "2", 2.5])
def test_bad_step_instance_id(bad: Any) -> None:
    for flavor in ("apigw-v3", "esb-v2"):
        with pytest.raises((TypeError, ValueError)):
            protocol(flavor).build("get_step_instance_status", BIZ, 1, bad)
        with pytest.raises((TypeError, ValueError)):
            protocol(flavor).build("operate_step_instance", BIZ, 1, bad, StepOperation.RETRY_ALL)


@pytest.mark.parametrize(
    "filters",
    [
        {"execute_count": -1},
        {"execute_count": True},
        {"batch": -1},
        {"max_host_num_per_group": 0},
        {"status": -3},
        {"status": "9"},
        {"tag": ""},
        {"tag": 5},
    ],
)
def test_bad_step_filters(filters: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        protocol().build("get_step_instance_status", BIZ, 1, 2, **filters)


def test_scope_must_be_a_scope() -> None:
    with pytest.raises(TypeError, match="Scope"):
        protocol().build("get_job_instance_status", 2, 1, with_hosts=True)  # type: ignore[arg-type]


def test_unknown_flavor() -> None:
    with pytest.raises(ValueError, match="apigw-v3"):
        protocol("apigw-v5")


@pytest.mark.parametrize(
    "url",
    [
        "bk.example.com",
        "ftp://x",
        "",
        "http://",
        "http://h/?a=1",
        "http://h/#x",
        "http://h:99999",
        "http://h /x",
    ],
)
def test_bad_base_url(url: Any) -> None:
    with pytest.raises(ValueError, match="base_url"):
        Protocol(url, flavor="apigw-v3", credentials=Credentials("a", "b", username="u"))


@pytest.mark.parametrize("url", [None, 1, b"http://h"])
def test_base_url_of_another_type(url: Any) -> None:
    with pytest.raises(TypeError, match="base_url must be a str"):
        Protocol(url, flavor="apigw-v3", credentials=Credentials("a", "b", username="u"))


def test_unknown_api_name() -> None:
    with pytest.raises(ValueError, match="no_such_api"):
        protocol().request("no_such_api", {})


@pytest.mark.parametrize("tenant", ["", 5])
def test_bad_tenant(tenant: Any) -> None:
    with pytest.raises(TypeError):
        protocol(tenant_id=tenant)


def script(flavor: str = "apigw-v3", **kwargs: Any) -> Request:
    options: dict[str, Any] = {
        "targets": Targets(host_ids=[1]),
        "account": Account(alias="root"),
        "script_content": "ls",
    }
    options.update(kwargs)
    return protocol(flavor).build("fast_execute_script", BIZ, **options)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"targets": Targets()},
        {"targets": [1, 2]},
        {"account": "root"},
        {"script_content": None},
        {"script_id": "x"},
        {"script_content": b"ls"},
        {"script_content": None, "script_version_id": 0},
        {"script_content": None, "script_version_id": True},
        {"script_content": None, "script_version_id": -3},
        {"script_content": None, "script_id": ""},
        {"script_content": None, "script_id": 17},
        {"script_language": 9},
        {"script_timeout": 0},
        {"script_timeout": 259201},
        {"script_timeout": True},
        {"script_timeout": 1.5},
        {"rolling_config": RollingConfig("")},
    ],
)
def test_bad_fast_execute_script(kwargs: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        script(**kwargs)


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-v2", "apigw-v4"])
@pytest.mark.parametrize("bad", [0, 259201, 1.5])
def test_a_bad_timeout_is_named_as_the_caller_wrote_it(flavor: str, bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=r"^script_timeout must be"):
        script(flavor, script_timeout=bad)
    if flavor != "apigw-v4":
        with pytest.raises((TypeError, ValueError), match=r"^transfer_timeout must be"):
            transfer(flavor, transfer_timeout=bad)
        sql = {"targets": Targets(host_ids=[1]), "db_account_id": 1, "script_content": "x"}
        with pytest.raises((TypeError, ValueError), match=r"^script_timeout must be"):
            protocol(flavor).build("fast_execute_sql", BIZ, **sql, script_timeout=bad)


def test_script_timeout_bounds_are_inclusive() -> None:
    assert body(script(script_timeout=1))["timeout"] == 1
    assert body(script(script_timeout=86400))["timeout"] == 86400


def transfer(flavor: str = "apigw-v3", **kwargs: Any) -> Request:
    options: dict[str, Any] = {
        "targets": Targets(host_ids=[1]),
        "account": Account(alias="root"),
        "file_target_path": "/tmp",
        "file_sources": [FileSource(["/a"], server=Targets(host_ids=[2]))],
    }
    options.update(kwargs)
    return protocol(flavor).build("fast_transfer_file", BIZ, **options)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"file_target_path": ""},
        {"file_sources": []},
        {"file_sources": ["/a"]},
        {"file_sources": [FileSource(["/a"], server=Targets())]},
        {"transfer_mode": 3},
        {"transfer_timeout": 0},
        {"download_speed_limit": 0},
        {"upload_speed_limit": -1},
        {"targets": Targets()},
    ],
)
def test_bad_fast_transfer_file(kwargs: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        transfer(**kwargs)


BY_IP = Targets(ips=[(0, "10.0.0.2")])


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
@pytest.mark.parametrize("path", ["tmp", "./tmp", "data/app", " tmp/x", "C:data", "~/x"])
def test_a_relative_path_is_refused_naming_the_argument(flavor: str, path: str) -> None:
    with pytest.raises(ValueError, match=r"^file_target_path must be an absolute path"):
        transfer(flavor, targets=BY_IP, file_target_path=path)
    on_host = FileSource([path], server=BY_IP, account=Account("root"))
    with pytest.raises(ValueError, match=r"^a FileSource's files must be an absolute path"):
        transfer(flavor, targets=BY_IP, file_sources=[on_host])


@pytest.mark.parametrize(
    "path", ["/tmp", "/", "C:\\data", "d:/data", "${dir}", "logs/${name}/x", "/data/[FILESRCIP]"]
)
def test_an_absolute_path_or_one_naming_a_variable_is_sent(path: str) -> None:
    assert body(transfer(file_target_path=path))["file_target_path"] == path
    source = FileSource([path], server=BY_IP, account=Account("root"))
    sent = body(transfer("esb-v2", targets=BY_IP, file_sources=[source]))
    assert sent["file_source"][0]["files"] == [path]


def test_a_file_source_s_paths_are_bk_job_s_on_v3() -> None:
    stored = FileSource(["pkg/app.tar.gz"], file_type=3, file_source_code="repo")
    assert body(transfer(file_sources=[stored]))["file_source_list"][0]["file_list"] == [
        "pkg/app.tar.gz"
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{"file_target_name": "x"}, {"transfer_mode": 1}, {"start_task": False}],
)
def test_v2_fast_push_file_rejects_v3_only_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ESB v2"):
        transfer("esb-v2", **kwargs)


@pytest.mark.parametrize("bad", [0, -1, True, "5"])
def test_bad_job_plan_id(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        protocol().build("execute_job_plan", BIZ, bad)


def test_global_vars_must_be_global_vars() -> None:
    with pytest.raises(TypeError):
        protocol().build("execute_job_plan", BIZ, 1, global_vars=[{"name": "a", "value": "1"}])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Targets(host_ids=[0]),
        lambda: Targets(host_ids=[True]),
        lambda: Targets(host_ids=["101.5"]),
        lambda: Targets(host_ids=101),
        lambda: Targets(ips="0:10.0.0.1"),
        lambda: Targets(ips=["x:10.0.0.1"]),
        lambda: Targets(ips=[""]),
        lambda: Targets(dynamic_group_ids="group"),
        lambda: Targets(topo_nodes=[("module", 0)]),
        lambda: FileSource("/etc/hosts"),
        lambda: FileSource([]),
        lambda: Account(),
        lambda: Account(alias="a", id=1),
        lambda: Account(id=0),
        lambda: GlobalVar(value="x"),
        lambda: GlobalVar(name="a"),
        lambda: GlobalVar(name="a", value="1", server=Targets(host_ids=[1])),
    ],
)
def test_bad_request_values(build: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        build()


def test_targets_parse_ip_strings() -> None:
    targets = Targets(ips=["10.0.0.1", "3:10.0.0.2", (2, "10.0.0.3")])
    assert targets.ips == ((0, "10.0.0.1"), (3, "10.0.0.2"), (2, "10.0.0.3"))
    assert Targets(host_ids=iter([5, 6])).host_ids == (5, 6)
    assert not Targets()
    assert Targets(topo_nodes=[("set", 1)])


# --- deciphering -----------------------------------------------------------------------------


def job_request(flavor: str = "apigw-v3") -> tuple[Protocol, Request]:
    proto = protocol(flavor)
    return proto, proto.build("get_job_instance_status", BIZ, 100, with_hosts=True)


@pytest.mark.parametrize(
    "name",
    [
        "get_job_instance_status.v2.esb-doc-zh.json",
        "get_job_instance_status.v3.apigw-doc.json",
        "get_job_instance_status.v3.esb-doc-en.json",
        "get_step_instance_status.v2.esb-doc-en.json",
        "get_step_instance_status.v3.apigw-doc.json",
    ],
)
def test_decipher_returns_data_of_every_success_sample(name: str) -> None:
    proto, request = job_request()
    sample = load_sample(name)
    assert proto.decipher(request, response(sample)) == sample["data"]


def test_decipher_gateway_rate_limit_sample() -> None:
    proto, request = job_request()
    headers = {
        "X-Bkapi-Error-Code": "1642903",
        "X-Bkapi-Request-Id": "req-1",
        "X-Bkapi-RateLimit-Reset": "12",
    }
    sample = load_sample("error.apigw.http429.rate-limit.json")
    with pytest.raises(RateLimitedError) as info:
        proto.decipher(request, response(sample, 429, headers))
    error = info.value
    assert error.code == 1642903
    assert error.http_status == 429
    assert error.request_id == "req-1"
    assert error.retry_after == 12.0
    assert error.message == "API rate limit exceeded by resource strategy"
    assert error.api == "get_job_instance_status"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (9900403, PermissionDeniedError),
        (1238001, PermissionDeniedError),
        (1306402, PermissionDeniedError),
        (1306403, PermissionDeniedError),
        (1244016, PermissionDeniedError),
        (1306401, AuthenticationError),
        (1244006, NotFoundError),
        (1244007, NotFoundError),
        (1244012, NotFoundError),
        (1243051, NotFoundError),
        (1306404, EndpointNotFoundError),
        (1240003, InvalidRequestError),
        (1241001, InvalidRequestError),
        (1241002, InvalidRequestError),
        (1241007, InvalidRequestError),
        (1306406, InvalidRequestError),
        (1306209, InvalidRequestError),
        (1244020, InvalidRequestError),
        (1244021, InvalidRequestError),
        (1244001, InvalidRequestError),
        (1241003, OperationNotAllowedError),
        (1241015, OperationNotAllowedError),
        (1244015, OperationNotAllowedError),
        (1306429, RateLimitedError),
        (1244032, QuotaExceededError),
        (1244034, QuotaExceededError),
        (1240001, ServerError),
        (1240002, ServerError),
        (1306000, ServerError),
        (1306201, ServerError),
        (1306202, ServerError),
        (1234567, ApiError),
    ],
)
def test_result_false_at_http_200_maps_code_to_class(code: int, cls: type[ApiError]) -> None:
    proto, request = job_request("esb-jobv3")
    with pytest.raises(ApiError) as info:
        proto.decipher(
            request,
            response(failure(code, "it failed", request_id="esb-1", job_request_id="job-1")),
        )
    error = info.value
    assert type(error) is cls
    assert (error.code, error.http_status, error.message) == (code, 200, "it failed")
    assert (error.request_id, error.job_request_id) == ("esb-1", "job-1")


def test_code_as_string_is_read_as_int() -> None:
    proto, request = job_request()
    with pytest.raises(NotFoundError) as info:
        proto.decipher(request, response(failure("1244006")))  # type: ignore[arg-type]
    assert info.value.code == 1244006


def test_permission_is_kept() -> None:
    permission = {
        "system_id": "bk_job",
        "system_name": "Job",
        "actions": [{"id": "view_job_instance", "name": "view", "related_resource_types": []}],
    }
    proto, request = job_request()
    with pytest.raises(PermissionDeniedError) as info:
        proto.decipher(request, response(failure(9900403, permission=permission)))
    assert info.value.permission == permission


def test_result_true_with_nonzero_code_is_an_error() -> None:
    proto, request = job_request()
    with pytest.raises(InvalidRequestError):
        proto.decipher(request, response({"result": True, "code": 1241002, "data": None}))


@pytest.mark.parametrize(
    ("status", "headers", "cls"),
    [
        (400, {"X-Bkapi-Error-Code": "1640001"}, AuthenticationError),
        (401, {"X-Bkapi-Error-Code": "1640101"}, AuthenticationError),
        (403, {"X-Bkapi-Error-Code": "1640301"}, PermissionDeniedError),
        (403, {"X-Bkapi-Error-Code": "1640302"}, PermissionDeniedError),
        (404, {"X-Bkapi-Error-Code": "1640401"}, EndpointNotFoundError),
        (429, {"X-Bkapi-Error-Code": "1642904"}, RateLimitedError),
        (502, {"X-Bkapi-Error-Code": "1650201"}, ServerError),
        (504, {"X-Bkapi-Error-Code": "1650401"}, ServerError),
        (400, {}, InvalidRequestError),
        (401, {}, AuthenticationError),
        (403, {}, PermissionDeniedError),
        (404, {}, EndpointNotFoundError),
        (405, {}, EndpointNotFoundError),
        (413, {}, InvalidRequestError),
        (414, {}, InvalidRequestError),
        (429, {}, RateLimitedError),
        (500, {}, ServerError),
        (503, {}, ServerError),
        (418, {}, ApiError),
    ],
)
def test_gateway_errors_by_status_and_header_with_non_json_body(
    status: int, headers: dict[str, str], cls: type[ApiError]
) -> None:
    proto, request = job_request()
    headers = {**headers, "X-Bkapi-Request-Id": "gw-7", "X-Bkapi-Error-Message": "gateway says no"}
    with pytest.raises(ApiError) as info:
        proto.decipher(request, response(b"<html>bad</html>", status, headers))
    error = info.value
    assert type(error) is cls
    assert error.http_status == status
    assert error.request_id == "gw-7"
    assert error.message == "gateway says no"
    expected = headers.get("X-Bkapi-Error-Code")
    assert error.code == (None if expected is None else int(expected))


def test_gateway_json_error_body() -> None:
    proto, request = job_request()
    gateway = {
        "code": 1640401,
        "code_name": "API_NOT_FOUND",
        "message": "API not found",
        "result": False,
        "data": None,
    }
    with pytest.raises(EndpointNotFoundError) as info:
        proto.decipher(request, response(gateway, 404, {"X-Bkapi-Request-Id": "gw"}))
    assert (info.value.code, info.value.message, info.value.request_id) == (
        1640401,
        "API not found",
        "gw",
    )


def test_5xx_non_json_is_server_error_with_excerpt() -> None:
    proto, request = job_request()
    with pytest.raises(ServerError) as info:
        proto.decipher(request, response(b"<html>Bad Gateway</html>", 502))
    assert info.value.code is None
    assert "Bad Gateway" in str(info.value)
    assert "HTTP 502" in str(info.value)


def test_success_envelope_with_5xx_status_is_server_error() -> None:
    proto, request = job_request()
    with pytest.raises(ServerError):
        proto.decipher(request, response(ok({}), 500))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"<html>ok</html>",
        b"null",
        b"[]",
        b"[1,2]",
        b'"text"',
        b"42",
        b'{"data": {}}',
        b"\xff\xfe",
    ],
)
def test_non_envelope_at_200_is_response_format_error(raw: bytes) -> None:
    proto, request = job_request()
    with pytest.raises(ResponseFormatError, match="get_job_instance_status"):
        proto.decipher(request, response(raw))


def test_deeply_nested_json_is_response_format_error() -> None:
    proto, request = job_request()
    with pytest.raises(ResponseFormatError):
        proto.decipher(request, response(b"[" * 100_000 + b"]" * 100_000))


@pytest.mark.parametrize("code", [1e400, -1e400, [1], {"a": 1}, "abc", True])
def test_strange_error_codes_still_give_api_error(code: Any) -> None:
    proto, request = job_request()
    raw = json.dumps({"result": False, "code": code, "message": "m"}).encode()
    with pytest.raises(ApiError) as info:
        proto.decipher(request, response(raw))
    assert info.value.code is None


# --- Retry-After -----------------------------------------------------------------------------


def retry_after(headers: dict[str, str], now: float | None = None) -> float | None:
    proto, request = job_request()
    with pytest.raises(RateLimitedError) as info:
        proto.decipher(request, response(failure(1642901), 429, headers), now=now)
    return info.value.retry_after


def test_retry_after_seconds() -> None:
    assert retry_after({"Retry-After": "30"}) == 30.0
    assert retry_after({"Retry-After": "1.5"}) == 1.5
    assert retry_after({"Retry-After": "-4"}) == 0.0


def test_retry_after_http_date() -> None:
    now = time.time()
    when = email.utils.formatdate(now + 100, usegmt=True)
    value = retry_after({"Retry-After": when}, now)
    assert value is not None
    assert 99.0 <= value <= 100.0  # (the date is in whole seconds)
    past = email.utils.formatdate(now - 100, usegmt=True)
    assert retry_after({"Retry-After": past}, now) == 0.0


def test_retry_after_http_date_without_now_reads_the_response_date() -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT", "Date": date}) == 30.0
    # Neither ``now`` nor a ``Date``: the date is not read; ``-Reset`` is, if sent.
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}) is None
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT", "Date": "soon"}) is None
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT", "X-Bkapi-RateLimit-Reset": "4"}
    assert retry_after(headers) == 4.0
    # ``now`` given wins over the server's ``Date``.
    assert (
        retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT", "Date": date}, 1445412500.0)
        == 10.0
    )


def test_the_protocol_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_clock() -> float:
        raise AssertionError("the protocol read a clock")

    for name in ("time", "monotonic", "perf_counter", "time_ns", "monotonic_ns"):
        monkeypatch.setattr(time, name, no_clock)
    proto, request = job_request()
    when = {"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}
    with pytest.raises(RateLimitedError) as info:
        proto.decipher(request, response(failure(1642901), 429, when), now=1445412470.0)
    assert info.value.retry_after == 40.0
    with pytest.raises(RateLimitedError) as info:
        proto.decipher(request, response(failure(1642901), 429, when))
    assert info.value.retry_after is None


def test_retry_after_zoneless_http_date_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    # "-0000" means "UTC, source zone unknown"; it must not be read in the machine's zone.
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        now = time.time()
        when = email.utils.formatdate(now + 100, usegmt=True).replace("GMT", "-0000")
        value = retry_after({"Retry-After": when}, now)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert value is not None
    assert 99.0 <= value <= 100.0


@pytest.mark.parametrize("text", ["inf", "nan", "-inf", "1e999"])
def test_retry_after_must_be_finite(text: str) -> None:
    assert retry_after({"Retry-After": text}) is None
    assert retry_after({"Retry-After": text, "X-Bkapi-RateLimit-Reset": "3"}) == 3.0


def test_retry_after_falls_back_to_ratelimit_reset() -> None:
    assert retry_after({"X-Bkapi-RateLimit-Reset": "9"}) == 9.0
    assert retry_after({"Retry-After": "garbage", "X-Bkapi-RateLimit-Reset": "9"}) == 9.0
    assert retry_after({"Retry-After": "2", "X-Bkapi-RateLimit-Reset": "9"}) == 2.0
    assert retry_after({}) is None
    assert retry_after({"Retry-After": "soon"}) is None


def test_esb_rate_limit_at_200_has_retry_after_from_headers() -> None:
    proto, request = job_request("esb-v2")
    with pytest.raises(RateLimitedError) as info:
        proto.decipher(request, response(failure(1306429), 200, {"Retry-After": "3"}))
    assert info.value.retry_after == 3.0
    assert info.value.http_status == 200


# --- misc ------------------------------------------------------------------------------------


def test_parse_uses_the_flavor_generation() -> None:
    v2 = protocol("esb-v2").parse(
        load_sample("get_job_instance_status.v2.esb-doc-zh.json")["data"], _job_status_type()
    )
    assert v2.job.total_time is not None
    assert v2.job.total_time.total_seconds() == pytest.approx(3.169)
    with pytest.raises(ResponseFormatError):
        protocol("apigw-v3").parse(
            load_sample("get_job_instance_status.v2.esb-doc-zh.json")["data"], _job_status_type()
        )


def _job_status_type() -> Any:
    from bkjob_async import JobInstanceStatus

    return JobInstanceStatus


@pytest.mark.parametrize(
    ("body", "status", "cls"),
    [
        (b"<html><body>404 Not Found</body></html>", 404, EndpointNotFoundError),  # nginx
        (b"", 404, EndpointNotFoundError),
        (b'{"detail": "Not Found"}', 404, EndpointNotFoundError),  # another JSON service
        (b"404: Not Found", 405, EndpointNotFoundError),
        ({"result": False, "code": 1244006, "message": "no such job"}, 200, NotFoundError),
        ({"result": False, "code": 1244006, "message": "no such job"}, 404, NotFoundError),
        ({"result": False, "code": 1243051, "message": "no such scope"}, 200, NotFoundError),
    ],
)
def test_a_404_that_is_not_bk_jobs_envelope_is_a_wrong_url_not_a_missing_job(
    body: Any, status: int, cls: type[ApiError]
) -> None:
    """Configuration (a wrong base URL, flavor or method) is told from data (no such job)."""
    proto, request = job_request()
    with pytest.raises(ApiError) as info:
        proto.decipher(request, response(body, status))
    assert type(info.value) is cls
    assert not isinstance(info.value, NotFoundError) or cls is NotFoundError
    if cls is EndpointNotFoundError:
        assert "check base_url and flavor" in str(info.value)
    assert info.value.http_status == status
