"""Client CPU per poll: the engine against raw aiohttp loops on the same simulator, same time.

Targets (issue 4): an unchanged poll of a 3-step x 10-host job costs <= 1.2x a raw aiohttp
GET-and-read loop; a changed poll (decode, structure, diff) <= 1.8x a raw GET + json.loads
loop. The simulator (1,000 jobs) runs in its own process on core 1. Each comparison runs the
engine and its raw baseline **at the same time**, in two processes sharing core 0, each
counting its own CPU per request over the same seconds: this machine's speed drifts by +-15%
over minutes, and running side by side makes both loops see the same drift. Both loops keep 32
requests in flight. Five rounds, the two processes started in alternating order; the target
applies to the median ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ._harness import HERE, median, report, simulator

ROUNDS = 5
SECONDS = 6.0


def _pair(url: str, ids_file: str, baseline: str, measured: str, first: str) -> dict[str, dict]:
    """Run two loops side by side; return their results by mode."""
    order = [baseline, measured] if first == baseline else [measured, baseline]
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_loops.py"), mode, url, ids_file, str(SECONDS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for mode in order
    ]
    results = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        line = json.loads(out.strip().splitlines()[-1])
        results[line["mode"]] = line
    return results


@pytest.mark.timeout(900)
def test_cpu_per_poll_against_raw_aiohttp() -> None:
    rounds: dict[str, list[tuple[float, float]]] = {"unchanged": [], "changed": []}
    with simulator(1000, steps=3, hosts=10) as sim, tempfile.TemporaryDirectory() as tmp:
        ids_file = str(Path(tmp) / "ids.json")
        Path(ids_file).write_text(json.dumps(sim.job_ids))
        for n in range(ROUNDS):
            for name, baseline, measured in (
                ("unchanged", "raw", "engine"),
                ("changed", "raw-json", "engine-changed"),
            ):
                got = _pair(sim.url, ids_file, baseline, measured, baseline if n % 2 else measured)
                rounds[name].append(
                    (got[measured]["cpu_per_request"], got[baseline]["cpu_per_request"])
                )
                if name == "unchanged":
                    assert got[measured]["unchanged"] > 0.9 * got[measured]["requests"]
    ratio = {name: median([e / r for e, r in pairs]) for name, pairs in rounds.items()}

    def line(name: str, label: str, target: float) -> list[str]:
        pairs = rounds[name]
        return [
            f"{label:34} raw {median([r for _, r in pairs]) * 1e6:6.1f} us, "
            f"engine {median([e for e, _ in pairs]) * 1e6:6.1f} us, "
            f"median ratio {ratio[name]:.2f} (target <= {target}); rounds: "
            + " ".join(f"{e / r:.2f}" for e, r in pairs)
        ]

    report(
        [
            f"== CPU per poll, engine and raw loop side by side ({ROUNDS} rounds; load {os.getloadavg()[0]:.2f})",
            *line("unchanged", "unchanged poll vs GET + read", 1.2),
            *line("changed", "changed poll vs GET + json.loads", 1.8),
        ]
    )
    assert ratio["unchanged"] <= 1.2
    assert ratio["changed"] <= 1.8
