"""Rule: the gateway v4's simulated endpoints are v4's spellings over the v3 handlers.

The simulated Job backend's gateway v4 endpoints: v4's spellings over the v3 handlers.

Rule: handlers see parameters, never HTTP (as ``_api``). Each v4 API here takes v4's request
(``V4FastExecuteScriptRequest``'s ``execute_target``, the list's ``offset``, the log's
``container_id_list``), checks what bk-job's v4 validators check, runs the v3 handler of the
same API and answers v4's shape (execute objects ``{type, resource_id, host}``). A refusal is
an ``ApiFailure`` with bk-job's code; ``v4_status`` says which HTTP status and ``error.code``
bk-job's ``EsbV4ExceptionControllerAdvice`` sends it with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..config import ApiFlavor
from . import _codes as codes
from ._api import ApiFailure, Call, Encoded, Params, scope_of
from ._api import batch_get_job_instance_ip_log as _v3_logs
from ._api import fast_execute_script as _v3_script
from ._api import get_job_instance_ip_log as _v3_ip_log
from ._api import get_job_instance_list as _v3_list
from ._api import get_job_instance_status as _v3_status
from ._store import dto, scope_fields

if TYPE_CHECKING:
    from ._world import World

__all__ = ["v4_status"]

#: ``V4BatchGetJobInstanceExecuteObjectLogRequest``: 1 to 50 execute objects a request.
_MAX_LOG_OBJECTS = 50

# bk-job's code -> the exception class it is thrown as, and so the v4 status and code name.
_NOT_FOUND = frozenset({1244006, 1244007, 1244012, 1243009, 1243026, 1243051, 1245001})
_PRECONDITION = frozenset({1241003, 1241015, 1244015, 1244016, 1244025, 1245006})
_PERMISSION = frozenset({9900403, 1238001})
_EXHAUSTED = frozenset({1244032, 1244033, 1244034})
# Thrown as ``AlreadyExistsException``: a script, version, template, plan, credential, cron
# job, dangerous rule, tag or account alias name taken.
_EXISTS = frozenset(
    {1243002, 1243007, 1243021, 1243036, 1243040, 1243042, 1243056, 1243060, 1245004}
)


def v4_status(code: int) -> tuple[int, str]:
    """Return the HTTP status and ``error.code`` bk-job's v4 answers ``code`` with."""
    if code in _NOT_FOUND:
        return 404, "NOT_FOUND"
    if code in _PRECONDITION:
        return 400, "FAILED_PRECONDITION"
    if code in _PERMISSION:
        return 403, "NO_PERMISSION"
    if code in _EXHAUSTED:
        return 429, "RESOURCE_EXHAUSTED"
    if code in _EXISTS:
        return 409, "ALREADY_EXISTS"
    if code == codes.INTERNAL_ERROR or code in (1240001,):
        return 500, "INTERNAL"
    return 400, "INVALID_ARGUMENT"


def _v3(call: Call, values: Mapping[str, Any]) -> Call:
    """The same call as the gateway's v3 would take it, with ``values``; its containers are
    execute objects (``Call.objects``), not hosts v3 cannot read."""
    return attrs.evolve(
        call, flavor=ApiFlavor.APIGW_V3, params=Params(values, strict=True), objects=True
    )


def _data(answer: object) -> Any:
    return json.loads(answer.data) if isinstance(answer, Encoded) else answer


def _object(row: Mapping[str, Any], world: World | None = None) -> dict[str, Any]:
    """An execute object for a host row of a v3 answer: a container if the world says so."""
    found = None if world is None else world.inventory.container_of(row.get("bk_host_id") or 0)
    if found is not None:
        container = found._asdict()
        return {"type": 2, "resource_id": str(found.id), "container": container}
    host = {k: row[k] for k in ("bk_host_id", "ip", "bk_cloud_id") if row.get(k) is not None}
    return {"type": 1, "resource_id": str(row.get("bk_host_id")), "host": host}


