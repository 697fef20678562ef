"""The documentation site as ``make docs`` lays it out, built once for the whole suite.

English at the root, Chinese under ``zh_CN/``. ``make test`` runs ``make docs`` beside the
tests (it holds ``LOCK`` while it builds: the site waits for it, and no second build starts),
and that build (``docs/_build/html``, made afresh each time) is the site when it is
newer than everything it is built from: every file and folder of ``docs/`` (a page deleted
changes its folder) and of the package (the reference is its docstrings). Otherwise the site
is the suite's own build (not strictly: what a reader gets; the strict build is ``make
docs``), ``docs/_build/suite-html``, kept for the next run under the same rule, and built
when it is not fresh under a lock: by the first xdist worker that needs it, or before, in the
background from the start of the run (``start``, from ``tests/conftest.py``), so that no
worker waits the minute and more of a build on a clean clone. The browser checks of both
languages (``test_docs_site.py``, ``test_docs_i18n.py``) read the same build, and two builds
never write the catalogs' compiled ``.mo`` files at the same time.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pathlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Where ``make docs`` builds: English here, each other language in a folder of its name.
MADE = DOCS / "_build" / "html"
#: Where the suite builds the site when ``make docs``'s is not fresh (kept for the next run).
OWN = DOCS / "_build" / "suite-html"
LANGUAGES = ("zh_CN",)
#: Held by ``make docs`` while it builds ``MADE`` (``flock``, where the system has it).
LOCK = DOCS / "_build" / "make-docs.lock"
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
    """Build every language at once (each its own Sphinx, its own folder; only the Chinese
    build compiles the Chinese catalogs): on a clean clone this is the longest wait of the
    suite, and a language's build uses one core."""
    languages = [([], out), *((["-D", f"language={lang}"], out / lang) for lang in LANGUAGES)]
    builds = [
        subprocess.Popen(
            [sys.executable, "-m", "sphinx", "-q", "-E", "-b", "html", *extra, str(DOCS), str(to)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra, to in languages
    ]
    try:
        for build in builds:
            _, stderr = build.communicate(timeout=300)
            assert build.returncode == 0, stderr
    finally:
        for build in builds:
            build.kill()
            build.wait()


def _made_after(block: bool = True) -> bool:
    """Wait for a ``make docs`` building ``MADE`` now, if any (``block=False``: say whether
    none is)."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
    return True


def site() -> pathlib.Path:
    """Return the built site: ``make docs``'s if fresh, else the suite's (built if not fresh)."""
    pytest.importorskip("sphinx")
    if _made_after() and fresh(MADE):
        return MADE
    OWN.parent.mkdir(parents=True, exist_ok=True)
    with open(OWN.parent / "suite-html.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not fresh(OWN):
            for stale in OWN.parent.glob("suite-html.[0-9]*"):  # (a build stopped midway)
                shutil.rmtree(stale, ignore_errors=True)
            partial = OWN.with_name(f"suite-html.{os.getpid()}")
            _build(partial)  # (never a half-built site where the next run looks)
            shutil.rmtree(OWN, ignore_errors=True)
            partial.replace(OWN)
    return OWN


def start(config: pytest.Config) -> subprocess.Popen[bytes] | None:
    """Start building the suite's site in the background, when the run has the browser
    checks and no fresh site is there; return the build's process (``None``: none started)."""
    if config.option.collectonly:
        return None
    checks = [pathlib.Path(__file__).with_name(f"test_docs_{n}.py") for n in ("site", "i18n")]
    paths = [pathlib.Path(arg.split("::", 1)[0]).resolve() for arg in config.args]
    if not any(check.is_relative_to(path) for check in checks for path in paths):
        return None
    if importlib.util.find_spec("sphinx") is None or fresh(MADE) or fresh(OWN):
        return None
    if not _made_after(block=False):  # (``make docs`` is building it: the site will be that)
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.docs_build"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # (its Sphinx processes stopped with it: ``stop``)
    )


def stop(build: subprocess.Popen[bytes]) -> None:
    """Stop a background build that is still running (the run ended without needing it)."""
    if build.poll() is None:
        os.killpg(build.pid, signal.SIGKILL)
    build.wait()


if __name__ == "__main__":
    site()
