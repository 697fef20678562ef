"""The one private cattrs converter: wire ``data`` of any API generation in, frozen models out.

A base converter holds what every generation shares (open enums, strict bools, numbers); each
generation gets a copy with its own hook set: v3 sends epoch milliseconds and millisecond
durations, v2 sends ``"YYYY-MM-DD HH:mm:ss"`` strings in the server's zone (with or without an
offset) and float seconds, and the two name and nest their fields differently (spec §2.3).
Host logs and the history list exist on v3 only; the whole job's log on v2 only. Plans, scripts,
accounts and variable values (``_catalog_v3``, ``_catalog_v2``) follow bk-job's DTOs, cited
there. Structuring never raises anything but ``ResponseFormatError``.

The scalar readers (``_readers``, shared with the family modules) and ``host_key`` below are
the one reading of the wire: the poller's fast path (``bkjob_async._observe``) reads statuses,
ids, ``finished`` and host keys with these same functions, so the two never disagree on an
answer. Their messages name the type of a bad value, never the value (it may be an echoed
secret, and the poller logs them).
"""

from __future__ import annotations

import collections.abc
import datetime as _dt
import enum
import functools
import re
import sys
import typing
from typing import TYPE_CHECKING, Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ..errors import ResponseFormatError
from ..models import (
    AccountCategory,
    AccountPage,
    CronJob,
    CronPage,
    CronStatus,
    ExecutionAccount,
    FileLog,
    FileLogMode,
    FileTaskStatus,
    Host,
    HostLog,
    HostResult,
    HostStatus,
    HostStepLog,
    JobInstance,
    JobInstancePage,
    JobInstanceStatus,
    JobInstanceSummary,
    JobPlan,
    JobPlanPage,
    JobStatusPage,
    JobStatusRow,
    JobVariables,
    LogType,
    PlanStep,
    PlanVariable,
    Script,
    ScriptPage,
    ScriptVersion,
    StepInstance,
    StepInstanceStatus,
    StepLog,
    StepResultGroup,
    StepStatus,
    StepVariables,
    VariableType,
    VariableValue,
)
from . import accounts, files, settings, templates
from ._readers import (
    INT32,
    LONG,
    Generation,
    T,
    _audit,
    _bool,
    _datetime_hook,
    _epoch_seconds,
    _int,
    _ms_duration,
    _number,
    _open_enum,
    _optional,
    _page,
    _rows,
    _seconds_duration,
    _str,
    _targets,
    _text,
    _times,
    _utc_text,
    read_bool,
    read_code,
    read_int,
    read_rows,
)
from ._v4 import objects_step
from .scripts import scripts_v2, scripts_v3
from .templates import plan_step_v2, plan_step_v3

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..models import HostKey

__all__ = [
    "INT32",
    "LONG",
    "Generation",
    "host_key",
    "read_bool",
    "read_code",
    "read_int",
    "read_rows",
    "structure",
]


def host_key(row: Mapping[str, Any]) -> HostKey:
    """Return the ``Host.key`` of a host row: ``bk_host_id`` (or its alias ``host_id``), else
    ``(bk_cloud_id, ip, ipv6)``; read exactly as the converter builds the ``Host``."""
    get = row.get
    host_id = get("bk_host_id")
    if host_id is None:
        host_id = get("host_id")
    if host_id is not None:
        return read_int(host_id)
    cloud, ip, ipv6 = get("bk_cloud_id"), get("ip"), get("ipv6")
    return (
        None if cloud is None else read_int(cloud),
        None if ip is None else _str(ip, None),
        None if ipv6 is None else _str(ipv6, None),
    )


def parse_target_ips(text: str | None) -> tuple[Host, ...] | None:
    """Parse v2 ``target_ips`` such as ``"0:10.25.0.2,0:10.25.0.3"`` into hosts."""
    if text is None:
        return None
    hosts = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        cloud, sep, ip = item.partition(":")
        hosts.append(Host(ip=ip, bk_cloud_id=int(cloud)) if sep else Host(ip=item))
    return tuple(hosts)


