"""Read the few fields a poller compares from a job-status ``data`` object; pure, no models.

Full structuring costs microseconds per host; a poll needs only statuses. This reads job, step
and host statuses straight from the wire shape of either generation, keys hosts exactly as
``Host.key`` does, and leaves each host's row for the converter to structure only if it changed.
"""

from __future__ import annotations

from typing import Any

from ._converter import Generation
from .errors import ResponseFormatError
from .models import HostKey

__all__ = ["GroupKey", "JobObservation", "StepObservation", "observe_groups", "observe_job"]

#: (key, status code, raw row) of one host.
HostRow = tuple[HostKey, int, dict[str, Any]]
#: A result group of a step: (host status code, tag).
GroupKey = tuple[int, "str | None"]


class StepObservation:
    """One step as seen in one poll: ``hosts`` is ``None`` when the server sent no host rows."""

    __slots__ = ("execute_count", "hosts", "status", "step_instance_id")

    def __init__(
        self, step_instance_id: int, status: int, execute_count: int, hosts: list[HostRow] | None
    ) -> None:
        self.step_instance_id = step_instance_id
        self.status = status
        self.execute_count = execute_count
        self.hosts = hosts


class JobObservation:
    """A job as seen in one poll."""

    __slots__ = ("finished", "status", "steps")

    def __init__(self, finished: bool, status: int, steps: list[StepObservation]) -> None:
        self.finished = finished
        self.status = status
        self.steps = steps


def _code(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"not a status code: {value!r}")


def _hosts(rows: Any) -> list[HostRow] | None:
    if rows is None:
        return None
    hosts = []
    for row in rows:
        host_id = row.get("bk_host_id")
        key: HostKey
        if host_id is None:
            key = (row.get("bk_cloud_id"), row.get("ip"), row.get("ipv6"))
        else:
            key = _code(host_id)
        hosts.append((key, _code(row["status"]), row))
    return hosts


def _v3(data: dict[str, Any]) -> JobObservation:
    steps = [
        StepObservation(
            _code(step["step_instance_id"]),
            _code(step["status"]),
            _code(step.get("execute_count") or 0),
            _hosts(step.get("step_ip_result_list")),
        )
        for step in data.get("step_instance_list") or ()
    ]
    return JobObservation(data["finished"] is True, _code(data["job_instance"]["status"]), steps)


def _v2(data: dict[str, Any]) -> JobObservation:
    steps = [
        StepObservation(
            _code(step["step_instance_id"]),
            _code(step["status"]),
            _code(step.get("execute_count", step.get("retry_count")) or 0),
            _hosts(step.get("step_ip_status")),
        )
        for block in data.get("blocks") or ()
        for step in block.get("step_instances") or ()
    ]
    return JobObservation(data["is_finished"] is True, _code(data["job_instance"]["status"]), steps)


def observe_job(data: Any, generation: Generation) -> JobObservation:
    """Read statuses from ``get_job_instance_status`` data; raise ``ResponseFormatError``."""
    try:
        return (_v3 if generation is Generation.V3 else _v2)(data)
    except Exception as exc:
        raise ResponseFormatError(
            f"the server sent a job status this client cannot read ({type(exc).__name__}: {exc})"
        ) from exc


def observe_groups(data: Any) -> tuple[int, dict[GroupKey, int], list[HostRow]]:
    """Read gateway ``get_step_instance_status`` data: round, group sizes, listed host rows.

    ``host_size`` counts every host of a group even when ``max_host_num_per_group`` cut the
    list; the rows are those the server listed. Raise ``ResponseFormatError``.
    """
    try:
        counts: dict[GroupKey, int] = {}
        rows: list[HostRow] = []
        for group in data.get("step_result_group_list") or ():
            tag = group.get("tag") or None
            counts[(_code(group["result_type"]), tag)] = _code(group.get("host_size") or 0)
            rows += _hosts(group.get("host_result_list")) or ()
        return _code(data.get("execute_count") or 0), counts, rows
    except Exception as exc:
        raise ResponseFormatError(
            f"the server sent a step status this client cannot read ({type(exc).__name__}: {exc})"
        ) from exc
