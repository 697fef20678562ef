"""What bk-job's DTOs look like on the wire, per API generation; reads jobs, never changes them.

Rule: dicts here follow the Java DTOs' field order and null handling (Jackson writes inner
nulls; ``step_result_group_list`` is ``NON_EMPTY``). v3 speaks epoch ms and ms durations; v2
speaks ``yyyy-MM-dd HH:mm:ss`` in the server's timezone and float seconds. The gateway passes
Jackson's compact UTF-8 through; the ESB re-encodes with Python's ``json.dumps`` defaults.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any

import attrs

from ..models.enums import HostStatus, JobStatus
from ._codes import host_status_text
from ._engine import NO_EXIT, Job, Round, Step
from ._hosts import SimHost, cloud_name
from ._store import dto

if TYPE_CHECKING:
    from ..config import Scope

__all__ = [
    "StepQuery",
    "encode_compact",
    "encode_esb",
    "file_logs",
    "job_list_item",
    "job_status_v2",
    "job_status_v3",
    "log_text",
    "step_status_v2",
    "step_status_v3",
    "v2_time",
]

Obj = dict[str, Any]
#: Hosts above this count make bk-job filter groups in the database (``TaskResultServiceImpl``).
_IN_MEMORY_LIMIT = 100
#: GSE atomic codes of finished hosts (0 done, 126 terminated, -1 anything else).
FINISHED_ERROR_CODES = {9: 0, 3: 0, 104: 0, 101: 0, 403: 126}
_FILE_SOURCE = SimHost(999, "10.255.255.254")


def encode_compact(obj: object) -> bytes:
    """Encode like Jackson: compact separators, raw UTF-8."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def encode_esb(obj: object) -> bytes:
    """Encode like Django's ``JsonResponse``: ``", "`` and ``": "`` separators, ASCII only."""
    return json.dumps(obj).encode()


def v2_time(ms: int | None, tz: _dt.tzinfo) -> str | None:
    """Format epoch ms as bk-job's v2 ``LongTimestampSerializer`` does (no offset)."""
    if ms is None:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


def _scope(scope: Scope) -> Obj:
    return {"bk_biz_id": scope.id, "bk_scope_type": scope.type.value, "bk_scope_id": str(scope.id)}


def _live_cost(start: int | None, end: int | None, total: int | None, now: int) -> int | None:
    if total is not None:
        return total
    if start is None:
        return None
    return (now if end is None else end) - start


# -- job status ---------------------------------------------------------------------------------


def job_status_v3(job: Job, now: int, with_hosts: bool) -> Obj:
    """Return ``EsbJobInstanceStatusV3DTO`` for ``job`` at ``now``."""
    instance = {
        **_scope(job.scope),
        "job_instance_id": job.id,
        "status": int(job.status),
        "name": job.name,
        "create_time": job.create,
        "start_time": job.start,
        "end_time": job.end,
        "total_time": job.total,
    }
    steps = [_step_v3(step, now, with_hosts) for step in job.steps]
    return {
        "finished": job.status.is_finished,
        "job_instance": instance,
        "step_instance_list": steps,
    }


def _step_v3(step: Step, now: int, with_hosts: bool) -> Obj:
    return {
        "step_instance_id": step.id,
        "name": step.name,
        "status": int(step.status),
        "type": int(step.type),
        "execute_count": step.execute_count,
        "start_time": step.start,
        "end_time": step.end,
        "total_time": step.total,
        "create_time": step.create,
        "step_ip_result_list": _ip_results(step, now) if with_hosts else None,
    }


def _ip_results(step: Step, now: int) -> list[Obj]:
    rnd = step.current_round
    if rnd is None:
        return []
    rows = []
    for index, host in enumerate(step.hosts):
        status, start, end = _host_times(rnd, index, now)
        rows.append(
            {
                "bk_host_id": host.bk_host_id,
                "ip": host.ip,
                "bk_cloud_id": host.bk_cloud_id,
                "status": status,
                "tag": rnd.tags.get(index, ""),
                "exit_code": _exit(rnd, index, status),
                "error_code": _error_code(status),
                "start_time": start,
                "end_time": end,
                "total_time": None if end is None or start is None else end - start,
            }
        )
    return rows