def _host_result_hook(c: cattrs.Converter) -> Callable[[Any, object], HostResult]:
    """Build HostResult from a flat row: host identity fields and result fields side by side."""
    time = c.get_structure_hook(_dt.datetime)
    span = c.get_structure_hook(_dt.timedelta)

    def structure(row: Mapping[str, Any], _: object) -> HostResult:
        get = row.get
        host_id = get("bk_host_id")
        host_id, ip, cloud, ipv6, agent = (
            get("host_id") if host_id is None else host_id,
            get("ip"),
            get("bk_cloud_id"),
            get("ipv6"),
            get("bk_agent_id"),
        )
        tag, exit_code, error_code = get("tag"), get("exit_code"), get("error_code")
        start, end, total = get("start_time"), get("end_time"), get("total_time")
        return HostResult(
            Host(
                None if host_id is None else _int(host_id, None),
                None if ip is None else _str(ip, None),
                None if cloud is None else _int(cloud, None),
                None if ipv6 is None else _str(ipv6, None),
                None if agent is None else _str(agent, None),
            ),
            HostStatus.of(read_code(row["status"])),
            None if tag is None else _str(tag, None),
            None if exit_code is None else _int(exit_code, None),
            None if error_code is None else _int(error_code, None),
            None if start is None else time(start, None),
            None if end is None else time(end, None),
            None if total is None else span(total, None),
        )

    return structure


_HOST_ROWS = tuple[HostResult, ...]


def _hosts_hook(c: cattrs.Converter) -> Callable[[Any], tuple[HostResult, ...]]:
    """Register the HostResult hook on ``c``; return a function structuring a list of rows."""
    host = _host_result_hook(c)
    c.register_structure_hook(HostResult, host)

    def many(rows: Any) -> tuple[HostResult, ...]:
        results = [host(row, HostResult) for row in _rows(rows)]
        if len(results) < 2:
            return tuple(results)
        # Two rows for one host: the last wins, in the place of the first (as ``_observe``).
        return tuple({result.host.key: result for result in results}.values())

    c.register_structure_hook_func(lambda t: t == _HOST_ROWS, lambda rows, _: many(rows))
    return many


def _base(detailed: bool) -> cattrs.Converter:
    c = cattrs.Converter(detailed_validation=detailed)
    c.register_structure_hook(bool, _bool)
    c.register_structure_hook(int, _int)
    c.register_structure_hook(str, _str)
    # singledispatch: IntEnum is more specific than int, so open enums never take the int hook.
    c.register_structure_hook(enum.IntEnum, _open_enum)
    c.register_structure_hook(CronStatus, _cron_status)
    return c


def _cron_status(value: Any, _: object) -> CronStatus:
    """bk-job says 0 for a paused cron in its lists and details, 2 when it saves one."""
    code = read_code(value)
    return CronStatus.PAUSED if code == 0 else CronStatus(code)


def _v3(c: cattrs.Converter) -> None:
    c.register_structure_hook(_dt.timedelta, _ms_duration)
    hosts = _hosts_hook(c)
    step_v3 = make_dict_structure_fn(StepInstance, c, hosts=override(rename="step_ip_result_list"))
    step = objects_step(c, step_v3)  # (v3's host rows, or v4's execute objects)
    job = c.get_structure_hook(JobInstance)

    def job_status_v3(d: Mapping[str, Any], _: object) -> JobInstanceStatus:
        return JobInstanceStatus(
            _bool(d["finished"], None),
            job(d["job_instance"], JobInstance),
            tuple([step(s, StepInstance) for s in _rows(d.get("step_instance_list"))]),
        )

    def group_v3(d: Mapping[str, Any], _: object) -> StepResultGroup:
        size = d.get("host_size", 0)
        return StepResultGroup(
            HostStatus.of(_int(d["result_type"], None)),
            None if size is None else _int(size, None),  # (null: not known)
            hosts(d.get("host_result_list")),
            c.structure(d.get("tag"), str | None),  # type: ignore[arg-type]
            c.structure(d.get("result_type_desc"), str | None),  # type: ignore[arg-type]
        )

    def step_status_v3(d: Mapping[str, Any], _: object) -> StepInstanceStatus:
        groups = tuple(group_v3(g, StepResultGroup) for g in _rows(d.get("step_result_group_list")))
        instance = step_v3({**d, "step_ip_result_list": None}, StepInstance)
        instance = attrs.evolve(instance, hosts=tuple(h for g in groups for h in g.hosts))
        return StepInstanceStatus(instance.status.is_finished, instance, groups)

    c.register_structure_hook(StepInstance, step)
    c.register_structure_hook(JobInstanceStatus, job_status_v3)
    c.register_structure_hook(StepInstanceStatus, step_status_v3)
    _logs_v3(c)
    _history_v3(c)
    _catalog_v3(c)

    scripts_v3(c)


