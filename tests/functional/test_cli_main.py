"""``bkjob_async.cli.main``, the console script's own door, in this process: its event loop, its
Ctrl-C handlers and its exit status, against a simulator served from a thread (``bkjob_server``).

The other command tests call ``amain`` on the test's loop (``tests/cli_run.py``) or start the
command as a child process, whose lines no tracer of this run sees.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import threading
from collections.abc import Iterator

import attrs
import pytest

from bkjob_async import StepType
from bkjob_async.cli import main
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..cli_run import FAST, SIM, make_env

WAITS = [StepPlan(hosts=1), StepPlan(StepType.MANUAL_CONFIRM)]  # (until a person confirms)


class Lines(io.StringIO):
    """A stream another thread can wait on: ``first`` is set by the first write."""

    def __init__(self) -> None:
        super().__init__()
        self.first = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        self.first.set()
        return written


@attrs.frozen
class Streams:
    out: Lines = attrs.field(factory=Lines)
    err: io.StringIO = attrs.field(factory=io.StringIO)


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch, bkjob_server: BkJobSimulator) -> Iterator[None]:
    """An operator's environment aimed at the served simulator; the process's SIGINT handler
    put back after (an xdist worker may ignore SIGINT)."""
    for name, value in make_env(bkjob_server.url).items():
        monkeypatch.setenv(name, value)
    handler = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)


@contextlib.contextmanager
def console(streams: Streams | None = None) -> Iterator[Streams]:
    """``main``'s stdout and stderr, for the test's body (pytest puts its own capture back
    between a test's phases, over a fixture's)."""
    streams = streams or Streams()
    with contextlib.redirect_stdout(streams.out), contextlib.redirect_stderr(streams.err):
        yield streams


@pytest.mark.bkjob(jobs=[[StepPlan(hosts=2)], [StepPlan(hosts=1)]], **SIM)
def test_main_runs_a_command_to_its_end_and_returns_its_status(
    operator: None, bkjob_server: BkJobSimulator
) -> None:
    ids = [str(job) for job in bkjob_server.job_ids()]
    with console() as streams:
        assert main(["watch", *ids, *FAST]) == 0
    events = [json.loads(line) for line in streams.out.getvalue().splitlines()]
    finished = [e for e in events if e["event"] == "job_finished"]
    assert sorted(str(e["job_instance_id"]) for e in finished) == sorted(ids)
    assert {e["status_name"] for e in finished} == {"SUCCESS"}
    summary = streams.err.getvalue()  # (the run's summary, on stderr)
    assert "watch 2 jobs: done" in summary
    assert "Traceback" not in summary
    # Its handlers were the loop's while it ran, and are gone with it.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.bkjob(jobs=[WAITS], **SIM)
def test_ctrl_c_ends_the_command_with_its_summary_and_130(
    operator: None, bkjob_server: BkJobSimulator
) -> None:
    main_thread = threading.main_thread()
    assert threading.current_thread() is main_thread
    assert main_thread.ident is not None
    ident = main_thread.ident
    streams = Streams()

    returned = threading.Event()

    def press() -> None:  # Ctrl-C once the watch has printed (its handlers are in by then)
        if streams.out.first.wait(30) and not returned.is_set():
            signal.pthread_kill(ident, signal.SIGINT)

    presser = threading.Thread(target=press, daemon=True)
    presser.start()
    try:
        with console(streams):
            status = main(["watch", str(bkjob_server.job_ids()[0]), *FAST])
    finally:
        returned.set()
        streams.out.first.set()  # (the presser ends either way)
        presser.join()
    assert status == 130
    err = streams.err.getvalue()
    assert "interrupted after" in err
    assert "Traceback" not in err
    first = json.loads(streams.out.getvalue().splitlines()[0])
    assert first["job_instance_id"] == bkjob_server.job_ids()[0]


def test_a_usage_error_returns_2_before_any_request(
    operator: None, bkjob_server: BkJobSimulator
) -> None:
    with console() as streams:
        assert main(["watch", "not-a-job-id"]) == 2
    assert "not-a-job-id" in streams.err.getvalue()
    assert bkjob_server.request_count() == 0
