"""Rule: the script and dangerous-rule families' hooks only, added by ``_core``; no I/O.

The converter's hooks for the script library, ``check_script`` and dangerous-command rules.

Rule: hooks only, registered by ``_core`` on its per-generation converters; no I/O. v3
follows ``EsbScriptVersionDetailV3DTO`` (pages of versions as ``EsbPageDataV3``),
``EsbScriptVersionStatusV3DTO``, ``EsbCheckScriptV3DTO``, ``EsbDangerousRuleV3DTO`` and
``EsbDangerousRuleStatusV3DTO``. ESB v2 lists and details a script by its online version
(``EsbScriptDTO``: ``id`` is the version's id, ``type`` the language, times in UTC text) in an
``EsbPageData`` page (``page_size``, ``total_record_size``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cattrs.gen import make_dict_structure_fn, override

from ..models import (
    DangerousRule,
    DangerousRuleAction,
    DangerousRuleState,
    DangerousRuleStatus,
    Script,
    ScriptCheckItem,
    ScriptPage,
    ScriptVersion,
    ScriptVersionPage,
    ScriptVersionState,
)
from ._readers import (
    _audit,
    _number,
    _optional,
    _page,
    _text,
    _times,
    _utc_text,
    read_code,
    read_int,
    read_rows,
)

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Mapping

    import cattrs

__all__ = ["scripts_v2", "scripts_v3"]

_CHECK_ITEMS = tuple[ScriptCheckItem, ...]
_RULES = tuple[DangerousRule, ...]


def scripts_v3(c: cattrs.Converter) -> None:
    """Register the v3 hooks (after the catalog's, whose ``ScriptVersion`` hook they reuse)."""
    version = c.get_structure_hook(ScriptVersion)
    check_item = c.get_structure_hook(ScriptCheckItem)
    when = _times(c)

    def rule(d: Mapping[str, Any]) -> DangerousRule:
        action, status = d.get("action"), d.get("status")
        return DangerousRule(
            read_int(d["id"]),
            _text(d.get("expression")),
            tuple(read_code(x) for x in read_rows(d.get("script_language_list"))),
            _text(d.get("description")),
            None if action is None else DangerousRuleAction(read_code(action)),
            None if status is None else DangerousRuleStatus(read_code(status)),
            *_audit(d, when),
        )

    c.register_structure_hook(
        Script, make_dict_structure_fn(Script, c, script_id=override(rename="id"))
    )
    c.register_structure_hook(
        ScriptVersionPage, _page(ScriptVersionPage, lambda d: version(d, ScriptVersion))
    )
    c.register_structure_hook(
        ScriptVersionState,
        make_dict_structure_fn(ScriptVersionState, c, script_version_id=override(rename="id")),
    )
    c.register_structure_hook_func(
        lambda t: t == _CHECK_ITEMS,
        lambda data, _: tuple(check_item(row, ScriptCheckItem) for row in read_rows(data)),
    )
    c.register_structure_hook(DangerousRule, lambda d, _: rule(d))
    c.register_structure_hook_func(
        lambda t: t == _RULES, lambda data, _: tuple(rule(row) for row in read_rows(data))
    )
    c.register_structure_hook(DangerousRuleState, make_dict_structure_fn(DangerousRuleState, c))


def _v2_when(value: Any) -> _dt.datetime | None:
    return None if value is None else _utc_text(value)


def _v2_language(d: Mapping[str, Any]) -> int | None:
    return _optional(d.get("type"), read_code)


def _v2_dto(d: Mapping[str, Any]) -> dict[str, Any]:
    """Read what an ``EsbScriptDTO`` says of a script and of a version alike."""
    return {
        "name": _text(d.get("name")),
        "version": _text(d.get("version")),
        "content": _text(d.get("content")),
        "script_language": _v2_language(d),
        "creator": _text(d.get("creator")),
        "create_time": _v2_when(d.get("create_time")),
        "last_modify_user": _text(d.get("last_modify_user")),
        "last_modify_time": _v2_when(d.get("last_modify_time")),
    }


def _v2_script(d: Mapping[str, Any]) -> Script:
    """Read one ``EsbScriptDTO`` row of v2's script lists: a script by its online version."""
    return Script(None, online_script_version_id=_number(d.get("id")), **_v2_dto(d))


def _v2_version(d: Mapping[str, Any], _: object) -> ScriptVersion:
    """Read v2's ``get_script_detail`` (``EsbScriptDTO``; no content, no status)."""
    return ScriptVersion(read_int(d["id"]), **_v2_dto(d))


def _v2_page(d: Mapping[str, Any], _: object) -> ScriptPage:
    """Read ``EsbPageData``: ``{start, page_size, total_record_size, data}``."""
    rows = read_rows(d.get("data"))
    return ScriptPage(
        read_int(d.get("start") or 0),
        read_int(d.get("page_size") or 0),
        read_int(d.get("total_record_size") or 0),
        tuple(_v2_script(row) for row in rows),
    )


def scripts_v2(c: cattrs.Converter) -> None:
    """Register the v2 hooks: ``get_script_list``, ``get_public_script_list``,
    ``get_script_detail``."""
    c.register_structure_hook(ScriptPage, _v2_page)
    c.register_structure_hook(ScriptVersion, _v2_version)
