"""The gateway v4's requests and answers: execute objects read as hosts and containers.

Shapes from bk-job (588f99bb): ``V4JobInstanceStatusResp``, ``V4GetJobInstanceListResult``,
``V4FastExecuteScriptRequest``, ``V4BatchGetJobInstanceExecuteObjectLogRequest`` and
``V4BatchExecuteObjectLogResp``, ``OpenApiExecuteObjectDTO``.
"""

from __future__ import annotations

import datetime as _dt
import json

import pytest

from bkjob_async import (
    Account,
    ApiFlavor,
    Credentials,
    FileLogMode,
    GlobalVar,
    HostStatus,
    KubeContainerFilter,
    LabelSelector,
    Scope,
    Targets,
    errors,
)
from bkjob_async._protocol import Protocol
from bkjob_async.models import Container, ExecuteObjectType, Host, LogType

SCOPE = Scope.biz(2)
UTC = _dt.timezone.utc


def protocol(flavor: ApiFlavor = ApiFlavor.APIGW_V4) -> Protocol:
    return Protocol("http://bk.test", flavor=flavor, credentials=Credentials("a", "s", "u"))


def host_object(host_id: int) -> dict[str, object]:
    host = {"bk_host_id": host_id, "ip": f"10.0.0.{host_id}", "bk_cloud_id": 0}
    return {"type": 1, "resource_id": str(host_id), "host": host}


def container_object(cid: int) -> dict[str, object]:
    container = {"id": cid, "container_id": f"abc{cid}", "name": "nginx", "node_host_id": 10}
    return {"type": 2, "resource_id": str(cid), "container": container}


def row(target: dict[str, object], status: int) -> dict[str, object]:
    times = {"start_time": 1605064271000, "end_time": 1605064272000, "total_time": 1000}
    return {"execute_object": target, "status": status, "tag": "", "exit_code": 0, **times}


def status_data(rows: list[dict[str, object]] | None) -> dict[str, object]:
    step = {
        "step_instance_id": 75,
        "name": "s",
        "type": 1,
        "status": 3,
        "execute_count": 0,
        "create_time": 1605064271000,
        "step_execute_object_result_list": rows,
    }
    job = {"job_instance_id": 100, "status": 3, "name": "j", "create_time": 1605064271000}
    job |= {"bk_scope_type": "biz", "bk_scope_id": "2"}
    return {"finished": True, "job_instance": job, "step_instance_list": [step]}


def test_status_reads_hosts_as_v3_and_containers_beside_them() -> None:
    proto = protocol()
    sent = proto.spell("get_job_instance_status", SCOPE, 100)
    assert sent == {
        "bk_scope_type": "biz",
        "bk_scope_id": "2",
        "job_instance_id": 100,
        "return_execute_object_result": True,
    }
    data = status_data([row(host_object(101), 9), row(container_object(1001), 104)])
    status = proto.answer("get_job_instance_status", data, sent)
    step = status.steps[0]
    assert step.hosts is not None
    assert len(step.hosts) == 1
    assert step.hosts[0].host == Host(101, "10.0.0.101", 0)
    assert step.hosts[0].status is HostStatus.SUCCESS
    assert step.containers is not None
    assert len(step.containers) == 1
    found = step.containers[0]
    assert found.container == Container(1001, "abc1001", "nginx", 10)
    assert found.status is HostStatus(104)
    assert found.start_time == _dt.datetime(2020, 11, 11, 3, 11, 11, tzinfo=UTC)
    assert found.total_time == _dt.timedelta(seconds=1)
    assert found.container.key != step.hosts[0].host.key


def test_status_without_rows_has_neither_hosts_nor_containers() -> None:
    status = protocol().answer("get_job_instance_status", status_data(None), {})
    assert (status.steps[0].hosts, status.steps[0].containers) == (None, None)


def test_status_about_another_job_or_malformed_is_refused() -> None:
    proto = protocol()
    with pytest.raises(errors.ResponseFormatError, match="asked for job 5"):
        proto.answer("get_job_instance_status", status_data([]), {"job_instance_id": 5})
    bad = status_data([{"execute_object": {"type": 2, "container": {"name": "x"}}, "status": 1}])
    with pytest.raises(errors.ResponseFormatError):
        proto.answer("get_job_instance_status", bad, {})


