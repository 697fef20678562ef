"""Rule: as ``_api``, the management endpoints see parameters, never HTTP.

The simulated endpoints for accounts, credentials, file sources, templates, step details, SQL
launches, notification settings, the service version and local-file upload URLs.

Rule: as ``_api``, handlers see parameters, never HTTP; each follows the bk-job resource named in
its docstring, its checks in their order and its error codes. A failed bean validation
(``@NotEmpty``, ``@Length``, ``@CheckEnum``, ``@NotBlankField``) is 1240003, as everywhere in the
simulator. ``V3_ENDPOINTS`` and ``V2_ENDPOINTS`` are this module's routes, merged by
``_api_catalog``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..config import ApiFlavor, Scope
from ..models.enums import StepType, TaskType
from . import _api
from . import _codes as codes
from ._api import ApiFailure, Call, Endpoint, Params, paged, scope_of
from ._plan import StepPlan
from ._store import SimAccount, StepLaunch, dto, scope_fields, utc_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._world import World

__all__ = ["SERVICE_VERSION", "recording"]  # and the handlers, routed by name

#: What ``get_latest_service_version`` answers.
SERVICE_VERSION = "3.11.4"

#: ``CredentialTypeEnum`` names, and which request fields fill ``value1``/``value2``.
_CREDENTIAL_VALUES = {
    "APP_ID_SECRET_KEY": ("credential_access_key", "credential_secret_key"),
    "PASSWORD": ("credential_password", None),
    "USERNAME_PASSWORD": ("credential_username", "credential_password"),
    "SECRET_KEY": ("credential_secret_key", None),
}
#: ``JobConstants.SENSITIVE_FIELD_PLACEHOLDER``.
_KEEP = "******"
#: File source types the simulated file gateway has registered.
_FILE_SOURCE_TYPES = ("BLUEKING_ARTIFACTORY", "TENCENT_CLOUD_COS")
_SQL_NAMES = ("快速执行SQL", "SQL Script")
_SQL_LANGUAGE = 6


def _bad() -> ApiFailure:
    return ApiFailure(codes.BAD_REQUEST)


# -- accounts ----------------------------------------------------------------------------------


def _account(world: World, scope: Scope, account_id: int) -> SimAccount:
    """``AccountServiceImpl.getAccount(appId, id)``: 1244003 naming the id if not the scope's."""
    found = next(
        (a for a in world.store.accounts_of(scope, world.now_ms()) if a.id == account_id), None
    )
    if found is None:
        raise ApiFailure(codes.ACCOUNT_NOT_EXIST, account_id)
    return found


def _saved(world: World, call: Call, row: SimAccount) -> object:
    """Keep the password sent (if any) and answer the account."""
    password = call.params.text("password")
    if password:
        world.store.passwords[row.id] = password
    return row.render()


def create_account(world: World, call: Call) -> object:
    """Create a system account (``EsbAccountResourceV3Impl.createAccount``): a blank alias is
    the account name; an alias the scope's accounts of that category have is 1243007; a DB
    account is 1243008 (the ESB request has no ``db_system_account_id`` to tie it to)."""
    params, now = call.params, world.now_ms()
    scope = scope_of(params)
    name, kind, category, *_ = call.checked()
    if kind is None or category is None:
        raise ApiFailure(codes.INTERNAL_ERROR)  # AccountTypeEnum.valueOf(null)
    alias = params.text("alias")
    alias = alias if alias and alias.strip() else name
    accounts = world.store.accounts_of(scope, now)
    if any(a.category == category and a.alias == alias for a in accounts):
        raise ApiFailure(codes.ACCOUNT_ALIAS_EXIST)
    if category == 2:
        raise ApiFailure(codes.DB_SYSTEM_ACCOUNT_IS_INVALID)
    os = "Windows" if kind == 2 else "Linux"
    row = world.store.add_account(scope, alias, name, category, kind, os, now)
    row.creator, row.description = call.username, params.text("description") or ""
    return _saved(world, call, row)


def update_account(world: World, call: Call) -> object:
    """Change an account's alias, password or description (``updateAccount``): an empty value
    keeps the stored one; the alias must stay unique in its category (1243007). Like bk-job's
    ``AccountDAOImpl.updateAccount``, the update clears ``db_system_account_id``."""
    params, now = call.params, world.now_ms()
    scope = scope_of(params)
    account_id, *_ = call.checked()
    row = _account(world, scope, account_id)
    alias = params.text("alias") or row.alias
    others = world.store.accounts_of(scope, now)
    if any(a.category == row.category and a.alias == alias and a.id != row.id for a in others):
        raise ApiFailure(codes.ACCOUNT_ALIAS_EXIST)
    row.alias, row.description = alias, params.text("description") or row.description
    row.db_system_account_id, row.modifier, row.modify_ms = None, call.username, now
    return _saved(world, call, row)


