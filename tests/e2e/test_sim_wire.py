"""Wire shapes per API generation, envelopes, methods, auth and parameter errors, against the spec."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from bkjob_async.config import Scope
from bkjob_async.models.enums import HostStatus, StepType
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

from .conftest import ALL_FLAVORS, APP, GATEWAY, JOBV3, SCOPE, V2, Wire

H = HostStatus
V2_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
MIXED = [
    HostPlan(tag="a"),
    HostPlan(tag="b"),
    HostPlan(tag="a"),
    HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=3),
    HostPlan(outcome=H.TASK_TIMEOUT),
]


async def _finished_job(sim: BkJobSimulator, hosts: object = 2) -> int:
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=hosts), StepPlan(StepType.MANUAL_CONFIRM)])
    sim.advance(10)
    return job_id


# -- job status -------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", [GATEWAY, JOBV3])
async def test_v3_job_status_speaks_epoch_ms_and_opt_in_host_rows(sim, wire, flavor):
    job_id = await _finished_job(sim)
    data = await wire.job_status(flavor, job_id)
    assert list(data) == ["finished", "job_instance", "step_instance_list"]
    assert data["finished"] is False  # waiting at the confirmation (7)
    job = data["job_instance"]
    assert job == {
        "bk_biz_id": 2,
        "bk_scope_type": "biz",
        "bk_scope_id": "2",
        "job_instance_id": job_id,
        "status": 7,
        "name": f"sim-job-{job_id}",
        "create_time": sim.now_ms() - 10_000,
        "start_time": sim.now_ms() - 10_000,
        "end_time": None,
        "total_time": None,
    }
    script, confirm = data["step_instance_list"]
    assert list(script) == [
        "step_instance_id", "name", "status", "type", "execute_count", "start_time",
        "end_time", "total_time", "create_time", "step_ip_result_list",
    ]  # fmt: skip
    assert (script["status"], script["type"], script["execute_count"]) == (3, 1, 0)
    assert script["total_time"] == script["end_time"] - script["start_time"] == 2500
    row = script["step_ip_result_list"][0]
    assert list(row) == [
        "bk_host_id", "ip", "bk_cloud_id", "status", "tag", "exit_code", "error_code",
        "start_time", "end_time", "total_time",
    ]  # fmt: skip
    assert (row["status"], row["exit_code"], row["error_code"], row["total_time"]) == (
        9,
        0,
        0,
        2000,
    )
    assert confirm["type"] == 3
    assert confirm["step_ip_result_list"] == []


@pytest.mark.parametrize("flavor", [GATEWAY, JOBV3])
@pytest.mark.parametrize("asked", [False, None])
async def test_v3_host_rows_are_null_unless_asked_for(sim, wire, flavor, asked):
    job_id = await _finished_job(sim)
    params = {"job_instance_id": job_id}
    if asked is not None:
        params["return_ip_result"] = asked
    data = await wire.data(flavor, "get_job_instance_status", params)
    assert [s["step_ip_result_list"] for s in data["step_instance_list"]] == [None, None]


async def test_running_and_waiting_host_rows(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(start_delay=0), HostPlan()])])
    sim.advance(0.2)
    rows = (await wire.job_status(GATEWAY, job_id))["step_instance_list"][0]["step_ip_result_list"]
    running, waiting = rows
    assert (running["status"], running["error_code"], running["end_time"]) == (7, 115, None)
    assert running["start_time"] == sim.now_ms() - 200
    assert (waiting["status"], waiting["error_code"], waiting["start_time"]) == (5, 0, None)
    assert waiting["exit_code"] is None


async def test_v2_job_status_speaks_strings_float_seconds_and_blocks(sim, wire):
    job_id = await _finished_job(sim)
    data = await wire.job_status(V2, job_id)
    assert list(data) == ["is_finished", "job_instance", "blocks"]
    job = data["job_instance"]
    assert (job["bk_job_id"], job["start_way"], job["operator"]) == (-1, 2, "admin")
    assert job["create_time"] == "2025-01-01 08:00:00"  # virtual epoch, UTC+8, no offset
    assert job["end_time"] is None
    assert job["total_time"] is None
    step = data["blocks"][0]["step_instances"][0]
    assert (
        job["current_step_instance_id"]
        == data["blocks"][1]["step_instances"][0]["step_instance_id"]
    )
    assert (step["execute_count"], step["step_id"], step["pause"]) == (0, -1, None)
    assert step["total_time"] == 2.5
    assert all(V2_TIME.match(step[key]) for key in ("start_time", "end_time", "create_time"))
    assert [set(row) for row in step["step_ip_status"]] == [{"ip", "bk_cloud_id", "status"}] * 2
    assert "retry_count" not in step
    assert "+0800" not in json.dumps(data)


async def test_v2_times_follow_the_configured_server_timezone():
    import datetime as dt

    sim = BkJobSimulator(virtual_clock=True, server_tz=dt.timezone.utc)
    async with sim:
        job_id = sim.create_job(SCOPE, [StepPlan()])
        async with __import__("aiohttp").ClientSession() as session:
            data = await Wire(sim, session).job_status(V2, job_id)
    assert data["job_instance"]["create_time"] == "2025-01-01 00:00:00"


# -- step status ------------------------------------------------------------------------------


async def _step_status(wire: Wire, job_id: int, step_id: int, **query) -> dict:
    params = {"job_instance_id": job_id, "step_instance_id": step_id, **query}
    return await wire.data(GATEWAY, "get_step_instance_status", params)


async def test_v3_step_status_groups_hosts_by_status_and_tag(sim, wire):
    job_id = await _finished_job(sim, MIXED)
    step_id = sim.job(job_id).steps[0].step_instance_id
    data = await _step_status(wire, job_id, step_id)
    assert list(data) == [
        "step_instance_id", "execute_count", "name", "type", "status", "create_time",
        "start_time", "end_time", "total_time", "step_result_group_list",
    ]  # fmt: skip
    groups = data["step_result_group_list"]
    assert [(g["result_type"], g["tag"], g["host_size"]) for g in groups] == [
        (9, "a", 2), (9, "b", 1), (13, "", 1), (104, "", 1),
    ]  # fmt: skip
    assert groups[0]["result_type_desc"] == "执行成功"
    row = groups[3]["host_result_list"][0]
    assert list(row) == [
        "bk_host_id", "ip", "ipv6", "bk_agent_id", "bk_cloud_id", "bk_cloud_name", "status",
        "status_desc", "tag", "exit_code", "start_time", "end_time", "total_time",
    ]  # fmt: skip
    assert (row["exit_code"], row["bk_cloud_name"], row["status_desc"]) == (
        3,
        "Default Area",
        "脚本返回码非零",
    )


async def test_v3_step_status_cuts_groups_but_counts_every_host(sim, wire):
    job_id = await _finished_job(sim, 7)
    step_id = sim.job(job_id).steps[0].step_instance_id
    data = await _step_status(wire, job_id, step_id, max_host_num_per_group=3)
    (group,) = data["step_result_group_list"]
    assert (group["host_size"], len(group["host_result_list"])) == (7, 3)


async def test_v3_step_status_status_filter_keeps_rows_of_that_group_only(sim, wire):
    job_id = await _finished_job(sim, MIXED)
    step_id = sim.job(job_id).steps[0].step_instance_id
    data = await _step_status(wire, job_id, step_id, status=104)
    rows = [len(g["host_result_list"]) for g in data["step_result_group_list"]]
    assert rows == [0, 0, 0, 1]
    data = await _step_status(wire, job_id, step_id, status=9, tag="b")
    assert [len(g["host_result_list"]) for g in data["step_result_group_list"]] == [0, 1, 0, 0]


async def test_v3_step_status_search_ip(sim, wire):
    job_id = await _finished_job(sim, [HostPlan(ip="10.9.9.1"), HostPlan(ip="10.9.8.1")])
    step_id = sim.job(job_id).steps[0].step_instance_id
    data = await _step_status(wire, job_id, step_id, search_ip="10.9.9")
    (group,) = data["step_result_group_list"]
    assert [r["ip"] for r in group["host_result_list"]] == ["10.9.9.1"]
    data = await _step_status(wire, job_id, step_id, search_ip="172.16")
    assert data["step_result_group_list"][0]["host_size"] == 0


async def test_v3_step_status_of_a_step_not_started_lists_placeholders(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=3)], start=False)
    step_id = sim.job(job_id).steps[0].step_instance_id
    (group,) = (await _step_status(wire, job_id, step_id))["step_result_group_list"]
    assert (group["result_type"], group["tag"], group["host_size"]) == (5, None, 3)
    row = group["host_result_list"][0]
    assert (row["status"], row["exit_code"], row["total_time"], row["tag"]) == (5, 0, 0, None)


async def test_v3_step_status_of_a_rolling_step_defaults_to_the_latest_batch(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=5, rolling_batch_size=2)])
    sim.advance(2.8)  # batch 1 done, batch 2 started (after 0.2 s at status 15)
    step_id = sim.job(job_id).steps[0].step_instance_id
    latest = await _step_status(wire, job_id, step_id)
    every = await _step_status(wire, job_id, step_id, batch=0)
    first = await _step_status(wire, job_id, step_id, batch=1)

    def sizes(data: dict) -> list[tuple[int, int]]:
        return [(g["result_type"], g["host_size"]) for g in data["step_result_group_list"]]

    assert sizes(latest) == [(5, 2)]
    assert sizes(every) == [(5, 3), (9, 2)]
    assert sizes(first) == [(9, 2)]


async def test_step_status_of_a_manual_confirmation_is_unsupported(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(StepType.MANUAL_CONFIRM)])
    step_id = sim.job(job_id).steps[0].step_instance_id
    params = {"job_instance_id": job_id, "step_instance_id": step_id}
    for flavor in (GATEWAY, V2):
        reply = await wire.call(flavor, "get_step_instance_status", params)
        assert reply.json["code"] == 1241003


async def test_step_status_during_the_retry_lag_has_no_groups(sim, wire):
    job_id = await _finished_job(sim, [HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE)])
    step_id = sim.job(job_id).steps[0].step_instance_id
    (await wire.operate(GATEWAY, job_id, step_id, 2)).ok()
    data = await _step_status(wire, job_id, step_id)
    assert (data["status"], data["execute_count"]) == (4, 1)
    assert "step_result_group_list" not in data


async def test_v2_step_status_reads_top_level_ids_and_lists_the_first_group_only(sim, wire):
    job_id = await _finished_job(sim, MIXED)
    step = sim.job(job_id).steps[0]
    params = {"job_instance_id": job_id, "step_instance_id": step.step_instance_id}
    data = await wire.data(V2, "get_step_instance_status", params)
    assert list(data) == ["is_finished", "step_instance_detail", "step_instance_analyse_result"]
    detail = data["step_instance_detail"]
    assert detail["target_ips"] == ",".join(f"0:{h.ip}" for h in step.hosts or ())
    assert (detail["job_instance_id"], detail["execute_count"], detail["status"]) == (job_id, 0, 4)
    assert detail["abnormal_agent_ips"] is None
    assert detail["success_ip_num"] is None
    assert V2_TIME.match(detail["start_time"])
    assert isinstance(detail["total_time"], float)
    first, *rest = data["step_instance_analyse_result"]
    assert list(first) == ["result_type", "result_type_text", "count", "ip_list"]
    assert (first["result_type"], first["count"], len(first["ip_list"])) == (9, 2, 2)
    assert [(g["result_type"], g["count"], "ip_list" in g) for g in rest] == [
        (9, 0, False), (13, 0, False), (104, 0, False),
    ]  # fmt: skip
    nested = await wire.call(V2, "get_step_instance_status", {"params": params})
    assert nested.json["code"] == 1241007  # 3.x does not read the documented params{} nesting


# -- envelopes --------------------------------------------------------------------------------


async def test_gateway_envelope_is_jacksons_and_carries_a_fresh_job_request_id(sim, wire):
    job_id = await _finished_job(sim)
    first = await wire.call(GATEWAY, "get_job_instance_status", {"job_instance_id": job_id})
    second = await wire.call(GATEWAY, "get_job_instance_status", {"job_instance_id": job_id})
    assert list(first.json) == ["code", "result", "job_request_id", "data"]
    assert first.body.startswith(b'{"code":0,"result":true,"job_request_id":"')
    assert re.fullmatch(r"[0-9a-f]{32}", first.json["job_request_id"])
    assert first.json["job_request_id"] != second.json["job_request_id"]
    assert first.json["data"] == second.json["data"]
    assert uuid.UUID(first.headers["X-Bkapi-Request-Id"]).version == 4


@pytest.mark.parametrize("flavor", [JOBV3, V2])
async def test_esb_envelope_adds_request_id_and_message(sim, wire, flavor):
    job_id = await _finished_job(sim)
    reply = await wire.call(flavor, "get_job_instance_status", {"job_instance_id": job_id})
    assert list(reply.json) == ["code", "result", "job_request_id", "data", "request_id", "message"]
    assert reply.body.startswith(b'{"code": 0, "result": true, ')
    assert reply.json["message"] == ""
    assert reply.json["request_id"] != reply.json["job_request_id"]
    assert "X-Bkapi-Request-Id" not in reply.headers


async def test_business_errors_arrive_at_http_200_with_bk_jobs_fields(sim, wire):
    gateway = await wire.call(GATEWAY, "get_job_instance_status", {"job_instance_id": 999})
    assert gateway.status == 200
    assert list(gateway.json) == ["code", "result", "job_request_id", "message"]
    assert (gateway.json["code"], gateway.json["message"]) == (1244006, "作业实例不存在")
    esb = await wire.call(JOBV3, "get_job_instance_status", {"job_instance_id": 999})
    assert list(esb.json) == ["code", "result", "job_request_id", "message", "request_id", "data"]
    assert esb.json["data"] is None


async def test_the_language_header_switches_messages_and_status_texts(sim, wire):
    reply = await wire.call(
        GATEWAY,
        "get_job_instance_status",
        {"job_instance_id": 999},
        headers={"Blueking-Language": "en"},
    )
    assert reply.json["message"] == "Task instance does not exist"


async def test_unchanged_jobs_are_served_from_the_cached_body(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=3)])
    bodies = [
        await wire.call(GATEWAY, "get_job_instance_status", {"job_instance_id": job_id})
        for _ in range(3)
    ]
    stats = sim.statistics()
    assert (stats.cache_misses, stats.cache_hits) == (1, 2)
    assert len({json.dumps(b.json["data"]) for b in bodies}) == 1
    sim.advance(0.5)  # the hosts start running: a new version of the job
    changed = await wire.call(
        GATEWAY, "get_job_instance_status", {"job_instance_id": job_id, "return_ip_result": True}
    )
    assert sim.statistics().cache_misses == 2
    assert {r["status"] for r in changed.data["step_instance_list"][0]["step_ip_result_list"]} == {
        7
    }


async def test_the_gateway_keeps_utf8_and_the_esb_escapes_it(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan()], name="部署作业")
    gateway = await wire.call(GATEWAY, "get_job_instance_status", {"job_instance_id": job_id})
    esb = await wire.call(JOBV3, "get_job_instance_status", {"job_instance_id": job_id})
    assert "部署作业".encode() in gateway.body
    assert b"\\u90e8\\u7f72" in esb.body
    assert gateway.json["data"]["job_instance"]["name"] == esb.json["data"]["job_instance"]["name"]


# -- routes and methods -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "method"),
    [
        ("get_job_instance_status", "POST"),
        ("get_step_instance_status", "POST"),
        ("get_job_instance_list", "POST"),
        ("operate_step_instance", "GET"),
        ("fast_execute_script", "GET"),
        ("no_such_api", "GET"),
    ],
)
async def test_the_gateway_answers_the_wrong_method_with_api_not_found(wire, api, method):
    reply = await wire.call(GATEWAY, api, {"job_instance_id": 1}, method=method)
    assert reply.status == 404
    assert reply.headers["X-Bkapi-Error-Code"] == "1640401"
    assert reply.json == {
        "code_name": "API_NOT_FOUND",
        "message": "API not found",
        "result": False,
        "data": None,
        "code": 1640401,
    }


async def test_the_gateway_also_serves_its_stage_and_system_paths(sim, wire):
    job_id = await _finished_job(sim)
    auth = {"X-Bkapi-Authorization": json.dumps(APP)}
    query = {"bk_scope_type": "biz", "bk_scope_id": "2", "job_instance_id": str(job_id)}
    for path in (
        "/api/bk-job/prod/api/v3/get_job_instance_status",
        "/api/v3/system/get_job_instance_status",
    ):
        async with wire.session.get(sim.url + path, params=query, headers=auth) as response:
            assert (await response.json())["data"]["job_instance"]["job_instance_id"] == job_id
    async with wire.session.get(
        sim.url + "/api/v3/get_job_instance_status/", params=query, headers=auth
    ) as response:
        assert response.status == 404


@pytest.mark.parametrize("flavor", [JOBV3, V2])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_esb_accepts_get_and_post(sim, wire, flavor, method):
    job_id = await _finished_job(sim)
    reply = await wire.call(
        flavor, "get_job_instance_status", {"job_instance_id": job_id}, method=method
    )
    assert reply.data is not None


async def test_the_esb_has_no_jobv3_step_status_and_no_other_methods(wire):
    for flavor, api, method in [
        (JOBV3, "get_step_instance_status", "POST"),
        (V2, "get_job_instance_status", "PUT"),
    ]:
        reply = await wire.call(flavor, api, {}, method=method)
        assert reply.status == 404
        assert reply.json == {
            "result": False,
            "data": None,
            "message": "The content does not exist",
        }


# -- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "app code cannot be empty"),
        ("not json", "request header X-Bkapi-Authorization is not a valid JSON"),
        ('{"bk_app_code": "x"}', "please provide bk_app_secret or bk_signature to verify app"),
        ('{"bk_app_code": "x", "bk_app_secret": "y"}', "user authentication failed"),
    ],
)
async def test_the_gateway_checks_the_authorization_header_only(wire, header, reason):
    headers = {} if header is None else {"X-Bkapi-Authorization": header}
    reply = await wire.call(
        GATEWAY,
        "get_job_instance_status",
        {**APP, "job_instance_id": 1},
        auth=None,
        headers=headers,
    )
    assert reply.status == 400
    assert reply.headers["X-Bkapi-Error-Code"] == "1640001"
    assert reply.json["code_name"] == "INVALID_ARGS"
    assert reason in reply.json["message"]


async def test_configured_apps_must_match():
    sim = BkJobSimulator(virtual_clock=True, apps={"good": "secret"})
    async with sim, __import__("aiohttp").ClientSession() as session:
        wire = Wire(sim, session)
        wrong_secret = {"bk_app_code": "good", "bk_app_secret": "nope", "bk_username": "u"}
        unknown_app = {"bk_app_code": "evil", "bk_app_secret": "x", "bk_username": "u"}
        for auth, flavor, text in [
            (wrong_secret, GATEWAY, "incorrect"),
            (unknown_app, GATEWAY, "app not found"),
            (wrong_secret, JOBV3, "verification failed"),
            (unknown_app, V2, "Invalid APP Code"),
        ]:
            reply = await wire.call(
                flavor, "get_job_instance_status", {"job_instance_id": 1}, auth=auth
            )
            assert text in reply.json["message"], (flavor, reply.json)
        good = {"bk_app_code": "good", "bk_app_secret": "secret", "bk_username": "u"}
        reply = await wire.call(
            GATEWAY, "get_job_instance_status", {"job_instance_id": 1}, auth=good
        )
        assert reply.json["code"] == 1244006


@pytest.mark.parametrize("flavor", [JOBV3, V2])
async def test_the_esb_reads_auth_from_the_header_or_the_parameters(sim, wire, flavor):
    job_id = await _finished_job(sim)
    params = {"job_instance_id": job_id}
    from_header = await wire.call(
        flavor,
        "get_job_instance_status",
        params,
        auth=None,
        headers={"X-Bkapi-Authorization": json.dumps(APP)},
    )
    from_body = await wire.call(flavor, "get_job_instance_status", params)
    assert from_header.data == from_body.data
    missing = await wire.call(flavor, "get_job_instance_status", params, auth=None)
    assert (missing.status, missing.json["result"], missing.json["code"]) == (200, False, 1306000)
    assert list(missing.json) == ["result", "code", "data", "message", "request_id"]
    no_user = {"bk_app_code": "a", "bk_app_secret": "b"}
    assert (
        "User authentication failed"
        in (await wire.call(flavor, "get_job_instance_status", params, auth=no_user)).json[
            "message"
        ]
    )
    broken = await wire.call(
        flavor, "get_job_instance_status", params, auth=None, headers={"X-Bkapi-Authorization": "{"}
    )
    assert broken.json == {
        "result": False,
        "code": 1306406,
        "data": None,
        "message": "Parameters error, request header X-Bkapi-Authorization is not a valid JSON format string",
    }


# -- parameters -------------------------------------------------------------------------------


async def test_parameter_errors_per_flavor(sim, wire):
    missing_get = await wire.call(GATEWAY, "get_job_instance_status", {})
    not_a_number = await wire.call(GATEWAY, "get_job_instance_status", {"job_instance_id": "abc"})
    missing_post = await wire.call(JOBV3, "get_job_instance_status", {})
    zero = await wire.call(V2, "get_job_instance_status", {"job_instance_id": 0})
    no_scope = await wire.call(
        JOBV3, "get_job_instance_status", {"job_instance_id": 1}, scoped=False
    )
    bad_scope = await wire.call(
        JOBV3,
        "get_job_instance_status",
        {"bk_scope_type": "app", "bk_scope_id": "2", "job_instance_id": 1},
    )
    assert [r.json["code"] for r in (missing_get, not_a_number, missing_post, zero, no_scope, bad_scope)] == [
        1240003, 1240003, 1241007, 1241007, 1240003, 1240003,
    ]  # fmt: skip
    assert missing_post.json["message"] == "请求参数[job_instance_id]缺失或不合法"


async def test_a_gateway_post_body_that_is_not_json_is_a_bad_request(sim, wire):
    auth = {"X-Bkapi-Authorization": json.dumps(APP)}
    async with wire.session.post(
        sim.url + "/api/v3/operate_job_instance", data=b"{", headers=auth
    ) as response:
        assert (await response.json())["code"] == 1240003


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_the_legacy_bk_biz_id_selects_a_business_or_a_business_set(sim, wire, flavor):
    biz_set = sim.create_job(Scope.biz_set(9_000_001), [StepPlan()])
    biz = sim.create_job(Scope.biz(2), [StepPlan()])
    for job_id, biz_id in ((biz_set, 9_000_001), (biz, 2)):
        params = {"bk_biz_id": biz_id, "job_instance_id": job_id}
        data = (
            await wire.data(flavor, "get_job_instance_status", params)
            if flavor is V2
            else (await wire.call(flavor, "get_job_instance_status", params, scoped=False)).data
        )
        assert data["job_instance"]["bk_biz_id"] == biz_id
