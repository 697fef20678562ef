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
import collections
import cProfile
import gc
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import anyio

import bkjob_async
from bkjob_async import BkJobClient, Poller, PollPolicy, Scope
from bkjob_async.tuning import keep_receive_buffers_on_heap

try:
    from bkjob_async.polling._reader import PollRequests
except ImportError:  # (a tree before it moved: 51c62ef, ``_icount_compare.py``'s base)
    from bkjob_async.polling._query import PollRequests  # type: ignore[no-redef]

mode, url, ids_file, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
GAP = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
#: ``BENCH_ICOUNT_MARKS=W,N,K`` (``_icount_compare.py``): after W requests (every job's first
#: poll and more), print ``ready`` and wait for a line on stdin (the parent turns callgrind's
#: instrumentation on meanwhile), then mark K + 1 times, N requests apart. A mark calls
#: ``sys.getallocatedblocks()``, which nothing else here calls: callgrind's
#: ``--dump-before=_Py_GetAllocatedBlocks`` writes the instructions counted since the last one.
#: The loop then stops (``n`` is unused) and prints the answers read at each mark: the raw loops'
#: own count; the engine's unchanged polls plus events, one a changed poll (every poll after a
#: job's first is the one or the other: ``simulator(flip=...)``), not its requests sent, which
#: run up to 32 ahead of its answers.
MARKS = [int(m) for m in os.environ.get("BENCH_ICOUNT_MARKS", "").split(",") if m]
if MARKS:
    n = 1 << 62  # (the marks stop it)
#: ``BENCH_ICOUNT_PROFILE=PATH`` (with the marks, and no callgrind): cProfile's statistics of the
#: windows, into PATH: the calls a poll makes, function by function (``_icount_compare.py
#: --calls``).
PROFILE = (
    (os.environ["BENCH_ICOUNT_PROFILE"], cProfile.Profile())
    if os.environ.get("BENCH_ICOUNT_PROFILE")
    else None
)
#: ``BENCH_ICOUNT_OPCODES=PATH`` (likewise): the bytecodes each function ran in the windows (its
#: own, not its callees'), as JSON ``{"file:line:name": count}``; the interpreter's work, where
#: callgrind sees only its loop (``_PyEval_EvalFrameDefault``).
OPCODES: dict[Any, int] = {}
#: ``BENCH_ICOUNT_GC=PATH`` (likewise): the collector's passes in the windows, as JSON
#: ``{"passes": [per generation], "young": {type: n}, "alive": [n, ...]}``: at the start of each
#: pass of the youngest generation, the objects it holds by type (summed over the passes) and
#: how many they are (a pass comes when allocations of tracked objects outnumber their frees by
#: 700 since the last one; ``alive`` far under it says the frees went uncounted).
YOUNG: dict[str, Any] = {"passes": [0, 0, 0], "young": collections.Counter(), "alive": []}


def _opcode(frame: Any, event: str, arg: Any) -> Any:
    if event == "call":
        frame.f_trace_opcodes = True
    elif event == "opcode":
        code = frame.f_code
        OPCODES[code] = OPCODES.get(code, 0) + 1
    return _opcode


def _opcodes_on(on: bool) -> None:
    if not os.environ.get("BENCH_ICOUNT_OPCODES"):
        return
    sys.settrace(_opcode if on else None)
    if not on:
        named = {
            f"{c.co_filename}:{c.co_firstlineno}:{c.co_qualname}": n for c, n in OPCODES.items()
        }
        Path(os.environ["BENCH_ICOUNT_OPCODES"]).write_text(json.dumps(named))


def _young(phase: str, info: dict[str, int]) -> None:
    generation = info["generation"]
    if phase != "start":
        return
    YOUNG["passes"][generation] += 1
    if generation == 0:
        young = gc.get_objects(0)
        YOUNG["alive"].append(len(young))
        YOUNG["young"].update(f"{type(o).__module__}.{type(o).__qualname__}" for o in young)
        del young


def _young_on(on: bool) -> None:
    if not os.environ.get("BENCH_ICOUNT_GC"):
        return
    if on:
        gc.callbacks.append(_young)
        return
    gc.callbacks.remove(_young)
    YOUNG["young"] = dict(YOUNG["young"].most_common())
    Path(os.environ["BENCH_ICOUNT_GC"]).write_text(json.dumps(YOUNG))


async def _marks(sent: Any, answered: Any, stop: Any) -> None:
    """Mark as ``MARKS`` says: wait by ``sent()`` (cheap), count by ``answered()``; ``stop()``."""
    warm, every, windows = MARKS
    while sent() < warm:
        await anyio.sleep(0.01)
    print("ready", Path(bkjob_async.__file__).parent, flush=True)  # (the tree counted)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    at: list[int] = []
    due = sent()
    for _ in range(windows + 1):
        while sent() < due:
            await anyio.sleep(0.001)
        due = sent() + every
        count = answered()
        sys.getallocatedblocks()
        at.append(count)
        if PROFILE and len(at) == 1:
            PROFILE[1].enable()
        if len(at) == 1:
            _opcodes_on(True)
            _young_on(True)
    _opcodes_on(False)
    _young_on(False)
    if PROFILE:
        PROFILE[1].disable()
        PROFILE[1].dump_stats(PROFILE[0])
    print(json.dumps({"marks": at}), flush=True)
    stop()


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
    answered = [0]
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
                    answered[0] += 1
                    continue
                async with s.get(r.url, params=r.query, headers=r.headers) as resp:
                    body = await resp.read()
                if parse:
                    json.loads(body)
                answered[0] += 1
                if GAP:
                    await asyncio.sleep(GAP * len(reqs))

        async with anyio.create_task_group() as tg:
            if GAP:
                for i, r in enumerate(reqs):
                    tg.start_soon(loop, r, GAP * i)
            else:
                for _ in range(32):
                    tg.start_soon(loop)
            if MARKS:
                count = lambda: answered[0]  # noqa: E731
                tg.start_soon(_marks, count, count, tg.cancel_scope.cancel)


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
            if MARKS:
                await _marks(lambda: p._requests, lambda: _answered(p), tg.cancel_scope.cancel)
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


def _answered(p: Poller) -> int:
    """The engine's answers read after each job's first: unchanged, or one event each."""
    statistics = p.statistics()
    return statistics.unchanged_polls + statistics.events_observed


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