def _host_times(rnd: Round, index: int, now: int) -> tuple[int, int | None, int | None]:
    status = rnd.status(index, now)
    if status == HostStatus.WAITING:
        return status, None, None
    if status == HostStatus.RUNNING:
        return status, rnd.run[index], None
    return status, rnd.run[index], rnd.end[index]


def _exit(rnd: Round, index: int, status: int) -> int | None:
    if status in (HostStatus.WAITING, HostStatus.RUNNING) or rnd.exit[index] == NO_EXIT:
        return None
    return rnd.exit[index]


def _error_code(status: int) -> int:
    if status == HostStatus.WAITING:
        return 0
    if status == HostStatus.RUNNING:
        return 115
    return FINISHED_ERROR_CODES.get(status, -1)


def job_status_v2(job: Job, now: int, tz: _dt.tzinfo, rows: bool = True) -> Obj:
    """Return the v2 ``EsbJobInstanceStatusDTO`` for ``job`` at ``now`` (``rows=False``: no hosts)."""
    instance = {
        **_scope(job.scope),
        "job_instance_id": job.id,
        "bk_job_id": job.plan_id,
        "status": int(job.status),
        "name": job.name,
        "operator": job.operator,
        "create_time": v2_time(job.create, tz),
        "start_time": v2_time(job.start, tz),
        "end_time": v2_time(job.end, tz),
        "total_time": _seconds(job.total),
        "start_way": job.launch_mode,
        "current_step_instance_id": job.current_step_instance_id,
    }
    blocks = [{"step_instances": [_step_v2(step, now, tz, rows)]} for step in job.steps]
    return {"is_finished": job.status.is_finished, "job_instance": instance, "blocks": blocks}


def _v2_progress(step: Step, tz: _dt.tzinfo) -> Obj:
    """The fields both v2 step answers spell alike: who ran the step, its status and times."""
    return dto(
        step,
        "operator status execute_count start_time end_time total_time",
        status=int(step.status),
        start_time=v2_time(step.start, tz),
        end_time=v2_time(step.end, tz),
        total_time=_seconds(step.total),
    )


def _step_v2(step: Step, now: int, tz: _dt.tzinfo, rows: bool) -> Obj:
    rnd = step.current_round
    ip_status: list[Obj] | None = [] if rows else None
    if rnd is not None and rows:
        ip_status = [
            {"ip": host.ip, "bk_cloud_id": host.bk_cloud_id, "status": rnd.status(index, now)}
            for index, host in enumerate(step.hosts)
        ]
    return {
        "step_instance_id": step.id,
        "step_id": step.step_id,
        "name": step.name,
        "type": int(step.type),
        **_v2_progress(step, tz),
        "create_time": v2_time(step.create, tz),
        "pause": None,
        "step_ip_status": ip_status,
    }


# -- step status --------------------------------------------------------------------------------


@attrs.frozen
class StepQuery:
    """The optional filters of v3 ``get_step_instance_status``."""

    execute_count: int | None = None
    batch: int | None = None
    max_host_num_per_group: int | None = None
    keyword: str | None = None
    search_ip: str | None = None
    status: int | None = None
    tag: str | None = None

    @property
    def filters_hosts(self) -> bool:
        """Tell whether a keyword or IP search narrows the hosts first."""
        return bool(self.keyword) or bool(self.search_ip)


@attrs.define
class _Group:
    status: int
    tag: str
    indices: list[int]
    rows: list[int] | None = None


def step_status_v3(step: Step, query: StepQuery, now: int, english: bool) -> Obj:
    """Return ``EsbStepInstanceStatusV3DTO`` (the caller rejects manual-confirm steps)."""
    data: Obj = {
        "step_instance_id": step.id,
        "execute_count": step.execute_count,
        "name": step.name,
        "type": int(step.type),
        "status": int(step.status),
        "create_time": step.create,
        "start_time": step.start,
        "end_time": step.end,
        "total_time": _live_cost(step.start, step.end, step.total, now),
    }
    groups = [_group_v3(step, group, query, now, english) for group in _groups(step, query, now)]
    if groups:
        data["step_result_group_list"] = groups
    return data


def _group_v3(step: Step, group: _Group, query: StepQuery, now: int, english: bool) -> Obj:
    rows = None
    if group.rows is not None:
        count = query.execute_count
        rnd = step.rounds.get(step.execute_count if count is None else count)
        rows = [_host_row_v3(step, rnd, index, now, english) for index in group.rows]
    return {
        "result_type": group.status,
        "result_type_desc": host_status_text(group.status, english),
        "tag": group.tag if step.status is not JobStatus.BLANK else None,
        "host_size": len(group.indices),
        "host_result_list": rows,
    }


