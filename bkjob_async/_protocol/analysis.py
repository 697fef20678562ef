"""The analysis family (gateway v4): what bk-job gathers of one execute object's task.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O.
``get_script_task_context`` and ``get_file_task_context`` (``OpenApiGetTaskContextV4Resource``,
``V4GetScriptTaskContextRequest``, ``V4GetFileTaskContextRequest``) name the execute object by
its type and resource id: a host by ``bk_host_id``, a container by its CMDB id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._params import check_count, check_text, step_ids
from ..config import check_id
from ..models import FileLogMode
from . import _v4
from ._api import POST, Params, row, v3_scoped

if TYPE_CHECKING:
    from ..config import Scope

__all__ = ["GET_FILE_TASK_CONTEXT", "GET_SCRIPT_TASK_CONTEXT"]


def _target(host_id: int | None, container_id: int | None) -> Params:
    """Name the execute object: exactly one of a host id and a container id."""
    if (host_id is None) == (container_id is None):
        raise ValueError("give exactly one of host_id and container_id")
    if host_id is not None:
        return {
            "execute_object_type": 1,
            "execute_object_resource_id": check_id(host_id, "host_id"),
        }
    assert container_id is not None
    return {
        "execute_object_type": 2,
        "execute_object_resource_id": check_id(container_id, "container_id"),
    }


def _common(
    scope: Scope,
    job_instance_id: int,
    step_instance_id: int,
    execute_count: int,
    batch: int | None,
    host_id: int | None,
    container_id: int | None,
) -> Params:
    return v3_scoped(
        scope,
        **step_ids(job_instance_id, step_instance_id),
        execute_count=check_count(execute_count, "execute_count"),
        batch=None if batch is None else check_count(batch, "batch", 1),
        **_target(host_id, container_id),
    )


def script_context(
    scope: Scope,
    job_instance_id: int,
    step_instance_id: int,
    *,
    execute_count: int = 0,
    host_id: int | None = None,
    container_id: int | None = None,
    batch: int | None = None,
    content: str | None = None,
) -> Params:
    """Spell ``get_script_task_context``: ``content`` is the error log to analyse (bk-job reads
    the task's log itself when it is not given)."""
    params = _common(
        scope, job_instance_id, step_instance_id, execute_count, batch, host_id, container_id
    )
    return {**params, "content": None if content is None else check_text(content, "content")}


def file_context(
    scope: Scope,
    job_instance_id: int,
    step_instance_id: int,
    *,
    mode: FileLogMode | int,
    execute_count: int = 0,
    host_id: int | None = None,
    container_id: int | None = None,
    batch: int | None = None,
) -> Params:
    """Spell ``get_file_task_context``: ``mode`` 0 the upload side, 1 the download side."""
    if mode not in (FileLogMode.UPLOAD, FileLogMode.DOWNLOAD) or isinstance(mode, bool):
        raise ValueError(f"mode must be FileLogMode.UPLOAD (0) or DOWNLOAD (1), got {mode!r}")
    params = _common(
        scope, job_instance_id, step_instance_id, execute_count, batch, host_id, container_id
    )
    return {**params, "mode": int(mode)}


GET_SCRIPT_TASK_CONTEXT = row(
    "get_script_task_context",
    POST,
    _v4.task_context,
    v4=script_context,
    idempotent=True,
    doc="""Return what bk-job gathers of one host's or container's script task for analysis:
    script, parameters, error log (gateway v4 only). Give ``host_id`` or ``container_id``.
    """,
    resource="v4 `OpenApiGetTaskContextV4Resource` (`V4GetScriptTaskContextRequest`)",
)
GET_FILE_TASK_CONTEXT = row(
    "get_file_task_context",
    POST,
    _v4.task_context,
    v4=file_context,
    idempotent=True,
    doc="""Return what bk-job gathers of one host's or container's file task for analysis, its
    upload (``mode`` 0) or download (1) side (gateway v4 only).
    """,
    resource="v4 `OpenApiGetTaskContextV4Resource` (`V4GetFileTaskContextRequest`)",
)
