"""Launch APIs, logs and history over every flavor that has them."""

from __future__ import annotations

import base64

import pytest

from bkjob_async.config import Scope
from bkjob_async.models.enums import HostStatus, JobStatus, StepType
from bkjob_async.testing import HostPlan, StepPlan

from .conftest import GATEWAY, JOBV3, SCOPE, V2

SCRIPT = base64.b64encode(b"echo hello").decode()
TARGET = {"host_id_list": [1001, 1002], "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.9"}]}
RUN_SCRIPT = {
    "script_content": SCRIPT,
    "script_language": 1,
    "account_alias": "root",
    "target_server": TARGET,
}


@pytest.mark.parametrize("flavor", [GATEWAY, JOBV3])
async def test_fast_execute_script_creates_a_running_script_job(sim, wire, flavor):
    data = await wire.data(flavor, "fast_execute_script", {**RUN_SCRIPT, "task_name": "hello"})
    assert data == {
        "job_instance_id": data["job_instance_id"],
        "job_instance_name": "hello",
        "step_instance_id": data["step_instance_id"],
    }
    job = sim.job(data["job_instance_id"])
    assert job.status is JobStatus.RUNNING
    assert job.operator == "alice"
    step = job.steps[0]
    assert step.step_instance_id == data["step_instance_id"]
    assert step.type is StepType.SCRIPT
    # host_id_list is non-empty: bk-job ignores ip_list (§7.1), so 10.0.0.9 does not run
    assert [(h.bk_host_id, h.ip) for h in step.hosts or ()] == [
        (1001, "10.0.0.1"),
        (1002, "10.0.0.2"),
    ]


async def test_fast_execute_script_names_jobs_like_bk_job_and_can_wait(sim, wire):
    data = await wire.data(GATEWAY, "fast_execute_script", {**RUN_SCRIPT, "start_task": False})
    assert data["job_instance_name"] == "快速执行脚本_20250101080000000"
    assert sim.job(data["job_instance_id"]).status is JobStatus.BLANK
    (await wire.operate_job(GATEWAY, data["job_instance_id"], 2)).ok()
    assert sim.job(data["job_instance_id"]).status is JobStatus.RUNNING


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        ({"script_content": None}, 1241004, "script_version_id|script_id|script_content"),
        ({"script_language": 9}, 1241005, "script_language"),
        ({"script_content": "%%%"}, 1241005, "script_content"),
        ({"target_server": None}, 1241004, "target_server"),
        ({"target_server": {"host_id_list": []}}, 1241004, "target_server"),
        ({"account_alias": None}, 1241004, "account_id|account_alias"),
        ({"timeout": 259201}, 1240003, "错误的请求"),
        ({"rolling_config": {"expression": "x%", "mode": 1}}, 1240003, "错误的请求"),
    ],
)
async def test_fast_execute_script_validation(wire, change, code, text):
    params = {key: value for key, value in {**RUN_SCRIPT, **change}.items() if value is not None}
    reply = (await wire.call(GATEWAY, "fast_execute_script", params)).json
    assert reply["code"] == code
    assert text in reply["message"]


async def test_a_rolling_config_makes_a_rolling_step(sim, wire):
    target = {"host_id_list": list(range(1001, 1011))}
    config = {"expression": "30%", "mode": 3}
    data = await wire.data(
        GATEWAY,
        "fast_execute_script",
        {**RUN_SCRIPT, "target_server": target, "rolling_config": config},
    )
    hosts = sim.job(data["job_instance_id"]).steps[0].hosts or ()
    assert [h.batch for h in hosts] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]


@pytest.mark.parametrize("flavor", [GATEWAY, JOBV3])
async def test_fast_transfer_file_creates_a_file_job(sim, wire, flavor):
    params = {
        "file_target_path": "/tmp/",
        "file_source_list": [
            {"file_list": ["/data/a.tgz"], "account": {"alias": "root"}, "server": TARGET}
        ],
        "account_alias": "root",
        "target_server": TARGET,
    }
    data = await wire.data(flavor, "fast_transfer_file", params)
    job = sim.job(data["job_instance_id"])
    assert job.steps[0].type is StepType.FILE
    assert job.name == data["job_instance_name"] == "快速分发文件_20250101080000000"
    missing = await wire.call(flavor, "fast_transfer_file", {**params, "file_target_path": ""})
    assert missing.json["code"] == 1241007  # §7.13


@pytest.mark.parametrize("flavor", [GATEWAY, JOBV3])
async def test_execute_job_plan_instantiates_a_registered_plan(sim, wire, flavor):
    sim.add_plan(7, [StepPlan(hosts=2), StepPlan(StepType.MANUAL_CONFIRM)], name="deploy")
    data = await wire.data(flavor, "execute_job_plan", {"job_plan_id": 7})
    assert data["job_instance_name"] == "deploy"
    assert data["step_instance_id"] is None
    job = sim.job(data["job_instance_id"])
    assert [s.type for s in job.steps] == [StepType.SCRIPT, StepType.MANUAL_CONFIRM]
    unknown = await wire.call(flavor, "execute_job_plan", {"job_plan_id": 8})
    assert unknown.json["code"] == 1244012


