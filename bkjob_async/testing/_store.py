"""What the simulated bk-job stores besides jobs: one table a kind of resource; state only.

Rule: a ``Table`` holds the rows of one kind by id and numbers new ones; ``Store`` has one
for scripts and their versions, accounts, credentials, file sources, cron jobs and
dangerous-command rules, the account passwords given (bk-job keeps them encrypted and never
answers them) and what each fast launch said about its step (``StepLaunch``). A row renders
as its bk-job DTO (``render``). No HTTP and no checks here: the handlers (``_api_manage``,
``_api_crons``, ``_scripts``, ``_rules``) check a request in bk-job's order, then read and
change the store. Every scope has the accounts ``root`` (Linux), ``system`` (Windows) and
``mysql`` (a DB account) from its first use on.
"""

from __future__ import annotations

import datetime as _dt
import functools
import operator
import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from ..config import Scope

if TYPE_CHECKING:
    from collections.abc import Iterator


__all__ = [
    "SimAccount",
    "SimCredential",
    "SimCron",
    "SimFileSource",
    "SimRule",
    "SimScript",
    "SimScriptVersion",
    "StepLaunch",
    "Store",
    "Table",
    "matches",
]

R = TypeVar("R")


def scope_fields(scope: Scope | None, *, biz: bool = True) -> dict[str, Any]:
    """Return the scope of a DTO (none for the public library; ``biz``: ``bk_biz_id`` too)."""
    if scope is None:
        return {}
    fields: dict[str, Any] = {"bk_scope_type": scope.type.value, "bk_scope_id": str(scope.id)}
    return {**fields, "bk_biz_id": scope.id} if biz else fields


@functools.cache
def _fields(spec: str) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    pairs = (item.partition("=")[::2] for item in spec.split())
    return tuple((wire, operator.attrgetter(path or wire)) for wire, path in pairs)


def dto(source: object, spec: str, **values: Any) -> dict[str, Any]:
    """Return a DTO as data: ``spec`` names its fields in the DTO's order, each ``wire`` or
    ``wire=attribute`` (dotted for deeper) of ``source``; ``values`` gives a field outright."""
    return {w: values[w] if w in values else get(source) for w, get in _fields(spec)}


#: Who made a row and when, who changed it last and when (``BaseDTO``'s four fields).
STAMPS = "creator create_time=create_ms last_modify_user=modifier last_modify_time=modify_ms"


class Table(dict[Any, R], Generic[R]):
    """The rows of one kind by id, oldest first; ``number()`` gives the next id."""

    def __init__(self, first: int = 1) -> None:
        super().__init__()
        self._next = first

    def number(self) -> int:
        """Return the next id."""
        found, self._next = self._next, self._next + 1
        return found

    def add(self, row: R) -> R:
        """Keep ``row`` under its ``id``."""
        self[row.id] = row  # type: ignore[attr-defined]
        return row

    def of(self, scope: Scope | None) -> list[R]:
        """Return the rows of ``scope`` (``None``: the public ones), oldest first."""
        return [row for row in self.values() if row.scope == scope]  # type: ignore[attr-defined]

    def get_in(self, scope: Scope | None, row_id: Any) -> R | None:
        """Return row ``row_id`` if it is ``scope``'s."""
        row = self.get(row_id)
        return row if row is not None and row.scope == scope else None  # type: ignore[attr-defined]

    def find(self, scope: Scope | None, **fields: Any) -> R | None:
        """Return the first row of ``scope`` whose ``fields`` have these values."""
        for row in self.of(scope):
            if all(getattr(row, k) == v for k, v in fields.items()):
                return row
        return None


@attrs.define
class SimScriptVersion:
    """One version of a script: 0 draft, 1 online, 2 offline, 3 disabled
    (``JobResourceStatusEnum``)."""

    id: int
    script: SimScript = attrs.field(repr=False, eq=False)
    version: str
    content: str
    status: int = 1
    create_ms: int = 0
    desc: str | None = None
    creator: str = "admin"
    modifier: str = "admin"
    modify_ms: int = 0

    @property
    def scope(self) -> Scope | None:
        """Return its script's scope."""
        return self.script.scope

    def render(self) -> dict[str, Any]:
        """Render ``EsbScriptVersionDetailV3DTO`` (public scripts carry no scope)."""
        spec = "id script_id=script.id name=script.name version content status version_desc=desc"
        spec += f" {STAMPS} script_language=script.language description=script.description"
        return {**scope_fields(self.script.scope), **dto(self, spec)}


