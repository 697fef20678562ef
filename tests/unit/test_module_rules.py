"""Every module of the package opens with one line that states its rule, not a list of contents.

The check is a heuristic with a fixed vocabulary: a first line is a whole sentence of at most
100 characters that names a guarantee or a limit (``Rule``, ``no``, ``never``, ``only``,
``every``, ``one``, ``pure``, ...). A bare noun phrase ("The job family: status, steps.") has
none of those words and fails.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import bkjob_async

PACKAGE = Path(bkjob_async.__file__).parent
RULE_WORDS = re.compile(
    r"\b(Rule|[Nn]o|[Nn]ever|[Oo]nly|[Ee]very|[Ee]ach|[Nn]othing|[Pp]ure|[Aa]lways|may|must|"
    r"once|[Oo]ne|none|without)\b"
)


def first_line(path: Path) -> str | None:
    """Return the first line of ``path``'s module docstring (``None`` without one)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    return doc.splitlines()[0] if doc else None


def problems(line: str | None) -> list[str]:
    """Return what keeps ``line`` from being a module's rule line (nothing when it is one)."""
    if not line:
        return ["no docstring"]
    found = []
    if not line.rstrip().endswith("."):
        found.append("not one whole sentence")
    if len(line) > 100:
        found.append("longer than 100 characters")
    if not RULE_WORDS.search(line):
        found.append("names no guarantee or limit")
    return found


def test_every_module_states_its_rule_in_its_first_line() -> None:
    found = {
        str(path.relative_to(PACKAGE)): problems(first_line(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    assert len(found) > 100  # (the walk read the package)
    assert {name: p for name, p in found.items() if p} == {}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Rule: a job's state is a value; pure.", []),
        (
            "The job family: a job's status, a step's, operating them.",
            ["names no guarantee or limit"],
        ),
        (
            "The wire's scalars, read one way for every reader: the converter, its",
            ["not one whole sentence"],
        ),
        (None, ["no docstring"]),
        ("Pure: " + "x" * 100 + ".", ["longer than 100 characters"]),
    ],
)
def test_the_check_tells_a_rule_from_a_list_of_contents(
    line: str | None, expected: list[str]
) -> None:
    assert problems(line) == expected
