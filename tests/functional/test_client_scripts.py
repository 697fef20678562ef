"""The script library, ``check_script`` and the dangerous-command rules through ``BkJobClient``
on the simulator in memory, on every flavor that serves each API: each request goes to bk-job's
path with the gateway's method and carries each parameter as given, each answer is typed, and
bad input is refused before anything is sent."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import pytest

from bkjob_async import (
    Account,
    ApiFlavor,
    BkJobClient,
    DangerousRule,
    DangerousRuleAction,
    DangerousRuleState,
    DangerousRuleStatus,
    InvalidRequestError,
    NotFoundError,
    OperationNotAllowedError,
    Scope,
    Script,
    ScriptCheckItem,
    ScriptCheckLevel,
    ScriptLanguage,
    ScriptPage,
    ScriptVersion,
    ScriptVersionPage,
    ScriptVersionState,
    ScriptVersionStatus,
    Targets,
    UnsupportedOperationError,
)
from bkjob_async.sync import BkJobClient as SyncClient
from bkjob_async.testing import BkJobSimulator, MockTransport

SCOPE = Scope.biz(2)
GATEWAY, JOBV3, V2 = ApiFlavor.APIGW_V3, ApiFlavor.ESB_JOBV3, ApiFlavor.ESB_V2
V3 = [GATEWAY, JOBV3]
IPS = Targets(ips=["0:10.0.0.1"])
ROOT = Account(alias="root")


class Recorder:
    """The simulator in memory, with every request's method, path and parameters kept."""

    def __init__(self, sim: BkJobSimulator) -> None:
        self.inner = sim.transport()
        self.sent: list[tuple[str, str, dict[str, Any], bool]] = []

    async def __call__(self, request: Any) -> Any:
        path = urlsplit(request.url).path
        if request.body:
            params = json.loads(request.body)
        else:
            params = dict(parse_qsl(urlsplit(request.url).query)) | dict(request.query or {})
        self.sent.append((request.method, path, params, request.idempotent))
        return await self.inner.send(request)

    def last(self) -> tuple[str, str, dict[str, Any], bool]:
        return self.sent[-1]


@pytest.fixture
def sim() -> BkJobSimulator:
    return BkJobSimulator(seed=4, virtual_clock=True)


@pytest.fixture
def recorder(sim: BkJobSimulator) -> Recorder:
    return Recorder(sim)


def client(recorder: Recorder, flavor: ApiFlavor) -> BkJobClient:
    return BkJobClient(
        "http://bkjob.test", app_code="a", app_secret="s", username="admin",
        flavor=flavor, transport=MockTransport(recorder),
    )  # fmt: skip


def path(flavor: ApiFlavor, api: str) -> str:
    if flavor is GATEWAY:
        return f"/api/v3/{api}"
    return f"/api/c/compapi/v2/{'jobv3' if flavor is JOBV3 else 'job'}/{api}/"


