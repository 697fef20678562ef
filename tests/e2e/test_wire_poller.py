"""The poller reads the wire as the client does: duplicate host rows, answers about another job.

A loopback server answers every poll; each answer differs from the last (a field the engine
does not fingerprint away changes), so every poll is decoded and observed.
"""

from __future__ import annotations

import itertools
from typing import Any

import anyio

from bkjob_async import (
    HostTransition,
    JobFinished,
    Poller,
    PollPolicy,
    Scope,
)
from bkjob_async.testing import Request, Response
from tests.conftest import RecordingServer, envelope, json_answer

BIZ = Scope.biz(2)
POLICY = PollPolicy(interval=0.01, max_interval=0.01, jitter=0.0, max_in_flight=2, poll_timeout=2.0)


def serve(server: RecordingServer, answer: Any) -> None:
    polls = itertools.count()

    def handle(_: Request) -> Response:
        return json_answer(envelope(answer(next(polls))))

    for _ in range(1000):
        server.reply_with(handle)


async def watch(make_client: Any, seconds: float) -> tuple[list[Any], Poller]:
    events: list[Any] = []
    async with (
        make_client() as c,
        Poller(c, policy=POLICY) as poller,
    ):
        with anyio.move_on_after(seconds):
            async for event in poller.watch_jobs(BIZ, [7]):
                events.append(event)
    return events, poller


async def test_duplicate_host_rows_never_alternate(
    make_client: Any, server: RecordingServer
) -> None:
    def answer(n: int) -> dict[str, Any]:
        rows = [
            {"bk_host_id": 1, "status": 7},
            {"bk_host_id": 2, "status": 7},
            {"host_id": 1, "status": 9},
        ]
        return {
            "finished": False,
            "job_instance": {"job_instance_id": 7, "status": 2, "total_time": n},
            "step_instance_list": [
                {"step_instance_id": 1, "status": 2, "step_ip_result_list": rows}
            ],
        }

    serve(server, answer)
    events, _ = await watch(make_client, 0.6)
    assert len(server.requests) >= 10  # many decoded polls ...
    hosts = [(e.host.key, int(e.current)) for e in events if isinstance(e, HostTransition)]
    assert sorted(hosts) == [(1, 9), (2, 7)]  # ... one report per host: the last row won


async def test_an_answer_about_another_job_ends_nothing(
    make_client: Any, server: RecordingServer
) -> None:
    def answer(n: int) -> dict[str, Any]:
        return {
            "finished": True,
            "job_instance": {"job_instance_id": 8, "status": 3, "total_time": n},
            "step_instance_list": [],
        }

    serve(server, answer)
    events, poller = await watch(make_client, 0.5)
    assert not [e for e in events if isinstance(e, JobFinished)]
    assert poller.statistics().errors.get("ResponseFormatError", 0) > 0