def _host_row_v3(step: Step, rnd: Round | None, index: int, now: int, english: bool) -> Obj:
    host = step.hosts[index]
    start: int | None
    end: int | None
    tag: str | None
    exit_code: int | None
    total: int | None
    if rnd is None:  # a step not started yet: bk-job builds placeholder rows
        status, start, end, tag, exit_code, total = 5, None, None, None, 0, 0
    else:
        status, start, end = _host_times(rnd, index, now)
        tag, exit_code = rnd.tags.get(index, ""), _exit(rnd, index, status)
        total = None if end is None or start is None else end - start
    return {
        "bk_host_id": host.bk_host_id,
        "ip": host.ip,
        "ipv6": host.ipv6,
        "bk_agent_id": host.agent_id,
        "bk_cloud_id": host.bk_cloud_id,
        "bk_cloud_name": cloud_name(host.bk_cloud_id),
        "status": status,
        "status_desc": host_status_text(status, english),
        "tag": tag,
        "exit_code": exit_code,
        "start_time": start,
        "end_time": end,
        "total_time": total,
    }


def _groups(step: Step, query: StepQuery, now: int) -> list[_Group]:
    """Group the selected hosts by (status, tag) as ``TaskResultServiceImpl`` does."""
    count = step.execute_count if query.execute_count is None else query.execute_count
    batch = query.batch
    if batch is None and step.batches:
        batch = step.batch
    selected = [i for i in range(len(step.hosts)) if not batch or step.batch_of(i) == batch]
    matched = _matching(step, query, selected, now)
    if step.status is JobStatus.BLANK:
        return [_Group(5, "", matched, matched[: _limit(query, len(matched))])]
    rnd = step.rounds.get(count)
    if rnd is None:
        return []
    if query.filters_hosts and not matched:
        return [_Group(g.status, g.tag, []) for g in _group_rows(step, rnd, selected, now)]
    groups = _group_rows(step, rnd, matched, now)
    _fill_rows(groups, query, in_memory=len(step.hosts) <= _IN_MEMORY_LIMIT)
    return groups


def _matching(step: Step, query: StepQuery, indices: list[int], now: int) -> list[int]:
    if query.search_ip:
        needle = query.search_ip
        indices = [
            i for i in indices if needle in step.hosts[i].ip or needle in (step.hosts[i].ipv6 or "")
        ]
    if query.keyword:
        rnd = step.current_round
        indices = [i for i in indices if rnd and query.keyword in log_text(step, rnd, i, now)]
    return indices


def _group_rows(step: Step, rnd: Round, indices: list[int], now: int) -> list[_Group]:
    by_key: dict[tuple[int, str], _Group] = {}
    for index in indices:
        key = (rnd.status(index, now), rnd.tags.get(index, ""))
        group = by_key.get(key)
        if group is None:
            group = by_key[key] = _Group(key[0], key[1], [])
        group.indices.append(index)
    return [by_key[key] for key in sorted(by_key)]


def _fill_rows(groups: list[_Group], query: StepQuery, *, in_memory: bool) -> None:
    """Decide which groups carry host rows (all, the asked one, or the first) and cut them."""
    wanted = None
    if query.status is not None:
        key = (query.status, query.tag or "")
        wanted = next((g for g in groups if (g.status, g.tag) == key), None)
        if wanted is None:
            wanted = groups[0] if groups else None
    for group in groups:
        if wanted is None or group is wanted:
            group.rows = group.indices[: _limit(query, len(group.indices))]
        elif in_memory:
            group.rows = []


def _limit(query: StepQuery, size: int) -> int:
    limit = query.max_host_num_per_group
    return size if limit is None else max(0, min(limit, size))


