"""Where a contender's CPU goes on one seed of the family of mixes, run alone under py-spy.

``python benchmarks/_profile_family.py SEED [CONTENDER [OUT_DIR]]`` (CONTENDER ``engine``, the
defaults, or ``naive``, the 5 s loop) serves the seed's mix as ``test_family.py`` does, at its
full scale (``BENCH_FAMILY_SPEED`` to change the clock, 10 by default), runs the one contender
with ``py-spy record --gil`` attached (250 samples a second of the thread holding the GIL,
``BENCH_SPY_RATE`` to change it: a loop waiting in ``epoll_wait`` has let go of it, so every
sample is Python code running) and prints the functions that take the most of its samples, by
their own time and with what they call, and the modules' shares. The raw stacks are kept in
``OUT_DIR/profile-SEED-CONTENDER.txt``. Needs ``py-spy`` (``pip install py-spy``; not in the
dev extra: a profile is a look, not a benchmark) and the right to trace the process (root, or
``ptrace_scope`` 0).
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from benchmarks._peers_bench import load, mix_server, run_contenders, scratch
from benchmarks._peers_family import jobs_for, mix_jobs, shape
from benchmarks.test_family import FULL, SPARE
from benchmarks.test_peers import DEFAULTS, _contender, _engine_policy, _mix_figures

RATE = int(os.environ.get("BENCH_SPY_RATE", "250"))


def _frame(frame: str) -> tuple[str, str]:
    """``fn (path/to/mod.py:12)`` -> (``fn (mod.py)``, the module's path)."""
    name, _, where = frame.rpartition(" (")
    path = where.rsplit(":", 1)[0]
    return f"{name} ({path.rsplit('site-packages/', 1)[-1]})", path


def summary(raw: Path, top: int = 25) -> list[str]:
    """Own and inclusive shares of the samples, by function and by module, from raw stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    modules: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        if "importlib._bootstrap" in stack:  # (imports at the start: not the watch)
            continue
        n, frames = int(count), [_frame(f) for f in stack.split(";")]
        total += n
        own[frames[-1][0]] += n
        modules[_module(frames[-1][1])] += n
        for name in {f[0] for f in frames}:
            inclusive[name] += n
    lines = [f"{total} samples ({total / RATE:.1f} s of CPU)", "own time:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines.append("with what they call:")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines.append("own time by module:")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in modules.most_common(top)]
    layers: collections.Counter[str] = collections.Counter()
    for name, n in modules.items():
        layers[_layer(name)] += n
    lines.append("own time by layer:")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in layers.most_common()]
    return lines


def _layer(module: str) -> str:
    for prefix, layer in (
        ("bkjob_async.polling", "the poll engine (bkjob_async.polling)"),
        ("bkjob_async", "the client below it (transport, readers, JSON, converter, models)"),
        ("aiohttp", "aiohttp"),
        ("asyncio", "the event loop (asyncio, selectors)"),
        ("selectors", "the event loop (asyncio, selectors)"),
        ("anyio", "anyio"),
        ("benchmarks", "the benchmark's own loop"),
    ):
        if module.startswith(prefix):
            return layer
    return "other (stdlib, typing, attrs, ...)"


def _module(path: str) -> str:
    """A frame's module as a dotted name (py-spy shows paths under site-packages and the
    standard library short: ``aiohttp/client.py``, ``asyncio/events.py``)."""
    for marker in ("site-packages/", "/lib/python3.11/", "/lib/python3.12/", "/lib/python3.10/"):
        path = path.rsplit(marker, 1)[-1]
    if "/bkjob_async/" in path:
        path = "bkjob_async/" + path.rsplit("/bkjob_async/", 1)[-1]
    return path.removesuffix(".py").replace("/", ".")


def main(seed: int, contender: str, out: Path) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    speed = float(os.environ.get("BENCH_FAMILY_SPEED", FULL.speed))
    jobs = jobs_for(seed, FULL.host_runs, *FULL.jobs)
    drawn = mix_jobs(seed, jobs)
    launch = [job.launch / speed for job in drawn]
    seconds = (max(job.horizon for job in drawn) + SPARE) / speed
    raw = out / f"profile-{seed}-{contender}.txt"
    spies: list[subprocess.Popen[bytes]] = []

    def attach(name: str, proc: subprocess.Popen[str]) -> None:
        args = [spy, "record", "--pid", str(proc.pid), "--gil", "-r", str(RATE), "-f", "raw"]
        args += ["-o", str(raw)]
        spies.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    workload = ["--mix", str(jobs), "--family", str(seed)]
    with scratch() as tmp, mix_server(jobs, speed=speed, tmp=tmp, workload=workload) as server:
        extra = (
            {"policy": _engine_policy(DEFAULTS.latency, speed)}
            if contender == "engine"
            else {"interval": 5.0 / speed}
        )
        config = _contender(
            contender,
            contender,
            server.url,
            server.job_ids,
            "watch",
            seconds=seconds,
            launch=launch,
            sample_every=5.0,  # (as ``test_family.py`` samples)
            **extra,
        )
        results = run_contenders([config], tmp, start=server.start_clock, spawned=attach)
    for proc in spies:
        proc.wait(timeout=60)
    figures = _mix_figures(server, results[contender])
    print(shape(seed).describe())
    print(
        f"{contender} alone, {jobs} jobs, clock x{speed:g} (load {load():.2f}):"
        f" {figures['requests_per_job']:.1f} requests a job, CPU {results[contender]['cpu']:.2f} s,"
        f" {figures['cpu_us_per_request']:.0f} us a request"
    )
    print("\n".join(summary(raw)))
    print(f"raw stacks: {raw}")


if __name__ == "__main__":
    out_ = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(tempfile.mkdtemp())
    out_.mkdir(parents=True, exist_ok=True)
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "engine", out_)
