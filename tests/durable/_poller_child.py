"""A poller process on a ``SqliteStore`` until it is killed: the subject of ``test_crash``.

``python _poller_child.py URL PATH [JOB_ID ...]`` watches the jobs as the named watch
``crash`` (with ids) or resumes it (without). On stdout (unbuffered, one line each): ``ready``;
one JSON object per event *as the consumer receives it* (before asking for the next one, which
acknowledges it); ``over`` when the watch has ended (or ``unknown``: nothing to resume);
``B``/``E`` around every store write transaction (from the writer thread). A line ``arm``
on stdin makes the process kill itself with SIGKILL inside its next write transaction, after
every statement and before ``COMMIT`` (a named point, not a moment: the test does not depend
on how fast the machine is).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bkjob_async import (
    BkJobClient,
    HostTransition,
    JobFinished,
    JobTransition,
    Poller,
    PollPolicy,
    Scope,
    SqliteStore,
    StepTransition,
)
from bkjob_async.polling import UnknownWatchError
from bkjob_async.polling.stores.sqlite._writer import LogWriter

SCOPE = Scope.biz(2)
POLICY = PollPolicy(interval=0.2, max_interval=1.0, max_in_flight=16)


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


class _Die:
    def apply(self, conn: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


_armed = threading.Event()


def _listen() -> None:
    for line in sys.stdin:
        if line.strip() == "arm":
            _armed.set()


def traced(write):  # type: ignore[no-untyped-def]
    def write_sync(self, segments, *args):  # type: ignore[no-untyped-def]
        say("B")
        if _armed.is_set():
            segments = [*segments, _Die()]
        done = write(self, segments, *args)
        say("E")
        return done

    return write_sync


LogWriter.write = traced(LogWriter.write)  # type: ignore[method-assign]


def describe(event: object) -> dict[str, object]:
    record: dict[str, object] = {"id": event.event_id, "job": event.job_instance_id}  # type: ignore[attr-defined]
    if isinstance(event, HostTransition):
        record |= {"k": "h", "step": event.step_instance_id, "x": event.execute_count}
        record |= {"host": event.host.bk_host_id}
    elif isinstance(event, StepTransition):
        record |= {"k": "s", "step": event.step_instance_id, "x": event.execute_count}
    elif isinstance(event, JobTransition):
        record |= {"k": "j"}
    elif isinstance(event, JobFinished):
        record |= {"k": "f", "c": int(event.status)}
        return record
    else:
        record |= {"k": type(event).__name__}
        return record
    previous = event.previous
    record |= {"p": None if previous is None else int(previous), "c": int(event.current)}
    return record


async def main(url: str, path: str, ids: list[int]) -> None:
    async with (
        SqliteStore(path) as store,
        BkJobClient(url, app_code="a", app_secret="s", username="u", connection_limit=16) as client,
        Poller(client, policy=POLICY, store=store) as poller,
    ):
        if ids:
            watch = poller.watch_jobs(SCOPE, ids, name="crash")
        else:
            try:
                watch = await poller.resume("crash")
            except UnknownWatchError:
                say("unknown")
                return
        say("ready")
        async for event in watch:
            say(json.dumps(describe(event)))
    say("over")


if __name__ == "__main__":
    threading.Thread(target=_listen, daemon=True).start()
    anyio.run(main, sys.argv[1], sys.argv[2], [int(a) for a in sys.argv[3:]])
