"""The gateway v4's shapes: execute objects in, the library's models out; pure, no I/O.

v4 names every target as an execute object ``{type, resource_id, host | container}``
(``OpenApiExecuteObjectDTO``). Its readers give hosts the models v3 gives them (a ``HostResult``
in ``StepInstance.hosts``, read by the v3 converter from the host's fields), so code written
for v3 reads v4 unchanged, and containers their own (``StepInstance.containers``). An execute
object of a type this library does not know (neither 1, host, nor 2, container) is left out.
Every reader raises ``ResponseFormatError`` for data that does not fit, as ``Protocol.parse``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._converter import read_bool, read_code, read_int, read_rows
from .._converter._readers import _epoch_time, _number
from .._converter._v4 import CONTAINER, HOST
from .._converter._v4 import read_container as container
from .._converter.templates import template_step_v4, v4_targets
from .._params import _no_ipv6, check_targets
from ..config import Scope
from ..errors import ResponseFormatError
from ..models import (
    AuthorizedScope,
    AuthorizedScopePage,
    CreatedJobPlan,
    ExecuteObject,
    ExecuteObjectFileLog,
    ExecuteObjectLog,
    ExecuteObjectType,
    FileLogMode,
    FileTaskStatus,
    Host,
    JobInstancePage,
    JobInstanceStatus,
    JobInstanceSummary,
    JobTemplateDetail,
    LogType,
    TaskContext,
    TaskContextField,
    TemplateVariable,
)

if TYPE_CHECKING:
    from ._api import AnswerReader, Parse

__all__ = [
    "created_plan",
    "execute_target",
    "job_page",
    "job_status",
    "object_logs",
    "read_object",
    "scope_page",
    "task_context",
    "template_detail",
]

T = TypeVar("T")


def _fits(read: Callable[[Parse[Any], Any, Mapping[str, Any]], T]) -> AnswerReader[T]:
    """Turn what a reader raises on data that does not fit into ``ResponseFormatError``."""

    @functools.wraps(read)
    def reader(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> T:
        try:
            return read(parse, data, sent)
        except ResponseFormatError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResponseFormatError(
                f"the server sent data that is not a v4 {read.__name__} "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    return reader


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def host(d: Mapping[str, Any]) -> Host:
    """Read a host (``OpenApiHostDTO``)."""
    return Host(
        _number(d.get("bk_host_id")),
        _text(d.get("ip")),
        _number(d.get("bk_cloud_id")),
        _text(d.get("ipv6")),
        _text(d.get("bk_agent_id")),
    )


def read_object(d: Mapping[str, Any] | None) -> ExecuteObject | None:
    """Read an execute object; ``None`` for none, or for one of a type this library lacks."""
    if d is None:
        return None
    kind = read_code(d["type"])
    found_host, found_container = d.get("host"), d.get("container")
    if kind == HOST and isinstance(found_host, Mapping):
        return ExecuteObject(
            ExecuteObjectType.HOST, str(d.get("resource_id")), host=host(found_host)
        )
    if kind == CONTAINER and isinstance(found_container, Mapping):
        return ExecuteObject(
            ExecuteObjectType.CONTAINER,
            str(d.get("resource_id")),
            container=container(found_container),
        )
    return None


# --- get_job_instance_status ---------------------------------------------------------------------


@_fits
def job_status(parse: Parse[Any], data: Any, sent: Mapping[str, Any]) -> JobInstanceStatus:
    """Read v4's job status: hosts as v3 reads them, containers beside them (the converter
    reads both: ``_converter._v4``)."""
    status: JobInstanceStatus = parse(data, JobInstanceStatus)
    asked = sent.get("job_instance_id")
    if asked is not None and status.job.job_instance_id != int(asked):
        raise ResponseFormatError(
            f"asked for job {asked}, the server answered about job {status.job.job_instance_id}"
        )
    return status


# --- get_job_instance_list -----------------------------------------------------------------------


@_fits
def job_page(parse: Parse[Any], data: Any, sent: Mapping[str, Any]) -> JobInstancePage:
    """Read v4's history page: rows as v3's, and no ``total`` (v4 does not count)."""
    rows = parse(list(read_rows(data.get("job_instance_list"))), tuple[JobInstanceSummary, ...])
    return JobInstancePage(int(sent.get("offset", 0)), int(sent.get("length", 10)), None, rows)


# --- batch_get_job_instance_execute_object_log ---------------------------------------------------


def _file_log(row: Mapping[str, Any]) -> ExecuteObjectFileLog:
    get = row.get
    return ExecuteObjectFileLog(
        FileLogMode.of(read_code(row["mode"])),
        FileTaskStatus.of(read_code(row["status"])),
        read_object(get("src_execute_object")),
        _text(get("src_path")),
        read_object(get("dest_execute_object")),
        _text(get("dest_path")),
        _text(get("log_content")),
        _text(get("size")),
        _text(get("speed")),
        _text(get("process")),
    )


@_fits
def object_logs(
    parse: Parse[Any], data: Any, sent: Mapping[str, Any]
) -> tuple[ExecuteObjectLog, ...]:
    """Read v4's batch of execute object logs, script or file rows."""
    if "step_instance_id" not in data:  # always sent: tells a batch from any other object
        raise ValueError("no step_instance_id")
    log_type = None if data.get("log_type") is None else LogType.of(read_code(data["log_type"]))
    logs = []
    for row in read_rows(data.get("script_step_execute_object_logs")):
        target = read_object(row.get("execute_object"))
        if target is not None:
            logs.append(ExecuteObjectLog(target, log_type, _text(row.get("log_content"))))
    for row in read_rows(data.get("file_step_execute_object_logs")):
        target = read_object(row.get("execute_object"))
        if target is not None:
            files = [*read_rows(row.get("upload_log")), *read_rows(row.get("download_log"))]
            logs.append(
                ExecuteObjectLog(target, log_type, None, tuple(_file_log(f) for f in files))
            )
    return tuple(logs)


