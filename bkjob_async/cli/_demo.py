"""``bkjob-async demo``: the product's main job against the embedded simulator, in one command.

Rule: the demo uses only the public client and poller, exactly as an operator's code would;
the simulator is the one thing that differs from production. It launches jobs (one of them a
plan with a manual confirmation, which the demo gives once the job waits), watches them all,
summarizes, then retries the failed hosts of one failed job and watches that round too. With
``--workers N``: cluster mode on a private ``redis-server`` (persistence off, 127.0.0.1, a free
port) and N worker processes; one is SIGKILLed once its share of jobs runs, the others take its
partitions over, and at the end every host's chain of transitions in the watch's stream is
checked against the simulator (after dedupe by ``event_id``).
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

from ..client import BkJobClient
from ..config import Scope
from ..models import JobStatus, StepOperation, StepType
from ..models.requests import Account, Targets
from ..polling import Poller, PollerStatistics, PollPolicy
from ..polling.events import Event, HostTransition, JobFinished
from ._commands import wait_for_effect
from ._follow import Mode, Shown, choose_mode, show_summary, showing, statistics_since
from ._format import Tally, code_name, counted
from ._runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError, Context

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator, Callable, Iterator

    from .._fold import FoldedJob
    from ..cluster import Cluster
    from ..testing import BkJobSimulator
    from ._format import Summary
    from ._runtime import Context

__all__ = ["run_demo"]

SCOPE = Scope.biz(2)
SCRIPT = '#!/bin/bash\necho "hello from $(hostname)"\n'
#: The first host id the demo's jobs target (the simulator's inventory starts at 1000).
FIRST_HOST_ID = 1000
#: The plan the demo launches once: hosts, a manual confirmation, more hosts.
CONFIRM_PLAN_ID = 1
#: Seconds the demo lets a job wait for its confirmation before giving it (so it is seen).
CONFIRM_AFTER = 2.0


def _check(args: argparse.Namespace) -> None:
    """Refuse host durations out of order (each number's range is its parser type's)."""
    low, high = args.host_duration
    if not 0.0 < low <= high <= 600:
        raise CliError(f"--host-duration needs 0 < MIN <= MAX <= 600, got {low} {high}")


def policy_for(host_duration: tuple[float, float]) -> PollPolicy:
    """Return a poll policy paced to the hosts: 0.5 s (at most 2 s) for the default 1-6 s."""
    interval = min(0.5, max(0.02, host_duration[0] / 2))
    return PollPolicy(interval=interval, max_interval=4 * interval, max_in_flight=32)


async def run_demo(ctx: Context, args: argparse.Namespace) -> int:
    """Run the demo; exit 0 when it ran to the end (failed jobs are part of the show)."""
    from ..testing import BkJobSimulator, Fault

    _check(args)
    if args.workers is not None:
        return await run_demo_workers(ctx, args)
    mode = choose_mode(ctx, json=args.json, piped=Mode.PLAIN)
    say = ctx.err if mode is Mode.JSON else ctx.out
    tally = Tally((), expected_hosts=args.jobs * args.hosts)
    started = time.monotonic()
    stats: list[PollerStatistics] = []
    pollers: list[Poller] = []
    title = f"bkjob-async demo: {counted(args.jobs, 'job')} x {counted(args.hosts, 'host')}"
    sim = BkJobSimulator(
        seed=args.seed,
        host_duration=tuple(args.host_duration),
        fail_rate=args.fail_rate,
        retry_lag=min(0.5, args.host_duration[0]),
    )
    with ctx.interruptible():
        async with sim:
            if not args.no_faults:
                # A few transient failures, so the summary shows the poller's retries at work.
                for skip, fault in ((150, Fault.http_status(502)), (400, Fault.reset())):
                    sim.inject(fault, api="get_job_instance_status", skip=skip)
            say(f"{title}, host fail rate {args.fail_rate:.1%}")
            say(f"a simulated bk-job serves at {sim.url}: no server or credentials needed")
            async with BkJobClient(
                sim.url,
                app_code="bkjob-demo",
                app_secret="demo-only",
                username="admin",
                language="en",
            ) as client:
                job_ids, confirm_job = await _launch(client, args, sim)
                say(
                    f"launched {counted(len(job_ids), 'job')} ({job_ids[0]}..{job_ids[-1]})"
                    + (f"; {confirm_job} will wait for a confirmation" if confirm_job else "")
                )
                tally = Tally(job_ids, expected_hosts=args.jobs * args.hosts)
                async with (
                    Poller(client, policy=policy_for(args.host_duration)) as poller,
                    _dashboard(ctx, args, poller, say),
                ):
                    pollers.append(poller)
                    async with (
                        showing(
                            ctx,
                            tally,
                            mode=mode,
                            title=title,
                            server=sim.url,
                            statistics=poller.statistics,
                            connected=True,
                        ) as shown,
                        poller.watch_jobs(SCOPE, job_ids) as watch,
                        anyio.create_task_group() as tg,
                    ):
                        if confirm_job is not None:
                            tg.start_soon(_confirm, client, tally, confirm_job, shown)
                        await shown.follow(watch)
                        tg.cancel_scope.cancel()
                    stats.append(poller.statistics())
                    show_summary(
                        ctx, _summary(tally, title, started, stats[0], ctx), mode, failed=False
                    )
                    await _retry_round(ctx, client, poller, tally, mode, say)
    if ctx.interrupted:
        if not stats:  # interrupted in the first round: summarize what it saw
            partial = pollers[0].statistics() if pollers else None
            show_summary(ctx, _summary(tally, title, started, partial, ctx), mode, failed=False)
        return EXIT_INTERRUPTED
    return EXIT_OK


@contextlib.asynccontextmanager
async def _dashboard(
    ctx: Context, args: argparse.Namespace, poller: Poller, say: Callable[[str], None]
) -> AsyncIterator[None]:
    """Serve the web dashboard of the demo's poller while it runs, and say where."""
    if args.no_dashboard:
        yield
        return
    from ._dashboard import serve_dashboard

    async with serve_dashboard(ctx, poller, port=args.dashboard_port) as url:
        say(f"dashboard: {url} (open it in a browser while the demo runs)")
        yield


