"""The simulator's script library, dangerous-command rules and ``check_script`` on the wire:
the lifecycle bk-job keeps (``ScriptManagerImpl``, ``CurrentTenantDangerousRuleServiceImpl``),
its checks and codes, and a launch that the rules or a script's state refuse."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from bkjob_async.testing import BkJobSimulator

from .conftest import GATEWAY, JOBV3, SCOPE, V2, Wire

pytestmark = pytest.mark.sim(seed=3, virtual_clock=True)
V3 = [GATEWAY, JOBV3]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def code_of(reply: Any) -> int:
    payload = reply.json
    assert payload["result"] is False, payload
    return int(payload["code"])


async def _create(wire: Wire, flavor: Any, public: bool = False, **given: Any) -> Any:
    params = {
        "name": "cleanup",
        "script_language": 1,
        "content": b64("#!/bin/bash\necho one\n"),
        "version": "1.0",
        **given,
    }
    api = "create_public_script" if public else "create_script"
    return await wire.call(flavor, api, params, scoped=not public)


@pytest.mark.parametrize("flavor", V3)
@pytest.mark.parametrize("public", [False, True])
async def test_a_script_through_its_lifecycle(sim, wire, flavor, public):
    p = "public_" if public else ""
    scoped = not public

    async def call(api: str, params: dict[str, Any]) -> Any:
        return await wire.call(flavor, api.format(p=p), params, scoped=scoped)

    created = (await _create(wire, flavor, public, version_desc="first")).data
    script_id, first = created["script_id"], created["id"]
    assert created["status"] == 0  # a draft
    assert created["content"] == "#!/bin/bash\necho one\n"  # stored decoded
    assert ("bk_scope_id" in created) is scoped
    listed = (await call("get_{p}script_list", {})).data
    assert listed["total"] == 0  # the list shows scripts with an online version only

    second = (
        await call(
            "create_{p}script_version",
            {"script_id": script_id, "content": b64("echo two"), "version": "2.0"},
        )
    ).data
    again = await call(
        "create_{p}script_version",
        {"script_id": script_id, "content": b64("echo"), "version": "2.0"},
    )
    assert code_of(again) == 1243036

    updated = (
        await call(
            "update_{p}script_version",
            {"script_id": script_id, "script_version_id": first, "content": b64("echo 1")},
        )
    ).data
    assert (updated["content"], updated["status"]) == ("echo 1", 0)

    published = (
        await call(
            "publish_{p}script_version", {"script_id": script_id, "script_version_id": first}
        )
    ).data
    assert published == {"id": first, "script_id": script_id, "status": 1}
    not_draft = await call(
        "update_{p}script_version",
        {"script_id": script_id, "script_version_id": first, "content": b64("x")},
    )
    assert code_of(not_draft) == 1241003  # only a draft's content changes

    await call(
        "publish_{p}script_version", {"script_id": script_id, "script_version_id": second["id"]}
    )
    versions = (await call("get_{p}script_version_list", {"script_id": script_id})).data
    states = {row["id"]: row["status"] for row in versions["data"]}
    assert states == {first: 2, second["id"]: 1}  # the older one went offline
    assert all(row["content"] is None for row in versions["data"])
    with_text = (
        await call(
            "get_{p}script_version_list", {"script_id": script_id, "return_script_content": True}
        )
    ).data
    assert {row["content"] for row in with_text["data"]} == {"echo 1", "echo two"}

    listed = (await call("get_{p}script_list", {})).data
    assert [(s["id"], s["online_script_version_id"]) for s in listed["data"]] == [
        (script_id, second["id"])
    ]

    disabled = (
        await call(
            "disable_{p}script_version", {"script_id": script_id, "script_version_id": first}
        )
    ).data
    assert disabled["status"] == 3
    republish = await call(
        "publish_{p}script_version", {"script_id": script_id, "script_version_id": first}
    )
    assert code_of(republish) == 1241003  # a disabled version never comes back

    basic = (
        await call(
            "update_{p}script_basic",
            {"script_id": script_id, "name": "tidy", "description": "tidies up"},
        )
    ).data
    assert (basic["name"], basic["description"]) == ("tidy", "tidies up")
    detail = (await call("get_{p}script_version_detail", {"id": second["id"]})).data
    assert (detail["name"], detail["version"], detail["status"]) == ("tidy", "2.0", 1)

    assert (
        await call("delete_{p}script_version", {"script_id": script_id, "script_version_id": first})
    ).data is None
    assert (await call("delete_{p}script", {"script_id": script_id})).data is None
    gone = await call("get_{p}script_version_detail", {"id": second["id"]})
    assert code_of(gone) == 1243001


@pytest.mark.parametrize("flavor", V3)
async def test_create_refuses_what_bk_job_validates(sim, wire, flavor):
    cases = [
        ({"name": ""}, "Script name cannot be empty"),
        ({"name": "a/b"}, "Illegal Script name"),
        ({"name": "x" * 61}, None),
        ({"script_language": 7}, "Illegal script type"),
        ({"content": ""}, "Script content cannot be empty"),
        ({"version": "1 0"}, "Illegal script version"),
    ]
    headers = {"Blueking-Language": "en"}
    for given, text in cases:
        params = {
            "name": "n",
            "script_language": 1,
            "content": b64("true"),
            "version": "1",
            **given,
        }
        reply = await wire.call(flavor, "create_script", params, headers=headers)
        assert code_of(reply) == 1240003, given
        if text is not None:
            assert reply.json["message"] == text
    assert (await _create(wire, flavor)).data["name"] == "cleanup"
    assert code_of(await _create(wire, flavor)) == 1243002  # the name is the scope's already


@pytest.mark.parametrize("flavor", V3)
async def test_another_scopes_script_is_not_ours(sim, wire, flavor):
    script_id, (version,) = sim.add_script(SCOPE.biz(99), "theirs", "true")
    detail = await wire.call(flavor, "get_script_version_detail", {"id": version})
    publish = await wire.call(
        flavor, "publish_script_version", {"script_id": script_id, "script_version_id": version}
    )
    delete = await wire.call(flavor, "delete_script", {"script_id": script_id})
    assert [code_of(r) for r in (detail, publish, delete)] == [1243004] * 3


async def test_v2_lists_and_details_scripts_by_their_online_version(sim, wire):
    _, (old, new) = sim.add_script(SCOPE, "deploy", [("1.0", "a"), ("2.0", "b")])
    _, (public,) = sim.add_script(None, "disk", "df -h", language=4)
    page = (await wire.call(V2, "get_script_list", {"return_script_content": True})).data
    assert page["total_record_size"] == 1
    (row,) = page["data"]
    assert (row["id"], row["version"], row["type"], row["content"], row["public"]) == (
        new, "2.0", 1, "b", False,
    )  # fmt: skip
    publics = (await wire.call(V2, "get_public_script_list", {}, scoped=False)).data
    assert [r["id"] for r in publics["data"]] == [public]
    bad_type = await wire.call(V2, "get_public_script_list", {"script_type": 0}, scoped=False)
    assert code_of(bad_type) == 1241007  # v2's public list has no "0 means all"
    detail = (await wire.call(V2, "get_script_detail", {"id": old})).data
    assert (detail["id"], detail["version"], detail["content"]) == (old, "1.0", None)
    missing = await wire.call(V2, "get_script_detail", {"id": 0})
    assert code_of(missing) == 1241007


# -- dangerous-command rules and check_script -------------------------------------------------


async def _rule(wire: Wire, flavor: Any, expression: str, action: int = 2, **given: Any) -> Any:
    params = {
        "expression": expression,
        "script_language_list": [1],
        "description": "dangerous!",
        "action": action,
        **given,
    }
    return (await wire.call(flavor, "create_dangerous_rule", params, scoped=False)).data


@pytest.mark.parametrize("flavor", V3)
async def test_rules_through_their_lifecycle(sim, wire, flavor):
    async def call(api: str, params: dict[str, Any]) -> Any:
        return await wire.call(flavor, api, params, scoped=False)

    first = await _rule(wire, flavor, r"rm\s+-rf")
    second = await _rule(wire, flavor, "shutdown", action=1, script_language_list=[1, 4])
    assert (first["status"], first["script_language_list"]) == (0, [1])  # starts disabled
    dup = await call(
        "create_dangerous_rule",
        {"expression": r"rm\s+-rf", "script_language_list": [1], "action": 2},
    )
    assert code_of(dup) == 1243056
    bad = await call(
        "create_dangerous_rule", {"expression": "(", "script_language_list": [1], "action": 2}
    )
    assert code_of(bad) == 1240003
    assert (await call("enable_dangerous_rule", {"id": first["id"]})).data == {
        "id": first["id"],
        "status": 1,
    }
    listed = (await call("get_dangerous_rule_list", {"script_language_list": [4]})).data
    assert [r["id"] for r in listed] == [second["id"]]
    changed = (
        await call(
            "update_dangerous_rule",
            {
                "id": second["id"],
                "expression": "reboot",
                "script_language_list": [1],
                "description": "d",
                "action": 1,
            },
        )
    ).data
    assert (changed["expression"], changed["status"]) == ("reboot", 0)
    missing = await call("enable_dangerous_rule", {"id": 999})
    assert code_of(missing) == 1240002  # bk-job dereferences the missing rule
    assert (await call("delete_dangerous_rule", {"id": 999})).data is None
    assert (await call("delete_dangerous_rule", {"id": first["id"]})).data is None
    assert [r["id"] for r in (await call("get_dangerous_rule_list", {})).data] == [second["id"]]


@pytest.mark.parametrize("flavor", V3)
async def test_check_script_reports_enabled_rules_line_by_line(sim, wire, flavor):
    sim.add_dangerous_rule(r"rm\s+-rf", description="no rm -rf")
    sim.add_dangerous_rule("reboot", enabled=False)
    sim.add_dangerous_rule("del", languages=[2])
    text = "#!/bin/bash\n# rm -rf / in a comment\n\nrm -rf /tmp/x\nreboot\n"
    found = (
        await wire.call(
            flavor, "check_script", {"script_language": 1, "content": b64(text)}, scoped=False
        )
    ).data
    assert found == [
        {
            "line": 4,
            "line_content": "rm -rf /tmp/x",
            "match_content": "rm -rf",
            "level": 3,
            "description": "no rm -rf",
        }
    ]
    empty = await wire.call(flavor, "check_script", {"script_language": 1}, scoped=False)
    assert code_of(empty) == 1240003


@pytest.mark.parametrize("flavor", [GATEWAY, JOBV3, V2])
async def test_a_launch_of_a_matching_script_is_refused(sim: BkJobSimulator, wire, flavor):
    sim.add_dangerous_rule(r"rm\s+-rf")
    sim.add_dangerous_rule("uptime", action=1)  # scan only: reported, never refused
    targets: dict[str, Any] = (
        {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
        if flavor is V2
        else {"target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}}
    )
    base = {**targets, "account_alias": "root", "account": "root"}
    if flavor is not V2:
        base["script_language"] = 1
    refused = await wire.call(
        flavor, "fast_execute_script", {**base, "script_content": b64("rm -rf /")}
    )
    assert code_of(refused) == 1244019
    fine = await wire.call(flavor, "fast_execute_script", {**base, "script_content": b64("uptime")})
    assert fine.data["job_instance_id"] in sim.job_ids()
    _, (version,) = sim.add_script(SCOPE, "wipe", "rm -rf /data")
    by_id = {**base, ("script_id" if flavor is V2 else "script_version_id"): version}
    assert code_of(await wire.call(flavor, "fast_execute_script", by_id)) == 1244019


@pytest.mark.parametrize("flavor", V3)
async def test_only_an_online_or_offline_version_runs(sim, wire, flavor):
    created = (await _create(wire, flavor)).data
    base = {
        "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]},
        "account_alias": "root",
        "script_version_id": created["id"],
    }
    draft = await wire.call(flavor, "fast_execute_script", base)
    assert code_of(draft) == 1244018
    by_script = {**base, "script_id": created["script_id"]}
    del by_script["script_version_id"]
    assert code_of(await wire.call(flavor, "fast_execute_script", by_script)) == 1243001
    await wire.call(
        flavor,
        "publish_script_version",
        {"script_id": created["script_id"], "script_version_id": created["id"]},
    )
    assert (await wire.call(flavor, "fast_execute_script", base)).data["job_instance_id"]
    assert (await wire.call(flavor, "fast_execute_script", by_script)).data["job_instance_id"]
    missing = {**base, "script_version_id": 99_999}
    assert code_of(await wire.call(flavor, "fast_execute_script", missing)) == 1243001
