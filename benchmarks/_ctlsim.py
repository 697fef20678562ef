"""A simulator in its own process that the benchmark steers over stdin, one command a line.

Prints ``{"url", "job_ids"}`` first, then serves. Commands (each answered with one JSON line):
``rate RPS`` (a gateway-style limit with no ``Retry-After``; ``rate off`` lifts it),
``throttle-once`` (the next request gets one 429), ``hang N`` (the next N requests are accepted
and never answered), ``down`` / ``up`` (every request has its connection reset / normal again),
``stats`` (requests and refusals so far), ``statuses`` (every job's status now).

Usage: python benchmarks/_ctlsim.py --jobs N [--hosts H] [--duration A B] [--core C]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import anyio
import anyio.from_thread

from bkjob_async import Scope, StepType
from bkjob_async.testing import BkJobSimulator, Fault, StepPlan
from bkjob_async.tuning import keep_receive_buffers_on_heap

API = "get_job_instance_status"


def _command(sim: BkJobSimulator, line: str) -> dict[str, object]:
    words = line.split()
    if not words:
        return {"ok": False}
    name, args = words[0], words[1:]
    if name == "rate":
        sim.set_rate_limit(None if args[0] == "off" else float(args[0]))
    elif name == "throttle-once":
        sim.inject(Fault.rate_limited(retry_after=0.0), api=API, times=1)
    elif name == "hang":
        sim.inject(Fault.delay(3600.0), api=API, times=int(args[0]))
    elif name == "down":
        sim.inject(Fault.reset(), times=None)
    elif name == "up":
        sim.clear_faults()
    elif name == "stats":
        stats = sim.statistics()
        return {"requests": stats.requests, "rate_limited": stats.rate_limited}
    elif name == "statuses":
        return {str(i): int(sim.job(i).status) for i in sim.job_ids()}
    else:
        return {"ok": False, "error": f"unknown command {name!r}"}
    return {"ok": True}


async def main(args: argparse.Namespace) -> None:
    real = args.duration is not None
    timing = {"host_duration": tuple(args.duration), "host_start_delay": (0.0, 1.0)} if real else {}
    async with BkJobSimulator(virtual_clock=not real, seed=1, **timing) as sim:
        plan = [StepPlan(StepType.SCRIPT, hosts=args.hosts)]
        ids = []
        for start in range(0, args.jobs, 1000):
            ids += [sim.create_job(Scope.biz(2), plan) for _ in range(min(1000, args.jobs - start))]
            await anyio.sleep(0)
        print(json.dumps({"url": sim.url, "job_ids": ids}), flush=True)

        def serve_commands() -> None:
            for line in sys.stdin:
                answer = anyio.from_thread.run_sync(_command, sim, line)
                print(json.dumps(answer), flush=True)

        await anyio.to_thread.run_sync(serve_commands)  # until the parent closes stdin


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--core", type=int, default=None)
    parser.add_argument("--duration", type=float, nargs=2, default=None)
    arguments = parser.parse_args()
    if arguments.core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {arguments.core})
    keep_receive_buffers_on_heap()  # (the server receives every request as a client does)
    anyio.run(main, arguments)