@attrs.define
class SimScript:
    """A script of a scope's library (``scope`` set) or of the public library."""

    id: str
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
    def script_id(self) -> str:
        """Return its id (bk-job's ``script_id``)."""
        return self.id

    @property
    def online(self) -> SimScriptVersion | None:
        """Return the online version, if one is."""
        return next((v for v in self.versions if v.status == 1), None)

    def render(self) -> dict[str, Any]:
        """Render ``EsbScriptV3DTO``."""
        online = self.online
        row = dto(
            self,
            f"id name script_language=language {STAMPS} online_script_version_id description",
            last_modify_user=self.modifier or self.creator,
            last_modify_time=self.modify_ms or self.create_ms,
            online_script_version_id=None if online is None else online.id,
        )
        return {**scope_fields(self.scope), **row}


@attrs.define
class SimAccount:
    """An execution account: ``category`` 1 system, 2 DB; ``type`` 1 Linux, 2 Windows, 9 MySQL."""

    id: int
    scope: Scope
    alias: str
    account: str
    category: int = 1
    type: int = 1
    os: str = "Linux"
    creator: str = "admin"
    create_ms: int = 0
    description: str = ""
    #: The system account a DB account runs as.
    db_system_account_id: int | None = None
    #: Who changed it last, and when (``None``: its creator, at creation).
    modifier: str | None = None
    modify_ms: int | None = None

    def render(self) -> dict[str, Any]:
        """Render ``EsbAccountV3DTO``."""
        spec = f"id account alias category type db_system_account_id os {STAMPS} description"
        modified = self.create_ms if self.modify_ms is None else self.modify_ms
        row = dto(
            self, spec, last_modify_user=self.modifier or self.creator, last_modify_time=modified
        )
        return {**scope_fields(self.scope), **row}

    def render_v2(self) -> dict[str, Any]:
        """Render v2's ``EsbAccountDTO`` (``create_time`` in UTC text, as bk-job does)."""
        row = dto(
            self, "id account creator os alias create_time", create_time=utc_text(self.create_ms)
        )
        return {**scope_fields(self.scope), **row}


def utc_text(ms: int) -> str:
    """Return epoch milliseconds as ``2025-01-01 08:00:00`` in UTC."""
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@attrs.define
class SimCredential:
    """A stored credential: ``values`` are bk-job's ``value1``/``value2`` (never rendered)."""

    id: str
    scope: Scope
    name: str
    type: str
    description: str | None
    values: tuple[str | None, str | None] = attrs.field(repr=False)
    creator: str
    create_ms: int
    modifier: str
    modify_ms: int

    def render(self) -> dict[str, Any]:
        """Render ``EsbCredentialV3DTO`` (no secret)."""
        return {
            **scope_fields(self.scope, biz=False),
            **dto(self, f"id name type description {STAMPS}"),
        }


@attrs.define
class SimFileSource:
    """A stored file source (the ESB creates them private, enabled, on public workers)."""

    id: int
    scope: Scope
    code: str
    alias: str
    type: str
    access_params: Mapping[str, Any]
    credential_id: str
    file_prefix: str
    creator: str
    create_ms: int
    modifier: str
    modify_ms: int
    enable: bool = True
    status: int = 0

    def render(self) -> dict[str, Any]:
        """Render ``EsbFileSourceV3DTO`` (``FileSourceDTO.toEsbFileSourceV3DTO``)."""
        spec = "id code alias status file_source_type_code=type is_public credential_id enable"
        row = dto(self, f"{spec} {STAMPS}", is_public=False)
        return {**scope_fields(self.scope, biz=False), **row}