async def test_a_scoped_plan_is_not_found_elsewhere(sim, wire):
    sim.add_plan(9, [StepPlan()], scope=Scope.biz(3))
    reply = await wire.call(GATEWAY, "execute_job_plan", {"job_plan_id": 9})
    assert reply.json["code"] == 1244012


async def test_v2_launches_use_the_v2_spellings(sim, wire):
    ip_list = [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]
    script = await wire.data(
        V2, "fast_execute_script", {"script_content": SCRIPT, "ip_list": ip_list, "account": "root"}
    )
    push = await wire.data(
        V2,
        "fast_push_file",
        {"file_source": [{"files": ["/a"], "account": "root", "ip_list": ip_list}],
         "file_target_path": "/tmp", "ip_list": ip_list, "account": "root"},
    )  # fmt: skip
    sim.add_plan(3, [StepPlan()])
    plan = await wire.data(V2, "execute_job", {"bk_job_id": 3})
    assert sim.job(script["job_instance_id"]).steps[0].hosts[0].ip == "10.0.0.1"
    assert sim.job(push["job_instance_id"]).steps[0].type is StepType.FILE
    assert sim.job(plan["job_instance_id"]).name == "sim-plan-3"
    no_account = await wire.call(
        V2, "fast_execute_script", {"script_content": SCRIPT, "ip_list": ip_list}
    )
    assert no_account.json["code"] == 1241004


# -- logs -------------------------------------------------------------------------------------


async def _ran(sim, plans) -> tuple[int, int, list]:
    job_id = sim.create_job(SCOPE, plans)
    sim.advance(10)
    step = sim.job(job_id).steps[0]
    return job_id, step.step_instance_id, list(step.hosts or ())


@pytest.mark.parametrize("flavor", [GATEWAY, JOBV3])
async def test_one_hosts_script_log(sim, wire, flavor):
    job_id, step_id, hosts = await _ran(
        sim, [StepPlan(hosts=[HostPlan(outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE)])]
    )
    params = {
        "job_instance_id": job_id,
        "step_instance_id": step_id,
        "bk_host_id": hosts[0].bk_host_id,
    }
    data = await wire.data(flavor, "get_job_instance_ip_log", params)
    assert list(data) == ["log_type", "bk_host_id", "bk_cloud_id", "ip", "log_content", "file_logs"]
    # bk-job echoes the host as it was asked: by id, so no cloud and no ip.
    assert (data["log_type"], data["bk_host_id"], data["ip"], data["bk_cloud_id"]) == (
        1,
        hosts[0].bk_host_id,
        None,
        None,
    )
    assert data["file_logs"] is None
    assert "exit code 1" in data["log_content"]
    by_ip = {
        "job_instance_id": job_id,
        "step_instance_id": step_id,
        "bk_cloud_id": 0,
        "ip": hosts[0].ip,
    }
    again = await wire.data(flavor, "get_job_instance_ip_log", by_ip)
    assert again["log_content"] == data["log_content"]
    assert (again["bk_cloud_id"], again["ip"]) == (0, hosts[0].ip)


async def test_one_hosts_log_needs_an_id_or_a_cloud_and_an_ip(sim, wire):
    job_id, step_id, hosts = await _ran(sim, [StepPlan(hosts=1)])
    params = {"job_instance_id": job_id, "step_instance_id": step_id, "ip": hosts[0].ip}
    reply = await wire.call(GATEWAY, "get_job_instance_ip_log", params)
    assert reply.json["code"] == 1241007  # ip without bk_cloud_id (checkRequest)


async def test_a_confirm_step_has_no_log(sim, wire):
    job_id, _, _ = await _ran(sim, [StepPlan(hosts=1), StepPlan(StepType.MANUAL_CONFIRM)])
    confirm = sim.job(job_id).steps[1].step_instance_id
    base = {"job_instance_id": job_id, "step_instance_id": confirm}
    one = await wire.data(GATEWAY, "get_job_instance_ip_log", {**base, "bk_host_id": 1})
    assert (one["log_type"], one["log_content"], one["file_logs"]) == (None, None, None)
    batch = await wire.data(GATEWAY, "batch_get_job_instance_ip_log", {**base, "host_id_list": [1]})
    assert (batch["log_type"], batch["script_task_logs"], batch["file_task_logs"]) == (
        None,
        None,
        None,
    )


async def test_batch_rows_name_hosts_by_id_first(sim, wire):
    job_id, step_id, hosts = await _ran(sim, [StepPlan(hosts=3)])
    rows = [{"bk_host_id": hosts[0].bk_host_id}, {"bk_cloud_id": 0, "ip": hosts[2].ip}]
    params = {"job_instance_id": job_id, "step_instance_id": step_id, "ip_list": rows}
    data = await wire.data(GATEWAY, "batch_get_job_instance_ip_log", params)
    assert [row["bk_host_id"] for row in data["script_task_logs"]] == [
        hosts[0].bk_host_id,
        hosts[2].bk_host_id,
    ]


