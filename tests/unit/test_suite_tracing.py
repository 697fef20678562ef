"""The suite's one pass (``make unit``): coverage traces every test but those marked ``untraced``.

``tests/conftest.py`` pauses pytest-cov's tracer around an ``untraced`` test, fixtures and all,
and resumes it after: the timing- and CPU-bound tests run at full speed beside the traced ones.
``make coverage`` (``BKJOB_TEST_TRACE_ALL``) traces them too, and the Python processes the tests
start. Without ``--cov`` (``make check``, a run by hand) there is no tracer to see: all skip.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests import PREIMPORTED

#: ``make coverage``: every test traced, and every child process.
TRACE_ALL = bool(os.environ.get("BKJOB_TEST_TRACE_ALL"))


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
    assert (tracer is not None) is TRACE_ALL


def test_the_tracer_resumes_after_an_untraced_test(tracer: object) -> None:
    assert tracer is not None


@pytest.mark.untraced
def test_a_child_python_is_traced_when_every_test_is(tracer: object) -> None:
    probe = "import coverage; print(coverage.Coverage.current() is not None)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(TRACE_ALL)


def test_no_module_of_the_package_is_imported_before_the_tracer_starts(
    pytestconfig: pytest.Config,
) -> None:
    # pytest imports its ``pytest11`` entry points before pytest-cov starts: the plugin's
    # imports (most of the package) ran untraced, and their modules' bodies counted as missed.
    assert PREIMPORTED == ()
    assert pytestconfig.pluginmanager.get_plugin("bkjob_async") is None  # (the entry point)
    assert pytestconfig.pluginmanager.has_plugin("bkjob_async.testing.pytest_plugin")
