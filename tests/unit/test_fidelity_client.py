"""What the client sends and how it reads, per spec §7 (issue 9, client points 1-7); pure, no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bkjob_async import (
    Account,
    AuthenticationError,
    Credentials,
    FileSource,
    GlobalVar,
    Scope,
    ServerError,
    Targets,
)
from bkjob_async._converter import Generation, structure
from bkjob_async._protocol import Protocol, Request, Response
from bkjob_async._transport import is_retryable
from bkjob_async.config import DEFAULT_SERVER_TZ
from bkjob_async.models import HostStatus, StepInstanceStatus

BASE = "https://bk.example.com/"
BIZ = Scope.biz(2)
ROOT = Account(alias="root")


def protocol(flavor: str) -> Protocol:
    return Protocol(BASE, flavor=flavor, credentials=Credentials("app", "secret", username="u"))


def sent(request: Request) -> dict[str, Any]:
    assert request.body is not None
    data: dict[str, Any] = json.loads(request.body)
    return data


def script(flavor: str, targets: Targets, **options: Any) -> Request:
    return protocol(flavor).build(
        "fast_execute_script", BIZ, targets=targets, account=ROOT, script_content="ls", **options
    )


# -- point 1: v3 targets ----------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3"])
def test_v3_refuses_host_ids_with_ips_wherever_targets_go(flavor: str) -> None:
    mixed = Targets(host_ids=[1], ips=["10.0.0.1"])
    build = protocol(flavor)
    with pytest.raises(ValueError, match="host_id_list"):
        script(flavor, mixed)
    with pytest.raises(ValueError, match="host_id_list"):
        build.build("fast_transfer_file",
            BIZ, targets=Targets(host_ids=[1]), account=ROOT, file_target_path="/t/",
            file_sources=[FileSource(["/a"], server=mixed)],
        )  # fmt: skip
    with pytest.raises(ValueError, match="host_id_list"):
        build.build("execute_job_plan", BIZ, 1, global_vars=[GlobalVar(name="h", server=mixed)])


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
@pytest.mark.parametrize("ip", ["fd00::1", "::ffff:10.0.0.1", "2001:db8::5"])
def test_ipv6_in_ips_is_refused(flavor: str, ip: str) -> None:
    with pytest.raises(ValueError, match="IPv6"):
        script(flavor, Targets(ips=[ip]))


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3"])
def test_v3_sends_each_kind_of_target_once(flavor: str) -> None:
    targets = Targets(ips=["1:10.0.0.1"], dynamic_group_ids=["g"], topo_nodes=[("set", 3)])
    assert sent(script(flavor, targets))["target_server"] == {
        "ip_list": [{"bk_cloud_id": 1, "ip": "10.0.0.1"}],
        "dynamic_group_list": [{"id": "g"}],
        "topo_node_list": [{"node_type": "set", "id": 3}],
    }


# -- point 2: v2 targets ----------------------------------------------------------------------


def test_v2_refuses_host_ids_naming_the_alternatives() -> None:
    with pytest.raises(ValueError, match=r"ips=\[\(cloud, ip\)\].*'esb-jobv3'"):
        script("esb-v2", Targets(host_ids=[1]))


def test_v2_puts_every_target_in_target_server() -> None:
    targets = Targets(ips=["10.0.0.1"], dynamic_group_ids=["g1", "g2"], topo_nodes=[("module", 4)])
    body = sent(script("esb-v2", targets))
    assert "ip_list" not in body
    assert "custom_query_id" not in body
    assert body["target_server"] == {
        "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}],
        "dynamic_group_id_list": ["g1", "g2"],
        "topo_node_list": [{"node_type": "module", "id": 4}],
    }


def test_v2_file_sources_and_host_variables_use_target_server_too() -> None:
    build = protocol("esb-v2")
    source = Targets(ips=["10.0.0.9"], dynamic_group_ids=["g"])
    push = sent(
        build.build("fast_transfer_file",
            BIZ, targets=Targets(ips=["10.0.0.1"]), account=ROOT, file_target_path="/t/",
            file_sources=[FileSource(["/a"], server=source)],
        )
    )  # fmt: skip
    plan = sent(
        build.build("execute_job_plan", BIZ, 1, global_vars=[GlobalVar(name="h", server=source)])
    )
    expected = {
        "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.9"}],
        "dynamic_group_id_list": ["g"],
    }
    assert push["file_source"][0]["target_server"] == expected
    assert plan["global_vars"][0]["target_server"] == expected


# -- point 3: timeouts ------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
def test_timeouts_run_from_1_to_259200_seconds(flavor: str) -> None:
    key = "script_timeout" if flavor == "esb-v2" else "timeout"
    targets = Targets(ips=["10.0.0.1"])
    assert sent(script(flavor, targets, script_timeout=259200))[key] == 259200
    for bad in (0, 259201):
        with pytest.raises(ValueError, match=r"1\.\.259200"):
            script(flavor, targets, script_timeout=bad)


# -- point 4: v2 step status ------------------------------------------------------------------

V2_STEP = {
    "is_finished": True,
    "step_instance_detail": {
        "step_instance_id": 7,
        "name": "s",
        "type": 1,
        "status": 4,
        "execute_count": 0,
        "target_ips": "0:10.0.0.1,0:10.0.0.2,0:10.0.0.3",
    },
    "step_instance_analyse_result": [
        {
            "result_type": 9,
            "result_type_text": "ok",
            "count": 2,
            "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}, {"bk_cloud_id": 0, "ip": "10.0.0.2"}],
        },
        {"result_type": 104, "result_type_text": "exit", "count": 0},
    ],
}


def test_v2_groups_emptied_by_bk_job_have_an_unknown_size() -> None:
    status = structure(V2_STEP, StepInstanceStatus, Generation.V2, DEFAULT_SERVER_TZ)
    first, second = status.groups
    assert (first.host_size, len(first.hosts), first.complete) == (2, 2, True)
    assert (second.status, second.host_size, second.hosts, second.complete) == (
        HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE,
        None,
        (),
        False,
    )
    assert status.partial
    assert status.step.hosts is None  # not "the two hosts of the first group"
    assert status.step.target_hosts is not None
    assert len(status.step.target_hosts) == 3
    assert status.finished  # the step's own status: final, but its hosts are not all listed


def test_v2_groups_that_a_server_does_fill_are_kept() -> None:
    full = json.loads(json.dumps(V2_STEP))
    full["step_instance_analyse_result"][1].update(
        count=1, ip_list=[{"bk_cloud_id": 0, "ip": "10.0.0.3"}]
    )
    status = structure(full, StepInstanceStatus, Generation.V2, DEFAULT_SERVER_TZ)
    assert [g.host_size for g in status.groups] == [2, 1]
    assert not status.partial
    assert [h.host.ip for h in status.step.hosts or ()] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


# -- point 5: batch ---------------------------------------------------------------------------


def test_gateway_step_status_sends_batch_0_unless_a_batch_is_asked() -> None:
    build = protocol("apigw-v3")
    every = build.build("get_step_instance_status", BIZ, 1, 2)
    second = build.build("get_step_instance_status", BIZ, 1, 2, batch=2)
    assert (every.query or {})["batch"] == "0"
    assert (second.query or {})["batch"] == "2"
    for bad in (0, -1):
        with pytest.raises(ValueError, match="numbered from 1"):
            build.build("get_step_instance_status", BIZ, 1, 2, batch=bad)


def test_v2_step_status_sends_no_batch() -> None:
    request = protocol("esb-v2").build("get_step_instance_status", BIZ, 1, 2)
    assert "batch" not in sent(request)


# -- point 6: the ESB's app check ---------------------------------------------------------------

_SECRET = (
    "APP Secret verification failed, pelase confirm if the APP Secret and "
    "APP Code [bk_app_code=app] match"
)
_APP = "Invalid APP Code [bk_app_code=app], please confirm if the APP Code has been registered"


@pytest.mark.parametrize("flavor", ["esb-jobv3", "esb-v2"])
@pytest.mark.parametrize("message", [_SECRET, _APP])
@pytest.mark.parametrize("code", [1306000, 1306406, 1306201, 20, None])
def test_an_esb_app_check_failure_is_an_authentication_error(
    flavor: str, message: str, code: int | None
) -> None:
    build = protocol(flavor)
    request = build.build("get_job_instance_status", BIZ, 1, with_hosts=True)
    envelope = {"result": False, "code": code, "data": None, "message": message}
    with pytest.raises(AuthenticationError) as caught:
        build.decipher(request, Response(200, {}, json.dumps(envelope).encode()))
    assert not is_retryable(caught.value, idempotent=True)


def test_other_esb_system_errors_stay_server_errors() -> None:
    build = protocol("esb-jobv3")
    request = build.build("get_job_instance_status", BIZ, 1, with_hosts=True)
    envelope = {"result": False, "code": 1306000, "data": None, "message": "system error"}
    with pytest.raises(ServerError) as caught:
        build.decipher(request, Response(200, {}, json.dumps(envelope).encode()))
    assert is_retryable(caught.value, idempotent=True)
