"""A bk-job whose faults belong to single jobs: hung, malformed or failing reads of one job.

``FaultyBkJob`` is a ``MockTransport`` handler (serve it over HTTP with ``serve`` for real
sockets, or hand it to ``MockTransport`` on virtual time). Each job runs on the handler's clock
(the running loop's, so virtual time works too): it is RUNNING until ``ends_at`` seconds after
``start()``, then SUCCESS. What its reads get is its ``JobFaults``: hung (never answered until
the test ends, or on virtual time until ``timeout`` passes: then it raises the
``TimeoutError`` a client's read timeout would), malformed (a body nested deeper than the
client reads, or one of the wrong shape), 502 or 429 on chosen reads. ``down`` makes every read
fail at once with 502 (an outage of bk-job itself), ``frozen`` every read hang (one that
accepts and never answers). It records when each job ended and each read it answered.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import anyio
import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from bkjob_async import (
    BkJobClient,
    JobFinished,
    Poller,
    PollPolicy,
    Scope,
    Timeouts,
    WatchFailed,
    errors,
)
from bkjob_async.testing import MockTransport, Request, Response, serve

from .scripted import job_body

_STATUS_PATH = "/api/v3/get_job_instance_status"
_JSON = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json; charset=utf-8"}))
_TEXT = CIMultiDictProxy(CIMultiDict({"Content-Type": "text/html; charset=utf-8"}))
#: A body nested 600 deep: the client's depth bound refuses it unread.
DEEP = b'{"result": true, "code": 0, "data": ' + b"[" * 600 + b"]" * 600 + b"}"
#: A body of bk-job's envelope whose data has the wrong shape: a format error every time.
WRONG_SHAPE = json.dumps(
    {"result": True, "code": 0, "data": {"job_instance": "not an object"}}
).encode()


@attrs.frozen
class JobFaults:
    """What one job's reads get: ``hung`` (every read, or the reads numbered in
    ``hung_reads``: 1 is the first read), ``body`` (a malformed body for every read), or 502
    on the reads numbered in ``bad_gateway``, and on the first ``bad_gateway_at_end`` reads
    after it ended (the reads that would have seen its end), 429 on the reads numbered in
    ``throttled``."""

    hung: bool = False
    hung_reads: frozenset[int] = frozenset()
    body: bytes | None = None
    bad_gateway: frozenset[int] = frozenset()
    bad_gateway_at_end: int = 0
    throttled: frozenset[int] = frozenset()


class FaultyBkJob:
    """Jobs that end at set times, each with its own faults (module docstring)."""

    def __init__(
        self,
        ends_at: dict[int, float],
        faults: dict[int, JobFaults] | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        self.ends_at = dict(ends_at)
        self.faults = dict(faults or {})
        self.timeout = timeout
        self.reads: Counter[int] = Counter()
        #: Loop time of each read of each job, answered or not.
        self.read_at: dict[int, list[float]] = {}
        #: Loop time of each answered read, per job.
        self.answered: dict[int, list[float]] = {}
        self.started = 0.0
        self.down = False
        #: Every read hangs while set (bk-job accepts and answers nothing).
        self.frozen = False
        #: Reads answered 502 after each job's end so far.
        self.failed_at_end: Counter[int] = Counter()
        #: Set at teardown: hung reads end then.
        self.released = asyncio.Event()
        self.url = ""

    def start(self) -> None:
        """Start the jobs' clocks now."""
        self.started = asyncio.get_running_loop().time()

    def ended(self, job_id: int) -> float:
        """Return the loop time at which ``job_id`` ended."""
        return self.started + self.ends_at[job_id]

    async def __call__(self, request: Request) -> Response:
        if urlsplit(request.url).path != _STATUS_PATH:
            return Response(404, _TEXT, b"not found")
        now = asyncio.get_running_loop().time()
        job_id = int((request.query or {})["job_instance_id"])
        self.reads[job_id] += 1
        self.read_at.setdefault(job_id, []).append(now)
        faults = self.faults.get(job_id, JobFaults())
        done = now >= self.ended(job_id)
        at_end = done and self.failed_at_end[job_id] < faults.bad_gateway_at_end
        if at_end:
            self.failed_at_end[job_id] += 1
        if self.down or at_end or self.reads[job_id] in faults.bad_gateway:
            return Response(502, _TEXT, b"<html><body>502 Bad Gateway</body></html>")
        if self.reads[job_id] in faults.throttled:
            return Response(429, _TEXT, b"too many requests")
        if faults.hung or self.frozen or self.reads[job_id] in faults.hung_reads:
            if self.timeout is not None:  # (on virtual time: the client's read timeout)
                await asyncio.sleep(self.timeout)
                raise errors.TimeoutError(f"{request.api}: timed out")
            await self.released.wait()
            return Response(503, _TEXT, b"released at teardown")
        if faults.body is not None:
            return Response(200, _JSON, faults.body)
        self.answered.setdefault(job_id, []).append(now)
        status = 3 if done else 2
        body = job_body(job_id, status, [(job_id * 10, status, 0, [3 if done else 7])])
        envelope: dict[str, Any] = {"result": True, "code": 0, "data": body}
        return Response(200, _JSON, json.dumps(envelope).encode())


