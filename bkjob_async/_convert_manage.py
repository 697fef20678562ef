"""Converter hooks for what bk-job's job-manage and file-gateway keep, and for a step's detail.

Accounts created, updated or deleted (``EsbAccountV3DTO``, read by the catalog's hook), v2's
own DB accounts (``EsbDBAccountDTO``: ``db_account_id``, ``db_alias``, a UTC time text),
credentials (``EsbCredentialV3DTO``), file sources (``EsbFileSourceV3DTO``), templates
(``EsbTemplateBasicInfoV3DTO``: epoch **seconds**, as plans), a step's detail
(``EsbStepV3DTO``), notification policies (``EsbNotifyPolicyV3DTO``), the password encryption
metadata and local-file upload URLs (``EsbUploadUrlV3DTO``). ``register`` adds them to one
generation's converter (``_converter.converter``); every reader here raises only what the
converter turns into ``ResponseFormatError``.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

import attrs

from ._readers import (
    Generation,
    _audit,
    _epoch_time,
    _number,
    _page,
    _str,
    _targets,
    _text,
    _times,
    _utc_text,
    read_bool,
    read_code,
    read_int,
    read_rows,
)
from .models import AccountCategory, ExecutionAccount, PlanStep, StepType
from .models.files import (
    CredentialDetail,
    CredentialType,
    FileSourceDetail,
    FileSourceType,
    UploadUrl,
    UploadUrls,
)
from .models.settings import NotifyPolicy, PasswordEncryption
from .models.templates import (
    AccountRef,
    FileDestination,
    FileStepDetail,
    JobTemplate,
    JobTemplatePage,
    ScriptSource,
    ScriptStepDetail,
    StepDetail,
    StepFileSource,
    TransferMode,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import cattrs

__all__ = ["plan_step_v2", "plan_step_v3", "register"]


def _flag(value: Any) -> bool:
    return value is not None and read_bool(value)


def _texts(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"expected a list of str, got {type(value).__name__}")
    return tuple(_str(v, None) for v in value)


def _named(value: Any, known: type[CredentialType] | type[FileSourceType]) -> Any:
    """Return the enum member spelled ``value``; an unknown name stays the text bk-job sent."""
    text = _text(value)
    if text is None:
        return None
    try:
        return known(text)
    except ValueError:
        return text


def _account_ref(d: Any) -> AccountRef | None:
    if not isinstance(d, dict):
        return None
    return AccountRef(_number(d.get("id")), _text(d.get("name")), _text(d.get("alias")))


def _script_step(d: Mapping[str, Any]) -> ScriptStepDetail:
    source = d.get("script_type")
    return ScriptStepDetail(
        None if source is None else ScriptSource(read_code(source)),
        _text(d.get("script_id")),
        _number(d.get("script_version_id")),
        _text(d.get("script_content")),
        _number(d.get("script_language")),
        _text(d.get("script_param")),
        _number(d.get("script_timeout")),
        _account_ref(d.get("account")),
        _targets(d.get("server")),
        _flag(d.get("is_param_sensitive")),
        _flag(d.get("is_ignore_error")),
        _text(d.get("windows_interpreter")),
    )


def _file_step(d: Mapping[str, Any]) -> FileStepDetail:
    sources = tuple(
        StepFileSource(
            read_code(s.get("file_type") or 1),  # (null: files on hosts, as bk-job reads it)
            _texts(s.get("file_list")),
            _targets(s.get("server")),
            _account_ref(s.get("account")),
            _number(s.get("file_source_id")),
            _text(s.get("file_source_code")),
        )
        for s in read_rows(d.get("file_source_list"))
    )
    dest = d.get("file_destination")
    destination = None
    if isinstance(dest, dict):
        destination = FileDestination(
            _text(dest.get("path")), _account_ref(dest.get("account")), _targets(dest.get("server"))
        )
    mode = d.get("transfer_mode")
    return FileStepDetail(
        sources,
        destination,
        _number(d.get("timeout")),
        _number(d.get("source_speed_limit")),
        _number(d.get("destination_speed_limit")),
        None if mode is None else TransferMode(read_code(mode)),
        _flag(d.get("is_ignore_error")),
    )


def _step(d: Mapping[str, Any]) -> StepDetail:
    script, files, approval = d.get("script_info"), d.get("file_info"), d.get("approval_info")
    return StepDetail(
        read_int(d["id"]),
        StepType(read_code(d["type"])),
        _text(d.get("name")),
        _script_step(script) if isinstance(script, dict) else None,
        _file_step(files) if isinstance(files, dict) else None,
        _text(approval.get("approval_message")) if isinstance(approval, dict) else None,
    )


def _text_of(value: str | None) -> str | None:
    """Return the text a plan's detail sends in base64 (``Base64Util.encodeContentToStr``);
    a value that is not base64 of UTF-8 is kept as sent."""
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return value


def plan_step_v3(d: Mapping[str, Any]) -> PlanStep:
    """Read a plan's step (``EsbStepV3DTO`` as ``TaskStepDTO.toEsbStepV3`` fills it): a
    script's text and parameters in base64 (read as text), its account by id only."""
    step = _step(d)
    script = step.script
    if script is not None:
        script = attrs.evolve(
            script, content=_text_of(script.content), param=_text_of(script.param)
        )
    return PlanStep(step.id, step.name, step.type, script, step.file, step.approval_message)


