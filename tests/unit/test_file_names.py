"""No two test files under ``tests/`` and ``benchmarks/`` share a name.

pytest imports each test file by its name when its folder is not a package, and a reader who
finds ``test_sync.py`` in a trace, a duration list or a report cannot tell which one ran; a
benchmark named as a test reads as that test's slow twin.
"""

from __future__ import annotations

import collections
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_no_two_test_files_share_a_name() -> None:
    files = [
        path
        for folder in ("tests", "benchmarks")
        for path in (ROOT / folder).rglob("test_*.py")
        if "__pycache__" not in path.parts
    ]
    assert len(files) > 200
    by_name = collections.defaultdict(list)
    for path in files:
        by_name[path.name].append(str(path.relative_to(ROOT)))
    shared = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert not shared, f"test files that share a name: {shared}"
