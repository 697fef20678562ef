"""Every relative link and image of the Markdown outside the docs site names a file that exists.

The docs site's links are checked by its strict build and ``tests/e2e/test_docs_site.py``; the
README, the changelog and the benchmarks' pages are read on a forge, where a link is relative
to the page's own folder (``benchmarks/HISTORY.md``'s plots are ``plots/...``).
"""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGES = sorted(
    p
    for pattern in ("*.md", "benchmarks/**/*.md", "deploy/**/*.md", "scripts/**/*.md")
    for p in ROOT.glob(pattern)
)
#: ``[text](target)`` and ``![alt](target)``, the target up to a space or the closing paren.
_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _targets(page: pathlib.Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [
        t
        for t in _LINK.findall(text)
        if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)  # (a URL, mailto:, an anchor here)
    ]


def test_the_pages_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "CHANGELOG.md", "benchmarks/HISTORY.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_names_a_file(page: pathlib.Path) -> None:
    missing = [
        t for t in _targets(page) if not (page.parent / t.split("#", 1)[0]).resolve().exists()
    ]
    assert not missing, f"{page.relative_to(ROOT)} links to files that do not exist: {missing}"
