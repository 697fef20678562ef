"""Rule: the only CLI commands that import ``bkjob_async.cluster``, and only when they run.

Cluster commands: ``worker``, ``submit`` and ``watch --redis`` (a cluster watch's events).

Rule: these are the only CLI modules that import ``bkjob_async.cluster`` (and so redis-py),
and only when one of these commands runs; the Redis URL comes from ``--redis`` or
``$BKJOB_REDIS_URL`` and is shown with its password masked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections import OrderedDict, defaultdict
from typing import TYPE_CHECKING, Any

import anyio

from ..config import Scope
from ._connect import credentials_from_env, open_client, target_from
from ._follow import Mode, choose_mode, show_summary, showing
from ._format import counted
from ._logs import logging_to_stderr
from ._metrics import serve_metrics
from ._policy import policy_from
from ._runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError
from ._tally import Tally, Workers

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable

    from ..config import Scope as _Scope
    from ..polling.events import Event
    from ._runtime import Context

__all__ = [
    "Workers",
    "read_workers",
    "run_cluster_watch",
    "run_submit",
    "run_worker",
]

log = logging.getLogger("bkjob_async.cli.worker")

#: Event ids a follower remembers to drop redeliveries.
_DEDUPE = 100_000
#: Seconds between two reads of who polls which job (the live view's "Workers" rows).
_WORKERS_EVERY = 1.0
#: The watch's job set is read again every this many rounds (jobs submitted or cancelled).
_JOBS_EVERY = 5
#: Seconds between two reads of the cluster's status for ``watch --redis --metrics-port``.
_METRICS_EVERY = 5.0


def _cluster(args: argparse.Namespace, ctx: Context) -> Any:
    args.cluster = args.cluster or "prod"
    try:
        from ..cluster import Cluster
    except ImportError as exc:
        raise CliError(str(exc)) from None
    url = args.redis or ctx.env.get("BKJOB_REDIS_URL")
    if not url:
        raise CliError("no Redis URL: pass --redis redis://HOST:PORT or set BKJOB_REDIS_URL")
    try:
        return Cluster(url, args.cluster)
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None


def _watch_name(args: argparse.Namespace) -> str:
    name: str | None = args.cluster_watch
    if not name:
        raise CliError("name the cluster watch: --watch NAME")
    return name


async def run_worker(ctx: Context, args: argparse.Namespace) -> int:
    """Join the cluster and poll a fair share of its jobs until interrupted (Ctrl-C, SIGTERM),
    then drain: stop taking partitions, write what is in flight, release the leases."""
    with logging_to_stderr(ctx, args.log_level, args.log_format):
        return await _run_worker(ctx, args)


async def _run_worker(ctx: Context, args: argparse.Namespace) -> int:
    from ..cluster import ClusterError, Worker

    if not (args.scope or ctx.env.get("BKJOB_SCOPE")):
        args.scope = "biz:1"  # unused: a worker polls each job in the scope it was submitted in
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
    policy_from(args, args.max_in_flight)  # a bad policy is refused before anything is sent
    if args.worker_id is not None:
        from ..cluster._keys import check_name

        try:
            check_name(args.worker_id, "--worker-id")
        except ValueError as exc:
            raise CliError(str(exc)) from None
    cluster = _cluster(args, ctx)
    async with cluster, contextlib.AsyncExitStack() as stack:
        registry = serve_metrics(ctx, stack, args.metrics_port)
        metrics = None
        instruments: tuple[Any, ...] = ()
        if registry is not None:
            from ..cluster import ClusterReader
            from ..metrics import ClusterMetrics, PollerMetrics

            poller_metrics = PollerMetrics(registry=registry)
            instruments = (poller_metrics,)
            metrics = ClusterMetrics(registry=registry)
        client = await stack.enter_async_context(
            open_client(target, credentials, instruments=instruments)
        )
        policy = policy_from(args, client.connection_limit)
        if args.rate_limit is not None:
            import attrs

            policy = attrs.evolve(policy, rate_limit=args.rate_limit)
        try:
            await cluster.check_epoch()
        except ClusterError as exc:
            raise CliError(f"cannot use cluster {args.cluster!r}: {exc}") from None
        worker = Worker(
            client,
            cluster,
            policy=policy,
            worker_id=args.worker_id,
            lease_ttl=args.lease_ttl,
        )
        if metrics is not None:
            poller_metrics.track(worker.poller)
            metrics.track_worker(worker)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            tg.start_soon(metrics.run, ClusterReader(cluster), min(args.report_every, 10.0))
        async with worker:  # (its exit, the drain, runs after the interrupt, not cancelled)
            log.info(
                "worker %s joined cluster %r at %s", worker.worker_id, args.cluster, cluster.url
            )
            with ctx.interruptible():
                while not ctx.interrupted:
                    await anyio.sleep(args.report_every)
                    s = worker.statistics()
                    log.info(
                        "worker %s: %s, %s, %d changes written, %d refused",
                        worker.worker_id,
                        counted(s.partitions, "partition"),
                        counted(s.jobs, "job"),
                        s.commits,
                        s.refused,
                    )
            held = worker.statistics().partitions
            log.info(
                "worker %s: draining: taking no more partitions, writing what is in flight, "
                "then releasing %s",
                worker.worker_id,
                counted(held, "partition"),
            )
        released = worker.keeper.released
        if released is None:
            log.warning(
                "worker %s left cluster %r; its leases could not be released: they expire "
                "within %.1f s",
                worker.worker_id,
                args.cluster,
                worker.keeper.ttl,
            )
        else:
            log.info(
                "worker %s left cluster %r: released %s; the other workers take them at "
                "their next lease round (within %.1f s)",
                worker.worker_id,
                args.cluster,
                counted(released, "partition"),
                worker.keeper.ttl / 3,
            )
    return EXIT_OK


async def run_submit(ctx: Context, args: argparse.Namespace) -> int:
    """Add jobs to a cluster watch (``--cancel``: remove them); print how many changed."""
    from ..cluster import ClusterError

    name = _watch_name(args)
    text = args.scope or ctx.env.get("BKJOB_SCOPE")
    if not text:
        raise CliError("no scope: pass --scope biz:<id> (or biz_set:<id>), or set BKJOB_SCOPE")
    try:
        scope = Scope.parse(text)
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None
    ids = list(dict.fromkeys(args.job_ids))
    async with _cluster(args, ctx) as cluster:
        try:
            if args.cancel:
                changed = await cluster.cancel(scope, ids, watch=name)
            else:
                changed = await cluster.submit(scope, ids, watch=name)
        except ClusterError as exc:
            raise CliError(f"cannot change watch {name!r}: {exc}") from None
    verb = "removed from" if args.cancel else "added to"
    ctx.err(
        f"{changed:,} of {counted(len(ids), 'job')} {verb} watch {name!r} of cluster "
        f"{args.cluster!r}"
    )
    return EXIT_OK


async def run_cluster_watch(ctx: Context, args: argparse.Namespace) -> int:
    """Follow a cluster watch's events as ``watch`` shows a watch: the live view on a terminal,
    else JSON lines of the same shape; deduplicated by ``event_id``, each acknowledged once
    shown. With JOB_IDs (and no ``--follow``) it ends once each of those jobs has ended, with
    ``watch``'s exit status; else it runs until interrupted."""
    from ..cluster import ClusterError

    name = _watch_name(args)
    if args.state is not None:
        raise CliError("--state keeps a watch of bk-job; a cluster watch is kept in Redis")
    ignored = [
        flag
        for flag, dest in (
            ("--name", "name"),
            ("--events", "events"),
            ("--status", "status"),
            ("--deadline", "deadline"),
            ("--max-interval", "max_interval"),
        )
        if getattr(args, dest, None) is not None
    ]
    if ignored:  # never silently ignored: the workers poll, this command only reads
        raise CliError(
            f"{', '.join(ignored)} {'does' if len(ignored) == 1 else 'do'} not apply to a "
            "cluster watch (the workers poll; watch --redis shows every event of the watch)"
        )
    args.cluster, args.group = args.cluster or "prod", args.group or "cli"
    job_ids: list[int] = list(dict.fromkeys(args.job_ids))
    forever = args.follow or not job_ids
    mode = choose_mode(ctx, json=args.json, piped=Mode.JSON)
    consumer = f"{socket.gethostname()[:40]}-{os.getpid()}".replace(".", "-")
    tally = Tally(job_ids)
    title = f"bkjob-async watch --redis: watch {name!r} of cluster {args.cluster!r}"
    async with _cluster(args, ctx) as cluster:
        if job_ids:
            await _missing(ctx, cluster, name, job_ids)
        server = f"{cluster.url} (cluster {args.cluster!r}, watch {name!r})"
        stream = cluster.events(name, consumer=consumer, group=args.group)
        events = _ClusterEvents(stream, set(job_ids), None if forever else tally)
        holders = _Holders(cluster, name, set(job_ids), tally)
        started = time.monotonic()
        with ctx.interruptible():
            try:
                async with (
                    contextlib.AsyncExitStack() as stack,
                    stream,
                    showing(
                        ctx,
                        tally,
                        mode=mode,
                        title=title,
                        server=server,
                        statistics=_none,
                        workers=holders.latest if mode is Mode.LIVE else None,
                        server_label="Redis",
                    ) as shown,
                    anyio.create_task_group() as tg,
                ):
                    if mode is Mode.LIVE:
                        tg.start_soon(holders.run)
                    registry = serve_metrics(ctx, stack, args.metrics_port)
                    if registry is not None:
                        from ..cluster import ClusterReader
                        from ..metrics import ClusterMetrics

                        metrics = ClusterMetrics(registry=registry)
                        metrics.track_stream(stream)
                        tg.start_soon(metrics.run, ClusterReader(cluster), _METRICS_EVERY)
                    shown.connected()
                    await shown.follow(events)  # type: ignore[arg-type]
                    tg.cancel_scope.cancel()
            except ClusterError as exc:
                raise CliError(f"cannot follow watch {name!r}: {exc}") from None
    if len(tally):  # without JOB_IDs: the jobs its events told of, as ``watch`` sums up
        summary = tally.report(
            title=title,
            elapsed=time.monotonic() - started,
            statistics=None,
            interrupted=ctx.interrupted,
        )
        show_summary(ctx, summary, mode)
    if ctx.interrupted:
        return EXIT_INTERRUPTED
    if not job_ids:
        return EXIT_OK
    return EXIT_OK if tally.all_succeeded else EXIT_FAILED


