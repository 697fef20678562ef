"""No two test files under ``tests/`` and ``benchmarks/`` share a name, nor name two modules.

pytest imports each test file by its name when its folder is not a package, and a reader who
finds ``test_sync.py`` in a trace, a duration list or a report cannot tell which one ran; a
benchmark named as a test reads as that test's slow twin. A test file named after a module
(``test_events.py`` for ``events``) reads as that module's tests: where two of the package's
modules have that name (``polling/events.py``, ``cluster/_events.py``), the name says neither.
"""

from __future__ import annotations

import collections
import pathlib
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = {"__init__.py", "conftest.py"}


def python_files(*folders: str) -> list[pathlib.Path]:
    return [
        path
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts and path.name not in SHARED
    ]


def by_name(paths: list[pathlib.Path], name: Callable[[pathlib.Path], str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = collections.defaultdict(list)
    for path in paths:
        found[name(path)].append(str(path.relative_to(ROOT)))
    return {key: sorted(where) for key, where in found.items() if len(where) > 1}


def test_no_two_files_of_the_suites_share_a_name() -> None:
    files = python_files("tests", "benchmarks")
    assert len([path for path in files if path.name.startswith("test_")]) > 200
    shared = by_name(files, lambda path: path.name)
    assert not shared, f"files of the suites that share a name: {shared}"


def test_no_test_file_is_named_after_a_module_name_two_modules_share() -> None:
    modules = python_files("bkjob_async")
    twice = by_name(modules, lambda path: path.stem.lstrip("_"))
    assert "events" in twice  # polling/events.py and cluster/_events.py: the check can fail
    tests = [path for path in python_files("tests", "benchmarks") if path.name.startswith("test_")]
    named = {
        str(path.relative_to(ROOT)): twice[path.stem.removeprefix("test_")]
        for path in tests
        if path.stem.removeprefix("test_") in twice
    }
    assert not named, f"test files named after a name two modules share: {named}"


def test_each_file_traced_by_name_exists() -> None:
    """``tests/traced.txt`` names files a rename would leave behind, untraced without a word."""
    root = pathlib.Path(__file__).parents[2]
    listed = (root / "tests" / "traced.txt").read_text(encoding="utf-8").splitlines()
    named = [line for line in listed if line and not line.startswith("#")]
    assert named
    assert [name for name in named if not (root / name).is_file()] == []