def test_the_history_list_pages_by_offset_and_has_no_total() -> None:
    proto = protocol()
    start = _dt.datetime(2026, 1, 1, tzinfo=UTC)
    sent = proto.spell(
        "get_job_instance_list",
        SCOPE,
        created_from=start,
        created_to=start + _dt.timedelta(days=1),
        start=40,
        length=200,
    )
    assert isinstance(sent, dict)
    assert (sent["offset"], sent["length"]) == (40, 200)
    assert "start" not in sent
    with pytest.raises(ValueError, match=r"1\.\.200"):
        proto.spell(
            "get_job_instance_list",
            SCOPE,
            created_from=start,
            created_to=start + _dt.timedelta(days=1),
            length=201,
        )
    job = {"job_instance_id": 102, "status": 3, "name": "t", "launch_mode": 1, "type": 0}
    page = proto.answer("get_job_instance_list", {"job_instance_list": [job]}, sent)
    assert (page.start, page.length, page.total) == (40, 200, None)
    assert page.items[0].job_instance_id == 102


def test_a_script_launch_spells_execute_target() -> None:
    proto = protocol()
    request = proto.build(
        "fast_execute_script",
        SCOPE,
        targets=Targets(host_ids=[1], ips=["0:10.0.0.2"], topo_nodes=[("module", 9)]),
        account=Account(alias="root"),
        script_content="echo hi",
        script_param="secret-param-value",
        is_param_sensitive=True,
    )
    assert request.url == "http://bk.test/api/v4/fast_execute_script"
    assert request.body is not None
    body = json.loads(request.body)
    assert body["execute_target"] == {
        "host_list": [{"bk_host_id": 1}, {"bk_cloud_id": 0, "ip": "10.0.0.2"}],
        "topo_node_list": [{"id": 9, "node_type": "module"}],
    }
    assert body["param_sensitive"] is True
    assert "target_server" not in body
    assert "is_param_sensitive" not in body
    assert request.secrets == ("secret-param-value",)
    with pytest.raises(ValueError, match="IPv6"):
        proto.build(
            "fast_execute_script",
            SCOPE,
            targets=Targets(ips=["0:fe80::1"]),
            account=Account(alias="root"),
            script_content="x",
        )


def test_object_logs_ask_fifty_a_request_one_kind_at_a_time() -> None:
    proto = protocol()
    requests = proto.builds(
        "batch_get_job_instance_execute_object_log", SCOPE, 1, 2, hosts=list(range(1, 121))
    )
    sizes = [len(json.loads(r.body or b"{}")["host_id_list"]) for r in requests]
    assert sizes == [50, 50, 20]
    (one,) = proto.builds(
        "batch_get_job_instance_execute_object_log", SCOPE, 1, 2, container_ids=[7]
    )
    assert json.loads(one.body or b"{}")["container_id_list"] == [7]
    with pytest.raises(ValueError, match="not both"):
        proto.builds(
            "batch_get_job_instance_execute_object_log", SCOPE, 1, 2, hosts=[1], container_ids=[7]
        )
    assert proto.builds("batch_get_job_instance_execute_object_log", SCOPE, 1, 2) == ()
    from bkjob_async import UnsupportedOperationError

    with pytest.raises(UnsupportedOperationError):
        protocol(ApiFlavor.APIGW_V3).builds(
            "batch_get_job_instance_execute_object_log", SCOPE, 1, 2, hosts=[1]
        )


def test_batch_logs_take_ipv4_addresses_only_by_cloud_and_ip() -> None:
    proto, v3 = protocol(), protocol(ApiFlavor.APIGW_V3)
    hosts = [(0, "10.0.0.1"), Host(ip="10.0.0.2", bk_cloud_id=3)]
    (one,) = proto.builds("batch_get_job_instance_execute_object_log", SCOPE, 1, 2, hosts=hosts)
    assert json.loads(one.body or b"{}")["ip_list"] == [
        {"bk_cloud_id": 0, "ip": "10.0.0.1"},
        {"bk_cloud_id": 3, "ip": "10.0.0.2"},
    ]
    for ipv6 in [(0, "fe80::1"), Host(ip="2001:db8::7", bk_cloud_id=0)]:
        with pytest.raises(ValueError, match="IPv6 address; bk-job's batch log APIs"):
            proto.builds("batch_get_job_instance_execute_object_log", SCOPE, 1, 2, hosts=[ipv6])
        with pytest.raises(ValueError, match="IPv6 address; bk-job's batch log APIs"):
            v3.builds("batch_get_job_instance_ip_log", SCOPE, 1, 2, [ipv6, 7])
    # (a row by id is not read for its address; v3's one-host log reads no pattern)
    (mixed,) = v3.builds("batch_get_job_instance_ip_log", SCOPE, 1, 2, [(0, "10.0.0.1"), 7])
    assert json.loads(mixed.body or b"{}")["ip_list"][1] == {"bk_host_id": 7}
    assert v3.build("get_job_instance_ip_log", SCOPE, 1, 2, (0, "fe80::1")).query


