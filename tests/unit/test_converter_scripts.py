"""The converter's script, check_script and dangerous-rule hooks, on bk-job's documented answers
(``docs/apidoc/esb/jobv3-confapis/apidocs/en/*.md``) and v2's ``EsbScriptDTO`` pages."""

from __future__ import annotations

import datetime as dt

import pytest

from bkjob_async import (
    DangerousRule,
    DangerousRuleAction,
    DangerousRuleState,
    DangerousRuleStatus,
    ResponseFormatError,
    Script,
    ScriptCheckItem,
    ScriptCheckLevel,
    ScriptPage,
    ScriptVersion,
    ScriptVersionPage,
    ScriptVersionState,
    ScriptVersionStatus,
)
from bkjob_async._converter import Generation, structure

UTC = dt.timezone.utc
CST = dt.timezone(dt.timedelta(hours=8))


def v3(data: object, cls: type) -> object:
    return structure(data, cls, Generation.V3, CST)


def v2(data: object, cls: type) -> object:
    return structure(data, cls, Generation.V2, CST)


def test_a_created_script_reads_as_its_draft_version():
    data = {  # create_script.md
        "id": 1000019,
        "script_id": "4a350b0e0707450e93326f6ace921072",
        "name": "script test",
        "script_language": 1,
        "bk_scope_type": "biz",
        "bk_scope_id": "2",
        "content": "#!/bin/bash\ndate\n",
        "creator": "admin",
        "create_time": 1691741073000,
        "last_modify_user": "admin",
        "last_modify_time": 1691741073000,
        "version": "1.0",
        "status": 0,
        "description": "script test",
    }
    version = v3(data, ScriptVersion)
    assert isinstance(version, ScriptVersion)
    assert (version.script_version_id, version.script_id, version.status) == (
        1000019,
        "4a350b0e0707450e93326f6ace921072",
        ScriptVersionStatus.DRAFT,
    )
    assert version.create_time == dt.datetime.fromtimestamp(1691741073, UTC)


def test_a_version_list_page_and_a_state():
    page = v3(
        {
            "data": [{"id": 1, "script_id": "s", "version": "V1.0", "status": 1, "content": None}],
            "start": 0,
            "length": 10,
            "total": 1,
        },
        ScriptVersionPage,
    )
    assert isinstance(page, ScriptVersionPage)
    assert (page.total, page.items[0].version, page.items[0].content) == (1, "V1.0", None)
    empty = v3({"data": None, "start": 0, "length": 10, "total": 0}, ScriptVersionPage)
    assert isinstance(empty, ScriptVersionPage)
    assert empty.items == ()
    state = v3({"id": 1000019, "script_id": "s", "status": 1}, ScriptVersionState)
    assert state == ScriptVersionState(1000019, "s", ScriptVersionStatus.ONLINE)


def test_check_script_findings():
    data = [  # check_script.md
        {
            "line": 1,
            "line_content": "rm /tmp",
            "match_content": "rm /tmp",
            "level": 1,
            "description": "The first line ...",
        },
        {
            "line": 1,
            "line_content": "rm /tmp",
            "match_content": "rm",
            "level": 3,
            "description": "dangerous！！！",
        },
    ]
    found = v3(data, tuple[ScriptCheckItem, ...])
    assert [(f.level, f.match_content) for f in found] == [  # type: ignore[attr-defined]
        (ScriptCheckLevel.WARNING, "rm /tmp"),
        (ScriptCheckLevel.FATAL, "rm"),
    ]
    assert v3(None, tuple[ScriptCheckItem, ...]) == ()


def test_dangerous_rules_and_their_state():
    rule = {  # create_dangerous_rule.md
        "id": 1,
        "expression": "rm -rf",
        "script_language_list": [1],
        "description": "drangerous!!!",
        "action": 2,
        "status": 0,
        "creator": "admin",
        "create_time": 1695193968000,
        "last_modify_user": "admin",
        "last_modify_time": 1695193968000,
    }
    read = v3(rule, DangerousRule)
    assert isinstance(read, DangerousRule)
    assert (read.script_languages, read.action, read.status, read.enabled) == (
        (1,),
        DangerousRuleAction.INTERCEPT,
        DangerousRuleStatus.DISABLED,
        False,
    )
    assert v3([rule, {**rule, "id": 2, "status": 1}], tuple[DangerousRule, ...])[1].enabled  # type: ignore[index]
    assert v3({"id": 1, "status": 1}, DangerousRuleState) == DangerousRuleState(
        1, DangerousRuleStatus.ENABLED
    )
    with pytest.raises(ResponseFormatError):
        v3({**rule, "script_language_list": "1"}, DangerousRule)


def test_v2_lists_scripts_by_their_online_version_in_utc_text():
    data = {
        "start": 0,
        "page_size": 10,
        "total_record_size": 1,
        "data": [
            {
                "bk_biz_id": 2,
                "id": 5002,
                "name": "deploy",
                "public": False,
                "version": "2.0",
                "tag": None,
                "type": 4,
                "creator": "admin",
                "create_time": "2025-01-01 00:00:00",
                "last_modify_user": "bob",
                "last_modify_time": "2025-01-02 08:00:00",
                "content": "print(1)",
            }
        ],
    }
    page = v2(data, ScriptPage)
    assert isinstance(page, ScriptPage)
    (script,) = page.items
    assert script == Script(
        None,
        name="deploy",
        script_language=4,
        online_script_version_id=5002,
        creator="admin",
        create_time=dt.datetime(2025, 1, 1, tzinfo=UTC),  # bk-job formats these in UTC
        last_modify_user="bob",
        last_modify_time=dt.datetime(2025, 1, 2, 8, tzinfo=UTC),
        version="2.0",
        content="print(1)",
    )
    assert (page.length, page.total) == (10, 1)


def test_v2_script_detail():
    version = v2({"id": 7, "name": "n", "version": "1", "type": 1, "public": True}, ScriptVersion)
    assert version == ScriptVersion(7, name="n", version="1", script_language=1)
    with pytest.raises(ResponseFormatError):
        v2({"name": "no id"}, ScriptVersion)