def _host(row: Mapping[str, Any]) -> Host:
    """Build a Host from a row's identity fields; ``host_id`` is bk-job's compatible alias."""
    get = row.get
    host_id = get("bk_host_id")
    return Host(
        _optional(get("host_id") if host_id is None else host_id, _int),
        _optional(get("ip"), _str),
        _optional(get("bk_cloud_id"), _int),
        _optional(get("ipv6"), _str),
        _optional(get("bk_agent_id"), _str),
    )


def _file_log(row: Mapping[str, Any]) -> FileLog:
    """Build a FileLog; ``src_ip``/``dest_ip`` are host objects, not addresses."""
    text = row.get
    source, dest = text("src_ip"), text("dest_ip")
    return FileLog(
        FileLogMode(_int(row["mode"], None)),
        FileTaskStatus(_int(row["status"], None)),
        None if source is None else _host(source),
        _optional(text("src_path"), _str),
        None if dest is None else _host(dest),
        _optional(text("dest_path"), _str),
        _optional(text("log_content"), _str),
        _optional(text("size"), _str),
        _optional(text("speed"), _str),
        _optional(text("process"), _str),
    )


def _host_log(row: Mapping[str, Any], log_type: Any) -> HostLog:
    """Build a HostLog from a flat row: host fields beside ``log_content`` or ``file_logs``."""
    files = row.get("file_logs")
    return HostLog(
        _host(row),
        None if log_type is None else LogType(_int(log_type, None)),
        _optional(row.get("log_content"), _str),
        None if files is None else tuple([_file_log(f) for f in _rows(files)]),
    )


_HOST_LOGS = tuple[HostLog, ...]


def _logs_v3(c: cattrs.Converter) -> None:
    """One host's log is a flat row; a batch has ``log_type`` once and rows of one kind."""

    def batch(d: Mapping[str, Any], _: object) -> tuple[HostLog, ...]:
        if "step_instance_id" not in d:  # always sent: tells a batch from any other object
            raise ValueError("no step_instance_id")
        rows = [*_rows(d.get("script_task_logs")), *_rows(d.get("file_task_logs"))]
        log_type = d.get("log_type")
        # bk-job lists a host that has no file log yet as a row of nulls only (no host, no
        # logs, spec §7.15): it says nothing, so it is left out rather than read as a hostless log.
        return tuple(
            [_host_log(r, log_type) for r in rows if any(v is not None for v in r.values())]
        )

    c.register_structure_hook(HostLog, lambda d, _: _host_log(d, d.get("log_type")))
    c.register_structure_hook_func(lambda t: t == _HOST_LOGS, batch)


def _history_v3(c: cattrs.Converter) -> None:
    """The history list is ``{start, length, total, data: [...]}``; rows match the model's names."""
    summary = c.get_structure_hook(JobInstanceSummary)

    def page(d: Mapping[str, Any], _: object) -> JobInstancePage:
        return JobInstancePage(
            _int(d["start"], None),
            _int(d["length"], None),
            _int(d["total"], None),
            tuple([summary(row, JobInstanceSummary) for row in _rows(d.get("data"))]),
        )

    c.register_structure_hook(JobInstancePage, page)
    time = c.get_structure_hook(_dt.datetime)

    def statuses(d: Mapping[str, Any], _: object) -> JobStatusPage:
        rows = []
        for row in _rows(d.get("data")):  # (a census reads a thousand a page: three fields)
            created = row.get("create_time")
            rows.append(
                JobStatusRow(
                    _int(row["job_instance_id"], None),
                    read_code(row["status"]),
                    None if created is None else time(created, _dt.datetime),
                )
            )
        return JobStatusPage(_int(d["start"], None), _int(d["total"], None), tuple(rows))

    c.register_structure_hook(JobStatusPage, statuses)


# --- plans, scripts, accounts, variable values ------------------------------------------------


def _plan_variable(c: cattrs.Converter, *, v2: bool = False) -> Callable[[Any], PlanVariable]:
    """Return the reader of a plan's variable (``EsbGlobalVarV3DTO``; v2 ``EsbGlobalVarDTO``
    names its type ``category`` and spells its hosts in the row itself)."""
    server = override(struct_hook=lambda value, _: _targets(value))
    if not v2:
        read = make_dict_structure_fn(PlanVariable, c, server=server)
        return lambda d: read(d, PlanVariable)
    read_v2 = make_dict_structure_fn(
        PlanVariable, c, type=override(rename="category"), server=server
    )
    return lambda d: read_v2({**d, "server": d}, PlanVariable)


