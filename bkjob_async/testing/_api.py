"""Rule: the simulated endpoints see parameters, never HTTP, and refuse with bk-job's codes.

The simulated Job backend's endpoints: validate parameters, act on the world, return data.

Rule: handlers see parameters, never HTTP. They return a JSON-ready object, or ``Encoded``
bytes for the cached job status, and raise ``ApiFailure`` with bk-job's code for a refusal. The
checks follow the Java resources' ``checkRequest`` methods and exception mapping: a missing
required query parameter on the gateway's GET endpoints, a type mismatch or a scope that fails
validation is 1240003 (HTTP 200), the rest as each resource spells it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from ..config import ApiFlavor, Scope, ScopeType
from ..models import Host
from ..models.enums import HostStatus, StepOperation, StepType, TaskType
from ..models.logs import MAX_LOG_BYTES
from . import _codes as codes
from ._engine import Job, OpError, Round, Step
from ._fastwire import job_status_body
from ._field_checks import CHECKS, Check, Items, OneOf, Page, Refusal, Text
from ._plan import StepPlan, launch_vars
from ._render import (
    StepQuery,
    file_logs,
    job_list_item,
    log_text,
    step_status_v2,
    step_status_v3,
    v2_time,
)
from ._rolling import RollingRefused, rolling_plan, source_groups
from ._world import World

if TYPE_CHECKING:
    from ._hosts import SimHost

__all__ = ["GENERATION", "NUMBERS", "ApiFailure", "Call", "Encoded", "Endpoint", "Params"]

_BIZ_SET_IDS = range(8_000_000, 10_000_000)
_MAX_HISTORY_MS = 30 * 24 * 3600 * 1000
_MAX_BATCH_LOG_HOSTS = 500
#: ``JobConstants.MAX_JOB_TIMEOUT_SECONDS`` (72 h); out of range is a validation error, 1240003.
_MAX_TIMEOUT = 259200
#: ``FilePathValidateUtil``: a Linux path from ``/``, a Windows one from ``X:\``, or a variable.
_ABSOLUTE_PATH = re.compile(r"^(/|[A-Za-z]:[/\\])|\$\{[A-Za-z_][A-Za-z0-9_-]*\}")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


class ApiFailure(Exception):
    """A refusal in bk-job's terms: ``code`` and the arguments of its localized message."""

    def __init__(self, code: int, *args: object, message: str | None = None) -> None:
        super().__init__(code, *args)
        self.code, self.args_, self.message = code, args, message

    def text(self, english: bool) -> str:
        """Return the message bk-job would send."""
        return self.message or codes.message(self.code, english, *self.args_)

    @classmethod
    def invalid(cls, key: str, english: bool, *args: object) -> ApiFailure:
        """Return a failed bean validation: 1240003 with the text of ``key``
        (``codes.VALIDATION``)."""
        return cls(
            codes.BAD_REQUEST, message=codes.localized(codes.VALIDATION[key], english, *args)
        )


class Encoded:
    """``data`` already encoded for the caller's flavor (the cached job status)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class Params:
    """Request parameters with Spring's and Jackson's coercions."""

    def __init__(self, values: Mapping[str, Any], *, strict: bool) -> None:
        self.values = values
        #: Gateway GET: Spring binds ``@RequestParam``, so a missing required one is 1240003.
        self.strict = strict

    def raw(self, name: str) -> Any:
        """Return the value as sent, or ``None``."""
        return self.values.get(name)

    def long(self, name: str) -> int | None:
        """Return an integer parameter; a value that does not convert is a bad request."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise ApiFailure(codes.BAD_REQUEST)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            raise ApiFailure(codes.BAD_REQUEST) from None

    def flag(self, name: str, default: bool = False) -> bool:
        """Return a boolean parameter."""
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ApiFailure(codes.BAD_REQUEST)

    def text(self, name: str) -> str | None:
        """Return a string parameter (``None`` when absent)."""
        value = self.values.get(name)
        return None if value is None else str(value)

    def read_as(self, fields: Mapping[str, str], numbers: frozenset[str]) -> Params:
        """Return the parameters as bk-job's request reads them (``_fields``: key and Java
        type; ``numbers`` those it reads as a number): a key it has no field for is dropped, as
        Jackson drops it, and a number that does not convert is a bad request before any check
        of the resource."""
        kept = {k: v for k, v in self.values.items() if k in fields}
        for key in numbers.intersection(kept):
            value = kept[key]
            if type(value) is not int and not (type(value) is str and value.isdigit()):
                self.long(key)
        return self if len(kept) == len(self.values) else Params(kept, strict=self.strict)


#: The Java types Jackson reads a number into (a value that does not convert: 1240003).
NUMBERS = frozenset({"Long", "Integer", "long", "int"})