def went(recorder: Recorder, flavor: ApiFlavor, api: str, method: str) -> dict[str, Any]:
    """Assert the last request went to ``api`` by the flavor's method; return its parameters."""
    sent_method, sent_path, params, _ = recorder.last()
    assert sent_path == path(flavor, api)
    assert sent_method == (method if flavor is GATEWAY else "POST")
    return params


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- scripts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3)
async def test_a_scopes_script_through_its_lifecycle(recorder, flavor):
    async with client(recorder, flavor) as c:
        draft = await c.create_script(
            SCOPE,
            name="cleanup",
            content="echo 1\n",
            version="1.0",
            script_language=ScriptLanguage.PYTHON,
            description="tidies",
            version_desc="first",
        )
        sent = went(recorder, flavor, "create_script", "POST")
        assert sent["content"] == b64("echo 1\n")
        assert (sent["name"], sent["script_language"], sent["version"]) == ("cleanup", 4, "1.0")
        assert (sent["description"], sent["version_desc"]) == ("tidies", "first")
        assert (sent["bk_scope_type"], sent["bk_scope_id"]) == ("biz", "2")
        assert isinstance(draft, ScriptVersion)
        assert (draft.status, draft.content, draft.version_desc) == (
            ScriptVersionStatus.DRAFT,
            "echo 1\n",
            "first",
        )
        script_id = draft.script_id
        assert script_id is not None

        second = await c.create_script_version(
            SCOPE, script_id, content="echo 2", version="2.0", version_desc="second"
        )
        assert went(recorder, flavor, "create_script_version", "POST")["script_id"] == script_id
        edited = await c.update_script_version(
            SCOPE, script_id, second.script_version_id, content="echo 2!", version_desc="fixed"
        )
        sent = went(recorder, flavor, "update_script_version", "POST")
        assert sent["script_version_id"] == second.script_version_id
        assert (edited.content, edited.version_desc) == ("echo 2!", "fixed")

        published = await c.publish_script_version(SCOPE, script_id, draft.script_version_id)
        went(recorder, flavor, "publish_script_version", "POST")
        assert published == ScriptVersionState(
            draft.script_version_id, script_id, ScriptVersionStatus.ONLINE
        )
        online = await c.publish_script_version(SCOPE, script_id, second.script_version_id)
        assert online.status is ScriptVersionStatus.ONLINE

        versions = await c.get_script_version_list(SCOPE, script_id)
        sent = went(recorder, flavor, "get_script_version_list", "GET")
        assert str(sent["return_script_content"]).lower() == "false"
        assert isinstance(versions, ScriptVersionPage)
        assert {v.script_version_id: v.status for v in versions.items} == {
            draft.script_version_id: ScriptVersionStatus.OFFLINE,
            second.script_version_id: ScriptVersionStatus.ONLINE,
        }
        assert {v.content for v in versions.items} == {None}
        texts = [
            v.content
            async for v in c.iter_script_versions(
                SCOPE, script_id, return_script_content=True, page_size=1
            )
        ]
        assert sorted(texts) == ["echo 1\n", "echo 2!"]

        page = await c.get_script_list(SCOPE, script_language=ScriptLanguage.PYTHON)
        assert isinstance(page, ScriptPage)
        assert [(s.script_id, s.online_script_version_id) for s in page.items] == [
            (script_id, second.script_version_id)
        ]

        disabled = await c.disable_script_version(SCOPE, script_id, draft.script_version_id)
        went(recorder, flavor, "disable_script_version", "POST")
        assert disabled.status is ScriptVersionStatus.DISABLED
        with pytest.raises(OperationNotAllowedError):  # 1241003: a disabled version stays so
            await c.publish_script_version(SCOPE, script_id, draft.script_version_id)

        renamed = await c.update_script_basic(SCOPE, script_id, name="tidy", description="d")
        went(recorder, flavor, "update_script_basic", "POST")
        assert isinstance(renamed, Script)
        assert (renamed.script_id, renamed.name, renamed.description) == (script_id, "tidy", "d")

        assert await c.delete_script_version(SCOPE, script_id, draft.script_version_id) is None
        went(recorder, flavor, "delete_script_version", "POST")
        assert await c.delete_script(SCOPE, script_id) is None
        went(recorder, flavor, "delete_script", "POST")
        with pytest.raises(NotFoundError):
            await c.get_script_version_detail(SCOPE, script_version_id=second.script_version_id)


@pytest.mark.parametrize("flavor", V3)
async def test_a_public_script_through_its_lifecycle(recorder, flavor):
    async with client(recorder, flavor) as c:
        draft = await c.create_public_script(name="disk", content="df -h", version="1")
        sent = went(recorder, flavor, "create_public_script", "POST")
        assert "bk_scope_id" not in sent
        assert draft.script_id is not None
        sid, vid = draft.script_id, draft.script_version_id
        extra = await c.create_public_script_version(sid, content="df -hT", version="2")
        went(recorder, flavor, "create_public_script_version", "POST")
        updated = await c.update_public_script_version(sid, extra.script_version_id, content="x")
        went(recorder, flavor, "update_public_script_version", "POST")
        assert updated.content == "x"
        assert (
            await c.publish_public_script_version(sid, vid)
        ).status is ScriptVersionStatus.ONLINE
        went(recorder, flavor, "publish_public_script_version", "POST")
        listed = await c.get_public_script_list(name="dis")
        went(recorder, flavor, "get_public_script_list", "GET")
        assert [s.script_id for s in listed.items] == [sid]
        page = await c.get_public_script_version_list(sid, return_script_content=True)
        went(recorder, flavor, "get_public_script_version_list", "GET")
        assert {v.content for v in page.items} == {"df -h", "x"}
        detail = await c.get_public_script_version_detail(script_id=sid, version="1")
        assert detail is not None
        assert detail.script_version_id == vid
        # scope=None: the scope's methods send the public library's APIs (the row's public=).
        assert await c.get_script_list(None, name="dis") == listed
        went(recorder, flavor, "get_public_script_list", "GET")
        assert await c.get_script_version_list(None, sid, return_script_content=True) == page
        went(recorder, flavor, "get_public_script_version_list", "GET")
        assert await c.get_script_version_detail(None, script_id=sid, version="1") == detail
        went(recorder, flavor, "get_public_script_version_detail", "GET")
        assert [s async for s in c.iter_scripts(None, page_size=1)] == list(listed.items)
        assert [v async for v in c.iter_script_versions(None, sid, page_size=1)] == [
            attrs.evolve(v, content=None) for v in page.items
        ]
        went(recorder, flavor, "get_public_script_version_list", "GET")
        disabled = await c.disable_public_script_version(sid, vid)
        went(recorder, flavor, "disable_public_script_version", "POST")
        assert disabled.status is ScriptVersionStatus.DISABLED
        basic = await c.update_public_script_basic(sid, name="disks")
        went(recorder, flavor, "update_public_script_basic", "POST")
        assert basic.name == "disks"
        await c.delete_public_script_version(sid, extra.script_version_id)
        went(recorder, flavor, "delete_public_script_version", "POST")
        await c.delete_public_script(sid)
        went(recorder, flavor, "delete_public_script", "POST")
        assert (await c.get_public_script_list()).total == 0


