"""Engine tests on virtual time: an event loop whose clock jumps, and the simulator on that clock.

``run_virtual(main)`` runs ``main`` on ``VirtualTimeLoop``: whenever nothing is ready to run,
the loop's clock jumps to the next timer instead of sleeping, so ten minutes of polling take as
long as their callbacks do. Nothing may touch the network there: ``VirtualBkJob`` is the
simulator over ``MockTransport`` on the loop's clock (``BkJobSimulator(virtual_clock=...)``),
with a record of what the client was sent back and when (a transport that only watches).
``run_virtual`` and ``loop_time`` are ``bkjob_async.testing``'s, as users' tests have them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import anyio
from multidict import CIMultiDict, CIMultiDictProxy

from bkjob_async import BkJobClient, Poller, Scope, StepOperation, StepType, TransportError
from bkjob_async.testing import (
    BkJobSimulator,
    Fault,
    HostPlan,
    MockTransport,
    Request,
    Response,
    StepPlan,
    loop_time,
)
from bkjob_async.testing import run_virtual as run_virtual  # (the tests' one import of it)

T = TypeVar("T")
SCOPE = Scope.biz(2)
_HINTS = ("retry-after", "x-bkapi-ratelimit-")


def now() -> float:
    """Return the virtual time (the running loop's clock)."""
    return asyncio.get_running_loop().time()


class VirtualBkJob:
    """The simulator on the virtual loop's clock, and what its answers were and when.

    ``finish_at`` maps a name to when (virtual seconds from 0) a job of one script step on
    ``hosts`` hosts (one by default) succeeds; ``ids`` maps each name to the job's id. ``wait_until`` makes a job
    begin with a confirmation that waits for a person until then (``confirm``). ``latency``
    is each answer's delay. A 429 carries no hint of when to come back (the gateway's
    ``X-Bkapi-RateLimit-*`` headers are dropped: the poller's own pacing is under test) unless
    ``rate_hints``. ``answered``, ``refused`` (429) and ``failed`` (no connection)
    list when; ``polls`` counts the answered status polls of each job; ``lists`` the job
    list requests. The simulator's own tools script the rest: ``sim.inject``,
    ``sim.set_rate_limit``, ``sim.statistics``; ``outage`` takes it down for a while.
    """

    def __init__(
        self,
        finish_at: Mapping[int, float] | None = None,
        *,
        latency: float = 0.002,
        hosts: int = 1,
        rate_hints: bool = False,
        wait_until: Mapping[int, float] | None = None,
        **simulator: Any,
    ) -> None:
        simulator.setdefault("host_start_delay", 0.0)
        simulator.setdefault("operation_lag", 0.0)
        self.sim = BkJobSimulator(virtual_clock=loop_time, **simulator)
        self.latency, self.rate_hints, self.hosts = latency, rate_hints, hosts
        self.wait_until = dict(wait_until or {})
        self.ids: dict[int, int] = {}
        for name, at in (finish_at or {}).items():
            self.add(name, at)
        self.sent: list[float] = []
        self.answered: list[float] = []
        self.refused: list[float] = []
        self.failed: list[float] = []
        self.polls: Counter[int] = Counter()
        self.transport = MockTransport(self._send)
        self._inner = self.sim.transport()

    def add(self, name: int, finish_at: float) -> int:
        """Create job ``name`` now: it succeeds ``finish_at`` (seconds from 0) on its hosts."""
        wait = self.wait_until.get(name)
        start = wait if wait is not None else loop_time()
        run = StepPlan(hosts=[HostPlan(duration=max(0.0, finish_at - start))] * self.hosts)
        steps = [StepPlan(StepType.MANUAL_CONFIRM), run] if wait is not None else [run]
        self.ids[name] = self.sim.create_job(SCOPE, steps)
        return self.ids[name]

    def job(self, name: int) -> int:
        """Return the id of job ``name``."""
        return self.ids[name]

    @property
    def lists(self) -> int:
        """Return how many job list requests reached the simulator."""
        return self.sim.request_count("get_job_instance_list")

    def client(self, transport: MockTransport | None = None, **kwargs: Any) -> BkJobClient:
        """Return a client of the simulator (through ``transport``, if one wraps ours)."""
        return BkJobClient(
            "http://bkjob.invalid",
            app_code="app",
            app_secret="s3cret-virtual",
            username="admin",
            transport=transport or self.transport,
            **kwargs,
        )

    async def _send(self, request: Request) -> Response:
        self.sent.append(now())
        await anyio.sleep(self.latency)
        try:
            response = await self._inner.send(request)
        except TransportError:
            self.failed.append(now())
            raise
        if response.status == 429:
            self.refused.append(now())
            if self.rate_hints:
                return response
            headers = CIMultiDict(response.headers)
            for name in [name for name in headers if name.lower().startswith(_HINTS)]:
                del headers[name]
            return Response(response.status, CIMultiDictProxy(headers), response.body)
        self.answered.append(now())
        if request.api == "get_job_instance_status" and request.query is not None:
            self.polls[int(request.query["job_instance_id"])] += 1
        return response

    async def confirm(self, name: int) -> None:
        """Confirm job ``name``'s waiting step (at ``wait_until``), as its operator would."""
        await anyio.sleep(max(0.0, self.wait_until[name] - now()))
        job = self.sim.job(self.ids[name])
        step = job.steps[0].step_instance_id
        async with self.client(self.sim.transport()) as operator:  # not counted here
            await operator.operate_step_instance(
                SCOPE, job.job_instance_id, step, StepOperation.CONFIRM_CONTINUE
            )

    @contextlib.asynccontextmanager
    async def outage_beside(
        self, start: float, end: float, fault: Fault | None = None, **options: Any
    ) -> AsyncIterator[Poller]:
        """Yield a poller of this server (``options``: the ``Poller``'s) with an ``outage`` from
        ``start`` to ``end`` running beside the block; leaving the block waits for its end."""
        async with (
            self.client() as client,
            Poller(client, **options) as poller,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(self.outage, start, end, fault)
            yield poller

    async def outage(self, start: float, end: float, fault: Fault | None = None) -> None:
        """From ``start`` to ``end`` (virtual seconds) every request fails with ``fault``
        (by default the connection drops); run it beside the test (``start_soon``)."""
        await anyio.sleep(max(0.0, start - now()))
        rule = self.sim.inject(fault or Fault.reset(), times=None)
        await anyio.sleep(max(0.0, end - now()))
        rule.cancel()
