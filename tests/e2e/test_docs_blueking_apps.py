"""The pages for BlueKing applications print what they show.

Each Python block of these pages that is followed by a ``text`` block runs as printed (its own
simulator in memory, no server) and prints exactly that text.
"""

from __future__ import annotations

import itertools
import pathlib
import re
import sys

import anyio
import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    "howto/per-user-calls.md",
    "howto/sdk-shaped-calls.md",
    "howto/json-models.md",
    "howto/one-shot-checks.md",
    "howto/results-from-logs.md",
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
