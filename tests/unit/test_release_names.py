"""The last release's public names still work: each imports, or warns that it is deprecated.

``public_names_0.1.0.txt`` lists every name of 0.1.0's public modules' ``__all__``; names of
attributes that were renamed since are listed here, each with what it is now.
"""

from __future__ import annotations

import datetime as dt
import importlib
import warnings
from pathlib import Path
from typing import Any

import pytest

from bkjob_async.models import HostStatus, JobStatus
from bkjob_async.polling.events import HostTransition, JobFinished, JobTransition, StepTransition

NAMES = [
    line.split(":")
    for line in (Path(__file__).parent / "public_names_0.1.0.txt").read_text().splitlines()
    if line and not line.startswith("#")
]
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("module", "name"), NAMES, ids=[f"{m}.{n}" for m, n in NAMES])
def test_a_public_name_of_the_last_release_still_imports(module: str, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # (a deprecated name may warn)
        importlib.import_module(module)
        assert hasattr(importlib.import_module(module), name)


def _events(**visit: Any) -> list[Any]:
    """One of each event whose ``occurrence`` became ``visit``, made with ``visit``."""
    from bkjob_async.models import Host, HostResult

    host = Host(bk_host_id=7)
    return [
        HostTransition(
            1,
            NOW,
            2,
            0,
            host,
            None,
            HostStatus.SUCCESS,
            HostResult(host, HostStatus.SUCCESS),
            **visit,
        ),
        StepTransition(1, NOW, 2, 0, None, JobStatus.RUNNING, **visit),
        JobTransition(1, NOW, None, JobStatus.RUNNING, **visit),
        JobFinished(1, NOW, JobStatus.SUCCESS, None, **visit),  # type: ignore[arg-type]
    ]


def test_occurrence_reads_visit_with_a_deprecation_warning() -> None:
    for event in _events(visit=2):
        with pytest.warns(
            DeprecationWarning, match=rf"{type(event).__name__}\.occurrence .* visit"
        ):
            assert event.occurrence == 2


def test_occurrence_given_to_the_constructor_is_the_visit_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="occurrence is deprecated"):
        old = _events(occurrence=3)
    assert old == _events(visit=3)
    assert [e.event_id for e in old] == [e.event_id for e in _events(visit=3)]
    with pytest.raises(TypeError, match="not visit and its old name"):
        StepTransition(1, NOW, 2, 0, None, JobStatus.RUNNING, visit=1, occurrence=1)  # type: ignore[call-arg]


def test_visit_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [e.visit for e in _events(visit=4)] == [4, 4, 4, 4]