class LoopLag:
    """The event loop's lateness on this machine now: the most a 10 ms sleep overran, and
    when it stalled (a sleep overran by more than ``STALL``: the process did not run)."""

    #: An overrun past this is a stall: on an idle machine, or beside one CPU hog, none is.
    STALL = 0.1

    def __init__(self) -> None:
        self.most = 0.0
        self.stalls: list[tuple[float, float]] = []  # (when the sleep ended, its overrun)

    async def measure(self) -> None:
        while True:
            start = anyio.current_time()
            await anyio.sleep(0.01)
            now = anyio.current_time()
            over = now - start - 0.01
            self.most = max(self.most, over)
            if over > self.STALL:
                self.stalls.append((now, over))

    def slack(self, start: float, end: float) -> float:
        """Return how late an answer due at ``start`` (loop time) and seen at ``end`` may be
        for the loop's sake: its lag at each of three turns (the poll's timer, its answer, the
        delivery), and on a starved machine (load 10 and more on 2 cores) every second the
        process did not run between the two, which no engine can make up."""
        stalled = sum(over for at, over in self.stalls if start < at <= end + self.most)
        return 3 * self.most + stalled


def virtual_client(server: FaultyBkJob, seed: int) -> BkJobClient:
    """Return a client of ``server`` in this process (``MockTransport``: virtual time), its
    retry jitter drawn from ``seed``."""
    return BkJobClient(
        "http://bkjob.invalid",
        app_code="app",
        app_secret="s3cret-virtual",
        username="admin",
        transport=MockTransport(server),
        rng=random.Random(seed),
    )


async def watch_served(
    server: FaultyBkJob,
    policy: PollPolicy,
    timeouts: Timeouts,
    outage: tuple[float, float] | None = None,
    *,
    limit: float = 100,
    lag: LoopLag | None = None,
) -> tuple[list[tuple[float, Any]], Any]:
    """Serve ``server`` on 127.0.0.1 and watch every job of it to its end (bk-job down from
    ``outage[0]`` to ``outage[1]`` seconds in); return the ``(seconds after start, event)``
    pairs and the poller's statistics. ``lag``: measured beside the watch."""
    seen: list[tuple[float, Any]] = []
    async with serve(server, shutdown_timeout=0.1) as http:
        server.url = http.url
        async with (
            BkJobClient(
                http.url,
                app_code="app",
                app_secret="s3cret-faulty",
                username="u",
                timeouts=timeouts,
            ) as client,
            Poller(client, policy=policy) as poller,
            anyio.create_task_group() as tg,
        ):

            async def down() -> None:
                if outage is not None:
                    await anyio.sleep(outage[0])
                    server.down = True
                    await anyio.sleep(outage[1] - outage[0])
                    server.down = False

            server.start()
            tg.start_soon(down)
            if lag is not None:
                tg.start_soon(lag.measure)
            try:
                with anyio.fail_after(limit):
                    async for event in poller.watch_jobs(_SCOPE, list(server.ends_at)):
                        seen.append((anyio.current_time() - server.started, event))
            finally:
                server.released.set()
            stats = poller.statistics()
            if lag is not None:
                tg.cancel_scope.cancel()
    return seen, stats


def ends_of(seen: list[tuple[float, Any]]) -> dict[int, tuple[float, Any]]:
    """Return each job's end (``JobFinished`` or ``WatchFailed``) and when it came, by job."""
    return {e.job_instance_id: (t, e) for t, e in seen if isinstance(e, (JobFinished, WatchFailed))}


def three_502s(seed: int, where: str) -> FaultyBkJob:
    """Return 40 jobs ending 5-40 s in whose reads that would see an end get three 502s in
    all: ``where`` is ``"one job"`` (its read at the end and its two retries) or ``"three
    jobs"`` (one each)."""
    rng = random.Random(seed)
    ends = {job: rng.uniform(5.0, 40.0) for job in range(1, 41)}
    if where == "one job":
        faults = {rng.choice(sorted(ends)): JobFaults(bad_gateway_at_end=3)}
    else:
        faults = {job: JobFaults(bad_gateway_at_end=1) for job in rng.sample(sorted(ends), 3)}
    return FaultyBkJob(ends, faults)


_SCOPE = Scope.biz(2)
