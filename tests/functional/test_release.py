"""The release basics a user and a packager rely on: a license that says what pyproject says,
and documents whose every reference resolves inside the repository."""

from __future__ import annotations

import functools
import importlib
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: ``[text](target)`` links, and code spans that name a path (``../x/y.md``).
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH_SPAN = re.compile(r"`(\.{1,2}/[^`\s]+)`")
#: The API reference's pages, written by each docs build (docs/_ext/apiref.py, gitignored).
API_PAGES = ROOT / "docs" / "reference" / "api"


@functools.cache
def _api_pages() -> frozenset[str]:
    """Return the names of the pages the docs build writes under ``API_PAGES``: one per
    public module (so a link into them resolves on a checkout the docs were not built in)."""
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        apiref = importlib.import_module("apiref")
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    return frozenset(f"{name}.md" for name in apiref.public_modules())


def test_the_license_file_is_the_one_pyproject_names() -> None:
    tomllib = pytest.importorskip("tomllib")  # (3.11+; the other checks run everywhere)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text
    versions = {c.rsplit(" ", 1)[-1] for c in project["classifiers"] if ":: 3." in c}
    assert versions == {"3.10", "3.11", "3.12", "3.13"}  # what `make test-matrix` runs


def _references(doc: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)  # (code blocks: not links)
    return LINK.findall(text) + PATH_SPAN.findall(text)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_reference_resolves_inside_the_repository(doc: Path) -> None:
    bad = []
    for target in _references(doc):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL, or an anchor in the same page
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(ROOT):
            bad.append(f"{target}: outside the repository")
        elif path.parent == API_PAGES and path.name not in _api_pages():
            bad.append(f"{target}: no such page of the API reference")
        elif path.parent != API_PAGES and not path.exists():
            bad.append(f"{target}: no such file")
    assert not bad, f"{doc.relative_to(ROOT)}: " + "; ".join(bad)


def test_the_supported_python_versions_agree_everywhere() -> None:
    """``requires-python``, mypy's and ruff's targets, the classifiers, ``make test-matrix``
    (noxfile) and the README name the same versions: 3.10 (the oldest) to 3.13."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    oldest = re.search(r'^requires-python = ">=3\.(\d+)"$', pyproject, re.MULTILINE)
    mypy = re.search(r'^python_version = "3\.(\d+)"$', pyproject, re.MULTILINE)
    ruff = re.search(r'^target-version = "py3(\d+)"$', pyproject, re.MULTILINE)
    assert oldest
    assert mypy
    assert ruff
    assert oldest[1] == mypy[1] == ruff[1] == "10"
    classified = re.findall(r'"Programming Language :: Python :: 3\.(\d+)"', pyproject)
    nox = re.search(r"^PYTHONS = \[(.*)\]$", (ROOT / "noxfile.py").read_text(), re.MULTILINE)
    assert nox
    tested = re.findall(r'"3\.(\d+)"', nox[1])
    assert classified == tested == ["10", "11", "12", "13"]
    assert "CPython 3.10, 3.11, 3.12 and 3.13" in (ROOT / "README.md").read_text()
