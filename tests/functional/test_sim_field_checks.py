"""The simulator refuses bad ids, operation codes and statuses as it did before its checks
became a table (``testing/_field_checks.py``): every field of the APIs the table covers,
missing, 0, -1, 1, 3 and 10,000, on a gateway GET and not, each answer pinned.

The text, length and paging checks that moved into the table later are probed the same way
(``TEXT_PROBED``: each field missing, empty, blank, at and past its length, of an illegal
pattern, or not a number; then all of them at once, for the order of the checks), their
answers (a success's data too) pinned as the handlers gave them before the move."""

from __future__ import annotations

import collections
import hashlib
import json
import re
from collections.abc import Iterator

from bkjob_async.config import ApiFlavor
from bkjob_async.testing import BkJobSimulator
from bkjob_async.testing._api import ApiFailure, Call, Params
from bkjob_async.testing._api_catalog import V2_ENDPOINTS, V3_ENDPOINTS, V4_ENDPOINTS

#: Each API and the fields probed (bk-job's names), as the handlers read them before the table.
PROBED = [
    ("v2", "get_job_detail", ("bk_job_id",)),
    ("v2", "get_job_instance_global_var_value", ("job_instance_id",)),
    ("v2", "get_job_instance_log", ("job_instance_id",)),
    ("v2", "get_job_instance_status", ("job_instance_id",)),
    ("v2", "get_step_instance_status", ("job_instance_id", "step_instance_id")),
    ("v2", "operate_job_instance", ("job_instance_id", "operation_code")),
    ("v2", "operate_step_instance", ("job_instance_id", "step_instance_id", "operation_code")),
    ("v2", "update_cron_status", ("cron_id", "cron_status")),
    ("v3", "batch_get_job_instance_ip_log", ("job_instance_id", "step_instance_id")),
    ("v3", "delete_cron", ("id",)),
    ("v3", "get_cron_detail", ("id",)),
    ("v3", "get_job_instance_global_var_value", ("job_instance_id",)),
    ("v3", "get_job_instance_ip_log", ("job_instance_id", "step_instance_id")),
    ("v3", "get_job_instance_status", ("job_instance_id",)),
    ("v3", "get_job_plan_detail", ("job_plan_id",)),
    ("v3", "get_step_instance_detail", ("job_instance_id", "step_instance_id")),
    ("v3", "get_step_instance_status", ("job_instance_id", "step_instance_id")),
    ("v3", "operate_job_instance", ("job_instance_id", "operation_code")),
    ("v3", "operate_step_instance", ("job_instance_id", "step_instance_id", "operation_code")),
    ("v3", "update_cron_status", ("id", "status")),
    ("v2", "execute_job", ("bk_job_id",)),
    ("v3", "execute_job_plan", ("job_plan_id",)),
    ("v3", "get_job_instance_list", ("create_time_start", "create_time_end")),
    ("v4", "get_job_template_detail", ("id",)),
    ("v4", "create_job_plan", ("job_template_id",)),
    (
        "v4",
        "get_file_task_context",
        ("execute_count", "execute_object_type", "execute_object_resource_id"),
    ),
    (
        "v4",
        "get_script_task_context",
        ("execute_count", "execute_object_type", "execute_object_resource_id"),
    ),
    ("v3", "update_account", ("id",)),
    ("v3", "delete_account", ("id",)),
    ("v3", "update_dangerous_rule", ("id",)),
    ("v3", "delete_dangerous_rule", ("id",)),
    ("v3", "enable_dangerous_rule", ("id",)),
    ("v3", "disable_dangerous_rule", ("id",)),
    ("v3", "update_script_version", ("script_id", "script_version_id")),
    ("v3", "update_public_script_version", ("script_id", "script_version_id")),
    ("v3", "publish_script_version", ("script_id", "script_version_id")),
    ("v3", "publish_public_script_version", ("script_id", "script_version_id")),
    ("v3", "disable_script_version", ("script_id", "script_version_id")),
    ("v3", "disable_public_script_version", ("script_id", "script_version_id")),
    ("v3", "delete_script_version", ("script_id", "script_version_id")),
    ("v3", "delete_public_script_version", ("script_id", "script_version_id")),
]
#: What main answered at f122b52, before the table (code, arguments, English text): each
#: answer's count, and all of them.
COUNTS = {
    '[1241002, "Invalid request parameters"]': 120,
    '[1243001, "Script not exist"]': 120,
    '[1244006, "Task instance does not exist"]': 74,
    '[1240003, "Bad Request"]': 54,
    '[1240003, "Invalid bk_scope_type"]': 54,
    '[1241007, "job_instance_id", "Missing or invalid request parameter [job_instance_id]"]': 40,
    '[1240003, "Script content cannot be empty"]': 40,
    '[1245001, "Cron job does not exist"]': 30,
    '"ok"': 20,
    '[1241007, "execute_object_type", "Missing or invalid request parameter [execute_object_type]"]': 20,
    '[1240002, "Internal Server Error"]': 20,
    '[1241007, "mode", "Missing or invalid request parameter [mode]"]': 18,
    '[1240003, "Script id cannot be empty"]': 16,
    '[1241007, "step_instance_id", "Missing or invalid request parameter [step_instance_id]"]': 15,
    '[1240003, "Script version id cannot be empty"]': 14,
    '[1243009, "Job plan does not exist"]': 12,
    '[1244007, "Task step instance does not exist"]': 12,
    '[1244012, "Job plan does not exist"]': 12,
    '[1241007, "bk_job_id", "Missing or invalid request parameter [bk_job_id]"]': 10,
    '[1241007, "execute_object_resource_id", "Missing or invalid request parameter [execute_object_resource_id]"]': 10,
    '[1240003, "High-risk statement regex can not be empty"]': 10,
    '[1241007, "create_time_start|create_time_end", "Missing or invalid request parameter [create_time_start|create_time_end]"]': 8,
    '[1240003, "High-risk statement rule id can not be empty"]': 8,
    '[1241010, "id", "id must be a positive integer", "Invalid request parameter [id], reason: id must be a positive integer"]': 6,
    '[1243026, "Job template does not exist"]': 6,
    '[1241007, "job_plan_id", "Missing or invalid request parameter [job_plan_id]"]': 5,
    '[1241005, "job_plan_id", "Invalid request parameter [job_plan_id]"]': 5,
    '[1241007, "create_time_start", "Missing or invalid request parameter [create_time_start]"]': 5,
    '[1241007, "create_time_end", "Missing or invalid request parameter [create_time_end]"]': 5,
    '[1241007, "job_template_id", "Missing or invalid request parameter [job_template_id]"]': 5,
    '[1241010, "status", "status must >= 0", "Invalid request parameter [status], reason: status must >= 0"]': 4,
    '[1241007, "execute_count", "Missing or invalid request parameter [execute_count]"]': 4,
    '[1244003, "0", "Account [0] does not exist"]': 4,
    '[1244003, "-1", "Account [-1] does not exist"]': 4,
    '[1244003, "1", "Account [1] does not exist"]': 4,
    '[1244003, "3", "Account [3] does not exist"]': 4,
    '[1244003, "10000", "Account [10000] does not exist"]': 4,
    '[1240003, "Script version cannot be empty"]': 2,
}
DIGEST = "6f0cd827e181563264df1c33923aa6dee2001d6cd6bebb3b1ebf9acd332402b5"
FLAVORS = {
    "v2": (ApiFlavor.ESB_V2, V2_ENDPOINTS),
    "v3": (ApiFlavor.ESB_JOBV3, V3_ENDPOINTS),
    "v4": (ApiFlavor.APIGW_V4, V4_ENDPOINTS),
}


