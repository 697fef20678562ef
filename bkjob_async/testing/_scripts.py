"""Rule: as ``_api``, the script library's endpoints see parameters, never HTTP.

The simulated script library: scripts and public scripts through their lifecycle.

Rule: as ``_api``, handlers see parameters, never HTTP. They follow ``EsbScriptResourceV3Impl``,
``EsbPublicScriptResourceV3Impl`` and ``ScriptManagerImpl``, and v2's reads
(``EsbGetScriptListResourceImpl``, ``EsbGetPublicScriptListResourceImpl``,
``EsbGetScriptDetailResourceImpl``: a script by its online version, ``EsbScriptDTO``). A new
script or version is a draft (0); publishing puts a version online (1) and the script's
previous online version offline (2); only an online or offline version can be disabled (3),
and a disabled one cannot be published again; only a draft's content can be updated. A failed
bean validation is 1240003 with its text (``fail``), as ``EsbExceptionControllerAdvice``
answers. Where bk-job would store an orphan version for a script it does not have, the
simulator refuses with 1243001.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import re
from typing import TYPE_CHECKING, Any

from . import _codes as codes
from ._api import ApiFailure, Call, paged, scope_of
from ._field_checks import LANGUAGES
from ._render import v2_time
from ._store import dto

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..config import Scope
    from ._store import SimScript, SimScriptVersion
    from ._world import World

__all__ = ["HANDLERS", "V2_HANDLERS", "decode", "fail", "find_version"]

DRAFT, ONLINE, OFFLINE, DISABLED = 0, 1, 2, 3


def fail(call: Call, key: int | str, *args: object) -> ApiFailure:
    """Return bk-job's refusal: a code (its text is ``_codes``'s), or a failed bean validation,
    1240003 with the text of its key (``codes.VALIDATION``)."""
    if isinstance(key, int):
        return ApiFailure(key, *args)
    return ApiFailure.invalid(key, call.english, *args)


def decode(value: str | None) -> str | None:
    """Decode base64 as commons-codec does: leniently, ``None`` for empty (``Base64Util``)."""
    if not value:
        return None
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", value.replace("-", "+").replace("_", "/"))
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4 if len(cleaned) % 4 == 1 else None]
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4)).decode("utf-8", "replace")


def _scope(call: Call, public: bool) -> Scope | None:
    return None if public else scope_of(call.params)


def _visible(script: SimScript, scope: Scope | None) -> bool:
    """``checkScriptInApp``: a public script is visible from anywhere."""
    return script.scope is None or script.scope == scope


def find_version(
    world: World, call: Call, scope: Scope | None, version_id: int | None
) -> SimScriptVersion:
    """``ScriptManagerImpl.getScriptVersion(appId, id)``: 1243001 if missing, 1243004 if
    another scope's."""
    found = None if version_id is None else world.store.versions.get(version_id)
    if found is None:
        raise fail(call, codes.SCRIPT_NOT_EXIST)
    if not _visible(found.script, scope):
        raise fail(call, codes.SCRIPT_NOT_IN_APP)
    return found


def _script(world: World, call: Call, scope: Scope | None, script_id: str | None) -> SimScript:
    script = world.store.scripts.get(script_id or "")
    if script is None:
        raise fail(call, codes.SCRIPT_NOT_EXIST)
    if not _visible(script, scope):
        raise fail(call, codes.SCRIPT_NOT_IN_APP)
    return script


def _touch(world: World, call: Call, script: SimScript) -> None:
    script.modifier, script.modify_ms = call.username, world.now_ms()


# -- reads -------------------------------------------------------------------------------------


def _list(world: World, call: Call, public: bool) -> object:
    """Online scripts (``get_script_list``): ``start`` below 0 is 0, ``length`` 1..1000 (20 by
    default); a ``script_language`` past 6 is 1241005 ``type``, 0 means every language."""
    scope, name = _scope(call, public), call.params.text("name")
    language, start, length = call.checked()
    rows = [
        s.render()
        for s in sorted(world.store.scripts_of(scope), key=newest_first, reverse=True)
        if (not language or s.language == language) and (not name or name in s.name)
    ]
    return paged(rows, start, length)


def newest_first(script: SimScript) -> tuple[int, str]:
    return script.modify_ms or script.create_ms, script.id


def _version_list(world: World, call: Call, public: bool) -> object:
    """A script's versions, last modified first (``listPageScriptVersion``: ``start`` 0 and
    ``length`` 10 by default, no cap); content only with ``return_script_content``; a script
    that is not the scope's lists nothing. The gateway's GET requires ``script_id``
    (``@RequestParam``): without it, 1240003."""
    params, scope = call.params, _scope(call, public)
    script_id, start, length = call.checked()
    script = world.store.scripts.get(script_id)
    rows = [] if script is None or script.scope != scope else list(script.versions)
    rows.sort(key=lambda v: (v.modify_ms, v.id), reverse=True)
    content = params.flag("return_script_content")
    data = []
    for row in rows[start : start + length]:
        item = row.render()
        if not content:
            item["content"] = None
        data.append(item)
    return {"start": start, "length": length, "total": len(rows), "data": data}


