"""Rule: the scripts family's rows check names as bk-job does, before a request; pure, no I/O.

The scripts family: a scope's and the public library's scripts and their versions, and
``check_script``.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O. A script's text
goes to bk-job base64-encoded (the spellings encode it); bk-job answers it decoded. bk-job
validates a script's name (at most 60 characters, none of ``\\ | / : * < > " ?``) and a
version's name (at most 60 of ``A-Z a-z 0-9 _ - # @ .``) with bean validation
(``EsbCreateScriptV3Req``); the spellings check the same before sending. ESB v2 lists scripts by
their online version (``get_script_list``, ``get_public_script_list``: ``script_type``,
``script_name``) and reads one version by id (``get_script_detail``, v2 only).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .._params import b64, check_language, check_text, optional_text, paging
from ..config import Scope, check_id
from ..models import (
    Script,
    ScriptCheckItem,
    ScriptLanguage,
    ScriptPage,
    ScriptVersion,
    ScriptVersionPage,
    ScriptVersionState,
)
from ._api import (
    GET,
    POST,
    Pager,
    Params,
    checked,
    model,
    nothing,
    optional,
    renamed,
    row,
    v2_scoped,
    v3_scoped,
    with_scope,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CHECK_SCRIPT",
    "CREATE_PUBLIC_SCRIPT",
    "CREATE_PUBLIC_SCRIPT_VERSION",
    "CREATE_SCRIPT",
    "CREATE_SCRIPT_VERSION",
    "DELETE_PUBLIC_SCRIPT",
    "DELETE_PUBLIC_SCRIPT_VERSION",
    "DELETE_SCRIPT",
    "DELETE_SCRIPT_VERSION",
    "DISABLE_PUBLIC_SCRIPT_VERSION",
    "DISABLE_SCRIPT_VERSION",
    "GET_PUBLIC_SCRIPT_LIST",
    "GET_PUBLIC_SCRIPT_VERSION_DETAIL",
    "GET_PUBLIC_SCRIPT_VERSION_LIST",
    "GET_SCRIPT_DETAIL",
    "GET_SCRIPT_LIST",
    "GET_SCRIPT_VERSION_DETAIL",
    "GET_SCRIPT_VERSION_LIST",
    "PUBLISH_PUBLIC_SCRIPT_VERSION",
    "PUBLISH_SCRIPT_VERSION",
    "UPDATE_PUBLIC_SCRIPT_BASIC",
    "UPDATE_PUBLIC_SCRIPT_VERSION",
    "UPDATE_SCRIPT_BASIC",
    "UPDATE_SCRIPT_VERSION",
]

#: ``EsbCreateScriptV3Req``'s patterns and limits.
_NAME_FORBIDDEN = re.compile(r'[\\|/:*<>"?]')
_VERSION_NAME = re.compile(r"[A-Za-z0-9_\-#@.]+")
_MAX_NAME = 60


def _language(
    value: ScriptLanguage | int | str | None, name: str = "script_language"
) -> int | None:
    return None if value is None else int(check_language(value, name))


def _name(name: str) -> str:
    check_text(name, "name")
    if len(name) > _MAX_NAME:
        raise ValueError(f"name must be at most {_MAX_NAME} characters, got {len(name)}")
    if _NAME_FORBIDDEN.search(name):
        raise ValueError('name must not contain any of \\ | / : * < > " ?')
    return name


def _version_name(version: str) -> str:
    check_text(version, "version")
    if len(version) > _MAX_NAME or not _VERSION_NAME.fullmatch(version):
        raise ValueError(
            f"version must be 1..{_MAX_NAME} of the characters A-Z a-z 0-9 _ - # @ ., "
            f"got {version!r}"
        )
    return version


def _content(content: str) -> str:
    if not isinstance(content, str):
        raise TypeError(
            f"content must be a str (the client base64-encodes it), not {type(content).__name__}"
        )
    if not content:
        raise ValueError("content must not be empty")
    return b64(content)


def _script_id(script_id: str) -> str:
    return check_text(script_id, "script_id")


# --- lists ---------------------------------------------------------------------------------------


def _filters(
    name: str | None, script_language: ScriptLanguage | int | None, start: int, length: int
) -> tuple[str | None, int | None, Params]:
    text = None if name is None else check_text(name, "name")
    return text, _language(script_language), paging(start, length)


def script_list(
    *,
    name: str | None = None,
    script_language: ScriptLanguage | int | None = None,
    start: int = 0,
    length: int = 20,
) -> Params:
    """Spell ``get_public_script_list`` (scoped: ``get_script_list``): the scripts with an
    online version."""
    text, language, page = _filters(name, script_language, start, length)
    return {"name": text, "script_language": language, **page}


#: v2's names for the list's filters.
_V2_FILTERS = "name=script_name script_language=script_type"


GET_SCRIPT_LIST = row(
    "get_script_list",
    GET,
    model(ScriptPage),
    v3=with_scope(script_list, v3_scoped),
    v2=with_scope(script_list, v2_scoped, _V2_FILTERS),
    doc="""Return one page of a scope's scripts that have an online version.

    ``scope=None`` lists the public scripts (``get_public_script_list``). ESB v2 lists a
    script by its online version: ``script_id`` is ``None`` there, ``version`` and
    ``online_script_version_id`` are the online version's.
    """,
    resource="`EsbScriptV3Resource`; v2 `EsbGetScriptListResource`",
    public="get_public_script_list",
    pager=Pager(
        "iter_scripts",
        Script,
        ("script_id", "online_script_version_id"),
        """Yield every script ``get_script_list`` matches (``scope=None``: the public ones).""",
    ),
)
GET_PUBLIC_SCRIPT_LIST = row(
    "get_public_script_list",
    GET,
    model(ScriptPage),
    v3=script_list,
    v2=renamed(script_list, _V2_FILTERS),
    doc="""Return one page of the public library's scripts that have an online version.""",
    resource="`EsbPublicScriptV3Resource`; v2 `EsbGetPublicScriptListResource`",
)


