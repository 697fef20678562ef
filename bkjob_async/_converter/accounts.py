"""The accounts family's hooks: v2's own DB accounts, the password encryption metadata; no I/O.

Accounts created, updated or deleted (``EsbAccountV3DTO``) are read by the catalog's hook in
``_core``; v2's own DB accounts (``EsbDBAccountDTO``: ``db_account_id``, ``db_alias``, a UTC
time text) join v2's system accounts here. ``register`` adds them to one generation's
converter; every reader here raises only what the converter turns into ``ResponseFormatError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import AccountCategory, ExecutionAccount
from ..models.settings import PasswordEncryption
from ._readers import Generation, _str, _text, _utc_text, read_int

if TYPE_CHECKING:
    from collections.abc import Mapping

    import cattrs

__all__ = ["register"]


def _v3(c: cattrs.Converter) -> None:
    def encryption(d: Mapping[str, Any], _: object) -> PasswordEncryption:
        return PasswordEncryption(_str(d["public_key"], None), _str(d["encrypt_algorithm"], None))

    c.register_structure_hook(PasswordEncryption, encryption)


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
