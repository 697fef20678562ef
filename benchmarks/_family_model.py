"""The family's schedules on virtual time: each seed's jobs run on a simulator whose clock only
``advance`` moves, then ``_peers_model`` polls them by a schedule; no server, no machine.

``python benchmarks/_family_model.py [SEEDS [HOST_RUNS]]`` (``SEEDS``: ``0-9`` or ``3,7``;
``HOST_RUNS`` as ``test_family.py``'s full run, 2,000) prints, per seed, the engine's defaults
and the engine set to poll as the loop does (``AS_THE_LOOP``) against the fixed 5 s loop on
the same jobs (requests per job, p50, p99, as ratios), as
``test_family.model_ratios`` does on a real run's timeline: what the schedule does alone. The
jobs progress as the simulator makes them (``seed=1``, as ``_simserver.py``), each from its
launch; a person confirms each wait its seconds after it began (looked at every ``TICK``).
Timelines are kept in ``BENCH_FAMILY_CACHE`` (a directory) when it is set.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from _peers_family import jobs_for, mix_jobs
from _peers_mix import confirm_due, people, timeline

from bkjob_async import PollPolicy, Scope
from bkjob_async.testing import BkJobSimulator

#: Simulator seconds between two looks of the people (and steps of the clock).
TICK = 0.1


async def _run(seed: int, jobs: int) -> dict[str, Any]:
    """Run the seed's jobs to their ends on virtual time; return the timeline and launches."""
    drawn = mix_jobs(seed, jobs)
    async with BkJobSimulator(virtual_clock=True, seed=1) as sim:
        epoch = sim.now_ms()
        ids = [sim.create_job(Scope.biz(2), job.plan) for job in drawn]
        waits = {i: job.person for i, job in zip(ids, drawn, strict=True) if job.person}
        horizon = max(job.horizon for job in drawn) + 60.0
        async with people(sim) as client:
            ticks = 0
            while sim.now() < horizon:
                sim.advance(TICK)
                ticks += 1
                await confirm_due(sim, client, waits, sim.now_ms())
                done = ticks % 100 == 0 and not waits  # (every 10 s: a view costs its hosts)
                if done and all(sim.job(i).end_time is not None for i in ids):
                    break
        return {
            "epoch_ms": epoch,
            "job_ids": ids,
            "launch": [job.launch for job in drawn],
            "timeline": timeline(sim, ids),
        }


def run_seed(seed: int, host_runs: int = 2000) -> dict[str, Any]:
    """Return the seed's timeline on virtual time (from the cache if there is one)."""
    jobs = jobs_for(seed, host_runs, 40, 120)
    cache = os.environ.get("BENCH_FAMILY_CACHE")
    path = Path(cache) / f"family-{seed}-{jobs}.json" if cache else None
    if path is not None and path.exists():
        return dict(json.loads(path.read_text()))
    out = anyio.run(_run, seed, jobs)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out))
    return out


#: The engine as the loop: every 5 s from its first poll (5 s after the launch: watched with
#: ``launched=True`` as ``model_ratios`` watches, and with no bound ``soon`` is ``interval``), no
#: quick look at a step's turn, no margin under the bound, no jitter. It makes at most the loop's
#: requests on every seed, with p50 1.02-1.51x the loop's: where nobody waits for a person, what
#: the defaults pay over the loop is the margin and the looks at a step's start and turn, which
#: hold their p50 under the loop's (``HISTORY.md``, "The family's requests and the 5 s bound",
#: and "The family's model counts a launch's starts").
AS_THE_LOOP = PollPolicy(latency=None, interval=5.0, max_interval=5.0, growth=1.0, jitter=0.0)


def ratios(run: dict[str, Any], policy: PollPolicy | None = None) -> dict[str, float]:
    """The engine (its defaults, or ``policy``) against the 5 s loop on the run's jobs
    (``model_ratios``)."""
    from benchmarks.test_family import _timeline_from_launch, model_ratios

    server = SimpleNamespace(**run)
    _timeline_from_launch(server, run["launch"])  # type: ignore[arg-type]
    if policy is None:
        return model_ratios(server, run["launch"])  # type: ignore[arg-type]
    return model_ratios(server, run["launch"], policy)  # type: ignore[arg-type]


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent.parent))
    chosen = _seeds(sys.argv[1]) if len(sys.argv) > 1 else list(range(10))
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    print(f"{'':4} {'the defaults':>22}   {'as the loop (AS_THE_LOOP)':>26}")
    print(
        f"{'seed':>4} {'requests':>9} {'p50':>6} {'p99':>6}   {'requests':>12} {'p50':>6} {'p99':>6}"
    )
    for seed_ in chosen:
        run_ = run_seed(seed_, runs)
        r, f = ratios(run_), ratios(run_, AS_THE_LOOP)
        print(
            f"{seed_:4d} {r['requests_per_job']:9.3f} {r['p50']:6.3f} {r['p99']:6.3f}"
            f"   {f['requests_per_job']:12.3f} {f['p50']:6.3f} {f['p99']:6.3f}",
            flush=True,
        )
