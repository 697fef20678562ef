"""Answers keep what bk-job sends: every value of its examples, every key its Java classes declare.

v4 ``get_job_template_detail``: ``V4JobTemplateStepDTO`` and its parts declare a step's
``script_info``, ``file_info`` and ``approval_info``, and ``V4JobTemplateGlobalVarDTO`` a host
variable's ``execute_target``; the model carries them all, and a walk over bk-job's example (and
over an answer made of every key the Java classes declare) finds each value sent in the model
read from it. The other checked-in samples are walked too, against a list of what the models
leave out on purpose; a field a reader drops fails here.
"""

from __future__ import annotations

import base64
import datetime as _dt
import enum
import itertools
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from bkjob_async import Credentials, Scope, StepType, Targets
from bkjob_async._protocol import Protocol
from bkjob_async.models.templates import (
    AccountRef,
    FileDestination,
    FileStepDetail,
    ScriptSource,
    ScriptStepDetail,
    StepFileSource,
    TemplateApproval,
    TemplateStep,
    TemplateVariable,
    TransferMode,
)
from tests.conftest import APP_SECRET, load_sample

UTC = _dt.timezone.utc
SAMPLE = "get_job_template_detail.v4.apigw-doc-en.json"


def read(data: Any) -> Any:
    credentials = Credentials("app", APP_SECRET, username="admin")
    proto = Protocol("https://bk.example.com/", flavor="apigw-v4", credentials=credentials)
    return proto.answer("get_job_template_detail", data, {})


def test_bk_jobs_example_is_read_whole() -> None:
    detail = read(load_sample(SAMPLE)["data"])
    assert detail.scope == Scope.biz(2)
    assert (detail.id, detail.name, detail.description) == (
        1000,
        "demo-template",
        "Sample template",
    )
    assert detail.create_time == _dt.datetime.fromtimestamp(1738220000, UTC)
    assert detail.variables[1] == TemplateVariable(
        "HOST_TARGET",
        3,
        "Execute target",
        True,
        None,
        Targets(
            host_ids=[10001],
            ips=[(0, "127.0.0.1")],
            dynamic_group_ids=["dg-001"],
            topo_nodes=[("module", 2001)],
        ),
    )
    assert detail.variables[2].value == "******"
    assert detail.steps == (
        TemplateStep(
            101,
            "Run script",
            StepType.SCRIPT,
            script=ScriptStepDetail(
                ScriptSource.LOCAL,
                "SOPS123",
                10001,
                "echo hello",
                1,
                "",
                1000,
                AccountRef(100),
                Targets(ips=[(0, "127.0.0.2")]),
                windows_interpreter=detail.steps[0].script.windows_interpreter,
            ),
        ),
        TemplateStep(
            102,
            "Manual approval",
            StepType.MANUAL_CONFIRM,
            approval=TemplateApproval(1, ("admin",), (), "Please confirm to continue", ("mail",)),
        ),
    )


def test_a_file_step_and_targets_by_variable_are_read() -> None:
    file_info = {
        "file_source_list": [
            {
                "file_list": ["/data/a.tgz"],
                "file_type": 1,
                "account": {"id": 3, "alias": "root"},
                "execute_target": {"variable": "SRC"},
            },
            {"file_list": ["x"], "file_type": 3, "file_source_code": "cos", "account": {"id": 4}},
        ],
        "file_destination": {
            "path": "/tmp/",
            "account": {"id": 3},
            "execute_target": {"host_list": [{"bk_host_id": 9}]},
        },
        "timeout": 600,
        "transfer_mode": 2,
        "source_speed_limit": 10,
        "destination_speed_limit": 20,
        "is_ignore_error": 1,
    }
    steps = [{"id": 1, "name": "copy", "type": 2, "file_info": file_info}]
    detail = read({"id": 5, "step_list": steps, "global_var_list": []})
    assert detail.steps[0].file == FileStepDetail(
        (
            StepFileSource(
                1, ("/data/a.tgz",), None, AccountRef(3, None, "root"), target_variable="SRC"
            ),
            StepFileSource(3, ("x",), None, AccountRef(4), file_source_code="cos"),
        ),
        FileDestination("/tmp/", AccountRef(3), Targets(host_ids=[9])),
        600,
        10,
        20,
        TransferMode.FORCE,
        True,
    )