def step_status_v2(step: Step, now: int, tz: _dt.tzinfo, english: bool) -> Obj:
    """Return the v2 ``EsbStepInstanceStatusDTO``: only the first group lists its hosts.

    Every other group comes back with ``count: 0`` and no ``ip_list`` (§7.5); v2 never filters
    by rolling batch, so the groups cover every batch (§7.6).
    """
    groups = _groups(step, StepQuery(batch=0), now)
    analyse = []
    for position, group in enumerate(groups):
        rows = group.rows if position == 0 else None
        entry: Obj = {
            "result_type": group.status,
            "result_type_text": host_status_text(group.status, english),
            "count": len(rows or ()),
        }
        if rows:
            entry["ip_list"] = [_v2_ip(step.hosts[i]) for i in rows]
        analyse.append(entry)
    unknown = ("total_ip_num", "abnormal_agent_ip_num", "running_ip_num", "fail_ip_num")
    detail = {
        **_scope(step.owner.scope),
        **dto(step, "step_instance_id=id step_id job_instance_id=owner.id name"),
        "type": int(step.type),
        "target_ips": ",".join(host.cloud_ip for host in step.hosts),
        "abnormal_agent_ips": None,
        **_v2_progress(step, tz),
        **dict.fromkeys((*unknown, "success_ip_num")),
    }
    return {
        "is_finished": step.status.is_finished,
        "step_instance_detail": detail,
        "step_instance_analyse_result": analyse,
    }


def _v2_ip(host: SimHost) -> Obj:
    none = dict.fromkeys(("bk_cloud_name", "ipv6", "bk_agent_id", "alive"))
    return dto(host, "bk_host_id bk_cloud_id bk_cloud_name ip ipv6 bk_agent_id alive", **none)


# -- logs and history ---------------------------------------------------------------------------


def log_text(step: Step, rnd: Round, index: int, now: int) -> str:
    """Return the synthetic script log of one host in one round, as far as it got by ``now``."""
    status = rnd.status(index, now)
    if status == HostStatus.WAITING:
        return ""
    host = step.hosts[index]
    lines = [f"[{_clock(rnd.run[index])}] {step.name}: started on {host.ip or host.ipv6}"]
    if status != HostStatus.RUNNING:
        exit_code = rnd.exit[index]
        shown = "none" if exit_code == NO_EXIT else exit_code
        lines.append(f"[{_clock(rnd.end[index])}] finished with status {status}, exit code {shown}")
    return "\n".join(lines) + "\n"


def _clock(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def file_logs(step: Step, rnd: Round, index: int, now: int, *, uploads: bool = False) -> list[Obj]:
    """Return the synthetic ``file_logs`` rows of one target host: one download per source
    host, and with ``uploads`` one upload (mode 0) row per source host after them, as
    ``get_job_instance_ip_log`` sends them (§7.15). A host not started yet has none.
    """
    status = rnd.status(index, now)
    if status == HostStatus.WAITING:
        return []
    file_status = {7: 3, 9: 4, 3: 4}.get(status, 5)
    host, sources = step.hosts[index], step.sources or (_FILE_SOURCE,)
    common = {
        "src_path": "/data/release/package.tar.gz",
        "log_content": log_text(step, rnd, index, now) or None,
        "size": "1.00 MB",
        "speed": "0 KB/s" if file_status != 3 else "512 KB/s",
        "process": "100%" if file_status == 4 else "0%",
    }
    rows = [
        {
            "mode": 1,
            "src_ip": _ip_ref(source),
            "dest_ip": _ip_ref(host),
            "dest_path": "/tmp/package.tar.gz",
            "status": file_status,
            **common,
        }
        for source in sources
    ]
    if uploads:
        upload_status = 2 if file_status == 3 else file_status
        rows += [
            {"mode": 0, "src_ip": _ip_ref(source), "dest_ip": None, "dest_path": None,
             "status": upload_status, **common}
            for source in sources
        ]  # fmt: skip
    return rows


def _ip_ref(host: SimHost) -> Obj:
    return {"bk_host_id": host.bk_host_id, "bk_cloud_id": host.bk_cloud_id, "ip": host.ip}


def job_list_item(job: Job) -> Obj:
    """Return one ``EsbTaskInstanceV3DTO`` row of ``get_job_instance_list``."""
    return {
        **_scope(job.scope),
        "job_instance_id": job.id,
        "job_plan_id": job.plan_id,
        "job_template_id": job.template_id,
        "name": job.name,
        "operator": job.operator,
        "launch_mode": job.launch_mode,
        "status": int(job.status),
        "start_time": job.start,
        "end_time": job.end,
        "total_time": job.total,
        "create_time": job.create,
        "type": job.task_type,
    }
