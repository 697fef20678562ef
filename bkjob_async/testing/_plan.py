"""Frozen plan values that script what the simulator's hosts and steps will do; no behaviour here.

A span of seconds is either a fixed number or a ``(min, max)`` pair sampled uniformly. ``None``
in a plan means "use the simulator's default". ``PlanVar`` is how a test gives a plan its
global variables (``BkJobSimulator.add_plan``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeAlias

import attrs

from ..models.enums import HostStatus, JobStatus, StepType

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "MASK",
    "HostPlan",
    "PlanVar",
    "RollingMode",
    "RunningJobQuota",
    "Span",
    "StepPlan",
    "launch_vars",
    "to_span",
]

#: Seconds: a fixed value, or a ``(min, max)`` range sampled uniformly.
Span: TypeAlias = "float | tuple[float, float]"


def to_span(value: Span) -> tuple[float, float]:
    """Return ``value`` as a checked ``(min, max)`` pair of seconds."""
    low, high = (value, value) if isinstance(value, (int, float)) else value
    if not 0 <= low <= high:
        raise ValueError(f"a span needs 0 <= min <= max, got {value!r}")
    return float(low), float(high)


def _optional_span(value: Span | None) -> tuple[float, float] | None:
    return None if value is None else to_span(value)


def _host_outcome(_: object, attribute: attrs.Attribute[HostStatus], value: HostStatus) -> None:
    if not HostStatus(value).is_finished:
        raise ValueError(f"{attribute.name} must be a final host status, not {int(value)}")


def _host_outcomes(value: Sequence[int]) -> tuple[HostStatus, ...]:
    outcomes = tuple(HostStatus(code) for code in value)
    for code in outcomes:
        if not code.is_finished:
            raise ValueError(f"retry_outcomes must be final host statuses, not {int(code)}")
    return outcomes


@attrs.frozen
class HostPlan:
    """One target host of a step: who it is and how it ends in each round.

    ``outcome`` is the final status of round 0; ``retry_outcomes[n]`` that of round ``n + 1``
    (the last one repeats). Identity fields left ``None`` are generated from the seed.
    """

    outcome: HostStatus = attrs.field(
        default=HostStatus.SUCCESS, converter=HostStatus, validator=_host_outcome
    )
    duration: tuple[float, float] | None = attrs.field(default=None, converter=_optional_span)
    start_delay: tuple[float, float] | None = attrs.field(default=None, converter=_optional_span)
    exit_code: int | None = None
    ip: str | None = None
    ipv6: str | None = None
    bk_host_id: int | None = None
    bk_cloud_id: int = 0
    tag: str | None = None
    retry_outcomes: tuple[HostStatus, ...] = attrs.field(default=(), converter=_host_outcomes)

    def outcome_for(self, execute_count: int) -> HostStatus:
        """Return the final status this host reaches in round ``execute_count``."""
        if execute_count == 0 or not self.retry_outcomes:
            return self.outcome
        return self.retry_outcomes[min(execute_count, len(self.retry_outcomes)) - 1]


class RollingMode(enum.IntEnum):
    """What a rolling step does between batches (bk-job ``RollingModeEnum``)."""

    PAUSE_IF_FAIL = 1
    IGNORE_ERROR = 2
    MANUAL = 3


def _hosts(value: int | Sequence[HostPlan]) -> int | tuple[HostPlan, ...]:
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"hosts must be >= 0, got {value}")
        return value
    plans = tuple(value)
    if not all(isinstance(plan, HostPlan) for plan in plans):
        raise TypeError("hosts must be a count or a sequence of HostPlan")
    return plans


def _optional_rate(
    _: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be within [0, 1], got {value!r}")


def _default_failure(plan: StepPlan) -> HostStatus:
    """GSE fails a file task with a file status (202...329), never a script exit code."""
    if plan.type is StepType.FILE:
        return HostStatus.COPYFILE_FAILED
    return HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE


def _optional_status(value: int | None) -> JobStatus | None:
    return None if value is None else JobStatus(value)


@attrs.frozen
class StepPlan:
    """One step of a simulated job: its type, its hosts and how long and how well they run.

    ``hosts`` is a count of generated hosts (each failing with ``fail_rate`` into
    ``failure_status``: by default 104, non-zero exit code, for a script or SQL step and 202,
    file transfer failed, for a file step, as GSE reports them) or explicit ``HostPlan`` rows. A ``MANUAL_CONFIRM`` step has no hosts and
    waits at 7 for an operation; ``confirm_users`` and ``confirm_roles`` say who may confirm it
    (bk-job lets anyone confirm when ``confirm_roles`` is empty, listed users or not; the role
    ``JOB_RESOURCE_TRIGGER_USER`` admits the job's operator; no other role has members here).
    ``final_status`` forces the step's end status (9 abnormal, 14
    abandoned) whatever its hosts did. ``rolling_batch_size`` splits the hosts into batches of
    one size, ``rolling_sizes`` into batches of the sizes given (bk-job's cut of an expression);
    ``stagger_ms`` (fixed, random minimum, random maximum) runs every batch, batch *k* started
    that long after batch *k-1* (bk-job's staggered mode, no pause between batches);
    ``rolling_repeats`` runs every host once per batch (bk-job's rolling by source file: each
    batch sends a share of the files to every target).
    ``script_content`` and ``script_param`` are what a plan's script step says it runs (its
    detail, ``get_job_plan_detail``, and its jobs' ``get_step_instance_detail`` show them).
    """

    type: StepType = attrs.field(default=StepType.SCRIPT, converter=StepType)
    hosts: int | tuple[HostPlan, ...] = attrs.field(default=1, converter=_hosts)
    name: str | None = None
    duration: tuple[float, float] | None = attrs.field(default=None, converter=_optional_span)
    start_delay: tuple[float, float] | None = attrs.field(default=None, converter=_optional_span)
    fail_rate: float | None = attrs.field(default=None, validator=_optional_rate)
    failure_status: HostStatus = attrs.field(
        default=attrs.Factory(_default_failure, takes_self=True),
        converter=HostStatus,
        validator=_host_outcome,
    )
    ignore_error: bool = False
    rolling_batch_size: int | None = None
    rolling_mode: RollingMode = attrs.field(
        default=RollingMode.PAUSE_IF_FAIL, converter=RollingMode
    )
    rolling_sizes: tuple[int, ...] = attrs.field(default=(), converter=tuple)
    stagger_ms: tuple[int, int, int] | None = None
    rolling_repeats: int = 0
    final_status: JobStatus | None = attrs.field(default=None, converter=_optional_status)
    confirm_users: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    confirm_roles: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    script_content: str | None = None
    script_param: str | None = None
    #: Seconds a host of a script or SQL step may run (bk-job's step ``timeout``): a host still
    #: running then is ended by GSE with 102 (script timeout), and so fails its step (4).
    #: ``None``: no limit (a launch's ``timeout``, v2's ``script_timeout``, sets it).
    timeout: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.rolling_batch_size is not None and self.rolling_batch_size < 1:
            raise ValueError("rolling_batch_size must be >= 1 or None")
        if self.rolling_sizes and (
            min(self.rolling_sizes) < 1 or sum(self.rolling_sizes) != self.host_count
        ):
            raise ValueError("rolling_sizes must be positive and add up to the host count")
        if self.rolling_repeats < 0 or (self.rolling_repeats and self.stagger_ms is not None):
            raise ValueError("rolling_repeats must be >= 0, and source-file rolling is serial")
        if self.stagger_ms is not None and not 0 <= self.stagger_ms[1] <= self.stagger_ms[2]:
            raise ValueError("stagger_ms is (fixed, random minimum, random maximum), in ms")
        if self.final_status is not None and not self.final_status.is_finished:
            raise ValueError("final_status must be a finished run status")
        if self.type is not StepType.MANUAL_CONFIRM and self.host_count == 0:
            raise ValueError("a script or file step needs at least one host")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds or None, got {self.timeout!r}")

    @property
    def host_count(self) -> int:
        """Return how many hosts the step targets (0 for a manual confirmation)."""
        if self.type is StepType.MANUAL_CONFIRM:
            return 0
        return self.hosts if isinstance(self.hosts, int) else len(self.hosts)

    @property
    def is_rolling(self) -> bool:
        """Tell whether the step runs its hosts in batches."""
        rolls = self.rolling_batch_size is not None or self.rolling_sizes or self.rolling_repeats
        return bool(rolls) and self.type is not StepType.MANUAL_CONFIRM

    def batch_starts(self) -> tuple[int, ...]:
        """Return the first host index of each batch then the host count (rolling by target)."""
        hosts, size = self.host_count, self.rolling_batch_size
        sizes = self.rolling_sizes or ([size] * -(-hosts // size) if size else [])
        starts = [0]
        for count in sizes:
            starts.append(min(hosts, starts[-1] + count))
        return tuple(starts)


def _limit(_: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{attribute.name} must be an int >= 1 or None, got {value!r}")


@attrs.frozen
class RunningJobQuota:
    """bk-job's running-job quota (``resourceQuotaLimit.runningJob``): how many jobs may run at
    once in each scope, for each app and in all of bk-job (``None``: no limit, bk-job's default).

    A launch is refused while the count is at a limit: the system's first (1244034), then the
    scope's (1244032), then the calling app's (1244033), at HTTP 200; v4 answers HTTP 429
    ``RESOURCE_EXHAUSTED``. A job takes its slot when it is created (``start_task=false`` too)
    and frees it when it ends, in any final status (``BkJobSimulator`` says more).
    """

    scope: int | None = attrs.field(default=None, validator=_limit)
    app: int | None = attrs.field(default=None, validator=_limit)
    system: int | None = attrs.field(default=None, validator=_limit)


#: bk-job's ``TaskVariableTypeEnum``: 1 string, 2 namespace, 3 hosts, 4 password, 5/6 arrays.
_VARIABLE_TYPES = range(1, 7)
#: ``JobConstants.SENSITIVE_FIELD_PLACEHOLDER``: how v3 shows a password's value.
MASK = "******"


def _variable_type(_: object, __: object, value: int) -> None:
    if value not in _VARIABLE_TYPES:
        raise ValueError(f"a variable type is 1..6 (TaskVariableTypeEnum), got {value}")


@attrs.frozen
class PlanVar:
    """A plan's global variable: ``type`` 1 string, 2 namespace, 3 host list (``value`` then
    names hosts as ``"cloud:ip,cloud:ip"``), 4 password, 5/6 arrays; ``value`` its default."""

    name: str
    value: str = ""
    type: int = attrs.field(default=1, validator=_variable_type)
    required: bool = False
    description: str = ""


def launch_vars(
    plan_id: int, variables: Sequence[PlanVar], given: object
) -> dict[str, tuple[int, str]]:
    """Return a plan job's variables, name -> (type, value): the plan's defaults, then the
    launch's values (``global_var_list`` rows by ``id`` or ``name``). A variable's id is
    ``plan_id * 1000 + its position`` (from 1)."""
    values = {v.name: (v.type, v.value) for v in variables}
    by_id = {plan_id * 1000 + i + 1: v.name for i, v in enumerate(variables)}
    for item in given if isinstance(given, list) else ():
        if not isinstance(item, Mapping) or item.get("value") is None:
            continue
        name = item.get("name")
        if item.get("id") is not None:
            name = by_id.get(_int(item["id"]), name)
        if name in values:
            values[str(name)] = (values[str(name)][0], str(item["value"]))
    return values


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return -1
