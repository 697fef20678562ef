"""What the collector and the loop's turns do during a large watch: a look, not a benchmark.

``python benchmarks/_watch_gc.py [JOBS] [--moved]`` (50,000 by default) watches ``JOBS`` unchanged jobs
of 3 steps x 10 hosts on the simulator at ``test_scale.py``'s rate (one poll each
``JOBS / 2,250`` s) and prints, for the first polls (every job's first answer decoded) and
10 s of steady state:

- the collector's passes of each generation, what they found unreachable, their longest;
- the turns of the loop by CPU time, and what the slowest 1% of a 1 ms sleeper's wake-ups
  spanned (turns, their CPU, the collector's share);
- with ``--moved``, what a pass of generation 1 moves to the oldest generation (what sets off
  the next full pass once it is 25% of the long-lived objects), by type, a tuple by what kept
  it tracked. Listing the oldest generation at each such pass takes 10-20 ms: the turns and
  wake-ups of that run count it.

A look costs time of its own (two clock reads a turn): its figures are shapes and counts, the
benchmarks' are the times.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

import anyio

from benchmarks._harness import pin_client, simulator
from bkjob_async import BkJobClient, Poller, PollPolicy, Scope

cpu = time.thread_time


class Look:
    """The collector's passes and the loop's turns, filed under ``phase`` (``None``: not kept)."""

    def __init__(self, moved: bool) -> None:
        self.moved = moved
        self.phase: str | None = None
        self.passes: dict[tuple[str, int], list[float]] = collections.defaultdict(list)
        self.found: collections.Counter[tuple[str, int]] = collections.Counter()
        self.promoted: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.turns: dict[str, collections.Counter[int]] = collections.defaultdict(
            collections.Counter
        )
        self.wakes: dict[str, list[tuple[float, int, float, float]]] = collections.defaultdict(list)
        self.in_gc = 0.0
        self._started = 0.0
        self._oldest = 0
        self._span = [0, 0.0, 0.0]  # turns, their CPU, the collector's, since the sleeper slept

    def __call__(self, when: str, info: dict[str, Any]) -> None:  # (a ``gc.callbacks`` entry)
        generation, phase = info["generation"], self.phase
        if when == "start":
            if phase is not None and generation == 1 and self.moved:
                self._oldest = len(gc.get_objects(2))
            self._started = cpu()
            return
        took = cpu() - self._started
        self.in_gc += took
        if phase is None:
            return
        self.passes[phase, generation].append(took)
        self.found[phase, generation] += info["collected"]
        if generation == 1 and self.moved:
            moved = gc.get_objects(2)[self._oldest :]
            kinds = self.promoted[phase]
            for obj in moved:
                kind = type(obj).__qualname__
                if type(obj) is tuple:
                    kept = sorted({type(x).__qualname__ for x in obj if gc.is_tracked(x)})
                    kind = f"tuple of {len(obj)} (tracked in it: {', '.join(kept) or 'none'})"
                kinds[kind] += 1
            del moved

    def patch_loop(self) -> None:
        """Time each turn of the asyncio loop (``_run_once``) on the thread's CPU clock."""
        run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]

        def timed(loop: asyncio.AbstractEventLoop) -> None:
            start, in_gc = cpu(), self.in_gc
            run_once(loop)
            if self.phase is not None:
                took = cpu() - start
                self.turns[self.phase][int(took * 1000)] += 1
                self._span[0] += 1
                self._span[1] += took
                self._span[2] += self.in_gc - in_gc

        asyncio.base_events.BaseEventLoop._run_once = timed  # type: ignore[attr-defined]

    async def sleeper(self) -> None:
        """Sleep 1 ms over and over; file how late each wake-up is and what it spanned."""
        while True:
            start, self._span = cpu(), [0, 0.0, 0.0]
            await anyio.sleep(0.001)
            if self.phase is not None:
                turns, took, in_gc = self._span
                self.wakes[self.phase].append((cpu() - start - 0.001, turns, took, in_gc))

    def report(self, phase: str, seconds: float) -> None:
        print(f"\n== {phase}: {seconds:.1f} s")
        for generation in range(3):
            times = self.passes.get((phase, generation), [])
            if times:
                print(
                    f"generation {generation}: {len(times)} passes, "
                    f"{self.found[phase, generation]} objects found unreachable, "
                    f"longest {max(times) * 1e3:.1f} ms"
                )
        ones = len(self.passes.get((phase, 1), []))
        if ones and self.moved:
            kinds = self.promoted[phase]
            print(
                f"moved to the oldest generation, a pass of generation 1: {sum(kinds.values()) / ones:.0f}"
            )
            for kind, count in kinds.most_common(16):
                print(f"  {count / ones:8.1f}  {kind}")
        print("turns by CPU (ms: count):", dict(sorted(self.turns[phase].items())))
        wakes = sorted(self.wakes[phase])
        top = wakes[-max(1, len(wakes) // 100) :]
        print(
            f"the sleeper's wake-ups: {len(wakes)}, p99 {top[0][0] * 1e3:.1f} ms late; the "
            f"slowest 1% spanned a median {statistics.median(w[1] for w in top):.0f} turns of "
            f"{statistics.median(w[2] for w in top) * 1e3:.1f} ms CPU, "
            f"{statistics.median(w[3] for w in top) * 1e3:.1f} ms of it the collector's"
        )


async def main(url: str, ids: list[int], look: Look) -> None:
    jobs = len(ids)
    interval = jobs / 2250.0
    policy = PollPolicy(latency=None, interval=interval, max_interval=interval, growth=1.0)
    client = BkJobClient(url, app_code="b", app_secret="s", username="admin", connection_limit=32)
    async with client, Poller(client, policy=policy) as poller:
        statistics_ = poller.statistics
        watch = poller.watch_jobs(Scope.biz(2), ids)
        async with anyio.create_task_group() as tg:

            async def drain() -> None:
                async for _ in watch:
                    pass

            tg.start_soon(drain)
            tg.start_soon(look.sleeper)
            while statistics_().instances_watched < jobs:
                await anyio.sleep(0.05)
            look.phase, started = "first polls", time.perf_counter()
            while statistics_().unchanged_polls < jobs:
                await anyio.sleep(0.05)
            first = time.perf_counter() - started
            look.phase = "steady"
            await anyio.sleep(10)
            look.phase = None
            tg.cancel_scope.cancel()
    look.report("first polls", first)
    look.report("steady", 10.0)


if __name__ == "__main__":
    numbers = [arg for arg in sys.argv[1:] if arg != "--moved"]
    jobs = int(numbers[0]) if numbers else 50_000
    pin_client()
    look = Look(moved="--moved" in sys.argv[1:])
    look.patch_loop()
    gc.callbacks.append(look)
    with simulator(jobs, steps=3, hosts=10) as sim:
        anyio.run(main, sim.url, sim.job_ids[:jobs], look, backend="asyncio")