@attrs.define
class Call:
    """One request as a handler sees it."""

    flavor: ApiFlavor
    api: str
    params: Params
    english: bool
    username: str
    app_code: str = ""
    #: The gateway v4 runs this v3 handler: a container is an execute object it reads, not a
    #: host that bk-job's v2/v3 views cannot read (``in_containers``).
    objects: bool = False

    def checked(self, api: str | None = None) -> tuple[Any, ...]:
        """Return the fields ``_field_checks`` has for ``api`` (this call's by default) in
        its order, each checked as bk-job checks it (a page: its start and length); the first
        it refuses raises its refusal."""
        values: list[Any] = []
        for check in CHECKS[GENERATION[self.flavor], api or self.api]:
            if isinstance(check, Page):
                values += self._page(check)
            elif isinstance(check, Text):
                values.append(self._text(check))
            elif isinstance(check, Items):
                values.append(self._items(check))
            elif isinstance(check, OneOf):
                self._one_of(check)
            else:
                values.append(self._number(check))
        return tuple(values)

    def refusal(self, refusal: Refusal, *args: object) -> ApiFailure:
        """Return the failure of ``refusal``: its code with ``args``, or a failed bean
        validation, 1240003 with the text of its key (``codes.VALIDATION``)."""
        if isinstance(refusal, str):
            return ApiFailure.invalid(refusal, self.english, *args)
        return ApiFailure(refusal, *args)

    def _number(self, check: Check) -> int | None:
        value = self.params.long(check.field)
        if value is None and check.bound and self.params.strict:
            raise ApiFailure(codes.BAD_REQUEST)
        if check.validation and value is None:
            raise ApiFailure.invalid(check.validation, self.english)
        if (value is None and check.optional) or (check.when and not self.params.text(check.when)):
            return value
        if value is None or not check.takes(value):
            raise self.refusal(check.code, *check.args)
        return value

    def _text(self, check: Text) -> str | None:
        value = self.params.text(check.field)
        if check.strip:
            value = (value or "").strip() or None
        if value is None and check.bound and self.params.strict:
            raise ApiFailure(codes.BAD_REQUEST)
        if check.optional and not value:
            return value
        if value is None or not (value.strip() if check.blank else value):
            raise self.refusal(check.empty, *check.args)
        if check.most is not None and check.long is not None and len(value) > check.most:
            raise self.refusal(check.long, *check.args)
        if check.takes and check.illegal is not None and not check.takes(value):
            raise self.refusal(check.illegal, *check.args)
        return value

    def _items(self, check: Items) -> list[Any]:
        value = self.params.raw(check.field)
        if not isinstance(value, list) or not value:
            raise self.refusal(check.empty, *check.args)
        return value

    def _one_of(self, check: OneOf) -> None:
        if all(self.params.raw(f) is None or str(self.params.raw(f)) == "" for f in check.fields):
            raise self.refusal(check.refusal, *check.args)

    def _page(self, page: Page) -> tuple[int, int]:
        start, length = self.params.long(page.start), self.params.long("length")
        if page.refusal is None:
            start = 0 if start is None or start < 0 else start
            length = page.default if length is None or length < page.least else length
            return start, length if page.most is None else min(length, page.most)
        start = 0 if start is None else start
        length = page.default if length is None else length
        if start < 0 or (page.max_start is not None and start > page.max_start):
            raise ApiFailure(page.refusal, page.start)
        if length < page.least or (page.most is not None and length > page.most):
            raise ApiFailure(page.refusal, "length")
        return start, length


#: The generation of ``_fields`` and ``_field_checks`` each flavor speaks.
GENERATION = {
    ApiFlavor.ESB_V2: "v2",
    ApiFlavor.ESB_JOBV3: "v3",
    ApiFlavor.APIGW_V3: "v3",
    ApiFlavor.APIGW_V4: "v4",
}


@attrs.frozen
class Endpoint:
    """An API: its handler and the method the gateway routes (``None``: not on the gateway)."""

    handler: Callable[[World, Call], object]
    gateway_method: str | None
    jobv3: bool = True


def scope_of(params: Params) -> Scope:
    """Resolve ``bk_scope_type``/``bk_scope_id`` or the legacy ``bk_biz_id`` (``EsbAppScopeReq``)."""
    scope_type, scope_id = params.text("bk_scope_type"), params.text("bk_scope_id")
    if scope_type or scope_id:
        if scope_type not in (ScopeType.BIZ.value, ScopeType.BIZ_SET.value):
            raise ApiFailure(codes.BAD_REQUEST, message="Invalid bk_scope_type")
        if not scope_id or not scope_id.isdigit() or int(scope_id) < 1:
            raise ApiFailure(codes.BAD_REQUEST, message="Invalid bk_scope_id")
        return Scope(scope_type, int(scope_id))
    biz = params.long("bk_biz_id")
    if biz is None or biz < 1:
        raise ApiFailure(codes.BAD_REQUEST, message="Invalid bk_scope_type")
    return Scope.biz_set(biz) if biz in _BIZ_SET_IDS else Scope.biz(biz)


