"""Engine tests on virtual time: an event loop whose clock jumps, and an in-memory bk-job.

``run_virtual(main)`` runs ``main`` on ``VirtualTimeLoop``: whenever nothing is ready to run,
the loop's clock jumps to the next timer instead of sleeping, so ten minutes of polling take as
long as their callbacks do. Nothing may touch the network there: ``MemoryBkJob`` is a transport
(``BkJobClient(transport=...)``) that answers from the loop's clock, can be taken down, can
admit only so many requests per one-second window, and counts what it was sent.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from multidict import CIMultiDict, CIMultiDictProxy

from bkjob_async import BkJobClient, ConnectError
from bkjob_async._protocol import Request, Response

T = TypeVar("T")


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector loop whose ``time()`` is virtual and advances only when the loop is idle."""

    def __init__(self) -> None:
        super().__init__(selectors.SelectSelector())
        self._virtual = 0.0
        selector = self._selector  # type: ignore[attr-defined]
        real_select = selector.select

        def select(timeout: float | None = None) -> list[Any]:
            ready = real_select(0)
            if ready or timeout is None or timeout <= 0:
                # Nothing scheduled at all (timeout None) only happens in a deadlock, which
                # the test's own fail_after (virtual too) turns into an error.
                return ready if timeout is not None or ready else real_select(0.01)
            self._virtual += timeout
            return ready

        selector.select = select

    def time(self) -> float:
        return self._virtual


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` on virtual time; return what it returns."""
    return anyio.run(main, backend="asyncio", backend_options={"loop_factory": VirtualTimeLoop})


def now() -> float:
    """Return the virtual time (the running loop's clock)."""
    return asyncio.get_running_loop().time()


def _body(job_id: int, finished: bool, waiting: bool = False) -> dict[str, Any]:
    """A job of a confirmation step (``job_id * 10 + 1``) and a script step on one host: while
    ``waiting`` the confirmation waits for a user (job status 7), then the script runs."""
    status, host = (3, 9) if finished else (2, 7)
    confirm = {
        "step_instance_id": job_id * 10 + 1,
        "status": 7 if waiting else 3,
        "execute_count": 0,
        "type": 3,
        "step_ip_result_list": None,
    }
    return {
        "finished": finished,
        "job_instance": {
            "job_instance_id": job_id,
            "status": 7 if waiting else status,
            "name": f"job {job_id}",
        },
        "step_instance_list": [
            confirm,
            {
                "step_instance_id": job_id * 10,
                "status": 1 if waiting else status,
                "execute_count": 0,
                "type": 1,
                "step_ip_result_list": [
                    {
                        "bk_host_id": 100,
                        "ip": "10.0.0.1",
                        "bk_cloud_id": 0,
                        "status": 5 if waiting else host,
                    }
                ],
            },
        ],
    }


_JSON = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
_THROTTLED = json.dumps(
    {"result": False, "code": 1642903, "code_name": "RATE_LIMIT_RESTRICTION", "data": None}
).encode()

_NOT_FOUND = json.dumps(
    {"result": False, "code": 1244006, "message": "Job instance does not exist", "data": None}
).encode()


class MemoryBkJob:
    """Answer ``get_job_instance_status``: job ``j`` runs until ``finish_at[j]``, then succeeds.

    ``down`` is a ``(start, end)`` span of virtual time when every request fails to connect,
    ``refuse`` one when every request is answered with a 429;
    ``window_limit`` admits that many requests per one-second window and answers the rest
    with a gateway 429 carrying no hint; ``latency`` is each answer's delay.
    """

    def __init__(
        self,
        finish_at: dict[int, float],
        *,
        latency: float = 0.002,
        window_limit: int | None = None,
        down: tuple[float, float] | None = None,
        refuse: tuple[float, float] | None = None,
    ) -> None:
        self.finish_at = finish_at
        self.latency = latency
        self.window_limit = window_limit
        self.down = down
        self.refuse = refuse
        self.sent: list[float] = []
        self.refused: list[float] = []
        self.answered: list[float] = []
        self.failed_connects: list[float] = []
        self.polls: Counter[int] = Counter()
        #: ``get_job_instance_list``: requests, the creation time of every job (Unix ms), how
        #: many seconds its statuses lag, and jobs it leaves out.
        self.lists = 0
        self.created_ms = int(time.time() * 1000) - 60_000
        self.list_lag = 0.0
        self.unlisted: set[int] = set()
        #: Jobs that wait for a user's confirmation until then (virtual time), then run.
        self.waiting_until: dict[int, float] = {}
        self._window = (0.0, 0)

    def client(self, **kwargs: Any) -> BkJobClient:
        return BkJobClient(
            "http://bkjob.invalid",
            app_code="app",
            app_secret="s3cret-virtual",
            username="admin",
            transport=self,
            **kwargs,
        )

    async def send(self, request: Request) -> Response:
        t = now()
        self.sent.append(t)
        if self.down is not None and self.down[0] <= t < self.down[1]:
            self.failed_connects.append(t)
            await anyio.sleep(self.latency / 2)
            raise ConnectError(f"{request.api}: cannot connect: refused")
        await anyio.sleep(self.latency)
        t = now()
        start, used = self._window
        if t - start >= 1.0:
            start, used = t, 0
        refusing = self.refuse is not None and self.refuse[0] <= t < self.refuse[1]
        if refusing or (self.window_limit is not None and used >= self.window_limit):
            self.refused.append(t)
            self._window = (start, used)
            return Response(429, _JSON, _THROTTLED)
        self._window = (start, used + 1)
        self.answered.append(t)
        assert request.query is not None
        if request.api == "get_job_instance_list":
            return self._list(request.query, t)
        job_id = int(request.query["job_instance_id"])
        self.polls[job_id] += 1
        if job_id not in self.finish_at:
            return Response(200, _JSON, _NOT_FOUND)
        data = _body(job_id, t >= self.finish_at[job_id], t < self.waiting_until.get(job_id, 0.0))
        envelope = {"result": True, "code": 0, "data": data}
        return Response(200, _JSON, json.dumps(envelope).encode())

    def _list(self, query: Any, t: float) -> Response:
        """Answer ``get_job_instance_list``: every job, newest (highest id) first, all created
        at ``created_ms``; ``list_lag`` answers with the statuses of that many seconds ago."""
        self.lists += 1
        start, length = int(query.get("start", 0)), int(query.get("length", 20))
        ids = sorted(self.finish_at, reverse=True)
        seen = t - self.list_lag
        rows = [
            {
                "job_instance_id": i,
                "status": self._status(i, seen),
                "name": f"job {i}",
                "create_time": self.created_ms,
            }
            for i in ids[start : start + length]
            if i not in self.unlisted
        ]
        data = {"start": start, "length": length, "total": len(ids), "data": rows or None}
        return Response(200, _JSON, json.dumps({"result": True, "code": 0, "data": data}).encode())

    def _status(self, job_id: int, t: float) -> int:
        if t >= self.finish_at[job_id]:
            return 3
        return 7 if t < self.waiting_until.get(job_id, 0.0) else 2

    async def aclose(self) -> None:
        return None
