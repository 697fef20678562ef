"""Run a BkJobSimulator in its own process for benchmarks; print its URL and job ids, serve.

By default jobs run on the virtual clock, which never advances here: every job stays as created
(running, hosts waiting), so every poll after the first is an unchanged poll. With
``--duration MIN MAX`` they run on the real clock, each host taking that many seconds.
Usage: python benchmarks/_simserver.py --jobs N --steps S --hosts H [--duration A B] [--core C]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import anyio

from bkjob_async import Scope, StepType
from bkjob_async.testing import BkJobSimulator, StepPlan


async def main(args: argparse.Namespace) -> None:
    real = args.duration is not None
    timing = {"host_duration": tuple(args.duration), "host_start_delay": (0.0, 1.0)} if real else {}
    async with BkJobSimulator(virtual_clock=not real, seed=1, **timing) as sim:
        plan = [StepPlan(StepType.SCRIPT, hosts=args.hosts) for _ in range(args.steps)]
        ids = []
        for start in range(0, args.jobs, 1000):
            ids += [sim.create_job(Scope.biz(2), plan) for _ in range(min(1000, args.jobs - start))]
            await anyio.sleep(0)
        print(json.dumps({"url": sim.url, "job_ids": ids}), flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)  # serve until the parent closes stdin


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--core", type=int, default=None)
    parser.add_argument("--duration", type=float, nargs=2, default=None)
    arguments = parser.parse_args()
    if arguments.core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {arguments.core})
    anyio.run(main, arguments)
