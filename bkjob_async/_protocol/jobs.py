"""Rule: the job family's rows check ids and filters before any request; pure, no I/O.

The job family: a job's status, a step's, operating them, the history list, variable values.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O.
"""

from __future__ import annotations

import datetime as _dt  # noqa: TC003 - read at run time (_job_list's hints)
from collections.abc import Callable  # noqa: TC003 - read at run time (_job_list's hints)

from .._params import (
    check_batch,
    check_count,
    check_length,
    check_operation,
    check_text,
    history_window,
    known_code,
    optional_id,
)
from ..config import Scope, check_id
from ..models import (
    HostStatus,
    JobInstancePage,
    JobInstanceStatus,
    JobInstanceSummary,
    JobOperation,
    JobStatus,
    JobVariables,
    LaunchMode,
    StepInstanceStatus,
    StepOperation,
    TaskType,
)
from . import _v4
from ._api import (
    GET,
    POST,
    Pager,
    Params,
    Scoped,
    bound,
    checked,
    ids,
    model,
    nothing,
    row,
    v2_scoped,
    v3_scoped,
    with_scope,
)

__all__ = [
    "GET_JOB_INSTANCE_GLOBAL_VAR_VALUE",
    "GET_JOB_INSTANCE_LIST",
    "GET_JOB_INSTANCE_STATUS",
    "GET_STEP_INSTANCE_STATUS",
    "OPERATE_JOB_INSTANCE",
    "OPERATE_STEP_INSTANCE",
]


# --- get_job_instance_status ---------------------------------------------------------------------


def job_status(job_instance_id: int, *, with_hosts: bool = True) -> Params:
    """Spell ``get_job_instance_status``: ``return_ip_result`` asks for the host rows (v2
    sends them always; v4 names it ``return_execute_object_result``: hosts and containers)."""
    job_id = check_id(job_instance_id, "job_instance_id")
    return {"job_instance_id": job_id, "return_ip_result": bool(with_hosts)}


GET_JOB_INSTANCE_STATUS = row(
    "get_job_instance_status",
    GET,
    checked(JobInstanceStatus, "job", "job_instance_id", lambda a: a.job.job_instance_id),
    v3=with_scope(job_status, v3_scoped),
    v2=with_scope(job_status, v2_scoped, "return_ip_result="),
    v4=with_scope(job_status, v3_scoped, "return_ip_result=return_execute_object_result"),
    v4_read=_v4.job_status,
    esb_method=GET,  # a poll: a query string, as ESB v2 suggests (spec §1.1)
    doc="""Return a job's status, its steps and (``with_hosts``) each host of the current round.""",
    resource="`EsbGetJobInstanceStatusV3Resource`; v2 `EsbGetJobInstanceStatusResource`; v4 `OpenApiGetJobInstanceStatusV4Resource`",
)

# --- get_step_instance_status --------------------------------------------------------------------


def _step_filters(
    execute_count: int | None,
    batch: int | None,
    max_host_num_per_group: int | None,
    status: HostStatus | int | None,
    tag: str | None,
    every_batch: int | None = None,
) -> Params:
    """Check the step status filters; return those given (``batch``: ``every_batch`` if not)."""
    filters = {
        "execute_count": None
        if execute_count is None
        else check_count(execute_count, "execute_count"),
        "batch": every_batch if batch is None else check_batch(batch),
        "max_host_num_per_group": None
        if max_host_num_per_group is None
        else check_count(max_host_num_per_group, "max_host_num_per_group", 1),
        "status": None if status is None else int(check_count(status, "status")),
        "tag": None if tag is None else check_text(tag, "tag"),
    }
    return {k: v for k, v in filters.items() if v is not None}


