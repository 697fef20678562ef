"""The package's import graph, read from its source: no arrow up the floors, no circle.

The floors are the table of ``docs/explanation/architecture.md`` (layer 0 at the bottom): a
module imports only from its own floor or lower ones, whether the import runs at module level,
inside a function or only for type checkers. At run time (type checkers' imports left out, an
import inside a function kept) no module reaches itself again through its imports.
"""

from __future__ import annotations

import ast
import functools
import re
from collections import defaultdict
from pathlib import Path

import bkjob_async

PACKAGE = Path(bkjob_async.__file__).parent
TABLE = PACKAGE.parent / "docs" / "explanation" / "architecture.md"

_TYPING = ("TYPE_CHECKING", "typing.TYPE_CHECKING")  # (``if not TYPE_CHECKING:`` runs)
Edge = tuple[str, str, str]  # (importer, imported, "module" | "function" | "typing")


def floors(table: str) -> dict[str, int]:
    """Return each top-level module or package of the table (``""`` for ``__init__.py``)."""
    found: dict[str, int] = {}
    for number, cell in re.findall(r"^\| (\d+) [^|]*\| ([^|]*) \|", table, re.MULTILINE):
        for name in re.findall(r"`([^`]+)`", cell):
            top = "" if name == "__init__.py" else name.removesuffix(".py").removesuffix("/")
            found[top] = int(number)
    return found


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Return ``{dotted name: (file, is a package)}`` of every module under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _targets(
    name: str, package: bool, node: ast.Import | ast.ImportFrom, known: dict[str, object]
) -> list[str]:
    top = name.split(".")[0]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == top]
    if node.level:
        base = name.split(".") if package else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    elif (node.module or "").split(".")[0] == top:
        source = node.module or ""
    else:
        return []
    # ``from pkg import sub`` imports the module ``pkg.sub``; ``from pkg import name``, ``pkg``.
    return [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]


def edges(root: Path) -> list[Edge]:
    """Return every import of a module of ``root``'s package by another, with where it runs."""
    known = modules(root)
    found: list[Edge] = []
    for name, (path, package) in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lazy = any(
            isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
            for top in tree.body
            for n in ([top] if not isinstance(top, ast.If) else top.body)
        )

        def visit(
            node: ast.AST, where: str, name: str = name, package: bool = package, lazy: bool = lazy
        ) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and ast.unparse(child.test) in _TYPING:
                    for inner in child.body:
                        visit_one(inner, "function" if lazy else "typing", name, package)
                    for inner in child.orelse:
                        visit_one(inner, where, name, package)
                else:
                    visit_one(child, where, name, package)

        def visit_one(child: ast.AST, where: str, name: str, package: bool) -> None:
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((name, t, where) for t in _targets(name, package, child, known))
            elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                found.extend(
                    (name, t, "function") for t in _named(name, package, child.value, known)
                )
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, "function" if where == "module" else where)
            else:
                visit(child, where)

        visit(tree, "module")
    return found


def _named(name: str, package: bool, text: str, known: dict[str, object]) -> list[str]:
    """Return the module of the package that ``text`` names relative to ``name`` (or none)."""
    rest = text.lstrip(".")
    dots = len(text) - len(rest)
    if not dots or not all(part.isidentifier() for part in rest.split(".")):
        return []
    base = name.split(".") if package else name.split(".")[:-1]
    source = ".".join(base[: len(base) - (dots - 1)] + ([rest] if rest else []))
    return [source] if source in known else []


def _floor(name: str, table: dict[str, int]) -> int:
    parts = name.split(".")
    return table[parts[1] if len(parts) > 1 else ""]


def arrows_up(found: list[Edge], table: dict[str, int]) -> list[str]:
    return [f"{s} -> {t} ({w})" for s, t, w in found if _floor(t, table) > _floor(s, table)]


def circles(found: list[Edge], *, typing: bool = False) -> list[list[str]]:
    """Return each set of modules that reach each other (Tarjan's components): at run time,
    or with ``typing`` through type checkers' imports too."""
    graph: dict[str, set[str]] = defaultdict(set)
    for s, t, w in found:
        if (typing or w != "typing") and s != t:
            graph[s].add(t)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        out.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in stack:
                low[node] = min(low[node], index[child])
    return out


@functools.cache
def _package_edges() -> tuple[Edge, ...]:
    return tuple(edges(PACKAGE))


def test_every_module_of_the_package_is_on_a_floor_of_the_table() -> None:
    table = floors(TABLE.read_text(encoding="utf-8"))
    assert table[""] == max(table.values())  # (the package's names: the top floor)
    tops = {n.split(".")[1] if "." in n else "" for n in modules(PACKAGE)}
    assert sorted(tops - set(table)) == []


def test_no_import_points_up_the_floors() -> None:
    table = floors(TABLE.read_text(encoding="utf-8"))
    found = list(_package_edges())
    assert len(found) > 1000  # (the walk read the package)
    assert arrows_up(found, table) == []


def test_no_module_imports_itself_around_a_circle_at_run_time() -> None:
    assert circles(list(_package_edges())) == []


def test_no_module_imports_itself_around_a_circle_for_type_checkers_either() -> None:
    assert circles(list(_package_edges()), typing=True) == []


def test_the_checks_see_an_arrow_up_and_a_circle(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "low").mkdir(parents=True)
    files = {
        # (the package's names, imported on first use by a module ``__getattr__``)
        "__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .low import b\n"
        "def __getattr__(name):\n    pass\n",
        "low/__init__.py": "",
        "low/a.py": "def f():\n    from ..high import g\n",  # up, and a circle at run time
        "low/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import high\n",
        "low/c.py": 'COMMANDS = {"go": ("..high", "g")}  # (for importlib.import_module)\nX = "..."\n',
        "high.py": "from .low import a, b\n",  # (and b back to high for type checkers)
    }
    for name, text in files.items():
        (root / name).write_text(text)
    found = edges(root)
    table = {"": 2, "low": 0, "high": 1}
    assert sorted(arrows_up(found, table)) == [
        "pkg.low.a -> pkg.high (function)",
        "pkg.low.b -> pkg.high (typing)",
        "pkg.low.c -> pkg.high (function)",
    ]
    assert ("pkg", "pkg.low.b", "function") in found
    assert circles(found) == [["pkg.high", "pkg.low.a"]]
    assert circles(found, typing=True) == [["pkg.high", "pkg.low.a", "pkg.low.b"]]
