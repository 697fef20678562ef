"""The suite's one pass (``make unit``): coverage traces every test but those marked ``untraced``.

``tests/conftest.py`` pauses pytest-cov's tracer around an ``untraced`` test, fixtures and all,
and resumes it after: the timing- and CPU-bound tests run at full speed beside the traced ones.
Without ``--cov`` (``make check``, a run by hand) there is no tracer to see: both skip.
"""

from __future__ import annotations

import sys

import pytest


@pytest.fixture
def tracer(pytestconfig: pytest.Config) -> object:
    """Return what traces this test now (``sys.gettrace()``), skipping a run without ``--cov``."""
    plugin = pytestconfig.pluginmanager.get_plugin("_cov")  # (paused or not)
    if getattr(plugin, "cov_controller", None) is None:
        pytest.skip("the run does not trace (no --cov)")
    return sys.gettrace()


def test_a_traced_test_runs_under_coverage(tracer: object) -> None:
    assert tracer is not None


@pytest.mark.untraced
def test_an_untraced_test_runs_with_the_tracer_paused(tracer: object) -> None:
    assert tracer is None


def test_the_tracer_resumes_after_an_untraced_test(tracer: object) -> None:
    assert tracer is not None
