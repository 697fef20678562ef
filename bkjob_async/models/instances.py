"""One normalized, frozen shape for what every API generation reports; no wire knowledge here.

Times are timezone-aware ``datetime``; durations are ``timedelta``; a field the server did not
send is ``None``. Host rows are ``None`` (not ``()``) when the server sent none, because v3 only
sends them on request: ``()`` means the server said "no hosts".
"""

from __future__ import annotations

import datetime as _dt

import attrs

from .enums import HostStatus, JobStatus, LaunchMode, StepStatus, StepType

__all__ = [
    "Host",
    "HostKey",
    "HostResult",
    "JobInstance",
    "JobInstanceStatus",
    "JobLaunch",
    "StepInstance",
    "StepInstanceStatus",
    "StepResultGroup",
]

#: ``bk_host_id`` when the server sends it, else ``(bk_cloud_id, ip, ipv6)``.
HostKey = int | tuple[int | None, str | None, str | None]


@attrs.frozen
class Host:
    """One target host. Key hosts by ``.key``: ``ip`` is empty for IPv6-only hosts."""

    bk_host_id: int | None = None
    ip: str | None = None
    bk_cloud_id: int | None = None
    ipv6: str | None = None
    bk_agent_id: str | None = None

    @property
    def key(self) -> HostKey:
        """Return a hashable identity, stable for the same host within one API generation."""
        if self.bk_host_id is not None:
            return self.bk_host_id
        return (self.bk_cloud_id, self.ip, self.ipv6)

    def __str__(self) -> str:
        address = self.ip or self.ipv6 or "?"
        where = address if self.bk_cloud_id is None else f"{self.bk_cloud_id}:{address}"
        return where if self.bk_host_id is None else f"{where} (host {self.bk_host_id})"


@attrs.frozen
class HostResult:
    """How one host did in the current round of a step."""

    host: Host
    status: HostStatus
    tag: str | None = None
    exit_code: int | None = None
    error_code: int | None = None
    start_time: _dt.datetime | None = None
    end_time: _dt.datetime | None = None
    total_time: _dt.timedelta | None = None


@attrs.frozen
class StepInstance:
    """One step of a job instance, in its current round (``execute_count``, 0-based)."""

    step_instance_id: int
    status: StepStatus
    name: str | None = None
    type: StepType | None = None
    execute_count: int | None = None
    create_time: _dt.datetime | None = None
    start_time: _dt.datetime | None = None
    end_time: _dt.datetime | None = None
    total_time: _dt.timedelta | None = None
    hosts: tuple[HostResult, ...] | None = None
    #: The plan step this instance came from (v2 only).
    step_id: int | None = None
    #: Operator who ran the step (v2 only).
    operator: str | None = None
    #: Every target host, parsed from v2 ``target_ips`` (v2 step status only).
    target_hosts: tuple[Host, ...] | None = None


@attrs.frozen
class JobInstance:
    """A job instance's own fields."""

    job_instance_id: int
    status: JobStatus
    name: str | None = None
    create_time: _dt.datetime | None = None
    start_time: _dt.datetime | None = None
    end_time: _dt.datetime | None = None
    total_time: _dt.timedelta | None = None
    #: v2 only (v3: use the history list API).
    operator: str | None = None
    job_plan_id: int | None = None
    launch_mode: LaunchMode | None = None
    current_step_instance_id: int | None = None


@attrs.frozen
class JobInstanceStatus:
    """The answer of ``get_job_instance_status``: the job, its steps, and their hosts."""

    finished: bool
    job: JobInstance
    steps: tuple[StepInstance, ...]

    def step(self, step_instance_id: int) -> StepInstance:
        """Return the step with this id, or raise ``KeyError``."""
        for step in self.steps:
            if step.step_instance_id == step_instance_id:
                return step
        raise KeyError(step_instance_id)


@attrs.frozen
class StepResultGroup:
    """Hosts of a step grouped by status and tag; ``host_size`` counts all, even if ``hosts`` is cut."""

    status: HostStatus
    host_size: int
    hosts: tuple[HostResult, ...]
    tag: str | None = None
    status_desc: str | None = None


@attrs.frozen
class StepInstanceStatus:
    """The answer of ``get_step_instance_status``: the step with all hosts, and the groups."""

    finished: bool
    step: StepInstance
    groups: tuple[StepResultGroup, ...]


@attrs.frozen
class JobLaunch:
    """What a launch returns: the new job instance, and its step when the server says."""

    job_instance_id: int
    job_instance_name: str | None = None
    step_instance_id: int | None = None
