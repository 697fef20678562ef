"""What a simulated scope keeps for file transfers and accounts: credentials, file sources, account
passwords, and what each step was launched with; data only, no HTTP, no checks.

``Vault`` holds credentials (their secrets kept as given and never rendered: bk-job's
``EsbCredentialV3DTO`` has no value), file sources (``EsbFileSourceV3DTO``), the passwords given
to ``create_account``/``update_account`` (bk-job stores them encrypted and never answers them),
and ``StepLaunch`` rows: what a launch said about its step, for ``get_step_instance_detail``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from ..config import Scope

__all__ = ["SimCredential", "SimFileSource", "StepLaunch", "Vault"]


def _scope_fields(scope: Scope) -> dict[str, Any]:
    return {"bk_scope_type": scope.type.value, "bk_scope_id": str(scope.id)}


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


class Vault:
    """Credentials, file sources, account passwords and step launches of every scope."""

    def __init__(self) -> None:
        self.credentials: dict[str, SimCredential] = {}
        self.file_sources: dict[int, SimFileSource] = {}
        #: Account id -> the password last given for it.
        self.passwords: dict[int, str] = {}
        #: Step instance id -> what its launch said.
        self.launches: dict[int, StepLaunch] = {}
        self._next_file_source = 1

    # -- credentials ----------------------------------------------------------------------------

    def credential(self, scope: Scope, credential_id: str) -> SimCredential | None:
        """Return the credential ``credential_id`` of ``scope``, if it has one."""
        found = self.credentials.get(credential_id)
        return found if found is not None and found.scope == scope else None

    def credential_named(self, scope: Scope, name: str) -> SimCredential | None:
        """Return the credential of ``scope`` called ``name``, if any."""
        return next(
            (c for c in self.credentials.values() if c.scope == scope and c.name == name), None
        )

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
        self.credentials[row.id] = row
        return row

    @staticmethod
    def credential_v3(row: SimCredential) -> dict[str, Any]:
        """Render ``EsbCredentialV3DTO`` (no secret)."""
        return {
            **_scope_fields(row.scope),
            "id": row.id,
            "name": row.name,
            "type": row.type,
            "description": row.description,
            "creator": row.creator,
            "create_time": row.create_ms,
            "last_modify_user": row.modifier,
            "last_modify_time": row.modify_ms,
        }

    # -- file sources ---------------------------------------------------------------------------

    def file_source(self, scope: Scope, code: str) -> SimFileSource | None:
        """Return the file source of ``scope`` whose code is ``code``, if any."""
        return next(
            (s for s in self.file_sources.values() if s.scope == scope and s.code == code), None
        )

    def add_file_source(self, scope: Scope, **fields: Any) -> SimFileSource:
        """Store a new file source; ids ascend from 1."""
        row = SimFileSource(self._next_file_source, scope, **fields)
        self._next_file_source += 1
        self.file_sources[row.id] = row
        return row

    @staticmethod
    def file_source_v3(row: SimFileSource) -> dict[str, Any]:
        """Render ``EsbFileSourceV3DTO`` (``FileSourceDTO.toEsbFileSourceV3DTO``)."""
        return {
            **_scope_fields(row.scope),
            "id": row.id,
            "code": row.code,
            "alias": row.alias,
            "status": row.status,
            "file_source_type_code": row.type,
            "is_public": False,
            "credential_id": row.credential_id,
            "enable": row.enable,
            "creator": row.creator,
            "create_time": row.create_ms,
            "last_modify_user": row.modifier,
            "last_modify_time": row.modify_ms,
        }
