"""Frozen attrs models and IntEnums: the one shape the client returns for every API generation."""

from .enums import (
    FINISHED_JOB_STATUSES,
    HostStatus,
    JobOperation,
    JobStatus,
    LaunchMode,
    ScriptLanguage,
    StepOperation,
    StepStatus,
    StepType,
    TaskType,
)
from .instances import (
    Host,
    HostKey,
    HostResult,
    JobInstance,
    JobInstanceStatus,
    JobLaunch,
    StepInstance,
    StepInstanceStatus,
    StepResultGroup,
)

__all__ = [
    "FINISHED_JOB_STATUSES",
    "Host",
    "HostKey",
    "HostResult",
    "HostStatus",
    "JobInstance",
    "JobInstanceStatus",
    "JobLaunch",
    "JobOperation",
    "JobStatus",
    "LaunchMode",
    "ScriptLanguage",
    "StepInstance",
    "StepInstanceStatus",
    "StepOperation",
    "StepResultGroup",
    "StepStatus",
    "StepType",
    "TaskType",
]