# --- spellings -----------------------------------------------------------------------------------


def execute_target(targets: Any) -> dict[str, Any]:
    """Spell v4's ``execute_target`` (``V4ExecuteTargetDTO``): each host by id or by
    ``(cloud, ip)`` in ``host_list`` (v4 reads each row alone: no v3 ``ip_list`` rule to trip),
    IPv4 only as v3 (``OpenApiV4HostDTO``'s pattern)."""
    _no_ipv6(check_targets(targets), "target IPv6 hosts by host id (Targets(host_ids=...))")
    hosts: list[dict[str, Any]] = [{"bk_host_id": host_id} for host_id in targets.host_ids]
    hosts += [{"bk_cloud_id": cloud, "ip": ip} for cloud, ip in targets.ips]
    spelled: dict[str, Any] = {
        "host_list": hosts,
        "dynamic_group_list": [{"id": g} for g in targets.dynamic_group_ids],
        "topo_node_list": [{"id": i, "node_type": t} for t, i in targets.topo_nodes],
        "kube_container_filters": [container_filter(f) for f in targets.containers],
    }
    return {k: v for k, v in spelled.items() if v}


def container_filter(f: Any) -> dict[str, Any]:
    """Spell one ``kube_container_filter`` (``V4ContainerFilter``); empty filters left out."""
    spelled: dict[str, Any] = {"kube_cluster_filter": {"cluster_uid_list": list(f.cluster_uids)}}
    if f.namespaces:
        spelled["kube_namespace_filter"] = {"namespace_name_list": list(f.namespaces)}
    if f.workload_names:
        spelled["kube_workload_filter"] = {
            "kind": f.workload_kind,
            "workload_name_list": list(f.workload_names),
        }
    pods: dict[str, Any] = {}
    if f.pod_names:
        pods["pod_name_list"] = list(f.pod_names)
    if f.label_selectors:
        pods["label_selector"] = [
            {
                "key": s.key,
                "operator": s.operator,
                **({"values": list(s.values)} if s.values else {}),
            }
            for s in f.label_selectors
        ]
    if f.label_selector_expr:
        pods["label_selector_expr"] = f.label_selector_expr
    if pods:
        spelled["kube_pod_filter"] = pods
    if f.container_names:
        spelled["kube_container_prop_filter"] = {"container_name_list": list(f.container_names)}
    if f.whole_cluster:
        spelled["execute_in_whole_cluster"] = True
    return spelled