def plan_step_v2(d: Mapping[str, Any]) -> PlanStep:
    """Read v2's plan step (``EsbStepDTO``): the fields of every kind side by side, texts as
    stored (no base64), accounts by alias.

    bk-job writes a script step's script source over its ``type`` (1 local, 2 the scope's,
    3 public: ``EsbGetJobDetailResourceImpl.buildScriptStep``), so a step that carries a
    script (a timeout, a text or a script version) and no file source is a script step
    whatever its ``type`` says, and that ``type`` is its ``script.source``.
    """
    get = d.get
    code, account = read_code(d["type"]), _text(get("account"))
    ref = AccountRef(_number(get("account_id")), None, account)
    sources = get("file_source")
    scripted = any(get(k) is not None for k in ("script_timeout", "script_content", "script_id"))
    if sources is None and scripted:
        script = ScriptStepDetail(
            None if code not in (1, 2, 3) else ScriptSource(code),
            None,
            _number(get("script_id")),  # (v2's script_id is a version id)
            _text(get("script_content")),
            None,
            _text(get("script_param")),
            _number(get("script_timeout")),
            ref,
            _targets(d),
            _flag(get("is_param_sensitive")),
        )
        return PlanStep(read_int(d["step_id"]), _text(get("name")), StepType.SCRIPT, script)
    kind = StepType(code)
    files = None
    if sources is not None:
        rows = tuple(
            StepFileSource(
                read_code(row.get("file_type") or 1),
                _texts(row.get("files")),
                _targets(row),
                AccountRef(None, None, _text(row.get("account"))),
                _number(row.get("file_source_id")),
            )
            for row in read_rows(sources)
        )
        where = FileDestination(_text(get("file_target_path")), ref, _targets(d))
        files = FileStepDetail(rows, where)
    return PlanStep(
        read_int(d["step_id"]),
        _text(get("name")),
        kind,
        file=files,
        approval_message=_text(get("confirm_message")),
    )


def _policy(d: Mapping[str, Any]) -> NotifyPolicy:
    raw = d.get("resource_status_channel_map") or {}
    if not isinstance(raw, dict):
        raise ValueError(f"expected a map of channels, got {type(raw).__name__}")
    channels = {  # (a channel whose Boolean is null says nothing: left out)
        _str(status, None): {
            _str(k, None): read_bool(v) for k, v in (row or {}).items() if v is not None
        }
        for status, row in raw.items()
    }
    return NotifyPolicy(
        _str(d["trigger_type"], None),
        _texts(d.get("resource_type_list")),
        _texts(d.get("role_list")),
        _texts(d.get("extra_observer_list")),
        channels,
    )


def _upload_urls(d: Mapping[str, Any]) -> UploadUrls:
    found = d.get("url_map") or {}
    if not isinstance(found, dict):
        raise ValueError(f"expected a map of URLs, got {type(found).__name__}")
    return UploadUrls(
        UploadUrl(_str(name, None), _str(row["upload_url"], None), _str(row["path"], None))
        for name, row in found.items()
    )


def _v3(c: cattrs.Converter) -> None:
    when = _times(c)

    def credential(d: Mapping[str, Any], _: object) -> CredentialDetail:
        return CredentialDetail(
            _str(d["id"], None),
            _text(d.get("name")),
            _named(d.get("type"), CredentialType),
            _text(d.get("description")),
            *_audit(d, when),
        )

    def file_source(d: Mapping[str, Any], _: object) -> FileSourceDetail:
        enabled = d.get("enable")
        return FileSourceDetail(
            read_int(d["id"]),
            _text(d.get("code")),
            _text(d.get("alias")),
            _number(d.get("status")),
            _named(d.get("file_source_type_code"), FileSourceType),
            None if d.get("is_public") is None else read_bool(d["is_public"]),
            _text(d.get("credential_id")),
            None if enabled is None else read_bool(enabled),
            *_audit(d, when),
        )

    def template(d: Mapping[str, Any]) -> JobTemplate:
        name, description = _text(d.get("name")), _text(d.get("description"))
        return JobTemplate(read_int(d["id"]), name, description, *_audit(d, _epoch_time))

    def encryption(d: Mapping[str, Any], _: object) -> PasswordEncryption:
        return PasswordEncryption(_str(d["public_key"], None), _str(d["encrypt_algorithm"], None))

    c.register_structure_hook(CredentialDetail, credential)
    c.register_structure_hook(FileSourceDetail, file_source)
    c.register_structure_hook(JobTemplate, lambda d, _: template(d))
    c.register_structure_hook(JobTemplatePage, _page(JobTemplatePage, template))
    c.register_structure_hook(StepDetail, lambda d, _: _step(d))
    c.register_structure_hook(NotifyPolicy, lambda d, _: _policy(d))
    c.register_structure_hook(PasswordEncryption, encryption)
    c.register_structure_hook(UploadUrls, lambda d, _: _upload_urls(d))


def _v2(c: cattrs.Converter) -> None:
    """v2 reads ``get_os_account`` rows (``id``) and ``get_own_db_account_list`` rows
    (``db_account_id``) into the one ``ExecutionAccount``."""
    system = c.get_structure_hook(ExecutionAccount)

    def account(d: Mapping[str, Any], cls: object) -> ExecutionAccount:
        if "db_account_id" not in d:
            return system(d, cls)  # type: ignore[no-any-return]
        created = d.get("create_time")  # EsbGetDBAccountListResourceImpl formats it in UTC
        return ExecutionAccount(
            read_int(d["db_account_id"]),
            _text(d.get("account")),
            _text(d.get("db_alias")),
            AccountCategory.DB,
            creator=_text(d.get("creator")),
            create_time=None if created is None else _utc_text(created),
        )

    c.register_structure_hook(ExecutionAccount, account)


def register(c: cattrs.Converter, generation: Generation) -> None:
    """Add this module's hooks to ``generation``'s converter ``c``."""
    (_v3 if generation is Generation.V3 else _v2)(c)
