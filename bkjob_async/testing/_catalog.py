"""What a simulated scope keeps besides jobs: plan variables, scripts and accounts; data only.

``PlanVar`` is how a test gives a plan its global variables (``BkJobSimulator.add_plan``);
``Catalog`` holds scripts (a scope's or the public library's, each with versions) and execution
accounts, and renders them as bk-job's DTOs (``EsbScriptV3DTO``, ``EsbScriptVersionDetailV3DTO``,
``EsbAccountV3DTO``, v2's ``EsbAccountDTO``). Every scope has the accounts ``root`` (Linux),
``system`` (Windows) and ``mysql`` (a DB account) until a test adds its own.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..config import Scope

__all__ = ["Catalog", "PlanVar", "SimAccount", "SimScript", "SimScriptVersion", "launch_vars"]

#: bk-job's ``TaskVariableTypeEnum``: 1 string, 2 namespace, 3 hosts, 4 password, 5/6 arrays.
_VARIABLE_TYPES = range(1, 7)
#: ``JobConstants.SENSITIVE_FIELD_PLACEHOLDER``: how v3 shows a password's value.
MASK = "******"


def _variable_type(_: object, __: object, value: int) -> None:
    if value not in _VARIABLE_TYPES:
        raise ValueError(f"a variable type is 1..6 (TaskVariableTypeEnum), got {value}")


@attrs.frozen
class PlanVar:
    """A plan's global variable: ``type`` 1 string, 2 namespace, 3 host list (``value`` then
    names hosts as ``"cloud:ip,cloud:ip"``), 4 password, 5/6 arrays; ``value`` its default."""

    name: str
    value: str = ""
    type: int = attrs.field(default=1, validator=_variable_type)
    required: bool = False
    description: str = ""


@attrs.frozen
class SimScriptVersion:
    """One version of a simulated script."""

    id: int
    version: str
    content: str
    #: 0 draft, 1 online, 2 offline, 3 disabled (``JobResourceStatusEnum``).
    status: int = 1
    create_ms: int = 0
    desc: str | None = None
    creator: str = "admin"
    modifier: str = "admin"
    modify_ms: int = 0


@attrs.define
class SimScript:
    """A script of a scope's library (``scope`` set) or of the public library."""

    script_id: str
    name: str
    language: int
    scope: Scope | None
    creator: str
    create_ms: int
    versions: list[SimScriptVersion] = attrs.Factory(list)
    description: str = ""
    modifier: str = ""
    modify_ms: int = 0

    @property
    def online(self) -> SimScriptVersion | None:
        """Return the online version, if one is."""
        return next((v for v in self.versions if v.status == 1), None)


@attrs.frozen
class SimAccount:
    """An execution account: ``category`` 1 system, 2 DB; ``type`` 1 Linux, 2 Windows, 9 MySQL."""

    id: int
    alias: str
    account: str
    category: int = 1
    type: int = 1
    os: str = "Linux"
    creator: str = "admin"
    create_ms: int = 0
    description: str = ""


def launch_vars(
    plan_id: int, variables: Sequence[PlanVar], given: object
) -> dict[str, tuple[int, str]]:
    """Return a plan job's variables, name -> (type, value): the plan's defaults, then the
    launch's values (``global_var_list`` rows by ``id`` or ``name``). A variable's id is
    ``plan_id * 1000 + its position`` (from 1)."""
    values = {v.name: (v.type, v.value) for v in variables}
    by_id = {plan_id * 1000 + i + 1: v.name for i, v in enumerate(variables)}
    for item in given if isinstance(given, list) else ():
        if not isinstance(item, Mapping) or item.get("value") is None:
            continue
        name = item.get("name")
        if item.get("id") is not None:
            name = by_id.get(_int(item["id"]), name)
        if name in values:
            values[str(name)] = (values[str(name)][0], str(item["value"]))
    return values


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return -1


def _scope_fields(scope: Scope | None) -> dict[str, Any]:
    if scope is None:
        return {}
    return {
        "bk_scope_type": scope.type.value,
        "bk_scope_id": str(scope.id),
        "bk_biz_id": scope.id,
    }


