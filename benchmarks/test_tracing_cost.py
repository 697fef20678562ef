"""What the OpenTelemetry spans cost a poll when they are off (issue 40, point 2).

The engine of this tree (spans off: ``opentelemetry-api`` installed, no tracer provider set)
against the engine of the tree before the spans (``BENCH_TRACING_BASE``, by default
``0ab53e6``, extracted with ``git archive`` and put first on ``PYTHONPATH``), the same loop
(``_loops.py``), in turns on the client core (``_harness.take_turns``), against the same
simulator: unchanged polls, and changed ones (a flipping simulator, one per loop). Then the
same with spans on (the SDK, a span processor keeping them in memory) against spans off, for
scale. Rounds alternate which loop goes first; the figure is the median ratio. Off, the goal is
"nothing measurable": a ratio within the rounds' own scatter around 1.00.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ._harness import HERE, median, report, simulator, take_turns

ROUNDS = 5
SECONDS = 6.0
BASE = os.environ.get("BENCH_TRACING_BASE", "0ab53e6")
ROOT = HERE.parent


def _loop(mode: str, url: str, ids_file: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "_loops.py"), mode, url, ids_file, str(SECONDS)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def _pair(
    mode: str, urls: tuple[str, str], ids_file: str, envs: tuple[dict, dict], first: int
) -> tuple[float, float]:
    """Run the loop under ``envs[0]`` and ``envs[1]`` in turns; return their CPU per request."""
    order = [first, 1 - first]
    procs = {n: _loop(mode, urls[n], ids_file, envs[n]) for n in order}
    take_turns([procs[n] for n in order])
    cost = []
    for n in (0, 1):
        out, _ = procs[n].communicate(timeout=120)
        line = json.loads(out.strip().splitlines()[-1])
        assert line["requests"] > 100
        cost.append(line["cpu_per_request"])
    return cost[0], cost[1]


@pytest.mark.timeout(1200)
def test_spans_off_cost_nothing_per_poll() -> None:
    pytest.importorskip("opentelemetry.sdk")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        archive = subprocess.run(
            ["git", "archive", BASE, "bkjob_async"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        assert not (base / "bkjob_async" / "_tracing.py").exists(), "the base has spans already"
        before = {"PYTHONPATH": str(base)}
        off: dict[str, str] = {}
        on = {"BENCH_OTEL_SPANS": "1"}
        ratios: dict[str, list[float]] = {}
        costs: dict[str, list[tuple[float, float]]] = {}
        with (
            simulator(1000, steps=3, hosts=10) as sim,
            simulator(1000, steps=3, hosts=10, flip=True) as flip_a,
            simulator(1000, steps=3, hosts=10, flip=True) as flip_b,
        ):
            ids_file = str(Path(tmp) / "ids.json")
            Path(ids_file).write_text(json.dumps(sim.job_ids))
            cases = [
                ("unchanged, off vs before", "engine", (sim.url, sim.url), (off, before)),
                (
                    "changed, off vs before",
                    "engine-changed",
                    (flip_a.url, flip_b.url),
                    (off, before),
                ),
                ("unchanged, on vs off", "engine", (sim.url, sim.url), (on, off)),
                ("changed, on vs off", "engine-changed", (flip_a.url, flip_b.url), (on, off)),
            ]
            for n in range(ROUNDS):
                for name, mode, urls, envs in cases:
                    measured, baseline = _pair(mode, urls, ids_file, envs, n % 2)
                    ratios.setdefault(name, []).append(measured / baseline)
                    costs.setdefault(name, []).append((measured, baseline))
    lines = [
        f"== spans' cost per poll, in turns ({ROUNDS} rounds; base {BASE}; load {os.getloadavg()[0]:.2f})"
    ]
    for name, values in ratios.items():
        us = costs[name]
        lines.append(
            f"{name:26} {median([m for m, _ in us]) * 1e6:6.1f} us vs"
            f" {median([b for _, b in us]) * 1e6:6.1f} us: median {median(values):.3f}x; rounds "
            + " ".join(f"{r:.3f}" for r in values)
        )
    report(lines)
