"""The simulator's accounts, credentials, file sources, templates, step details, SQL launches and
settings, driven by raw requests as each flavor's callers send them (``wire``): state kept,
bk-job's checks and codes, answers shaped as bk-job's docs show, routes only where bk-job
serves them."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import pytest

from bkjob_async import BkJobClient, JobStatus, Poller, StepType
from bkjob_async.testing import BkJobSimulator, StepPlan

from .conftest import ALL_FLAVORS, GATEWAY, JOBV3, SCOPE, V2, V3_FLAVORS, Wire

pytestmark = pytest.mark.sim(seed=3, virtual_clock=True, host_duration=2.0)


def code_of(reply: Any) -> int:
    payload = reply.json
    assert payload["result"] is False, payload
    return int(payload["code"])


# --- accounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_an_account_is_created_listed_and_deleted(wire: Wire, sim: BkJobSimulator, flavor):
    made = await wire.data(
        flavor,
        "create_account",
        {"account": "deploy", "type": 2, "category": 1, "password": "Pa55-word", "alias": "dep"},
    )
    assert (made["account"], made["alias"], made["os"], made["type"]) == (
        "deploy",
        "dep",
        "Windows",
        2,
    )
    assert made["creator"] == "alice"
    assert made["bk_scope_id"] == str(SCOPE.id)
    assert sim._world.store.passwords[made["id"]] == "Pa55-word"
    assert "Pa55-word" not in str(made)
    listed = await wire.data(flavor, "get_account_list", {"alias": "dep"})
    assert [row["id"] for row in listed["data"]] == [made["id"]]
    gone = await wire.data(flavor, "delete_account", {"id": made["id"]})
    assert gone["id"] == made["id"]
    assert (await wire.data(flavor, "get_account_list", {"alias": "dep"}))["data"] == []
    assert made["id"] not in sim._world.store.passwords
    again = await wire.call(flavor, "delete_account", {"id": made["id"]})
    assert code_of(again) == 1244003
    assert str(made["id"]) in again.json["message"]


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_create_account_follows_bk_jobs_checks(wire: Wire, flavor):
    plain = {"account": "app", "type": 1, "category": 1}
    made = await wire.data(flavor, "create_account", plain)
    assert made["alias"] == "app"
    assert made["os"] == "Linux"
    assert code_of(await wire.call(flavor, "create_account", plain)) == 1243007
    db = {"account": "dba", "type": 9, "category": 2}
    assert code_of(await wire.call(flavor, "create_account", db)) == 1243008
    for bad in ({"type": 1, "category": 1}, {**plain, "type": 3}, {**plain, "category": 5}):
        assert code_of(await wire.call(flavor, "create_account", bad)) == 1240003
    long_password = {**plain, "alias": "x", "password": "p" * 118}
    assert code_of(await wire.call(flavor, "create_account", long_password)) == 1240003


async def test_update_account_changes_only_what_is_given(wire: Wire, sim: BkJobSimulator):
    made = await wire.data(GATEWAY, "create_account", {"account": "u1", "type": 1, "category": 1})
    sim.advance(5)
    changed = await wire.data(
        GATEWAY, "update_account", {"id": made["id"], "description": "ops", "password": "new-pw"}
    )
    assert changed["alias"] == "u1"
    assert changed["description"] == "ops"
    assert changed["last_modify_time"] == made["create_time"] + 5000
    assert sim._world.store.passwords[made["id"]] == "new-pw"
    await wire.data(GATEWAY, "create_account", {"account": "u2", "type": 1, "category": 1})
    clash = await wire.call(GATEWAY, "update_account", {"id": made["id"], "alias": "u2"})
    assert code_of(clash) == 1243007
    assert code_of(await wire.call(GATEWAY, "update_account", {"id": 999_999})) == 1244003
    assert code_of(await wire.call(GATEWAY, "update_account", {"alias": "x"})) == 1240003


async def test_update_account_and_the_metadata_are_gateway_only(wire: Wire):
    for api in ("update_account", "get_account_password_encryption_metadata"):
        reply = await wire.call(JOBV3, api, {"id": 1})
        assert reply.status == 404
    meta = await wire.data(GATEWAY, "get_account_password_encryption_metadata")
    assert meta["encrypt_algorithm"] == "RSA"
    assert base64.b64decode(meta["public_key"]).startswith(b"-----BEGIN PUBLIC KEY-----")


async def test_v2_lists_the_db_accounts_and_the_os_accounts_apart(wire: Wire, sim: BkJobSimulator):
    sim.add_account(SCOPE, "reports", category=2, type=9)
    db = await wire.data(V2, "get_own_db_account_list", {"start": 0, "length": 1})
    assert [row["db_alias"] for row in db] == ["mysql", "reports"]  # paging read, not applied
    assert set(db[0]) >= {"db_account_id", "account", "creator", "db_alias", "create_time"}
    system = await wire.data(V2, "get_os_account")
    assert {row["alias"] for row in system} == {"root", "system"}
    assert (await wire.call(GATEWAY, "get_own_db_account_list", method="POST")).status == 404


# --- credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_a_credential_is_stored_and_never_answered(wire: Wire, sim: BkJobSimulator, flavor):
    params = {
        "name": "repo",
        "type": "USERNAME_PASSWORD",
        "description": "bk-repo",
        "credential_username": "admin",
        "credential_password": "s3cret-pw",
    }
    made = await wire.data(flavor, "create_credential", params)
    assert made["name"] == "repo"
    assert len(made["id"]) == 32
    stored = sim._world.store.credentials[made["id"]]
    assert stored.values == ("admin", "s3cret-pw")
    assert "s3cret-pw" not in repr(stored)
    detail = await wire.data(GATEWAY, "get_credential_detail", {"id": made["id"]})
    assert detail["type"] == "USERNAME_PASSWORD"
    assert detail["creator"] == "alice"
    assert "s3cret-pw" not in str(detail)
    assert "admin" not in str(detail)
    assert code_of(await wire.call(flavor, "create_credential", params)) == 1243060


async def test_update_credential_replaces_and_keeps_the_placeholder(
    wire: Wire, sim: BkJobSimulator
):
    made = await wire.data(
        JOBV3,
        "create_credential",
        {
            "name": "ak",
            "type": "APP_ID_SECRET_KEY",
            "credential_access_key": "AK",
            "credential_secret_key": "SK",
        },
    )
    update = {
        "id": made["id"],
        "name": "ak2",
        "type": "APP_ID_SECRET_KEY",
        "credential_access_key": "AK2",
        "credential_secret_key": "******",
    }
    assert (await wire.data(JOBV3, "update_credential", update))["name"] == "ak2"
    assert sim._world.store.credentials[made["id"]].values == ("AK2", "SK")
    assert (
        code_of(
            await wire.call(JOBV3, "update_credential", {**update, "id": "f" * 32, "name": "new"})
        )
        == 1243048
    )
    assert code_of(await wire.call(JOBV3, "update_credential", {**update, "name": ""})) == 1243060
    assert code_of(await wire.call(JOBV3, "update_credential", {**update, "id": " "})) == 1241010
    unknown = {**update, "type": "ACCESS_KEY_SECRET_KEY"}  # what bk-job's ESB docs print
    assert code_of(await wire.call(JOBV3, "update_credential", unknown)) == 1240002


async def test_credential_checks_and_the_scope_boundary(wire: Wire):
    reply = await wire.call(GATEWAY, "create_credential", {"name": " ", "type": "PASSWORD"})
    assert code_of(reply) == 1241010
    assert "name" in reply.json["message"]
    made = await wire.data(
        GATEWAY, "create_credential", {"name": "p", "type": "PASSWORD", "credential_password": "x"}
    )
    other = {"bk_scope_type": "biz", "bk_scope_id": "3", "id": made["id"]}
    assert code_of(await wire.call(GATEWAY, "get_credential_detail", other)) == 1243048
    assert (await wire.call(JOBV3, "get_credential_detail", {"id": made["id"]})).status == 404


# --- file sources ------------------------------------------------------------------------------

SOURCE = {
    "code": "sops_repo",
    "alias": "SOPS repo",
    "type": "BLUEKING_ARTIFACTORY",
    "access_params": {"base_url": "https://bkrepo.example.com"},
    "credential_id": "06644309e10e4068b3c7b32799668210",
    "file_prefix": "",
}


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_a_file_source_is_created_updated_and_read_back(
    wire: Wire, sim: BkJobSimulator, flavor
):
    made = await wire.data(flavor, "create_file_source", SOURCE)
    assert made == {"id": 1}
    sim.advance(2)
    updated = await wire.data(flavor, "update_file_source", {**SOURCE, "alias": "renamed"})
    assert updated == {"id": 1}
    detail = await wire.data(GATEWAY, "get_file_source_detail", {"code": "sops_repo"})
    assert detail["alias"] == "renamed"
    assert detail["enable"] is True
    assert detail["is_public"] is False
    assert detail["file_source_type_code"] == "BLUEKING_ARTIFACTORY"
    assert detail["last_modify_time"] == detail["create_time"] + 2000
    assert code_of(await wire.call(flavor, "create_file_source", SOURCE)) == 1260015


async def test_file_source_checks(wire: Wire):
    missing = await wire.call(GATEWAY, "update_file_source", {**SOURCE, "code": "nope"})
    assert code_of(missing) == 1260012
    assert "nope" in missing.json["message"]
    unknown = await wire.call(GATEWAY, "create_file_source", {**SOURCE, "type": "FTP"})
    assert code_of(unknown) == 1241005
    for bad in (
        {**SOURCE, "code": "a/b"},
        {**SOURCE, "alias": " "},
        {**SOURCE, "credential_id": ""},
        {**SOURCE, "access_params": {"base_url": "ftp://x"}},
    ):
        assert code_of(await wire.call(GATEWAY, "create_file_source", bad)) == 1240003
    assert code_of(await wire.call(GATEWAY, "get_file_source_detail", {"code": "x"})) == 1260012


# --- templates and step details ----------------------------------------------------------------


async def test_templates_page_last_changed_first(wire: Wire, sim: BkJobSimulator):
    first, second = 501, 502
    sim.add_plan(first, [StepPlan()], name="deploy web", scope=SCOPE)
    sim.advance(10)
    sim.add_plan(second, [StepPlan()], name="deploy db", scope=SCOPE)
    for flavor in V3_FLAVORS:
        page = await wire.data(flavor, "get_job_template_list", {"name": "deploy", "length": 1})
        assert (page["start"], page["length"], page["total"]) == (0, 1, 2)
        (row,) = page["data"]
        assert row["id"] == second + 100_000
        assert row["name"] == "deploy db"
        assert isinstance(row["create_time"], int)
        assert row["create_time"] < 10**11
    rest = await wire.data(GATEWAY, "get_job_template_list", {"start": 1, "name": "web"})
    assert rest["total"] == 1
    assert rest["data"] == []
    older = await wire.data(GATEWAY, "get_job_template_list", {"name": "web"})
    assert [row["id"] for row in older["data"]] == [first + 100_000]
    assert (await wire.call(V2, "get_job_template_list")).status == 404  # no v2 route


async def test_step_detail_shows_what_the_launch_said(wire: Wire, sim: BkJobSimulator):
    script = base64.b64encode(b"echo hi").decode()
    launched = await wire.data(
        GATEWAY,
        "fast_execute_script",
        {
            "script_content": script,
            "script_language": 1,
            "script_param": base64.b64encode(b"--token abc").decode(),
            "is_param_sensitive": 1,
            "timeout": 60,
            "account_alias": "root",
            "target_server": {"host_id_list": [1001]},
        },
    )
    detail = await wire.data(
        GATEWAY,
        "get_step_instance_detail",
        {
            "job_instance_id": launched["job_instance_id"],
            "step_instance_id": launched["step_instance_id"],
        },
    )
    info = detail["script_info"]
    assert detail["type"] == 1
    assert info["script_content"] == "echo hi"
    assert info["script_param"] == "******"
    assert info["is_param_sensitive"] == 1
    assert info["script_timeout"] == 60
    assert info["account"]["name"] == "root"
    assert [h["bk_host_id"] for h in info["server"]["ip_list"]] == [1001]
    missing = {"job_instance_id": launched["job_instance_id"], "step_instance_id": 1}
    assert code_of(await wire.call(GATEWAY, "get_step_instance_detail", missing)) == 1244007
    assert (await wire.call(JOBV3, "get_step_instance_detail", missing)).status == 404


async def test_step_detail_of_a_file_step(wire: Wire):
    launched = await wire.data(
        JOBV3,
        "fast_transfer_file",
        {
            "file_target_path": "/data",
            "file_source_list": [
                {
                    "file_list": ["/tmp/a.txt"],
                    "server": {"host_id_list": [1002]},
                    "account": {"alias": "root"},
                }
            ],
            "account_alias": "root",
            "target_server": {"host_id_list": [1003]},
        },
    )
    ids = {
        "job_instance_id": launched["job_instance_id"],
        "step_instance_id": launched["step_instance_id"],
    }
    info = (await wire.data(GATEWAY, "get_step_instance_detail", ids))["file_info"]
    assert info["file_destination"]["path"] == "/data"
    assert info["file_source_list"][0]["file_list"] == ["/tmp/a.txt"]
    assert [h["bk_host_id"] for h in info["file_source_list"][0]["server"]["ip_list"]] == [1002]


# --- fast_execute_sql --------------------------------------------------------------------------


async def _db_account(wire: Wire, flavor) -> int:
    if flavor is V2:
        return int((await wire.data(V2, "get_own_db_account_list"))[0]["db_account_id"])
    page = await wire.data(flavor, "get_account_list", {"category": 2})
    return int(page["data"][0]["id"])


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_fast_execute_sql_runs_a_sql_step(wire: Wire, sim: BkJobSimulator, flavor):
    db = await _db_account(wire, flavor)
    content = base64.b64encode(b"select 1;").decode()
    if flavor is V2:
        target: dict[str, Any] = {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
        timeout_key = "script_timeout"
    else:
        target = {"target_server": {"host_id_list": [1001, 1002]}}
        timeout_key = "timeout"
    launched = await wire.data(
        flavor,
        "fast_execute_sql",
        {"script_content": content, "db_account_id": db, timeout_key: 30, **target},
    )
    assert launched["job_instance_name"].startswith("快速执行SQL_")
    assert launched.get("step_instance_id") is None  # neither resource sets it
    job = sim.job(launched["job_instance_id"])
    assert [s.type for s in job.steps] == [4]
    sim.advance(30)
    assert sim.job(launched["job_instance_id"]).status == 3


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_fast_execute_sql_checks(wire: Wire, flavor):
    db = await _db_account(wire, flavor)
    target = (
        {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
        if flavor is V2
        else {"target_server": {"host_id_list": [1001]}}
    )
    content = base64.b64encode(b"select 1;").decode()
    no_script = await wire.call(flavor, "fast_execute_sql", {"db_account_id": db, **target})
    assert code_of(no_script) == 1241004
    no_account = await wire.call(flavor, "fast_execute_sql", {"script_content": content, **target})
    assert code_of(no_account) == 1241004
    assert "db_account_id" in no_account.json["message"]
    root = 1001 if flavor is V2 else None
    system = await wire.call(
        flavor,
        "fast_execute_sql",
        {"script_content": content, "db_account_id": root or db - 2, **target},
    )
    assert code_of(system) == 1244003
    no_target = await wire.call(
        flavor, "fast_execute_sql", {"script_content": content, "db_account_id": db}
    )
    assert code_of(no_target) == (1241007 if flavor is V2 else 1241004)


# --- the rest ----------------------------------------------------------------------------------


async def test_notify_config_lists_three_policies(wire: Wire):
    policies = await wire.data(GATEWAY, "get_notify_config")
    assert [p["trigger_type"] for p in policies] == ["PAGE_EXECUTE", "API_INVOKE", "TIMER_TASK"]
    channels = policies[0]["resource_status_channel_map"]
    assert set(channels) == {"SUCCESS", "FAIL", "READY"}
    assert channels["FAIL"]["mail"] is True
    assert channels["SUCCESS"]["mail"] is False
    assert (await wire.call(JOBV3, "get_notify_config")).status == 404
    assert code_of(await wire.call(GATEWAY, "get_notify_config", scoped=False)) == 1240003


async def test_service_version_and_upload_urls_are_esb_only(wire: Wire):
    version = await wire.call(JOBV3, "get_latest_service_version", scoped=False)
    assert version.data == {"version": "3.11.4"}
    urls = await wire.data(
        JOBV3, "generate_local_file_upload_url", {"file_name_list": ["a.txt", "b.txt"]}
    )
    row = urls["url_map"]["a.txt"]
    assert row["path"].startswith(f"{SCOPE.id}/")
    assert row["path"].endswith("/alice/a.txt")
    url, token = row["upload_url"].split("?token=")
    assert url.endswith("/" + row["path"])
    assert len(token) == 32
    blank = await wire.call(JOBV3, "generate_local_file_upload_url", {"file_name_list": [" "]})
    assert code_of(blank) == 1241010
    assert code_of(await wire.call(JOBV3, "generate_local_file_upload_url")) == 1241010
    for api in ("get_latest_service_version", "generate_local_file_upload_url"):
        assert (await wire.call(GATEWAY, api, method="POST")).status == 404
        assert (await wire.call(V2, api)).status == 404


@pytest.mark.sim(seed=3, host_duration=0.05, host_start_delay=0.0)
@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_the_poller_watches_a_sql_job_to_its_end(wire: Wire, sim: BkJobSimulator, flavor):
    db = await _db_account(wire, flavor)
    target: dict[str, Any] = (
        {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
        if flavor is V2
        else {"target_server": {"host_id_list": [1001, 1002]}}
    )
    content = base64.b64encode(b"update t set x = 1;").decode()
    launched = await wire.data(
        flavor, "fast_execute_sql", {"script_content": content, "db_account_id": db, **target}
    )
    async with (
        BkJobClient(
            sim.url, app_code="a", app_secret="s", username="admin", flavor=flavor
        ) as client,
        Poller(client) as poller,
    ):
        with anyio.fail_after(10):
            status = await poller.wait_finished(SCOPE, launched["job_instance_id"])
    assert status.job.status is JobStatus.SUCCESS
    assert [s.type for s in status.steps] == [StepType.SQL]