def _none() -> None:
    return None


async def _missing(ctx: Context, cluster: Any, name: str, job_ids: list[int]) -> None:
    """Say which JOB_IDs the cluster watch does not hold (yet): a typo, or a job not
    submitted, would keep the command waiting for it; the command to add them."""
    from ..cluster import ClusterError

    try:
        held = {job for _, job in await cluster.jobs(name)}
    except ClusterError as exc:
        raise CliError(f"cannot follow watch {name!r}: {exc}") from None
    missing = [job for job in job_ids if job not in held]
    if missing:
        ids = " ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        them = "it" if len(missing) == 1 else "them"
        ctx.err(
            f"not in watch {name!r} of cluster {cluster.name!r}: {counted(len(missing), 'job')} "
            f"({ids}); waiting for {them}. To add {them}:\n  bkjob-async submit {ids} "
            f"--watch {name} --cluster {cluster.name} --scope SCOPE"
        )


class _Holders:
    """Reads who polls the watch's open jobs every ``_WORKERS_EVERY`` s, for the live view.

    Read only: the watch's job set, the workers' heartbeats and the partitions' leases. Only
    ``jobs`` (all of the watch's when empty) that have not ended in ``tally`` are counted.
    """

    def __init__(self, cluster: Any, watch: str, jobs: set[int], tally: Tally) -> None:
        self.cluster = cluster
        self.watch = watch
        self.jobs = jobs
        self.tally = tally
        self.workers: Workers | None = None
        self._shown: tuple[Any, Workers | None] = (None, None)

    def latest(self) -> Workers | None:
        """Return what the last read found (``None`` before the first), less the jobs that
        ended since (filtered again only when the read or the tally's job counts change)."""
        read = self.workers
        if read is None:
            return None
        key = (id(read), tuple(self.tally.counts().buckets.values()))
        if self._shown[0] != key:
            self._shown = (key, _open_only(read, self.tally))
        return self._shown[1]

    async def run(self) -> None:
        from ..cluster import ClusterError

        refs: list[tuple[_Scope, int]] = []
        rounds = 0
        while True:
            try:
                if rounds % _JOBS_EVERY == 0:
                    found = await self.cluster.jobs(self.watch)
                    refs = [r for r in found if not self.jobs or r[1] in self.jobs]
                refs = [r for r in refs if not _ended(self.tally, r[1])]
                self.workers = await read_workers(self.cluster, refs)
            except ClusterError:
                pass  # the event stream says so, and ends the command
            rounds += 1
            await anyio.sleep(_WORKERS_EVERY)


