"""The engine against the hand-written 5 s aiohttp loop on a family of mixes (issue 64).

Each seed of ``_peers_family`` draws a mix (steps per job, hosts per step, host durations
uniform, log-normal or bimodal, launches together, in bursts or one by one, a share of jobs
waiting for a person, failures, rolling steps, job sizes) and its jobs; one simulator process
serves them on a clock ``speed`` times faster than real time, and the engine at its defaults
and the naive loop (``_peers.naive``: a task per job, GET, ``json.loads``, every host compared,
5 s) watch them side by side, each in its own process on the client core, each job from its
launch on, as in ``test_peers.py`` (whose plumbing this reuses). Per seed: the ratios of the
engine's requests per job, p50 and p99 of the delay from a change to its sight (simulator
seconds, changes of the first ``SETTLE`` s left out) and client CPU per job-hour to the loop's.

Issue 64's goal is asserted: for each of the four figures, the engine at or under the loop on
9 seeds in 10 (``n // 10`` seeds may be over) and never over 1.05x. By default a quick form runs
(``QUICK``: 5 seeds of 12-30 jobs on a clock x20: every seed must then be at or under); the
full one with ``BENCH_FAMILY=full`` (10 seeds of 40-120 jobs, as many as make 2,000 host runs,
on a clock x10: about half an hour), which writes ``plots/family-ratios.png``
and ``plots/family-results.json`` (the quick one into a temporary directory, or
``BENCH_FAMILY_OUT``). ``BENCH_FAMILY_SEEDS=3,7`` runs those seeds only.

``BENCH_FAMILY_REPEAT=N`` runs each seed N times, each a side-by-side run of its own: a seed's
figures (its ratios, and each contender's own) are then the medians of its runs, its load the
highest, and a line after the table gives each ratio's range (every run is kept in the results
file, under its seed's ``runs``). A seed's CPU ratio moves by up to a tenth from one run to the
next (``benchmarks/HISTORY.md``); the median of three says where it stands. The goal is then
asserted on the medians; issue 64's own measure is one run (the default).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bkjob_async import PollPolicy

from ._harness import median, report
from ._peers_bench import MixServer, load, mix_server, run_contenders, scratch
from ._peers_family import jobs_for, mix_jobs, shape
from ._peers_model import CONFIRM, Step, fixed, measure
from ._peers_model import engine as engine_schedule
from ._peers_plots import FAMILY_RESULTS, PLOTS, draw_family
from .test_peers import DEFAULTS, SETTLE, _contender, _engine_policy, _mix_figures


@dataclass(frozen=True)
class FamilyScale:
    seeds: tuple[int, ...]
    host_runs: int  # a seed has as many jobs as make this many host runs (``jobs_for``),
    jobs: tuple[int, int]  # at least and at most these
    speed: float

    def jobs_of(self, seed: int) -> int:
        return jobs_for(seed, self.host_runs, *self.jobs)


FULL = FamilyScale(tuple(range(10)), 2000, (40, 120), 10.0)
QUICK = FamilyScale(tuple(range(5)), 500, (12, 30), 20.0)
IS_FULL = os.environ.get("BENCH_FAMILY") == "full"
_scale = FULL if IS_FULL else QUICK
if os.environ.get("BENCH_FAMILY_SEEDS"):
    _chosen = tuple(int(s) for s in os.environ["BENCH_FAMILY_SEEDS"].split(","))
    _scale = dataclasses.replace(_scale, seeds=_chosen)
SCALE = _scale
#: Side-by-side runs a seed (``BENCH_FAMILY_REPEAT``); with more than one, the medians count.
REPEAT = int(os.environ.get("BENCH_FAMILY_REPEAT") or "1")
if REPEAT < 1:
    raise ValueError(f"BENCH_FAMILY_REPEAT must be at least 1, got {REPEAT}")


def _out() -> Path:
    """Where the results and the plot go (a new temporary directory for the quick form)."""
    return Path(os.environ.get("BENCH_FAMILY_OUT") or (PLOTS if IS_FULL else tempfile.mkdtemp()))


#: The loop issue 64 measures against: the hand-written aiohttp loop, every 5 s.
LOOP_INTERVAL = 5.0
#: The four figures compared, and the most a figure may be of the loop's on any seed.
FIGURES = ("requests_per_job", "p50", "p99", "cpu_ms_per_job_hour")
NEVER_OVER = 1.05
#: Simulator seconds given to a seed after its last job's latest end (its contenders stop as
#: soon as they saw every job end).
SPARE = 300.0


def _timeline_from_launch(server: MixServer, launch: list[float]) -> None:
    """Count each job's hours from its launch (the simulator created it at the start)."""
    for job_id, at in zip(server.job_ids, launch, strict=True):
        job = server.timeline[str(job_id)]
        job["start"] = max(job["start"], server.epoch_ms + round(at * 1000))