def test_object_logs_read_script_and_file_rows() -> None:
    proto = protocol()
    data = {
        "job_instance_id": 1,
        "step_instance_id": 2,
        "log_type": 1,
        "script_step_execute_object_logs": [
            {"execute_object": container_object(1001), "log_content": "hello\n"},
            {"execute_object": {"type": 9, "resource_id": "x"}, "log_content": "?"},
        ],
    }
    (log,) = proto.answers("batch_get_job_instance_execute_object_log", [data], [{}])
    assert log.execute_object.type is ExecuteObjectType.CONTAINER
    assert log.execute_object.container == Container(1001, "abc1001", "nginx", 10)
    assert (log.log_type, log.log_content) == (LogType.SCRIPT, "hello\n")
    files = {
        "step_instance_id": 2,
        "log_type": 2,
        "file_step_execute_object_logs": [
            {
                "execute_object": host_object(1),
                "download_log": [
                    {
                        "mode": 1,
                        "src_execute_object": host_object(2),
                        "dest_execute_object": host_object(1),
                        "src_path": "/a",
                        "dest_path": "/b",
                        "status": 4,
                    }
                ],
            }
        ],
    }
    (file_log,) = proto.answers("batch_get_job_instance_execute_object_log", [files], [{}])
    assert file_log.file_logs is not None
    assert file_log.file_logs[0].source is not None
    assert file_log.file_logs[0].source.host == Host(2, "10.0.0.2", 0)


def test_templates_plans_and_scopes_are_spelled_and_read() -> None:
    proto = protocol()
    assert proto.spell("get_job_template_detail", SCOPE, 7) == {
        **SCOPE.params(proto.flavor),
        "id": 7,
    }
    detail = proto.answer(
        "get_job_template_detail",
        {
            "id": 7,
            "name": "t",
            "create_time": 1700000000,
            "global_var_list": [{"name": "v", "type": 1, "required": 1, "value": "x"}],
            "step_list": [{"id": 70, "name": "s", "type": 1}],
        },
        {},
    )
    assert detail.create_time == _dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert detail.variables[0].required
    assert detail.steps[0].id == 70
    request = proto.build(
        "create_job_plan",
        SCOPE,
        7,
        "mine",
        enable_steps=[70],
        variables=[
            GlobalVar.password("pw", "p4ssw0rd-secret"),
            GlobalVar(name="h", server=Targets(host_ids=[1])),
        ],
        follow_template=["keep"],
    )
    body = json.loads(request.body or b"{}")
    assert body["variables"] == [
        {"name": "pw", "value": "p4ssw0rd-secret"},
        {"name": "h", "execute_target": {"host_list": [{"bk_host_id": 1}]}},
        {"name": "keep", "follow_template": True},
    ]
    assert request.secrets == ("p4ssw0rd-secret",)
    assert not request.idempotent
    with pytest.raises(ValueError, match="1 to 60"):
        proto.build("create_job_plan", SCOPE, 7, "x" * 61)
    with pytest.raises(ValueError, match="at least one step"):
        proto.build("create_job_plan", SCOPE, 7, "x", enable_steps=[])
    with pytest.raises(TypeError, match="with a name"):
        proto.build("create_job_plan", SCOPE, 7, "x", variables=[GlobalVar(id=3, value="v")])
    scopes = proto.build("get_user_authorized_scopes", start=20, length=200)
    assert scopes.query == {"offset": "20", "length": "200"}
    with pytest.raises(ValueError, match=r"1\.\.200"):
        proto.build("get_user_authorized_scopes", length=201)
    page = proto.answer(
        "get_user_authorized_scopes",
        {
            "total": 3,
            "offset": 0,
            "length": 1,
            "scope_list": [{"bk_scope_type": "biz_set", "bk_scope_id": "9"}],
        },
        {},
    )
    assert (page.total, page.items[0].scope) == (3, Scope.biz_set(9))


