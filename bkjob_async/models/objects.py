"""Execute objects (gateway v4): what a step runs on, a host or a Kubernetes container; no wire here.

bk-job's v4 answers name each target as an execute object ``{type, resource_id, host |
container}`` (``OpenApiExecuteObjectDTO``). A host keeps the ``Host`` and ``HostResult`` every
generation returns, so code written for hosts reads v4 unchanged; a container is a
``Container`` and its result a ``ContainerResult``, beside the hosts of a step
(``StepInstance.containers``). A container's statuses are the host statuses
(``ExecuteObjectTaskStatusEnum`` serves both).
"""

from __future__ import annotations

import attrs

from .enums import _OpenIntEnum
from .instances import Container, ContainerKey, ContainerResult, Host
from .logs import FileLogMode, FileTaskStatus, LogType

__all__ = [
    "Container",
    "ContainerKey",
    "ContainerResult",
    "ExecuteObject",
    "ExecuteObjectFileLog",
    "ExecuteObjectLog",
    "ExecuteObjectType",
    "TaskContext",
    "TaskContextField",
]


class ExecuteObjectType(_OpenIntEnum):
    """What an execute object is (``ExecuteObjectTypeEnum``)."""

    HOST = 1
    CONTAINER = 2


@attrs.frozen
class ExecuteObject:
    """A host or a container, as v4's logs and contexts name it; exactly one is set."""

    type: ExecuteObjectType
    resource_id: str
    host: Host | None = None
    container: Container | None = None

    def __str__(self) -> str:
        return str(self.host or self.container or f"{self.type.name.lower()} {self.resource_id}")


@attrs.frozen
class ExecuteObjectFileLog:
    """One file transfer row of an execute object's log (``V4FileLogDTO``)."""

    mode: FileLogMode
    status: FileTaskStatus
    source: ExecuteObject | None = None
    src_path: str | None = None
    dest: ExecuteObject | None = None
    dest_path: str | None = None
    log_content: str | None = None
    size: str | None = None
    speed: str | None = None
    process: str | None = None


@attrs.frozen
class ExecuteObjectLog:
    """One host's or container's log of a step (``batch_get_job_instance_execute_object_log``).

    A script step's log is ``log_content``; a file step's is ``file_logs`` (the uploads of a
    source and the downloads of a target).
    """

    execute_object: ExecuteObject
    log_type: LogType | None = None
    log_content: str | None = None
    file_logs: tuple[ExecuteObjectFileLog, ...] | None = None


@attrs.frozen
class TaskContextField:
    """One field of a task's context (``TaskContextField``): its name, value and description."""

    name: str
    value: str | None = None
    description: str | None = None


@attrs.frozen
class TaskContext:
    """What bk-job gathers about one execute object's task for analysis (v4's
    ``get_script_task_context`` and ``get_file_task_context``): script, parameters, error log."""

    fields: tuple[TaskContextField, ...]

    def get(self, name: str) -> str | None:
        """Return the value of the field ``name``, or ``None`` if there is none."""
        for field in self.fields:
            if field.name == name:
                return field.value
        return None
