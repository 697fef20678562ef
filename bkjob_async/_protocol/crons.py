"""Rule: the cron family's rows check a cron before any request; pure, no I/O.

The cron family (定时任务): list, read, save, start or pause, delete a scope's cron jobs.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O. Read from
bk-job's ``EsbCronJobV3Resource`` (v3) and ``EsbCronJobResource`` (v2: ``cron_``-prefixed
names, a bare list, no detail and no delete); ``docs/reference/endpoints.md`` has the facts.
"""

from __future__ import annotations

import datetime as _dt  # noqa: TC003 - read at run time (_cron_list's hints)
import re
from typing import TYPE_CHECKING, Any

from .._params import (
    check_count,
    check_text,
    epoch_ms,
    optional_id,
    paging,
    texts,
    v2_only_scalars,
    v3_global_var,
)
from ..config import Scope, check_id
from ..models import CronJob, CronPage, CronStatus
from ..models.requests import GlobalVar
from ._api import (
    GET,
    POST,
    Pager,
    Params,
    bound,
    ids,
    listed,
    model,
    nothing,
    optional,
    row,
    v2_scoped,
    v3_scoped,
    with_scope,
    with_secrets,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DELETE_CRON",
    "GET_CRON_DETAIL",
    "GET_CRON_LIST",
    "SAVE_CRON",
    "UPDATE_CRON_STATUS",
    "check_expression",
]

#: The longest name bk-job takes (``EsbSaveCronV3Request``: ``@Length(max = 60)``).
MAX_CRON_NAME = 60
_FIELD = re.compile(r"[0-9A-Za-z*,/\-#L]+")


def check_expression(expression: object) -> str:
    """Return ``expression`` if it reads as bk-job's Unix cron: five fields (minute hour day
    month weekday), no ``?`` (``CronCheckUtil``: bk-job answers 1241010 otherwise)."""
    text = check_text(expression, "expression").strip()
    fields = text.split()
    if len(fields) != 5 or not all(_FIELD.fullmatch(f) for f in fields):
        raise ValueError(
            f"expression must be a 5-field Unix cron (minute hour day month weekday, like "
            f"'0/5 * * * *'; '?' is not supported), got {text!r}"
        )
    return text


def _status(status: CronStatus | int | None) -> CronStatus | None:
    if status is None:
        return None
    try:
        found = CronStatus(check_count(status, "status", 1))
    except ValueError:
        raise ValueError(f"status must be CronStatus.RUNNING or PAUSED, not {status!r}") from None
    if found not in (CronStatus.RUNNING, CronStatus.PAUSED):
        raise ValueError(f"status must be CronStatus.RUNNING or PAUSED, not {status!r}")
    return found


def _seconds(moment: _dt.datetime | None, name: str) -> int | None:
    return None if moment is None else epoch_ms(moment, name) // 1000


def _window(start: _dt.datetime | None, end: _dt.datetime | None, what: str) -> tuple[Any, Any]:
    """bk-job filters by a window only when both ends come: refuse one alone."""
    if (start is None) != (end is None):
        raise ValueError(f"give both ends of the {what} window, or neither")
    return _seconds(start, f"{what}_from"), _seconds(end, f"{what}_to")


# --- get_cron_list -------------------------------------------------------------------------------


def _cron_list(
    v2: bool,
    /,
    scope: Scope,
    *,
    name: str | None = None,
    cron_id: int | None = None,
    status: CronStatus | int | None = None,
    creator: str | None = None,
    created_from: _dt.datetime | None = None,
    created_to: _dt.datetime | None = None,
    last_modify_user: str | None = None,
    modified_from: _dt.datetime | None = None,
    modified_to: _dt.datetime | None = None,
    start: int = 0,
    length: int = 20,
) -> Params:
    """Spell ``get_cron_list`` for v3 or (``v2``) v2.

    bk-job's v3 list reads a paused filter as 0 and drops the 2 its docs give
    (``EsbGetCronListV3Request.validate``): the client sends 0. v2 names the filters
    ``cron_name``, ``cron_id``, ``cron_status``; its time filters are dates in the server's
    zone, so the client refuses them there.
    """
    wanted = _status(status)
    if v2:
        v2_only_scalars(
            created_from=created_from,
            created_to=created_to,
            modified_from=modified_from,
            modified_to=modified_to,
        )
        return v2_scoped(
            scope,
            cron_name=None if name is None else check_text(name, "name"),
            cron_id=optional_id(cron_id, "cron_id"),
            cron_status=None if wanted is None else int(wanted),
            **texts(creator=creator, last_modify_user=last_modify_user),
            **paging(start, length),
        )
    created = _window(created_from, created_to, "created")
    modified = _window(modified_from, modified_to, "modified")
    return v3_scoped(
        scope,
        **texts(name=name, creator=creator, last_modify_user=last_modify_user),
        id=optional_id(cron_id, "cron_id"),
        status=None if wanted is None else (1 if wanted.is_running else 0),
        create_time_start=created[0],
        create_time_end=created[1],
        last_modify_time_start=modified[0],
        last_modify_time_end=modified[1],
        **paging(start, length),
    )