async def test_one_hosts_file_log(sim, wire):
    job_id, step_id, hosts = await _ran(sim, [StepPlan(StepType.FILE, hosts=1)])
    params = {
        "job_instance_id": job_id,
        "step_instance_id": step_id,
        "bk_host_id": hosts[0].bk_host_id,
    }
    data = await wire.data(GATEWAY, "get_job_instance_ip_log", params)
    row, upload = data["file_logs"]  # the download, then the source host's upload (§7.15)
    assert (data["log_type"], data["log_content"], row["mode"], row["status"]) == (2, None, 1, 4)
    assert (upload["mode"], upload["status"], upload["dest_ip"]) == (0, 4, None)
    assert upload["src_ip"] == row["src_ip"]
    assert row["dest_ip"] == {
        "bk_host_id": hosts[0].bk_host_id,
        "bk_cloud_id": 0,
        "ip": hosts[0].ip,
    }


async def test_batch_logs_by_host_id_or_ip_up_to_500_hosts(sim, wire):
    job_id, step_id, hosts = await _ran(sim, [StepPlan(hosts=3)])
    base = {"job_instance_id": job_id, "step_instance_id": step_id}
    data = await wire.data(
        GATEWAY,
        "batch_get_job_instance_ip_log",
        {**base, "host_id_list": [h.bk_host_id for h in hosts[:2]]},
    )
    assert (data["log_type"], data["file_task_logs"]) == (1, None)
    assert [row["host_id"] for row in data["script_task_logs"]] == [h.bk_host_id for h in hosts[:2]]
    assert list(data["script_task_logs"][0]) == [
        "host_id",
        "bk_host_id",
        "bk_cloud_id",
        "ip",
        "ipv6",
        "log_content",
    ]
    by_ip = await wire.data(
        JOBV3,
        "batch_get_job_instance_ip_log",
        {**base, "ip_list": [{"bk_cloud_id": 0, "ip": hosts[2].ip}]},
    )
    assert [row["ip"] for row in by_ip["script_task_logs"]] == [hosts[2].ip]
    too_many = await wire.call(
        GATEWAY, "batch_get_job_instance_ip_log", {**base, "host_id_list": list(range(1, 502))}
    )
    assert too_many.json["code"] == 1241007


async def test_v2_job_log_groups_each_steps_hosts(sim, wire):
    job_id, _, hosts = await _ran(sim, [StepPlan(hosts=2), StepPlan(StepType.MANUAL_CONFIRM)])
    data = await wire.data(V2, "get_job_instance_log", {"job_instance_id": job_id})
    script, confirm = data
    assert (script["is_finished"], script["status"], confirm["step_results"]) == (True, 3, [])
    (group,) = script["step_results"]
    assert (group["ip_status"], group["tag"]) == (9, "")
    assert [log["ip"] for log in group["ip_logs"]] == [h.ip for h in hosts]
    assert group["ip_logs"][0]["exit_code"] == 0
    assert isinstance(group["ip_logs"][0]["total_time"], float)


# -- history ----------------------------------------------------------------------------------


async def test_job_history_pages_newest_first_with_filters(sim, wire):
    ids = [sim.create_job(SCOPE, [StepPlan()], name=f"nightly {n}") for n in range(5)]
    sim.create_job(Scope.biz(3), [StepPlan()])
    window = {"create_time_start": sim.now_ms() - 1000, "create_time_end": sim.now_ms() + 1000}
    page = await wire.data(GATEWAY, "get_job_instance_list", {**window, "start": 1, "length": 2})
    assert (page["start"], page["length"], page["total"]) == (1, 2, 5)
    assert [item["job_instance_id"] for item in page["data"]] == ids[::-1][1:3]
    item = page["data"][0]
    assert (item["launch_mode"], item["type"], item["job_plan_id"], item["status"]) == (2, 0, -1, 2)
    named = await wire.data(JOBV3, "get_job_instance_list", {**window, "name": "nightly 3"})
    assert [item["job_instance_id"] for item in named["data"]] == [ids[3]]
    empty = await wire.data(GATEWAY, "get_job_instance_list", {**window, "status": 3})
    assert (empty["total"], empty["data"]) == (0, None)


@pytest.mark.parametrize(
    ("window", "code"),
    [({"create_time_start": 1}, 1241007), ({"create_time_start": 10, "create_time_end": 5}, 1241007),
     ({"create_time_start": 1, "create_time_end": 31 * 86_400_000}, 1241002)],
)  # fmt: skip
async def test_job_history_needs_a_window_of_30_days_at_most(wire, window, code):
    reply = await wire.call(JOBV3, "get_job_instance_list", window)
    assert reply.json["code"] == code
