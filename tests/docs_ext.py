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
