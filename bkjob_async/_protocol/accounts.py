"""Rule: the accounts family's rows refuse what bk-job would, before a request; pure, no I/O.

The accounts family: create, update and delete execution accounts; how bk-job wants their
passwords encrypted; v2's own DB accounts (the list is ``catalog.GET_ACCOUNT_LIST``).

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O. A password is a
secret of its request. The ESB API creates system accounts only: a DB account needs the system
account it runs as, which ``create_account`` cannot name (bk-job answers 1243008), so one is
refused here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._params import check_text
from ..config import Scope, check_id
from ..models import AccountCategory, AccountType, ExecutionAccount
from ..models.settings import PasswordEncryption
from ._api import GET, POST, Params, Parse, ids, model, row, v2_scoped, v3_scoped, with_secrets

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CREATE_ACCOUNT",
    "DELETE_ACCOUNT",
    "GET_ACCOUNT_PASSWORD_ENCRYPTION_METADATA",
    "GET_OWN_DB_ACCOUNT_LIST",
    "UPDATE_ACCOUNT",
]

#: ``@Length`` limits of ``EsbCreateAccountV3Req`` / ``EsbUpdateAccountV3Req``.
_MAX_ALIAS, _MAX_DESCRIPTION = 255, 1024
_MAX_PASSWORD_CREATE, _MAX_PASSWORD_UPDATE = 117, 255


def _optional(value: str | None, name: str, limit: int) -> str | None:
    if value is None:
        return None
    text = check_text(value, name)
    if len(text) > limit:
        raise ValueError(f"{name} is at most {limit} characters (bk-job refuses more)")
    return text


def create_account(
    scope: Scope,
    *,
    account: str,
    type: AccountType | int,
    category: AccountCategory | int = AccountCategory.SYSTEM,
    password: str | None = None,
    alias: str | None = None,
    description: str | None = None,
) -> Params:
    """Spell ``create_account``: a system account (Linux, or Windows with its password)."""
    kind = AccountType(type)
    if not kind.is_known:
        raise ValueError(f"type must be one of {', '.join(t.name for t in AccountType)}")
    if AccountCategory(category) is not AccountCategory.SYSTEM:
        raise ValueError(
            "create_account makes system accounts only: bk-job cannot tie a DB account made "
            "through the API to its system account (it answers 1243008)"
        )
    password = _optional(password, "password", _MAX_PASSWORD_CREATE)
    if kind is AccountType.WINDOWS and password is None:
        raise ValueError("a Windows system account needs its password")
    params = v3_scoped(
        scope,
        account=check_text(account, "account"),
        type=int(kind),
        category=int(AccountCategory.SYSTEM),
        password=password,
        alias=_optional(alias, "alias", _MAX_ALIAS),
        description=_optional(description, "description", _MAX_DESCRIPTION),
    )
    return with_secrets(params, (password,) if password else ())


def update_account(
    scope: Scope,
    account_id: int,
    *,
    alias: str | None = None,
    password: str | None = None,
    description: str | None = None,
) -> Params:
    """Spell ``update_account`` (gateway only): what is ``None`` stays as it is."""
    changes = {
        "alias": _optional(alias, "alias", _MAX_ALIAS),
        "password": _optional(password, "password", _MAX_PASSWORD_UPDATE),
        "description": _optional(description, "description", _MAX_DESCRIPTION),
    }
    if all(v is None for v in changes.values()):
        raise ValueError("give at least one of alias, password and description to change")
    params = v3_scoped(scope, id=check_id(account_id, "account_id"), **changes)
    return with_secrets(params, (password,) if password else ())


def _account(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> ExecutionAccount:
    return parse(data, ExecutionAccount)  # type: ignore[no-any-return]


CREATE_ACCOUNT = row(
    "create_account",
    POST,
    _account,
    v3=create_account,
    doc="""Create a system execution account (a Windows one with its ``password``) and return
    it; ``alias`` defaults to the account name.
    """,
    resource="`EsbAccountV3Resource`",
)
UPDATE_ACCOUNT = row(
    "update_account",
    POST,
    _account,
    v3=update_account,
    esb=False,
    doc="""Change an account's alias, password or description (``None`` keeps it); return it
    (gateway only).
    """,
    resource="`EsbAccountV3Resource`",
)
DELETE_ACCOUNT = row(
    "delete_account",
    POST,
    _account,
    v3=ids(v3_scoped, id="account_id"),
    doc="""Delete an account; return it as it was.""",
    resource="`EsbAccountV3Resource`",
)


GET_ACCOUNT_PASSWORD_ENCRYPTION_METADATA = row(
    "get_account_password_encryption_metadata",
    GET,
    model(PasswordEncryption),
    v3=ids(None),
    esb=False,
    doc="""Return the public key and algorithm bk-job wants passwords encrypted with (gateway
    only).
    """,
    resource="`EsbAccountV3Resource`",
)


def own_db_accounts(
    parse: Parse[Any], data: Any, sent: Mapping[str, Any], /
) -> tuple[ExecutionAccount, ...]:
    """Read the DB accounts the caller may use (``category`` DB)."""
    return parse(data, tuple[ExecutionAccount, ...])  # type: ignore[no-any-return]


GET_OWN_DB_ACCOUNT_LIST = row(
    "get_own_db_account_list",
    POST,
    own_db_accounts,
    v2=ids(v2_scoped),
    idempotent=True,
    doc="""Return the DB accounts of a scope the caller may use (ESB v2 only).""",
    resource="v2 `EsbGetDBAccountListResource`",
)