async def _confirm(client: BkJobClient, tally: Tally, job_id: int, shown: Shown) -> None:
    """Give the confirmation the plan job waits for, a moment after it starts to wait."""
    while True:
        record = tally.job(job_id)
        if record is None or record.ended:
            return
        step_id = record.waiting_step
        if record.status is JobStatus.WAITING_USER and step_id is not None:
            break
        await anyio.sleep(0.1)
    shown.note(
        f"job {job_id} waits for a confirmation (step {step_id}); the demo gives it in "
        f"{CONFIRM_AFTER:g} s"
    )
    await anyio.sleep(CONFIRM_AFTER)
    await client.operate_step_instance(SCOPE, job_id, step_id, StepOperation.CONFIRM_CONTINUE)


def _summary(
    tally: Tally, title: str, started: float, stats: PollerStatistics | None, ctx: Context
) -> Summary:
    return tally.report(
        title=title,
        elapsed=time.monotonic() - started,
        statistics=stats,
        interrupted=ctx.interrupted,
    )


async def _launch(
    client: BkJobClient, args: argparse.Namespace, sim: BkJobSimulator
) -> tuple[list[int], int | None]:
    """Launch the jobs, 32 at a time; return their ids and the one waiting for a confirmation.

    Each script job targets its own ``--hosts`` hosts; with two jobs or more, the last one runs
    a plan of the same number of hosts with a manual confirmation between its two steps.
    """
    from ..testing import StepPlan

    ids: dict[int, int] = {}
    limiter = anyio.CapacityLimiter(32)
    plan_job = args.jobs - 1 if args.jobs >= 2 else None
    if plan_job is not None:
        first = max(1, args.hosts // 2)
        # Its hosts do not fail: the job is there to wait for a person, then succeed.
        steps = [
            StepPlan(hosts=first, name="canary", fail_rate=0.0),
            StepPlan(StepType.MANUAL_CONFIRM, name="confirm the canary"),
        ]
        if args.hosts > first:
            steps.append(StepPlan(hosts=args.hosts - first, name="the rest", fail_rate=0.0))
        sim.add_plan(CONFIRM_PLAN_ID, steps, name="canary, confirm, the rest")

    async def launch(index: int) -> None:
        first = FIRST_HOST_ID + index * args.hosts
        async with limiter:
            if index == plan_job:
                launched = await client.execute_job_plan(SCOPE, CONFIRM_PLAN_ID)
            else:
                launched = await client.fast_execute_script(
                    SCOPE,
                    targets=Targets(host_ids=range(first, first + args.hosts)),
                    account=Account(alias="root"),
                    script_content=SCRIPT,
                    task_name=f"demo job {index + 1}",
                )
        ids[index] = launched.job_instance_id

    async with anyio.create_task_group() as tg:
        for index in range(args.jobs):
            tg.start_soon(launch, index)
    return [ids[i] for i in range(args.jobs)], None if plan_job is None else ids[plan_job]


async def _retry_round(
    ctx: Context,
    client: BkJobClient,
    poller: Poller,
    tally: Tally,
    mode: Mode,
    say: Callable[[str], None],
) -> None:
    """Retry the failed hosts of one failed job and watch the new round."""
    failed_jobs = tally.jobs_in("failed")
    record = next(
        (
            r
            for r in failed_jobs
            if _failed_hosts(tally, r) and r.job_instance_id in tally.snapshots
        ),
        None,
    )
    if record is None:
        say("no job has failed hosts: nothing to retry")
        return
    job_id = record.job_instance_id
    step_id, failed = _failed_hosts(tally, record)[0]
    say(
        f"\noperations: retrying the {failed} failed host{'s' if failed != 1 else ''} of job "
        f"{job_id} step {step_id} (operate_step_instance, {StepOperation.RETRY_FAILED.name}) "
        "and watching the new round; the poller reports only what changes"
    )
    await client.operate_step_instance(SCOPE, job_id, step_id, StepOperation.RETRY_FAILED)
    # bk-job applies an operation a moment after answering: watch once it shows.
    with anyio.move_on_after(10.0):
        await wait_for_effect(client, SCOPE, tally.snapshots[job_id])
    # The round's hosts are the retried ones: hosts copied unchanged into it say nothing.
    retry = Tally([job_id], expected_hosts=failed)
    before = poller.statistics()
    started = time.monotonic()
    title = f"retry round of job {job_id} step {step_id}"

    def statistics() -> PollerStatistics | None:
        return statistics_since(before, poller.statistics())

    async with (
        showing(
            ctx,
            retry,
            mode=mode,
            title=title,
            server="the simulated bk-job",
            statistics=statistics,
            connected=True,
        ) as shown,
        poller.watch_jobs(SCOPE, [job_id]) as watch,
    ):
        await shown.follow(watch, echo=True)
    summary = retry.report(
        title=title,
        elapsed=time.monotonic() - started,
        statistics=statistics_since(before, poller.statistics()),
        interrupted=ctx.interrupted,
    )
    show_summary(ctx, summary, mode, failed=False)
    after = retry.job(job_id)
    assert after is not None
    say(_verdict(record, after, sum(n for _, n in _failed_hosts(retry, after))))


def _failed_hosts(tally: Tally, job: FoldedJob) -> list[tuple[int, int]]:
    """Return ``(step_instance_id, count)`` of the steps of ``job`` with failed hosts."""
    return [(s, n) for kind, s, n in tally.failed_steps(job.job_instance_id) if kind == "host"]


def _verdict(before: FoldedJob, after: FoldedJob, left: int) -> str:
    was = before.outcome or "?"
    now = after.outcome or code_name(after.status)
    tail = (
        "every host succeeded"
        if not left
        else f"{left} host{'s' if left != 1 else ''} still failed"
    )
    return f"job {after.job_instance_id}: {was} -> {now} after the retry; {tail}"


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
    from ..cluster._events import unique_events

    return unique_events(delivery.event for delivery in await read_history(cluster, WATCH))


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


def _check_chains(events: list[Event], sim: BkJobSimulator, ids: list[int]) -> list[str]:
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
    problems = _check_chains(await _events(cluster), sim, ids)
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