@attrs.define
class SimCron:
    """One stored cron job (times in epoch seconds, as bk-job keeps them); ``variables`` are
    ``EsbGlobalVarV3DTO`` rows as resolved."""

    id: int
    scope: Scope
    plan_id: int
    name: str
    expression: str | None
    execute_time: int | None
    zone: str
    variables: list[dict[str, Any]] | None
    creator: str
    create_s: int
    modifier: str
    modify_s: int
    enabled: bool = False


@attrs.define
class SimRule:
    """A dangerous-command rule (global): ``languages`` a bit set (bit ``n-1`` for language
    ``n``), as bk-job stores it."""

    id: int
    expression: str
    languages: int
    description: str
    action: int
    status: int
    priority: int
    creator: str
    create_ms: int
    modifier: str
    modify_ms: int

    def render(self) -> dict[str, Any]:
        """Render ``EsbDangerousRuleV3DTO`` (its languages ascending: ``decodeScriptType``)."""
        languages = [n + 1 for n in range(8) if self.languages & (1 << n)]
        spec = f"id expression script_language_list description action status {STAMPS}"
        return dto(self, spec, script_language_list=languages)


@attrs.frozen
class StepLaunch:
    """What a fast launch said about its one step (``get_step_instance_detail`` renders it)."""

    language: int = 1
    content: str | None = None
    param: str | None = None
    param_sensitive: bool = False
    timeout: int = 7200
    account_id: int | None = None
    account_name: str | None = None
    script_id: str | None = None
    script_version_id: int | None = None
    #: A file step's destination path and each source's files.
    target_path: str | None = None
    source_files: tuple[tuple[str, ...], ...] = ()


#: Each scope's accounts from its first use on: alias (and account), category, type, os.
_DEFAULT_ACCOUNTS = (
    ("root", 1, 1, "Linux"),
    ("system", 1, 2, "Windows"),
    ("mysql", 2, 9, "Linux"),
)


