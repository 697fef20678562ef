"""Frozen values a caller builds to launch jobs: targets, file sources, global variables.

They carry no wire knowledge; ``bkjob_async._protocol`` spells them per API generation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Account", "FileSource", "GlobalVar", "RollingConfig", "Targets"]


def _ints(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(values)


def _ips(values: Iterable[tuple[int, str] | str]) -> tuple[tuple[int, str], ...]:
    """Accept ``(cloud_id, ip)`` pairs or ``"cloud:ip"`` / ``"ip"`` strings (cloud 0)."""
    pairs = []
    for value in values:
        if isinstance(value, str):
            cloud, sep, ip = value.rpartition(":") if value.count(":") == 1 else ("", "", value)
            pairs.append((int(cloud) if sep else 0, ip))
        else:
            cloud_id, ip = value
            pairs.append((int(cloud_id), str(ip)))
    return tuple(pairs)


@attrs.frozen
class Targets:
    """Hosts to run on, by host id, ``(cloud, ip)``, CMDB dynamic group or topology node.

    ``Targets(host_ids=[101, 102])``, ``Targets(ips=["0:10.0.0.1"])``,
    ``Targets(topo_nodes=[("module", 42)])``.
    """

    host_ids: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    ips: tuple[tuple[int, str], ...] = attrs.field(default=(), converter=_ips)
    dynamic_group_ids: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    topo_nodes: tuple[tuple[str, int], ...] = attrs.field(default=(), converter=tuple)

    def __bool__(self) -> bool:
        return bool(self.host_ids or self.ips or self.dynamic_group_ids or self.topo_nodes)


@attrs.frozen
class Account:
    """An execution account, by alias (the name users see) or by id."""

    alias: str | None = None
    id: int | None = None

    def __attrs_post_init__(self) -> None:
        if (self.alias is None) == (self.id is None):
            raise ValueError("an Account needs exactly one of alias or id")


@attrs.frozen
class FileSource:
    """Files to fetch: from ``server`` hosts (``file_type`` 1) or a file source (3)."""

    files: tuple[str, ...] = attrs.field(converter=tuple)
    server: Targets | None = None
    account: Account | None = None
    file_type: int = 1
    file_source_id: int | None = None
    file_source_code: str | None = None


@attrs.frozen
class GlobalVar:
    """A plan's global variable, by id or name: a text ``value`` or, for host variables, ``server``."""

    name: str | None = None
    id: int | None = None
    value: str | None = None
    server: Targets | None = None

    def __attrs_post_init__(self) -> None:
        if self.name is None and self.id is None:
            raise ValueError("a GlobalVar needs a name or an id")
        if (self.value is None) == (self.server is None):
            raise ValueError("a GlobalVar needs exactly one of value or server")


@attrs.frozen
class RollingConfig:
    """Rolling execution: ``expression`` such as ``"10%"`` or ``"5"``; ``mode`` 1 pause on failure,
    2 ignore failures, 3 pause after every batch (bk-job ``rolling_config``)."""

    expression: str
    mode: int = 1