def model_ratios(
    server: MixServer, launch: list[float], policy: PollPolicy = DEFAULTS
) -> dict[str, float]:
    """The engine's schedule (``policy``) against the fixed 5 s loop's on virtual time
    (``_peers_model``), on the run's very jobs, each from its launch: requests per job, p50 and
    p99, as ratios. What the schedule does alone, without the machine (no answer takes time
    there). Changes count from the run's first ``SETTLE`` s on, as in the real run: a job
    launched at once has its hosts' starts left out, one launched later has them counted."""
    jobs = []
    for job_id, at in zip(server.job_ids, launch, strict=True):
        job = server.timeline[str(job_id)]
        origin = server.epoch_ms + at * 1000

        def since(ms: float, origin: float = origin) -> float:
            return max(0.0, (ms - origin) / 1000)

        hosts: dict[int, list[tuple[float, float]]] = {}
        for step, _, started, ended, _ in job["hosts"]:
            if started is not None and ended is not None:
                hosts.setdefault(step, []).append((since(started), since(ended)))
        jobs.append(
            [  # (the steps that ran: a failed step ends its job)
                Step(since(start), since(end), hosts.get(step, []), kind == CONFIRM)
                for step, kind, start, end in job["steps"]
                if start is not None and end is not None
            ]
        )
    # (each job watched from its launch, the watch told so, as ``_peers.engine`` watches it)
    schedules = (fixed(LOOP_INTERVAL), engine_schedule(policy, launched=True))
    settle = [SETTLE - at for at in launch]  # (on each job's clock, from its launch)
    loop, ours = (measure([jobs], s, settle) for s in schedules)
    return {key: ours[key] / loop[key] for key in ("requests_per_job", "p50", "p99")}