def delete_account(world: World, call: Call) -> object:
    """Delete an account and answer it as it was (``deleteAccountUsingPost``); a system account
    a DB account runs as is 1243014."""
    params, store = call.params, world.store
    scope = scope_of(params)
    (account_id,) = call.checked()
    old = _account(world, scope, account_id)
    if any(a.db_system_account_id == old.id for a in store.accounts.of(scope)):
        raise ApiFailure(codes.DELETE_REF_ACCOUNT_FORBIDDEN)
    del store.accounts[old.id]
    store.passwords.pop(old.id, None)
    return old.render()


#: A fixed RSA public key's base64 text (``GseConstants.publicKeyPermBase64`` is one too).
_PUBLIC_KEY = base64.b64encode(
    b"-----BEGIN PUBLIC KEY-----\n"
    + base64.encodebytes(hashlib.sha512(b"bkjob-async simulator").digest() * 4)
    + b"-----END PUBLIC KEY-----\n"
).decode()


def get_account_password_encryption_metadata(world: World, call: Call) -> object:
    """The key and algorithm for account passwords (``EsbAccountPasswordEncryptionInfo...``)."""
    return {"public_key": _PUBLIC_KEY, "encrypt_algorithm": "RSA"}


def get_own_db_account_list(world: World, call: Call) -> object:
    """v2: the scope's DB accounts (``EsbGetDBAccountListResourceImpl``: ``start`` and
    ``length`` are read and not applied; every account without grantees is the caller's)."""
    scope = scope_of(call.params)
    spec = "db_account_id=id account creator db_alias=alias create_time"
    return [
        {**scope_fields(scope), **dto(row, spec, create_time=utc_text(row.create_ms))}
        for row in world.store.accounts_of(scope, world.now_ms())
        if row.category == 2
    ]


# -- credentials -------------------------------------------------------------------------------


def _credential_values(params: Params, kind: str) -> tuple[str | None, str | None]:
    """``convertToCreateUpdateReq``: the type picks the fields; an unknown type fails in
    ``CredentialTypeEnum.valueOf`` first (1240002)."""
    fields = _CREDENTIAL_VALUES.get(kind)
    if fields is None:
        raise ApiFailure(codes.INTERNAL_ERROR)
    first, second = fields
    return params.text(first), None if second is None else params.text(second)


def create_credential(world: World, call: Call) -> object:
    """Store a credential (``EsbCredentialResourceV3Impl.createCredential``); answers its id
    and name (``EsbCredentialSimpleInfoV3DTO``)."""
    params, store = call.params, world.store
    scope = scope_of(params)
    name, kind = call.checked()
    values = _credential_values(params, kind)
    if store.credentials.find(scope, name=name) is not None:
        raise ApiFailure(codes.CREDENTIAL_NAME_EXIST, name)
    row = store.add_credential(
        scope,
        name,
        kind,
        params.text("description"),
        values,
        user=call.username,
        now_ms=world.now_ms(),
    )
    return {"id": row.id, "name": row.name}


def update_credential(world: World, call: Call) -> object:
    """Replace a credential's name, type, description and values (``updateCredential``): a
    value of ``******`` keeps the stored one; a blank or taken name is 1243060; an unknown id
    1243048."""
    params, credentials = call.params, world.store.credentials
    scope = scope_of(params)
    credential_id, kind = call.checked()
    values = _credential_values(params, kind)
    name = params.text("name")
    taken = credentials.find(scope, name=name) if name else None
    if not (name or "").strip() or (taken is not None and taken.id != credential_id):
        raise ApiFailure(codes.CREDENTIAL_NAME_EXIST, name)
    row = credentials.get_in(scope, credential_id)
    if row is None:
        raise ApiFailure(codes.CREDENTIAL_NOT_EXIST)
    row.values = (
        row.values[0] if values[0] == _KEEP else values[0],
        row.values[1] if values[1] == _KEEP else values[1],
    )
    row.name, row.type, row.description = str(name), kind, params.text("description")
    row.modifier, row.modify_ms = call.username, world.now_ms()
    return {"id": row.id, "name": row.name}