def _version_detail(world: World, call: Call, public: bool) -> object:
    """One version by ``id``, else by ``script_id`` + ``version`` (1241005 naming the missing
    one); 1243001 when there is none, 1243004 when it is another scope's."""
    params, scope = call.params, _scope(call, public)
    version_id = params.long("id")
    if version_id is not None and version_id > 0:
        return find_version(world, call, scope, version_id).render()
    script_id, version = params.text("script_id"), params.text("version")
    if not (script_id or "").strip():
        raise ApiFailure(codes.ILLEGAL_PARAM_NAMED, "script_id")
    if not (version or "").strip():
        raise ApiFailure(codes.ILLEGAL_PARAM_NAMED, "version")
    script = world.store.scripts.get(str(script_id))
    row = next((v for v in script.versions if v.version == version), None) if script else None
    if script is None or row is None or script.scope != scope:
        raise fail(call, codes.SCRIPT_NOT_EXIST)  # the DAO looks the pair up within the scope
    return row.render()


# -- writes ------------------------------------------------------------------------------------


def _create(world: World, call: Call, public: bool) -> object:
    """``createScript``: validate, refuse a name the library has (1243002), store a draft."""
    params, scope = call.params, _scope(call, public)
    name, language, content, version = call.checked()
    content = decode(content) or ""
    if world.store.scripts.find(scope, name=name) is not None:
        raise fail(call, codes.SCRIPT_NAME_DUPLICATE)
    now = world.now_ms()
    script = world.store.new_script(scope, name, language, call.username, now)
    script.description = params.text("description") or ""
    row = world.store.add_version(
        script, version, content, DRAFT, params.text("version_desc"), now, call.username
    )
    return row.render()


def _create_version(world: World, call: Call, public: bool) -> object:
    """``createScriptVersion``: a new draft; a version name the script has is 1243036."""
    params, scope = call.params, _scope(call, public)
    script_id, content, version = call.checked()
    content = decode(content) or ""
    script = _script(world, call, scope, script_id)
    if any(v.version == version for v in script.versions):
        raise fail(call, codes.SCRIPT_VERSION_NAME_EXIST)
    now = world.now_ms()
    row = world.store.add_version(
        script, version, content, DRAFT, params.text("version_desc"), now, call.username
    )
    _touch(world, call, script)
    return row.render()


def _update_basic(world: World, call: Call, public: bool) -> object:
    """``updateScriptName`` then (if given) ``updateScriptDesc``; the answer is the script's
    row without its online version (bk-job reads the script table only). The name's pattern
    is not checked here (bk-job validates it for creation only)."""
    params, scope = call.params, _scope(call, public)
    script_id, name = call.checked()
    script = _script(world, call, scope, script_id)
    if name != script.name:
        if world.store.scripts.find(script.scope, name=name) is not None:
            raise fail(call, codes.SCRIPT_NAME_DUPLICATE)
        script.name = name
    description = params.text("description")
    if description:
        script.description = description
    _touch(world, call, script)
    return {**script.render(), "online_script_version_id": None}


def _update_version(world: World, call: Call, public: bool) -> object:
    """``updateScriptVersion``: only a draft's content and description (1241003 otherwise)."""
    params, scope = call.params, _scope(call, public)
    _, version_id, content = call.checked()
    content = decode(content) or ""
    row = find_version(world, call, scope, version_id)
    if row.status != DRAFT:
        raise fail(call, codes.UNSUPPORTED_OPERATION)
    row.content, row.desc = content, params.text("version_desc")
    row.modifier, row.modify_ms = call.username, world.now_ms()
    return row.render()


def _managed(world: World, call: Call, public: bool) -> SimScriptVersion:
    """The version ``publishScript``/``disableScript`` act on: it must exist in the scope and
    belong to ``script_id`` (1243001 otherwise)."""
    script_id, version_id = call.checked()
    row = find_version(world, call, _scope(call, public), version_id)
    if row.script.id != script_id:
        raise fail(call, codes.SCRIPT_NOT_EXIST)
    return row


def _state(row: SimScriptVersion) -> dict[str, Any]:
    return {"id": row.id, "script_id": row.script.id, "status": row.status}


