"""Rule: the launch family's rows check and encode a launch before any request; pure, no I/O.

The launch family: run a script, copy files, run a plan, push config files.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O. Script text and
parameters, and config files, are base64-encoded here; a password variable's value is marked
as a secret of its request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._params import (
    b64,
    b64_bytes,
    check_callback,
    check_language,
    check_path,
    check_targets,
    check_text,
    check_timeout,
    optional_count,
    optional_param,
    rolling,
    script_source,
    v2_account,
    v2_file_source,
    v2_global_var,
    v2_ip_list,
    v2_only_scalars,
    v2_targets,
    v3_account,
    v3_file_source,
    v3_global_var,
    v3_server,
)
from ..config import Scope, check_id
from ..models import JobLaunch, ScriptLanguage
from ..models.requests import Account, ConfigFile, FileSource, GlobalVar, RollingConfig, Targets
from ._api import POST, Params, bound, model, row, v2_scoped, v3_scoped, with_secrets
from ._v4 import execute_target

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "EXECUTE_JOB_PLAN",
    "FAST_EXECUTE_SCRIPT",
    "FAST_TRANSFER_FILE",
    "PUSH_CONFIG_FILE",
]

# --- fast_execute_script -------------------------------------------------------------------------


def _script(
    script_content: str | None,
    script_id: str | None,
    script_version_id: int | None,
    script_param: str | None,
    is_param_sensitive: bool,
    task_name: str | None,
) -> Params:
    """Check the script's source (exactly one) and spell what both generations share."""
    source = script_source(script_content, script_id, script_version_id)
    param = optional_param(script_param)
    return {
        "task_name": task_name,
        "script_content": source["script_content"],
        "script_param": None if param is None else b64(param),
        "is_param_sensitive": 1 if is_param_sensitive else 0,
    }


def _runnable(script_language: ScriptLanguage | int | str) -> ScriptLanguage:
    """Return the language of a script ``fast_execute_script`` runs (not SQL)."""
    language = check_language(script_language)
    if language is ScriptLanguage.SQL:
        raise ValueError("fast_execute_script runs no SQL script: use fast_execute_sql")
    return language


def _sensitive(script_param: str | None, is_param_sensitive: bool) -> tuple[str, ...]:
    """A parameter sent as sensitive is a secret of its request: masked in its errors."""
    return (script_param,) if is_param_sensitive and script_param else ()


def _fast_script(
    generation: str,
    /,
    scope: Scope,
    *,
    targets: Targets,
    account: Account,
    script_content: str | None = None,
    script_id: str | None = None,
    script_version_id: int | None = None,
    script_language: ScriptLanguage | int | str = ScriptLanguage.SHELL,
    script_param: str | None = None,
    is_param_sensitive: bool = False,
    script_timeout: int | None = None,
    task_name: str | None = None,
    callback_url: str | None = None,
    rolling_config: RollingConfig | None = None,
    start_task: bool = True,
) -> Params:
    """Spell ``fast_execute_script`` on ``generation``: ``"v3"``, ``"v2"``
    (its ``script_id`` is a version id) or ``"v4"`` (``V4FastExecuteScriptRequest``: v3's
    fields, the targets as ``execute_target`` and ``param_sensitive`` a boolean)."""
    where = _where(generation, targets)
    common = _script(
        script_content,
        script_id,
        script_version_id,
        script_param,
        is_param_sensitive,
        task_name,
    )
    language = _runnable(script_language)
    timeout = check_timeout(script_timeout, "script_timeout")
    secrets = _sensitive(script_param, is_param_sensitive)
    if generation == "v2":
        v2_only_scalars(
            script_id=script_id, rolling_config=rolling_config, start_task=not start_task
        )
        params = v2_scoped(
            scope,
            **common,
            **v2_targets(check_targets(targets)),
            script_id=script_version_id,
            script_type=int(language),
            script_timeout=timeout,
            account=v2_account(account),
            bk_callback_url=check_callback(callback_url),
        )
        return with_secrets(params, secrets)
    params = v3_scoped(
        scope,
        **common,
        **v3_account(account),
        script_id=script_id,
        script_version_id=script_version_id,
        script_language=int(language),
        timeout=timeout,
        **where,
        callback_url=check_callback(callback_url),
        rolling_config=rolling(rolling_config, targets),
        start_task=bool(start_task),
    )
    if generation == "v4":
        params["param_sensitive"] = bool(params.pop("is_param_sensitive"))
    return with_secrets(params, secrets)


