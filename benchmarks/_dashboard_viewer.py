"""One dashboard viewer, as a browser tab loads a page of it, until killed.

``python benchmarks/_dashboard_viewer.py BASE_URL PAGE`` runs on the simulator's core (the
measured poller's core is left to the poller). PAGE ``overview`` (the landing page): the
stream of the latest transitions (``tail=20``) and ``api/overview`` every second (the samples
after the last it had, as the page asks). ``feed``:
every transition as it comes (the live feed page). ``jobs``: a jobs page every two seconds,
sorted by the latest change (its rows' names are asked of bk-job). It prints ``ready`` once
its page's first answers came (its start, an interpreter importing aiohttp on the simulator's
core, is then over).

``--switched``: it starts off and reads its standard input: ``on`` loads its page as above
(``ready`` once its first answers came), ``off`` leaves it (its connections closed; ``off``
printed once they are): one process for every phase of a run, its start outside them.
"""

from __future__ import annotations

import os
import sys

import aiohttp
import anyio

SERVER_CORE = 1


async def main(base: str, page: str, switched: bool = False) -> None:
    if not switched:
        await view(base, page)
        return
    lines = await anyio.to_thread.run_sync(sys.stdin.readline)
    while lines:
        if lines.strip() == "on":
            async with anyio.create_task_group() as tg:
                tg.start_soon(view, base, page)
                lines = await anyio.to_thread.run_sync(sys.stdin.readline)
                tg.cancel_scope.cancel()
            print("off", flush=True)
        else:
            lines = await anyio.to_thread.run_sync(sys.stdin.readline)


async def view(base: str, page: str) -> None:
    """Load the page and keep it loaded (until cancelled)."""
    left = [2 if page == "overview" else 1]

    def answered() -> None:
        """Its page's first answer came: say ``ready`` once every one of them came."""
        left[0] -= 1
        if left[0] == 0:
            print("ready", flush=True)

    async with aiohttp.ClientSession() as http:

        async def feed(query: str) -> None:
            forever = aiohttp.ClientTimeout(total=None)
            async with http.get(base + "api/stream" + query, timeout=forever) as stream:
                answered()
                async for _ in stream.content.iter_any():
                    pass

        async def every(path: str, seconds: float) -> None:
            while True:
                async with http.get(base + path) as answer:
                    await answer.read()
                if left[0]:
                    answered()
                await anyio.sleep(seconds)

        async def overview() -> None:
            since = 0  # (as the page asks: the samples after the last it has)
            while True:
                async with http.get(base + f"api/overview?since={since}") as answer:
                    series = (await answer.json())["series"]
                since = series[-1][0] if series else since
                if left[0]:
                    answered()
                await anyio.sleep(1.0)

        async with anyio.create_task_group() as tg:
            if page == "overview":
                tg.start_soon(feed, "?tail=20")
                tg.start_soon(overview)
            elif page == "feed":
                tg.start_soon(feed, "")
            else:
                tg.start_soon(every, "api/jobs?sort=updated&order=desc", 2.0)


if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {SERVER_CORE})
    anyio.run(main, sys.argv[1], sys.argv[2], "--switched" in sys.argv[3:])