def paged(rows: list[Any], start: int, length: int) -> dict[str, Any]:
    """Return ``EsbPageDataV3``: an empty page has ``total`` 0 and ``data`` [] (``from``)."""
    return {
        "start": start,
        "length": length,
        "total": len(rows),
        "data": rows[start : start + length],
    }


def _job(world: World, job_id: int, scope: Scope) -> Job:
    job = world.jobs.get(job_id)
    if job is None or job.scope != scope:
        raise ApiFailure(codes.TASK_NOT_EXIST)
    world.engine.settle(job, world.now_ms())
    return job


def _step(world: World, job_id: int, step_id: int, scope: Scope) -> Step:
    job = world.jobs.get(job_id)
    step = job.step(step_id) if job is not None and job.scope == scope else None
    if job is None or step is None:
        raise ApiFailure(codes.STEP_NOT_EXIST)
    world.engine.settle(job, world.now_ms())
    return step


# -- status -------------------------------------------------------------------------------------


def get_job_instance_status(world: World, call: Call) -> object:
    """Answer from the per-job cache while the job's reported state is unchanged."""
    params = call.params
    scope = scope_of(params)
    (job_id,) = call.checked("get_job_instance_status")
    job = _job(world, job_id, scope)
    v2 = call.flavor is ApiFlavor.ESB_V2
    with_hosts = v2 or params.flag("return_ip_result")
    if with_hosts and not call.objects and any(in_containers(world, s) for s in job.steps):
        raise ApiFailure(codes.INTERNAL_ERROR)
    now = world.now_ms()
    key, slot = world.engine.cache_key(job, now), (call.flavor, with_hosts)
    hit = job.cache.get(slot)
    if hit is not None and hit[0] == key:
        world.cache_hits += 1
        return Encoded(hit[1])
    world.cache_misses += 1
    esb = call.flavor is not ApiFlavor.APIGW_V3
    body = job_status_body(job, now, v2=v2, with_hosts=with_hosts, esb=esb, tz=world.tz)
    job.cache[slot] = (key, body)
    return Encoded(body)


def get_step_instance_status(world: World, call: Call) -> object:
    """v3 (gateway, GET only) or v2 step status; manual-confirm steps are refused (1241003)."""
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    if not v2 and not (params.text("bk_scope_type") and params.text("bk_scope_id")):
        raise ApiFailure(codes.BAD_REQUEST)  # §7.12: the v3 resource binds the scope only
    scope = scope_of(params)
    job_id, step_id = call.checked()
    step = _step(world, job_id, step_id, scope)
    if step.type is StepType.MANUAL_CONFIRM:
        raise ApiFailure(1241003)
    if not call.objects and in_containers(world, step):
        raise ApiFailure(codes.INTERNAL_ERROR)
    now = world.now_ms()
    if v2:
        return step_status_v2(step, now, world.tz, call.english)
    query = StepQuery(
        execute_count=params.long("execute_count"),
        batch=params.long("batch"),
        max_host_num_per_group=params.long("max_host_num_per_group"),
        keyword=params.text("keyword"),
        search_ip=params.text("search_ip"),
        status=params.long("status"),
        tag=params.text("tag"),
    )
    return step_status_v3(step, query, now, call.english)


# -- operations ---------------------------------------------------------------------------------


def operate_step_instance(world: World, call: Call) -> object:
    """Apply a step operation; unknown codes and bad ids are 1241002 (``checkRequest``)."""
    scope = scope_of(call.params)
    job_id, step_id, code = call.checked()
    job = _job(world, job_id, scope)
    step = job.step(step_id)
    if step is None:
        raise ApiFailure(codes.STEP_NOT_EXIST)
    try:
        world.engine.operate_step(job, step, StepOperation(code), call.username, world.now_ms())
    except OpError as error:
        raise ApiFailure(error.code, *error.args_) from None
    world.touched(job)
    return {"job_instance_id": job_id, "job_instance_name": None, "step_instance_id": step_id}


def operate_job_instance(world: World, call: Call) -> object:
    """Terminate (1, on jobs at 2 or 7) or start (2, on jobs at 1) a job."""
    scope = scope_of(call.params)
    job_id, code = call.checked()
    job = _job(world, job_id, scope)
    try:
        if code == 1:
            world.engine.terminate(job, world.now_ms())
        else:
            world.engine.start(job, world.now_ms())
    except OpError as error:
        raise ApiFailure(error.code, *error.args_) from None
    world.touched(job)
    return {"job_instance_id": job_id, "job_instance_name": None, "step_instance_id": None}


# -- launches -----------------------------------------------------------------------------------


def _default_name(world: World, kind: tuple[str, str], english: bool) -> str:
    stamp = _dt.datetime.fromtimestamp(world.now_ms() / 1000, world.tz)
    return f"{kind[1] if english else kind[0]}_{stamp.strftime('%Y%m%d%H%M%S%f')[:-3]}"


