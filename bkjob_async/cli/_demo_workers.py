"""Rule: the cluster demo uses only public parts, and checks every host's chain at its end.

``bkjob-async demo --workers N``: cluster mode on a local Redis, with a worker killed mid-run.

Rule: like the single-process demo, it uses only public parts (``Cluster``, the ``worker``
command, the simulator); it starts a private ``redis-server`` (persistence off, 127.0.0.1, a
free port) and N worker processes, SIGKILLs one once its share of jobs is running, shows the
others taking its partitions over, and at the end checks every host's chain of transitions in
the watch's stream against the simulator (after dedupe by ``event_id``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import TYPE_CHECKING

import anyio

from ..config import Scope
from ..models import StepType
from ..polling.events import Event, HostTransition, JobFinished
from ._runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from ..cluster import Cluster
    from ..testing import BkJobSimulator
    from ._runtime import Context

__all__ = ["run_demo_workers"]

SCOPE = Scope.biz(2)
WATCH = "demo"
INTERVAL = 0.5
_REDIS_HINT = (
    "redis-server is not installed (demo --workers starts a private one): install Redis 6.2+ "
    "('sudo apt-get install redis-server', 'brew install redis'), or run 'make redis' as "
    "root; 'bkjob-async demo' without --workers needs no Redis"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _redis_server(binary: str) -> Iterator[str]:
    """Run a private redis-server; yield its URL."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bkjob-demo-redis-") as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", directory, "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while not _pong(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise CliError(f"redis-server did not start (exit {process.poll()})")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _spawn(worker_id: str, redis_url: str, sim_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BKJOB_APP_CODE": "bkjob-demo",
        "BKJOB_APP_SECRET": "demo-only",
        "BKJOB_USERNAME": "admin",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bkjob_async.cli", "worker", "--redis", redis_url,
         "--cluster", "demo", "--url", sim_url, "--worker-id", worker_id,
         "--interval", str(INTERVAL), "--max-interval", str(4 * INTERVAL),
         "--report-every", "3600"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip


async def _holders(cluster: Cluster) -> dict[int, str]:
    """Return the worker holding each held partition (``Cluster.holders``: read only)."""
    held = await cluster.holders(range(cluster.partitions))
    return {part: worker for part, worker in held.leases.items() if worker is not None}


async def _events(cluster: Cluster) -> list[Event]:
    """Return the watch's events in stream order, deduplicated by ``event_id``."""
    from ..cluster import read_history

    seen: set[str] = set()
    found = []
    for delivery in await read_history(cluster, WATCH):
        if delivery.event.event_id not in seen:
            seen.add(delivery.event.event_id)
            found.append(delivery.event)
    return found


async def _missing(cluster: Cluster, ids: list[int]) -> list[str]:
    """Say, for each job without a ``JobFinished``, what the cluster knows of it."""
    from ..cluster import read_history

    last: dict[int, tuple[float, Event]] = {}
    for delivery in await read_history(cluster, WATCH):
        at = int(delivery.stream_id.split("-")[0]) / 1000
        last[delivery.event.job_instance_id] = (at, delivery.event)
    holders = await _holders(cluster)
    lines = []
    for job in ids:
        seen = last.get(job)
        if seen is not None and isinstance(seen[1], JobFinished):
            continue
        part = cluster.partition(SCOPE, job)
        member = "in" if (SCOPE, job) in await cluster.partition_jobs(part) else "gone from"
        when = "no event yet"
        if seen is not None:
            when = f"last event {time.time() - seen[0]:.1f} s ago ({type(seen[1]).__name__})"
        holder = holders.get(part, "nobody")
        lines.append(f"job {job}: {when}; {member} the job set; partition {part}: {holder}")
    return lines


def _check(events: list[Event], sim: BkJobSimulator, ids: list[int]) -> list[str]:
    """Return what is wrong with the stream (nothing: every chain unbroken and complete)."""
    problems: list[str] = []
    last: dict[tuple[int, int, str], int | None] = {}
    finished: Counter[int] = Counter()
    for event in events:
        if isinstance(event, HostTransition):
            key = (event.job_instance_id, event.step_instance_id, str(event.host.bk_host_id))
            was, now = _code(event.previous), int(event.current)
            if was != last.get(key):
                problems.append(f"host {key}: {was} -> {now} after {last.get(key)}")
            last[key] = now
        elif isinstance(event, JobFinished):
            finished[event.job_instance_id] += 1
    for job_id in ids:
        if finished[job_id] != 1:
            problems.append(f"job {job_id}: {finished[job_id]} JobFinished events")
        for step in sim.job(job_id).steps:
            for host in step.hosts or ():
                key = (job_id, step.step_instance_id, str(host.bk_host_id))
                if last.get(key) != int(host.status):
                    problems.append(f"host {key}: last seen {last.get(key)}, is {host.status}")
    return problems


async def run_demo_workers(ctx: Context, args: argparse.Namespace) -> int:
    """Run the cluster demo; exit 0 if no transition was lost, 1 otherwise."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise CliError(_REDIS_HINT)
    try:
        from ..cluster import Cluster
    except ImportError as exc:
        raise CliError(str(exc)) from None
    from ..testing import BkJobSimulator, StepPlan

    workers = args.workers
    if not 2 <= workers <= 16:
        raise CliError(f"--workers must be within 2..16, got {workers}")
    hosts = min(args.hosts, 10)
    say = ctx.out
    procs: dict[str, subprocess.Popen[bytes]] = {}
    status = EXIT_INTERRUPTED
    with ctx.interruptible(), _redis_server(binary) as redis_url:
        sim = BkJobSimulator(seed=args.seed, host_duration=(2.0, 8.0), fail_rate=args.fail_rate)
        async with sim, Cluster(redis_url, "demo") as cluster:
            say(f"bkjob-async demo: {workers} workers on a private Redis ({redis_url})")
            ids = [
                sim.create_job(SCOPE, [StepPlan(StepType.SCRIPT, hosts=hosts)] * 2)
                for _ in range(args.jobs)
            ]
            await cluster.submit(SCOPE, ids, watch=WATCH)
            say(f"submitted {len(ids)} jobs x 2 steps x {hosts} hosts to watch {WATCH!r}")
            try:
                for n in range(workers):
                    procs[f"worker-{n + 1}"] = _spawn(f"worker-{n + 1}", redis_url, sim.url)
                status = await _show(ctx, cluster, sim, ids, procs)
            finally:
                for proc in procs.values():
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
                for proc in procs.values():
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
    return status


async def _show(
    ctx: Context,
    cluster: Cluster,
    sim: BkJobSimulator,
    ids: list[int],
    procs: dict[str, subprocess.Popen[bytes]],
) -> int:
    say = ctx.out
    victim = "worker-1"
    killed_at: float | None = None
    doomed: set[int] = set()
    taken = False
    started = time.monotonic()
    give_up = started + 120 + len(ids) / 10
    while True:
        await anyio.sleep(0.25)
        if time.monotonic() > give_up:
            missing = await _missing(cluster, ids)
            say(
                f"{len(missing)} of {len(ids)} jobs have no JobFinished after "
                f"{time.monotonic() - started:.0f} s:"
            )
            for line in missing[:10]:
                say(f"  {line}")
            return EXIT_FAILED
        holders = await _holders(cluster)
        shares = Counter(holders.values())
        events = await _events(cluster)
        done = sum(isinstance(e, JobFinished) for e in events)
        now = time.monotonic()
        if killed_at is None and len(shares) == len(procs) and now - started > 4:
            doomed = {p for p, h in holders.items() if h == victim}
            procs[victim].kill()
            killed_at = now
            say(f"killed {victim} (SIGKILL) while it held {len(doomed)} partitions")
        elif (
            killed_at is not None
            and not taken
            and all(holders.get(p, victim) != victim for p in doomed)
        ):
            taken = True
            owners = Counter(holders[p] for p in doomed)
            who = ", ".join(f"{w} {n}" for w, n in sorted(owners.items()))
            say(f"its partitions were taken over in {now - killed_at:.2f} s ({who})")
        if int(now * 4) % 8 == 0 or done == len(ids):
            line = ", ".join(f"{w}: {n}" for w, n in sorted(shares.items()))
            say(f"{now - started:5.1f} s  partitions {line or '-'}  events {len(events)}  "
                f"finished {done}/{len(ids)}")  # fmt: skip
        if done >= len(ids) and taken:
            break
    await anyio.sleep(1.0)  # a late duplicate would land now
    problems = _check(await _events(cluster), sim, ids)
    if problems:
        say(f"transitions lost or repeated: {len(problems)}")
        for problem in problems[:10]:
            say(f"  {problem}")
        return EXIT_FAILED
    say(
        "no transition lost: after dedupe by event_id every host's chain is unbroken and ends "
        "in its true final status, and every job has exactly one JobFinished"
    )
    return EXIT_OK


def _code(status: int | None) -> int | None:
    return None if status is None else int(status)
