"""The simulator alone, over raw HTTP, against spec §7 (issue 9, points 7-13): no client code.

Each test sends what a caller of one flavor sends and checks the answer bk-job's Java source
gives, so that the simulator's fidelity does not rest on the client agreeing with it.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from bkjob_async.models.enums import HostStatus, StepType
from bkjob_async.testing import BkJobSimulator, Fault, HostPlan, StepPlan

from .conftest import ALL_FLAVORS, APP, GATEWAY, JOBV3, LAG, SCOPE, V2, V3_FLAVORS, Wire

H = HostStatus
SCRIPT = base64.b64encode(b"echo hi").decode()


def _script(flavor, targets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Return a ``fast_execute_script`` body of ``flavor`` with the given target fields."""
    if flavor is V2:
        return {"script_content": SCRIPT, "account": "root", **targets, **extra}
    return {
        "script_content": SCRIPT,
        "script_language": 1,
        "account_alias": "root",
        **targets,
        **extra,
    }


def _hosts_of(sim: BkJobSimulator, data: dict) -> list[tuple[int | None, str]]:
    step = sim.job(data["job_instance_id"]).steps[0]
    return [(h.bk_host_id, h.ip) for h in step.hosts or ()]


def _steps(data: dict) -> list[dict]:
    if "blocks" in data:
        return [block["step_instances"][0] for block in data["blocks"]]
    return data["step_instance_list"]


# -- point 8: targets exactly as bk-job reads them (§7.1-7.3, §7.7) ---------------------------


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_v3_host_id_list_wins_over_ip_list(sim, wire, flavor):
    server = {"host_id_list": [1001], "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.9"}]}
    data = await wire.data(
        flavor, "fast_execute_script", _script(flavor, {"target_server": server})
    )
    assert _hosts_of(sim, data) == [(1001, "10.0.0.1")]  # 10.0.0.9 is silently dropped


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_v3_ip_list_alone_is_read(sim, wire, flavor):
    server = {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.9"}]}
    data = await wire.data(
        flavor, "fast_execute_script", _script(flavor, {"target_server": server})
    )
    assert _hosts_of(sim, data) == [(1009, "10.0.0.9")]


async def test_v2_rows_without_ip_are_an_internal_error(sim, wire):
    rows = [{"bk_host_id": 1001, "bk_cloud_id": 0}]
    for body in ({"ip_list": rows}, {"target_server": {"ip_list": rows}}):
        reply = (await wire.call(V2, "fast_execute_script", _script(V2, body))).json
        assert (reply["result"], reply["code"]) == (False, 1240002)
    source = {"files": ["/a"], "account": "root", "ip_list": rows}
    push = {"file_source": [source], "file_target_path": "/tmp/", "account": "root"}
    target = {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
    reply = (await wire.call(V2, "fast_push_file", {**push, **target})).json
    assert reply["code"] == 1240002  # trimIps runs over the file sources' rows too
    assert sim.job_ids() == []


async def test_v2_reads_only_target_server_when_it_is_present(sim, wire):
    body = {
        "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.7"}],
        "custom_query_id": ["ignored-group"],
        "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.3"}]},
    }
    data = await wire.data(V2, "fast_execute_script", _script(V2, body))
    assert _hosts_of(sim, data) == [(1003, "10.0.0.3")]


async def test_v2_target_server_names_dynamic_groups_dynamic_group_id_list(sim, wire):
    alone = await wire.data(V2, "fast_execute_script", _script(V2, {"custom_query_id": ["g1"]}))
    inside = await wire.data(
        V2,
        "fast_execute_script",
        _script(V2, {"target_server": {"dynamic_group_id_list": ["g1"]}}),
    )
    assert len(_hosts_of(sim, alone)) == 3
    assert _hosts_of(sim, inside) == _hosts_of(sim, alone)


