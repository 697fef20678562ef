"""`make test-matrix`: the suite on every supported CPython found; those not found are skipped.

Each session makes its own virtualenv (under ``.nox/``) with the ``cli`` extra and the ``dev``
dependency group (pyproject's ``[dependency-groups]``), and runs what ``make test``'s ``unit``
step runs (not ``slow``). The Makefile puts pyenv's
interpreters on ``PATH``; nox says which versions it could not find and skips them.
"""

from __future__ import annotations

import nox

nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True

#: The test tools (PEP 735's ``dev`` group), read from pyproject.toml.
DEV = nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), "dev")

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the suite (not ``slow``) on one interpreter."""
    session.install("-e", ".[cli]", *DEV)
    workers = session.env.get("PYTEST_WORKERS", "6")
    args = ["-n", workers, "--dist", "loadfile"]
    session.run(
        "pytest", "-q", "-m", "not slow", "--hypothesis-profile=quick", *args, *session.posargs
    )


#: The oldest redis-py ``pyproject.toml`` allows (the ``redis`` extra), and the suites that
#: depend on what it does: Redis TLS (host names checked, issue 46) and the cluster's commands.
OLDEST_REDIS = "redis==5.0.1"


@nox.session(python="3.11")
def oldest_redis(session: nox.Session) -> None:
    """Run the Redis TLS and cluster client suites with the oldest redis-py allowed."""
    session.install("-e", ".[cli]", *DEV)
    session.install(OLDEST_REDIS)
    session.run("python", "-c", "import redis; assert redis.__version__ == '5.0.1'")
    suites = ["tests/cluster/test_redis_tls.py", "tests/cluster/test_cluster_watch_set.py"]
    session.run("pytest", "-q", "-m", "not slow", *suites, *session.posargs)