def test_task_contexts_name_one_execute_object() -> None:
    proto = protocol()
    script = proto.build("get_script_task_context", SCOPE, 1, 2, container_id=5, execute_count=1)
    assert json.loads(script.body or b"{}") == {
        **SCOPE.params(proto.flavor),
        "job_instance_id": 1,
        "step_instance_id": 2,
        "execute_count": 1,
        "execute_object_type": 2,
        "execute_object_resource_id": 5,
    }
    assert script.idempotent
    with pytest.raises(ValueError, match="exactly one"):
        proto.build("get_script_task_context", SCOPE, 1, 2)
    with pytest.raises(ValueError, match="exactly one"):
        proto.build("get_script_task_context", SCOPE, 1, 2, host_id=1, container_id=5)
    with pytest.raises(ValueError, match="mode"):
        proto.build("get_file_task_context", SCOPE, 1, 2, host_id=1, mode=3)
    files = proto.build("get_file_task_context", SCOPE, 1, 2, host_id=1, mode=FileLogMode.DOWNLOAD)
    assert json.loads(files.body or b"{}")["mode"] == 1
    data = {"field_list": [{"name": "errorLog", "value": "boom", "description": "d"}]}
    context = proto.answer("get_script_task_context", data, {})
    assert context.get("errorLog") == "boom"
    assert context.get("nothing") is None


CLUSTER = KubeContainerFilter(
    ["BCS-K8S-00001"],
    namespaces=["bkjob"],
    workload_kind="deployment",
    workload_names=["bk-job-execute"],
    label_selectors=[LabelSelector("app", "in", ["job"])],
    container_names=["job-execute"],
)


def test_containers_are_spelled_as_kube_container_filters() -> None:
    request = protocol().build(
        "fast_execute_script",
        SCOPE,
        targets=Targets(containers=[CLUSTER, KubeContainerFilter(["c2"], whole_cluster=True)]),
        account=Account(alias="root"),
        script_content="echo hi",
    )
    body = json.loads(request.body or b"{}")
    assert body["execute_target"] == {
        "kube_container_filters": [
            {
                "kube_cluster_filter": {"cluster_uid_list": ["BCS-K8S-00001"]},
                "kube_namespace_filter": {"namespace_name_list": ["bkjob"]},
                "kube_workload_filter": {
                    "kind": "deployment",
                    "workload_name_list": ["bk-job-execute"],
                },
                "kube_pod_filter": {
                    "label_selector": [{"key": "app", "operator": "in", "values": ["job"]}]
                },
                "kube_container_prop_filter": {"container_name_list": ["job-execute"]},
            },
            {"kube_cluster_filter": {"cluster_uid_list": ["c2"]}, "execute_in_whole_cluster": True},
        ]
    }


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Targets(host_ids=[1], containers=[CLUSTER]), "cannot run in one job"),
        (lambda: Targets(topo_nodes=[("set", 2)], containers=[CLUSTER]), "cannot run in one job"),
        (lambda: KubeContainerFilter(["c"]), "whole_cluster=True"),
        (
            lambda: KubeContainerFilter(["c"], namespaces=["n"], whole_cluster=True),
            "one or the other",
        ),
        (lambda: KubeContainerFilter([]), "at least one cluster"),
        (lambda: KubeContainerFilter(["c"], workload_names=["w"]), "together"),
        (lambda: KubeContainerFilter(["c"], workload_kind="pod", workload_names=["w"]), "kind"),
        (lambda: LabelSelector("k", "in"), "needs values"),
        (lambda: LabelSelector("k", "matches", ["x"]), "unknown label operator"),
    ],
)
def test_bad_container_targets_are_refused_when_built(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


@pytest.mark.parametrize("flavor", [ApiFlavor.APIGW_V3, ApiFlavor.ESB_JOBV3, ApiFlavor.ESB_V2])
def test_containers_are_refused_before_any_request_off_v4(flavor: ApiFlavor) -> None:
    with pytest.raises(ValueError, match="apigw-v4"):
        protocol(flavor).build(
            "fast_execute_script",
            SCOPE,
            targets=Targets(containers=[CLUSTER]),
            account=Account(alias="root"),
            script_content="x",
        )