def get_credential_detail(world: World, call: Call) -> object:
    """One credential of the scope, without its secret; 1243048 if the scope has none."""
    scope = scope_of(call.params)
    (credential_id,) = call.checked()
    row = world.store.credentials.get_in(scope, credential_id)
    if row is None:
        raise ApiFailure(codes.CREDENTIAL_NOT_EXIST)
    return row.render()


# -- file sources ------------------------------------------------------------------------------


def _check_file_source(call: Call) -> Mapping[str, Any]:
    """The request's bean validation (``EsbCreateOrUpdateFileSourceV3Req``); 1240003 if it
    fails. ``access_params`` needs an http(s) ``base_url`` when given (``ValidFileSourceInfo``)."""
    params = call.params
    call.checked()
    access = params.raw("access_params")
    if access is None:
        return {}
    if not isinstance(access, Mapping):
        raise _bad()
    if access:
        url = access.get("base_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _bad()
    return dict(access)


def _source_fields(params: Params, access: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "alias": str(params.text("alias")),
        "type": str(params.text("type")),
        "access_params": access,
        "credential_id": str(params.text("credential_id")),
        "file_prefix": params.text("file_prefix") or "",
    }


def _check_type(params: Params, access: Mapping[str, Any]) -> None:
    kind = params.text("type")
    if kind not in _FILE_SOURCE_TYPES:
        raise ApiFailure(codes.ILLEGAL_PARAM_NAMED, "type")
    if kind == "BLUEKING_ARTIFACTORY" and not access.get("base_url"):
        raise _bad()  # checkBkArtifactoryBaseUrl: no root URL to check


def create_file_source(world: World, call: Call) -> object:
    """Create a private, enabled file source (``EsbFileSourceV3ResourceImpl.createFileSource``):
    an unknown type is 1241005, a code the scope has 1260015."""
    params, store, now = call.params, world.store, world.now_ms()
    scope = scope_of(params)
    access = _check_file_source(call)
    _check_type(params, access)
    code = str(params.text("code"))
    if store.file_sources.find(scope, code=code) is not None:
        raise ApiFailure(codes.FILE_SOURCE_CODE_ALREADY_EXISTS, code)
    row = store.add_file_source(
        scope,
        code=code,
        **_source_fields(params, access),
        creator=call.username,
        create_ms=now,
        modifier=call.username,
        modify_ms=now,
    )
    return {"id": row.id}


def update_file_source(world: World, call: Call) -> object:
    """Replace a file source found by ``code`` (``updateFileSource``: the request's ``id`` is
    not read); a code the scope lacks is 1260012."""
    params = call.params
    scope = scope_of(params)
    access = _check_file_source(call)
    code = str(params.text("code"))
    row = world.store.file_sources.find(scope, code=code)
    if row is None:
        raise ApiFailure(codes.FAIL_TO_FIND_FILE_SOURCE_BY_CODE, code)
    _check_type(params, access)
    for name, value in _source_fields(params, access).items():
        setattr(row, name, value)
    row.modifier, row.modify_ms = call.username, world.now_ms()
    return {"id": row.id}


def get_file_source_detail(world: World, call: Call) -> object:
    """One file source of the scope by ``code``; 1260012 if it has none."""
    scope = scope_of(call.params)
    (code,) = call.checked()
    row = world.store.file_sources.find(scope, code=code)
    if row is None:
        raise ApiFailure(codes.FAIL_TO_FIND_FILE_SOURCE_BY_CODE, code)
    return row.render()


# -- templates and step details ----------------------------------------------------------------


def get_job_template_list(world: World, call: Call) -> object:
    """A page of the scope's templates, last changed first (``EsbTemplateV3ResourceImpl``: no
    check; ``name`` is a substring, ``creator`` and ``last_modify_user`` exact; the time
    filters are read and not applied; ``start`` 0 and ``length`` 20 by default, uncapped).
    Every simulated plan belongs to its own template (``Plan.template_id``)."""
    params = call.params
    scope = scope_of(params)
    name, creator = params.text("name"), params.text("creator")
    modifier = params.text("last_modify_user")
    plans = sorted(
        (p for p in world.plans.values() if p.scope in (None, scope)),
        key=lambda p: (p.create_s, p.template_id),
        reverse=True,
    )
    rows = [
        {
            **scope_fields(scope),
            "id": plan.template_id,
            "name": plan.name,
            "creator": plan.creator,
            "create_time": plan.create_s,  # seconds, as TaskTemplateServiceImpl stores them
            "last_modify_user": plan.creator,
            "last_modify_time": plan.create_s,
            "description": None,
        }
        for plan in plans
        if (not name or name in plan.name)
        and (not creator or plan.creator == creator)
        and (not modifier or plan.creator == modifier)
    ]
    start = max(params.long("start") or 0, 0)
    length = params.long("length")
    length = 20 if length is None else length
    return paged(rows, start, length)


def _server(hosts: Any) -> dict[str, Any]:
    return {
        "ip_list": [
            {"bk_host_id": h.bk_host_id, "bk_cloud_id": h.bk_cloud_id, "ip": h.ip} for h in hosts
        ]
    }


def _account_row(world: World, scope: Scope, launch: StepLaunch) -> dict[str, Any]:
    if launch.account_id is None and launch.account_name is None:
        root = world.store.accounts_of(scope, world.now_ms())[0]
        return {"id": root.id, "name": root.account}
    return {"id": launch.account_id, "name": launch.account_name}


def get_step_instance_detail(world: World, call: Call) -> object:
    """One step as launched (``EsbGetStepInstanceDetailV3ResourceImpl``, ``EsbStepV3DTO``): a
    SQL step is a script step of language 6; a sensitive parameter reads ``******``. A step a
    plan made renders its ``StepPlan``'s script text and parameters and the defaults bk-job
    stores (shell, 7200 s, the scope's first account)."""
    params = call.params
    scope = scope_of(params)
    job_id, step_id = call.checked()
    step = _api._step(world, job_id, step_id, scope)
    planned = StepLaunch(content=step.plan.script_content, param=step.plan.script_param)
    launch = world.store.launches.get(step.id, planned)
    kind = {StepType.FILE: 2, StepType.MANUAL_CONFIRM: 3}.get(step.type, 1)
    detail: dict[str, Any] = {"id": step.id, "name": step.name, "type": kind}
    if kind == 1:
        language = _SQL_LANGUAGE if step.type is StepType.SQL else launch.language
        source = 1 if launch.script_id is None and launch.script_version_id is None else 2
        detail["script_info"] = {
            "script_type": source,
            "script_id": launch.script_id,
            "script_version_id": launch.script_version_id,
            "script_content": launch.content,
            "script_language": language,
            "script_param": _KEEP if launch.param_sensitive else (launch.param or ""),
            "script_timeout": launch.timeout,
            "account": _account_row(world, scope, launch),
            "server": _server(step.hosts),
            "is_param_sensitive": 1 if launch.param_sensitive else 0,
            "is_ignore_error": 1 if step.plan.ignore_error else 0,
        }
    elif kind == 2:
        account = _account_row(world, scope, launch)
        sources = [
            {"file_type": 1, "file_list": list(files), "account": account}
            for files in launch.source_files or ((),)
        ]
        if sources and step.sources:
            sources[0]["server"] = _server(step.sources)
        detail["file_info"] = {
            "file_source_list": sources,
            "file_destination": {
                "path": launch.target_path,
                "account": account,
                "server": _server(step.hosts),
            },
            "timeout": launch.timeout,
            "transfer_mode": 1,
            "is_ignore_error": 1 if step.plan.ignore_error else 0,
        }
    else:
        detail["approval_info"] = {"approval_message": ""}
    return detail


# -- launches ----------------------------------------------------------------------------------


def _named_account(
    world: World, scope: Scope, params: Params, *names: str
) -> tuple[int | None, str | None]:
    accounts = world.store.accounts_of(scope, world.now_ms())
    account_id = params.long(names[0])
    alias = params.text(names[1]) if len(names) > 1 else None
    for row in accounts:
        if (account_id is not None and row.id == account_id) or (alias and row.alias == alias):
            return row.id, row.account
    return account_id, alias


def _decoded(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def _check_sql_v3(params: Params) -> None:
    """``EsbFastExecuteSQLV3ResourceImpl.checkFastExecuteSQLRequest``, in its order."""
    version_id = params.long("script_version_id")
    if version_id is None and not params.text("script_id") and not params.text("script_content"):
        raise ApiFailure(codes.MISSING_PARAM_NAMED, "script_version_id|script_id|script_content")
    if version_id is not None and version_id < 1:
        raise ApiFailure(codes.ILLEGAL_PARAM_NAMED, "script_version_id")
    server = params.raw("target_server")
    if not isinstance(server, Mapping) or not _api._names_hosts(server):
        raise ApiFailure(codes.MISSING_PARAM_NAMED, "target_server")
    db_account = params.long("db_account_id")
    if db_account is None or db_account < 1:
        raise ApiFailure(codes.MISSING_PARAM_NAMED, "db_account_id")


def _check_sql_v2(params: Params) -> None:
    """``EsbFastExecuteSQLResourceImpl.checkFastExecuteSQLRequest``: v2's ``script_id`` is a
    script version id."""
    version_id = params.long("script_id")
    if version_id is not None:
        if version_id < 1:
            raise ApiFailure(codes.ILLEGAL_PARAM_NAMED, "script_id")
    elif not (params.text("script_content") or "").strip():
        raise ApiFailure(codes.MISSING_PARAM_NAMED, "script_id")
    if not (params.raw("ip_list") or params.raw("custom_query_id") or params.raw("target_server")):
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "ip_list|custom_query_id|target_server")
    if params.long("db_account_id") is None:
        raise ApiFailure(codes.MISSING_PARAM_NAMED, "db_account_id")


def _sql_script(world: World, scope: Scope, params: Params, v2: bool) -> StepLaunch:
    """Resolve what the SQL step runs: a version id, a script's online version, or text."""
    version_id = params.long("script_id" if v2 else "script_version_id")
    script_id = None if v2 else params.text("script_id")
    if version_id is not None:
        found = world.store.versions.get(version_id)
        if found is None or found.scope not in (None, scope):
            raise ApiFailure(codes.SCRIPT_NOT_EXIST)
        return StepLaunch(_SQL_LANGUAGE, found.content, script_version_id=version_id)
    if script_id:
        script = world.store.scripts.get(script_id)
        online = None if script is None or script.scope not in (None, scope) else script.online
        if online is None:
            raise ApiFailure(codes.SCRIPT_NOT_EXIST)
        return StepLaunch(_SQL_LANGUAGE, online.content, script_id=script_id)
    return StepLaunch(_SQL_LANGUAGE, _decoded(params.text("script_content")))


def fast_execute_sql(world: World, call: Call) -> object:
    """Create a one-step SQL job on a scope's DB account (v3 ``EsbFastExecuteSQLV3ResourceImpl``,
    v2 ``EsbFastExecuteSQLResourceImpl``): a DB account the scope lacks is 1244003 naming
    ``ID=<id>``; the answer names the job, not its step (neither resource sets it)."""
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    scope = scope_of(params)
    (_check_sql_v2 if v2 else _check_sql_v3)(params)
    _api._check_base64(params, "script_content")
    _api._check_launch(call, timeout=params.long("script_timeout" if v2 else "timeout"))
    hosts = _api._targets(world, call)
    db_id = int(params.long("db_account_id") or 0)
    account = next(
        (a for a in world.store.accounts_of(scope, world.now_ms()) if a.id == db_id), None
    )
    if account is None or account.category != 2:
        raise ApiFailure(codes.ACCOUNT_NOT_EXIST, f"ID={db_id}")
    script = _sql_script(world, scope, params, v2)
    name = params.text("task_name") or _api._default_name(world, _SQL_NAMES, call.english)
    _api.check_quota(world, call, scope)
    job = world.create_job(
        scope,
        [StepPlan(StepType.SQL, len(hosts), name)],
        name=name,
        start=v2 or params.flag("start_task", True),
        operator=call.username,
        targets=[hosts],
        task_type=TaskType.FAST_SCRIPT,
        app_code=call.app_code,
        callback_url=params.text("bk_callback_url" if v2 else "callback_url"),
    )
    timeout = params.long("script_timeout" if v2 else "timeout") or 7200
    launch = attrs.evolve(
        script, timeout=timeout, account_id=account.id, account_name=account.account
    )
    world.store.launches[job.steps[0].id] = launch
    launched: dict[str, Any] = {"job_instance_id": job.id, "job_instance_name": name}
    if not v2:
        launched["step_instance_id"] = None
    return launched


def _recorded(
    handler: Callable[[World, Call], object], kind: StepType
) -> Callable[[World, Call], object]:
    """Wrap a fast launch's handler to note what it said about its step (for the detail)."""

    def launch(world: World, call: Call) -> object:
        result = handler(world, call)
        job_id = result.get("job_instance_id") if isinstance(result, Mapping) else None
        job = world.jobs.get(job_id) if isinstance(job_id, int) else None
        if job is not None:
            world.store.launches[job.steps[0].id] = _launch_of(world, job.scope, call, kind)
        return result

    launch.__doc__ = handler.__doc__
    return launch


def _launch_of(world: World, scope: Scope, call: Call, kind: StepType) -> StepLaunch:
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    if v2:
        account_id, account_name = _named_account(world, scope, params, "account_id", "account")
    else:
        account_id, account_name = _named_account(
            world, scope, params, "account_id", "account_alias"
        )
    timeout = params.long("script_timeout" if v2 and kind is StepType.SCRIPT else "timeout") or 7200
    if kind is StepType.FILE:
        sources = params.raw("file_source" if v2 else "file_source_list")
        files = tuple(
            tuple(str(f) for f in item.get("files" if v2 else "file_list") or ())
            for item in _api._maps(sources)
        )
        return StepLaunch(
            timeout=timeout,
            account_id=account_id,
            account_name=account_name,
            target_path=params.text("file_target_path"),
            source_files=files,
        )
    language = params.long("script_type" if v2 else "script_language") or 1
    return StepLaunch(
        language,
        _decoded(params.text("script_content")),
        _decoded(params.text("script_param")),
        params.flag("is_param_sensitive"),
        timeout,
        account_id,
        account_name,
        params.text("script_id"),
        params.long("script_version_id"),
    )


# -- the rest ----------------------------------------------------------------------------------

_CHANNELS = ("mail", "rtx", "sms", "voice", "weixin")


def get_notify_config(world: World, call: Call) -> object:
    """The scope's default notification policies (``EsbNotifyConfigV3ResourceImpl``): one per
    trigger, every offered channel per end status, failures mailed to the job's operator."""
    params = call.params
    if params.text("bk_scope_type") is None or params.text("bk_scope_id") is None:
        raise _bad()  # both are required query parameters
    scope_of(params)
    return [
        {
            "trigger_type": trigger,
            "resource_type_list": ["SCRIPT", "JOB", "FILE"],
            "role_list": ["JOB_RESOURCE_TRIGGER_USER"],
            "extra_observer_list": [],
            "resource_status_channel_map": {
                status: {c: status == "FAIL" and c == "mail" for c in _CHANNELS}
                for status in ("SUCCESS", "FAIL", "READY")
            },
        }
        for trigger in ("PAGE_EXECUTE", "API_INVOKE", "TIMER_TASK")
    ]


def get_latest_service_version(world: World, call: Call) -> object:
    """The newest version any bk-job service runs (``EsbServiceInfoV3ResourceImpl``)."""
    return {"version": SERVICE_VERSION}


def generate_local_file_upload_url(world: World, call: Call) -> object:
    """A temporary bk-repo upload URL per file name (``EsbLocalFileResourceV3Impl``): the path
    is ``<scope id>/<uuid>/<user>/<name>``, what a transfer's local file source names."""
    params = call.params
    scope = scope_of(params)
    names = params.raw("file_name_list")
    what = "fileName in file_name_list"
    if not isinstance(names, list):
        raise ApiFailure(codes.ILLEGAL_PARAM_REASON, "file_name_list", f"{what} cannot be null")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ApiFailure(codes.ILLEGAL_PARAM_REASON, what, f"{what} cannot be null or blank")
        if len(name) > 1024:
            raise ApiFailure(
                codes.ILLEGAL_PARAM_REASON, what, f"{what} length cannot be longer than 1024"
            )
    urls = {}
    for name in names:
        path = f"{scope.id}/{uuid.uuid4()}/{call.username}/{name}"
        token = uuid.uuid4().hex
        urls[name] = {
            "upload_url": f"http://bkrepo.example.com/generic/temporary/upload/bkjob/localupload/{path}?token={token}",
            "path": path,
        }
    return {"url_map": urls}


#: The fast launches whose step ``get_step_instance_detail`` renders from what they said.
_LAUNCHES = {
    "fast_execute_script": StepType.SCRIPT,
    "fast_transfer_file": StepType.FILE,
    "fast_push_file": StepType.FILE,
}


def recording(table: dict[str, Endpoint]) -> dict[str, Endpoint]:
    """Return ``table`` with its fast launches noting what each said about its step."""
    return {
        name: attrs.evolve(e, handler=_recorded(e.handler, _LAUNCHES[name]))
        if name in _LAUNCHES
        else e
        for name, e in table.items()
    }
