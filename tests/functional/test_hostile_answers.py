"""Hostile answers: one bad answer fails the jobs that got it, never the poller (issue 46, point 1).

A hostile server, a proxy or anyone on an ``http://`` path can send an answer nested
thousands deep: it is a ``ResponseFormatError`` (``_json.MAX_DEPTH``) before anything walks
it. An exception nothing expects in one job's processing fails that job's watch with a
``PollingError`` that keeps the cause, and only that job's. Each test serves the answers to a
poller of 100 jobs on virtual time: only the jobs that got them fail, each with a typed
cause, and the rest finish as the simulator says. (``test_json.py`` runs this module under the
standard library's JSON too.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bkjob_async import (
    BkJobError,
    JobFinished,
    PermissionDeniedError,
    Poller,
    PollingError,
    PollPolicy,
    ResponseFormatError,
    ResponseRefusedError,
    WatchFailed,
)
from bkjob_async._json import MAX_DEPTH
from bkjob_async.polling._reader import Reader
from bkjob_async.testing import Request, Response

from ..virtual import SCOPE, VirtualBkJob, run_virtual

POLICY = PollPolicy(interval=1.0, max_interval=4.0)
JOBS = 100
SECRET = "s3cret-virtual"


def _nested(depth: int, leaf: str) -> str:
    """JSON text of ``leaf`` (JSON text) inside ``depth`` arrays (built as text: json.dumps
    itself cannot write what is nested this deep)."""
    return "[" * depth + leaf + "]" * depth


def _permission(depth: int) -> str:
    """bk-iam's permission object, its instances nested ``depth`` levels further."""
    types = _nested(depth, '"x"')
    return f'{{"system_id":"bk_job","actions":[{{"id":"view","related_resource_types":{types}}}]}}'


def _error(**fields: str) -> bytes:
    """An error envelope of bk-job, each of ``fields`` given as JSON text."""
    extra = "".join(f',"{name}":{text}' for name, text in fields.items())
    return f'{{"result":false,"code":9900403,"message":"denied"{extra}}}'.encode()


#: What the issue found, and more of its kind: name -> (answer body, the error its watch ends with).
HOSTILE: dict[str, tuple[bytes, type[BkJobError]]] = {
    # 3.6 KB: raised a bare RecursionError from the redactor and ended every watch.
    # Refused unread (``ResponseRefusedError``, a ``ResponseFormatError``): two in a row end
    # the job's watch within seconds (issue 61).
    "permission 600 deep": (_error(permission=_permission(600)), ResponseRefusedError),
    "request_id 990 deep": (_error(request_id=_nested(990, '"r"')), ResponseRefusedError),
    "data 5000 deep": (
        f'{{"result":true,"code":0,"data":{_nested(5000, "1")}}}'.encode(),
        ResponseRefusedError,
    ),
    "message 3000 deep": (
        b'{"result":false,"code":1240001,"message":' + b"{" + b'"m":{' * 3000 + b"}" * 3001 + b"}",
        ResponseRefusedError,
    ),
    # Just within the limit: read, masked, and a permanent refusal as bk-job means it.
    "permission at the limit": (
        _error(permission=_permission(MAX_DEPTH - 4), request_id=json.dumps(SECRET)),
        PermissionDeniedError,
    ),
}


class Hostile(VirtualBkJob):
    """The simulator, but the status polls of some jobs get the answer ``bodies`` says."""

    def __init__(self, bodies: Callable[[int], bytes | None]) -> None:
        super().__init__({name: 2.0 + name % 7 for name in range(JOBS)})
        self.bodies = bodies
        self.served = 0

    async def _send(self, request: Request) -> Response:
        response = await super()._send(request)
        if request.api != "get_job_instance_status" or request.query is None:
            return response
        body = self.bodies(int(request.query["job_instance_id"]))
        if body is None:
            return response
        self.served += 1
        headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
        return Response(200, headers, body)


def _watch(server: Hostile) -> dict[int, Any]:
    """Watch every job to its end; return each job's last event."""
    ends: dict[int, Any] = {}

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            ids = [server.job(name) for name in range(JOBS)]
            with anyio.fail_after(900):
                async for event in poller.watch_jobs(SCOPE, ids):
                    if isinstance(event, (JobFinished, WatchFailed)):
                        ends[event.job_instance_id] = event

    run_virtual(main)
    return ends


def _check_the_rest_finished(server: Hostile, ends: dict[int, Any], bad: set[int]) -> None:
    assert len(ends) == JOBS
    for name in range(JOBS):
        job_id = server.job(name)
        if job_id in bad:
            continue
        end = ends[job_id]
        assert isinstance(end, JobFinished), end
        assert end.status == server.sim.job(job_id).status


def test_each_hostile_answer_fails_only_the_jobs_that_got_it() -> None:
    kinds = list(HOSTILE)
    # Jobs 0-4 get the first kind, 5-9 the second...: 25 jobs in all; the other 75 do not.
    chosen = {name: kinds[name // 5] for name in range(5 * len(kinds))}
    server: Hostile

    def bodies(job_id: int) -> bytes | None:
        name = next((n for n, i in server.ids.items() if i == job_id), None)
        kind = chosen.get(name) if name is not None else None
        return None if kind is None else HOSTILE[kind][0]

    server = Hostile(bodies)
    ends = _watch(server)
    bad = {server.job(name) for name in chosen}
    for name, kind in chosen.items():
        end = ends[server.job(name)]
        assert isinstance(end, WatchFailed), (kind, end)
        assert type(end.error) is HOSTILE[kind][1], (kind, end.error)
        assert SECRET not in str(end.error)
        assert SECRET not in repr(end.error.__dict__)
        if issubclass(HOSTILE[kind][1], ResponseFormatError):
            assert f"deeper than {MAX_DEPTH} levels" in str(end.error), end.error
        else:
            permission = end.error.permission  # type: ignore[attr-defined]
            assert permission["system_id"] == "bk_job"
    assert server.served >= len(chosen)
    _check_the_rest_finished(server, ends, bad)


@pytest.mark.parametrize("where", ["read", "finish"])
def test_an_exception_nothing_expects_fails_that_job_alone(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A bug met while reading one job's answers (simulated here) ends that job's watch with
    a ``PollingError`` whose cause is the bug; the poller and the other 99 jobs go on."""
    server = Hostile(lambda job_id: None)
    victims = {server.job(3), server.job(50)}
    original = getattr(Reader, where)

    def wrapped(self: Reader, watched: Any, *args: Any) -> Any:
        if watched.job.job_instance_id in victims:
            raise KeyError("a field nobody expected")
        return original(self, watched, *args)

    async def read(self: Reader, watched: Any) -> Any:
        if watched.job.job_instance_id in victims:
            raise KeyError("a field nobody expected")
        return await original(self, watched)

    monkeypatch.setattr(Reader, where, read if where == "read" else wrapped)
    ends = _watch(server)
    for job_id in victims:
        end = ends[job_id]
        assert isinstance(end, WatchFailed)
        assert isinstance(end.error, PollingError)
        assert isinstance(end.error.__cause__, KeyError)
        assert f"job {job_id}" in str(end.error)
        assert "KeyError" in str(end.error)
    _check_the_rest_finished(server, ends, victims)
