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
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._harness import HERE, SERVER_CORE

WAITING, RUNNING = 5, 7
# Seconds from "all contenders ready" to their common start.
START_DELAY = 0.3


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
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    def start_clock(self, seconds_from_now: float = 0.3) -> float:
        """Start the simulator's clock; return its origin (a ``time.monotonic()`` reading)."""
        assert self.process is not None
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"start {seconds_from_now}\n")
        self.process.stdin.flush()
        self.origin = json.loads(self.process.stdout.readline())["origin"]
        return self.origin

    def sim_ms(self, monotonic: float) -> float:
        """Return the simulator's clock (epoch ms) at a ``time.monotonic()`` reading."""
        return self.epoch_ms + (monotonic - self.origin) * 1000.0 * self.speed


@contextmanager
def mix_servers(count: int, jobs: int, **options: Any) -> Iterator[list[MixServer]]:
    """Start ``count`` identical mix simulators at once (see ``mix_server``)."""
    with ExitStack() as stack:
        starting = [_launch(jobs, **options) for _ in range(count)]
        try:
            servers = [stack.enter_context(_serve(*launched)) for launched in starting]
        except BaseException:
            for proc, _ in starting:
                if proc.poll() is None:
                    proc.kill()
            raise
        yield servers


@contextmanager
def mix_server(jobs: int, **options: Any) -> Iterator[MixServer]:
    """Start ``_simserver.py --mix``; on exit, stop it and load its timeline (if it runs)."""
    with _serve(*_launch(jobs, **options)) as server:
        yield server


@contextmanager
def deploy_server(
    watched: int, others: int, *, speed: float, tmp: Path, callback_url: str | None = None
) -> Iterator[MixServer]:
    """Start ``_simserver.py --deploys``: ``watched`` long deploys (``job_ids``, the timeline)
    among ``others`` of the same scope; ``callback_url`` on the watched ones if given."""
    workload = ["--deploys", str(watched), "--others", str(others)]
    if callback_url is not None:
        workload += ["--callback-url", callback_url]
    with _serve(*_launch(watched, speed=speed, tmp=tmp, workload=workload)) as server:
        yield server


def callback_endpoint() -> tuple[dict[str, Any], str]:
    """Pick a free local port and a token for a contender's ``CallbackReceiver``.

    Return the receiver's settings (``{"port", "token"}``) and the ``callback_url`` it will
    serve, so the simulator can create its jobs before the contender starts. (The port is free
    when picked; another process could take it meanwhile: the contender then fails to bind.)
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    token = secrets.token_urlsafe(24)
    return {"port": port, "token": token}, f"http://127.0.0.1:{port}/bkjob/callback/{token}"


def _launch(
    jobs: int,
    *,
    speed: float | None,
    rate_limit: float | None = None,
    tmp: Path,
    workload: list[str] | None = None,
) -> tuple[subprocess.Popen[str], Path | None]:
    timeline = tmp / f"timeline-{os.urandom(4).hex()}.json"
    args = [sys.executable, str(HERE / "_simserver.py")]
    args += ["--mix", str(jobs)] if workload is None else workload
    if (os.cpu_count() or 1) > 1:
        args += ["--core", str(SERVER_CORE)]
    if speed is not None:
        args += ["--speed", str(speed), "--timeline", str(timeline)]
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
        server = MixServer(info["url"], info["job_ids"], process=proc)
        if timeline is not None:
            server.epoch_ms, server.speed = info["epoch_ms"], info["speed"]
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


def run_contenders(
    configs: list[dict[str, Any]],
    tmp: Path,
    start: Callable[[], float | dict[str, float]] | None = None,
    spawned: Callable[[str, subprocess.Popen[str]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Start every contender; once all are ready, start them together; return their figures.

    ``start`` starts the clock(s) and returns the common start (a ``time.monotonic()``
    reading), or one per contender name; by default they start ``START_DELAY`` s after all
    are ready. ``spawned`` is called with each contender's name and process once started (a
    profiler attaches there: ``_profile_family.py``).
    """
    procs = []
    try:
        for config in configs:
            procs.append((config["name"], _spawn(config, tmp)))
            if spawned is not None:
                spawned(*procs[-1])
        for name, proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"contender {name} did not start")
        when = start() if start is not None else time.monotonic() + START_DELAY
        for name, proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{when[name] if isinstance(when, dict) else when}\n")
            proc.stdin.flush()
        return {name: _collect(name, proc, tmp) for name, proc in procs}
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


def _spawn(config: dict[str, Any], tmp: Path) -> subprocess.Popen[str]:
    ids_file = tmp / f"ids-{config['name']}.json"
    ids_file.write_text(json.dumps(config["ids"]))
    seen_file = tmp / f"seen-{config['name']}.json"
    payload = {k: v for k, v in config.items() if k != "ids"}
    payload |= {"ids_file": str(ids_file), "seen_file": str(seen_file)}
    return subprocess.Popen(
        [sys.executable, str(HERE / "_peers.py"), json.dumps(payload)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **config.get("env", {})},  # e.g. BKJOB_ASYNC_NO_SPEEDUPS
    )


def _collect(name: str, proc: subprocess.Popen[str], tmp: Path) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=600)
    if proc.returncode:
        raise RuntimeError(f"contender {name} failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    seen_file = tmp / f"seen-{name}.json"
    result["seen"] = json.loads(seen_file.read_text()) if seen_file.exists() else []
    return result


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
    #: Job ends in the window never seen, and ends first seen in a status not the job's own.
    jobs_missed: int = 0
    jobs_wrong: int = 0
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
    seen. A job's end is its first sighting as step 0 host 0 (``jobs_missed``: never;
    ``jobs_wrong``: first seen in another status than its final one).
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
            if since_ms <= job["end"] and (until_ms is None or job["end"] < until_ms):
                if ends:
                    out.job_latencies.append((min(ends.values()) - job["end"]) / 1000)
                    out.jobs_wrong += min(ends, key=ends.__getitem__) != job["status"]
                else:
                    out.jobs_missed += 1
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