def version_list(
    script_id: str, *, return_script_content: bool = False, start: int = 0, length: int = 20
) -> Params:
    """Spell ``get_public_script_version_list`` (scoped: ``get_script_version_list``)."""
    content = return_script_content
    if not isinstance(content, bool):
        raise TypeError(f"return_script_content must be a bool, not {type(content).__name__}")
    return {"script_id": _script_id(script_id), "return_script_content": content} | paging(
        start, length
    )


GET_SCRIPT_VERSION_LIST = row(
    "get_script_version_list",
    GET,
    model(ScriptVersionPage),
    v3=with_scope(version_list, v3_scoped),
    doc="""Return one page of a script's versions, last changed first (v3 only).

    Their text (``content``) comes only with ``return_script_content``; ``scope=None`` reads a
    public script's (``get_public_script_version_list``).
    """,
    resource="`EsbScriptV3Resource`",
    public="get_public_script_version_list",
    pager=Pager(
        "iter_script_versions",
        ScriptVersion,
        ("script_version_id",),
        """Yield every version of a script (``scope=None``: a public one), a page at a time.""",
    ),
)
GET_PUBLIC_SCRIPT_VERSION_LIST = row(
    "get_public_script_version_list",
    GET,
    model(ScriptVersionPage),
    v3=version_list,
    doc="""Return one page of a public script's versions, last changed first (v3 only).""",
    resource="`EsbPublicScriptV3Resource`",
)

# --- one version ---------------------------------------------------------------------------------


def version_detail(
    *,
    script_version_id: int | None = None,
    script_id: str | None = None,
    version: str | None = None,
) -> Params:
    """Spell ``get_public_script_version_detail`` (scoped: ``get_script_version_detail``): a
    version by ``id``, or by ``script_id`` and ``version`` (bk-job ignores the pair when the id
    is given, so both are refused)."""
    if script_version_id is not None:
        if script_id is not None or version is not None:
            raise ValueError(
                "give script_version_id, or script_id and version: bk-job ignores the "
                "others when script_version_id is given"
            )
        return {"id": check_id(script_version_id, "script_version_id")}
    if script_id is None or version is None:
        raise ValueError("give script_version_id, or script_id and version")
    return {"script_id": _script_id(script_id), "version": check_text(version, "version")}


GET_SCRIPT_VERSION_DETAIL = row(
    "get_script_version_detail",
    GET,
    optional(ScriptVersion),
    v3=with_scope(version_detail, v3_scoped),
    doc="""Return one script version with its text (v3 only; v2: ``get_script_detail``).

    Name it by ``script_version_id``, or by ``script_id`` and ``version``; ``scope=None``
    reads the public library (``get_public_script_version_detail``). A version bk-job
    lacks is a ``NotFoundError`` (bk-job 3.8 on; before, ``None``).
    """,
    resource="`EsbScriptV3Resource`",
    public="get_public_script_version_detail",
)
GET_PUBLIC_SCRIPT_VERSION_DETAIL = row(
    "get_public_script_version_detail",
    GET,
    optional(ScriptVersion),
    v3=version_detail,
    doc="""Return one public script version with its text (v3 only; as
    ``get_script_version_detail``).
    """,
    resource="`EsbPublicScriptV3Resource`",
)


