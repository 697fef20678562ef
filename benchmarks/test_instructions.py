"""Instructions per unchanged poll, engine against raw aiohttp, counted by callgrind.

CPU time on a shared VM drifts by +-15%; instruction counts do not: the same program and
inputs give the same total. Each loop (``_icount_loop.py``) runs under
``valgrind --tool=callgrind`` for 400 and then 1,400 requests against the simulator (not under
valgrind); the difference of the two totals divided by 1,000 is the cost of one request, with
start-up and each job's first (decoded) poll cancelled out. Target (issue 10): an unchanged
poll costs <= 1.1x the ``raw`` loop (``async with session.get(...)``, then read). The engine's
transport awaits the response and releases it by hand (aiohttp's documented lean use, five
coroutines fewer per request); the ``raw-bare`` loop does the same, and the ratio against it
is reported too, so that what the engine's own work costs is in plain sight.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ._harness import HERE, report, simulator

pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")


def _instructions(mode: str, url: str, ids_file: str, requests: int, out: Path) -> int:
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(HERE / "_icount_loop.py"),
            mode,
            url,
            ids_file,
            str(requests),
        ],
        capture_output=True,
        check=True,
    )
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise AssertionError("callgrind wrote no totals")


@pytest.mark.timeout(1200)
def test_instructions_per_unchanged_poll() -> None:
    per_request = {}
    with simulator(200, steps=3, hosts=10) as sim, tempfile.TemporaryDirectory() as tmp:
        ids_file = str(Path(tmp) / "ids.json")
        Path(ids_file).write_text(json.dumps(sim.job_ids))
        for mode in ("raw", "raw-bare", "engine"):
            few = _instructions(mode, sim.url, ids_file, 400, Path(tmp) / f"{mode}.few")
            many = _instructions(mode, sim.url, ids_file, 1400, Path(tmp) / f"{mode}.many")
            per_request[mode] = (many - few) / 1000
    ratio = per_request["engine"] / per_request["raw"]
    bare = per_request["engine"] / per_request["raw-bare"]
    report(
        [
            "== instructions per request (callgrind; 3-step x 10-host jobs; unchanged polls)",
            f"raw aiohttp GET + read (async with)   {per_request['raw']:10,.0f}",
            f"raw aiohttp GET + read, bare          {per_request['raw-bare']:10,.0f}",
            f"engine, unchanged poll                {per_request['engine']:10,.0f}"
            f"   ratio {ratio:.3f} (target <= 1.1); against the bare loop {bare:.3f}",
        ]
    )
    assert ratio <= 1.1