def _crons(c: cattrs.Converter, *, v2: bool) -> None:
    """Cron jobs: v3 ``EsbCronInfoV3DTO`` (times in epoch seconds, as plans'), v2
    ``EsbCronInfoResponse`` (``cron_``-prefixed names, v2 time strings, no variables)."""
    if v2:
        cron = make_dict_structure_fn(
            CronJob,
            c,
            id=override(rename="cron_id"),
            name=override(rename="cron_name"),
            job_plan_id=override(rename="bk_job_id"),
            status=override(rename="cron_status"),
            expression=override(rename="cron_expression"),
        )
    else:
        variable = _plan_variable(c)
        seconds = override(struct_hook=lambda v, _: _optional(v, lambda x, _: _epoch_seconds(x)))
        cron = make_dict_structure_fn(
            CronJob,
            c,
            global_vars=override(
                rename="global_var_list",
                struct_hook=lambda v, _: None if v is None else tuple(map(variable, _rows(v))),
            ),
            create_time=seconds,
            last_modify_time=seconds,
        )
    # A cron's name and plan are boxed in bk-job's DTOs: left out, they read as None.
    absent = dict.fromkeys(("cron_name", "bk_job_id") if v2 else ("name", "job_plan_id"))

    def read(d: Mapping[str, Any], cls: object) -> CronJob:
        return cron({**absent, **d}, cls)

    if not v2:
        c.register_structure_hook(CronPage, _page(CronPage, lambda d: read(d, CronJob)))
    c.register_structure_hook(CronJob, read)


def _catalog_v3(c: cattrs.Converter) -> None:
    """v3 plans (``EsbPlanInfoV3DTO``), scripts (``EsbScriptV3DTO``,
    ``EsbScriptVersionDetailV3DTO``), accounts (``EsbAccountV3DTO``) and variable values
    (``EsbJobInstanceGlobalVarValueV3DTO``)."""
    seconds = functools.partial(_optional, hook=lambda v, _: _epoch_seconds(v))
    plan = _plan_reader(_V3_PLAN, plan_step_v3, _plan_variable(c), seconds)

    # Scripts, versions and accounts name their fields as the models do, but for their ids.
    script_row = make_dict_structure_fn(Script, c, script_id=override(rename="id"))

    def script(d: Mapping[str, Any], cls: object) -> Script:
        return script_row({"id": None, **d}, cls)  # (a boxed id: left out, None)

    version = make_dict_structure_fn(ScriptVersion, c, script_version_id=override(rename="id"))
    account = c.get_structure_hook(ExecutionAccount)

    c.register_structure_hook(JobPlan, lambda d, _: plan(d))
    c.register_structure_hook(JobPlanPage, _page(JobPlanPage, plan))
    c.register_structure_hook(ScriptPage, _page(ScriptPage, lambda d: script(d, Script)))
    c.register_structure_hook(ScriptVersion, version)
    c.register_structure_hook(
        AccountPage, _page(AccountPage, lambda d: account(d, ExecutionAccount))
    )
    c.register_structure_hook(JobVariables, _values_reader(_V3_VALUES))
    _crons(c, v2=False)


def _value(d: Mapping[str, Any], type_key: str) -> VariableValue:
    """Read one variable value; v3 names its type ``type``, v2 ``category``."""
    kind = d.get(type_key)
    return VariableValue(
        _str(d["name"], None),
        _optional(d.get("value"), _str),
        None if kind is None else VariableType(read_code(kind)),
    )


#: How each generation names a plan's fields that differ (``EsbPlanInfoV3DTO``;
#: ``EsbJobBasicInfoDTO``/``EsbJobDetailDTO``): its id, its template's id, its steps, its
#: variables. The rest (``name``, ``creator``, times, ``last_modify_user``) is shared; a step
#: is read by ``plan_step_v3`` or ``plan_step_v2``.
_V3_PLAN = ("id", "job_template_id", "step_list", "global_var_list")
_V2_PLAN = ("bk_job_id", "template_id", "steps", "global_vars")
#: How each generation names a job's variable values: the steps, a step's values, a value's
#: type (``EsbJobInstanceGlobalVarValueV3DTO``; ``EsbTaskInstanceGlobalVarValueDTO``).
_V3_VALUES = ("step_instance_var_list", "global_var_list", "type")
_V2_VALUES = ("job_instance_var_values", "step_instance_var_values", "category")