async def test_v2_without_target_server_reads_the_top_level_ip_list(sim, wire):
    body = {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.7"}]}
    data = await wire.data(V2, "fast_execute_script", _script(V2, body))
    assert _hosts_of(sim, data) == [(1007, "10.0.0.7")]


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_ipv6_in_ip_list_is_a_bad_request(sim, wire, flavor):
    rows = [{"bk_cloud_id": 0, "ip": "fd00::1"}]
    reply = (
        await wire.call(
            flavor, "fast_execute_script", _script(flavor, {"target_server": {"ip_list": rows}})
        )
    ).json
    assert (reply["result"], reply["code"]) == (False, 1240003)
    assert sim.job_ids() == []


# -- point 9: operations are asynchronous (§7.9) ----------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_confirm_continue_answers_with_the_job_running_and_the_step_still_waiting(
    sim, wire, flavor
):
    job_id = sim.create_job(SCOPE, [StepPlan(StepType.MANUAL_CONFIRM), StepPlan(hosts=1)])
    step_id = sim.job(job_id).steps[0].step_instance_id
    (await wire.operate(flavor, job_id, step_id, 6)).ok()
    right_after = await wire.job_status(flavor, job_id)
    job = right_after["job_instance"]
    assert (job["status"], [s["status"] for s in _steps(right_after)]) == (2, [7, 1])
    sim.advance(LAG)
    later = await wire.job_status(flavor, job_id)
    assert [s["status"] for s in _steps(later)] == [3, 2]


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_terminate_answers_before_the_job_stops(sim, wire, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1, duration=60)])
    (await wire.operate_job(flavor, job_id, 1)).ok()
    right_after = await wire.job_status(flavor, job_id)
    assert right_after["job_instance"]["status"] == 2
    sim.advance(LAG)
    stopping = await wire.job_status(flavor, job_id)
    assert stopping["job_instance"]["status"] == 10
    sim.advance(1.0)
    assert (await wire.job_status(flavor, job_id))["job_instance"]["status"] == 11


@pytest.mark.parametrize(
    ("code", "state_plan", "job_now", "step_now", "step_later"),
    [
        (3, [StepPlan(hosts=[HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE)]), StepPlan()], 2, 4, 6),
        (9, [StepPlan(StepType.MANUAL_CONFIRM)], 7, 7, 13),
    ],
)
async def test_the_step_changes_one_lag_after_the_answer(
    sim, wire, code, state_plan, job_now, step_now, step_later
):
    job_id = sim.create_job(SCOPE, state_plan)
    sim.advance(10)
    step_id = sim.job(job_id).steps[0].step_instance_id
    (await wire.operate(GATEWAY, job_id, step_id, code)).ok()
    now = await wire.job_status(GATEWAY, job_id)
    assert (now["job_instance"]["status"], _steps(now)[0]["status"]) == (job_now, step_now)
    sim.advance(LAG / 2)
    assert _steps(await wire.job_status(GATEWAY, job_id))[0]["status"] == step_now
    sim.advance(LAG / 2)
    assert _steps(await wire.job_status(GATEWAY, job_id))[0]["status"] == step_later


async def test_the_operation_lag_is_configurable_and_repeatable_with_the_seed():
    async def lags(seed: int) -> list[int]:
        found = []
        async with (
            BkJobSimulator(seed=seed, virtual_clock=True, operation_lag=(0.1, 0.9)) as sim,
            aiohttp.ClientSession() as session,
        ):
            wire = Wire(sim, session)
            for _ in range(4):
                job_id = sim.create_job(SCOPE, [StepPlan(StepType.MANUAL_CONFIRM)])
                step_id = sim.job(job_id).steps[0].step_instance_id
                (await wire.operate(GATEWAY, job_id, step_id, 6)).ok()
                waited = 0
                while _steps(await wire.job_status(GATEWAY, job_id))[0]["status"] == 7:
                    sim.advance(0.01)
                    waited += 10
                found.append(waited)
        return found

    first, again, other = await lags(1), await lags(1), await lags(2)
    assert first == again
    assert first != other
    assert all(100 <= lag <= 900 for lag in first + other)


# -- point 10: rolling steps (§7.6, §7.10) ----------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_rolling_step_reports_15_between_batches(sim, wire, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=4, rolling_batch_size=2)])
    sim.advance(2.5)  # batch 1 (0.5 s wait + 2 s run) just ended
    between = await wire.job_status(flavor, job_id)
    assert (between["job_instance"]["status"], _steps(between)[0]["status"]) == (2, 15)
    sim.advance(LAG)
    assert _steps(await wire.job_status(flavor, job_id))[0]["status"] == 2


