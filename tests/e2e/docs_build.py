"""The documentation site as ``make docs`` lays it out, built once for the whole suite.

English at the root, Chinese under ``zh_CN/``. ``make test`` runs ``make docs`` before the
tests, and that build (``docs/_build/html``, made afresh each time) is the site when it is
newer than everything it is built from: every file and folder of ``docs/`` (a page deleted
changes its folder) and of the package (the reference is its docstrings). Otherwise the site
is built here (not strictly: what a reader gets; the strict build is ``make docs``), once for
every xdist worker of the run, under a lock: the browser checks of both languages
(``test_docs_site.py``, ``test_docs_i18n.py``) read the same build, and two builds never
write the catalogs' compiled ``.mo`` files at the same time.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Where ``make docs`` builds: English here, each other language in a folder of its name.
MADE = DOCS / "_build" / "html"
LANGUAGES = ("zh_CN",)
#: What a build writes under ``docs/`` itself: not a source.
_OUTPUTS = ("docs/_build", "docs/reference/api")


def _sources() -> Iterator[pathlib.Path]:
    package = ROOT / "bkjob_async"
    yield DOCS
    yield package
    for path in [*DOCS.rglob("*"), *package.rglob("*")]:
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(_OUTPUTS) or "__pycache__" in path.parts:
            continue
        if path.suffix not in (".mo", ".pyc"):
            yield path


def fresh(site: pathlib.Path) -> bool:
    """Whether ``site`` is a whole build (every language) newer than every source. A
    language's build compiles its catalogs first (their folders change then): those are
    compared with that language's build only."""
    stamps = {lang: site / lang / ".buildinfo" for lang in LANGUAGES}
    stamps[""] = site / ".buildinfo"
    if not all(stamp.is_file() for stamp in stamps.values()):
        return False
    built = {lang: stamp.stat().st_mtime for lang, stamp in stamps.items()}
    catalogs = {DOCS / "locale" / lang: built[lang] for lang in LANGUAGES}
    for path in _sources():
        own = next((at for folder, at in catalogs.items() if path.is_relative_to(folder)), None)
        if path.stat().st_mtime >= (min(built.values()) if own is None else own):
            return False
    return True


def _build(out: pathlib.Path) -> None:
    languages = [([], out), *((["-D", f"language={lang}"], out / lang) for lang in LANGUAGES)]
    for extra, folder in languages:
        argv = [sys.executable, "-m", "sphinx", "-q", "-E", "-b", "html", *extra, str(DOCS)]
        done = subprocess.run(
            [*argv, str(folder)], capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr


def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Return the built site: ``make docs``'s if fresh, else the run's own (built on first use)."""
    pytest.importorskip("sphinx")
    if fresh(MADE):
        return MADE
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # every worker's base folder is under the run's
    out, done = shared / "docs-site", shared / "docs-site.built"
    with open(shared / "docs-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            _build(out)
            done.touch()
    return out
