"""A running world for the dashboard's browser tests: simulator, poller, dashboard, proxy.

It runs on an event loop of its own thread, for a whole test module: the simulator on
127.0.0.1, one client and one ``Poller`` watching ``BULK`` jobs (most of them running for an
hour, some done: the jobs table has 10,000 rows of several statuses), and the dashboard served
under a path prefix of a user's own ``aiohttp`` app, behind a small TCP proxy the test can cut
(every connection dropped at once: a network blip, so the browser reconnects its feed). Tests
run coroutines on that loop with ``World.call``; the browser lives there too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from aiohttp import web

from bkjob_async import BkJobClient, KubeContainerFilter
from bkjob_async.models import HostStatus
from bkjob_async.polling import Poller, PollPolicy
from bkjob_async.polling.events import JobFinished
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan
from bkjob_async.web import dashboard_app
from bkjob_async.web._board import BOARD, Board
from bkjob_async.web._feed import held_entry

from .browser import chromium, launched
from .conftest import SCOPE

if TYPE_CHECKING:
    import pathlib

    from .browser import Browser

T = TypeVar("T")

XSS = "<img src=x onerror=alert(1)>"
PREFIX = "/ops/bk-job/"
SECRET = "sim-secret-never-shown"
TOKEN = "a-token-of-sixteen-chars"


class Proxy:
    """Forward 127.0.0.1:port to a server; ``cut`` drops every connection at once."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> int:
        """Drop every open connection; return how many were open."""
        writers, self._writers = list(self._writers), set()
        for writer in writers:
            transport = writer.transport
            transport.abort()
        return len(writers) // 2

    async def aclose(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class World:
    """The simulator, the poller and the dashboard, on a loop of their own thread."""

    def __init__(
        self,
        bulk: int,
        flavor: str = "apigw-v3",
        plans: Callable[[int], list[StepPlan]] | None = None,
        policy: PollPolicy | None = None,
        every_event: bool = False,
    ) -> None:
        #: Watch the bulk's every event (hosts read), not only its jobs' ends (the job list).
        self.every_event = every_event
        self.bulk, self.flavor, self.plans = bulk, flavor, plans
        self.policy = policy or PollPolicy(interval=0.2, max_interval=1.0, max_in_flight=16)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._sim_loop = asyncio.new_event_loop()
        self._sim_thread = threading.Thread(target=self._sim_loop.run_forever, daemon=True)
        self._stop: asyncio.Event | None = None
        self._ready: asyncio.Future[None] | None = None
        self._main: Any = None
        self.sim: BkJobSimulator
        self.poller: Poller
        self.board: Board
        self.proxy: Proxy
        self.base = ""
        self.bulk_ids: list[int] = []
        self.finished: dict[int, JobFinished] = {}
        self._watches: list[Any] = []
        #: The jobs tests launched (``launch``), each watched on a watch of its own.
        self.launched: list[int] = []

    def call(self, coro: Awaitable[T], timeout: float = 240) -> T:
        """Run a coroutine on the world's loop; return its result."""
        return asyncio.run_coroutine_threadsafe(_wrap(coro), self.loop).result(timeout)

    def start(self) -> None:
        self._thread.start()

        async def begin() -> None:
            self._ready = self.loop.create_future()
            self._stop = asyncio.Event()
            self._main = self.loop.create_task(self._run())
            await self._ready

        self.call(begin(), timeout=240)

    def stop(self) -> None:
        async def end() -> None:
            assert self._stop is not None
            self._stop.set()
            await self._main

        try:
            self.call(end(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive():
                self.loop.close()

    async def _run(self) -> None:
        assert self._ready is not None
        assert self._stop is not None
        try:
            await self._serve()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    async def _on_sim(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the simulator's loop (its thread), and return what it returned."""

        async def run() -> T:
            return work()

        future = asyncio.run_coroutine_threadsafe(run(), self._sim_loop)
        return await asyncio.wrap_future(future)

    async def _serve(self) -> None:
        assert self._ready is not None
        assert self._stop is not None
        # bk-job is elsewhere: the simulator runs on a loop of its own, in its own thread, so
        # its answers (10,000 rows of the job list, say) never hold up the dashboard's loop.
        sim = BkJobSimulator(host_duration=(1.0, 2.0), apps={"dash-app": SECRET})
        self._sim_thread.start()
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(sim.start(), self._sim_loop))
        try:
            self.sim = sim
            long = [StepPlan(hosts=[HostPlan(duration=3600)], name="long step")]
            done = [StepPlan(hosts=[HostPlan(duration=0.2)], name="quick step")]
            bad = [StepPlan(hosts=[HostPlan(duration=0.2, outcome=HostStatus.FAILED)])]

            def plan(n: int) -> list[StepPlan]:
                if self.plans is not None:
                    return self.plans(n)
                return bad if n % 10 == 1 else done if n % 10 == 2 else long

            def create() -> list[int]:
                return [
                    sim.create_job(SCOPE, plan(n), name=f"bulk job {n}") for n in range(self.bulk)
                ]

            self.bulk_ids = await self._on_sim(create)
            policy = self.policy
            async with (
                BkJobClient(
                    sim.url,
                    app_code="dash-app",
                    app_secret=SECRET,
                    username="admin",
                    flavor=self.flavor,
                ) as client,
                Poller(client, policy=policy) as poller,
                anyio.create_task_group() as tg,
            ):
                self.poller = poller
                app = web.Application()
                sub = dashboard_app(poller, allow_operations=True, token=TOKEN, grace=5.0)
                self.board = sub[BOARD]
                app.add_subapp(PREFIX, sub)
                runner = web.AppRunner(app, shutdown_timeout=2.0)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                port = runner.addresses[0][1]
                self.proxy = Proxy(port)
                await self.proxy.start()
                self.base = f"http://127.0.0.1:{self.proxy.port}{PREFIX}"
                ends = None if self.every_event else (JobFinished,)
                watch = poller.watch_jobs(SCOPE, self.bulk_ids, events=ends)
                tg.start_soon(self._drain, watch)
                self._ready.set_result(None)
                await self._stop.wait()
                await self.proxy.aclose()
                await runner.cleanup()
                for w in self._watches:
                    await w.aclose()
                tg.cancel_scope.cancel()
        finally:
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(sim.aclose(), self._sim_loop)
            )
            self._sim_loop.call_soon_threadsafe(self._sim_loop.stop)
            self._sim_thread.join(10)
            if not self._sim_thread.is_alive():
                self._sim_loop.close()

    async def _drain(self, watch: Any) -> None:
        async with watch:
            async for event in watch:
                if isinstance(event, JobFinished):
                    self.finished[event.job_instance_id] = event

    async def watch_job_page(self, page: Any, job_id: int) -> None:
        """Open a job's page and record when each cell changes, by the page's clock (the same
        machine's wall clock): ``window.changes``, ``[step, host or container, state, ms]``."""
        await page.goto(f"{self.base}job/{SCOPE.type.value}:{SCOPE.id}/{job_id}")
        await page.wait_for("document.body.dataset.loaded === '1'")
        await page.evaluate(
            """window.changes = [];
            new MutationObserver((list) => { for (const m of list) {
              const c = m.target, d = c.dataset;
              window.changes.push([d.step, d.host || d.container, d.state, Date.now()]);
            } }).observe(document.getElementById('steps'), {subtree: true, attributes: true, attributeFilter: ['data-state']});
            true"""
        )

    def feed_entries(self, job: str | None = None) -> list[dict[str, Any]]:
        """Return the board's feed as the JSON it sends (``job``: that job's entries only)."""

        async def read() -> list[dict[str, Any]]:
            feed = self.board.feed
            entries = [held_entry(h) for h in feed.read(feed.start, 10**9)]
            return [json.loads(data) for _, key, data in entries if job is None or key == job]

        return self.call(read())

    async def containers(self, kube_filter: KubeContainerFilter) -> list[int]:
        """Return the simulator's containers ``kube_filter`` selects (to plan a job in them)."""
        return await self._on_sim(lambda: self.sim.containers(kube_filter))

    async def launch(self, steps: list[StepPlan], name: str | None = None) -> int:
        """Create a job now and watch it (every event) on a watch of its own."""
        job_id = await self._on_sim(lambda: self.sim.create_job(SCOPE, steps, name=name))
        self.launched.append(job_id)
        watch = self.poller.watch_jobs(SCOPE, [job_id])
        self._watches.append(watch)
        self.loop.create_task(self._drain(watch))
        return job_id


async def _wrap(coro: Awaitable[T]) -> T:
    return await coro


def poll_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait (in the test's thread) until ``predicate()`` holds."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@contextlib.contextmanager
def served(*args: Any, **kwargs: Any) -> Iterator[World]:
    """Start ``World(*args, **kwargs)`` for a module's browser tests and stop it after; skip
    first where no browser is, before building a world none will see."""
    chromium()
    world = World(*args, **kwargs)
    world.start()
    try:
        yield world
    finally:
        world.stop()


@contextlib.contextmanager
def browsing(world: World, profile: pathlib.Path) -> Iterator[Browser]:
    """Open a browser on ``world``'s loop, its profile in ``profile``, and close it after."""
    stack = contextlib.AsyncExitStack()
    opened: Browser = world.call(stack.enter_async_context(launched(profile)))
    try:
        yield opened
    finally:
        world.call(stack.aclose())