class Catalog:
    """Scripts and accounts of every scope; ids ascend from fixed bases."""

    def __init__(self) -> None:
        self.scripts: dict[str, SimScript] = {}
        self.versions: dict[int, tuple[SimScript, SimScriptVersion]] = {}
        self.accounts: dict[Scope, list[SimAccount]] = {}
        self._next_script = 1
        self._next_version = 5_001
        self._next_account = 1_001

    # -- scripts ------------------------------------------------------------------------------

    def add_script(
        self,
        scope: Scope | None,
        name: str,
        versions: list[tuple[str, str]],
        *,
        language: int,
        creator: str,
        now_ms: int,
        online: str | None,
    ) -> SimScript:
        """Add a script with ``versions`` (``(version, content)``); ``online`` is the version
        that is online (default: the last)."""
        script = self.new_script(scope, name, language, creator, now_ms)
        online = versions[-1][0] if online is None else online
        for version, content in versions:
            status = 1 if version == online else 2
            self.add_version(script, version, content, status, f"version {version}", now_ms)
        return script

    def new_script(
        self, scope: Scope | None, name: str, language: int, creator: str, now_ms: int
    ) -> SimScript:
        """Create a script without versions (``add_version`` gives it its first)."""
        script_id = f"{self._next_script:032x}"
        self._next_script += 1
        script = SimScript(script_id, name, language, scope, creator, now_ms)
        script.modifier, script.modify_ms = creator, now_ms
        self.scripts[script_id] = script
        return script

    def add_version(
        self,
        script: SimScript,
        version: str,
        content: str,
        status: int,
        desc: str | None,
        now_ms: int,
        creator: str | None = None,
    ) -> SimScriptVersion:
        """Add a version to ``script``."""
        by = creator or script.creator
        row = SimScriptVersion(
            self._next_version, version, content, status, now_ms, desc, by, by, now_ms
        )
        self._next_version += 1
        script.versions.append(row)
        self.versions[row.id] = (script, row)
        return row

    def replace_version(self, script: SimScript, row: SimScriptVersion) -> SimScriptVersion:
        """Store ``row`` in place of the version with its id."""
        script.versions[:] = [row if v.id == row.id else v for v in script.versions]
        self.versions[row.id] = (script, row)
        return row

    def drop_version(self, script: SimScript, version_id: int) -> None:
        """Delete one version; the script goes with its last one."""
        script.versions[:] = [v for v in script.versions if v.id != version_id]
        self.versions.pop(version_id, None)
        if not script.versions:
            self.scripts.pop(script.script_id, None)

    def drop_script(self, script: SimScript) -> None:
        """Delete a script and every version of it."""
        for row in script.versions:
            self.versions.pop(row.id, None)
        self.scripts.pop(script.script_id, None)

    def scripts_of(self, scope: Scope | None) -> list[SimScript]:
        """Return the scripts of ``scope`` (``None``: the public ones) that are online."""
        return [s for s in self.scripts.values() if s.scope == scope and s.online is not None]

    @staticmethod
    def script_v3(script: SimScript) -> dict[str, Any]:
        """Render ``EsbScriptV3DTO``."""
        online = script.online
        return {
            **_scope_fields(script.scope),
            "id": script.script_id,
            "name": script.name,
            "script_language": script.language,
            "creator": script.creator,
            "create_time": script.create_ms,
            "last_modify_user": script.modifier or script.creator,
            "last_modify_time": script.modify_ms or script.create_ms,
            "online_script_version_id": None if online is None else online.id,
            "description": script.description,
        }

    @staticmethod
    def version_v3(script: SimScript, version: SimScriptVersion) -> dict[str, Any]:
        """Render ``EsbScriptVersionDetailV3DTO`` (public scripts carry no scope)."""
        return {
            **_scope_fields(script.scope),
            "id": version.id,
            "script_id": script.script_id,
            "name": script.name,
            "version": version.version,
            "content": version.content,
            "status": version.status,
            "version_desc": version.desc,
            "creator": version.creator,
            "create_time": version.create_ms,
            "last_modify_user": version.modifier,
            "last_modify_time": version.modify_ms,
            "script_language": script.language,
            "description": script.description,
        }

    # -- accounts -----------------------------------------------------------------------------

    def accounts_of(self, scope: Scope, now_ms: int) -> list[SimAccount]:
        """Return the accounts of ``scope``, creating its three default ones on first use."""
        accounts = self.accounts.get(scope)
        if accounts is None:
            accounts = self.accounts[scope] = []
            for alias, account, category, kind, os in (
                ("root", "root", 1, 1, "Linux"),
                ("system", "system", 1, 2, "Windows"),
                ("mysql", "mysql", 2, 9, "Linux"),
            ):
                self.add_account(scope, alias, account, category, kind, os, now_ms)
        return accounts

    def add_account(
        self, scope: Scope, alias: str, account: str, category: int, kind: int, os: str, now: int
    ) -> SimAccount:
        """Add an account to ``scope``."""
        row = SimAccount(self._next_account, alias, account, category, kind, os, create_ms=now)
        self._next_account += 1
        self.accounts.setdefault(scope, []).append(row)
        return row

    @staticmethod
    def account_v3(scope: Scope, account: SimAccount) -> dict[str, Any]:
        """Render ``EsbAccountV3DTO``."""
        return {
            **_scope_fields(scope),
            "id": account.id,
            "account": account.account,
            "alias": account.alias,
            "category": account.category,
            "type": account.type,
            "db_system_account_id": None,
            "os": account.os,
            "creator": account.creator,
            "create_time": account.create_ms,
            "last_modify_user": account.creator,
            "last_modify_time": account.create_ms,
            "description": account.description,
        }

    @staticmethod
    def account_v2(scope: Scope, account: SimAccount) -> dict[str, Any]:
        """Render v2's ``EsbAccountDTO`` (``create_time`` formatted in UTC, as bk-job does)."""
        created = _dt.datetime.fromtimestamp(account.create_ms / 1000, _dt.timezone.utc)
        return {
            **_scope_fields(scope),
            "id": account.id,
            "account": account.account,
            "creator": account.creator,
            "os": account.os,
            "alias": account.alias,
            "create_time": created.strftime("%Y-%m-%d %H:%M:%S"),
        }
