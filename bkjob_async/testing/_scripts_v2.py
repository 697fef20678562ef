"""Rule: as ``_api``, v2's script endpoints see parameters, never HTTP.

The simulated script library as ESB v2 reads it: a script by its online version.

Rule: as ``_api``, handlers see parameters, never HTTP. They follow
``EsbGetScriptListResourceImpl``, ``EsbGetPublicScriptListResourceImpl`` and
``EsbGetScriptDetailResourceImpl``: rows are ``EsbScriptDTO`` (``id`` the version's id,
``type`` the language, times in UTC text) in an ``EsbPageData`` page.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from . import _codes as codes
from ._api import ApiFailure, Call, Endpoint, scope_of
from ._render import v2_time
from ._scripts import LANGUAGES, find_version, newest_first

if TYPE_CHECKING:
    from ._store import SimScript, SimScriptVersion
    from ._world import World

__all__ = ["V2_ENDPOINTS"]

_UTC = _dt.timezone.utc


def _v2_row(world: World, script: SimScript, row: SimScriptVersion, content: bool) -> Any:
    """Render v2's ``EsbScriptDTO`` (times in UTC text, as ``DateUtils`` with ``UTC``)."""
    scope = {} if script.scope is None else {"bk_biz_id": script.scope.id}
    return {
        **scope,
        "id": row.id,
        "name": script.name,
        "public": script.scope is None,
        "version": row.version,
        "tag": None,
        "type": script.language,
        "creator": script.creator,
        "create_time": v2_time(script.create_ms, _UTC),
        "last_modify_user": row.modifier,
        "last_modify_time": v2_time(row.modify_ms, _UTC),
        "content": row.content if content else None,
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


V2_ENDPOINTS: dict[str, Endpoint] = {
    "get_script_list": Endpoint(lambda w, c: _v2_list(w, c, False), None),
    "get_public_script_list": Endpoint(lambda w, c: _v2_list(w, c, True), None),
    "get_script_detail": Endpoint(_v2_detail, None),
}