async def test_gateway_step_status_batches_are_numbered_from_1_and_0_means_all(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=5, rolling_batch_size=2)])
    sim.advance(2.5 + LAG + 0.1)  # batch 2 started, its hosts still waiting
    step_id = sim.job(job_id).steps[0].step_instance_id
    base = {"job_instance_id": job_id, "step_instance_id": step_id}

    async def hosts(**query: Any) -> list[tuple[int, int]]:
        data = await wire.data(GATEWAY, "get_step_instance_status", {**base, **query})
        return [
            (row["bk_host_id"], row["status"])
            for group in data.get("step_result_group_list") or ()
            for row in group["host_result_list"] or ()
        ]

    ids = [h.bk_host_id for h in sim.job(job_id).steps[0].hosts or ()]
    assert sorted(await hosts()) == [(ids[2], 5), (ids[3], 5)]  # the latest batch only
    assert sorted(await hosts(batch=1)) == [(ids[0], 9), (ids[1], 9)]
    assert sorted(h for h, _ in await hosts(batch=0)) == sorted(ids)
    assert [status for _, status in await hosts(batch=3)] == [5]
    assert await hosts(batch=4) == []


async def test_v2_step_status_covers_every_batch(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=4, rolling_batch_size=2)])
    sim.advance(2.5 + LAG + 0.1)
    step_id = sim.job(job_id).steps[0].step_instance_id
    data = await wire.data(
        V2, "get_step_instance_status", {"job_instance_id": job_id, "step_instance_id": step_id}
    )
    groups = data["step_instance_analyse_result"]
    assert [g["result_type"] for g in groups] == [5, 9]  # waiting (batch 2) and done (batch 1)
    assert groups[0]["count"] == 2
    assert (groups[1]["count"], "ip_list" in groups[1]) == (0, False)  # emptied (§7.5)


# -- point 11: gateway 429 (§7.11) ------------------------------------------------------------


async def test_a_gateway_429_has_only_the_rate_limit_headers(sim, wire):
    sim.inject(Fault.rate_limited())
    reply = await wire.call(GATEWAY, "get_job_instance_status", {"job_instance_id": 1})
    assert reply.status == 429
    assert "Retry-After" not in reply.headers
    assert {k for k in reply.headers if k.startswith("X-Bkapi-RateLimit-")} == {
        "X-Bkapi-RateLimit-Limit",
        "X-Bkapi-RateLimit-Remaining",
        "X-Bkapi-RateLimit-Reset",
        "X-Bkapi-RateLimit-Plugin",
    }
    sim.inject(Fault.rate_limited(retry_after=2))
    asked = await wire.call(GATEWAY, "get_job_instance_status", {"job_instance_id": 1})
    assert (asked.status, asked.headers["Retry-After"]) == (429, "2")