def _plan_reader(
    keys: tuple[str, str, str, str],
    step: Callable[[Mapping[str, Any]], PlanStep],
    variable: Callable[[Any], PlanVariable],
    time: Callable[[Any], _dt.datetime | None],
) -> Callable[[Mapping[str, Any]], JobPlan]:
    """Return the reader of a plan named as ``keys`` says; its steps and variables are ``None``
    unless the answer has either (a list's row has neither, a detail both)."""
    plan_id, template, steps, variables = keys

    def plan(d: Mapping[str, Any]) -> JobPlan:
        detail = steps in d or variables in d
        return JobPlan(
            _int(d[plan_id], None),
            _text(d.get("name")),
            _number(d.get(template)),
            *_audit(d, time),
            tuple(step(s) for s in _rows(d.get(steps))) if detail else None,
            tuple(variable(v) for v in _rows(d.get(variables))) if detail else None,
        )

    return plan


def _values_reader(keys: tuple[str, str, str]) -> Callable[[Any, object], JobVariables]:
    """Return the reader of a job's variable values named as ``keys`` says."""
    steps, values, kind = keys

    def read(d: Mapping[str, Any], _: object) -> JobVariables:
        return JobVariables(
            _int(d["job_instance_id"], None),
            tuple(
                StepVariables(
                    _int(step["step_instance_id"], None),
                    tuple(_value(v, kind) for v in _rows(step.get(values))),
                )
                for step in _rows(d.get(steps))
            ),
        )

    return read


def _catalog_v2(c: cattrs.Converter) -> None:
    """v2 plans (``get_job_list``/``get_job_detail``: ``EsbJobBasicInfoDTO``,
    ``EsbJobDetailDTO``), accounts (``get_os_account``: ``EsbAccountDTO``), variable values
    (``EsbTaskInstanceGlobalVarValueDTO``) and the whole job's log
    (``EsbStepInstanceResultAndLog``). Lists come bare: no page, no total."""
    span = c.get_structure_hook(_dt.timedelta)
    when, text = _times(c), _text
    plan = _plan_reader(_V2_PLAN, plan_step_v2, _plan_variable(c, v2=True), when)

    def account(d: Mapping[str, Any], _: object) -> ExecutionAccount:
        created = d.get("create_time")  # EsbGetOSAccountResourceImpl formats it in UTC
        return ExecutionAccount(
            _int(d["id"], None),
            text(d.get("account")),
            text(d.get("alias")),
            AccountCategory.SYSTEM,  # get_os_account lists system accounts only
            os=text(d.get("os")),
            creator=text(d.get("creator")),
            create_time=None if created is None else _utc_text(created),
        )

    def host_log(row: Mapping[str, Any], status: HostStatus, tag: str | None) -> HostStepLog:
        get = row.get
        return HostStepLog(
            _host(row),
            status,
            tag,
            _optional(get("execute_count"), _int),
            _optional(get("exit_code"), _int),
            _optional(get("error_code"), _int),
            when(get("start_time")),
            when(get("end_time")),
            _optional(get("total_time"), span),
            text(get("log_content")),
        )

    def step_log(d: Mapping[str, Any], _: object) -> StepLog:
        hosts = [
            host_log(row, HostStatus.of(read_code(group["ip_status"])), text(group.get("tag")))
            for group in _rows(d.get("step_results"))
            for row in _rows(group.get("ip_logs"))
        ]
        return StepLog(
            _int(d["step_instance_id"], None),
            StepStatus(read_code(d["status"])),
            _bool(d["is_finished"], None),
            text(d.get("name")),
            tuple(hosts),
        )

    c.register_structure_hook(JobPlan, lambda d, _: plan(d))
    c.register_structure_hook(ExecutionAccount, account)
    c.register_structure_hook(JobVariables, _values_reader(_V2_VALUES))
    c.register_structure_hook(StepLog, step_log)
    _crons(c, v2=True)


def _v2_execute_count(d: Mapping[str, Any]) -> Mapping[str, Any]:
    """3.x sends ``execute_count``; the v2 docs say ``retry_count``: accept either."""
    if "execute_count" not in d and "retry_count" in d:
        return {**d, "execute_count": d["retry_count"]}
    return d


