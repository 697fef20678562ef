"""The poller watching every job back to back, alone or with one dashboard viewer: CPU per poll.

``python benchmarks/_dashboard_loop.py MODE URL IDS_FILE SECONDS`` prints one JSON line:
``{"mode", "cpu_per_request", "requests", "events", "entries"}``. MODE ``alone``: the poller and
its watch (as ``_loops.py engine``). MODE ``overview``, ``feed`` or ``jobs``: the same,
serving its dashboard (``bkjob_async.web``) on 127.0.0.1, with one viewer looking at that
page the whole time: a child process (``_dashboard_viewer.py``, on the simulator's core, so
its own CPU is not counted here) asking what the browser's page asks. MODE ``mounted``: the
dashboard served, nobody looking. The CPU
measured is this process's: the poller's, and the dashboard's work for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))

from _harness import HERE, pin_client, warmed_up

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope
from bkjob_async.tuning import keep_receive_buffers_on_heap
from bkjob_async.web import dashboard_app
from bkjob_async.web._board import BOARD

CONCURRENCY = 32
WARMUP = 2.0
SCOPE = Scope.biz(2)


async def main(mode: str, url: str, ids: list[int], seconds: float) -> dict:
    policy = PollPolicy(
        interval=0.001, max_interval=0.002, jitter=0.0, max_in_flight=CONCURRENCY, census=False
    )
    client = BkJobClient(
        url, app_code="bench", app_secret="secret", username="admin", connection_limit=CONCURRENCY
    )
    async with client, Poller(client, policy=policy) as poller:
        watch = poller.watch_jobs(SCOPE, ids)
        runner = viewer = None
        app = dashboard_app(poller)
        if mode != "alone":
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            base = f"http://127.0.0.1:{runner.addresses[0][1]}/"
            if mode != "mounted":
                viewer = subprocess.Popen(
                    [sys.executable, str(HERE / "_dashboard_viewer.py"), base, mode]
                )

        async def drain() -> None:
            async for _ in watch:
                pass

        def counts() -> tuple[int, int, float, int]:
            """Requests sent, events observed, this process's CPU time, the feed's entries."""
            events = poller.statistics().events_observed
            return poller._requests, events, time.process_time(), app[BOARD].feed.end

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain)
                await warmed_up(poller, len(ids), WARMUP)
                n0, e0, c0, f0 = counts()
                await anyio.sleep(seconds)
                n1, e1, c1, f1 = counts()
                tg.cancel_scope.cancel()
        finally:
            if viewer is not None:
                viewer.terminate()
                viewer.wait()
            if runner is not None:
                await runner.cleanup()
    return {
        "mode": mode,
        "cpu_per_request": (c1 - c0) / max(1, n1 - n0),
        "requests": n1 - n0,
        "events": e1 - e0,
        "entries": f1 - f0,
        "board_open": app[BOARD].opened,
    }


if __name__ == "__main__":
    pin_client()
    keep_receive_buffers_on_heap()
    mode_, url_, ids_file, seconds_ = sys.argv[1:5]
    result = anyio.run(main, mode_, url_, json.loads(Path(ids_file).read_text()), float(seconds_))
    print(json.dumps(result), flush=True)