def _where(generation: str, targets: Targets) -> Params:
    """Return the targets of a v3 or v4 launch, checked first (v2 spells them later)."""
    if generation == "v4":
        return {"execute_target": execute_target(targets)}
    if generation == "v3":
        return {"target_server": v3_server(check_targets(targets))}
    return {}


FAST_EXECUTE_SCRIPT = row(
    "fast_execute_script",
    POST,
    model(JobLaunch),
    v3=bound(_fast_script, "v3"),
    v2=bound(_fast_script, "v2"),
    v4=bound(_fast_script, "v4"),
    doc="""Run a script on ``targets``; pass its text, the client base64-encodes it.

    Pass exactly one of ``script_content``, ``script_id`` or ``script_version_id``.
    ``script_timeout`` is 1..259200 seconds. ``targets`` are checked against what the
    flavor's server reads (see ``Targets``): a target bk-job would drop is a ``ValueError``.
    """,
    resource="`EsbFastExecuteScriptV3Resource`; v2 `EsbFastExecuteScriptResource`; v4 `OpenApiFastExecuteScriptV4Resource`",
)

# --- fast_transfer_file --------------------------------------------------------------------------


def _transfer(
    file_target_path: str,
    file_sources: Sequence[FileSource],
    transfer_mode: int | None,
    task_name: str | None,
    transfer_timeout: int | None,
    download_speed_limit: int | None,
    upload_speed_limit: int | None,
) -> tuple[tuple[FileSource, ...], Params]:
    """Check a transfer; return its sources and what both generations share."""
    check_path(file_target_path, "file_target_path")
    sources = tuple(file_sources)
    if not sources or not all(isinstance(s, FileSource) for s in sources):
        raise TypeError("file_sources must be a non-empty sequence of FileSource")
    if transfer_mode not in (None, 1, 2):
        raise ValueError("transfer_mode must be 1 (strict) or 2 (force)")
    return sources, {
        "task_name": task_name,
        "file_target_path": file_target_path,
        "timeout": check_timeout(transfer_timeout, "transfer_timeout"),
        "download_speed_limit": optional_count(download_speed_limit, "download_speed_limit"),
        "upload_speed_limit": optional_count(upload_speed_limit, "upload_speed_limit"),
    }


def _fast_transfer(
    v2: bool,
    /,
    scope: Scope,
    *,
    targets: Targets,
    account: Account,
    file_target_path: str,
    file_sources: Sequence[FileSource],
    file_target_name: str | None = None,
    task_name: str | None = None,
    transfer_timeout: int | None = None,
    transfer_mode: int | None = None,
    download_speed_limit: int | None = None,
    upload_speed_limit: int | None = None,
    callback_url: str | None = None,
    rolling_config: RollingConfig | None = None,
    start_task: bool = True,
) -> Params:
    """Spell ``fast_transfer_file``, or (``v2``) of v2's ``fast_push_file``:
    no target name, transfer mode, rolling or unstarted job there."""
    sources, common = _transfer(
        file_target_path,
        file_sources,
        transfer_mode,
        task_name,
        transfer_timeout,
        download_speed_limit,
        upload_speed_limit,
    )
    if v2:
        v2_only_scalars(
            file_target_name=file_target_name,
            transfer_mode=transfer_mode,
            rolling_config=rolling_config,
            start_task=not start_task,
        )
        return v2_scoped(
            scope,
            **common,
            **v2_targets(check_targets(targets)),
            file_source=[v2_file_source(s) for s in sources],
            account=v2_account(account),
            bk_callback_url=check_callback(callback_url),
        )
    return v3_scoped(
        scope,
        **common,
        **v3_account(account),
        file_source_list=[v3_file_source(s) for s in sources],
        file_target_name=file_target_name,
        target_server=v3_server(check_targets(targets)),
        transfer_mode=transfer_mode,
        callback_url=check_callback(callback_url),
        rolling_config=rolling(rolling_config, targets, sources),
        start_task=bool(start_task),
    )


FAST_TRANSFER_FILE = row(
    "fast_transfer_file",
    POST,
    model(JobLaunch),
    v3=bound(_fast_transfer, False),
    v2=bound(_fast_transfer, True),
    v2_name="fast_push_file",
    doc="""Copy files from ``file_sources`` to ``file_target_path`` on ``targets``.

    On ESB v2 (``fast_push_file``) bk-job does not report the step, so
    ``step_instance_id`` of the launch is ``None``; read it from ``get_job_instance_status``.
    """,
    resource="`EsbFastTransferFileV3Resource`; v2 `EsbFastPushFileResource`",
)