# -- point 12: validations and codes (§7.4, §7.12, §7.13) -------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_timeouts_up_to_72_hours(sim, wire, flavor):
    key = "script_timeout" if flavor is V2 else "timeout"
    target = {"target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}}
    longest = await wire.call(
        flavor, "fast_execute_script", _script(flavor, target, **{key: 259200})
    )
    too_long = await wire.call(
        flavor, "fast_execute_script", _script(flavor, target, **{key: 259201})
    )
    assert longest.json["result"] is True
    assert (too_long.json["result"], too_long.json["code"]) == (False, 1240003)


async def test_v3_step_status_needs_the_scope_not_bk_biz_id(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan()])
    step_id = sim.job(job_id).steps[0].step_instance_id
    ids = {"job_instance_id": job_id, "step_instance_id": step_id}
    by_biz = await wire.call(
        GATEWAY, "get_step_instance_status", {"bk_biz_id": 2, **ids}, scoped=False
    )
    by_scope = await wire.call(GATEWAY, "get_step_instance_status", ids)
    assert by_biz.json["code"] == 1240003
    assert by_scope.json["result"] is True


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_ip_log_has_no_execute_count_and_reads_the_current_round(sim, wire, flavor):
    fixes = HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE, retry_outcomes=(H.SUCCESS,))
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[fixes])])
    sim.advance(10)
    step = sim.job(job_id).steps[0]
    (await wire.operate(flavor, job_id, step.step_instance_id, 2)).ok()
    sim.advance(10)
    ids = {
        "job_instance_id": job_id,
        "step_instance_id": step.step_instance_id,
        "bk_host_id": step.hosts[0].bk_host_id,
    }
    current = await wire.data(flavor, "get_job_instance_ip_log", ids)
    asked_old = await wire.data(flavor, "get_job_instance_ip_log", {**ids, "execute_count": 0})
    assert asked_old == current
    assert "status 9" in current["log_content"]


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_script_content_needs_script_language(sim, wire, flavor):
    body = _script(flavor, {"target_server": {"host_id_list": [1001]}})
    del body["script_language"]
    reply = (await wire.call(flavor, "fast_execute_script", body)).json
    assert (reply["code"], "script_language" in reply["message"]) == (1241005, True)


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
@pytest.mark.parametrize(
    ("target_path", "source_path", "ok"),
    [
        ("/tmp/", "/data/a.tgz", True),
        ("C:\\temp\\", "D:/data/a.zip", True),
        ("/tmp/${dir}/", "/data/[date]/a.tgz", True),
        ("tmp/", "/data/a.tgz", False),
        ("/tmp/", "data/a.tgz", False),
    ],
)
async def test_file_paths_must_be_absolute(sim, wire, flavor, target_path, source_path, ok):
    host = {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
    if flavor is V2:
        api = "fast_push_file"
        body = {
            "file_target_path": target_path,
            "file_source": [{"files": [source_path], "account": "root", **host}],
            "account": "root",
            **host,
        }
    else:
        api = "fast_transfer_file"
        body = {
            "file_target_path": target_path,
            "file_source_list": [
                {"file_list": [source_path], "account": {"alias": "root"}, "server": host}
            ],
            "account_alias": "root",
            "target_server": host,
        }
    reply = (await wire.call(flavor, api, body)).json
    assert reply["result"] is ok
    if not ok:  # (FilePathValidateUtil's refusals name their field)
        files = "file_source.files" if flavor is V2 else "file_source.file_list"
        code, field = (1241007, "file_target_path") if target_path == "tmp/" else (1241005, files)
        assert (reply["code"], field in reply["message"]) == (code, True)


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://cb.example.com/done", True),
        ("https://cb.example.com:8443/done?x=1", True),
        ("ftp://cb.example.com/done", False),
        ("https://user:pass@cb.example.com/done", False),
        ("cb.example.com/done", False),
    ],
)
async def test_callback_urls_are_http_without_user_info(sim, wire, flavor, url, ok):
    key = "bk_callback_url" if flavor is V2 else "callback_url"
    target = {"target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}}
    reply = (
        await wire.call(flavor, "fast_execute_script", _script(flavor, target, **{key: url}))
    ).json
    assert reply["result"] is ok
    if not ok:
        assert reply["code"] == 1240003


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_the_error_codes_of_section_7_13(sim, wire, flavor):
    bad_plan = await wire.call(flavor, "execute_job_plan", {"job_plan_id": 0})
    push = {
        "file_source_list": [
            {"file_list": ["/a"], "account": {"alias": "root"}, "server": {"host_id_list": [1001]}}
        ],
        "account_alias": "root",
    }
    no_path = await wire.call(
        flavor, "fast_transfer_file", {**push, "target_server": {"host_id_list": [1001]}}
    )
    empty_target = await wire.call(
        flavor, "fast_transfer_file", {**push, "file_target_path": "/tmp/", "target_server": {}}
    )
    rolling = await wire.call(
        flavor,
        "fast_execute_script",
        _script(
            flavor,
            {"target_server": {"host_id_list": [1001]}},
            rolling_config={"expression": "x", "mode": 1},
        ),
    )
    job_id = sim.create_job(SCOPE, [StepPlan()])
    unknown_step = {"job_instance_id": job_id, "step_instance_id": 999999, "bk_host_id": 1001}
    log = await wire.call(flavor, "get_job_instance_ip_log", unknown_step)
    batch = await wire.call(
        flavor, "batch_get_job_instance_ip_log", {**unknown_step, "host_id_list": [1001]}
    )
    codes = [r.json["code"] for r in (bad_plan, no_path, empty_target, rolling, log, batch)]
    assert codes == [1241005, 1241007, 1241004, 1240003, 1244006, 1244006]


# -- point 12: who may confirm (§7.14) --------------------------------------------------------


@pytest.mark.parametrize(
    ("users", "roles", "operator", "allowed"),
    [
        ((), (), "alice", True),
        (("bob",), (), "alice", True),  # no confirm role: anyone may confirm
        (("bob",), ("OPS",), "alice", False),
        (("alice",), ("OPS",), "alice", True),
        ((), ("JOB_RESOURCE_TRIGGER_USER",), "alice", True),  # alice launched the job
        ((), ("JOB_RESOURCE_TRIGGER_USER",), "carol", False),
    ],
)
async def test_confirm_users_and_roles(sim, wire, users, roles, operator, allowed):
    plan = StepPlan(StepType.MANUAL_CONFIRM, confirm_users=users, confirm_roles=roles)
    job_id = sim.create_job(SCOPE, [plan], operator="alice")
    step_id = sim.job(job_id).steps[0].step_instance_id
    auth = {**APP, "bk_username": operator}
    params = {"job_instance_id": job_id, "step_instance_id": step_id, "operation_code": 6}
    reply = (await wire.call(GATEWAY, "operate_step_instance", params, auth=auth)).json
    assert reply["result"] is allowed
    if not allowed:
        assert reply["code"] == 1244016


# -- point 12: log shapes (§7.15) -------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_a_blank_script_log_is_null(sim, wire, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=2, start_delay=30)])
    step = sim.job(job_id).steps[0]
    ids = {"job_instance_id": job_id, "step_instance_id": step.step_instance_id}
    one = await wire.data(
        flavor, "get_job_instance_ip_log", {**ids, "bk_host_id": step.hosts[0].bk_host_id}
    )
    batch = await wire.data(
        flavor,
        "batch_get_job_instance_ip_log",
        {**ids, "host_id_list": [h.bk_host_id for h in step.hosts]},
    )
    assert one["log_content"] is None
    # hosts logsvr has no log for are left out, and no list at all when none has one
    # (EsbBatchGetJobInstanceIpLogV3ResourceImpl.buildScriptLogs)
    assert batch["script_task_logs"] is None


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_a_batch_log_takes_ipv4_addresses_only_by_cloud_and_ip(sim, wire, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(ip="10.0.0.7", ipv6="fe80::7")])])
    sim.advance(60)  # (a host with no log yet is left out of the answer)
    step = sim.job(job_id).steps[0]
    ids = {"job_instance_id": job_id, "step_instance_id": step.step_instance_id}
    by_ipv4 = [{"bk_cloud_id": 0, "ip": "10.0.0.7"}]
    data = await wire.data(flavor, "batch_get_job_instance_ip_log", {**ids, "ip_list": by_ipv4})
    assert [row["ip"] for row in data["script_task_logs"]] == ["10.0.0.7"]
    by_ipv6 = [{"bk_cloud_id": 0, "ip": "fe80::7"}]
    reply = await wire.call(flavor, "batch_get_job_instance_ip_log", {**ids, "ip_list": by_ipv6})
    assert (reply.json["result"], reply.json["code"]) == (False, 1240003)  # OpenApiHostDTO
    by_id = [{"bk_host_id": step.hosts[0].bk_host_id, "ip": "fe80::7"}]  # (ip not read)
    data = await wire.data(flavor, "batch_get_job_instance_ip_log", {**ids, "ip_list": by_id})
    assert len(data["script_task_logs"]) == 1


