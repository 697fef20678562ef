"""Rule: the SQL launch's row checks and encodes the script before any request; pure, no I/O.

The SQL launch: ``fast_execute_sql`` runs a SQL script on hosts as a scope's DB account.

A row of the endpoint table (``_api.Api``) with its spellings; pure, no I/O. The script's text
is base64-encoded here. v3 names the script by version id, by script id (its online version)
or by text; v2 by version id (its ``script_id``) or by text. Neither answer names the step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._params import (
    check_callback,
    check_targets,
    check_text,
    check_timeout,
    script_source,
    v2_only_scalars,
    v2_targets,
    v3_server,
)
from ..config import Scope, check_id
from ..models import JobLaunch
from ._api import POST, Params, bound, model, row, v2_scoped, v3_scoped

if TYPE_CHECKING:
    from ..models.requests import Targets

__all__ = ["FAST_EXECUTE_SQL"]


def _sql(
    v2: bool,
    /,
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
    """Spell ``fast_execute_sql`` for v3 (the gateway, the ESB's jobv3) or v2:
    one list of arguments, checked alike; v2's ``script_id`` is a version id, it has no script
    id and its job always starts."""
    script = script_source(script_content, script_id, script_version_id, sized=False)
    task = None if task_name is None else check_text(task_name, "task_name")
    account = check_id(db_account_id, "db_account_id")
    timeout = check_timeout(script_timeout, "script_timeout")
    callback = check_callback(callback_url)
    if not v2:
        return v3_scoped(
            scope,
            task_name=task,
            **script,
            db_account_id=account,
            timeout=timeout,
            target_server=v3_server(check_targets(targets)),
            callback_url=callback,
            start_task=bool(start_task),
        )
    v2_only_scalars(script_id=script_id, start_task=not start_task)
    return v2_scoped(
        scope,
        task_name=task,
        script_content=script["script_content"],
        script_id=script["script_version_id"],
        db_account_id=account,
        script_timeout=timeout,
        **v2_targets(check_targets(targets)),
        bk_callback_url=callback,
    )


FAST_EXECUTE_SQL = row(
    "fast_execute_sql",
    POST,
    model(JobLaunch),
    v3=bound(_sql, False),
    v2=bound(_sql, True),
    doc="""Run a SQL script (one of ``script_content``, ``script_id``, ``script_version_id``)
    on ``targets`` as a DB account; the launch names no step (read it from the status).
    """,
    resource="`EsbFastExecuteSQLV3Resource`; v2 `EsbFastExecuteSQLResource`",
)