GET_CRON_LIST = row(
    "get_cron_list",
    GET,
    model(CronPage),
    v3=bound(_cron_list, False),
    v2=bound(_cron_list, True),
    v2_read=listed(CronPage, CronJob, 10, nulls=True),  # (a missing cron_id: [null])
    doc="""Return one page of a scope's cron jobs: running ones first, then paused ones, each
    last changed first (bk-job's order, ``CronJobDAOImpl``).

    The filters: ``name`` (a part of it), ``cron_id`` (then the others are ignored),
    ``status`` (``CronStatus``), ``creator``, ``last_modify_user``, and the windows
    ``created_from``/``created_to`` and ``modified_from``/``modified_to`` (aware
    ``datetime``; both ends or neither; not on ESB v2). **bk-job ignores the two windows** (at
    588f99bb it reads them and never applies them): the page holds crons of any time; filter
    on ``create_time``/``last_modify_time`` yourself. A ``cron_id`` the scope lacks: an empty
    page on ESB v2 (bk-job answers ``[null]``); on v3 bk-job fails inside (``ServerError``,
    1240002): ask ``get_cron_detail``, which answers ``None``. On ESB v2 the page has no
    ``total``.
    """,
    resource="`EsbCronJobV3Resource`; v2 `EsbCronJobResource`",
    pager=Pager(
        "iter_crons",
        CronJob,
        ("id",),
        """Yield every cron job ``get_cron_list`` matches, a page at a time.""",
    ),
)

# --- get_cron_detail (v3) ------------------------------------------------------------------------


GET_CRON_DETAIL = row(
    "get_cron_detail",
    GET,
    optional(CronJob),
    v3=ids(v3_scoped, id="cron_id"),
    doc="""Return a cron job with its variable values, ``None`` if the scope has none (v3 only).""",
    resource="`EsbCronJobV3Resource`",
)

# --- save_cron ------------------------------------------------------------------------------------


def _save_checks(
    cron_id: int | None,
    job_plan_id: int | None,
    name: str | None,
    expression: str | None,
    execute_time: _dt.datetime | None,
) -> tuple[int | None, int | None, str | None, str | None, int | None]:
    """Check a save as bk-job does (``EsbSaveCronV3RequestSequenceProvider``): a new cron
    needs a plan, a name and a schedule; an update at least one of them."""
    cron = optional_id(cron_id, "cron_id")
    plan = optional_id(job_plan_id, "job_plan_id")
    if name is not None:
        check_text(name, "name")
        if len(name) > MAX_CRON_NAME or not name.strip():
            raise ValueError(f"name must be 1 to {MAX_CRON_NAME} characters, not blank")
    rule = None if expression is None else check_expression(expression)
    when = _seconds(execute_time, "execute_time")
    if when is not None and when < 1:
        raise ValueError("execute_time must be after 1970-01-01")
    if cron is None:
        missing = [k for k, v in (("job_plan_id", plan), ("name", name)) if v is None]
        if missing:
            raise ValueError(f"a new cron job needs {' and '.join(missing)}")
        if rule is None and when is None:
            raise ValueError("a new cron job needs an expression or an execute_time")
    elif plan is None and name is None and rule is None and when is None:
        raise ValueError(
            "give at least one of job_plan_id, name, expression or execute_time to update "
            f"cron job {cron}"
        )
    return cron, plan, name, rule, when


