"""The docs' folder and its Sphinx extensions (``docs/_ext``), importable while a test needs them."""

from __future__ import annotations

import contextlib
import pathlib
import sys
from collections.abc import Iterator

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
EXT = DOCS / "_ext"


@contextlib.contextmanager
def extensions_importable() -> Iterator[None]:
    """Put ``docs/_ext`` first on ``sys.path`` for the block, and take it off after."""
    sys.path.insert(0, str(EXT))
    try:
        yield
    finally:
        sys.path.remove(str(EXT))


def one_page_site(src: pathlib.Path, page: str, extensions: list[str]) -> pathlib.Path:
    """Write a one-page Sphinx site (``index.md``: ``page``) with ``extensions`` of
    ``docs/_ext`` and MyST into ``src``; return its zh_CN catalogs' folder (made, empty)."""
    catalogs = src / "locale" / "zh_CN" / "LC_MESSAGES"
    catalogs.mkdir(parents=True, exist_ok=True)
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT)!r})\n"
        f"extensions = {['myst_parser', *extensions]!r}\n"
        "locale_dirs = ['locale/']\ngettext_compact = False\n",
        encoding="utf-8",
    )
    (src / "index.md").write_text(page, encoding="utf-8")
    return catalogs
