"""Rule: as ``_api``, the cron endpoints see parameters, never HTTP, and answer bk-job's codes.

The simulated cron endpoints: list, detail, save, start or pause, delete.

Rule: as ``_api``, handlers see parameters, never HTTP; each follows the bk-job resource named
in its docstring (``EsbCronJobV3ResourceImpl``, v2 ``EsbCronJobResourceImpl``), its checks and
its error codes (``ErrorCode``: 1245001 cron not found, 1245004 a name taken, 1245006 a
one-off time passed, 1241010 a named parameter with a reason).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..config import ApiFlavor
from . import _codes as codes
from ._api import ApiFailure, Call, Params, scope_of
from ._render import v2_time
from ._store import SimCron, dto, scope_fields

if TYPE_CHECKING:
    from ..config import Scope
    from ._world import World

__all__ = ["delete_cron", "get_cron_detail", "get_cron_list", "save_cron", "update_cron_status"]

_MAX_NAME = 60
_FIELD = re.compile(r"[0-9A-Za-z*,/\-#L]+")
_PASSWORD = 4


def _check_expression(expression: str) -> None:
    """``CronCheckUtil.checkCronExpression``: a 5-field Unix cron, ``?`` not supported."""
    fields = expression.split()
    if len(fields) != 5 or not all(_FIELD.fullmatch(f) for f in fields):
        raise ApiFailure(
            codes.ILLEGAL_PARAM_REASON,
            "expression",
            "cronExpression is invalid, should be 5-char Linux cron, like 0/5 * * * *(? not supported)",
        )


def _row_v3(cron: SimCron, *, saved: bool, with_vars: bool) -> dict[str, Any]:
    """``toEsbCronInfoV3`` (lists and details: paused is 0) or ``toEsbCronInfoV3Response``
    (a save's answer: paused is 2)."""
    variables = cron.variables if with_vars else None
    spec = "job_plan_id=plan_id id name status expression global_var_list creator"
    spec += " create_time=create_s last_modify_user=modifier last_modify_time=modify_s"
    row = dto(
        cron,
        f"{spec} execute_time_zone=zone",
        status=1 if cron.enabled else (2 if saved else 0),
        global_var_list=variables if (saved or variables) else None,
    )
    return {**scope_fields(cron.scope), **row}


def _row_v2(cron: SimCron, world: World) -> dict[str, Any]:
    """``toEsbCronInfo``: ``cron_``-prefixed names, paused is 2, times as v2 strings."""
    spec = "bk_job_id=plan_id cron_id=id cron_name=name cron_status cron_expression=expression"
    row = dto(
        cron,
        f"{spec} creator create_time last_modify_user=modifier last_modify_time",
        cron_status=1 if cron.enabled else 2,
        create_time=v2_time(cron.create_s * 1000, world.tz),
        last_modify_time=v2_time(cron.modify_s * 1000, world.tz),
    )
    return {**scope_fields(cron.scope), **row}


# -- get_cron_list / get_cron_detail ------------------------------------------------------------


def get_cron_list(world: World, call: Call) -> object:
    """A page of a scope's cron jobs (v3) or a bare list (v2): running ones first, each group
    last changed first (``CronJobDAOImpl``).

    v3 reads ``status`` 1 (running) or 0 (paused) and drops any other value, the 2 its docs
    give included (``EsbGetCronListV3Request.validate``); v2 reads ``cron_status`` 2 as 0. The
    ``create_time_*`` and ``last_modify_time_*`` windows are read and never applied
    (``buildConditionList`` does not use them). An ``id`` ignores every other filter; v3
    breaks on an id it lacks (1240002: the resource dereferences the missing cron), v2 lists
    it as ``[null]``.
    """
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    scope = scope_of(params)
    prefix = "cron_" if v2 else ""
    start, length = call.checked()
    cron_id = params.long(f"{prefix}id")
    if cron_id is not None and cron_id > 0:
        found = world.store.crons.get_in(scope, cron_id)
        if found is None:
            if v2:
                return [None]
            raise ApiFailure(codes.INTERNAL_ERROR)
        if v2:
            return [_row_v2(found, world)]
        rows = [_row_v3(found, saved=False, with_vars=False)] if start == 0 else []
        return {"start": start, "length": length, "total": 1, "data": rows}
    crons = [c for c in world.store.crons_of(scope) if _matches(c, params, prefix, v2)]
    page = crons[start : start + length]
    if v2:
        return [_row_v2(c, world) for c in page]
    rows = [_row_v3(c, saved=False, with_vars=False) for c in page]
    return {"start": start, "length": length, "total": len(crons), "data": rows}


def _matches(cron: SimCron, params: Params, prefix: str, v2: bool) -> bool:
    name, status = params.text(f"{prefix}name"), params.long(f"{prefix}status")
    if v2 and status == 2:
        status = 0
    if status not in (0, 1):
        status = None
    creator, modifier = params.text("creator"), params.text("last_modify_user")
    return (
        (not name or name in cron.name)
        and (status is None or cron.enabled == (status == 1))
        and (not creator or cron.creator == creator)
        and (not modifier or cron.modifier == modifier)
    )


def get_cron_detail(world: World, call: Call) -> object:
    """One cron job with its variables; ``null`` data for one the scope lacks; 1241002 for no
    id (``EsbGetCronDetailV3Request.validate``)."""
    scope = scope_of(call.params)
    (cron_id,) = call.checked()
    found = world.store.crons.get_in(scope, cron_id)
    return None if found is None else _row_v3(found, saved=False, with_vars=True)


# -- save_cron -----------------------------------------------------------------------------------


def save_cron(world: World, call: Call) -> object:
    """Create (no id) or change a cron job, paused either way (bk-job sets ``enable=false`` on
    every save). A new one needs a plan, a name and an expression or an execute time; a change
    at least one of them. The plan must be the scope's (1243009), the name free in the scope
    (1245004), the expression a 5-field Unix cron (1241010), the cron the scope's (1245001).
    """
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    scope = scope_of(params)
    keys = ("cron_id", "bk_job_id", "cron_name", "cron_expression") if v2 else (
        "id", "job_plan_id", "name", "expression"
    )  # fmt: skip
    *read, cron_id = call.checked()
    plan_id, name, expression, execute_time = (*read, None) if v2 else read
    creating = cron_id is None or cron_id == -1
    if creating:
        if not v2 and expression is None and not (execute_time and execute_time > 0):
            raise ApiFailure(
                codes.ILLEGAL_PARAM_REASON,
                "expression/execute_time",
                "expression/execute_time cannot both be null or invalid",
            )
        if plan_id is None or plan_id <= 0:
            raise ApiFailure(
                codes.ILLEGAL_PARAM_REASON if v2 else codes.BAD_REQUEST, keys[1], "required"
            )
        if name is None:
            raise ApiFailure(
                codes.ILLEGAL_PARAM_REASON if v2 else codes.BAD_REQUEST, keys[2], "required"
            )
        if v2 and expression is None:
            raise ApiFailure(codes.ILLEGAL_PARAM_REASON, keys[3], "cannot be blank")
    elif not any((plan_id and plan_id > 0, name, expression, execute_time and execute_time > 0)):
        raise ApiFailure(
            codes.ILLEGAL_PARAM_REASON,
            "/".join(keys[1:]),
            f"at least one must be given to update cron {cron_id}",
        )
    if name is not None and len(name) > _MAX_NAME:
        raise ApiFailure(codes.BAD_REQUEST)
    if expression is not None:
        _check_expression(expression)
    return _stored(world, call, scope, None if creating else cron_id, plan_id, name, expression)


def _stored(
    world: World,
    call: Call,
    scope: Scope,
    cron_id: int | None,
    plan_id: int | None,
    name: str | None,
    expression: str | None,
) -> object:
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    if not v2 and plan_id is None and params.raw("global_var_list") is not None:
        # checkAndFillGlobalVar resolves each variable in the request's plan: a change
        # without job_plan_id looks them up under a null plan id and fails inside.
        raise ApiFailure(codes.INTERNAL_ERROR)
    crons = world.store.crons
    old = None if cron_id is None else crons.get_in(scope, cron_id)
    if cron_id is not None and old is None:
        raise ApiFailure(codes.CRON_JOB_NOT_EXIST)
    if name is not None and any(c.name == name and c.id != cron_id for c in crons.of(scope)):
        raise ApiFailure(codes.CRON_JOB_ALREADY_EXIST, name)  # (checkCronJobName)
    plan_id = plan_id or (old.plan_id if old else None)
    plan = None if plan_id is None else world.plans.get(plan_id)
    if plan is None or plan.scope not in (None, scope):
        raise ApiFailure(codes.TASK_PLAN_NOT_EXIST)
    now = world.now_ms() // 1000
    variables = None if v2 else _variables(plan, params.raw("global_var_list"), old)
    if old is None:
        cron = crons.add(SimCron(
            crons.number(), scope, plan.plan_id, str(name), expression,
            None if v2 else params.long("execute_time"),
            params.text("execute_time_zone") or "Asia/Shanghai", variables,
            call.username, now, call.username, now,
        ))  # fmt: skip
    else:
        cron = old
        cron.plan_id, cron.modifier, cron.modify_s = plan.plan_id, call.username, now
        cron.name = name or cron.name
        cron.expression = expression or cron.expression
        if not v2:
            cron.execute_time = params.long("execute_time") or cron.execute_time
            cron.zone = params.text("execute_time_zone") or cron.zone
            cron.variables = variables if variables is not None else cron.variables
    cron.enabled = False  # every save pauses it (EsbCronJobV3ResourceImpl.saveCron)
    return _row_v2(cron, world) if v2 else _row_v3(cron, saved=True, with_vars=True)


def _variables(plan: Any, given: Any, old: SimCron | None) -> list[dict[str, Any]] | None:
    """Resolve ``global_var_list`` against the plan's variables, by id else by name
    (``checkAndFillGlobalVar``); a password sent as ``******`` keeps the stored value."""
    if given is None:
        return None
    if not isinstance(given, list):
        raise ApiFailure(codes.BAD_REQUEST)
    kept = {v["name"]: v for v in (old.variables or ())} if old else {}
    rows = []
    for item in given:
        if not isinstance(item, dict):
            raise ApiFailure(codes.BAD_REQUEST)
        var_id, name = item.get("id"), str(item.get("name") or "").strip()
        if var_id is None and not name:
            raise ApiFailure(1241012, "id/name of globalVar cannot be null/blank at the same time")
        index = next(
            (
                i
                for i, v in enumerate(plan.variables)
                if (var_id is not None and plan.plan_id * 1000 + i + 1 == var_id)
                or (var_id is None and v.name == name)
            ),
            None,
        )
        if index is None:
            raise ApiFailure(codes.ILLEGAL_PARAM)
        var = plan.variables[index]
        value = item.get("value")
        if var.type == _PASSWORD and value == "******" and var.name in kept:
            value = kept[var.name].get("value")
        rows.append({
            "id": plan.plan_id * 1000 + index + 1, "name": var.name, "type": var.type,
            "value": value, "server": item.get("server"),
        })  # fmt: skip
    return rows


# -- update_cron_status / delete_cron ---------------------------------------------------------


def update_cron_status(world: World, call: Call) -> object:
    """Start (1) or pause (anything else) a cron job. v3: 1241010 for an id below 1 or a status
    below 0; v2: 1241002 unless ``cron_status`` is 0, 1 or 2. A one-off cron whose time has
    passed cannot start (1245006). Answers the id."""
    scope = scope_of(call.params)
    cron_id, status = call.checked()
    cron = world.store.crons.get_in(scope, cron_id)
    if cron is None:
        raise ApiFailure(codes.CRON_JOB_NOT_EXIST)
    start = status == 1
    now = world.now_ms() // 1000
    if start and not cron.expression and (cron.execute_time or 0) < now:
        raise ApiFailure(codes.CRON_JOB_TIME_PASSED)
    cron.enabled, cron.modifier, cron.modify_s = start, call.username, now
    return {"cron_id" if call.flavor is ApiFlavor.ESB_V2 else "id": cron_id}


def delete_cron(world: World, call: Call) -> object:
    """Delete a cron job: 1240003 for no id (``@NotNull``), 1245001 for one the scope lacks."""
    scope = scope_of(call.params)
    (cron_id,) = call.checked()
    if world.store.crons.get_in(scope, cron_id) is None:
        raise ApiFailure(codes.CRON_JOB_NOT_EXIST)
    del world.store.crons[cron_id]
    return None