def _targets(world: World, call: Call) -> list[SimHost]:
    """Resolve the launch's targets as bk-job reads them (§7.1-7.3, §7.7).

    v3 reads ``target_server`` only, and its ``ip_list`` only when ``host_id_list`` is empty.
    v2 reads ``target_server`` when present (``dynamic_group_id_list`` there) and otherwise the
    top-level ``ip_list`` and ``custom_query_id``; it builds hosts from ``(bk_cloud_id, ip)``.
    """
    params = call.params
    server = params.raw("target_server")
    if call.flavor is not ApiFlavor.ESB_V2:
        if not isinstance(server, Mapping) or not _names_hosts(server):
            raise ApiFailure(codes.MISSING_PARAM_NAMED, "target_server")
        target = _v3_target(server)
    elif isinstance(server, Mapping):
        target = _v2_target(server.get("ip_list"), server.get("dynamic_group_id_list"))
        target["topo_node_list"] = server.get("topo_node_list")
    else:
        ip_list, groups = params.raw("ip_list"), params.raw("custom_query_id")
        if ip_list is None and groups is None:
            raise ApiFailure(codes.MISSING_PARAM_NAMED, "target_server")
        target = _v2_target(ip_list, groups)
    hosts = world.hosts_from_target(target)
    if not hosts:
        raise ApiFailure(codes.HOST_EMPTY)
    return hosts


def _names_hosts(server: Mapping[str, Any]) -> bool:
    # (``kube_container_filters``: the gateway v4's, through ``_api_v4``)
    keys = (
        "host_id_list",
        "ip_list",
        "dynamic_group_list",
        "topo_node_list",
        "kube_container_filters",
    )
    return any(server.get(key) for key in keys)


def _v3_target(server: Mapping[str, Any]) -> dict[str, Any]:
    target = dict(server)
    if target.get("host_id_list"):  # JobExecuteCommonV3Processor: ip_list ignored (§7.1)
        target.pop("ip_list", None)
    return target


def _v2_target(ip_list: object, groups: object) -> dict[str, Any]:
    rows = ip_list if isinstance(ip_list, list) else []
    # v2 keys hosts by (bk_cloud_id, ip) alone: a bk_host_id in a row is not read (§7.2).
    ips = [{k: v for k, v in row.items() if k != "bk_host_id"} for row in _maps(rows)]
    names = groups if isinstance(groups, list) else []
    return {"ip_list": ips, "dynamic_group_list": [{"id": group} for group in names]}


