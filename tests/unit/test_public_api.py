"""Pin the public names: adding or removing one must be a deliberate change to ``public_names.txt``."""

from __future__ import annotations

import importlib
import pathlib

import pytest

import bkjob_async

#: Each pinned module's public names, in its ``__all__`` order (one file for all of them).
PINNED: dict[str, list[str]] = {}
for _line in (pathlib.Path(__file__).parent / "public_names.txt").read_text().splitlines():
    if _line and not _line.startswith("#"):
        _module, _name = _line.split(":")
        PINNED.setdefault(_module, []).append(_name)
PUBLIC = PINNED["bkjob_async"]


def test_all_is_pinned_and_sorted() -> None:
    assert bkjob_async.__all__ == PUBLIC


@pytest.mark.parametrize("module", sorted(PINNED))
def test_each_public_modules_names_are_pinned(module: str) -> None:
    public = importlib.import_module(module)
    assert sorted(public.__all__) == sorted(PINNED[module])
    assert all(hasattr(public, name) for name in PINNED[module])


def test_every_public_name_exists() -> None:
    for name in bkjob_async.__all__:
        assert hasattr(bkjob_async, name), name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from bkjob_async import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(PUBLIC)


def test_public_classes_live_in_public_or_documented_modules() -> None:
    for name in PUBLIC:
        value = getattr(bkjob_async, name)
        module = getattr(value, "__module__", "bkjob_async")
        assert module.startswith("bkjob_async"), (name, module)


def test_tuning_is_a_public_module_of_opt_in_calls() -> None:
    # Process-wide tuning is never done by import: it is a call a program makes from here.
    import bkjob_async.tuning

    assert bkjob_async.tuning.__all__ == PINNED["bkjob_async.tuning"]
    assert all(callable(getattr(bkjob_async.tuning, name)) for name in bkjob_async.tuning.__all__)
