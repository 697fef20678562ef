"""What starting costs: ``import bkjob_async`` and ``bkjob-async --version`` against aiohttp's import.

Each contender is a fresh interpreter (``python -c "import aiohttp"``, ``python -c "import
bkjob_async"``, ``python -m bkjob_async.cli --version`` as the ``bkjob-async`` script runs it),
started ``RUNS`` times in turns, so the machine's drift falls on all three alike; the ratio of
the medians of wall time to aiohttp's import (our floor: every command that talks to bk-job
needs it). Targets: the import <= 1.3x, ``--version`` <= 1.5x. A command imports what it needs
when it runs (``status`` the client, ``simulate`` the simulator), so neither pays for those.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ._harness import median, report

RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "21"))
_SCRIPT = Path(sys.executable).with_name("bkjob-async")  # the console script pip installed
CONTENDERS = {
    "import aiohttp": [sys.executable, "-c", "import aiohttp"],
    "import bkjob_async": [sys.executable, "-c", "import bkjob_async"],
    "bkjob-async --version": [str(_SCRIPT), "--version"]
    if _SCRIPT.exists()
    else [sys.executable, "-m", "bkjob_async.cli", "--version"],
}
TARGETS = {"import bkjob_async": 1.3, "bkjob-async --version": 1.5}


def _wall(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    took = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    return took


@pytest.mark.timeout(600)
def test_import_and_version_against_aiohttps_import() -> None:
    for argv in CONTENDERS.values():
        _wall(argv)  # (the files in the page cache, the bytecode written)
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for n in range(RUNS):
        names = list(CONTENDERS)
        for name in names[n % 3 :] + names[: n % 3]:  # each first in turn
            times[name].append(_wall(CONTENDERS[name]))
    floor = median(times["import aiohttp"])
    ratios = {name: median(values) / floor for name, values in times.items()}
    load = os.getloadavg()[0]
    report(
        [
            f"start-up, {RUNS} fresh interpreters each, in turns (load {load:.1f}):",
            *(
                f"  {name}: median {median(values) * 1000:.0f} ms = {ratios[name]:.2f}x "
                "aiohttp's import"
                + (
                    f"; target <= {TARGETS[name]}x: "
                    + ("met" if ratios[name] <= TARGETS[name] else "NOT met")
                    if name in TARGETS
                    else ""
                )
                for name, values in times.items()
            ),
        ]
    )
    # Nothing heavy at import: what holds whatever the load.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bkjob_async; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'aiohttp'" not in loaded
    assert "'bkjob_async.client'" not in loaded
