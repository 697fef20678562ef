"""32 threads that launch a job and wait for its end: the sync facade against the official SDK.

What a Django or Celery process of bk-sops, bk-nodeman or blueking-dbm does today: threads
that each launch a job with the SDK and poll ``get_job_instance_status`` every 5 s until it
is finished. Against it, the same threads on ``bkjob_async.sync``: one client and one
``Poller`` shared by the 32 threads, each ``Poller.wait_finished``. Both contenders run side by
side (each its own process on the client core, started together), each against a simulator
of its own (another process, on the server core) whose jobs' hosts run ``DURATION`` seconds;
``JOBS`` jobs per thread, one after another. Figures: requests the simulator served (status,
job list, launches), client CPU per job-hour (the jobs' own hours, start to end), and the
latency from a job's end (the simulator's record) to its caller's return, p50/p99/max.

Asserted loosely: ours sends fewer requests, and its p99 is lower. ``BENCH_SYNC_JOBS``
changes the jobs per thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from ._harness import HERE, SERVER_CORE, first_line, report, stop_child

THREADS = 32
JOBS = int(os.environ.get("BENCH_SYNC_JOBS", "4"))
DURATION = (8.0, 20.0)
CONTENDERS = ("sdk", "sync")


def _start_simulator(tmp: Path, name: str) -> tuple[subprocess.Popen[str], str]:
    core = ["--core", str(SERVER_CORE)] if (os.cpu_count() or 1) > 1 else []
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_simserver.py"),
            "--jobs", "0",
            "--duration", str(DURATION[0]), str(DURATION[1]),
            "--timeline", str(tmp / f"{name}-timeline.json"),
            "--counts", str(tmp / f"{name}-counts.json"),
            *core,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    return proc, first_line(proc)["url"]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _figures(result: dict[str, Any], timeline: dict[str, Any], counts: dict[str, int]):
    ends = {int(job): info for job, info in timeline.items()}
    latencies, hours = [], 0.0
    for job, returned in result["returned"]:
        info = ends[job]
        assert info["end"] is not None, f"job {job} returned before it ended"
        latencies.append(returned - info["end"] / 1000)
        hours += (info["end"] - info["start"]) / 3_600_000
    jobs = len(result["returned"])
    requests = sum(counts.values())
    return {
        "jobs": jobs,
        "requests": requests,
        "status": counts.get("get_job_instance_status", 0),
        "lists": counts.get("get_job_instance_list", 0),
        "per_job": requests / jobs,
        "per_job_hour": requests / hours,
        "cpu_ms_per_job_hour": result["cpu"] * 1000 / hours,
        "cpu_s": result["cpu"],
        "wall": result["wall"],
        "p50": _percentile(latencies, 0.5),
        "p99": _percentile(latencies, 0.99),
        "max": max(latencies),
        "min": min(latencies),
        "hours": hours,
    }


@pytest.mark.timeout(900)
def test_32_threads_launch_and_wait_against_the_sdk_loop() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        sims = {name: _start_simulator(tmp, name) for name in CONTENDERS}
        try:
            start_at = time.time() + 5.0
            procs = {
                name: subprocess.Popen(
                    [
                        sys.executable,
                        str(HERE / "_sync_load.py"),
                        json.dumps(
                            {
                                "contender": name,
                                "url": sims[name][1],
                                "threads": THREADS,
                                "jobs": JOBS,
                                "start_at": start_at,
                            }
                        ),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for name in CONTENDERS
            }
            results = {}
            for name, proc in procs.items():
                out, err = proc.communicate(timeout=800)
                assert proc.returncode == 0, err
                results[name] = json.loads(out.splitlines()[-1])
        finally:
            for proc, _ in sims.values():
                stop_child(proc, timeout=30)
        rows = {
            name: _figures(
                results[name],
                json.loads((tmp / f"{name}-timeline.json").read_text()),
                json.loads((tmp / f"{name}-counts.json").read_text()),
            )
            for name in CONTENDERS
        }
    sdk, ours = rows["sdk"], rows["sync"]
    lines = [
        f"32 threads x {JOBS} jobs each, launched and waited for one after another; hosts run "
        f"{DURATION[0]:g}-{DURATION[1]:g} s; load {os.getloadavg()[0]:.2f}",
        "contender  jobs  requests  status  lists  req/job  req/job-h  CPU ms/job-h"
        "  p50 s  p99 s  max s",
    ]
    for name, r in (("sdk", sdk), ("sync", ours)):
        lines.append(
            f"{name:9} {r['jobs']:5d} {r['requests']:9d} {r['status']:7d} {r['lists']:6d}"
            f" {r['per_job']:8.2f} {r['per_job_hour']:10.1f} {r['cpu_ms_per_job_hour']:13.0f}"
            f" {r['p50']:6.2f} {r['p99']:6.2f} {r['max']:6.2f}"
        )
    lines.append(
        f"sync / sdk: requests {ours['requests'] / sdk['requests']:.2f}x, CPU per job-hour "
        f"{ours['cpu_ms_per_job_hour'] / sdk['cpu_ms_per_job_hour']:.2f}x, p99 "
        f"{ours['p99'] / sdk['p99']:.2f}x"
    )
    report(lines)
    assert sdk["jobs"] == ours["jobs"] == THREADS * JOBS
    assert min(sdk["min"], ours["min"]) >= -0.01  # no caller told of an end before it happened
    assert ours["requests"] < sdk["requests"]
    assert ours["p99"] < sdk["p99"]