# --- templates, plans, scopes, task contexts -----------------------------------------------------


def _name(value: Any) -> str:
    """Read a name that identifies a row (a variable's): a string, never null."""
    if not isinstance(value, str):
        raise ValueError(f"not a name: a {type(value).__name__}")
    return value


def _flag(value: Any) -> bool | None:
    return None if value is None else read_bool(value)


@_fits
def template_detail(parse: Parse[Any], data: Any, sent: Mapping[str, Any]) -> JobTemplateDetail:
    """Read v4's template detail (``OpenApiV4JobTemplateDetailDTO``): steps and variables."""
    variables = tuple(
        TemplateVariable(
            _name(v["name"]),
            _number(v.get("type")),
            _text(v.get("description")),
            bool(_number(v.get("required")) or 0),
            _text(v.get("value")),
            *v4_targets(v.get("execute_target")),
        )
        for v in read_rows(data.get("global_var_list"))
    )
    steps = tuple(template_step_v4(s) for s in read_rows(data.get("step_list")))
    kind, scope_id = data.get("bk_scope_type"), data.get("bk_scope_id")
    try:
        scope = Scope.parse(f"{kind}:{scope_id}") if kind and scope_id is not None else None
    except ValueError:
        scope = None  # (an unknown scope type: the rest still reads)
    return JobTemplateDetail(
        read_int(data["id"]),
        _text(data.get("name")),
        _text(data.get("description")),
        _text(data.get("creator")),
        _epoch_time(data.get("create_time")),
        _text(data.get("last_modify_user")),
        _epoch_time(data.get("last_modify_time")),
        variables,
        steps,
        scope,
    )


@_fits
def created_plan(parse: Parse[Any], data: Any, sent: Mapping[str, Any]) -> CreatedJobPlan:
    """Read the plan ``create_job_plan`` made (``OpenApiV4JobPlanDTO``)."""
    return CreatedJobPlan(
        read_int(data["job_plan_id"]),
        _text(data.get("job_plan_name")),
        _number(data.get("job_template_id")),
        _text(data.get("creator")),
        _epoch_time(data.get("create_time")),
        _flag(data.get("need_update")),
    )


@_fits
def scope_page(parse: Parse[Any], data: Any, sent: Mapping[str, Any]) -> AuthorizedScopePage:
    """Read a page of the user's scopes (``V4GetUserAuthorizedScopesResult``)."""
    items = tuple(
        AuthorizedScope(
            Scope(str(s["bk_scope_type"]), int(str(s["bk_scope_id"]))),
            _text(s.get("name")),
            _flag(s.get("favor")),
            _text(s.get("favor_time")),
            _text(s.get("time_zone")),
        )
        for s in read_rows(data.get("scope_list"))
    )
    offset, length = data.get("offset"), data.get("length")
    offset = sent.get("offset", 0) if offset is None else offset
    length = sent.get("length", 10) if length is None else length
    return AuthorizedScopePage(
        read_int(offset), read_int(length), _number(data.get("total")), items
    )


@_fits
def task_context(parse: Parse[Any], data: Any, sent: Mapping[str, Any]) -> TaskContext:
    """Read a task's context (``TaskContextForSingleExecuteObjectDTO``)."""
    return TaskContext(
        tuple(
            TaskContextField(str(f["name"]), _text(f.get("value")), _text(f.get("description")))
            for f in read_rows(data.get("field_list"))
        )
    )
