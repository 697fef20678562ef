"""A scripted bk-job for poll-engine tests: each job replays a fixed history, one entry per poll."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

import bkjob_async
from bkjob_async import PollPolicy, Scope
from bkjob_async.testing import Request, Response

SCOPE = Scope.biz(2)
FAST = PollPolicy(interval=0.005, max_interval=0.02, max_in_flight=8, poll_timeout=5.0)
_STATUS_PATH = "/api/v3/get_job_instance_status"
_NOT_FOUND = Response(
    404,
    CIMultiDictProxy(CIMultiDict({"Content-Type": "text/plain; charset=utf-8"})),
    b"404: Not Found",
)


def _json(payload: Any) -> Response:
    """Return ``payload`` as ``aiohttp.web.json_response`` sends it."""
    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json; charset=utf-8"}))
    return Response(200, headers, json.dumps(payload).encode())


def job_body(
    job_id: int,
    job_status: int,
    steps: list[tuple[int, int, int, list[int] | None]],
    *,
    finished: bool | None = None,
) -> dict[str, Any]:
    """Build a v3 ``get_job_instance_status`` data object.

    ``steps`` holds ``(step_id, status, execute_count, host statuses or None)``; host ``i`` has
    ``bk_host_id`` 100 + i.
    """
    return {
        "finished": bkjob_async.JobStatus(job_status).is_finished if finished is None else finished,
        "job_instance": {"job_instance_id": job_id, "status": job_status, "name": f"job {job_id}"},
        "step_instance_list": [
            {
                "step_instance_id": step_id,
                "status": status,
                "execute_count": count,
                "type": 1,
                "step_ip_result_list": None
                if hosts is None
                else [
                    {"bk_host_id": 100 + i, "ip": f"10.0.0.{i}", "bk_cloud_id": 0, "status": s}
                    for i, s in enumerate(hosts)
                ],
            }
            for step_id, status, count, hosts in steps
        ],
    }


class Fault:
    """A non-success answer: an HTTP status with a raw body and headers."""

    def __init__(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.text, self.headers = status, text, headers or {}

    @classmethod
    def envelope(cls, code: int, message: str) -> Fault:
        body = f'{{"result": false, "code": {code}, "message": "{message}", "data": null}}'
        return cls(200, body, {"Content-Type": "application/json"})

    def response(self) -> Response:
        headers = CIMultiDict({"Content-Type": "text/plain; charset=utf-8"})
        headers.update(self.headers)
        return Response(self.status, CIMultiDictProxy(headers), self.text.encode())


class Hang:
    """Accept the request and never answer (until the test ends)."""


class ScriptedServer:
    """Serve job histories: poll ``n`` of a job gets entry ``min(n, last)`` of its history.

    A history entry is a data object, or a ``Fault`` (a response made afresh for each poll).
    A ``MockTransport`` handler: the ``scripted`` fixture serves it over HTTP and sets ``url``;
    ``MockTransport(server)`` answers a client in memory. It knows the gateway's
    ``get_job_instance_status`` only (anything else is aiohttp's plain 404).
    """

    def __init__(self) -> None:
        self.histories: dict[int, list[Any]] = {}
        self.polls: Counter[int] = Counter()
        #: Set at teardown: requests held by ``Hang`` end then.
        self.released = asyncio.Event()
        #: When each request of a job arrived (``time.monotonic``).
        self.arrivals: dict[int, list[float]] = {}
        self.hold = False  # when True, keep serving the current entry without advancing
        #: From this many requests on, answers also end with a fresh ``request_id`` (as an ESB
        #: adds its own after Job's ``job_request_id``).
        self.trailing_id_from: int | None = None
        self.requests = 0
        self._ids = itertools.count()
        self.url = ""

    def script(self, job_id: int, *entries: Any) -> None:
        self.histories[job_id] = list(entries)
        self.polls[job_id] = 0

    def extend(self, job_id: int, *entries: Any) -> None:
        """Append to a history; polls continue from where they are."""
        self.histories[job_id].extend(entries)

    async def __call__(self, request: Request) -> Response:
        if request.method != "GET" or urlsplit(request.url).path != _STATUS_PATH:
            return _NOT_FOUND
        job_id = int((request.query or {})["job_instance_id"])
        history = self.histories.get(job_id)
        if history is None:
            return _json(
                {
                    "result": False,
                    "code": 1244006,
                    "message": "Job instance does not exist",
                    "data": None,
                }
            )
        self.arrivals.setdefault(job_id, []).append(time.monotonic())
        index = min(self.polls[job_id], len(history) - 1)
        if not self.hold:
            self.polls[job_id] += 1
        entry = history[index]
        if isinstance(entry, Hang):
            await self.released.wait()
            return Fault(503, "released at teardown").response()
        if isinstance(entry, Fault):
            return entry.response()
        envelope = {"result": True, "code": 0, "job_request_id": f"{next(self._ids):x}"}
        envelope["data"] = entry
        self.requests += 1
        if self.trailing_id_from is not None and self.requests > self.trailing_id_from:
            envelope["request_id"] = f"{next(self._ids):x}"
        return _json(envelope)


def describe(event: Any) -> tuple[Any, ...]:
    """A compact, comparable form of an event."""
    name = type(event).__name__
    if name == "HostTransition":
        prev = None if event.previous is None else int(event.previous)
        return (
            "host",
            event.step_instance_id,
            event.execute_count,
            event.host.key,
            prev,
            int(event.current),
        )
    if name == "StepTransition":
        prev = None if event.previous is None else int(event.previous)
        return ("step", event.step_instance_id, event.execute_count, prev, int(event.current))
    if name == "JobTransition":
        return ("job", None if event.previous is None else int(event.previous), int(event.current))
    if name == "JobFinished":
        return ("finished", int(event.status))
    return (name,)
