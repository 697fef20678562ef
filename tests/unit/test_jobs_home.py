"""Speed has one home in the package: the job table (``polling/_jobs.py``).

No other module of the package, in ``polling/`` or on any other floor, builds a tuple subclass
or an object behind its constructor's back (``tuple.__new__``, ``object.__new__``), writes a
frozen value's slot (``object.__setattr__``), or packs or reads a heap entry (``SHIFT``,
``_SLOT``): they read and write plain values, and the table alone knows how a job is kept.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bkjob_async

PACKAGE = Path(bkjob_async.__file__).parent
HOME = PACKAGE / "polling" / "_jobs.py"

#: ``owner.name`` attributes that build or change a value behind its class's back.
TRICKS = {("tuple", "__new__"), ("object", "__new__"), ("object", "__setattr__")}
#: Names of the heap entries' packing.
PACKING = {"SHIFT", "_SLOT"}


def tricks_in(source: str) -> list[str]:
    """Return each trick ``source`` uses, as ``line: text``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in TRICKS
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Name) and node.id in PACKING:
            found.append(f"{node.lineno}: {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in PACKING:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.alias) and node.name in PACKING:
            found.append(f"{node.lineno}: import {node.name}")
    return found


def test_only_the_table_uses_tuple_new_setattr_or_packed_keys() -> None:
    found = {
        str(path.relative_to(PACKAGE)): tricks
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != HOME and (tricks := tricks_in(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_scan_sees_each_trick() -> None:
    source = (
        "from ._table import SHIFT\n"
        "make = partial(tuple.__new__, Point)\n"
        "object.__setattr__(event, '_id', x)\n"
        "e = object.__new__(cls)\n"
        "entry = (due << SHIFT) | slot\n"
        "slot = entry & table._SLOT\n"
    )
    assert sorted(tricks_in(source)) == [
        "1: import SHIFT",
        "2: tuple.__new__",
        "3: object.__setattr__",
        "4: object.__new__",
        "5: SHIFT",
        "6: ._SLOT",
    ]
    assert tricks_in(HOME.read_text(encoding="utf-8"))  # (the table itself has them)
