"""Rule: as ``_api``, the catalog's simulated endpoints see parameters, never HTTP.

The simulated endpoints for config files, variable values, plans and accounts.

Rule: as ``_api``, handlers see parameters, never HTTP; each follows the bk-job resource named
in its docstring, its checks and its error codes. ``V3_ENDPOINTS`` and ``V2_ENDPOINTS`` here are
the whole routing tables: ``_api``'s, these, the script library's (``_scripts``), the
dangerous-command rules' (``_rules``, which also guards ``fast_execute_script``), those of
accounts, credentials, file sources, templates, step details and SQL (``_api_manage``) and the
cron jobs' (``_api_crons``).
"""

from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._protocol import TABLE
from ..config import ApiFlavor, Scope
from ..models.enums import StepType, TaskType
from . import _api, _api_crons, _api_manage, _api_v4, _rules, _scripts
from . import _codes as codes
from ._api import GENERATION, NUMBERS, ApiFailure, Call, Endpoint, Params, paged, scope_of
from ._fields import FIELDS
from ._plan import MASK, StepPlan
from ._render import v2_time
from ._store import dto, scope_fields

if TYPE_CHECKING:
    from ._world import Plan, World

__all__ = ["V2_ENDPOINTS", "V3_ENDPOINTS", "V4_ENDPOINTS"]

_STRING, _HOSTS, _PASSWORD = 1, 3, 4
#: ``EsbJobReq.DEFAULT_PAGE_LENGTH``.
_PAGE = 20


# -- push_config_file ---------------------------------------------------------------------------


def push_config_file(world: World, call: Call) -> object:
    """Create a one-step file job writing config files (``EsbPushConfigFileResource{V3}Impl``).

    v3 answers every failed check with 1241002 (``InvalidParamException(ILLEGAL_PARAM)``, the
    check's own code dropped); v2 with the check's code. v2 reads the top-level ``ip_list``
    only and resolves ``account`` as a system account's alias (1244003 if none). Neither
    reports the step.
    """
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    scope = scope_of(params)
    try:
        _check_push(params, v2)
    except ApiFailure:
        if v2:
            raise
        raise ApiFailure(codes.ILLEGAL_PARAM) from None
    _api._check_ip_rows(call)
    url = params.text("callback_url")
    if url and not _api._callback_ok(url):
        raise ApiFailure(codes.BAD_REQUEST)
    if v2:
        alias = str(params.text("account"))
        system = [a for a in world.store.accounts_of(scope, world.now_ms()) if a.category == 1]
        if not any(a.alias == alias for a in system):
            raise ApiFailure(codes.ACCOUNT_NOT_EXIST, alias)
        hosts = world.hosts_from_target(_api._v2_target(params.raw("ip_list"), None))
    else:
        hosts = _api._targets(world, call)
    if not hosts:
        raise ApiFailure(codes.HOST_EMPTY)
    for item in _api._maps(params.raw("file_list")):
        try:
            base64.b64decode(str(item["content"]), validate=True)
        except (binascii.Error, ValueError):
            raise ApiFailure(codes.INTERNAL_ERROR) from None  # ConfigFileUtil fails to decode
    name = params.text("task_name") or f"API_PUSH_CONFIG_FILE_{world.now_ms()}"
    _api.check_quota(world, call, scope)
    job = world.create_job(
        scope,
        [StepPlan(StepType.FILE, len(hosts), name)],
        name=name,
        operator=call.username,
        targets=[hosts],
        task_type=TaskType.FAST_FILE,
        app_code=call.app_code,
        callback_url=None if v2 else url,
    )
    return {"job_instance_id": job.id, "job_instance_name": name}


def _check_push(params: Params, v2: bool) -> None:
    """``checkPushConfigFileRequest``, in its order."""
    if not (params.text("file_target_path") or "").strip():
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "file_target_path")
    if v2:
        if not (params.text("account") or "").strip():
            raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "account")
        if not _api._maps(params.raw("ip_list")):
            raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "ip_list")
    else:
        account_id = params.long("account_id")
        if (account_id is None or account_id < 1) and not (params.text("account_alias") or ""):
            raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "account_id|account_alias")
        server = params.raw("target_server")
        if not isinstance(server, Mapping) or not _api._names_hosts(server):
            raise ApiFailure(codes.MISSING_PARAM_NAMED, "target_server")
    files = _api._maps(params.raw("file_list"))
    if not files:
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "file_list")
    for item in files:
        if not str(item.get("file_name") or "").strip():
            raise ApiFailure(codes.ILLEGAL_PARAM_NAMED, "file_list.file_name")
        if not str(item.get("content") or "").strip():
            raise ApiFailure(codes.ILLEGAL_PARAM_NAMED, "file_list.content")