class Store:
    """Every stored resource of every scope: a ``Table`` a kind."""

    def __init__(self) -> None:
        self.scripts: Table[SimScript] = Table()
        self.versions: Table[SimScriptVersion] = Table(5_001)
        self.accounts: Table[SimAccount] = Table(1_001)
        self.credentials: Table[SimCredential] = Table()
        self.file_sources: Table[SimFileSource] = Table()
        #: Cron jobs: ids count from 1000001, as bk-job's table does in its docs.
        self.crons: Table[SimCron] = Table(1_000_001)
        self.rules: Table[SimRule] = Table()
        #: Account id -> the password last given for it.
        self.passwords: dict[int, str] = {}
        #: Step instance id -> what its launch said.
        self.launches: dict[int, StepLaunch] = {}
        self._scoped: set[Scope] = set()

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
        that is online (default: the last; the others are offline)."""
        script = self.new_script(scope, name, language, creator, now_ms)
        online = versions[-1][0] if online is None else online
        for version, content in versions:
            status = 1 if version == online else 2
            self.add_version(script, version, content, status, f"version {version}", now_ms)
        return script

    def new_script(
        self, scope: Scope | None, name: str, language: int, creator: str, now_ms: int
    ) -> SimScript:
        """Create a script without versions (``add_version`` gives it its first); its id is
        32 hex digits."""
        script = SimScript(f"{self.scripts.number():032x}", name, language, scope, creator, now_ms)
        script.modifier, script.modify_ms = creator, now_ms
        return self.scripts.add(script)

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
            self.versions.number(), script, version, content, status, now_ms, desc, by, by, now_ms
        )
        script.versions.append(row)
        return self.versions.add(row)

    def drop_version(self, row: SimScriptVersion) -> None:
        """Delete one version; the script goes with its last one."""
        script = row.script
        script.versions[:] = [v for v in script.versions if v is not row]
        self.versions.pop(row.id, None)
        if not script.versions:
            self.scripts.pop(script.id, None)

    def drop_script(self, script: SimScript) -> None:
        """Delete a script and every version of it."""
        for row in script.versions:
            self.versions.pop(row.id, None)
        self.scripts.pop(script.id, None)

    def scripts_of(self, scope: Scope | None) -> list[SimScript]:
        """Return the scripts of ``scope`` (``None``: the public ones) that are online."""
        return [s for s in self.scripts.of(scope) if s.online is not None]

    # -- accounts -----------------------------------------------------------------------------

    def accounts_of(self, scope: Scope, now_ms: int) -> list[SimAccount]:
        """Return the accounts of ``scope``, creating its three default ones on first use."""
        if scope not in self._scoped:
            self._scoped.add(scope)
            for alias, category, kind, os in _DEFAULT_ACCOUNTS:
                self.add_account(scope, alias, alias, category, kind, os, now_ms)
        return self.accounts.of(scope)

    def add_account(
        self, scope: Scope, alias: str, account: str, category: int, kind: int, os: str, now: int
    ) -> SimAccount:
        """Add an account to ``scope``."""
        row = SimAccount(self.accounts.number(), scope, alias, account, category, kind, os)
        row.create_ms = now
        return self.accounts.add(row)

    # -- credentials and file sources ---------------------------------------------------------

    def add_credential(
        self,
        scope: Scope,
        name: str,
        kind: str,
        description: str | None,
        values: tuple[str | None, str | None],
        *,
        user: str,
        now_ms: int,
    ) -> SimCredential:
        """Store a new credential; its id is 32 hex digits, as bk-job's."""
        row = SimCredential(
            uuid.uuid4().hex, scope, name, kind, description, values, user, now_ms, user, now_ms
        )
        return self.credentials.add(row)

    def add_file_source(self, scope: Scope, **fields: Any) -> SimFileSource:
        """Store a new file source; ids ascend from 1."""
        return self.file_sources.add(SimFileSource(self.file_sources.number(), scope, **fields))

    # -- cron jobs ----------------------------------------------------------------------------

    def crons_of(self, scope: Scope) -> list[SimCron]:
        """Return the scope's cron jobs as bk-job lists them: running first, each group last
        changed first (``CronJobDAOImpl``: ``is_enable`` then ``last_modify_time``, both
        descending); the newest id first among equals."""
        rows = self.crons.of(scope)
        return sorted(rows, key=lambda c: (c.enabled, c.modify_s, c.id), reverse=True)

    # -- dangerous-command rules --------------------------------------------------------------

    def ordered_rules(self) -> list[SimRule]:
        """Return the rules by priority."""
        return sorted(self.rules.values(), key=lambda r: r.priority)

    def add_rule(
        self, expression: str, mask: int, description: str, action: int, who: str, now: int
    ) -> SimRule:
        """Add a disabled rule, last in priority."""
        priority = max((r.priority for r in self.rules.values()), default=0) + 1
        rule_id = self.rules.number()
        return self.rules.add(
            SimRule(rule_id, expression, mask, description, action, 0, priority, who, now, who, now)
        )

    def remove_rule(self, rule_id: int) -> None:
        """Delete a rule and renumber the others' priorities from 1."""
        self.rules.pop(rule_id, None)
        for index, rule in enumerate(self.ordered_rules()):
            rule.priority = index + 1

    def rules_for(self, language: int) -> list[SimRule]:
        """Return the enabled rules for ``language``, by priority."""
        bit = 1 << (language - 1) if language > 0 else 0
        return [r for r in self.ordered_rules() if r.status == 1 and r.languages & bit]


_COMMENT = {1: "#", 2: "REM", 3: "#", 4: "#", 5: "#"}


def matches(rules: list[SimRule], language: int, content: str) -> Iterator[dict[str, Any]]:
    """Yield ``EsbCheckScriptV3DTO`` rows (with ``action``) for each rule's match per line
    (``DangerousRuleScriptChecker``: comment and blank lines skipped)."""
    lines = content.split("\n")
    comment = _COMMENT.get(language)
    for rule in rules:
        pattern = re.compile(rule.expression)
        for number, line in enumerate(lines, start=1):
            if not line.strip() or (comment and line.strip().startswith(comment)):
                continue
            found = pattern.search(line)
            if found is not None:
                yield {
                    "line": number,
                    "line_content": line,
                    "match_content": found.group(),
                    "level": 3,
                    "description": rule.description,
                    "action": rule.action,
                }