# -- get_job_instance_status ------------------------------------------------------------------


def get_job_instance_status(world: World, call: Call) -> object:
    """v4's status: each host as an execute object, with no ``error_code`` (``V4JobInstanceStatusResp``)."""
    values = dict(call.params.values)
    values["return_ip_result"] = values.pop("return_execute_object_result", "false")
    data = _data(_v3_status(world, _v3(call, values)))
    for step in data.get("step_instance_list") or ():
        rows = step.pop("step_ip_result_list", None)
        if rows is not None:
            step["step_execute_object_result_list"] = [
                {
                    "execute_object": _object(row, world),
                    **{
                        k: row.get(k)
                        for k in ("status", "tag", "exit_code", "start_time", "end_time")
                    },
                    "total_time": row.get("total_time"),
                }
                for row in rows
            ]
    return data


# -- get_job_instance_list --------------------------------------------------------------------


def get_job_instance_list(world: World, call: Call) -> object:
    """v4's history: ``offset``/``length`` bounds, ``{job_instance_list}`` with no total."""
    params = call.params
    offset, length = call.checked()
    values = {k: v for k, v in params.values.items() if k != "offset"}
    values |= {"start": offset, "length": length}
    page = _data(_v3_list(world, _v3(call, values)))
    return {"job_instance_list": page.get("data") or []}


# -- fast_execute_script ----------------------------------------------------------------------


def _execute_target(params: Params) -> dict[str, Any]:
    """v4's ``execute_target`` as v3's ``target_server``; mixed or empty targets are refused
    (``V4ExecuteTargetNotEmptyAndContainerSafely``)."""
    target = params.raw("execute_target")
    if not isinstance(target, Mapping):
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "execute_target")
    hosts = target.get("host_list") or []
    groups = target.get("dynamic_group_list") or []
    nodes = target.get("topo_node_list") or []
    containers = target.get("kube_container_filters") or []
    if not (hosts or groups or nodes or containers):
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "execute_target")
    if containers and (hosts or groups or nodes):
        raise ApiFailure(
            codes.BAD_REQUEST, message="Hosts and containers cannot be executed together"
        )
    if containers:
        for item in containers:
            _check_container_filter(item)
        return {"kube_container_filters": containers}
    if not all(isinstance(h, Mapping) for h in hosts):
        raise ApiFailure(codes.BAD_REQUEST)
    by_id = [h["bk_host_id"] for h in hosts if h.get("bk_host_id") is not None]
    by_ip = [h for h in hosts if h.get("bk_host_id") is None]
    server: dict[str, Any] = {"dynamic_group_list": groups, "topo_node_list": nodes}
    if by_id and by_ip:
        raise ApiFailure(
            codes.BAD_REQUEST, message="The simulator takes hosts all by id or all by ip"
        )
    server["host_id_list" if by_id else "ip_list"] = by_id or by_ip
    return server


def _check_container_filter(item: Any) -> None:
    """``V4ExecuteTargetNotEmptyAndContainerSafely``: clusters named; a filter of clusters
    alone only with ``execute_in_whole_cluster``."""
    if not isinstance(item, Mapping):
        raise ApiFailure(codes.BAD_REQUEST)
    clusters = (item.get("kube_cluster_filter") or {}).get("cluster_uid_list")
    if not clusters:
        raise ApiFailure(codes.BAD_REQUEST, message="Cluster filter is empty")
    narrowed = any(
        item.get(key)
        for key in (
            "kube_namespace_filter",
            "kube_workload_filter",
            "kube_pod_filter",
            "kube_container_prop_filter",
        )
    )
    if not narrowed and not item.get("execute_in_whole_cluster"):
        raise ApiFailure(
            codes.BAD_REQUEST,
            message="Execute in the whole cluster must be set to target a cluster alone",
        )