def _maps(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _check_ip_rows(call: Call) -> None:
    """Check every ``ip_list`` row of the request, wherever it is, as bk-job does first.

    v2 trims every row's ``ip`` before anything else (``trimIps``): a row without one is an
    internal error, 1240002 (§7.2). ``EsbIpDTO.ip`` is IPv4 only: an IPv6 address is 1240003
    (§7.7).
    """
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    holders: list[Mapping[str, Any]] = [params.values]
    holders += _maps([params.raw("target_server")])
    for key in ("file_source", "file_source_list", "global_vars", "global_var_list"):
        for item in _maps(params.raw(key)):
            holders += [item, *_maps([item.get("server"), item.get("target_server")])]
    for holder in holders:
        for row in _maps(holder.get("ip_list")):
            ip = row.get("ip")
            if ip is None:
                if v2:
                    raise ApiFailure(codes.INTERNAL_ERROR)
                continue
            if _is_ipv6(str(ip).strip()):
                raise ApiFailure(codes.BAD_REQUEST)


def _is_ipv6(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).version == 6
    except ValueError:
        return ":" in ip


def _check_launch(call: Call, *, timeout: int | None) -> None:
    """Run the launch validations bk-job does before it creates anything (§7.4, §7.12)."""
    _check_ip_rows(call)
    if timeout is not None and not 1 <= timeout <= _MAX_TIMEOUT:
        raise ApiFailure(codes.BAD_REQUEST)
    url = call.params.text("callback_url") or call.params.text("bk_callback_url")
    if url and not _callback_ok(url):
        raise ApiFailure(codes.BAD_REQUEST)


def _callback_ok(url: str) -> bool:
    """``ValidCallbackUrl``: an http(s) URL with a host and no user info."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc


def _absolute(path: object) -> bool:
    return isinstance(path, str) and bool(path.strip()) and bool(_ABSOLUTE_PATH.search(path))


def _account(params: Params, *names: str) -> None:
    for name in names:
        value = params.raw(name)
        if value not in (None, "", 0, "0"):
            return
    raise ApiFailure(codes.MISSING_PARAM_NAMED, "|".join(names))


def _rolling(call: Call, host_count: int, kind: TaskType) -> dict[str, Any]:
    """Read ``rolling_config`` as bk-job does (``_rolling``): the step plan's batches."""
    sources = call.params.raw("file_source_list") if kind is TaskType.FAST_FILE else None
    try:
        groups = None if sources is None else source_groups(sources, "file_list", "server")
        return rolling_plan(call.params.raw("rolling_config"), host_count, groups)
    except RollingRefused as refused:
        raise ApiFailure(refused.code, *refused.args[1:]) from None


#: The name bk-job gives a fast launch without ``task_name``, in Chinese and in English.
_DEFAULT_NAMES = {
    TaskType.FAST_SCRIPT: ("快速执行脚本", "Script Execution"),
    TaskType.FAST_FILE: ("快速分发文件", "File Transfer"),
}


def check_quota(world: World, call: Call, scope: Scope) -> None:
    """Refuse a launch while bk-job's running-job quota is full (1244034, 1244032, 1244033)."""
    code = world.quota_refusal(scope, call.app_code)
    if code is not None:
        raise ApiFailure(code)


def _launch(
    world: World,
    call: Call,
    hosts: list[SimHost],
    kind: TaskType,
    sources: tuple[SimHost, ...] = (),
) -> object:
    """Check the account, then create the one-step job of a fast launch; return its ids."""
    params = call.params
    if call.flavor is ApiFlavor.ESB_V2:
        _account(params, "account")
    else:
        _account(params, "account_id", "account_alias")
    name = params.text("task_name") or _default_name(world, _DEFAULT_NAMES[kind], call.english)
    rolling = _rolling(call, len(hosts), kind)
    step_type = StepType.SCRIPT if kind is TaskType.FAST_SCRIPT else StepType.FILE
    timeout = params.long("script_timeout" if call.flavor is ApiFlavor.ESB_V2 else "timeout")
    plan = StepPlan(step_type, len(hosts), name, timeout=timeout, **rolling)
    scope = scope_of(call.params)
    check_quota(world, call, scope)
    job = world.create_job(
        scope,
        [plan],
        name=name,
        start=call.params.flag("start_task", True),
        operator=call.username,
        targets=[hosts],
        task_type=kind,
        app_code=call.app_code,
        callback_url=call.params.text("callback_url") or call.params.text("bk_callback_url"),
    )
    job.steps[0].sources = sources
    launched: dict[str, Any] = {"job_instance_id": job.id, "job_instance_name": name}
    if not (call.flavor is ApiFlavor.ESB_V2 and kind is TaskType.FAST_FILE):
        launched["step_instance_id"] = job.steps[0].id  # v2 fast_push_file never sets it (§7.8)
    return launched


def _check_base64(params: Params, name: str) -> None:
    value = params.text(name)
    if value:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ApiFailure(codes.ILLEGAL_PARAM_NAMED, name) from None


def fast_execute_script(world: World, call: Call) -> object:
    """Create a one-step script job (v3 ``fast_execute_script``; v2 spellings accepted)."""
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    scope_of(params)
    call.checked()  # (v2's script_type defaults to shell; v3 requires script_language, §7.12)
    _check_launch(call, timeout=params.long("script_timeout" if v2 else "timeout"))
    return _launch(world, call, _targets(world, call), TaskType.FAST_SCRIPT)


def fast_transfer_file(world: World, call: Call) -> object:
    """Create a one-step file job (v3 ``fast_transfer_file``, v2 ``fast_push_file``)."""
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    scope_of(params)
    target_path, sources = call.checked()
    _check_launch(call, timeout=params.long("timeout"))
    # FilePathValidateUtil: absolute paths only, each refusal naming its field
    # (EsbFastTransferFileV3ResourceImpl, v2 EsbFastPushFileResourceImpl)
    if not _absolute(target_path if v2 else target_path.strip()):  # (v3 trims it)
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "file_target_path")
    files_key = "files" if v2 else "file_list"
    for item in _maps(sources):
        on_hosts = v2 or item.get("file_type", 1) in (1, "1", None)  # v3: files on hosts only
        if on_hosts and not all(_absolute(path) for path in item.get(files_key) or ()):
            raise ApiFailure(codes.ILLEGAL_PARAM_NAMED, f"file_source.{files_key}")
    hosts = _targets(world, call)
    return _launch(world, call, hosts, TaskType.FAST_FILE, _source_hosts(world, call, sources))


def _source_hosts(world: World, call: Call, sources: list[Any]) -> tuple[SimHost, ...]:
    """Resolve the server file sources' hosts (they upload; their logs show it, §7.15)."""
    found: dict[int, SimHost] = {}
    for item in _maps(sources):
        server = item.get("target_server" if call.flavor is ApiFlavor.ESB_V2 else "server")
        if call.flavor is ApiFlavor.ESB_V2:
            if isinstance(server, Mapping):
                target = _v2_target(server.get("ip_list"), server.get("dynamic_group_id_list"))
            else:
                target = _v2_target(item.get("ip_list"), item.get("custom_query_id"))
        elif isinstance(server, Mapping):
            target = _v3_target(server)
        else:
            continue
        found.update((host.bk_host_id, host) for host in world.hosts_from_target(target))
    return tuple(found.values())