def _step_status(
    scoped: Scoped,
    /,
    scope: Scope,
    job_instance_id: int,
    step_instance_id: int,
    *,
    execute_count: int | None = None,
    batch: int | None = None,
    max_host_num_per_group: int | None = None,
    status: HostStatus | int | None = None,
    tag: str | None = None,
) -> Params:
    """Spell ``get_step_instance_status`` scoped by ``scoped``: with filters (v3) or without
    (v2).

    v3 (§7.6): an omitted batch is the latest one only, so the client sends 0 (every batch)
    unless one is asked. v2 takes the ids at the top level (3.x ignores v2's documented
    ``params``) and no filters.
    """
    params = scoped(
        scope,
        job_instance_id=check_id(job_instance_id, "job_instance_id"),
        step_instance_id=check_id(step_instance_id, "step_instance_id"),
    )
    if scoped is v3_scoped:
        given = _step_filters(execute_count, batch, max_host_num_per_group, status, tag, 0)
        return {**params, **given}
    given = _step_filters(execute_count, batch, max_host_num_per_group, status, tag)
    if given:
        raise ValueError(f"the ESB v2 step status API has no filters: {', '.join(given)}")
    return params


GET_STEP_INSTANCE_STATUS = row(
    "get_step_instance_status",
    GET,
    checked(StepInstanceStatus, "step", "step_instance_id", lambda a: a.step.step_instance_id),
    v3=bound(_step_status, v3_scoped),
    v2=bound(_step_status, v2_scoped),
    esb=False,
    doc="""Return a step's hosts grouped by result; ``execute_count`` reads an earlier round.

    :param batch: a rolling step's batch, numbered from 1. Left out, every batch of the step
        is returned (the client sends ``batch=0``: the gateway alone would answer the
        latest batch only). ESB v2 has no filters and always answers every batch.
    :raises ValueError: ``batch`` below 1, or a filter on ESB v2.

    On ESB v2 the answer is partial: bk-job lists the hosts of the first result group only
    and reports the others as empty. Those groups come back with ``host_size=None``,
    ``step.hosts`` is ``None`` and ``partial`` is true; never read their hosts as absent,
    and read every host's status from ``get_job_instance_status``.
    """,
    resource="`EsbGetStepInstanceStatusV3Resource`; v2 `EsbGetStepInstanceStatusResource`",  # not registered on the ESB's jobv3
)

# --- operations ----------------------------------------------------------------------------------


def _operate_step(
    scoped: Scoped,
    /,
    scope: Scope,
    job_instance_id: int,
    step_instance_id: int,
    operation: StepOperation,
) -> Params:
    return scoped(
        scope,
        job_instance_id=check_id(job_instance_id, "job_instance_id"),
        step_instance_id=check_id(step_instance_id, "step_instance_id"),
        operation_code=int(check_operation(operation, StepOperation)),
    )


def _operate_job(
    scoped: Scoped, /, scope: Scope, job_instance_id: int, operation: JobOperation
) -> Params:
    return scoped(
        scope,
        job_instance_id=check_id(job_instance_id, "job_instance_id"),
        operation_code=int(check_operation(operation, JobOperation)),
    )


OPERATE_STEP_INSTANCE = row(
    "operate_step_instance",
    POST,
    nothing,
    v3=bound(_operate_step, v3_scoped),
    v2=bound(_operate_step, v2_scoped),
    doc="""Retry, skip, confirm or ignore a step; raise ``OperationNotAllowedError`` if refused.""",
    resource="`EsbOperateStepInstanceV3Resource`; v2 `EsbOperateStepInstanceResource`",
)
OPERATE_JOB_INSTANCE = row(
    "operate_job_instance",
    POST,
    nothing,
    v3=bound(_operate_job, v3_scoped),
    v2=bound(_operate_job, v2_scoped),
    doc="""Terminate a running job, or start one created with ``start_task=False``.""",
    resource="`EsbOperateJobInstanceV3Resource`; v2 `EsbOperateJobInstanceResource`",
)

# --- get_job_instance_list (v3) ------------------------------------------------------------------


#: v4's caps (``EsbGetJobInstanceListV4Resource``): ``offset`` 0..10000, ``length`` 1..200.
MAX_OFFSET_V4, MAX_LENGTH_V4 = 10000, 200


