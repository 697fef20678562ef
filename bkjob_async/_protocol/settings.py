"""Rule: the settings family's rows check before any request; pure, no I/O.

The settings family: a scope's notification policies, the newest version bk-job runs, and
(gateway v4) the scopes a user may use.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O.
``callback_protocol`` is no row: bk-job documents there what it posts to a launch's
``callback_url`` and serves no data (``bkjob_async.polling.Callback`` reads those posts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._params import check_count, check_length
from ..errors import ResponseFormatError
from ..models.settings import NotifyPolicy
from . import _v4
from ._api import GET, POST, Params, Parse, ids, row, v3_scoped

if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["GET_LATEST_SERVICE_VERSION", "GET_NOTIFY_CONFIG", "GET_USER_AUTHORIZED_SCOPES"]


def policies(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> tuple[NotifyPolicy, ...]:
    """Read the policies, one per way of starting a job."""
    return parse(data, tuple[NotifyPolicy, ...])  # type: ignore[no-any-return]


GET_NOTIFY_CONFIG = row(
    "get_notify_config",
    GET,
    policies,
    v3=ids(v3_scoped),
    esb=False,
    doc="""Return a scope's default notification policies, one per way of starting jobs
    (gateway only).
    """,
    resource="`EsbNotifyConfigV3Resource`",
)


def version(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> str | None:
    """Read the version text; ``None`` when bk-job knows no running service."""
    if not isinstance(data, dict):
        raise ResponseFormatError(f"the server answered no version: a {type(data).__name__}")
    found = data.get("version")
    return None if found is None else parse(found, str)


GET_LATEST_SERVICE_VERSION = row(
    "get_latest_service_version",
    POST,
    version,
    v3=ids(None),
    gateway=False,
    idempotent=True,
    doc="""Return the newest version any bk-job service runs (ESB jobv3 only).""",
    resource="`EsbServiceInfoV3Resource`",
)


# --- get_user_authorized_scopes (the gateway v4) -------------------------------------------------

#: ``OpenApiUserScopeV4Resource``: ``length`` 1..200 (default 10).
MAX_SCOPES_LENGTH = 200


def scopes(*, start: int = 0, length: int = 10) -> Params:
    """Spell v4's ``get_user_authorized_scopes``: the user's scopes, ``start`` sent as ``offset``."""
    return {
        "offset": check_count(start, "start"),
        "length": check_length(length, MAX_SCOPES_LENGTH),
    }


GET_USER_AUTHORIZED_SCOPES = row(
    "get_user_authorized_scopes",
    GET,
    _v4.scope_page,
    v4=scopes,
    doc="""Return a page of the scopes the user may use (gateway v4 only; ``length`` 1..200).""",
    resource="v4 `OpenApiUserScopeV4Resource` (`V4GetUserAuthorizedScopesResult`)",
)
