"""Client CPU per poll: the engine against raw aiohttp loops on the same simulator, in turns.

Targets: an unchanged poll of a 3-step x 10-host job costs <= 1.2x a raw aiohttp GET-and-read
loop (issue 4); a changed poll (decode, structure, diff, deliver) <= 1.5x a raw GET +
json.loads loop (issue 10). The simulator (1,000 jobs) runs in its own process on core 1; for
changed polls, two more move one host in every answer (``simulator(flip=True)``), one for
each loop, so both loops read the same changing bodies and nothing in the engine is patched.
Each comparison runs the engine and its raw baseline **in turns** on core 0: both processes
live through the same seconds, and each runs alone for 100 ms while the other is stopped
(``_harness.take_turns``). This machine's speed drifts by +-15% over minutes; taking turns
makes both loops see the same drift, as running them side by side did, while each loop runs as
a poller does, alone on its core, instead of being switched with the other at the kernel's
millisecond slices. Each loop counts its own CPU per request over the same seconds; both keep
32 requests in flight. Seven rounds, the first turn alternating; the targets apply to the
median ratio.
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

ROUNDS = 7
#: Each loop's measured window, in wall-clock seconds: it runs for about half of it.
SECONDS = 8.0


def _pair(
    urls: dict[str, str], ids_file: str, baseline: str, measured: str, first: str
) -> dict[str, dict]:
    """Run two loops in turns, ``first`` first, each against ``urls[mode]``; return results."""
    order = [baseline, measured] if first == baseline else [measured, baseline]
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_loops.py"), mode, urls[mode], ids_file, str(SECONDS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for mode in order
    ]
    take_turns(procs)
    results = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        line = json.loads(out.strip().splitlines()[-1])
        results[line["mode"]] = line
    return results


@pytest.mark.timeout(900)
def test_cpu_per_poll_against_raw_aiohttp() -> None:
    rounds: dict[str, list[tuple[float, float]]] = {"unchanged": [], "changed": []}
    with (
        simulator(1000, steps=3, hosts=10) as sim,
        simulator(1000, steps=3, hosts=10, flip=True) as flipping,
        simulator(1000, steps=3, hosts=10, flip=True) as flipping_too,
        tempfile.TemporaryDirectory() as tmp,
    ):
        assert sim.job_ids == flipping.job_ids == flipping_too.job_ids
        ids_file = str(Path(tmp) / "ids.json")
        Path(ids_file).write_text(json.dumps(sim.job_ids))
        # A flipping simulator alternates each job's answers: each loop has its own, so every
        # answer it gets differs from the one before (shared, each would see the other's).
        urls = {
            "raw": sim.url,
            "engine": sim.url,
            "raw-json": flipping_too.url,
            "engine-changed": flipping.url,
        }
        for n in range(ROUNDS):
            for name, baseline, measured in (
                ("unchanged", "raw", "engine"),
                ("changed", "raw-json", "engine-changed"),
            ):
                got = _pair(urls, ids_file, baseline, measured, baseline if n % 2 else measured)
                rounds[name].append(
                    (got[measured]["cpu_per_request"], got[baseline]["cpu_per_request"])
                )
                engine = got[measured]
                if name == "unchanged":
                    assert engine["unchanged"] > 0.9 * engine["requests"]
                else:  # every poll decoded, diffed, and one host reported
                    assert engine["unchanged"] == 0
                    assert engine["events"] >= 0.9 * engine["requests"]
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
            f"== CPU per poll, engine and raw loop in turns ({ROUNDS} rounds; load {os.getloadavg()[0]:.2f})",
            *line("unchanged", "unchanged poll vs GET + read", 1.2),
            *line("changed", "changed poll vs GET + json.loads", 1.5),
        ]
    )
    assert ratio["unchanged"] <= 1.2
    assert ratio["changed"] <= 1.5