def execute_job_plan(world: World, call: Call) -> object:
    """Instantiate a registered plan (v3 ``job_plan_id``, v2 ``execute_job`` ``bk_job_id``)."""
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    scope = scope_of(params)
    (plan_id,) = call.checked()
    _check_launch(call, timeout=None)
    plan = world.plans.get(plan_id)
    if plan is None or (plan.scope is not None and plan.scope != scope):
        raise ApiFailure(codes.PLAN_NOT_EXIST)
    check_quota(world, call, scope)
    job = world.create_job(
        scope,
        plan.steps,
        plan=plan,
        start=params.flag("start_task", True),
        operator=call.username,
        task_type=TaskType.PLAN,
        app_code=call.app_code,
        callback_url=params.text("callback_url") or params.text("bk_callback_url"),
    )
    given = params.raw("global_vars" if v2 else "global_var_list")
    world.job_vars[job.id] = launch_vars(plan.plan_id, plan.variables, given)
    return {"job_instance_id": job.id, "job_instance_name": job.name, "step_instance_id": None}


# -- logs and history ---------------------------------------------------------------------------


def _gse_step(world: World, call: Call, api: str) -> tuple[Step, int]:
    """Return the step of an ip-log request and its current round.

    The ip-log APIs have no ``execute_count`` parameter (§7.12): it is ignored. An unknown step
    is answered like an unknown job, 1244006 (§7.13).
    """
    scope = scope_of(call.params)
    job_id, step_id = call.checked(api)
    try:
        step = _step(world, job_id, step_id, scope)
    except ApiFailure:
        raise ApiFailure(codes.TASK_NOT_EXIST) from None
    return step, step.execute_count


def in_containers(world: World, step: Step) -> bool:
    """Tell whether ``step`` runs in Kubernetes containers (a step never mixes them with hosts).

    bk-job's v2 and v3 views read every execute object as a host: their per-host status
    (``executeObject.getHost().getHostId()``) fails on a container with 1240002 at HTTP 200,
    and their logs, asked by host id or ip, find none of its containers.
    """
    return bool(step.hosts) and world.inventory.container_of(step.hosts[0].bk_host_id) is not None


def _host_index(step: Step, host_id: int | None, cloud: int | None, ip: str | None) -> int | None:
    for index, host in enumerate(step.hosts):
        if host_id is not None and host.bk_host_id == host_id:
            return index
        if host_id is None and ip and host.ip == ip and host.bk_cloud_id == (cloud or 0):
            return index
    return None


def get_job_instance_ip_log(world: World, call: Call) -> object:
    """Return one host's log in one round (script text, or ``file_logs`` for file steps)."""
    params = call.params
    step, count = _gse_step(world, call, "get_job_instance_ip_log")
    host_id, cloud, ip = params.long("bk_host_id"), params.long("bk_cloud_id"), params.text("ip")
    if host_id is None and (cloud is None or not ip):
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "host_id/(bk_cloud_id+ip)")
    index = _host_index(step, host_id, cloud, ip)
    if not call.objects and in_containers(world, step):
        index = None
    rnd, now = step.rounds.get(count), world.now_ms()
    # bk-job echoes the host as asked (EsbGetJobInstanceIpLogV3ResourceImpl), filling in only
    # the host id, and answers a step that is neither script nor file with no log at all.
    data: dict[str, Any] = {
        "log_type": None,
        "bk_host_id": host_id
        if host_id is not None or index is None
        else step.hosts[index].bk_host_id,
        "bk_cloud_id": cloud,
        "ip": ip,
        "log_content": None,
        "file_logs": None,
    }
    if step.type in (StepType.SCRIPT, StepType.SQL):
        data["log_type"] = 1
        if index is not None and rnd is not None:
            data["log_content"] = script_log(world, step, rnd, index, now) or None  # blank: null
    elif step.type is StepType.FILE:
        data["log_type"] = 2
        if index is not None and rnd is not None:
            # the target's downloads, then every source host's uploads (§7.15)
            data["file_logs"] = file_logs(step, rnd, index, now, uploads=True)
    return data


def script_log(world: World, step: Step, rnd: Round, index: int, now: int) -> str:
    """Return a host's script log as bk-job stores it by ``now``: the simulator's lines, with what
    the script printed there (``World.log_output``), capped at ``MAX_LOG_BYTES``.

    bk-job pulls a running host's output from GSE as it grows: here a running host has printed
    the share of its output's lines that its elapsed time is of its duration, all of it once it
    has ended. GSE keeps the first 5 MB of a host's output and nothing past it
    (``ScriptResultHandleTask``): the text is cut there, at a character's edge.
    """
    text = log_text(step, rnd, index, now)
    output = world.log_output
    if output is None or not text:
        return _capped(text)
    host = step.hosts[index]
    row = Host(bk_host_id=host.bk_host_id, ip=host.ip, bk_cloud_id=host.bk_cloud_id, ipv6=host.ipv6)
    printed = (output(step.owner.id, step.id, row) or "").rstrip("\n")
    if printed and not HostStatus.of(rnd.status(index, now)).is_finished:
        lines = printed.split("\n")
        run, end = rnd.run[index], rnd.end[index]
        share = (now - run) / (end - run) if end > run else 0.0
        printed = "\n".join(lines[: int(len(lines) * min(max(share, 0.0), 1.0))])
    if not printed:
        return _capped(text)
    started, _, ended = text.partition("\n")
    return _capped(f"{started}\n{printed}\n{ended}")