def answers() -> dict[str, object]:
    world = BkJobSimulator(virtual_clock=True)._world
    found: dict[str, object] = {}
    for generation, api, fields in PROBED:
        flavor, routes = FLAVORS[generation]
        for strict in (False, True):
            for field in fields:
                for value in (None, 0, -1, 1, 3, 10_000):
                    values = {"bk_biz_id": 2, **dict.fromkeys(fields, 1), field: value}
                    if value is None:
                        del values[field]
                    call = Call(flavor, api, Params(values, strict=strict), True, "admin")
                    try:
                        routes[api].handler(world, call)
                        got: object = "ok"
                    except ApiFailure as failure:
                        got = [failure.code, *map(str, failure.args_), failure.text(True)]
                    found[f"{generation} {api} {field}={value} strict={strict}"] = got
    return found


#: A valid value of each probed field of the script library.
VALID: dict[str, object] = {
    "name": "n",
    "version": "v1",
    "content": "ZWNobyAx",
    "script_id": "s1",
    "script_language": 1,
    "script_version_id": 1,
    "start": 0,
    "length": 10,
}
#: Each API (generation, name, a label) and its probed fields at a valid value: each is
#: probed with ``TEXT_VALUES`` or ``NUMBER_VALUES`` (by its valid value's kind), as the
#: handlers read them before their text and paging checks joined the table.
Probed = tuple[str, str, str, dict[str, object]]
SCRIPTS_PROBED: list[Probed] = [
    ("v3", f"{verb}_{public}{thing}", "", {f: VALID[f] for f in fields})
    for public in ("", "public_")
    for verb, thing, fields in (
        ("get", "script_list", ("script_language", "name", "start", "length")),
        ("get", "script_version_list", ("script_id", "start", "length")),
        ("create", "script", ("name", "script_language", "content", "version")),
        ("create", "script_version", ("script_id", "content", "version")),
        ("update", "script_basic", ("script_id", "name")),
        ("update", "script_version", ("script_id", "script_version_id", "content")),
        ("publish", "script_version", ("script_id", "script_version_id")),
        ("disable", "script_version", ("script_id", "script_version_id")),
        ("delete", "script", ("script_id",)),
        ("delete", "script_version", ("script_id", "script_version_id")),
    )
]
_SOURCE = {"code": "fs1", "alias": "a", "type": "TENCENT_CLOUD_COS", "credential_id": "c1"}
_CRON = {"job_plan_id": 1, "name": "n", "expression": "* * * * *", "execute_time": 0}
_V2_CRON = {"bk_job_id": 1, "cron_name": "n", "cron_expression": "* * * * *"}
MANAGE_PROBED: list[Probed] = [
    (
        "v3",
        "create_account",
        "",
        {
            "account": "root",
            "type": 1,
            "category": 1,
            "password": "p",
            "alias": "a",
            "description": "d",
        },
    ),
    ("v3", "update_account", "", {"id": 1, "password": "p", "alias": "a", "description": "d"}),
    ("v3", "create_credential", "", {"name": "c", "type": "PASSWORD", "credential_password": "p"}),
    ("v3", "update_credential", "", {"id": "c1", "type": "PASSWORD", "name": "c"}),
    ("v3", "get_credential_detail", "", {"id": "c1"}),
    ("v3", "create_file_source", "", _SOURCE),
    ("v3", "update_file_source", "", _SOURCE),
    ("v3", "get_file_source_detail", "", {"code": "fs1"}),
    ("v3", "get_cron_list", "", {"start": 0, "length": 10, "id": 0}),
    ("v2", "get_cron_list", "", {"start": 0, "length": 10, "cron_id": 0}),
    ("v3", "save_cron", "new", {"id": -1, **_CRON}),
    ("v3", "save_cron", "change", {"id": 1, **_CRON}),
    ("v2", "save_cron", "new", _V2_CRON),
    ("v2", "save_cron", "change", {"cron_id": 1, **_V2_CRON}),
]
_RULE = {"expression": "rm", "script_language_list": [1], "description": "d", "action": 1}
RULES_PROBED: list[Probed] = [
    ("v3", "create_dangerous_rule", "", _RULE),
    ("v3", "update_dangerous_rule", "", {"id": 1, **_RULE}),
    ("v3", "check_script", "", {"script_language": 1, "content": "ZWNobyAx"}),
    ("v3", "get_account_list", "", {"category": 1, "start": 0, "length": 10}),
    ("v4", "get_job_instance_list", "", {"offset": 0, "length": 10}),
    ("v4", "get_user_authorized_scopes", "", {"offset": 0, "length": 10}),
]
_SOURCES = [
    {"file_list": ["/tmp/a"], "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}}
]
_V2_SOURCES = [{"files": ["/tmp/a"], "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}]
_CONTENT = {"script_content": "ZWNobyAx", "script_param": "YQ=="}
LAUNCH_PROBED: list[Probed] = [
    ("v3", "fast_execute_script", "content", {**_CONTENT, "script_language": 1, "timeout": 60}),
    ("v3", "fast_execute_script", "ids", {"script_version_id": 1, "script_id": "s1"}),
    ("v2", "fast_execute_script", "content", {**_CONTENT, "script_type": 1}),
    ("v2", "fast_execute_script", "ids", {"script_id": 1}),
    ("v3", "fast_transfer_file", "", {"file_target_path": "/tmp", "file_source_list": _SOURCES}),
    ("v2", "fast_push_file", "", {"file_target_path": "/tmp", "file_source": _V2_SOURCES}),
    (
        "v4",
        "get_file_task_context",
        "",
        {"execute_count": 0, "execute_object_type": 1, "execute_object_resource_id": 1, "mode": 0},
    ),
]
TEXT_VALUES = (None, "", "  ", "a", "a" * 60, "a" * 61, "a/b", "v1.0#@_-", "ZWNobyAx", "x", 0)
NUMBER_VALUES = (None, "", "x", -1, 0, 1, 6, 7, 1_000, 1_001, 10_000)
#: The management APIs' texts: ``TEXT_VALUES`` and each side of their limits too.
LONG_VALUES = (*TEXT_VALUES, *("a" * n for n in (117, 118, 255, 256, 1_024, 1_025)))
#: The rules' texts (their limits, a regular expression that does not compile) and numbers
#: (v4's offset and length limits), and the values of a list.
RULE_TEXTS = (*LONG_VALUES, *("a" * n for n in (250, 251, 1_000, 1_001)), "(", "a[")
RULE_NUMBERS = (*NUMBER_VALUES, 2, 3, 200, 201, 9_999, 10_001)
LIST_VALUES = (None, [], [1], [1, 9], [0], ["x"], "1", 0)
TEXT_DIGEST = "5ec538fce0f3fba57459587474b36eb7862abc237404e67efbbd421d8bf63d52"
LAUNCH_DIGEST = "a91b82d5609635865cda84360bf0e323904d5626b05f4cf01c7182ca47db00f9"
RULES_DIGEST = "170e79bd29e0e763026651217a09fda253c5c98383f5dff24e9fa84f96b0a834"
MANAGE_DIGEST = "96cfc90823a9801902103635bbe05812765b0e6ac4036e612c488fe941522f57"
GENERATIONS = {
    "v2": (ApiFlavor.ESB_V2, V2_ENDPOINTS),
    "v3": (ApiFlavor.ESB_JOBV3, V3_ENDPOINTS),
    "v4": (ApiFlavor.APIGW_V4, V4_ENDPOINTS),
}


def _probes(
    valid: dict[str, object], texts: tuple[object, ...], numbers: tuple[object, ...]
) -> Iterator[tuple[str, dict[str, object]]]:
    """Each field at each of its values, the others valid; then every field at once at the
    n-th value of its kind (which check comes first)."""
    kinds = {
        f: numbers if isinstance(v, int) else LIST_VALUES if isinstance(v, list) else texts
        for f, v in valid.items()
    }
    for field in valid:
        for value in kinds[field]:
            yield f"{field}={value!r}", {**valid, field: value}
    for n in range(max(len(texts), len(numbers))):
        yield f"all#{n}", {f: values[n % len(values)] for f, values in kinds.items()}


def text_answers(
    probed: list[Probed], texts: tuple[object, ...], numbers: tuple[object, ...] = NUMBER_VALUES
) -> dict[str, object]:
    world = BkJobSimulator(virtual_clock=True)._world
    found: dict[str, object] = {}
    for generation, api, label, valid in probed:
        flavor, routes = GENERATIONS[generation]
        for strict in (False, True):
            for probe, given in _probes(valid, texts, numbers):
                values = {"bk_biz_id": 2, **{k: v for k, v in given.items() if v is not None}}
                call = Call(flavor, api, Params(values, strict=strict), True, "u")
                try:
                    got: object = ["ok", routes[api].handler(world, call)]
                except ApiFailure as failure:
                    got = [failure.code, *map(str, failure.args_), failure.text(True)]
                found[f"{generation} {api}{label and ' ' + label} {probe} strict={strict}"] = got
    return found


def _digest(found: dict[str, object], *, random_ids: bool = False) -> str:
    """The answers' digest; ``random_ids``: a credential's random id (a UUID's hex) masked."""
    text = json.dumps(found, sort_keys=True, indent=0, ensure_ascii=False, default=str)
    if random_ids:
        text = re.sub(r'"[0-9a-f]{32}"', '"<uuid>"', text)
    return hashlib.sha256(text.encode()).hexdigest()


def test_every_script_probe_is_answered_as_before_its_checks_joined_the_table() -> None:
    assert _digest(text_answers(SCRIPTS_PROBED, TEXT_VALUES)) == TEXT_DIGEST


def test_every_launch_probe_is_answered_as_before() -> None:
    assert _digest(text_answers(LAUNCH_PROBED, TEXT_VALUES)) == LAUNCH_DIGEST


def test_every_rule_check_script_and_page_probe_is_answered_as_before() -> None:
    assert _digest(text_answers(RULES_PROBED, RULE_TEXTS, RULE_NUMBERS)) == RULES_DIGEST


def test_every_account_credential_source_and_cron_probe_is_answered_as_before() -> None:
    found = text_answers(MANAGE_PROBED, LONG_VALUES)
    assert _digest(found, random_ids=True) == MANAGE_DIGEST


def test_every_probe_is_answered_as_before_the_table() -> None:
    found = answers()
    counts = collections.Counter(json.dumps(got, ensure_ascii=False) for got in found.values())
    assert dict(counts) == COUNTS
    text = json.dumps(found, sort_keys=True, indent=0)
    assert hashlib.sha256(text.encode()).hexdigest() == DIGEST