def _page(start: int, length: int) -> Params:
    return {"start": check_count(start, "start"), "length": check_length(length, 1000)}


def _offset_page(start: int, length: int) -> Params:
    """v4 sends ``start`` as ``offset`` (0..10000) and takes ``length`` 1..200."""
    offset = check_count(start, "start")
    if offset > MAX_OFFSET_V4:
        raise ValueError(f"start must be 0..{MAX_OFFSET_V4} on the gateway v4, got {offset}")
    return {"offset": offset, "length": check_length(length, MAX_LENGTH_V4)}


def _job_list(
    page: Callable[[int, int], Params],
    /,
    scope: Scope,
    *,
    created_from: _dt.datetime,
    created_to: _dt.datetime,
    job_instance_id: int | None = None,
    job_cron_id: int | None = None,
    operator: str | None = None,
    name: str | None = None,
    launch_mode: LaunchMode | int | None = None,
    type: TaskType | int | None = None,
    status: JobStatus | int | None = None,
    ip: str | None = None,
    start: int = 0,
    length: int = 20,
) -> Params:
    """Spell ``get_job_instance_list`` (jobs created in an aware window of up to 30 days)
    with its page spelled by ``page``: v3's filters on v3 and v4 alike."""
    begin, end = history_window(created_from, created_to)
    filters = {
        "job_instance_id": optional_id(job_instance_id, "job_instance_id"),
        "job_cron_id": optional_id(job_cron_id, "job_cron_id"),
        "operator": None if operator is None else check_text(operator, "operator"),
        "name": None if name is None else check_text(name, "name"),
        "launch_mode": known_code(launch_mode, LaunchMode, "launch_mode"),
        "type": known_code(type, TaskType, "type"),
        "status": known_code(status, JobStatus, "status"),
        "ip": None if ip is None else check_text(ip, "ip"),
    }
    paged = page(start, length)
    return v3_scoped(scope, create_time_start=begin, create_time_end=end, **filters, **paged)


GET_JOB_INSTANCE_LIST = row(
    "get_job_instance_list",
    GET,
    model(JobInstancePage),
    v3=bound(_job_list, _page),
    v4=bound(_job_list, _offset_page),
    v4_read=_v4.job_page,
    doc="""Return one page of the jobs created in an aware window of up to 30 days (v3 only).

    The filters ``job_instance_id``, ``job_cron_id``, ``operator``, ``name``,
    ``launch_mode``, ``type``, ``status`` and ``ip`` narrow it; ``length`` is 1..1000.
    """,
    resource="`EsbGetJobInstanceListV3Resource`; v4 `EsbGetJobInstanceListV4Resource`",
    pager=Pager(
        "iter_job_instances",
        JobInstanceSummary,
        ("job_instance_id",),
        """Yield every job the history list matches, a page at a time, until ``total`` is reached.

        On ``apigw-v4`` a page is 200 jobs at most (bk-job's cap there), whatever ``page_size``.
        The filters are those of ``get_job_instance_list`` (``status``, ``operator``,
        ``name``, ...). A job created while paging shifts the pages; one already yielded is not
        yielded again. Some installs cap ``start`` (``startLimitEnabled``, 1000 by default):
        past it the server answers ``InvalidRequestError``.
        """,
        v4_cap=MAX_LENGTH_V4,
    ),
)

# --- get_job_instance_global_var_value -----------------------------------------------------------


GET_JOB_INSTANCE_GLOBAL_VAR_VALUE = row(
    "get_job_instance_global_var_value",
    GET,
    checked(JobVariables, "job", "job_instance_id", lambda a: a.job_instance_id),
    v3=ids(v3_scoped, job_instance_id="job_instance_id"),
    v2=ids(v2_scoped, job_instance_id="job_instance_id"),
    doc="""Return the values a job's string variables held after each step (its outputs).

    bk-job reports string variables only; ``JobVariables.values()`` gives the latest.
    """,
    resource="`EsbGetJobInstanceGlobalVarValueV3Resource`; v2 `EsbGetJobInstanceGlobalVarValueResource`",
)