def _publish(world: World, call: Call, public: bool) -> object:
    """Put a version online and the online one offline; a disabled one is 1241003. Only the
    status changes (``ScriptDAOImpl.updateScriptVersionStatus``)."""
    row = _managed(world, call, public)
    if row.status == DISABLED:
        raise fail(call, codes.UNSUPPORTED_OPERATION)
    for other in row.script.versions:
        if other.status == ONLINE and other is not row:
            other.status = OFFLINE
    row.status = ONLINE
    return _state(row)


def _disable(world: World, call: Call, public: bool) -> object:
    """Disable an online or offline version (1241003 for a draft or a disabled one)."""
    row = _managed(world, call, public)
    if row.status not in (ONLINE, OFFLINE):
        raise fail(call, codes.UNSUPPORTED_OPERATION)
    row.status = DISABLED
    return _state(row)


def _delete(world: World, call: Call, public: bool) -> object:
    """Delete a script and its versions (``deleteScript``)."""
    (script_id,) = call.checked()
    world.store.drop_script(_script(world, call, _scope(call, public), script_id))
    return None


def _delete_version(world: World, call: Call, public: bool) -> object:
    """Delete one version; the script goes with its last (``deleteScriptVersion``)."""
    _, version_id = call.checked()
    world.store.drop_version(find_version(world, call, _scope(call, public), version_id))
    return None


#: The handlers by API name: each serves a scope's library and, as ``*_public_*``, the public one.
HANDLERS: dict[str, Callable[[World, Call], object]] = {
    name.format(prefix): functools.partial(handler, public=bool(prefix))
    for name, handler in (
        ("get_{}script_list", _list),
        ("get_{}script_version_list", _version_list),
        ("get_{}script_version_detail", _version_detail),
        ("create_{}script", _create),
        ("create_{}script_version", _create_version),
        ("update_{}script_basic", _update_basic),
        ("update_{}script_version", _update_version),
        ("publish_{}script_version", _publish),
        ("disable_{}script_version", _disable),
        ("delete_{}script", _delete),
        ("delete_{}script_version", _delete_version),
    )
    for prefix in ("", "public_")
}


# -- v2 -----------------------------------------------------------------------------------------

_UTC = _dt.timezone.utc


def _v2_row(world: World, script: SimScript, row: SimScriptVersion, content: bool) -> Any:
    """Render v2's ``EsbScriptDTO`` (times in UTC text, as ``DateUtils`` with ``UTC``)."""
    scope = {} if script.scope is None else {"bk_biz_id": script.scope.id}
    spec = "id name=script.name public version tag type=script.language creator=script.creator"
    spec += " create_time last_modify_user=modifier last_modify_time content"
    return {
        **scope,
        **dto(
            row,
            spec,
            public=script.scope is None,
            tag=None,
            create_time=v2_time(script.create_ms, _UTC),
            last_modify_time=v2_time(row.modify_ms, _UTC),
            content=row.content if content else None,
        ),
    }


def _v2_list(world: World, call: Call, public: bool) -> object:
    """Online versions as ``EsbPageData``; ``length`` 0 or absent means all, below 0 is 10."""
    params = call.params
    public = public or params.flag("is_public")
    scope = None if public else scope_of(params)
    kind = params.long("script_type")
    if kind is not None and (
        kind not in LANGUAGES if public else kind > 0 and kind not in LANGUAGES
    ):
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "script_type")
    name = params.text("script_name")
    start, length = params.long("start"), params.long("length")
    start = 0 if start is None or start < 0 else start
    length = 2**31 - 1 if not length else (10 if length < 0 else length)
    scripts = sorted(world.store.scripts_of(scope), key=newest_first, reverse=True)
    rows = [
        (s, s.online)
        for s in scripts
        if (not kind or s.language == kind) and (not name or name in s.name)
    ]
    if not rows:
        return {"start": 0, "page_size": 10, "total_record_size": 0, "data": []}
    content = params.flag("return_script_content")
    data = [_v2_row(world, s, v, content) for s, v in rows[start : start + length] if v]
    return {"start": start, "page_size": length, "total_record_size": len(rows), "data": data}


def _v2_detail(world: World, call: Call) -> object:
    """``get_script_detail``: a version by ``id`` (1241007 if absent), no content."""
    params = call.params
    version_id = params.long("id")
    if version_id is None or version_id < 1:
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "id")
    given = params.text("bk_biz_id") or params.text("bk_scope_id")
    scope = scope_of(params) if given else None
    row = find_version(world, call, scope, version_id)
    if row.scope is not None and scope is None:
        raise ApiFailure(codes.MISSING_OR_ILLEGAL_NAMED, "bk_biz_id")
    return _v2_row(world, row.script, row, content=False)


#: The v2 handlers by v2's name.
V2_HANDLERS = {
    "get_script_list": functools.partial(_v2_list, public=False),
    "get_public_script_list": functools.partial(_v2_list, public=True),
    "get_script_detail": _v2_detail,
}