def fast_execute_script(world: World, call: Call) -> object:
    """v4's script launch: ``execute_target`` and ``param_sensitive`` over v3's checks."""
    values = {k: v for k, v in call.params.values.items() if k != "execute_target"}
    values["target_server"] = _execute_target(call.params)
    values["is_param_sensitive"] = 1 if call.params.flag("param_sensitive") else 0
    values.pop("param_sensitive", None)
    return _v3_script(world, _v3(call, values))


# -- batch_get_job_instance_execute_object_log ------------------------------------------------


def batch_get_job_instance_execute_object_log(world: World, call: Call) -> object:
    """v4's logs: the first of ``host_id_list``, ``ip_list``, ``container_id_list`` given,
    1 to 50 of them (``ExecuteObjectsLogGroupSequenceProvider``)."""
    params = call.params
    values = {
        k: v
        for k, v in params.values.items()
        if k not in ("host_id_list", "ip_list", "container_id_list")
    }
    for key in ("host_id_list", "ip_list", "container_id_list"):
        chosen = params.raw(key)
        if chosen is not None:
            break
    else:
        key, chosen = "host_id_list", None
    if not isinstance(chosen, list) or not 1 <= len(chosen) <= _MAX_LOG_OBJECTS:
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, key)
    if key == "container_id_list":  # containers run in the engine under their own ids
        key = "host_id_list"
    values[key] = chosen
    answer = _data(_v3_logs(world, _v3(call, values)))
    out = {k: answer.get(k) for k in ("job_instance_id", "step_instance_id", "log_type")}
    scripts = answer.get("script_task_logs")
    if scripts is not None or answer.get("log_type") == 1:  # (v4 lists none as [], not null)
        out["script_step_execute_object_logs"] = [
            {"execute_object": _object(row, world), "log_content": row.get("log_content")}
            for row in scripts or ()
        ]
    files = answer.get("file_task_logs")
    if files is not None:
        out["file_step_execute_object_logs"] = [
            _file_row(row, world) for row in files if any(v is not None for v in row.values())
        ]
    return out


def _file_row(row: Mapping[str, Any], world: World) -> dict[str, Any]:
    upload: list[dict[str, Any]] = []
    download: list[dict[str, Any]] = []
    for log in row.get("file_logs") or ():
        item = {k: v for k, v in log.items() if k not in ("src_ip", "dest_ip")}
        if log.get("src_ip") is not None:
            item["src_execute_object"] = _object(log["src_ip"], world)
        if log.get("dest_ip") is not None:
            item["dest_execute_object"] = _object(log["dest_ip"], world)
        (upload if log.get("mode") == 0 else download).append(item)
    out: dict[str, Any] = {"execute_object": _object(row, world)}
    if upload:
        out["upload_log"] = upload
    if download:
        out["download_log"] = download
    return out


# -- job-manage: a template's detail, a plan from a template, the user's scopes ---------------

_MAX_PLAN_NAME = 60


def _template(world: World, call: Call) -> Any:
    """The plan of the template the call names (every simulated plan has its own)."""
    scope = scope_of(call.params)
    (template_id,) = call.checked()
    for plan in world.plans.values():
        if plan.template_id == template_id and plan.scope in (None, scope):
            return scope, plan
    # (thrown as a ``NotFoundException``: 404)
    raise ApiFailure(codes.TEMPLATE_NOT_EXIST, message="Job template does not exist")


def get_job_template_detail(world: World, call: Call) -> object:
    """A template's detail (``OpenApiV4JobTemplateDetailDTO``); times in epoch seconds."""
    scope, plan = _template(world, call)
    variables = [
        {
            "name": v.name,
            "type": v.type,
            "description": v.description,
            "required": 1 if v.required else 0,
            "value": "" if v.type == 4 else v.value,  # bk-job hides a password's value
        }
        for v in plan.variables
    ]
    steps = [
        {"id": plan.template_id * 100 + i, "name": f"step {i + 1}", "type": int(step.type)}
        for i, step in enumerate(plan.steps)
    ]
    spec = "id=template_id name description creator create_time=create_s last_modify_user=creator"
    row = dto(
        plan,
        f"{spec} last_modify_time=create_s global_var_list step_list",
        description="",
        global_var_list=variables,
        step_list=steps,
    )
    return {**scope_fields(scope, biz=False), **row}


