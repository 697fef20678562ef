"""Plumbing of the peer benchmarks: simulators and contenders as processes, and the latency count.

The contenders (``_peers.py``) run at the same time, each in its own process on the client
core, so all see the same machine drift; the simulators run on the other core. Each contender
records when it first saw a host in a status (``time.monotonic()``); the simulator writes when
each host really changed (its own clock, epoch ms). Both clocks are read on one machine, so
``latency = simulator time at the sighting - simulator time of the change``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._harness import HERE, SERVER_CORE

WAITING, RUNNING = 5, 7
# Seconds from the simulator's start to its clock's: time for the contenders to start up.
START_IN = 4.0


@dataclass
class MixServer:
    """A simulator process serving the mix: where, which jobs, and its clock."""

    url: str
    job_ids: list[int]
    epoch_ms: int = 0
    origin: float = 0.0
    speed: float = 1.0
    timeline_file: Path | None = None
    timeline: dict[str, Any] = field(default_factory=dict)

    def sim_ms(self, monotonic: float) -> float:
        """Return the simulator's clock (epoch ms) at a ``time.monotonic()`` reading."""
        return self.epoch_ms + (monotonic - self.origin) * 1000.0 * self.speed


@contextmanager
def mix_servers(count: int, jobs: int, **options: Any) -> Iterator[list[MixServer]]:
    """Start ``count`` identical mix simulators at once (see ``mix_server``)."""
    with ExitStack() as stack:
        starting = [_launch(jobs, **options) for _ in range(count)]
        yield [stack.enter_context(_serve(*launched)) for launched in starting]


@contextmanager
def mix_server(jobs: int, **options: Any) -> Iterator[MixServer]:
    """Start ``_simserver.py --mix``; on exit, stop it and load its timeline (if it runs)."""
    with _serve(*_launch(jobs, **options)) as server:
        yield server


def _launch(
    jobs: int,
    *,
    speed: float | None,
    rate_limit: float | None = None,
    start_in: float = START_IN,
    tmp: Path,
) -> tuple[subprocess.Popen[str], Path | None]:
    timeline = tmp / f"timeline-{os.urandom(4).hex()}.json"
    args = [sys.executable, str(HERE / "_simserver.py"), "--mix", str(jobs)]
    if (os.cpu_count() or 1) > 1:
        args += ["--core", str(SERVER_CORE)]
    if speed is not None:
        args += ["--speed", str(speed), "--timeline", str(timeline), "--start-in", str(start_in)]
    if rate_limit is not None:
        args += ["--rate-limit", str(rate_limit)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, (timeline if speed is not None else None)


@contextmanager
def _serve(proc: subprocess.Popen[str], timeline: Path | None) -> Iterator[MixServer]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator process did not start")
        info = json.loads(line)
        server = MixServer(info["url"], info["job_ids"])
        if timeline is not None:
            server.epoch_ms, server.origin, server.speed = (
                info["epoch_ms"],
                info["origin"],
                info["speed"],
            )
            server.timeline_file = timeline
        yield server
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    if timeline is not None:
        server.timeline = json.loads(timeline.read_text())


def run_contenders(configs: list[dict[str, Any]], tmp: Path) -> dict[str, dict[str, Any]]:
    """Start every contender at once; return each one's figures (and sightings) by name."""
    procs = []
    for config in configs:
        ids_file = tmp / f"ids-{config['name']}.json"
        ids_file.write_text(json.dumps(config.pop("ids")))
        seen_file = tmp / f"seen-{config['name']}.json"
        payload = {**config, "ids_file": str(ids_file), "seen_file": str(seen_file)}
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "_peers.py"), json.dumps(payload)],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append((config["name"], proc, seen_file))
    results = {}
    for name, proc, seen_file in procs:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode:
            raise RuntimeError(f"contender {name} failed (exit {proc.returncode})")
        result = json.loads(out.strip().splitlines()[-1])
        result["seen"] = json.loads(seen_file.read_text()) if seen_file.exists() else []
        results[name] = result
    return results


@contextmanager
def scratch() -> Iterator[Path]:
    with ExitStack() as stack:
        yield Path(stack.enter_context(tempfile.TemporaryDirectory()))


@dataclass
class Sightings:
    """What one contender saw of the mix, as simulator-clock latencies (seconds)."""

    latencies: list[float] = field(default_factory=list)
    job_latencies: list[float] = field(default_factory=list)
    skipped: int = 0
    missed: int = 0
    transitions: int = 0
    job_hours: float = 0.0

    def p(self, q: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.latencies if values is None else values)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def sightings(
    server: MixServer, seen: list[list[Any]], since: float = 0.0, until: float | None = None
) -> Sightings:
    """Match each host change of the simulator with the first time the contender saw it.

    A host's start (5 -> 7) counts as seen when the host is first seen running or finished
    (``skipped`` when only finished); its end when first seen in its final status. Only changes
    from ``since`` to ``until`` (seconds of simulator time) count; ``missed`` counts those never
    seen.
    """
    since_ms = server.epoch_ms + since * 1000
    until_ms = None if until is None else server.epoch_ms + until * 1000
    first: dict[tuple[int, int, int], dict[int, float]] = {}
    for job, step, host, status, at in seen:
        first.setdefault((job, step, host), {}).setdefault(status, server.sim_ms(at))
    out = Sightings()
    for job_key, job in server.timeline.items():
        job_id = int(job_key)
        if job["end"] is not None:
            out.job_hours += (job["end"] - job["start"]) / 3_600_000
            ends = first.get((job_id, 0, 0), {})
            if ends and since_ms <= job["end"] and (until_ms is None or job["end"] < until_ms):
                out.job_latencies.append((min(ends.values()) - job["end"]) / 1000)
        for step, host, started, ended, final in job["hosts"]:
            statuses = first.get((job_id, step, host), {})
            later = [t for s, t in statuses.items() if s != WAITING]
            if _match(out, started, min(later, default=None), since_ms, until_ms):
                out.skipped += statuses.get(RUNNING) is None and bool(later)
            _match(out, ended, statuses.get(final), since_ms, until_ms)
    return out


def _match(
    out: Sightings, changed: int | None, seen: float | None, since_ms: float, until: float | None
) -> bool:
    """Count one change if it is in the window; tell whether it was."""
    if changed is None or changed < since_ms or (until is not None and changed >= until):
        return False
    out.transitions += 1
    if seen is None:
        out.missed += 1
    else:
        out.latencies.append((seen - changed) / 1000)
    return True


def median(values: list[float]) -> float:
    return statistics.median(values)


def load() -> float:
    return os.getloadavg()[0]