def _capped(text: str) -> str:
    if len(text) * 4 <= MAX_LOG_BYTES:
        return text
    return text.encode("utf-8", "surrogatepass")[:MAX_LOG_BYTES].decode("utf-8", "ignore")


def batch_get_job_instance_ip_log(world: World, call: Call) -> object:
    """Return the logs of up to 500 hosts of one step round."""
    params = call.params
    step, count = _gse_step(world, call, "batch_get_job_instance_ip_log")
    wanted = _wanted_hosts(step, params)
    if not call.objects and in_containers(world, step):
        wanted = []
    rnd, now, is_file = step.rounds.get(count), world.now_ms(), step.type is StepType.FILE
    script_logs, transfer_logs = [], []
    for index in wanted:
        host = step.hosts[index]
        if is_file:
            rows = file_logs(step, rnd, index, now) if rnd else []
            if not rows:  # a host with no file task yet: a row of nulls (§7.15)
                transfer_logs.append(
                    dict.fromkeys(("bk_host_id", "bk_cloud_id", "ip", "file_logs"))
                )
                continue
            transfer_logs.append(
                {
                    "bk_host_id": host.bk_host_id,
                    "bk_cloud_id": host.bk_cloud_id,
                    "ip": host.ip,
                    "file_logs": rows,
                }
            )
        else:
            content = script_log(world, step, rnd, index, now) if rnd else ""
            if not content:
                continue  # no log stored for it yet (waiting, or nothing printed): left out
            script_logs.append(
                {
                    "host_id": host.bk_host_id,
                    "bk_host_id": host.bk_host_id,
                    "bk_cloud_id": host.bk_cloud_id,
                    "ip": host.ip,
                    "ipv6": host.ipv6,
                    "log_content": content,
                }
            )
    has_logs = step.type is not StepType.MANUAL_CONFIRM
    # bk-job answers the hosts logsvr has a log for, and no list at all when it has none
    # (``EsbBatchGetJobInstanceIpLogV3ResourceImpl.buildScriptLogs``).
    return {
        "job_instance_id": step.owner.id,
        "step_instance_id": step.id,
        "log_type": (2 if is_file else 1) if has_logs else None,
        "script_task_logs": (script_logs or None) if has_logs and not is_file else None,
        "file_task_logs": transfer_logs if is_file else None,
    }


def _wanted_hosts(step: Step, params: Params) -> list[int]:
    host_ids, ip_list = params.raw("host_id_list"), params.raw("ip_list")
    refs: list[tuple[int | None, int | None, str | None]] = []
    if isinstance(host_ids, list) and host_ids:
        refs = [(Params({"id": item}, strict=False).long("id"), None, None) for item in host_ids]
    elif isinstance(ip_list, list) and ip_list:
        # A row names its host by bk_host_id first, else by bk_cloud_id + ip (OpenApiHostDTO,
        # v4 OpenApiV4HostDTO), whose ip is validated as IPv4: an IPv6 address is 1240003.
        rows = [Params(item, strict=False) for item in ip_list if isinstance(item, Mapping)]
        refs = [(row.long("bk_host_id"), row.long("bk_cloud_id"), row.text("ip")) for row in rows]
        if any(host_id is None and _is_ipv6(str(ip or "").strip()) for host_id, _, ip in refs):
            raise ApiFailure(codes.BAD_REQUEST)
    if not refs or len(refs) > _MAX_BATCH_LOG_HOSTS:
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "host_id_list|ip_list")
    found = (_host_index(step, *ref) for ref in refs)
    return [index for index in found if index is not None]