@pytest.mark.parametrize("flavor", V3)
async def test_refusals_come_typed(sim, recorder, flavor):
    async with client(recorder, flavor) as c:
        await c.create_script(SCOPE, name="same", content="true", version="1")
        with pytest.raises(InvalidRequestError) as duplicate:
            await c.create_script(SCOPE, name="same", content="true", version="1")
        assert duplicate.value.code == 1243002
        script_id, (version,) = sim.add_script(Scope.biz(9), "theirs", "true")
        with pytest.raises(NotFoundError) as theirs:
            await c.publish_script_version(SCOPE, script_id, version)
        assert theirs.value.code == 1243004


async def test_v2_lists_and_details_scripts(sim, recorder):
    script_id, (old, new) = sim.add_script(SCOPE, "deploy", [("1.0", "a"), ("2.0", "b")])
    _, (public,) = sim.add_script(None, "disk", "df -h", language=4)
    async with client(recorder, V2) as c:
        page = await c.get_script_list(SCOPE, name="dep", script_language=ScriptLanguage.SHELL)
        sent = went(recorder, V2, "get_script_list", "POST")
        assert (sent["script_name"], sent["script_type"], sent["bk_biz_id"]) == ("dep", 1, 2)
        (script,) = page.items
        assert (script.script_id, script.online_script_version_id, script.version) == (
            None,
            new,
            "2.0",
        )
        publics = await c.get_public_script_list(script_language=ScriptLanguage.PYTHON)
        went(recorder, V2, "get_public_script_list", "POST")
        assert [s.online_script_version_id for s in publics.items] == [public]
        every = [s async for s in c.iter_scripts(SCOPE, page_size=1)]
        assert [s.online_script_version_id for s in every] == [new]
        detail = await c.get_script_detail(SCOPE, old)
        assert went(recorder, V2, "get_script_detail", "POST")["id"] == old
        assert (detail.script_version_id, detail.version, detail.content) == (old, "1.0", None)
        public_detail = await c.get_script_detail(None, public)
        assert public_detail.name == "disk"
        count = len(recorder.sent)
        with pytest.raises(UnsupportedOperationError):
            await c.get_script_version_list(SCOPE, script_id)
        with pytest.raises(UnsupportedOperationError):
            await c.create_script(SCOPE, name="n", content="c", version="1")
        with pytest.raises(UnsupportedOperationError):
            await c.check_script("rm -rf /")
        with pytest.raises(UnsupportedOperationError):
            await c.get_dangerous_rule_list()
        assert len(recorder.sent) == count


@pytest.mark.parametrize("flavor", V3)
async def test_get_script_detail_is_v2_only(recorder, flavor):
    async with client(recorder, flavor) as c:
        with pytest.raises(UnsupportedOperationError):
            await c.get_script_detail(SCOPE, 1)
    assert recorder.sent == []