async def test_v2_job_log_of_a_waiting_host_is_null(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1, start_delay=30)])
    data = await wire.data(V2, "get_job_instance_log", {"job_instance_id": job_id})
    (row,) = data[0]["step_results"][0]["ip_logs"]
    assert row["log_content"] is None


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_a_file_hosts_ip_log_includes_the_source_hosts_uploads(sim, wire, flavor):
    sources = {"host_id_list": [1005, 1006]}
    body = {
        "file_target_path": "/tmp/",
        "file_source_list": [
            {"file_list": ["/a"], "account": {"alias": "root"}, "server": sources}
        ],
        "account_alias": "root",
        "target_server": {"host_id_list": [1001]},
    }
    launched = await wire.data(flavor, "fast_transfer_file", body)
    sim.advance(10)
    ids = {
        "job_instance_id": launched["job_instance_id"],
        "step_instance_id": launched["step_instance_id"],
    }
    data = await wire.data(flavor, "get_job_instance_ip_log", {**ids, "bk_host_id": 1001})
    rows = [
        (r["mode"], r["src_ip"]["bk_host_id"], (r["dest_ip"] or {}).get("bk_host_id"))
        for r in data["file_logs"]
    ]
    assert rows == [(1, 1005, 1001), (1, 1006, 1001), (0, 1005, None), (0, 1006, None)]
    batch = await wire.data(
        flavor, "batch_get_job_instance_ip_log", {**ids, "host_id_list": [1001]}
    )
    assert [r["mode"] for r in batch["file_task_logs"][0]["file_logs"]] == [1, 1]  # downloads


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_batch_file_logs_hold_all_null_rows_for_hosts_without_file_logs(sim, wire, flavor):
    job_id = sim.create_job(
        SCOPE, [StepPlan(StepType.FILE, hosts=[HostPlan(), HostPlan(start_delay=60)])]
    )
    sim.advance(10)
    step = sim.job(job_id).steps[0]
    ids = {"job_instance_id": job_id, "step_instance_id": step.step_instance_id}
    data = await wire.data(
        flavor,
        "batch_get_job_instance_ip_log",
        {**ids, "host_id_list": [h.bk_host_id for h in step.hosts]},
    )
    started, waiting = data["file_task_logs"]
    assert started["bk_host_id"] == step.hosts[0].bk_host_id
    assert waiting == {"bk_host_id": None, "bk_cloud_id": None, "ip": None, "file_logs": None}