# -- variable values ---------------------------------------------------------------------------


def get_job_instance_global_var_value(world: World, call: Call) -> object:
    """Each script step's variable values (``StepInstanceVariableValueServiceImpl``): the job's
    values as launched, then what each ended step set; string variables only (v3 resource).
    v2 renames the lists and ``type`` to ``category`` (``EsbGetJobInstanceGlobalVarValueResourceImpl``)."""
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    (job_id,) = call.checked()
    job = _api._job(world, job_id, scope_of(params))
    current = dict(world.job_vars.get(job.id, {}))
    plan = world.plans.get(job.plan_id)
    script_steps = [s for s in job.steps if s.type in (StepType.SCRIPT, StepType.SQL)]
    steps = []
    for step in script_steps:
        ended_ok = step.status.is_finished and step.status.is_success
        if plan is not None and step is script_steps[-1] and ended_ok:
            current.update((k, (_STRING, v)) for k, v in plan.outputs.items() if k in current)
        rows = [
            {"name": name, "value": value, ("category" if v2 else "type"): kind}
            for name, (kind, value) in current.items()
            if kind == _STRING
        ]
        entry: dict[str, Any] = {"step_instance_id": step.id}
        if current:
            entry["step_instance_var_values" if v2 else "global_var_list"] = rows
        steps.append(entry)
    if v2:
        return {"job_instance_id": job.id, "job_instance_var_values": steps or None}
    return {"job_instance_id": job.id, "step_instance_var_list": steps}


# -- plans -------------------------------------------------------------------------------------


def _plans(world: World, scope: Scope) -> list[Plan]:
    """The scope's plans, last changed first (newest id first among equals)."""
    found = [p for p in world.plans.values() if p.scope in (None, scope)]
    return sorted(found, key=lambda p: (p.create_s, p.plan_id), reverse=True)


def _plan_basic(plan: Plan, scope: Scope, world: World, v2: bool) -> dict[str, Any]:
    # v3 in seconds: TaskPlanDAOImpl stores currentTimeSeconds
    when = v2_time(plan.create_s * 1000, world.tz) if v2 else plan.create_s
    spec = "bk_job_id=plan_id" if v2 else "id=plan_id job_template_id=template_id"
    spec += " name creator create_time last_modify_user=creator last_modify_time"
    return {**scope_fields(scope), **dto(plan, spec, create_time=when, last_modify_time=when)}


def _plan_step_type(step: StepPlan) -> int:
    """``TaskStepTypeEnum``: 1 script (SQL too), 2 file, 3 approval."""
    return {StepType.FILE: 2, StepType.MANUAL_CONFIRM: 3}.get(step.type, 1)


def _server_of(value: str) -> dict[str, Any]:
    rows = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        cloud, _, ip = item.rpartition(":")
        rows.append({"bk_cloud_id": int(cloud or 0), "ip": ip})
    return {"ip_list": rows}


def _plan_hosts(step: StepPlan) -> list[dict[str, Any]]:
    """The hosts a plan's step names: its ``HostPlan`` rows that say who they are (generated
    hosts are drawn anew for each job, so a plan names none)."""
    rows = () if isinstance(step.hosts, int) else step.hosts
    return [
        {"bk_host_id": row.bk_host_id, "bk_cloud_id": row.bk_cloud_id, "ip": row.ip}
        for row in rows
        if row.bk_host_id is not None or row.ip is not None
    ]


def _b64(text: str | None) -> str | None:
    """``Base64Util.encodeContentToStr`` of a non-blank text; a blank one is left out."""
    return base64.b64encode(text.encode()).decode() if text and text.strip() else None


