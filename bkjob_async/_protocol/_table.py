"""The endpoint table: every row of every family, by bk-job's name for the API.

Add an API by adding its row to its family module (``jobs``, ``launches``, ``logs``,
``catalog``, ``crons``, ...) and to ``FAMILIES`` here if the family is new; ``docs/howto/develop.md``
says what else follows from the row.
"""

from __future__ import annotations

from types import MappingProxyType, ModuleType
from typing import Any

from ..config import ApiFlavor
from . import (
    accounts,
    analysis,
    catalog,
    crons,
    files,
    jobs,
    launches,
    logs,
    rules,
    scripts,
    settings,
    sql,
    templates,
)
from ._api import Api

__all__ = ["FAMILIES", "TABLE", "V2_NAMES"]

#: The family modules, each a handful of rows.
FAMILIES: tuple[ModuleType, ...] = (
    jobs,
    launches,
    sql,
    logs,
    catalog,
    scripts,
    rules,
    templates,
    accounts,
    files,
    settings,
    crons,
    analysis,
)


def _gather() -> dict[str, Api[..., Any]]:
    table: dict[str, Api[..., Any]] = {}
    for family in FAMILIES:
        for value in vars(family).values():
            if isinstance(value, Api):
                if value.name in table:
                    raise RuntimeError(f"{value.name} has two rows ({family.__name__})")
                table[value.name] = value
    return dict(sorted(table.items()))


#: Every row, by bk-job's (v3) name.
TABLE: MappingProxyType[str, Api[..., Any]] = MappingProxyType(_gather())


def _v2_names() -> dict[str, Api[..., Any]]:
    names: dict[str, Api[..., Any]] = {}
    for api in TABLE.values():
        binding = api.bindings.get(ApiFlavor.ESB_V2)
        if binding is not None and binding.name != api.name:
            names[binding.name] = api
    return names


#: The rows whose v2 name differs from their own, by that v2 name (``fast_push_file``, ...).
V2_NAMES: MappingProxyType[str, Api[..., Any]] = MappingProxyType(_v2_names())