def script_detail(scope: Scope | None, script_version_id: int) -> Params:
    """Spell v2's ``get_script_detail``: a version by id (``scope=None``: a public one)."""
    version = {"id": check_id(script_version_id, "script_version_id")}
    return version if scope is None else v2_scoped(scope, **version)


GET_SCRIPT_DETAIL = row(
    "get_script_detail",
    GET,
    checked(ScriptVersion, "script version", "id", lambda a: a.script_version_id),
    v2=script_detail,
    doc="""Return one script version by id, without its text (ESB v2 only; on v3 use
    ``get_script_version_detail``). ``scope=None`` reads a public script's version.
    """,
    resource="v2 `EsbGetScriptDetailResource`",
)

# --- writes --------------------------------------------------------------------------------------


def new_script(
    *,
    name: str,
    content: str,
    version: str,
    script_language: ScriptLanguage | int = ScriptLanguage.SHELL,
    description: str | None = None,
    version_desc: str | None = None,
) -> Params:
    """Spell ``create_public_script`` (scoped: ``create_script``)."""
    return {
        "name": _name(name),
        "description": optional_text(description, "description"),
        "script_language": _language(script_language),
        "content": _content(content),
        "version": _version_name(version),
        "version_desc": optional_text(version_desc, "version_desc"),
    }


CREATE_SCRIPT = row(
    "create_script",
    POST,
    model(ScriptVersion),
    v3=with_scope(new_script, v3_scoped),
    doc="""Create a script in a scope's library with its first version, a draft (v3 only).

    ``content`` is the text (the client base64-encodes it). ``name`` is at most 60
    characters, none of ``\\ | / : * < > " ?``; ``version`` at most 60 of
    ``A-Z a-z 0-9 _ - # @ .``. A name the scope has already is refused (1243002).
    ``publish_script_version`` puts the version online.
    """,
    resource="`EsbScriptV3Resource`",
)
CREATE_PUBLIC_SCRIPT = row(
    "create_public_script",
    POST,
    model(ScriptVersion),
    v3=new_script,
    doc="""Create a script in the public library, as ``create_script`` does (v3 only).""",
    resource="`EsbPublicScriptV3Resource`",
)


def new_version(
    script_id: str, *, content: str, version: str, version_desc: str | None = None
) -> Params:
    """Spell ``create_public_script_version`` (scoped: ``create_script_version``)."""
    return {
        "script_id": _script_id(script_id),
        "content": _content(content),
        "version": _version_name(version),
        "version_desc": optional_text(version_desc, "version_desc"),
    }


CREATE_SCRIPT_VERSION = row(
    "create_script_version",
    POST,
    model(ScriptVersion),
    v3=with_scope(new_version, v3_scoped),
    doc="""Add a draft version to a script (v3 only); a version name it has is refused.""",
    resource="`EsbScriptV3Resource`",
)
CREATE_PUBLIC_SCRIPT_VERSION = row(
    "create_public_script_version",
    POST,
    model(ScriptVersion),
    v3=new_version,
    doc="""Add a draft version to a public script (v3 only).""",
    resource="`EsbPublicScriptV3Resource`",
)


def basic(script_id: str, *, name: str, description: str | None = None) -> Params:
    """Spell ``update_public_script_basic`` (scoped: ``update_script_basic``)."""
    return {
        "script_id": _script_id(script_id),
        "name": _name(name),
        "description": optional_text(description, "description"),
    }


UPDATE_SCRIPT_BASIC = row(
    "update_script_basic",
    POST,
    model(Script),
    v3=with_scope(basic, v3_scoped),
    doc="""Rename a script and (if given) describe it anew (v3 only).

    bk-job answers the script's row without its online version
    (``online_script_version_id`` is ``None``).
    """,
    resource="`EsbScriptV3Resource`",
)
UPDATE_PUBLIC_SCRIPT_BASIC = row(
    "update_public_script_basic",
    POST,
    model(Script),
    v3=basic,
    doc="""Rename a public script and (if given) describe it anew (v3 only).""",
    resource="`EsbPublicScriptV3Resource`",
)


def version_ids(script_id: str, script_version_id: int) -> Params:
    """Spell a version's operation (publish, disable, delete; scoped or public)."""
    return {
        "script_id": _script_id(script_id),
        "script_version_id": check_id(script_version_id, "script_version_id"),
    }