# --- execute_job_plan ----------------------------------------------------------------------------


def _variables(global_vars: Sequence[GlobalVar]) -> tuple[GlobalVar, ...]:
    variables = tuple(global_vars)
    if not all(isinstance(v, GlobalVar) for v in variables):
        raise TypeError("global_vars must be GlobalVar values")
    return variables


def _secrets(variables: tuple[GlobalVar, ...]) -> tuple[str, ...]:
    return tuple(v.value for v in variables if v.secret and v.value)


def _plan(
    v2: bool,
    /,
    scope: Scope,
    job_plan_id: int,
    *,
    global_vars: Sequence[GlobalVar] = (),
    callback_url: str | None = None,
    start_task: bool = True,
) -> Params:
    """Spell ``execute_job_plan``, or (``v2``) of v2's ``execute_job`` (the
    plan is ``bk_job_id``; the job always starts); a password variable's value is a secret
    of the request."""
    plan = check_id(job_plan_id, "job_plan_id")
    variables = _variables(global_vars)
    if v2:
        v2_only_scalars(start_task=not start_task)
        params = v2_scoped(
            scope,
            bk_job_id=plan,
            global_vars=[v2_global_var(v) for v in variables] or None,
            bk_callback_url=check_callback(callback_url),
        )
    else:
        params = v3_scoped(
            scope,
            job_plan_id=plan,
            global_var_list=[v3_global_var(v) for v in variables] or None,
            callback_url=check_callback(callback_url),
            start_task=bool(start_task),
        )
    return with_secrets(params, _secrets(variables))


EXECUTE_JOB_PLAN = row(
    "execute_job_plan",
    POST,
    model(JobLaunch),
    v3=bound(_plan, False),
    v2=bound(_plan, True),
    v2_name="execute_job",
    doc="""Launch a job plan with the given global variable values.""",
    resource="`EsbExecuteJobPlanV3Resource`; v2 `EsbExecuteTaskResource`",
)

# --- push_config_file ----------------------------------------------------------------------------


def _config_files(file_target_path: str, files: Sequence[ConfigFile]) -> list[dict[str, Any]]:
    check_text(file_target_path, "file_target_path")
    configs = tuple(files)
    if not configs or not all(isinstance(f, ConfigFile) for f in configs):
        raise TypeError("files must be a non-empty sequence of ConfigFile")
    names = [f.name for f in configs]
    if len(set(names)) != len(names):
        raise ValueError(
            "two config files have the same name: the second would overwrite the first"
        )
    return [{"file_name": f.name, "content": b64_bytes(f.data)} for f in configs]


def _config(
    v2: bool,
    /,
    scope: Scope,
    *,
    targets: Targets,
    account: Account,
    file_target_path: str,
    files: Sequence[ConfigFile],
    task_name: str | None = None,
    callback_url: str | None = None,
) -> Params:
    """Spell ``push_config_file``: ``target_server`` and the account by id or
    alias; or (``v2``) v2's: the top-level ``ip_list`` alone (``EsbPushConfigFileResourceImpl``),
    an account alias, and no ``callback_url``."""
    file_list = _config_files(file_target_path, files)
    check_targets(targets)
    if v2:
        v2_only_scalars(callback_url=callback_url)
        return v2_scoped(
            scope,
            task_name=task_name,
            file_target_path=file_target_path,
            account=v2_account(account),
            ip_list=v2_ip_list(targets),
            file_list=file_list,
        )
    return v3_scoped(
        scope,
        task_name=task_name,
        file_target_path=file_target_path,
        **v3_account(account),
        target_server=v3_server(targets),
        file_list=file_list,
        callback_url=check_callback(callback_url),
    )


PUSH_CONFIG_FILE = row(
    "push_config_file",
    POST,
    model(JobLaunch),
    v3=bound(_config, False),
    v2=bound(_config, True),
    doc="""Write config files (``ConfigFile``) into ``file_target_path`` on ``targets``.

    bk-job runs it as a one-step file job: follow it like any other launch. Contents are
    base64-encoded by the client and never logged. On ESB v2 only ``ips`` targets are
    read by bk-job (others are refused here) and there is no ``callback_url``; no flavor
    reports the step (``step_instance_id`` is ``None``).
    """,
    resource="`EsbPushConfigFileV3Resource`; v2 `EsbPushConfigFileResource`",
)
