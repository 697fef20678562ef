"""Rule: the simulator sends job-end callbacks exactly as bk-job's ``CallbackListener`` does.

The simulator's job-end callbacks, sent as bk-job's ``CallbackListener`` sends them.

When a job with a ``callback_url`` ends, POST ``{"job_instance_id", "status",
"step_instances": [{"step_instance_id", "status"}]}`` with ``Content-Type: application/json``;
on any answer but HTTP 200, post the same JSON text once more labelled
``application/x-www-form-urlencoded``; nothing after that, and nothing at all when the post
fails without an answer (connection refused, timeout) or when the egress whitelist refuses the
URL (dropped silently, as ``CallbackUrlValidateService`` does). Redirects are not followed.

Rule: the request handlers never wait for this. They only note which jobs may end
(``World.touched``); one task of the simulator's task group wakes when one may have, and a few
workers post, so a slow or dead receiver slows nothing else. The URL is never logged: it holds
the receiver's secret token.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import aiohttp
import anyio

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from ._world import World

__all__ = ["CallbackSender"]

_log = logging.getLogger("bkjob_async.testing")
_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
#: Posts in flight at once (bk-job sends from a small thread pool).
_WORKERS = 16
#: Jobs that end within this many seconds of each other are sent in one wake-up.
_COALESCE = 0.005


class CallbackSender:
    """Post the world's due callbacks, run in the simulator's task group (``run``)."""

    def __init__(self, world: World, *, timeout: float = 10.0) -> None:
        self.world = world
        self.timeout = timeout
        #: The egress whitelist: ``None`` lets every URL through.
        self.allow: Callable[[str], bool] | None = None
        self.sent = self.retried = self.delivered = self.failed = self.dropped = 0
        self._wake = anyio.Event()

    def wake(self) -> None:
        """Look for due callbacks now (a job was created or operated on, the clock moved)."""
        self._wake.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Send callbacks until cancelled."""
        send, receive = anyio.create_memory_object_stream[tuple[str, bytes]](math.inf)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        connector = aiohttp.TCPConnector(limit=_WORKERS)
        http = aiohttp.ClientSession(timeout=timeout, connector=connector, trust_env=False)
        try:
            async with send, receive, anyio.create_task_group() as group:
                for _ in range(_WORKERS):
                    group.start_soon(self._worker, http, receive.clone())
                task_status.started()
                await self._pump(send)
        finally:
            with anyio.CancelScope(shield=True):  # run() ends by cancellation
                await http.close()

    async def _pump(self, send: MemoryObjectSendStream[tuple[str, bytes]]) -> None:
        world, virtual = self.world, self.world.clock.virtual
        while True:
            self._wake = anyio.Event()
            for url, body in world.due_callbacks():
                allow = self.allow
                if allow is not None and not allow(url):
                    self.dropped += 1
                    continue
                send.send_nowait((url, body))
            at = world.next_callback_at()
            if at is None or virtual:
                delay = math.inf  # a virtual clock moves only by advance(), which wakes us
            else:
                delay = max(_COALESCE, (at - world.now_ms()) / 1000)
            with anyio.move_on_after(delay):
                await self._wake.wait()

    async def _worker(
        self, http: aiohttp.ClientSession, receive: MemoryObjectReceiveStream[tuple[str, bytes]]
    ) -> None:
        async with receive:
            async for url, body in receive:
                await self._deliver(http, url, body)

    async def _deliver(self, http: aiohttp.ClientSession, url: str, body: bytes) -> None:
        self.sent += 1
        status = await self._post(http, url, body, _JSON)
        if status is None:
            self.failed += 1
            return
        if status != 200:
            self.retried += 1
            status = await self._post(http, url, body, _FORM)
        if status == 200:
            self.delivered += 1
        else:
            self.failed += 1

    async def _post(
        self, http: aiohttp.ClientSession, url: str, body: bytes, content_type: str
    ) -> int | None:
        try:
            async with http.post(
                url, data=body, headers={"Content-Type": content_type}, allow_redirects=False
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            _log.debug("a callback post failed: %s", type(error).__name__)
            return None
