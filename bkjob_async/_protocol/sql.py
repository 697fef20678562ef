"""The SQL launch: ``fast_execute_sql`` runs a SQL script on hosts as a scope's DB account.

A row of the endpoint table (``_api.Api``) with its spellings; pure, no I/O. The script's text
is base64-encoded here. v3 names the script by version id, by script id (its online version)
or by text; v2 by version id (its ``script_id``) or by text. Neither answer names the step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._params import (
    b64,
    check_targets,
    check_text,
    check_timeout,
    v2_only_scalars,
    v2_targets,
    v3_server,
)
from ..config import Scope, check_id
from ..models import JobLaunch
from ._api import POST, Params, model, row, v2_scoped, v3_scoped

if TYPE_CHECKING:
    from ..models.requests import Targets

__all__ = ["FAST_EXECUTE_SQL"]


def _script(
    script_content: str | None, script_id: str | None, script_version_id: int | None
) -> Params:
    sources = [s for s in (script_content, script_id, script_version_id) if s is not None]
    if len(sources) != 1:
        raise ValueError("pass exactly one of script_content, script_id or script_version_id")
    if script_content is not None and not isinstance(script_content, str):
        raise TypeError("script_content must be a str (the client base64-encodes it)")
    return {
        "script_content": None if script_content is None else b64(script_content),
        "script_id": None if script_id is None else check_text(script_id, "script_id"),
        "script_version_id": None
        if script_version_id is None
        else check_id(script_version_id, "script_version_id"),
    }


def sql_v3(
    scope: Scope,
    *,
    targets: Targets,
    db_account_id: int,
    script_content: str | None = None,
    script_id: str | None = None,
    script_version_id: int | None = None,
    script_timeout: int | None = None,
    task_name: str | None = None,
    callback_url: str | None = None,
    start_task: bool = True,
) -> Params:
    """Spell ``fast_execute_sql``."""
    return v3_scoped(
        scope,
        task_name=None if task_name is None else check_text(task_name, "task_name"),
        **_script(script_content, script_id, script_version_id),
        db_account_id=check_id(db_account_id, "db_account_id"),
        timeout=check_timeout(script_timeout),
        target_server=v3_server(check_targets(targets)),
        callback_url=None if callback_url is None else check_text(callback_url, "callback_url"),
        start_task=bool(start_task),
    )


def sql_v2(
    scope: Scope,
    *,
    targets: Targets,
    db_account_id: int,
    script_content: str | None = None,
    script_id: str | None = None,
    script_version_id: int | None = None,
    script_timeout: int | None = None,
    task_name: str | None = None,
    callback_url: str | None = None,
    start_task: bool = True,
) -> Params:
    """Spell v2's ``fast_execute_sql``: its ``script_id`` is a version id; no script id, and
    the job always starts."""
    script = _script(script_content, script_id, script_version_id)
    v2_only_scalars(script_id=script_id, start_task=not start_task)
    return v2_scoped(
        scope,
        task_name=None if task_name is None else check_text(task_name, "task_name"),
        script_content=script["script_content"],
        script_id=script["script_version_id"],
        db_account_id=check_id(db_account_id, "db_account_id"),
        script_timeout=check_timeout(script_timeout),
        **v2_targets(check_targets(targets)),
        bk_callback_url=None if callback_url is None else check_text(callback_url, "callback_url"),
    )


FAST_EXECUTE_SQL = row("fast_execute_sql", POST, model(JobLaunch), v3=sql_v3, v2=sql_v2)