def _ended(tally: Tally, job_id: int) -> bool:
    job = tally.job(job_id)
    return job is not None and job.ended


def _open_only(workers: Workers, tally: Tally) -> Workers:
    def open_jobs(jobs: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(job for job in jobs if not _ended(tally, job))

    held = {worker: open_jobs(jobs) for worker, jobs in workers.held.items()}
    return Workers(held, workers.silent, open_jobs(workers.unheld))


async def read_workers(cluster: Any, jobs: Iterable[tuple[_Scope, int]]) -> Workers:
    """Return which worker polls each of ``jobs`` in ``cluster`` (a ``Cluster``), in one round
    trip: the workers' heartbeats and the leases of the jobs' partitions (``holders``)."""
    by_part: defaultdict[int, list[int]] = defaultdict(list)
    for scope, job in jobs:
        by_part[cluster.partition(scope, job)].append(job)
    holders = await cluster.holders(by_part)
    held: dict[str, list[int]] = {worker: [] for worker in sorted(holders.live)}
    unheld: list[int] = []
    for part, holder in holders.leases.items():
        if holder is None:
            unheld += by_part[part]
        else:
            held.setdefault(holder, []).extend(by_part[part])
    return Workers(
        {worker: tuple(sorted(ids)) for worker, ids in held.items()},
        frozenset(held) - holders.live,
        tuple(sorted(unheld)),
    )


class _ClusterEvents:
    """The events of a cluster watch's stream (typed, ``EventStream``) as a watch's: each
    once, acknowledged once shown; only those of ``jobs`` (all when empty); ending once
    ``until`` is done."""

    pending = 0

    def __init__(self, stream: Any, jobs: set[int], until: Tally | None) -> None:
        self.stream = stream
        self.jobs = jobs
        self.until = until
        self.seen: OrderedDict[str, None] = OrderedDict()
        self._shown: Any = None

    def __aiter__(self) -> _ClusterEvents:
        return self

    async def __anext__(self) -> Event:
        if self._shown is not None:  # the previous event was shown: acknowledge it
            shown, self._shown = self._shown, None
            await self.stream.ack(shown)
        while True:
            if self.until is not None and self.until.done:
                raise StopAsyncIteration
            event: Event = await self.stream.__anext__()
            fresh = event.event_id not in self.seen
            if fresh:
                self.seen[event.event_id] = None
                if len(self.seen) > _DEDUPE:
                    self.seen.popitem(last=False)
            if not fresh or (self.jobs and event.job_instance_id not in self.jobs):
                await self.stream.ack(event)
                continue
            self._shown = event
            return event
