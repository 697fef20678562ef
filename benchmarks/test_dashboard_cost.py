"""What the web dashboard costs the poller (issues 51 and 65): nothing unseen, <= 5% seen.

A poller watching 10,000 jobs of 10 hosts back to back (1-2 ms intervals, 32 in flight)
against a simulator on the real clock whose hosts start within a second and run for seconds
to minutes: hundreds to thousands of transitions a second, each an event the dashboard folds
in while someone looks.

``test_viewers_cost_the_poller_little``: **one process, in phases taken in turns**
(``_dashboard_phases.py``): nobody looking (A: the dashboard served, its tap closed) and one
viewer on each page of ``BENCH_DASHBOARD_PAGES`` (B: by default ``overview``, the landing page:
the latest transitions and the overview every second; ``feed``: every transition as it comes;
``jobs``: a jobs page every two seconds, sorted by the latest change), A B, B A, A B, ...
(``BENCH_DASHBOARD_PAIRS`` pairs of ``BENCH_DASHBOARD_SECONDS`` each; ``BENCH_DASHBOARD_RUNS``
runs of them, each against a fresh simulator, their pairs pooled). The figure is the
poller's process's CPU per poll in B over its A of the same pair: the median of the pairs,
with their spread, a 90% interval of that median (the pairs resampled) and the load average
the phases saw; beside it, all B's CPU per poll over all A's (pooled). The viewers' CPU is
theirs (other processes, on the simulator's core). Goal: at most 1.05x, shown when the
interval's top is at most 1.05x. The viewers are started once and switched on and off, and a
B's board is closed at once after it (not after its grace): a pair takes some 5 s, not 18, so
a run of two minutes of hosts holds 14 pairs, not 6 (``benchmarks/HISTORY.md``, "A viewer's
cost per event, and a figure that can be read").

``test_the_dashboard_costs_nothing_unseen``: the poller with its dashboard mounted (nobody
looking) against the same watch without it, two processes in turns (``_harness.take_turns``)
against simulators of their own, ``BENCH_DASHBOARD_ROUNDS`` rounds. Goal: 1.00x (within the
rounds' scatter, <= 1.02x).

Earlier runs compared a viewer's process with a process alone in turns, a fresh pair of
simulators per round: at a load of 2 to 25 on this shared 2-core machine they gave 1.03x to
1.82x, the two processes' own differences (memory layout, their simulators' timelines) as
large as the cost measured. One process in phases has none of those.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ._harness import HERE, median, report, simulator, take_turns

ROUNDS = int(os.environ.get("BENCH_DASHBOARD_ROUNDS", "5"))
SECONDS = float(os.environ.get("BENCH_DASHBOARD_SECONDS", "1.5"))
PAIRS = int(os.environ.get("BENCH_DASHBOARD_PAIRS", "14"))
#: Runs of ``PAIRS`` pairs, each against a simulator of its own (the hosts' runs end within two
#: minutes: a run holds 14 pairs of 1.5 s phases), their pairs taken together.
RUNS = int(os.environ.get("BENCH_DASHBOARD_RUNS", "3"))
JOBS = 10_000
#: A file the phases are written to (JSON), if set.
SAVE = os.environ.get("BENCH_DASHBOARD_SAVE", "")
PAGES = os.environ.get("BENCH_DASHBOARD_PAGES", "overview,feed,jobs")
#: Seconds a host runs (it starts within a second of its job's creation): the phases' run
#: (about a minute) sees them end throughout.
HOSTS_RUN = (5.0, 120.0)
#: The in-turns comparison's window (each round a fresh pair of simulators).
TURNS_SECONDS = 6.0


def _loop(mode: str, url: str, ids_file: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "_dashboard_loop.py"), mode, url, ids_file, str(TURNS_SECONDS)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _pair(modes: tuple[str, str], urls: tuple[str, str], ids_file: str, first: int) -> list[dict]:
    order = [first, 1 - first]
    procs = {n: _loop(modes[n], urls[n], ids_file) for n in order}
    take_turns([procs[n] for n in order])
    results = []
    for n in (0, 1):
        out, _ = procs[n].communicate(timeout=300)
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _quartiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    if len(ordered) < 4:
        return ordered[0], ordered[-1]
    q = statistics.quantiles(ordered, n=4)
    return q[0], q[2]


def _interval(values: list[float], share: float = 0.9, draws: int = 4000) -> tuple[float, float]:
    """Return the middle ``share`` of the medians of ``values`` resampled (a bootstrap)."""
    rnd = random.Random(65)
    medians = sorted(statistics.median(rnd.choices(values, k=len(values))) for _ in range(draws))
    cut = int(draws * (1 - share) / 2)
    return medians[cut], medians[-cut - 1]


def _phases() -> list[dict]:
    """Run the phases once, against a simulator of their own; return them."""
    with tempfile.TemporaryDirectory() as tmp:
        ids_file = str(Path(tmp) / "ids.json")
        with simulator(JOBS, steps=1, hosts=10, duration=HOSTS_RUN) as sim:
            Path(ids_file).write_text(json.dumps(sim.job_ids))
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "_dashboard_phases.py"),
                    sim.url,
                    ids_file,
                    PAGES,
                    str(PAIRS),
                    str(SECONDS),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            out, _ = proc.communicate(timeout=1500)
    assert proc.returncode == 0
    phases: list[dict] = json.loads(out.strip().splitlines()[-1])["phases"]
    return phases


@pytest.mark.timeout(3600)
def test_viewers_cost_the_poller_little() -> None:
    phases: list[dict] = []
    for _ in range(RUNS):
        phases += _phases()
    assert len(phases) == 2 * PAIRS * RUNS
    if SAVE:  # (every phase as measured, to read again)
        Path(SAVE).write_text(json.dumps(phases))
    for p in phases:
        assert p["requests"] > 100
        if p["seen"]:
            # The board followed the events: one feed entry per event (and one per job's end).
            assert p["entries"] > 0.8 * p["events"] > 0
        else:
            assert p["entries"] == 0  # nobody looking: the tap is closed
    ratios = []
    per_poll: dict[bool, list[float]] = {False: [], True: []}
    for a, b in zip(phases[::2], phases[1::2], strict=True):
        seen, unseen = (a, b) if a["seen"] else (b, a)
        cost = {x["seen"]: x["cpu"] / x["requests"] for x in (seen, unseen)}
        ratios.append(cost[True] / cost[False])
        for key, value in cost.items():
            per_poll[key].append(value)
    low, high = _quartiles(ratios)
    loads = [p["load"] for p in phases]
    full = {
        seen: sum(p["full_collections"] for p in phases if p["seen"] is seen)
        for seen in (False, True)
    }
    events = {
        seen: median([p["events"] / p["requests"] for p in phases if p["seen"] is seen])
        for seen in (False, True)
    }
    rate = {
        seen: median([p["requests"] / SECONDS for p in phases if p["seen"] is seen])
        for seen in (False, True)
    }
    # A poll's cost grows with the events it finds, and B's polls may find more (a slower
    # poller finds more changed in each answer): B against what A's polls cost at B's events
    # a poll (a line fitted to A's phases), told beside the figure, not instead of it.
    unseen = [p for p in phases if not p["seen"]]
    fit = statistics.linear_regression(
        [p["events"] / p["requests"] for p in unseen], [p["cpu"] / p["requests"] for p in unseen]
    )
    adjusted = [
        (p["cpu"] / p["requests"]) / (fit.intercept + fit.slope * p["events"] / p["requests"])
        for p in phases
        if p["seen"]
    ]
    viewers = median([p["viewers_cpu"] / SECONDS for p in phases if p["seen"]])
    # What the viewers cost the poller's process a second, whatever its polls a second: B's
    # CPU beyond what its polls would cost at A's CPU a poll (per pair).
    spent = [
        (seen["cpu"] - seen["requests"] * unseen["cpu"] / unseen["requests"]) / SECONDS
        for a, b in zip(phases[::2], phases[1::2], strict=True)
        for seen, unseen in [(a, b) if a["seen"] else (b, a)]
    ]
    bottom, top = _interval(ratios)
    pooled = (
        sum(p["cpu"] for p in phases if p["seen"]) / sum(p["requests"] for p in phases if p["seen"])
    ) / (
        sum(p["cpu"] for p in phases if not p["seen"])
        / sum(p["requests"] for p in phases if not p["seen"])
    )
    verdict = (
        "shown met" if top <= 1.05 else "met, not shown" if median(ratios) <= 1.05 else "NOT met"
    )
    report(
        [
            f"== the dashboard's cost to the poller, {JOBS:,} jobs of busy hosts, one viewer on"
            f" each of {PAGES}: {RUNS} x {PAIRS} pairs of {SECONDS:g} s phases in one process,"
            " A B B A ...",
            f"per poll: {median(per_poll[True]) * 1e6:.1f} us seen vs "
            f"{median(per_poll[False]) * 1e6:.1f} us unseen (medians); events a poll"
            f" {events[True]:.2f} seen, {events[False]:.2f} unseen; polls a second"
            f" {rate[True]:,.0f} seen, {rate[False]:,.0f} unseen",
            f"seen/unseen: median {median(ratios):.3f}x, 90% interval {bottom:.3f}-{top:.3f}"
            f" (goal <= 1.05x: {verdict}); quartiles {low:.3f}-{high:.3f}, range"
            f" {min(ratios):.3f}-{max(ratios):.3f}; pooled {pooled:.3f}x; pairs "
            + " ".join(f"{r:.3f}" for r in ratios),
            f"load average during the phases: {min(loads):.2f}-{max(loads):.2f}; full"
            f" collections in them: {full[True]} seen, {full[False]} unseen; the viewers' CPU"
            f" (on the simulator's core) {viewers * 1e3:.1f} ms a second (median of B's)",
            f"the viewers' cost to the poller's process: {median(spent) * 1e3:.1f} ms of CPU a"
            f" second (median of the pairs; quartiles {_quartiles(spent)[0] * 1e3:.1f}-"
            f"{_quartiles(spent)[1] * 1e3:.1f})",
            f"at B's events a poll (A: {fit.intercept * 1e6:.1f} us a poll + "
            f"{fit.slope * 1e6:.1f} us an event found): median {median(adjusted):.3f}x, range "
            f"{min(adjusted):.3f}-{max(adjusted):.3f}",
        ]
    )


@pytest.mark.timeout(3600)
def test_the_dashboard_costs_nothing_unseen() -> None:
    ratios: list[float] = []
    costs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ids_file = str(Path(tmp) / "ids.json")
        for n in range(ROUNDS):
            with (
                simulator(JOBS, steps=1, hosts=10, duration=HOSTS_RUN) as sim_a,
                simulator(JOBS, steps=1, hosts=10, duration=HOSTS_RUN) as sim_b,
            ):
                assert sim_a.job_ids == sim_b.job_ids
                Path(ids_file).write_text(json.dumps(sim_a.job_ids))
                measured, alone = _pair(
                    ("mounted", "alone"), (sim_a.url, sim_b.url), ids_file, n % 2
                )
            assert measured["requests"] > 300
            assert alone["requests"] > 300
            assert measured["board_open"] == 0
            assert measured["entries"] == 0
            ratios.append(measured["cpu_per_request"] / alone["cpu_per_request"])
            costs.append((measured["cpu_per_request"], alone["cpu_per_request"]))
    verdict = "met" if median(ratios) <= 1.02 else "NOT met"
    report(
        [
            f"== the dashboard mounted, nobody looking, {JOBS:,} jobs, in turns ({ROUNDS} rounds;"
            f" load {os.getloadavg()[0]:.2f})",
            f"mounted {median([m for m, _ in costs]) * 1e6:6.1f} us vs alone "
            f"{median([b for _, b in costs]) * 1e6:6.1f} us per poll: median "
            f"{median(ratios):.3f}x (goal <= 1.02x: {verdict}); rounds "
            + " ".join(f"{r:.3f}" for r in ratios),
        ]
    )
