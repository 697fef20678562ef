"""The poller with its dashboard served, in turns nobody looking (A) and viewers looking (B):
this process's CPU per poll in each phase.

``python benchmarks/_dashboard_phases.py URL IDS_FILE PAGES PAIRS SECONDS`` prints one JSON
line: ``{"phases": [{"seen", "cpu", "requests", "events", "entries", "load"}, ...]}``. One
poller watches every job back to back (as ``_dashboard_loop.py``), its dashboard served on
127.0.0.1 the whole run (``grace`` 5 s: well over the jobs page's
refresh, so a viewer of it alone holds the board open). ``PAIRS`` pairs of phases of ``SECONDS`` each, A
then B, then B then A, and so on (the drift of the machine and of the run falls on both
alike). The viewers (one ``_dashboard_viewer.py --switched`` per page of ``PAGES``, on the
simulator's core: their CPU is theirs) are started once, before the warm-up (an interpreter's
start on the simulator's core slows the simulator), and switched: before a B each loads its
page, and B begins once every page had its first answers; after it each leaves its page, and
the board is closed as its grace would close it, at once (``grace`` 0 until it is closed: the
next phase need not wait the grace out). Each phase begins once ``SETTLE`` seconds passed and a
full collection ran, so a viewer's first read of every job (and the garbage collections it
would set off) is not in it: the phase measures what a viewer costs while it looks. The CPU counted is this process's: the poller's, and what the
dashboard does for it. ``load`` is the 1-minute load average at the phase's end;
``viewers_cpu`` the CPU seconds B's viewers took in the phase (on the simulator's core);
``gc_runs`` and ``gc_cpu`` the garbage collections in it by generation and their CPU seconds.
"""

from __future__ import annotations

import cProfile
import gc
import json
import os
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
SETTLE = 0.75
#: The board's grace while viewers look (well over the jobs page's refresh of two seconds).
GRACE = 5.0
SCOPE = Scope.biz(2)
#: A directory: each kind of phase's windows are profiled (``cProfile``) into ``seen.prof``
#: and ``unseen.prof`` there (what a viewer costs, function by function).
PROFILE = os.environ.get("BENCH_DASHBOARD_PROFILE", "")


def _cpu(pid: int) -> float:
    """Return the CPU seconds a process used so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: Garbage collections so far, and the CPU seconds they took, by generation.
GC_RUNS, GC_CPU = [0, 0, 0], [0.0, 0.0, 0.0]
_GC_START = [0.0]


def _collected(phase: str, info: dict) -> None:
    if phase == "start":
        _GC_START[0] = time.process_time()
    else:
        GC_RUNS[info["generation"]] += 1
        GC_CPU[info["generation"]] += time.process_time() - _GC_START[0]


async def main(url: str, ids: list[int], pages: list[str], pairs: int, seconds: float) -> dict:
    policy = PollPolicy(
        interval=0.001, max_interval=0.002, jitter=0.0, max_in_flight=CONCURRENCY, census=False
    )
    client = BkJobClient(
        url, app_code="bench", app_secret="secret", username="admin", connection_limit=CONCURRENCY
    )
    phases: list[dict] = []
    profiles = {seen: cProfile.Profile() for seen in (False, True)}
    async with client, Poller(client, policy=policy) as poller:
        watch = poller.watch_jobs(SCOPE, ids)
        app = dashboard_app(poller, grace=GRACE)
        board = app[BOARD]
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}/"

        async def drain() -> None:
            async for _ in watch:
                pass

        every = [
            subprocess.Popen(
                [sys.executable, str(HERE / "_dashboard_viewer.py"), base, p, "--switched"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for p in pages
        ]

        async def switch(on: bool) -> None:
            """Have every viewer load its page (``on``) or leave it; wait until each did."""
            for viewer in every:
                assert viewer.stdin is not None
                viewer.stdin.write("on\n" if on else "off\n")
                viewer.stdin.flush()
            for viewer in every:
                assert viewer.stdout is not None
                line = await anyio.to_thread.run_sync(viewer.stdout.readline)
                assert line == ("ready\n" if on else "off\n"), line

        async def phase(seen: bool) -> None:
            viewers = every if seen else []
            if seen:
                opened = board.opened
                await switch(True)
                assert board.opened == opened + 1  # (each B opens the board anew)
            await anyio.sleep(SETTLE)
            gc.collect()  # (what opening or closing the board left is not this phase's)
            g0 = gc.get_stats()[2]["collections"]
            n0, e0 = poller._requests, poller.statistics().events_observed
            v0 = sum(_cpu(v.pid) for v in viewers)
            runs0, cpu0 = list(GC_RUNS), list(GC_CPU)
            f0, c0 = board.feed.end, time.process_time()
            if PROFILE:
                profiles[seen].enable()
            await anyio.sleep(seconds)
            if PROFILE:
                profiles[seen].disable()
            c1, n1 = time.process_time(), poller._requests
            e1, f1 = poller.statistics().events_observed, board.feed.end
            g1 = gc.get_stats()[2]["collections"]
            viewers_cpu = sum(_cpu(v.pid) for v in viewers) - v0
            if seen:
                await switch(False)
                board.grace = 0.0  # (nobody looks: closed at its next tick, as after its grace)
                while board.open:
                    await anyio.sleep(0.02)
                board.grace = GRACE
            phases.append(
                {
                    "seen": seen,
                    "cpu": c1 - c0,
                    "requests": n1 - n0,
                    "events": e1 - e0,
                    "entries": f1 - f0,
                    "load": os.getloadavg()[0],
                    "full_collections": g1 - g0,
                    "viewers_cpu": viewers_cpu,
                    "gc_runs": [a - b for a, b in zip(GC_RUNS, runs0, strict=True)],
                    "gc_cpu": [a - b for a, b in zip(GC_CPU, cpu0, strict=True)],
                }
            )

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain)
                await warmed_up(poller, len(ids), WARMUP)
                for n in range(pairs):
                    for seen in (False, True) if n % 2 == 0 else (True, False):
                        await phase(seen)
                tg.cancel_scope.cancel()
        finally:
            for viewer in every:
                viewer.terminate()
                viewer.wait()
                for pipe in (viewer.stdin, viewer.stdout):
                    if pipe is not None:
                        pipe.close()
            await runner.cleanup()
    if PROFILE:
        for seen, profile in profiles.items():
            profile.dump_stats(str(Path(PROFILE) / f"{'seen' if seen else 'unseen'}.prof"))
    return {"phases": phases}


if __name__ == "__main__":
    pin_client()
    keep_receive_buffers_on_heap()
    gc.callbacks.append(_collected)
    url_, ids_file, pages_, pairs_, seconds_ = sys.argv[1:6]
    result = anyio.run(
        main,
        url_,
        json.loads(Path(ids_file).read_text()),
        pages_.split(","),
        int(pairs_),
        float(seconds_),
    )
    print(json.dumps(result), flush=True)
