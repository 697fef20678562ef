"""The sans-I/O protocol of config pushes, variable values, plans, scripts, accounts and v2's
whole-job log: what goes on the wire per flavor (checked against bk-job's resources), every
input check, and the reading of each DTO as bk-job's Java source spells it."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from bkjob_async import (
    Account,
    AccountCategory,
    AccountRef,
    ConfigFile,
    CronJob,
    FileDestination,
    GlobalVar,
    HostStatus,
    InvalidRequestError,
    JobPlan,
    JobVariables,
    NotFoundError,
    ResponseFormatError,
    ScriptSource,
    ScriptStepDetail,
    ScriptVersion,
    ScriptVersionStatus,
    StepLog,
    StepStatus,
    StepType,
    Targets,
    UnsupportedOperationError,
    VariableType,
)
from bkjob_async._protocol import Protocol, Response
from tests.protocols import BASE, BIZ, V3_SCOPE, sent
from tests.protocols import protocol as on_base

CST = dt.timezone(dt.timedelta(hours=8))
UTC = dt.timezone.utc
IPS = Targets(ips=["0:10.0.0.1"])


def protocol(flavor: str = "apigw-v3") -> Protocol:
    return on_base(flavor, server_tz=CST)


def where(flavor: str, gateway: str, v2: str | None = None) -> str:
    if flavor == "apigw-v3":
        return f"{BASE}api/v3/{gateway}"
    if flavor == "esb-jobv3":
        return f"{BASE}api/c/compapi/v2/jobv3/{gateway}/"
    return f"{BASE}api/c/compapi/v2/job/{v2 or gateway}/"


# --- methods and paths (SF/resources.yaml; jobv3-confapis/job.yaml; Esb*Resource mappings) ---

READS = [
    ("get_job_instance_global_var_value", (BIZ, 5), "get_job_instance_global_var_value", None),
    ("get_job_plan_list", (BIZ,), "get_job_plan_list", "get_job_list"),
    ("get_job_plan_detail", (BIZ, 7), "get_job_plan_detail", "get_job_detail"),
    ("get_account_list", (BIZ,), "get_account_list", "get_os_account"),
]


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
@pytest.mark.parametrize(("build", "args", "api", "v2"), READS)
def test_reads_are_gateway_gets_and_esb_posts(flavor, build, args, api, v2):
    request = protocol(flavor).build(build, *args)
    assert request.url == where(flavor, api, v2)
    assert request.method == ("GET" if flavor == "apigw-v3" else "POST")
    assert request.idempotent
    assert "X-Bkapi-Authorization" in request.headers


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3"])
def test_script_reads_and_their_public_twins(flavor):
    p = protocol(flavor)
    assert p.build("get_script_list", BIZ).url == where(flavor, "get_script_list")
    assert p.build("get_public_script_list").url == where(flavor, "get_public_script_list")
    detail = p.build("get_script_version_detail", BIZ, script_version_id=9)
    assert detail.url == where(flavor, "get_script_version_detail")
    public = p.build("get_public_script_version_detail", script_id="abc", version="1.0")
    assert public.url == where(flavor, "get_public_script_version_detail")
    assert sent(public) == {"script_id": "abc", "version": "1.0"}  # no scope: public library
    assert sent(detail) == (
        {**V3_SCOPE, "id": "9"} if flavor == "apigw-v3" else {**V3_SCOPE, "id": 9}
    )


def test_gateway_queries_spell_every_parameter():
    p = protocol()
    assert sent(p.build("get_job_instance_global_var_value", BIZ, 5)) == {
        **V3_SCOPE,
        "job_instance_id": "5",
    }
    assert sent(p.build("get_job_plan_detail", BIZ, 7)) == {**V3_SCOPE, "job_plan_id": "7"}
    assert sent(
        p.build("get_job_plan_list", BIZ, name="dep", creator="bob", job_template_id=3, length=50)
    ) == {
        **V3_SCOPE,
        "name": "dep",
        "creator": "bob",
        "job_template_id": "3",
        "start": "0",
        "length": "50",
    }
    assert sent(p.build("get_script_list", BIZ, name="x", script_language=4, start=20)) == {
        **V3_SCOPE,
        "name": "x",
        "script_language": "4",
        "start": "20",
        "length": "20",
    }
    assert sent(p.build("get_account_list", BIZ, category=AccountCategory.DB, alias="db")) == {
        **V3_SCOPE,
        "category": "2",
        "alias": "db",
        "start": "0",
        "length": "20",
    }


def test_v2_names_and_spells_its_twins():
    p = protocol("esb-v2")
    assert sent(p.build("get_job_plan_detail", BIZ, 7)) == {"bk_biz_id": 2, "bk_job_id": 7}
    assert sent(p.build("get_job_plan_list", BIZ, name="dep")) == {
        "bk_biz_id": 2,
        "name": "dep",
        "start": 0,
        "length": 20,
    }
    assert sent(p.build("get_account_list", BIZ)) == {
        "bk_biz_id": 2
    }  # get_os_account: no filter, no page
    log = p.build("get_job_instance_log", BIZ, 5)
    assert (log.method, log.url) == ("POST", where("esb-v2", "get_job_instance_log"))
    assert sent(log) == {"bk_biz_id": 2, "job_instance_id": 5}


# --- push_config_file ------------------------------------------------------------------------


def test_push_config_file_v3_body():
    files = [ConfigFile("app.conf", "pw = 1\n"), ConfigFile("b.bin", b"\x00")]
    for flavor in ("apigw-v3", "esb-jobv3"):
        request = protocol(flavor).build(
            "push_config_file",
            BIZ,
            targets=Targets(host_ids=[101]),
            account=Account(id=3),
            file_target_path="/etc",
            files=files,
            callback_url="https://cb.example.com/x",
        )
        assert (request.method, request.url) == ("POST", where(flavor, "push_config_file"))
        assert not request.idempotent
        assert request.headers["Content-Type"] == "application/json"
        assert sent(request) == {
            **V3_SCOPE,
            "file_target_path": "/etc",
            "account_id": 3,
            "target_server": {"host_id_list": [101]},
            "file_list": [
                {"file_name": "app.conf", "content": base64.b64encode(b"pw = 1\n").decode()},
                {"file_name": "b.bin", "content": "AA=="},
            ],
            "callback_url": "https://cb.example.com/x",
        }
        assert "pw = 1" not in repr(request)
        assert "AA==" not in repr(request)


def test_push_config_file_v2_reads_the_top_level_ip_list():
    request = protocol("esb-v2").build(
        "push_config_file",
        BIZ,
        targets=Targets(ips=["1:10.0.0.1"]),
        account=Account(alias="root"),
        file_target_path="/etc",
        files=[ConfigFile("a", "x")],
        task_name="t",
    )
    assert request.url == where("esb-v2", "push_config_file")
    assert sent(request) == {
        "bk_biz_id": 2,
        "task_name": "t",
        "file_target_path": "/etc",
        "account": "root",
        "ip_list": [{"bk_cloud_id": 1, "ip": "10.0.0.1"}],
        "file_list": [{"file_name": "a", "content": "eA=="}],
    }


BAD_PUSHES = [
    ({"files": []}, TypeError, "non-empty sequence of ConfigFile"),
    ({"files": ["a.conf"]}, TypeError, "ConfigFile"),
    ({"files": [ConfigFile("a", "1"), ConfigFile("a", "2")]}, ValueError, "same name"),
    ({"file_target_path": ""}, TypeError, "file_target_path"),
    ({"targets": Targets()}, ValueError, "targets is empty"),
    ({"targets": Targets(host_ids=[1], ips=["0:10.0.0.1"])}, ValueError, "both host_ids"),
    ({"account": "root"}, TypeError, "Account"),
]


@pytest.mark.parametrize(("change", "error", "words"), BAD_PUSHES)
def test_bad_pushes_fail_before_any_request(change, error, words):
    arguments: dict[str, Any] = {
        "targets": IPS,
        "account": Account(alias="root"),
        "file_target_path": "/etc",
        "files": [ConfigFile("a", "x")],
        **change,
    }
    with pytest.raises(error, match=words):
        protocol().build("push_config_file", BIZ, **arguments)


@pytest.mark.parametrize(
    ("targets", "account", "extra", "words"),
    [
        (Targets(host_ids=[1]), Account(alias="root"), {}, "reads only ips"),
        (Targets(topo_nodes=[("module", 2)]), Account(alias="root"), {}, "reads only ips"),
        (Targets(ips=["0:fe80::1"]), Account(alias="root"), {}, "IPv6"),
        (IPS, Account(id=3), {}, "names accounts"),
        (IPS, Account(alias="root"), {"callback_url": "http://x"}, "callback_url"),
    ],
)
def test_v2_pushes_refuse_what_v2_drops(targets, account, extra, words):
    with pytest.raises(ValueError, match=words):
        protocol("esb-v2").build(
            "push_config_file",
            BIZ,
            targets=targets,
            account=account,
            file_target_path="/etc",
            files=[ConfigFile("a", "x")],
            **extra,
        )


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [("", "x", ValueError), ("dir/a", "x", ValueError), ("a", "", ValueError), ("a", 3, TypeError)],
)
def test_config_file_checks_itself(name, content, error):
    with pytest.raises(error):
        ConfigFile(name, content)


def test_config_file_content_never_in_repr():
    assert repr(ConfigFile("app.conf", "password=hunter2")) == (
        "ConfigFile(name='app.conf', content=<16 bytes>)"
    )


# --- other input checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda p: p.build("get_job_instance_global_var_value", BIZ, 0), ValueError),
        (lambda p: p.build("get_job_instance_global_var_value", BIZ, 2**63), ValueError),
        (lambda p: p.build("get_job_instance_global_var_value", 2, 5), TypeError),
        (lambda p: p.build("get_job_plan_detail", BIZ, "7"), TypeError),
        (lambda p: p.build("get_job_plan_list", BIZ, length=1001), ValueError),
        (lambda p: p.build("get_job_plan_list", BIZ, length=0), ValueError),
        (lambda p: p.build("get_job_plan_list", BIZ, start=-1), ValueError),
        (lambda p: p.build("get_job_plan_list", BIZ, name=""), TypeError),
        (lambda p: p.build("get_script_list", BIZ, script_language=9), ValueError),
        (lambda p: p.build("get_script_version_detail", BIZ), ValueError),
        (lambda p: p.build("get_script_version_detail", BIZ, script_id="a"), ValueError),
        (
            lambda p: p.build("get_script_version_detail", BIZ, script_version_id=1, version="1"),
            ValueError,
        ),
        (lambda p: p.build("get_account_list", BIZ, category=3), ValueError),
    ],
)
def test_bad_input_fails_before_any_request(call, error):
    with pytest.raises(error):
        call(protocol())


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.build("get_job_plan_list", BIZ, job_template_id=3),
        lambda p: p.build("get_account_list", BIZ, alias="root"),
        lambda p: p.build("get_account_list", BIZ, start=20),
    ],
)
def test_v2_refuses_filters_it_does_not_have(call):
    with pytest.raises(ValueError, match="ESB v2"):
        call(protocol("esb-v2"))


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3"])
def test_the_whole_job_log_is_v2_only(flavor):
    with pytest.raises(UnsupportedOperationError, match="esb-v2"):
        protocol(flavor).build("get_job_instance_log", BIZ, 5)


def test_v2_reads_scripts_by_their_own_names_and_no_more():
    p = protocol("esb-v2")
    listed = p.build("get_script_list", BIZ, name="dep", script_language=4, length=5)
    assert sent(listed) == {
        "bk_biz_id": 2, "script_name": "dep", "script_type": 4, "start": 0, "length": 5,
    }  # fmt: skip
    assert sent(p.build("get_public_script_list")) == {"start": 0, "length": 20}
    assert sent(p.build("get_script_detail", BIZ, 9)) == {"bk_biz_id": 2, "id": 9}
    assert sent(p.build("get_script_detail", None, 9)) == {"id": 9}  # a public version
    with pytest.raises(UnsupportedOperationError):
        p.build("get_public_script_version_detail", script_version_id=1)
    with pytest.raises(UnsupportedOperationError):
        p.build("create_script", BIZ, name="n", content="c", version="1")
    with pytest.raises(UnsupportedOperationError):
        protocol("esb-jobv3").build("get_script_detail", BIZ, 9)


def test_v2_reads_its_bare_lists_as_pages():
    p = protocol("esb-v2")

    def answer(api: str, data: Any, *args: Any, **kwargs: Any) -> Any:
        return p.answer(api, data, p.spell(api, BIZ, *args, **kwargs))  # type: ignore[arg-type]

    plans = answer("get_job_plan_list", [{"bk_job_id": 7, "name": "p"}], start=40, length=5)
    assert (plans.start, plans.length, plans.total) == (40, 5, None)
    assert [plan.job_plan_id for plan in plans.items] == [7]
    assert answer("get_job_plan_list", []).length == 20  # (the length sent by default)
    accounts = answer("get_account_list", [{"id": 3, "account": "root", "os_type": 1}] * 2)
    assert (accounts.start, accounts.length, accounts.total) == (0, 2, 2)  # every one, one page
    crons = answer("get_cron_list", [None], cron_id=9)  # (a cron_id the scope lacks)
    assert (crons.start, crons.length, crons.total, crons.items) == (0, 20, None, ())
    assert answer("get_cron_list", None).items == ()
    with pytest.raises(ResponseFormatError):
        answer("get_job_plan_list", [None])  # (only the cron list names a missing id so)


# --- secrets ---------------------------------------------------------------------------------


def test_a_password_variable_is_masked_in_repr_and_in_the_launchs_errors():
    var = GlobalVar.password("db_password", "hunter2-hunter2")
    assert "hunter2" not in repr(var)
    assert "hunter2" in repr(GlobalVar(name="x", value="hunter2-hunter2"))  # not a secret
    p = protocol()
    request = p.build("execute_job_plan", BIZ, 7, global_vars=[var])
    assert json.loads(request.body or b"")["global_var_list"] == [
        {"name": "db_password", "value": "hunter2-hunter2"}
    ]
    assert "hunter2" not in repr(request)
    echo = {"result": False, "code": 1241002, "message": "bad value hunter2-hunter2 for x"}
    with pytest.raises(InvalidRequestError) as caught:
        p.decipher(request, Response(200, {}, json.dumps(echo).encode()))
    assert "hunter2" not in str(caught.value)


def test_new_not_found_codes():
    p = protocol()
    request = p.build("get_job_plan_detail", BIZ, 7)
    for code in (1243009, 1243001, 1243047, 1244003):
        envelope = {"result": False, "code": code, "message": "not found"}
        with pytest.raises(NotFoundError):
            p.decipher(request, Response(200, {}, json.dumps(envelope).encode()))


# --- reading bk-job's DTOs --------------------------------------------------------------------

PLAN_V3 = {  # EsbPlanInfoV3DTO: times in epoch seconds (TaskPlanDAOImpl)
    "bk_scope_type": "biz",
    "bk_scope_id": "2",
    "bk_biz_id": 2,
    "id": 7,
    "job_template_id": 100007,
    "name": "deploy",
    "creator": "admin",
    "create_time": 1704067200,
    "last_modify_user": "bob",
    "last_modify_time": 1704067260000,
    "step_list": [{"id": 701, "name": "run", "type": 1, "script_info": {}}],
    "global_var_list": [
        {"id": 1, "name": "pw", "type": 4, "value": "******", "required": 1, "used": True},
        {
            "id": 2,
            "name": "hosts",
            "type": 3,
            "server": {"host_id_list": [5], "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]},
            "required": 0,
        },
    ],
}


def test_reads_a_v3_plan():
    plan = protocol().parse(PLAN_V3, JobPlan)
    assert plan.create_time == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert plan.last_modify_time == dt.datetime(2024, 1, 1, 0, 1, tzinfo=UTC)  # ms, read as such
    pw = plan.variable("pw")
    assert pw is not None
    assert (pw.type, pw.required, pw.used, pw.is_secret) == (
        VariableType.PASSWORD,
        True,
        True,
        True,
    )
    hosts = plan.variable("hosts")
    assert hosts is not None
    assert hosts.server == Targets(host_ids=[5], ips=["0:10.0.0.1"])


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_reads_what_each_v3_plan_step_runs():
    steps = [  # TaskStepDTO.toEsbStepV3: texts in base64, the account by id, disabled steps too
        {
            "id": 701,
            "name": "run",
            "type": 1,
            "script_info": {
                "script_type": 1,
                "script_content": b64("echo 部署 $1"),
                "script_language": 1,
                "script_param": b64("--env prod"),
                "script_timeout": 600,
                "account": {"id": 3, "name": None, "alias": None},
                "server": {"host_id_list": [5]},
                "is_param_sensitive": 1,
            },
        },
        {
            "id": 702,
            "type": 2,
            "file_info": {
                "file_source_list": [
                    {"file_list": ["/a"], "file_type": 1, "account": {"id": 3}, "server": None}
                ],
                "file_destination": {"path": "/tmp/", "account": {"id": 3}},
                "transfer_mode": 2,
            },
        },
        {"id": 703, "name": "ok?", "type": 3, "approval_info": {"approval_message": "go"}},
        {"id": 704, "name": "cited", "type": 1, "script_info": {"script_type": 2,
                                                                 "script_version_id": 88}},
    ]  # fmt: skip
    plan = protocol().parse({**PLAN_V3, "step_list": steps}, JobPlan)
    run, copy, confirm, cited = plan.steps or ()
    assert run.script is not None
    assert (run.script.content, run.script.param, run.script.timeout) == (
        "echo 部署 $1",
        "--env prod",
        600,
    )
    assert (run.script.account, run.script.targets) == (AccountRef(id=3), Targets(host_ids=[5]))
    assert "--env prod" not in repr(plan)  # a sensitive parameter: shown only when asked for
    assert copy.file is not None
    assert copy.file.destination == FileDestination("/tmp/", AccountRef(id=3))
    assert copy.file.sources[0].files == ("/a",)
    assert (confirm.type, confirm.approval_message) == (StepType.MANUAL_CONFIRM, "go")
    assert cited.script == ScriptStepDetail(ScriptSource.SCOPE, script_version_id=88)


def test_a_v2_script_step_is_a_script_step_whatever_its_type_says():
    common = {"script_content": "echo hi", "script_param": "x y", "script_timeout": 60,
              "account": "root", "account_id": 3, "ip_list": [{"bk_cloud_id": 0, "ip": "1.2.3.4"}],
              "file_source": None, "is_param_sensitive": 0}  # fmt: skip
    steps = [  # buildScriptStep writes the script's source (1, 2, 3) over the step's type
        {"step_id": 1, "name": "local", "type": 1, **common},
        {"step_id": 2, "name": "from the scope", "type": 2, "script_id": 55, **common},
        {"step_id": 3, "name": "public", "type": 3, **common},
        {"step_id": 4, "name": "copy", "type": 2, "file_target_path": "/tmp/", "account": "root",
         "file_source": [{"files": ["/a"], "file_type": 1, "account": "root",
                          "ip_list": [{"bk_cloud_id": 0, "ip": "1.2.3.5"}]}]},
        {"step_id": 5, "name": "ok?", "type": 3, "confirm_message": "go"},
    ]  # fmt: skip
    plan = protocol("esb-v2").parse({"bk_job_id": 7, "steps": steps}, JobPlan)
    types = [(s.type, s.script.source if s.script else None) for s in plan.steps or ()]
    assert types == [
        (StepType.SCRIPT, ScriptSource.LOCAL),
        (StepType.SCRIPT, ScriptSource.SCOPE),
        (StepType.SCRIPT, ScriptSource.PUBLIC),
        (StepType.FILE, None),
        (StepType.MANUAL_CONFIRM, None),
    ]
    local, cited, _, copy, confirm = plan.steps or ()
    assert local.script is not None
    assert (local.script.content, local.script.param, local.script.account) == (
        "echo hi",
        "x y",
        AccountRef(id=3, alias="root"),
    )
    assert local.script.targets == Targets(ips=["0:1.2.3.4"])
    assert cited.script is not None
    assert cited.script.script_version_id == 55
    assert copy.file is not None
    assert copy.file.destination is not None
    assert copy.file.destination.path == "/tmp/"
    assert copy.file.sources[0].targets == Targets(ips=["0:1.2.3.5"])
    assert confirm.approval_message == "go"


def test_reads_a_v2_plan_its_password_in_clear_but_not_in_repr():
    data = {
        "bk_biz_id": 2,
        "bk_job_id": 7,
        "template_id": 3,
        "name": "deploy",
        "create_time": "2024-01-01 08:00:00",
        "steps": [{"step_id": 1, "name": "s", "type": 2}],
        "global_vars": [
            {"category": 4, "id": 1, "name": "pw", "value": "hunter2-hunter2"},
            {"category": 3, "id": 2, "name": "h", "ip_list": [{"bk_cloud_id": 0, "ip": "1.2.3.4"}]},
        ],
    }
    plan = protocol("esb-v2").parse(data, JobPlan)
    assert plan.create_time == dt.datetime(2024, 1, 1, tzinfo=UTC)  # server zone UTC+8
    pw = plan.variable("pw")
    assert pw is not None
    assert pw.value == "hunter2-hunter2"
    assert "hunter2" not in repr(plan)
    h = plan.variable("h")
    assert h is not None
    assert h.server == Targets(ips=["0:1.2.3.4"])


def test_v2_plan_list_is_a_bare_list_made_a_page():
    sent = {"bk_biz_id": 2, "start": 40, "length": 20}
    page = protocol("esb-v2").answer(
        "get_job_plan_list", [{"bk_job_id": 1}, {"bk_job_id": 2}], sent
    )
    assert (page.start, page.length, page.total) == (40, 20, None)
    assert [p.job_plan_id for p in page.items] == [1, 2]


def test_v2_accounts_are_one_page_in_utc():
    rows = [{"id": 1, "account": "root", "alias": "root", "create_time": "2024-01-01 00:00:00"}]
    page = protocol("esb-v2").answer("get_account_list", rows, {"bk_biz_id": 2})
    assert (page.start, page.length, page.total) == (0, 1, 1)
    (root,) = page.items
    assert root.create_time == dt.datetime(2024, 1, 1, tzinfo=UTC)  # UTC, not the server zone
    assert root.category is AccountCategory.SYSTEM


def test_reads_variable_values_on_both_generations():
    v3 = {
        "job_instance_id": 5,
        "step_instance_var_list": [
            {"step_instance_id": 1, "global_var_list": [{"name": "a", "value": "1", "type": 1}]},
            {"step_instance_id": 2},
        ],
    }
    v2 = {
        "job_instance_id": 5,
        "job_instance_var_values": [
            {
                "step_instance_id": 1,
                "step_instance_var_values": [{"name": "a", "value": "1", "category": 1}],
            },
            {
                "step_instance_id": 2,
                "step_instance_var_values": [{"name": "a", "value": "2", "category": 1}],
            },
        ],
    }
    first = protocol().parse(v3, JobVariables)
    second = protocol("esb-v2").parse(v2, JobVariables)
    assert first.values() == {"a": "1"}
    assert [len(s.variables) for s in first.steps] == [1, 0]
    assert second.values() == {"a": "2"}
    secret = protocol().parse(
        {
            "job_instance_id": 5,
            "step_instance_var_list": [
                {
                    "step_instance_id": 1,
                    "global_var_list": [{"name": "p", "value": "hunter2-x", "type": 4}],
                }
            ],
        },
        JobVariables,
    )
    assert "hunter2" not in repr(secret)


def test_reads_a_script_version_and_the_v2_job_log():
    version = protocol().parse(
        {
            "id": 9,
            "script_id": "abc",
            "version": "1.0",
            "content": "echo",
            "status": 2,
            "script_language": 1,
            "create_time": 1704067200000,
        },
        ScriptVersion,
    )
    assert (version.status, version.create_time) == (
        ScriptVersionStatus.OFFLINE,
        dt.datetime(2024, 1, 1, tzinfo=UTC),
    )
    log = protocol("esb-v2").parse(
        [
            {
                "is_finished": True,
                "step_instance_id": 3,
                "name": "s",
                "status": 4,
                "step_results": [
                    {
                        "ip_status": 104,
                        "tag": "",
                        "ip_logs": [
                            {
                                "ip": "10.0.0.1",
                                "bk_cloud_id": 0,
                                "execute_count": 0,
                                "exit_code": 3,
                                "error_code": 0,
                                "start_time": "2024-01-01 08:00:00",
                                "total_time": 1.5,
                                "log_content": "boom",
                            }
                        ],
                    }
                ],
            }
        ],
        tuple[StepLog, ...],
    )
    (step,) = log
    assert (step.status, step.finished) == (StepStatus.FAIL, True)
    (host,) = step.hosts
    assert (host.status, host.exit_code, host.log_content) == (
        HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE,
        3,
        "boom",
    )
    assert host.total_time == dt.timedelta(seconds=1.5)
    assert host.start_time == dt.datetime(2024, 1, 1, tzinfo=UTC)


#: bk-job's own get_cron_detail example (support-files/bk-api-gateway/v3/apidocs/en/
#: get_cron_detail.md.j2 at 588f99bb): its variables carry no ``type``.
CRON_DETAIL_EXAMPLE = {
    "bk_scope_type": "biz",
    "bk_scope_id": "1",
    "job_plan_id": 100,
    "id": 1,
    "name": "test",
    "status": 1,
    "expression": "0/5 * * * ?",
    "execute_time_zone": "Asia/Shanghai",
    "global_var_list": [
        {
            "id": 436,
            "name": "ip",
            "server": {
                "dynamic_group_list": [{"id": "blo8gojho0skft7pr5q0"}],
                "ip_list": [{"bk_host_id": 101, "bk_cloud_id": 0, "ip": "127.0.0.1"}],
                "topo_node_list": [{"id": 1000, "node_type": "module"}],
            },
        },
        {"id": 437, "name": "text", "value": "new String value"},
    ],
    "creator": "admin",
    "create_time": 1546272000000,
    "last_modify_user": "admin",
    "last_modify_time": 1577807999999,
}


def test_a_cron_variable_without_a_type_parses_and_its_value_stays_out_of_reprs():
    cron = protocol().parse(CRON_DETAIL_EXAMPLE, CronJob)
    hosts, text = cron.global_vars or ()
    assert (hosts.name, hosts.type, hosts.server) == (
        "ip",
        None,
        Targets(
            ips=["0:127.0.0.1"],
            dynamic_group_ids=["blo8gojho0skft7pr5q0"],
            topo_nodes=[("module", 1000)],
        ),
    )
    assert (text.name, text.type, text.value, text.is_secret) == (
        "text",
        None,
        "new String value",
        False,
    )
    assert "new String value" not in repr(cron)  # (of no known type: it may be a password)