# --- rules and check_script ---------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3)
async def test_rules_check_script_and_a_refused_launch(recorder, flavor):
    async with client(recorder, flavor) as c:
        rule = await c.create_dangerous_rule(
            expression=r"rm\s+-rf",
            script_languages=[ScriptLanguage.SHELL, ScriptLanguage.PERL],
            action=DangerousRuleAction.INTERCEPT,
            description="no rm -rf",
        )
        sent = went(recorder, flavor, "create_dangerous_rule", "POST")
        assert sent == {
            "expression": r"rm\s+-rf",
            "script_language_list": [1, 3],
            "description": "no rm -rf",
            "action": 2,
        }
        assert isinstance(rule, DangerousRule)
        assert (rule.status, rule.script_languages) == (DangerousRuleStatus.DISABLED, (1, 3))
        assert await c.check_script("rm -rf /") == ()  # a disabled rule checks nothing

        enabled = await c.enable_dangerous_rule(rule.id)
        went(recorder, flavor, "enable_dangerous_rule", "POST")
        assert enabled == DangerousRuleState(rule.id, DangerousRuleStatus.ENABLED)
        found = await c.check_script("#!/bin/bash\nrm -rf /tmp\n")
        sent = went(recorder, flavor, "check_script", "POST")
        idempotent = recorder.last()[3]
        assert sent == {"script_language": 1, "content": b64("#!/bin/bash\nrm -rf /tmp\n")}
        assert idempotent  # a check keeps no state
        assert found == (
            ScriptCheckItem(2, "rm -rf /tmp", "rm -rf", ScriptCheckLevel.FATAL, "no rm -rf"),
        )
        with pytest.raises(OperationNotAllowedError) as refused:
            await c.fast_execute_script(SCOPE, targets=IPS, account=ROOT, script_content="rm -rf /")
        assert refused.value.code == 1244019

        listed = await c.get_dangerous_rule_list(script_languages=[ScriptLanguage.PERL])
        sent = went(recorder, flavor, "get_dangerous_rule_list", "POST")
        assert sent == {"script_language_list": [3]}
        assert recorder.last()[3]  # a list is a read: retried
        assert [r.id for r in listed] == [rule.id]

        changed = await c.update_dangerous_rule(
            rule.id, expression="reboot", script_languages=[1], action=DangerousRuleAction.SCAN
        )
        went(recorder, flavor, "update_dangerous_rule", "POST")
        assert (changed.expression, changed.action, changed.status) == (
            "reboot",
            DangerousRuleAction.SCAN,
            DangerousRuleStatus.ENABLED,
        )
        launched = await c.fast_execute_script(
            SCOPE, targets=IPS, account=ROOT, script_content="reboot"
        )
        assert launched.job_instance_id > 0  # a scanning rule never refuses
        off = await c.disable_dangerous_rule(rule.id)
        went(recorder, flavor, "disable_dangerous_rule", "POST")
        assert off.status is DangerousRuleStatus.DISABLED
        assert await c.delete_dangerous_rule(rule.id) is None
        went(recorder, flavor, "delete_dangerous_rule", "POST")
        assert await c.get_dangerous_rule_list() == ()


@pytest.mark.parametrize("flavor", V3)
async def test_writes_are_never_retried(recorder, flavor):
    async with client(recorder, flavor) as c:
        await c.create_script(SCOPE, name="once", content="true", version="1")
        assert recorder.last()[3] is False
        await c.get_script_list(SCOPE)
        assert recorder.last()[3] is True


# --- bad input ----------------------------------------------------------------------------------