def new_text(
    script_id: str, script_version_id: int, *, content: str, version_desc: str | None = None
) -> Params:
    """Spell ``update_public_script_version`` (scoped: ``update_script_version``)."""
    return {
        **version_ids(script_id, script_version_id),
        "content": _content(content),
        "version_desc": optional_text(version_desc, "version_desc"),
    }


UPDATE_SCRIPT_VERSION = row(
    "update_script_version",
    POST,
    checked(ScriptVersion, "script version", "script_version_id", lambda a: a.script_version_id),
    v3=with_scope(new_text, v3_scoped),
    doc="""Replace a draft version's text (v3 only); any other version is refused (1241003).""",
    resource="`EsbScriptV3Resource`",
)
UPDATE_PUBLIC_SCRIPT_VERSION = row(
    "update_public_script_version",
    POST,
    checked(ScriptVersion, "script version", "script_version_id", lambda a: a.script_version_id),
    v3=new_text,
    doc="""Replace a public draft version's text (v3 only).""",
    resource="`EsbPublicScriptV3Resource`",
)


_STATE = checked(
    ScriptVersionState, "script version", "script_version_id", lambda a: a.script_version_id
)
PUBLISH_SCRIPT_VERSION = row(
    "publish_script_version",
    POST,
    _STATE,
    v3=with_scope(version_ids, v3_scoped),
    doc="""Put a version online; the script's online one goes offline (v3 only).

    A disabled version cannot be published (1241003).
    """,
    resource="`EsbScriptV3Resource`",
)
PUBLISH_PUBLIC_SCRIPT_VERSION = row(
    "publish_public_script_version",
    POST,
    _STATE,
    v3=version_ids,
    doc="""Put a public script's version online (v3 only).""",
    resource="`EsbPublicScriptV3Resource`",
)
DISABLE_SCRIPT_VERSION = row(
    "disable_script_version",
    POST,
    _STATE,
    v3=with_scope(version_ids, v3_scoped),
    doc="""Disable an online or offline version: it never runs again (v3 only).""",
    resource="`EsbScriptV3Resource`",
)
DISABLE_PUBLIC_SCRIPT_VERSION = row(
    "disable_public_script_version",
    POST,
    _STATE,
    v3=version_ids,
    doc="""Disable a public script's version (v3 only).""",
    resource="`EsbPublicScriptV3Resource`",
)
DELETE_SCRIPT_VERSION = row(
    "delete_script_version",
    POST,
    nothing,
    v3=with_scope(version_ids, v3_scoped),
    doc="""Delete one version; the script goes with its last (v3 only).""",
    resource="`EsbScriptV3Resource`",
)
DELETE_PUBLIC_SCRIPT_VERSION = row(
    "delete_public_script_version",
    POST,
    nothing,
    v3=version_ids,
    doc="""Delete one version of a public script (v3 only).""",
    resource="`EsbPublicScriptV3Resource`",
)


def delete(script_id: str) -> Params:
    """Spell ``delete_public_script`` (scoped: ``delete_script``)."""
    return {"script_id": _script_id(script_id)}


DELETE_SCRIPT = row(
    "delete_script",
    POST,
    nothing,
    v3=with_scope(delete, v3_scoped),
    doc="""Delete a script and every version of it (v3 only).""",
    resource="`EsbScriptV3Resource`",
)
DELETE_PUBLIC_SCRIPT = row(
    "delete_public_script",
    POST,
    nothing,
    v3=delete,
    doc="""Delete a public script and every version of it (v3 only).""",
    resource="`EsbPublicScriptV3Resource`",
)

# --- check_script --------------------------------------------------------------------------------


def check_script(
    content: str, *, script_language: ScriptLanguage | int = ScriptLanguage.SHELL
) -> Params:
    """Spell ``check_script``: the text's dangerous lines (no scope: the rules are global)."""
    return {"script_language": _language(script_language), "content": _content(content)}


def _findings(parse: Any, data: Any, sent: Mapping[str, Any], /) -> tuple[ScriptCheckItem, ...]:
    return parse(data, tuple[ScriptCheckItem, ...])  # type: ignore[no-any-return]


#: A check keeps no state: safe to send again.
CHECK_SCRIPT = row(
    "check_script",
    POST,
    _findings,
    v3=check_script,
    idempotent=True,
    doc="""Check a script's text against the enabled dangerous-command rules (v3 only).

    ``content`` is the text (the client base64-encodes it); each finding names the line.
    """,
    resource="`EsbScriptV3Resource`",
)