def _plan_step(step: StepPlan, step_id: int, name: str, account: Any, v2: bool) -> dict[str, Any]:
    """One step of a plan's detail: ``TaskStepDTO.toEsbStepV3`` (a script's text and
    parameters in base64, its account by id; ``is_ignore_error`` not set) or v2's
    ``EsbGetJobDetailResourceImpl.buildStep`` (texts as stored, the account's alias, and the
    script's source, 1 local, written over ``type``)."""
    kind, hosts = _plan_step_type(step), _plan_hosts(step)
    row: dict[str, Any] = {"name": name, "type": kind}
    if v2:
        row["step_id"] = step_id
        if kind == 1:
            row.update(
                script_id=None, script_content=step.script_content, script_param=step.script_param,
                script_timeout=7200, is_param_sensitive=0, account=account.alias,
                account_id=account.id, ip_list=hosts, custom_query_id=None,
            )  # fmt: skip
        elif kind == 2:
            row.update(file_source=[], file_target_path=None, account=account.alias, ip_list=hosts)
        else:
            row["confirm_message"] = ""
        return row
    row["id"] = step_id
    if kind == 1:
        row["script_info"] = {
            "script_type": 1,
            "script_id": None,
            "script_version_id": None,
            "script_content": _b64(step.script_content),
            "script_language": 1,
            "script_param": _b64(step.script_param),
            "windows_interpreter": None,
            "script_timeout": 7200,
            "account": {"id": account.id, "name": None, "alias": None},
            "server": {"ip_list": hosts} if hosts else None,
            "is_param_sensitive": 0,
            "is_ignore_error": None,
        }
    elif kind == 2:
        row["file_info"] = {
            "file_source_list": None,
            "file_destination": {
                "path": None,
                "account": {"id": account.id, "name": None, "alias": None},
                "server": {"ip_list": hosts} if hosts else None,
            },
            "timeout": 7200,
            "transfer_mode": 2,
        }
    else:
        row["approval_info"] = {"approval_message": ""}
    return row


def _plan_detail(plan: Plan, scope: Scope, world: World, v2: bool) -> dict[str, Any]:
    """``EsbPlanInfoV3DTO`` (a password's value masked; ``used`` true for every variable) or
    v2's ``EsbJobDetailDTO`` (the default value as stored, password or not). A step runs as
    the scope's first account, as a step a plan made does (``get_step_instance_detail``)."""
    detail = _plan_basic(plan, scope, world, v2)
    account = world.store.accounts_of(scope, world.now_ms())[0]
    steps = [
        _plan_step(step, plan.plan_id * 100 + i + 1, step.name or f"step {i + 1}", account, v2)
        for i, step in enumerate(plan.steps)
    ]
    variables = []
    for i, var in enumerate(plan.variables):
        row: dict[str, Any] = {
            "id": plan.plan_id * 1000 + i + 1,
            "name": var.name,
            "description": var.description,
        }
        if v2:
            row.update(category=var.type, value=var.value)
            if var.type == _HOSTS:
                row.update(ip_list=_server_of(var.value)["ip_list"], custom_query_id=None)
        else:
            row.update(type=var.type, required=1 if var.required else 0, used=True)
            if var.type == _HOSTS:
                row["server"] = _server_of(var.value)
            else:
                row["value"] = MASK if var.type == _PASSWORD else var.value
        variables.append(row)
    if v2:
        return {"template_id": plan.template_id, **detail, "steps": steps, "global_vars": variables}
    return {**detail, "step_list": steps or None, "global_var_list": variables or None}


def get_job_plan_list(world: World, call: Call) -> object:
    """A page of plans (``EsbPlanV3ResourceImpl``: no check, no cap on ``length``) or v2's bare
    list (``EsbGetJobListResourceImpl``: everything when ``length`` is absent)."""
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    scope = scope_of(params)
    name, creator = params.text("name"), params.text("creator")
    modifier, template = params.text("last_modify_user"), params.long("job_template_id")
    plans = [
        plan
        for plan in _plans(world, scope)
        if (not name or name in plan.name)
        and (not creator or plan.creator == creator)
        and (not modifier or plan.creator == modifier)
        and (v2 or template is None or plan.template_id == template)
    ]
    rows = [_plan_basic(plan, scope, world, v2) for plan in plans]
    if v2:
        if params.long("length") is None:
            return rows
        start = params.long("start") or 0
        return rows[start : start + (params.long("length") or 0)]
    start, length = params.long("start") or 0, params.long("length") or _PAGE
    return paged(rows, start, length)


