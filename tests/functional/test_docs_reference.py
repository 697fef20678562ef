"""The reference's rules, checked without building the site: every public module is found, every
public name has a docstring, and one that loses it is caught (``docs/_ext/apiref.py``, which
makes the strict docs build fail on it)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs" / "_ext"))
apiref = importlib.import_module("apiref")


def test_the_public_modules_are_found_and_the_package_comes_last() -> None:
    modules = apiref.public_modules()
    for name in ("bkjob_async.client", "bkjob_async.polling", "bkjob_async.testing"):
        assert name in modules
    assert modules[-1] == "bkjob_async"
    assert not [m for m in modules if any(p.startswith("_") for p in m.split("."))]


def test_every_public_name_has_a_docstring() -> None:
    assert apiref.undocumented() == []


def test_a_public_name_or_method_without_a_docstring_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bkjob_async.tuning
    from bkjob_async.polling import Poller

    monkeypatch.setattr(bkjob_async.tuning.freeze_what_is_alive, "__doc__", None)
    monkeypatch.setattr(Poller.wait_finished, "__doc__", None)
    missing = apiref.undocumented()
    assert "bkjob_async.tuning.freeze_what_is_alive" in missing
    assert "bkjob_async.polling.Poller.wait_finished" in missing


def test_each_object_is_documented_once_under_its_most_specific_module() -> None:
    import bkjob_async
    from bkjob_async.testing import BkJobSimulator

    where = apiref.canonical_names()
    assert where[id(bkjob_async.Poller)] == "bkjob_async.polling.Poller"
    assert where[id(bkjob_async.Timeouts)] == "bkjob_async.config.Timeouts"
    assert where[id(BkJobSimulator)] == "bkjob_async.testing.BkJobSimulator"


def test_a_private_attrs_base_is_shown_as_what_it_derives_from() -> None:
    from bkjob_async.models import JobStatus
    from bkjob_async.polling.batches import BatchEnded

    bases = list(BatchEnded.__bases__)  # the private base that holds the batch events' fields
    apiref.shown_bases(None, "bkjob_async.polling.batches.BatchEnded", BatchEnded, {}, bases)
    assert bases == [object]
    kept = list(JobStatus.__bases__)  # a private base with behaviour of its own stays
    apiref.shown_bases(None, "bkjob_async.models.JobStatus", JobStatus, {}, kept)
    assert kept == list(JobStatus.__bases__)