BAD: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception]]] = [
    ("create_script", (SCOPE,), {"name": "", "content": "c", "version": "1"}, TypeError),
    ("create_script", (SCOPE,), {"name": "a/b", "content": "c", "version": "1"}, ValueError),
    ("create_script", (SCOPE,), {"name": "n" * 61, "content": "c", "version": "1"}, ValueError),
    ("create_script", (SCOPE,), {"name": "n", "content": b"c", "version": "1"}, TypeError),
    ("create_script", (SCOPE,), {"name": "n", "content": "", "version": "1"}, ValueError),
    ("create_script", (SCOPE,), {"name": "n", "content": "c", "version": "1 0"}, ValueError),
    (
        "create_script",
        (SCOPE,),
        {"name": "n", "content": "c", "version": "1", "script_language": 9},
        ValueError,
    ),
    ("create_script", (2,), {"name": "n", "content": "c", "version": "1"}, TypeError),
    ("create_script_version", (SCOPE, ""), {"content": "c", "version": "1"}, TypeError),
    ("update_script_version", (SCOPE, "s", 0), {"content": "c"}, ValueError),
    ("publish_script_version", (SCOPE, "s", "1"), {}, TypeError),
    ("disable_public_script_version", ("s", -1), {}, ValueError),
    ("delete_public_script", ("",), {}, TypeError),
    ("update_script_basic", (SCOPE, "s"), {"name": ""}, TypeError),
    ("get_script_version_list", (SCOPE, "s"), {"length": 0}, ValueError),
    ("get_public_script_version_list", ("s",), {"return_script_content": "yes"}, TypeError),
    ("check_script", ("",), {}, ValueError),
    ("check_script", ("x",), {"script_language": 0}, ValueError),
    (
        "create_dangerous_rule",
        (),
        {"expression": "", "script_languages": [1], "action": 1},
        TypeError,
    ),
    (
        "create_dangerous_rule",
        (),
        {"expression": "x" * 251, "script_languages": [1], "action": 1},
        ValueError,
    ),
    (
        "create_dangerous_rule",
        (),
        {"expression": "x", "script_languages": [], "action": 1},
        ValueError,
    ),
    (
        "create_dangerous_rule",
        (),
        {"expression": "x", "script_languages": [1], "action": 3},
        ValueError,
    ),
    (
        "create_dangerous_rule",
        (),
        {"expression": "x", "script_languages": "1", "action": 1},
        TypeError,
    ),
    (
        "update_dangerous_rule",
        (0,),
        {"expression": "x", "script_languages": [1], "action": 1},
        ValueError,
    ),
    ("enable_dangerous_rule", (True,), {}, TypeError),
    (
        "fast_execute_script",
        (SCOPE,),
        {"targets": IPS, "account": ROOT, "script_content": "select 1", "script_language": 6},
        ValueError,
    ),
    ("get_dangerous_rule_list", (), {"action": 5}, ValueError),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "error"), BAD)
async def test_bad_input_is_refused_before_sending(recorder, method, args, kwargs, error):
    async with client(recorder, GATEWAY) as c:
        with pytest.raises(error):
            await getattr(c, method)(*args, **kwargs)
    assert recorder.sent == []


def test_the_sync_facade_has_them_too(sim):
    with SyncClient(
        "http://bkjob.test", app_code="a", app_secret="s", username="admin",
        transport=sim.transport(),
    ) as c:  # fmt: skip
        draft = c.create_script(SCOPE, name="sync", content="true", version="1")
        assert draft.script_id is not None
        c.publish_script_version(SCOPE, draft.script_id, draft.script_version_id)
        assert [s.name for s in c.get_script_list(SCOPE).items] == ["sync"]
        rule = c.create_dangerous_rule(expression="true", script_languages=[1], action=1)
        assert c.enable_dangerous_rule(rule.id).status is DangerousRuleStatus.ENABLED
        assert [f.match_content for f in c.check_script("true")] == ["true"]


@pytest.mark.parametrize("flavor", V3)
async def test_call_answers_typed_with_bk_jobs_own_parameters(sim, recorder, flavor):
    sim.add_dangerous_rule("reboot", description="no reboot")
    async with client(recorder, flavor) as c:
        created = await c.call(
            "create_script",
            {
                **SCOPE.params(flavor),
                "name": "by call",
                "script_language": 1,
                "content": b64("reboot"),
                "version": "1",
            },
        )
        went(recorder, flavor, "create_script", "POST")
        assert isinstance(created, ScriptVersion)
        assert created.content == "reboot"
        found = await c.call("check_script", {"script_language": 1, "content": b64("reboot")})
        assert found == (
            ScriptCheckItem(1, "reboot", "reboot", ScriptCheckLevel.FATAL, "no reboot"),
        )
        rules = await c.call("get_dangerous_rule_list", {})
        assert [r.expression for r in rules] == ["reboot"]
        assert all(isinstance(r, DangerousRule) for r in rules)


async def test_call_speaks_v2s_script_reads(sim, recorder):
    _, (version,) = sim.add_script(SCOPE, "deploy", "true")
    async with client(recorder, V2) as c:
        page = await c.call("get_script_list", {"bk_biz_id": 2, "script_name": "dep"})
        detail = await c.call("get_script_detail", {"bk_biz_id": 2, "id": version})
    assert isinstance(page, ScriptPage)
    assert [s.online_script_version_id for s in page.items] == [version]
    assert isinstance(detail, ScriptVersion)
    assert detail.script_version_id == version