def _leaves(value: Any) -> set[Any]:
    """Return what a model holds, as the wire could spell it."""
    if value is None:
        return set()
    if isinstance(value, _dt.datetime):
        seconds, text = int(value.timestamp()), value.strftime("%Y-%m-%d %H:%M:%S")
        return {seconds, seconds * 1000, text, value.strftime("%Y-%m-%d %H:%M:%S %z")}
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
        return {round(seconds * 1000), round(seconds), seconds}
    if isinstance(value, bool):
        return {int(value), value}
    if isinstance(value, enum.Enum):
        return {value.value}
    if isinstance(value, str):
        return {value, base64.b64encode(value.encode()).decode()}
    if isinstance(value, (int, float)):
        return {value, str(value)}
    if attrs.has(type(value)):
        return set().union(*(_leaves(getattr(value, f.name)) for f in attrs.fields(type(value))))
    if isinstance(value, (tuple, list)):
        return set().union(set(), *(_leaves(v) for v in value))
    raise AssertionError(f"unexpected {type(value).__name__} in a model")


def _sent(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Return every non-empty scalar of a JSON answer with its path."""
    if isinstance(value, dict):
        return [row for key, v in value.items() for row in _sent(v, f"{path}.{key}")]
    if isinstance(value, list):
        return [row for i, v in enumerate(value) for row in _sent(v, f"{path}[{i}]")]
    return [] if value in ("", None) else [(path, value)]


def test_every_value_bk_job_sends_is_kept() -> None:
    data = load_sample(SAMPLE)["data"]
    kept = _leaves(read(data))
    dropped = [(path, value) for path, value in _sent(data) if value not in kept]
    assert dropped == []


#: The Java classes' JSON keys, nested (``scripts/java_fields.py`` over bk-job 588f99bb).
JAVA = json.loads((Path(__file__).parent / "java" / "v4-template.json").read_text())
#: Keys the model leaves out on purpose: the deprecated ``bk_biz_id`` (the scope carries it)
#: and containers, which a template's targets never hold (bk-job documents them with
#: ``_generic_v4_execute_target_without_container_resp``).
NOT_KEPT = {"bk_biz_id", "kube_container_filters"}


def _fields(name: str) -> dict[str, list[str | None]]:
    cls = JAVA[name]
    inherited = _fields(cls["extends"]) if cls["extends"] else {}
    return {**inherited, **cls["fields"]}


def _answer(name: str, count: itertools.count[int]) -> dict[str, Any]:
    """Return an answer of class ``name`` with every key it declares, each value distinct."""
    out: dict[str, Any] = {}
    for key, (java_type, nested) in _fields(name).items():
        n = next(count)
        if key in NOT_KEPT:
            continue
        if nested == "OpenApiV4HostDTO":  # a host by id or by (cloud, ip), never both
            out[key] = [
                {"bk_host_id": n},
                {"bk_cloud_id": n, "ip": f"10.0.{n // 250}.{n % 250 + 1}"},
            ]
        elif nested is not None:
            value = _answer(nested, count)
            out[key] = [value] if java_type.startswith("List<") else value
        elif key in ("bk_scope_type", "bk_scope_id"):
            out[key] = {"bk_scope_type": "biz", "bk_scope_id": "2"}[key]
        elif java_type == "List<String>":
            out[key] = [f"s-{n}"]
        elif java_type == "String":
            out[key] = f"s-{n}"
        elif key.startswith("is_") or key == "required":
            out[key] = 1
        elif key.endswith("_time"):
            out[key] = 1738220000000 + 1000 * n
        else:
            assert java_type in ("Long", "Integer"), (name, key, java_type)
            out[key] = n
    return out


def test_every_key_the_java_classes_declare_is_kept() -> None:
    data = _answer("OpenApiV4JobTemplateDetailDTO", itertools.count(1))
    steps = data["step_list"][0]
    # one step of each kind, as bk-job sends them
    data["step_list"] = [
        {**steps, "type": 1, "file_info": None, "approval_info": None},
        {**steps, "id": 9001, "type": 2, "script_info": None, "approval_info": None},
        {**steps, "id": 9002, "type": 3, "script_info": None, "file_info": None},
    ]
    kept = _leaves(read(data))
    dropped = [(path, value) for path, value in _sent(data) if value not in kept]
    assert dropped == []
    declared = {key for cls in JAVA.values() for key in cls["fields"]}
    assert {"script_info", "file_info", "approval_info", "execute_target", "variable"} <= declared


#: What the models leave out of the other checked-in samples, and why (a value dropped by
#: mistake is not listed here, so it fails the test below).
SAMPLE_NOT_KEPT = {
    # the scope the caller asked about: the client does not repeat it in the status
    ("get_job_instance_status.v3.apigw-doc.json", ".job_instance.bk_scope_type"),
    ("get_job_instance_status.v3.apigw-doc.json", ".job_instance.bk_scope_id"),
    ("get_job_instance_status.v3.esb-doc-en.json", ".job_instance.bk_scope_type"),
    ("get_job_instance_status.v3.esb-doc-en.json", ".job_instance.bk_scope_id"),
    # a cloud area's display name (its id is kept): not read yet
    (
        "get_step_instance_status.v3.apigw-doc.json",
        ".step_result_group_list[0].host_result_list[0].bk_cloud_name",
    ),
    (
        "get_step_instance_status.v3.apigw-doc.json",
        ".step_result_group_list[1].host_result_list[0].bk_cloud_name",
    ),
    # v2's legacy step detail: the ids asked for, and the targets as text (the hosts are kept)
    ("get_step_instance_status.v2.esb-doc-en.json", ".step_instance_detail.job_instance_id"),
    ("get_step_instance_status.v2.esb-doc-en.json", ".step_instance_detail.bk_biz_id"),
    ("get_step_instance_status.v2.esb-doc-en.json", ".step_instance_detail.target_ips"),
}
SAMPLES = [
    ("get_job_instance_status.v3.apigw-doc.json", "apigw-v3", "get_job_instance_status", 100, None),
    (
        "get_job_instance_status.v3.esb-doc-en.json",
        "esb-jobv3",
        "get_job_instance_status",
        100,
        None,
    ),
    ("get_step_instance_status.v3.apigw-doc.json", "apigw-v3", "get_step_instance_status", 100, 75),
    ("get_job_instance_status.v2.esb-doc-zh.json", "esb-v2", "get_job_instance_status", 100, None),
    (
        "get_step_instance_status.v2.esb-doc-en.json",
        "esb-v2",
        "get_step_instance_status",
        100,
        790001,
    ),
]


@pytest.mark.parametrize(("name", "flavor", "api", "job", "step"), SAMPLES)
def test_every_sample_keeps_its_values_but_those_listed(
    name: str, flavor: str, api: str, job: int, step: int | None
) -> None:
    data = load_sample(name)["data"]
    credentials = Credentials("app", APP_SECRET, username="admin")
    proto = Protocol("https://bk.example.com/", flavor=flavor, credentials=credentials)
    sent = (
        {"job_instance_id": job}
        if step is None
        else {"job_instance_id": job, "step_instance_id": step}
    )
    kept = _leaves(proto.answer(api, data, sent))
    dropped = {path for path, value in _sent(data) if value not in kept}
    assert dropped == {path for sample, path in SAMPLE_NOT_KEPT if sample == name}