def _v2(c: cattrs.Converter) -> None:
    c.register_structure_hook(_dt.timedelta, _seconds_duration)
    hosts = _hosts_hook(c)
    step = make_dict_structure_fn(
        StepInstance, c, hosts=override(rename="step_ip_status"), target_hosts=override(omit=True)
    )
    job = make_dict_structure_fn(
        JobInstance,
        c,
        job_plan_id=override(rename="bk_job_id"),
        launch_mode=override(rename="start_way"),
    )

    def step_v2(d: Mapping[str, Any], _: object) -> StepInstance:
        return step(_v2_execute_count(d), StepInstance)

    def job_status_v2(d: Mapping[str, Any], _: object) -> JobInstanceStatus:
        rows = (s for block in _rows(d.get("blocks")) for s in _rows(block.get("step_instances")))
        return JobInstanceStatus(
            _bool(d["is_finished"], None),
            job(d["job_instance"], JobInstance),
            tuple(step_v2(s, StepInstance) for s in rows),
        )

    def group_v2(d: Mapping[str, Any], first: bool) -> StepResultGroup:
        status = HostStatus.of(_int(d["result_type"], None))
        rows = [{**row, "status": status} for row in _rows(d.get("ip_list"))]
        count = d.get("count")
        size: int | None = len(rows) if count is None else _int(count, None)
        if not first and not rows and not size:  # emptied by bk-job 3.x: size unknown (§7.5)
            size = None
        return StepResultGroup(
            status,
            size,
            hosts(rows),
            None,
            c.structure(d.get("result_type_text"), str | None),  # type: ignore[arg-type]
        )

    def step_status_v2(d: Mapping[str, Any], _: object) -> StepInstanceStatus:
        detail = _v2_execute_count(d["step_instance_detail"])
        raw = _rows(d.get("step_instance_analyse_result"))
        groups = tuple(group_v2(g, i == 0) for i, g in enumerate(raw))
        known = all(g.complete for g in groups)
        instance = attrs.evolve(
            step({**detail, "step_ip_status": None}, StepInstance),
            hosts=tuple(h for g in groups for h in g.hosts) if known else None,
            target_hosts=parse_target_ips(c.structure(detail.get("target_ips"), str | None)),  # type: ignore[arg-type]
        )
        return StepInstanceStatus(_bool(d["is_finished"], None), instance, groups)

    c.register_structure_hook(JobInstance, job)
    c.register_structure_hook(StepInstance, step_v2)
    c.register_structure_hook(JobInstanceStatus, job_status_v2)
    c.register_structure_hook(StepInstanceStatus, step_status_v2)
    _catalog_v2(c)

    scripts_v2(c)


@functools.lru_cache(maxsize=32)
def converter(
    generation: Generation, server_tz: _dt.tzinfo, *, detailed: bool = False
) -> cattrs.Converter:
    """Return the converter for one generation, reading naive times in ``server_tz``.

    ``detailed``: the same hooks with cattrs' detailed validation, which says which field
    failed; slower, so used only to explain data the plain one refused (``structure``).
    """
    c = _base(detailed)
    c.register_structure_hook(_dt.datetime, _datetime_hook(server_tz))
    (_v3 if generation is Generation.V3 else _v2)(c)
    for family in (accounts, files, settings, templates):
        family.register(c, generation)
    return c


def _type_name(cls: Any) -> str:
    """Return ``HostLog``, or ``tuple[HostLog, ...]`` for a generic alias."""
    args = typing.get_args(cls)
    if not args:
        return str(cls.__name__)
    inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
    return f"{cls.__name__}[{inner}]"


def structure(data: Any, cls: type[T], generation: Generation, server_tz: _dt.tzinfo) -> T:
    """Structure wire ``data`` into ``cls``; raise ``ResponseFormatError`` if it does not fit."""
    try:
        return converter(generation, server_tz).structure(data, cls)
    except Exception as exc:
        where = _failed_field(data, cls, generation, server_tz)
        raise ResponseFormatError(
            f"the server sent data that is not a {_type_name(cls)} "
            f"({where}{type(exc).__name__}: {exc})"
        ) from exc


def _failed_field(data: Any, cls: Any, generation: Generation, server_tz: _dt.tzinfo) -> str:
    """Return ``"Class.field: "`` for the first field of ``data`` that does not fit, or ``""``."""
    try:
        converter(generation, server_tz, detailed=True).structure(data, cls)
    except cattrs.BaseValidationError as exc:
        return _first_field(exc)
    except Exception:
        return ""
    return ""