def _run_seed(seed: int, tmp: Path) -> dict[str, Any]:
    """Run the engine and the loop side by side on one seed's mix; return its figures."""
    jobs, speed = SCALE.jobs_of(seed), SCALE.speed
    drawn = mix_jobs(seed, jobs)
    launch = [job.launch for job in drawn]
    seconds = (max(job.horizon for job in drawn) + SPARE) / speed
    workload = ["--mix", str(jobs), "--family", str(seed)]
    with mix_server(jobs, speed=speed, tmp=tmp, workload=workload) as server:
        # (no rate is plotted here: a sample at the start, the end, and every 5 s)
        common = {"seconds": seconds, "launch": [at / speed for at in launch], "sample_every": 5.0}
        engine = _contender(
            "engine",
            "engine",
            server.url,
            server.job_ids,
            "watch",
            policy=_engine_policy(DEFAULTS.latency, speed),
            **common,
        )
        loop = _contender(
            "naive",
            "naive",
            server.url,
            server.job_ids,
            "watch",
            interval=LOOP_INTERVAL / speed,
            **common,
        )
        # The order they start in turns with the seed (the first spawned is the first ready).
        order = [engine, loop] if seed % 2 else [loop, engine]
        results = run_contenders(order, tmp, start=server.start_clock)
    _timeline_from_launch(server, launch)
    rows = {name: _mix_figures(server, results[name]) for name in ("engine", "naive")}
    for name, row in rows.items():
        assert row["finished"] == jobs, f"seed {seed}: {name} missed job ends"
        assert row["missed"] == 0, f"seed {seed}: {name} never saw some transitions"
        assert row["earliest"] > -0.05, f"seed {seed}: {name} saw a change before it happened"
    mix = shape(seed)
    return {
        "seed": seed,
        "shape": mix.describe(),
        "label": f"{mix.durations}, {mix.launches}",
        "jobs": jobs,
        "load": load(),
        "contenders": rows,
        "ratios": {key: rows["engine"][key] / rows["naive"][key] for key in FIGURES},
        "model": model_ratios(server, launch),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One seed's runs as one: each figure's median, each ratio's range, and every run kept."""
    if len(runs) == 1:
        return runs[0]
    ratios = {key: median([run["ratios"][key] for run in runs]) for key in FIGURES}
    spread = {
        key: (min(run["ratios"][key] for run in runs), max(run["ratios"][key] for run in runs))
        for key in FIGURES
    }
    contenders = {
        name: {
            key: median([run["contenders"][name][key] for run in runs])
            for key, value in row.items()
            if isinstance(value, (int, float))
        }
        for name, row in runs[0]["contenders"].items()
    }
    load = max(run["load"] for run in runs)
    return {
        **runs[0],
        "ratios": ratios,
        "contenders": contenders,
        "load": load,
        "spread": spread,
        "runs": runs,
    }


def _verdicts(seeds: list[dict[str, Any]]) -> list[tuple[str, int, float, bool]]:
    """Per figure: seeds over the loop's, the largest ratio, and whether the goal is met."""
    allowed = len(seeds) // 10
    out = []
    for key in FIGURES:
        ratios = [seed["ratios"][key] for seed in seeds]
        over = sum(ratio > 1.0 for ratio in ratios)
        out.append((key, over, max(ratios), over <= allowed and max(ratios) <= NEVER_OVER))
    return out


def _table(seeds: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"== a family of mixes: the engine's defaults / the hand-written 5 s loop, jobs a seed"
        f" for {SCALE.host_runs} host runs ({SCALE.jobs[0]}-{SCALE.jobs[1]}), clock"
        f" x{SCALE.speed:g}, changes after the first {SETTLE:g} s (load: at each seed's end)",
        f"{'seed':>4} {'jobs':>4} {'requests':>9} {'p50':>6} {'p99':>6} {'CPU/job-h':>10} {'load':>5}"
        f"  {'req/job':>13} {'p50 s':>11} {'p99 s':>11} {'CPU ms/job-h':>13}",
    ]
    for seed in seeds:
        r, e, n = seed["ratios"], seed["contenders"]["engine"], seed["contenders"]["naive"]
        lines.append(
            f"{seed['seed']:4d} {seed['jobs']:4d} {r['requests_per_job']:9.3f} {r['p50']:6.3f} {r['p99']:6.3f}"
            f" {r['cpu_ms_per_job_hour']:10.3f} {seed['load']:5.2f}"
            f"  {e['requests_per_job']:6.1f}/{n['requests_per_job']:6.1f}"
            f" {e['p50']:5.2f}/{n['p50']:5.2f} {e['p99']:5.2f}/{n['p99']:5.2f}"
            f" {e['cpu_ms_per_job_hour']:6.0f}/{n['cpu_ms_per_job_hour']:6.0f}"
        )
    for seed in seeds:
        if "spread" in seed:
            ranges = " ".join(f"{lo:.3f}-{hi:.3f}" for lo, hi in seed["spread"].values())
            lines.append(f"{seed['seed']:4d} the range of {len(seed['runs'])} runs: {ranges}")
    lines += [f"     {seed['shape']}" for seed in seeds]
    allowed = len(seeds) // 10
    for key, over, top, met in _verdicts(seeds):
        lines.append(
            f"goal (issue 64), {key}: over the loop's on {over} of {len(seeds)} seeds (at most"
            f" {allowed}), largest {top:.3f}x (at most {NEVER_OVER}x): {'met' if met else 'NOT MET'}"
        )
    return lines


@pytest.mark.timeout(7200)
def test_family_of_mixes() -> None:
    seeds: list[dict[str, Any]] = []
    results = {
        "jobs": list(SCALE.jobs),
        "host_runs": SCALE.host_runs,
        "speed": SCALE.speed,
        "settle": SETTLE,
        "repeat": REPEAT,
        "seeds": seeds,
    }
    out = _out()
    out.mkdir(parents=True, exist_ok=True)
    with scratch() as tmp:
        for seed in SCALE.seeds:
            runs = []
            for _ in range(REPEAT):
                runs.append(_run_seed(seed, tmp))
                report(_table(runs[-1:])[2:3])  # (a line a run; the file after each seed)
            seeds.append(_median_run(runs))
            (out / FAMILY_RESULTS.name).write_text(json.dumps(results, indent=1) + "\n")
    print(f"plot: {draw_family(results, out / 'family-ratios.png')}")
    report(_table(seeds))
    failed = [key for key, *_, met in _verdicts(seeds) if not met]
    assert not failed, f"the engine is behind the loop on: {', '.join(failed)}"
