"""One dashboard viewer, as its browser pages load it: the live feed, the overview, a jobs page.

``python benchmarks/_dashboard_viewer.py BASE_URL`` runs until killed, on the simulator's core
(so the measured poller's core is left to the poller): it reads the feed's server-sent events
as they come, asks for ``api/overview`` every second and for a jobs page every two.
"""

from __future__ import annotations

import os
import sys

import aiohttp
import anyio

SERVER_CORE = 1


async def main(base: str) -> None:
    async with aiohttp.ClientSession() as http:

        async def feed() -> None:
            async with http.get(
                base + "api/stream", timeout=aiohttp.ClientTimeout(total=None)
            ) as s:
                async for _ in s.content.iter_any():
                    pass

        async def pages() -> None:
            tick = 0
            while True:
                async with http.get(base + "api/overview") as answer:
                    await answer.read()
                if tick % 2 == 0:
                    async with http.get(base + "api/jobs?sort=updated&order=desc") as answer:
                        await answer.read()
                tick += 1
                await anyio.sleep(1.0)

        async with anyio.create_task_group() as tg:
            tg.start_soon(feed)
            tg.start_soon(pages)


if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {SERVER_CORE})
    anyio.run(main, sys.argv[1])