def get_job_plan_detail(world: World, call: Call) -> object:
    """One plan (v3 ``job_plan_id``, v2 ``get_job_detail`` ``bk_job_id``): 1241007 for a bad id,
    1243009 for a plan the scope does not have (``TaskPlanService.getTaskPlan``)."""
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    scope = scope_of(params)
    (plan_id,) = call.checked()
    plan = world.plans.get(plan_id)
    if plan is None or plan.scope not in (None, scope):
        raise ApiFailure(codes.TASK_PLAN_NOT_EXIST)
    return _plan_detail(plan, scope, world, v2)


# -- accounts ----------------------------------------------------------------------------------


def get_account_list(world: World, call: Call) -> object:
    """A page of accounts (``EsbAccountResourceV3Impl``: ``start`` below 0 is 0, ``length`` 1
    to 1000, default 20; ``category`` must be 1 or 2) or v2's ``get_os_account``: every system
    account, no paging."""
    params = call.params
    scope = scope_of(params)
    accounts = world.store.accounts_of(scope, world.now_ms())
    if call.flavor is ApiFlavor.ESB_V2:
        return [a.render_v2() for a in accounts if a.category == 1]
    category, start, length = call.checked()  # (category: @CheckEnum, a validation failure)
    name, alias = params.text("account"), params.text("alias")
    rows = [
        a.render()
        for a in accounts
        if (category is None or a.category == category)
        and (not name or a.account == name)
        and (not alias or a.alias == alias)
    ]
    return paged(rows, start, length)


def _routes(flavor: ApiFlavor, *modules: Any) -> dict[str, Endpoint]:
    """Route each row of the endpoint table that ``flavor`` serves (``ESB_JOBV3``: the v3 rows,
    of the gateway or the ESB) to its handler: the function named as ``flavor`` names the API,
    else as the row, in the last of ``modules`` (or dicts) that has one."""
    handlers: dict[str, Any] = {}
    for module in modules:
        handlers.update(module if isinstance(module, dict) else vars(module))
    routes = {}
    for name, row in TABLE.items():
        gateway = row.bindings.get(ApiFlavor.APIGW_V3 if flavor is ApiFlavor.ESB_JOBV3 else flavor)
        wire = gateway or row.bindings.get(flavor)
        handler = wire and (handlers.get(wire.name) or handlers.get(name))
        if wire is not None and callable(handler):
            method = None if flavor is ApiFlavor.ESB_V2 else getattr(gateway, "method", None)
            fields = FIELDS[GENERATION[flavor]].get(wire.name)
            if fields is None:
                raise RuntimeError(
                    f"testing/_fields.py has no {wire.name} on {GENERATION[flavor]}: "
                    "run scripts/java_fields.py --requests over a bk-job checkout"
                )
            routes[wire.name] = Endpoint(
                _reading(handler, fields), method, ApiFlavor.ESB_JOBV3 in row.bindings
            )
    return routes


def _reading(handler: Any, fields: Mapping[str, str]) -> Any:
    """Return ``handler`` given the parameters as bk-job's request reads them
    (``Params.read_as``): never a key bk-job ignores, so a key the client misspells is missed
    here as it is there."""

    numbers = frozenset(k for k, java_type in fields.items() if java_type in NUMBERS)

    def handle(world: World, call: Call) -> object:
        call.params = call.params.read_as(fields, numbers)  # (the call is this request's alone)
        return handler(world, call)

    handle.__name__ = getattr(handler, "__name__", "handle")
    return handle


_V3 = (_api, _api_manage, _api_crons, _scripts.HANDLERS, _rules, sys.modules[__name__])
V3_ENDPOINTS = _api_manage.recording(_routes(ApiFlavor.ESB_JOBV3, *_V3))
V2_ENDPOINTS = _api_manage.recording(_routes(ApiFlavor.ESB_V2, *_V3, _scripts.V2_HANDLERS))
V4_ENDPOINTS = _routes(ApiFlavor.APIGW_V4, _api_v4)