def _save_cron(
    v2: bool,
    /,
    scope: Scope,
    *,
    job_plan_id: int | None = None,
    name: str | None = None,
    expression: str | None = None,
    execute_time: _dt.datetime | None = None,
    global_vars: Sequence[GlobalVar] = (),
    execute_time_zone: str | None = None,
    cron_id: int | None = None,
) -> Params:
    """Spell ``save_cron`` (a new cron job, or with ``cron_id`` a change to
    one) for v3 or (``v2``) v2: ``cron_id``, ``bk_job_id``, ``cron_name``, ``cron_expression``
    there, and no one-off time, variables or zone."""
    if v2:
        v2_only_scalars(
            execute_time=execute_time,
            global_vars=tuple(global_vars),
            execute_time_zone=execute_time_zone,
        )
        cron, plan, name, rule, _ = _save_checks(cron_id, job_plan_id, name, expression, None)
        return v2_scoped(scope, cron_id=cron, bk_job_id=plan, cron_name=name, cron_expression=rule)
    cron, plan, name, rule, when = _save_checks(
        cron_id, job_plan_id, name, expression, execute_time
    )
    variables = tuple(global_vars)
    if not all(isinstance(v, GlobalVar) for v in variables):
        raise TypeError("global_vars must be GlobalVar values")
    if variables and plan is None:
        # checkAndFillGlobalVar looks each variable up in the request's plan: none, on a
        # change without job_plan_id (bk-job then fails inside, 1240002).
        raise ValueError(
            f"give job_plan_id with global_vars to change cron job {cron}: bk-job resolves "
            "the variables against the plan named in the request, not the cron's own"
        )
    zone = None
    if execute_time_zone is not None:
        zone = check_text(execute_time_zone, "execute_time_zone")
    params = v3_scoped(
        scope,
        id=cron,
        job_plan_id=plan,
        name=name,
        expression=rule,
        execute_time=when,
        global_var_list=[v3_global_var(v) for v in variables] or None,
        execute_time_zone=zone,
    )
    return with_secrets(params, tuple(v.value for v in variables if v.secret and v.value))


SAVE_CRON = row(
    "save_cron",
    POST,
    model(CronJob),
    v3=bound(_save_cron, False),
    v2=bound(_save_cron, True),
    doc="""Create a cron job, or (``cron_id``) change one; return it as bk-job stored it.

    A new one needs ``job_plan_id``, ``name`` (up to 60 characters) and a schedule: an
    ``expression`` (Unix cron, 5 fields: minute hour day month weekday; no ``?``) or a
    one-off ``execute_time``; a change needs at least one of them. ``global_vars`` set the
    plan's variables for every launch (a password's value is a secret of the request;
    bk-job resolves them against the ``job_plan_id`` of the request, so a change of
    variables names the plan again: refused here without one);
    ``execute_time_zone`` is an IANA zone (default: the business's). bk-job **pauses a cron
    job on every save**: start it with ``update_cron_status(..., CronStatus.RUNNING)``.
    ESB v2 takes no ``execute_time``, ``global_vars`` or ``execute_time_zone``.
    """,
    resource="`EsbCronJobV3Resource`; v2 `EsbCronJobResource`",
)

# --- update_cron_status ------------------------------------------------------------------------


def _checked_status(status: CronStatus | int) -> int:
    found = _status(status)
    if found is None:
        raise TypeError("status must be CronStatus.RUNNING or CronStatus.PAUSED")
    return int(found)


def cron_status(cron_id: int, status: CronStatus | int) -> Params:
    """Spell ``update_cron_status``: 1 starts the schedule, 2 pauses it."""
    return {"id": check_id(cron_id, "cron_id"), "status": _checked_status(status)}


UPDATE_CRON_STATUS = row(
    "update_cron_status",
    POST,
    nothing,
    v3=with_scope(cron_status, v3_scoped),
    v2=with_scope(cron_status, v2_scoped, "id=cron_id status=cron_status"),
    doc="""Start (``CronStatus.RUNNING``) or pause (``CronStatus.PAUSED``) a cron job.

    A one-off cron job whose time has passed cannot start (``OperationNotAllowedError``).
    """,
    resource="`EsbCronJobV3Resource`; v2 `EsbCronJobResource`",
)

# --- delete_cron (v3) ---------------------------------------------------------------------------


DELETE_CRON = row(
    "delete_cron",
    POST,
    nothing,
    v3=ids(v3_scoped, id="cron_id"),
    doc="""Delete a cron job (v3 only); ``NotFoundError`` if the scope has none.""",
    resource="`EsbCronJobV3Resource`",
)