def get_job_instance_list(world: World, call: Call) -> object:
    """Page through the history of one scope, newest first (``EsbGetJobInstanceListV3``).

    The creation window is two bisections of the scope's jobs (oldest first, by id and by
    creation time alike). Without other filters a page costs its own length: only its jobs are
    settled. A filter scans the window (a status filter settles each job in it to know its
    status now): 30,000 jobs take a few tens of ms a page. A job created while a client pages
    shifts every later page by one (newest first), as in bk-job.
    """
    params = call.params
    scope = scope_of(params)
    start_ms, end_ms = call.checked("get_job_instance_list")
    if end_ms - start_ms <= 0:
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "create_time_start|create_time_end")
    if end_ms - start_ms > _MAX_HISTORY_MS:
        raise ApiFailure(codes.ILLEGAL_PARAM)
    task_type = params.long("type")
    if task_type is not None and task_type not in (0, 1, 2):
        raise ApiFailure(codes.ILLEGAL_PARAM)
    start, length = params.long("start") or 0, params.long("length") or 20
    if start < 0 or not 1 <= length <= 1000:
        raise ApiFailure(codes.ILLEGAL_PARAM)
    jobs, low, high = world.window(scope, start_ms, end_ms)
    now, settle = world.now_ms(), world.engine.settle
    match = _history_filter(params, task_type, settle)
    job_id = params.long("job_instance_id")
    if job_id is not None:  # one job at most: no scan
        found = world.jobs.get(job_id)
        jobs, low, high = [], 0, 0
        if found is not None and found.scope == scope and start_ms <= found.create <= end_ms:
            jobs, high = [found], 1
    if match is None:  # the window alone: newest first is the range read backwards
        total = high - low
        page = [
            jobs[index]
            for index in range(high - 1 - start, max(low, high - start - length) - 1, -1)
        ]
        for job in page:
            settle(job, now)
    else:
        total, page = 0, []
        for index in range(high - 1, low - 1, -1):
            job = jobs[index]
            if match(job, now):
                if start <= total < start + length:
                    settle(job, now)
                    page.append(job)
                total += 1
    data = [job_list_item(job) for job in page]
    return {"start": start, "length": length, "total": total, "data": data or None}


def _like(name: str) -> re.Pattern[str]:
    """``NAME LIKE '%name%'`` as bk-job sends it (§8.3): ``%`` any run of characters, ``_`` any
    one character, nothing escaped, case ignored (MySQL's default collation)."""
    parts = ("." if char == "_" else ".*" if char == "%" else re.escape(char) for char in name)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _history_filter(
    params: Params, task_type: int | None, settle: Callable[[Job, int], None]
) -> Callable[[Job, int], bool] | None:
    """Return the filter of a list request beyond its window (``None``: none asked)."""
    job_id, cron_id = params.long("job_instance_id"), params.long("job_cron_id")
    operator, name = params.text("operator"), params.text("name")
    launch_mode, status, ip = params.long("launch_mode"), params.long("status"), params.text("ip")
    asked = (job_id, cron_id, launch_mode, task_type, status)
    if all(value is None for value in asked) and not (operator or name or ip):
        return None
    like = _like(name) if name else None

    def match(job: Job, now: int) -> bool:
        if (
            (job_id is not None and job.id != job_id)
            or cron_id is not None  # the simulator runs no cron job
            or (operator and job.operator != operator)
            or (like is not None and like.search(job.name) is None)
            or (launch_mode is not None and job.launch_mode != launch_mode)
            or (task_type is not None and job.task_type != task_type)
        ):
            return False
        if ip and not any(host.ip == ip for step in job.steps for host in step.hosts):
            return False
        if status is not None:
            settle(job, now)
            return int(job.status) == status
        return True

    return match


def get_job_instance_log(world: World, call: Call) -> object:
    """v2: every step's hosts grouped by status and tag, with their logs."""
    (job_id,) = call.checked()
    job = _job(world, job_id, scope_of(call.params))
    if any(in_containers(world, step) for step in job.steps):
        raise ApiFailure(codes.INTERNAL_ERROR)  # a container's host is null (getHost())
    now, steps = world.now_ms(), []
    for step in job.steps:
        rnd = step.current_round
        groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for index, host in enumerate(step.hosts if rnd is not None else ()):
            assert rnd is not None
            status = rnd.status(index, now)
            groups.setdefault((status, rnd.tags.get(index, "")), []).append(
                _v2_ip_log(world, step, index, host, now)
            )
        results = [
            {"ip_status": status, "tag": tag, "ip_logs": logs}
            for (status, tag), logs in sorted(groups.items())
        ]
        steps.append(
            {
                "is_finished": step.status.is_finished,
                "step_instance_id": step.id,
                "name": step.name,
                "status": int(step.status),
                "step_results": results,
            }
        )
    return steps


def _v2_ip_log(world: World, step: Step, index: int, host: SimHost, now: int) -> dict[str, Any]:
    rnd = step.rounds[step.execute_count]
    status = rnd.status(index, now)
    finished = HostStatus(status).is_finished
    start = rnd.run[index] if status != HostStatus.WAITING else None
    end = rnd.end[index] if finished else None
    return {
        "ip": host.ip,
        "bk_cloud_id": host.bk_cloud_id,
        "execute_count": step.execute_count,
        "error_code": 0,
        "exit_code": rnd.exit[index] if finished and rnd.exit[index] > -(1 << 31) else None,
        "start_time": v2_time(start, world.tz),
        "end_time": v2_time(end, world.tz),
        "total_time": None if start is None or end is None else (end - start) / 1000.0,
        "log_content": log_text(step, rnd, index, now) or None,
    }
