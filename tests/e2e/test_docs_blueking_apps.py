"""The pages for BlueKing applications print what they show.

Each Python block of these pages that is followed by a ``text`` block runs as printed (its own
simulator in memory, no server) and prints exactly that text.
"""

from __future__ import annotations

import ast
import io
import itertools
import pathlib
import re
import sys
import tokenize

import anyio
import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    "howto/per-user-calls.md",
    "howto/sdk-shaped-calls.md",
    "howto/json-models.md",
    "howto/one-shot-checks.md",
    "howto/results-from-logs.md",
    "howto/rollouts.md",
]
BLOCK = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def examples() -> list[tuple[str, str, str]]:
    found = []
    for page in PAGES:
        blocks = list(BLOCK.finditer((DOCS / page).read_text(encoding="utf-8")))
        for n, (code, shown) in enumerate(itertools.pairwise(blocks)):
            if code["lang"] == "python" and shown["lang"] == "text":
                found.append((f"{page}#{n}", code["body"], shown["body"]))
    return found


def test_every_page_has_its_examples() -> None:
    pages = {where.split("#")[0] for where, _, _ in examples()}
    assert pages == set(PAGES)


@pytest.mark.parametrize(("where", "program", "shown"), examples(), ids=[e[0] for e in examples()])
async def test_the_example_prints_what_the_page_shows(where: str, program: str, shown: str) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-c", program], check=False)
    assert done.returncode == 0, f"{where}: {done.stderr.decode()}"
    assert done.stdout.decode() == shown, where


def _code_lines(program: str) -> set[int]:
    """Return the lines of ``program`` that hold code: no blank line, comment or docstring."""
    docs: set[int] = set()
    for node in ast.walk(ast.parse(program)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docs.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(program).readline):
        if token.type not in skip and token.type != tokenize.ENDMARKER:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - docs


def test_each_port_is_at_most_half_its_original() -> None:
    page = (DOCS / "howto/results-from-logs.md").read_text(encoding="utf-8")
    table = page.split("## How long each port is", 1)[1]
    rows = [r for r in table.splitlines() if r.startswith("| ") and r[2:5] in ("bk-", "blu")]
    programs = [m["body"] for m in BLOCK.finditer(page) if m["lang"] == "python"]
    assert len(rows) == len(programs) == 3  # bk-sops, dbm, nodeman: in the page's order
    for row, program in zip(rows, programs, strict=True):
        _, app, _, original, port, counted, _ = (cell.strip() for cell in row.split("|"))
        names = re.findall(r"`(\w+)`", port)
        tree, code = ast.parse(program), _code_lines(program)
        lines = sum(
            len([n for n in code if node.lineno <= n <= (node.end_lineno or 0)])
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names
        )
        assert lines == int(counted), app
        assert 2 * lines <= int(original), app
