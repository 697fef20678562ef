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
    "Container",
    "ContainerKey",
    "ContainerResult",
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
        address = self.ip or self.ipv6
        if address is None and self.bk_host_id is not None:
            return f"host {self.bk_host_id}"  # known by its id alone
        address = address or "?"
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


#: A container's identity in keys: ``("container", id)``, never equal to a host's key.
ContainerKey = tuple[str, int]


@attrs.frozen
class Container:
    """One Kubernetes container as bk-job's v4 names it (``OpenApiContainerDTO``).

    ``id`` is the container's id in the CMDB (``container_id_list`` of the log API takes it);
    ``container_id`` the runtime's (Docker's) id; ``node_host_id`` the host of its node.
    """

    id: int
    container_id: str | None = None
    name: str | None = None
    node_host_id: int | None = None

    @property
    def key(self) -> ContainerKey:
        """Return a hashable identity that no host's ``Host.key`` equals."""
        return ("container", self.id)

    def __str__(self) -> str:
        label = self.name or self.container_id
        return f"container {self.id}" if label is None else f"{label} (container {self.id})"


@attrs.frozen
class ContainerResult:
    """How one container did in the current round of a step (v4 only)."""

    container: Container
    status: HostStatus
    tag: str | None = None
    exit_code: int | None = None
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
    #: The containers a step ran on (gateway v4 only; ``hosts`` keeps its hosts). ``None``
    #: when the server sent no execute objects, as ``hosts``.
    containers: tuple[ContainerResult, ...] | None = None


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
    """Hosts of a step grouped by status and tag.

    ``host_size`` counts every host of the group, even when ``hosts`` is cut (v3
    ``max_host_num_per_group``, or a ``status``/``tag`` filter that fills one group only). It is
    ``None`` when the server did not say: ESB v2 reports every group but the first with
    ``count: 0`` and no hosts, though it has some (bk-job 3.x fills the first group only).
    """

    status: HostStatus
    host_size: int | None
    hosts: tuple[HostResult, ...]
    tag: str | None = None
    status_desc: str | None = None

    @property
    def complete(self) -> bool:
        """Tell whether ``hosts`` lists every host of the group."""
        return self.host_size is not None and len(self.hosts) >= self.host_size


@attrs.frozen
class StepInstanceStatus:
    """The answer of ``get_step_instance_status``: the step, its hosts, and the result groups.

    ``finished`` is the step's own status being final. It does not mean every host is listed:
    check ``partial`` first. On ESB v2 only the first group lists its hosts (the others have
    ``host_size=None``) and ``step.hosts`` is ``None``; read every host's status from
    ``get_job_instance_status`` instead.
    """

    finished: bool
    step: StepInstance
    groups: tuple[StepResultGroup, ...]

    @property
    def partial(self) -> bool:
        """Tell whether some group's hosts, or its size, are missing from this answer."""
        return not all(group.complete for group in self.groups)


@attrs.frozen
class JobLaunch:
    """What a launch returns: the new job instance, and its step when the server says.

    ``step_instance_id`` is ``None`` for a job plan (it has many steps) and for ESB v2
    ``fast_push_file``, which never reports it: read the step from ``get_job_instance_status``.
    """

    job_instance_id: int
    job_instance_name: str | None = None
    step_instance_id: int | None = None