def _first_field(group: cattrs.BaseValidationError) -> str:
    for sub in group.exceptions:
        for note in getattr(sub, "__notes__", ()):
            match = re.fullmatch(r"Structuring class (\w+) @ attribute (\w+)", str(note))
            if match is not None:
                inner = _first_field(sub) if isinstance(sub, cattrs.BaseValidationError) else ""
                return inner or f"{match[1]}.{match[2]}: "
        if isinstance(sub, cattrs.BaseValidationError):
            return _first_field(sub)
    return ""


# --- the JSON-ready form: any model to JSON's builtins, and back ------------------------------
#
# Not the wire's form (each generation's names, epoch milliseconds, "YYYY-MM-DD HH:mm:ss"):
# one form for every model, its attribute names as keys. A time is an ISO-8601 string with its
# offset (``datetime.isoformat()``), a duration float seconds, an enum its value (an int; a
# ``str`` for a ``str`` enum), a tuple a list, a mapping an object with ``str`` keys; ``None``
# stays ``null``. What ``to_json`` gives, ``json.dumps`` writes unchanged and ``from_json`` reads.


@functools.cache
def json_converter() -> cattrs.Converter:
    """Return the converter of the JSON-ready form (``to_json``, ``from_json``)."""
    c = cattrs.Converter(unstruct_collection_overrides={tuple: list})
    c.register_unstructure_hook(_dt.datetime, _dt.datetime.isoformat)
    c.register_structure_hook(_dt.datetime, _json_time)
    c.register_unstructure_hook(_dt.timedelta, _dt.timedelta.total_seconds)
    c.register_structure_hook(_dt.timedelta, _json_duration)
    c.register_unstructure_hook(BaseException, _no_json)
    c.register_unstructure_hook(bytes, _no_json)
    for kind in (bool, int, float, str):
        c.register_structure_hook(kind, _json_scalar)
    # singledispatch: an IntEnum is an int first; both enum hooks are more specific than int's.
    c.register_structure_hook(enum.IntEnum, _json_enum)
    c.register_structure_hook(enum.Enum, _json_enum)
    c.register_unstructure_hook_factory(_is_mapping, lambda t: _json_mapping(c, t))
    c.register_structure_hook_factory(_has_int_keys, lambda t: _json_mapping_back(c, t))
    c.register_unstructure_hook_factory(_is_named_tuple, lambda t: _json_row(c, t))
    c.register_structure_hook_factory(_is_named_tuple, lambda t: _json_row_back(c, t))
    c.register_structure_hook_func(_is_enum_or_text, _json_enum_or_text)
    return c


def _json_time(value: Any, _: object) -> _dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"a time is an ISO-8601 string, not a {type(value).__name__}")
    return _dt.datetime.fromisoformat(value)


def _json_duration(value: Any, _: object) -> _dt.timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"a duration is a number of seconds, not a {type(value).__name__}")
    return _dt.timedelta(seconds=value)


def _json_scalar(value: Any, cls: type[Any]) -> Any:
    """Take a JSON scalar of ``cls`` as it is (an int for a float too); refuse another."""
    fits = type(value) is cls or (cls is float and type(value) is int)
    if not fits:
        raise TypeError(f"expected a {cls.__name__}, got a {type(value).__name__}")
    return value


def _json_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    """Read an enum's value (an int, or a str for a str enum); an open enum keeps one it lacks."""
    kind = int if issubclass(cls, int) else str
    if type(value) is not kind:
        raise TypeError(
            f"expected a {cls.__name__} ({kind.__name__}), got a {type(value).__name__}"
        )
    return cls(value)


def _no_json(value: Any) -> Any:
    raise TypeError(f"a {type(value).__name__} has no JSON-ready form")


def _is_mapping(cls: Any) -> bool:
    origin = typing.get_origin(cls) or cls
    return isinstance(origin, type) and issubclass(origin, collections.abc.Mapping)


def _json_mapping(c: cattrs.Converter, cls: Any) -> Callable[[Any], dict[str, Any]]:
    """Unstructure a mapping to an object: keys as ``str`` (an int key as its digits)."""
    args = typing.get_args(cls)
    value = c.get_unstructure_hook(args[1]) if len(args) == 2 else c.unstructure
    return lambda m: {
        k if isinstance(k, str) else str(int(k)) if isinstance(k, int) else str(k): value(v)
        for k, v in m.items()
    }


