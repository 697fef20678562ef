"""The templates family's hooks: a template, a step's detail, a plan's steps (v3 and v2); no I/O.

Templates (``EsbTemplateBasicInfoV3DTO``: epoch **seconds**, as plans), a step's detail
(``EsbStepV3DTO``) and a plan's steps (``plan_step_v3``, ``plan_step_v2``, read by the catalog's
hooks in ``_core``). ``register`` adds them to one generation's converter; every reader here
raises only what the converter turns into ``ResponseFormatError``.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

import attrs

from ..models import PlanStep, StepType
from ..models.templates import (
    AccountRef,
    FileDestination,
    FileStepDetail,
    JobTemplate,
    JobTemplatePage,
    ScriptSource,
    ScriptStepDetail,
    StepDetail,
    StepFileSource,
    TemplateApproval,
    TemplateStep,
    TransferMode,
)
from ._readers import (
    Generation,
    _audit,
    _epoch_time,
    _number,
    _page,
    _targets,
    _text,
    _texts,
    read_bool,
    read_code,
    read_int,
    read_rows,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import cattrs

    from ..models.requests import Targets

__all__ = ["plan_step_v2", "plan_step_v3", "register", "template_step_v4", "v4_targets"]


def _flag(value: Any) -> bool:
    return value is not None and read_bool(value)


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


def v4_targets(d: Any) -> tuple[Targets | None, str | None]:
    """Read a template's ``execute_target`` (``V4JobTemplateExecuteTargetDTO``): hosts by
    ``bk_host_id`` or ``(bk_cloud_id, ip)``, dynamic groups, topology nodes, or a variable."""
    if not isinstance(d, dict):
        return None, None
    legacy = {
        "ip_list": [row for row in read_rows(d.get("host_list")) if isinstance(row, dict)],
        "dynamic_group_list": d.get("dynamic_group_list"),
        "topo_node_list": d.get("topo_node_list"),
    }
    return _targets(legacy), _text(d.get("variable"))


def _v4_file_step(d: Mapping[str, Any]) -> FileStepDetail:
    step, rows = _file_step(d), read_rows(d.get("file_source_list"))
    sources = []
    for source, row in zip(step.sources, rows, strict=True):
        targets, variable = v4_targets(row.get("execute_target"))
        sources.append(attrs.evolve(source, targets=targets, target_variable=variable))
    destination = step.destination
    if destination is not None:
        targets, variable = v4_targets(d["file_destination"].get("execute_target"))
        destination = attrs.evolve(destination, targets=targets, target_variable=variable)
    return attrs.evolve(step, sources=tuple(sources), destination=destination)


def _approval(d: Mapping[str, Any]) -> TemplateApproval:
    user = d.get("approval_user")
    who: Mapping[str, Any] = user if isinstance(user, dict) else {}
    return TemplateApproval(
        _number(d.get("approval_type")),
        _texts(who.get("user_list")),
        _texts(who.get("role_list")),
        _text(d.get("approval_message")),
        _texts(d.get("notify_channel")),
    )


def template_step_v4(d: Mapping[str, Any]) -> TemplateStep:
    """Read a template's step (``V4JobTemplateStepDTO``) with its script, files or approval."""
    kind = d.get("type")
    script, files, approval = d.get("script_info"), d.get("file_info"), d.get("approval_info")
    script_step = None
    if isinstance(script, dict):
        targets, variable = v4_targets(script.get("execute_target"))
        script_step = attrs.evolve(
            _script_step(script),
            content=_text_of(_text(script.get("script_content"))),
            param=_text_of(_text(script.get("script_param"))),
            targets=targets,
            target_variable=variable,
        )
    return TemplateStep(
        read_int(d["id"]),
        _text(d.get("name")),
        None if kind is None else StepType.of(read_code(kind)),
        script_step,
        _v4_file_step(files) if isinstance(files, dict) else None,
        _approval(approval) if isinstance(approval, dict) else None,
    )


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


def _v3(c: cattrs.Converter) -> None:
    def template(d: Mapping[str, Any]) -> JobTemplate:
        name, description = _text(d.get("name")), _text(d.get("description"))
        return JobTemplate(read_int(d["id"]), name, description, *_audit(d, _epoch_time))

    c.register_structure_hook(JobTemplate, lambda d, _: template(d))
    c.register_structure_hook(JobTemplatePage, _page(JobTemplatePage, template))
    c.register_structure_hook(StepDetail, lambda d, _: _step(d))


def register(c: cattrs.Converter, generation: Generation) -> None:
    """Add this module's hooks to ``generation``'s converter ``c`` (v3 only: v2 reads plan steps)."""
    if generation is Generation.V3:
        _v3(c)
