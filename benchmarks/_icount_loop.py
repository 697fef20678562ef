"""Make N requests in one mode, 32 at a time or one at a time, then exit: what callgrind counts.

``python benchmarks/_icount_loop.py raw|raw-bare|raw-json|engine URL IDS_FILE N [GAP]``. ``raw`` is
plain aiohttp sending the requests the client builds (``async with session.get(...)``, then
read); ``raw-bare`` the same awaiting the response and releasing it by hand (as the engine's
transport does; aiohttp's leanest documented use); ``raw-json`` is ``raw`` plus ``json.loads``
of each body; ``engine`` is the poller watching the same jobs back to back: against the plain
simulator every poll after a job's first is unchanged, against ``simulator(flip=True)`` every
poll is a changed one (decoded, diffed, one host's transition delivered).

With ``GAP`` (seconds), the polls fall due one at a time, as on a mix whose jobs are launched
one by one: one every ``GAP`` s, each job in turn, on its own watch in the engine (a task of its
own in the raw loops). A request under callgrind takes a few tens of milliseconds: ``GAP`` must
be more, so that none is in flight when the next falls due. The raw loops send each alone; the
engine sends those due within ``_decide.early`` of one another together.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope
from bkjob_async.polling._reader import PollRequests
from bkjob_async.tuning import keep_receive_buffers_on_heap

mode, url, ids_file, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
GAP = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
keep_receive_buffers_on_heap()  # the opt-in a program polling many jobs makes (README)
ids = json.loads(Path(ids_file).read_text())
SCOPE = Scope.biz(2)
#: The API flavor both loops speak (``BENCH_ICOUNT_FLAVOR``; the gateway's v3 by default).
FLAVOR = os.environ.get("BENCH_ICOUNT_FLAVOR", "apigw-v3")


async def raw(bare: bool, parse: bool):
    async with BkJobClient(url, app_code="a", app_secret="s", username="u", flavor=FLAVOR) as c:
        polls = PollRequests(c.protocol)  # the poller's own requests
        reqs = [polls.job(SCOPE, i, with_hosts=True) for i in ids]
    rot = itertools.cycle(reqs)
    left = [n]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as s:

        async def loop(mine: Any = None, phase: float = 0.0) -> None:
            if GAP:  # alone: this task's job, every len(reqs) gaps, from its phase
                await asyncio.sleep(phase)
            while left[0] > 0:
                left[0] -= 1
                r = next(rot) if mine is None else mine
                if bare:
                    resp = await s.get(r.url, params=r.query, headers=r.headers)
                    try:
                        await resp.read()
                    finally:
                        resp.release()
                    continue
                async with s.get(r.url, params=r.query, headers=r.headers) as resp:
                    body = await resp.read()
                if parse:
                    json.loads(body)
                if GAP:
                    await asyncio.sleep(GAP * len(reqs))

        async with anyio.create_task_group() as tg:
            if GAP:
                for i, r in enumerate(reqs):
                    tg.start_soon(loop, r, GAP * i)
            else:
                for _ in range(32):
                    tg.start_soon(loop)


async def engine():
    if GAP:  # alone: each job on a watch of its own, polled every len(ids) gaps
        every = GAP * len(ids)
        policy = PollPolicy(interval=every, max_interval=every, jitter=0.0, latency=None)
        await alone(policy)
        return
    policy = PollPolicy(interval=0.001, max_interval=0.002, jitter=0.0, max_in_flight=32)
    async with (
        BkJobClient(
            url, app_code="a", app_secret="s", username="u", connection_limit=32, flavor=FLAVOR
        ) as c,
        Poller(c, policy=policy) as p,
    ):
        w = p.watch_jobs(SCOPE, ids)

        async def drain():
            async for _ in w:
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            while p._requests < n:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        statistics = p.statistics()
    _print(p, statistics)


async def alone(policy: PollPolicy) -> None:
    """The engine with its polls alone: one watch a job, begun a gap after the last."""
    async with (
        BkJobClient(url, app_code="a", app_secret="s", username="u", flavor=FLAVOR) as c,
        Poller(c, policy=policy) as p,
    ):

        async def drain(job_id: int) -> None:
            async with p.watch_jobs(SCOPE, [job_id]) as w:
                async for _ in w:
                    pass

        async with anyio.create_task_group() as tg:
            for job_id in ids:
                tg.start_soon(drain, job_id)
                await anyio.sleep(GAP)
            while p._requests < n:  # (rarely: a check is a turn of the loop of its own)
                await anyio.sleep(0.5)
            tg.cancel_scope.cancel()
        statistics = p.statistics()
    _print(p, statistics)


def _print(p: Poller, statistics: Any) -> None:
    # What the polls were, for the test to check: ``requests`` counts every poll sent.
    print(
        json.dumps(
            {
                "requests": p._requests,
                "unchanged": statistics.unchanged_polls,
                "events": statistics.events_observed,
            }
        )
    )


if mode == "engine":
    anyio.run(engine)
else:
    anyio.run(raw, mode == "raw-bare", mode == "raw-json")