def create_job_plan(world: World, call: Call) -> object:
    """A new plan of a template's steps (``V4CreateJobPlanRequest``: a name of 1 to 60)."""
    params = call.params
    scope, template = _template(world, call)
    name = params.text("name")
    if not name or not name.strip() or len(name) > _MAX_PLAN_NAME:
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "name")
    name = name.strip()
    if any(p.template_id == template.template_id and p.name == name for p in world.plans.values()):
        raise ApiFailure(codes.PLAN_NAME_EXIST, message="Plan name already exists")  # (409)
    enabled = params.raw("enable_steps")
    steps = template.steps
    if enabled is not None:
        if not isinstance(enabled, list) or not enabled:
            raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "enable_steps")
        ids = {template.template_id * 100 + i: step for i, step in enumerate(template.steps)}
        if any(i not in ids for i in enabled):
            raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "enable_steps")
        steps = tuple(ids[i] for i in enabled)
    plan_id = max(world.plans, default=0) + 1
    plan = world.add_plan(plan_id, steps, name, scope, variables=template.variables)
    plan.creator, plan.create_s = call.username, world.now_ms() // 1000
    plan.template_id = template.template_id
    spec = "job_plan_id=plan_id job_plan_name=name job_template_id=template_id creator"
    row = dto(plan, f"{spec} create_time=create_s need_update", need_update=False)
    return {**scope_fields(scope, biz=False), **row}


def get_user_authorized_scopes(world: World, call: Call) -> object:
    """Every scope the simulator knows of (its jobs' and plans'), by type and id; the user
    may use them all (``OpenApiUserScopeV4Resource``: ``length`` 1..200, default 10)."""
    offset, length = call.checked()
    found = {job.scope for job in world.jobs.values()}
    found |= {plan.scope for plan in world.plans.values() if plan.scope is not None}
    ordered = sorted(found, key=lambda s: (s.type.value, s.id))
    rows = [
        {
            "bk_scope_type": s.type.value,
            "bk_scope_id": str(s.id),
            "name": f"{s.type.value} {s.id}",
            "favor": False,
            "time_zone": "Asia/Shanghai",
        }
        for s in ordered[offset : offset + length]
    ]
    return {"total": len(ordered), "offset": offset, "length": length, "scope_list": rows}


# -- job-analysis: a task's context -------------------------------------------------------------


def _context_target(call: Call) -> dict[str, Any]:
    """The step and host a context names, as v3's ip log takes them (no containers yet)."""
    params = call.params
    values = {
        k: params.raw(k)
        for k in ("bk_scope_type", "bk_scope_id", "job_instance_id", "step_instance_id")
    }
    _count, _kind, values["bk_host_id"], *_mode = call.checked()
    return values


def get_script_task_context(world: World, call: Call) -> object:
    """A script task's context (``OpenApiGetTaskContextV4ResourceImpl``): the error log is the
    caller's ``content``, else the task's log."""
    values = _context_target(call)
    content = call.params.text("content")
    if not content:
        log = _data(_v3_ip_log(world, _v3(call, values)))
        content = log.get("log_content") or ""
    fields = [("scriptType", "Shell"), ("scriptContent", ""), ("secureParam", "false")]
    fields += [("scriptParams", ""), ("errorLog", content)]
    return {"field_list": [{"name": n, "value": v, "description": n} for n, v in fields]}


def get_file_task_context(world: World, call: Call) -> object:
    """A file task's context: which side failed, and each side's error data."""
    values = _context_target(call)  # (and its mode: upload or download)
    _v3_ip_log(world, _v3(call, values))  # the step and host must exist
    fields = [("errorSource", ""), ("uploadFileErrorData", ""), ("downloadFileErrorData", "")]
    return {"field_list": [{"name": n, "value": v, "description": n} for n, v in fields]}