# -- points 6 and 12: the ESB's wrong-secret answer (§7.16) -----------------------------------


@pytest.mark.parametrize("flavor", [JOBV3, V2])
async def test_the_esb_refuses_a_wrong_secret_or_app_with_its_real_message(flavor):
    async with (
        BkJobSimulator(apps={"sim-app": "sim-secret"}) as sim,
        aiohttp.ClientSession() as session,
    ):
        wire = Wire(sim, session)
        wrong = await wire.call(
            flavor, "get_job_instance_status", {"job_instance_id": 1},
            auth={**APP, "bk_app_secret": "nope"},
        )  # fmt: skip
        unknown = await wire.call(
            flavor, "get_job_instance_status", {"job_instance_id": 1},
            auth={**APP, "bk_app_code": "who"},
        )  # fmt: skip
    assert wrong.status == 200
    assert wrong.json["result"] is False
    assert wrong.json["message"] == (
        "APP Secret verification failed, pelase confirm if the APP Secret and "
        "APP Code [bk_app_code=sim-app] match"
    )
    assert unknown.json["message"].startswith("Invalid APP Code [bk_app_code=who]")


# -- point 7: v2 fast_push_file has no step id (§7.8) -----------------------------------------


async def test_v2_fast_push_file_returns_no_step_instance_id(sim, wire):
    host = {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
    body = {
        "file_target_path": "/tmp/",
        "file_source": [{"files": ["/a"], "account": "root", **host}],
        "account": "root",
        **host,
    }
    data = await wire.data(V2, "fast_push_file", body)
    assert sorted(data) == ["job_instance_id", "job_instance_name"]  # nulls are left out
    script = await wire.data(V2, "fast_execute_script", _script(V2, host))
    assert "step_instance_id" in script


# -- point 13: file hosts fail with file statuses ---------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_file_step_hosts_fail_with_a_file_transfer_status(sim, wire, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(StepType.FILE, hosts=3, fail_rate=1.0)])
    sim.advance(10)
    data = await wire.job_status(flavor, job_id)
    step = _steps(data)[0]
    rows = step.get("step_ip_result_list") or step.get("step_ip_status")
    assert {row["status"] for row in rows} == {202}
    assert step["status"] == 4


def test_a_script_step_still_fails_with_a_non_zero_exit_code():
    assert StepPlan(fail_rate=1.0).failure_status is H.SCRIPT_NOT_ZERO_EXIT_CODE
    assert StepPlan(StepType.FILE).failure_status is H.COPYFILE_FAILED
    assert StepPlan(StepType.FILE, failure_status=H.GSE_FILE_ERROR).failure_status == 320
