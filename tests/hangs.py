"""A hang anywhere ends in a failure with a stack: the backstop behind pytest-timeout's alarm.

pytest-timeout (``timeout`` in pyproject, 60 s; a ``timeout`` marker's own) fails a test that
runs too long with SIGALRM: an exception raised where the main thread is. That ends a test
blocked in a call, but not every hang: an async test's fixtures are torn down on the event
loop the timed-out test left behind (its task still waits there), so their teardown waits
forever, ``epoll_wait`` with no alarm left, and an xdist worker sits idle beside its
redis-server until the run is killed. Nor does SIGALRM reach a hang in a worker's teardown
after its last test.

So each test's protocol (setup, call, teardown) is also watched by ``faulthandler``: at its
timeout plus ``GRACE`` seconds (from its start, and again from a failure reported in it) a thread of the interpreter's own writes every thread's stack
to the stderr the run started with and ends the process (an xdist worker: xdist reports it
crashed in that test and starts another). A worker's end after its last test is watched the
same way, its exit too (``SESSION_END``). Under a debugger (``--pdb``, or ``--timeout=0``) nothing is
watched.
"""

from __future__ import annotations

import faulthandler
import os
from typing import IO

import pytest

#: Seconds past a test's timeout before the backstop ends the process: its teardown's time
#: once the alarm failed it.
GRACE = 30.0
#: Seconds a worker has to end once its last test ended (its session's teardown, its report).
SESSION_END = 120.0

_STREAM = pytest.StashKey[IO[str] | None]()


def configure(config: pytest.Config) -> None:
    """Keep a copy of the stderr the run started with (a test's own is captured)."""
    debugging = config.getoption("usepdb", False) or config.getoption("trace", False)
    stream = None if debugging else os.fdopen(os.dup(2), "w", closefd=True)
    config.stash[_STREAM] = stream


def unconfigure(config: pytest.Config) -> None:
    """Watch an xdist worker's end (its exit must not wait on a thread left running); the
    main process is left alone: its end writes the coverage and the summary."""
    stream = config.stash.get(_STREAM, None)
    if stream is None:
        return
    if hasattr(config, "workerinput"):
        faulthandler.dump_traceback_later(SESSION_END, exit=True, file=stream)
        return  # (the stream closes with the process)
    faulthandler.cancel_dump_traceback_later()
    stream.close()
    config.stash[_STREAM] = None


def timeout_of(item: pytest.Item) -> float:
    """Return the item's pytest-timeout seconds (its marker's, else the run's; 0: none)."""
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        value = marker.args[0] if marker.args else marker.kwargs.get("timeout")
        if value is not None:
            return float(value)
    value = item.config.getoption("timeout", None)
    if value is None:
        value = os.environ.get("PYTEST_TIMEOUT") or item.config.getini("timeout")
    return float(value or 0)


def arm(item: pytest.Item) -> None:
    """Watch this test's protocol: its timeout plus ``GRACE``."""
    stream = item.config.stash.get(_STREAM, None)
    timeout = timeout_of(item)
    if stream is not None and timeout > 0:
        faulthandler.dump_traceback_later(timeout + GRACE, exit=True, file=stream)


def rearm(node: pytest.Item | pytest.Collector) -> None:
    """Watch the rest of a test whose failure was just reported: pytest's own faulthandler
    plugin cancels every watch then (for a debugger), and a test failed by its timeout then
    has its fixtures torn down, where the hang is."""
    if isinstance(node, pytest.Item):
        arm(node)


def disarm(item: pytest.Item) -> None:
    if item.config.stash.get(_STREAM, None) is not None:
        faulthandler.cancel_dump_traceback_later()