def _has_int_keys(cls: Any) -> bool:
    """Tell whether ``cls`` is a mapping keyed by ints or an int enum (``failed_hosts``)."""
    args = typing.get_args(cls)
    return (
        _is_mapping(cls)
        and len(args) == 2
        and isinstance(args[0], type)
        and issubclass(args[0], int)
        and args[0] is not bool
    )


def _json_mapping_back(c: cattrs.Converter, cls: Any) -> Callable[[Any, Any], Any]:
    """Structure an object keyed by an int's digits (what ``_json_mapping`` wrote) as a dict."""
    key_type, value_type = typing.get_args(cls)

    def structure(data: Any, _: object) -> Any:
        if not isinstance(data, collections.abc.Mapping):
            raise TypeError(f"a mapping is an object, not a {type(data).__name__}")
        out = {}
        for key, item in data.items():
            if isinstance(key, str):
                if not key.lstrip("-").isdigit():
                    raise TypeError(f"expected the digits of a {key_type.__name__}, got {key!r}")
                key = int(key)
            out[c.structure(key, key_type)] = c.structure(item, value_type)
        return out

    return structure


def _is_named_tuple(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def _json_row(c: cattrs.Converter, cls: Any) -> Callable[[Any], dict[str, Any]]:
    """Unstructure a named tuple (``JobStatusRow``) as a model: an object of its fields."""
    hooks = {name: c.get_unstructure_hook(kind) for name, kind in _fields(cls).items()}
    return lambda row: {name: hook(getattr(row, name)) for name, hook in hooks.items()}


def _json_row_back(c: cattrs.Converter, cls: Any) -> Callable[[Any, Any], Any]:
    fields = _fields(cls)

    def structure(data: Any, _: object) -> Any:
        if not isinstance(data, collections.abc.Mapping):
            raise TypeError(f"a {cls.__name__} is an object, not a {type(data).__name__}")
        return cls(**{name: c.structure(data[name], kind) for name, kind in fields.items()})

    return structure


def _fields(cls: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    return {name: hints[name] for name in cls._fields}


def _is_enum_or_text(cls: Any) -> bool:
    """Tell whether ``cls`` is ``SomeEnum | str`` (with ``None`` or not): bk-job's open names."""
    args = set(typing.get_args(cls)) - {type(None)}
    enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
    return str in args and len(enums) == 1 and len(args) == 2


def _json_enum_or_text(value: Any, cls: Any) -> Any:
    if value is None and type(None) in typing.get_args(cls):
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a str, got a {type(value).__name__}")
    (kind,) = [a for a in typing.get_args(cls) if isinstance(a, type) and issubclass(a, enum.Enum)]
    try:
        return kind(value)
    except ValueError:
        return value


def to_json(value: Any) -> Any:
    """Return a model (or a tuple, list or dict of them) as JSON-ready builtins.

    The form: attribute names as keys; times as ISO-8601 strings with their offset
    (``"2025-01-01T08:00:00+08:00"``); durations as float seconds; enums as their values
    (``HostStatus.SUCCESS`` is ``9``); tuples as lists; mappings as objects with ``str``
    keys. ``json.dumps`` writes it as it is; ``from_json(type(model), data)`` reads it back
    into an equal model. Secrets a model holds (a variable's password) are in it: it is data.

    :raises TypeError: a value with no JSON form (an event's error, bytes).
    """
    return json_converter().unstructure(value)


def from_json(cls: type[T] | Any, data: Any) -> T:
    """Return the model ``cls`` (or ``tuple[Model, ...]``, ...) that ``to_json`` gave ``data`` for.

    :raises ValueError: ``data`` is not the JSON form of a ``cls`` (the message names the
        first field that does not fit).
    """
    try:
        found: T = json_converter().structure(data, cls)
    except cattrs.BaseValidationError as exc:
        where = _first_field(exc)
        raise ValueError(
            f"not the JSON form of a {_type_name(cls)} ({where}{_cause(exc)})"
        ) from exc
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(
            f"not the JSON form of a {_type_name(cls)} ({type(exc).__name__}: {exc})"
        ) from exc
    return found


def _cause(group: BaseException) -> str:
    """Return the first leaf error of a cattrs error group as ``Type: message``."""
    while getattr(group, "exceptions", None):
        group = group.exceptions[0]  # type: ignore[attr-defined]
    return f"{type(group).__name__}: {group}"
