"""Cluster commands: ``worker``, ``submit`` and ``watch --redis`` (a cluster watch's events).

Rule: these are the only CLI modules that import ``bkjob_async.cluster`` (and so redis-py),
and only when one of these commands runs; the Redis URL comes from ``--redis`` or
``$BKJOB_REDIS_URL`` and is shown with its password masked.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import anyio

from ..config import Scope
from ..errors import BkJobError
from ..models import (
    Host,
    HostResult,
    HostStatus,
    JobInstance,
    JobInstanceStatus,
    JobStatus,
    StepStatus,
)
from ..polling.events import (
    Event,
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
    WatchFailed,
)
from ._commands import policy_from
from ._connect import credentials_from_env, open_client, target_from
from ._follow import Mode, choose_mode, show_summary, showing
from ._format import counted
from ._runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError
from ._tally import Tally

if TYPE_CHECKING:
    import argparse

    from ._runtime import Context

__all__ = [
    "add_cluster_options",
    "decode_event",
    "observed_at",
    "run_cluster_watch",
    "run_submit",
    "run_worker",
]

#: Event ids a follower remembers to drop redeliveries.
_DEDUPE = 100_000


def add_cluster_options(parser: argparse.ArgumentParser, *, watch: bool) -> None:
    """Add ``--redis``, ``--cluster`` (and ``--watch NAME``) to ``parser``."""
    group = parser.add_argument_group("cluster (Redis)")
    group.add_argument(
        "--redis", metavar="URL", help="Redis URL of the cluster (default: $BKJOB_REDIS_URL)"
    )
    group.add_argument("--cluster", default="prod", metavar="NAME", help="cluster name (prod)")
    if watch:
        group.add_argument(
            "--watch", dest="cluster_watch", metavar="NAME", help="the cluster watch's name"
        )


def _cluster(args: argparse.Namespace, ctx: Context) -> Any:
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
    """Join the cluster and poll a fair share of its jobs until interrupted."""
    from ..cluster import ClusterError, Worker

    if not (args.scope or ctx.env.get("BKJOB_SCOPE")):
        args.scope = "biz:1"  # unused: a worker polls each job in the scope it was submitted in
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
    cluster = _cluster(args, ctx)
    async with cluster, open_client(target, credentials) as client:
        policy = policy_from(args, client.connection_limit)
        if args.rate_limit is not None:
            import attrs

            policy = attrs.evolve(policy, rate_limit=args.rate_limit)
        try:
            await cluster.check_epoch()
        except ClusterError as exc:
            raise CliError(f"cannot use cluster {args.cluster!r}: {exc}") from None
        worker = Worker(client, cluster, policy=policy, worker_id=args.worker_id)
        with ctx.interruptible():
            async with worker:
                ctx.err(
                    f"worker {worker.worker_id} joined cluster {args.cluster!r} at {cluster.url}"
                )
                while not ctx.interrupted:
                    await anyio.sleep(args.report_every)
                    s = worker.statistics()
                    ctx.err(
                        f"worker {worker.worker_id}: {counted(s.partitions, 'partition')}, "
                        f"{counted(s.jobs, 'job')}, "
                        f"{s.commits} changes written, {s.refused} refused"
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
    job_ids: list[int] = list(dict.fromkeys(args.job_ids))
    forever = args.follow or not job_ids
    mode = choose_mode(ctx, json=args.json, piped=Mode.JSON)
    consumer = f"{socket.gethostname()[:40]}-{os.getpid()}".replace(".", "-")
    tally = Tally(job_ids)
    title = f"bkjob-async watch --redis: watch {name!r} of cluster {args.cluster!r}"
    async with _cluster(args, ctx) as cluster:
        server = f"{cluster.url} (cluster {args.cluster!r}, watch {name!r})"
        stream = cluster.events(name, consumer=consumer, group=args.group)
        events = _ClusterEvents(stream, set(job_ids), None if forever else tally)
        started = time.monotonic()
        with ctx.interruptible():
            try:
                async with (
                    stream,
                    showing(
                        ctx, tally, mode=mode, title=title, server=server, statistics=_none
                    ) as shown,
                ):
                    shown.connected()
                    await shown.follow(events)  # type: ignore[arg-type]
            except ClusterError as exc:
                raise CliError(f"cannot follow watch {name!r}: {exc}") from None
    if not job_ids:
        return EXIT_INTERRUPTED if ctx.interrupted else EXIT_OK
    summary = tally.summary(
        title=title,
        elapsed=time.monotonic() - started,
        statistics=None,
        interrupted=ctx.interrupted,
    )
    show_summary(ctx, summary, mode)
    if ctx.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if tally.all_succeeded else EXIT_FAILED


def _none() -> None:
    return None


class _ClusterEvents:
    """The events of a cluster watch's stream as a watch's: each once, acknowledged once
    shown; only those of ``jobs`` (all when empty); ending once ``until`` is done."""

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
            item = await self.stream.__anext__()
            event = None
            if item.event_id not in self.seen:
                self.seen[item.event_id] = None
                if len(self.seen) > _DEDUPE:
                    self.seen.popitem(last=False)
                event = decode_event(item.payload, observed_at(item.stream_id))
            if event is None or (self.jobs and event.job_instance_id not in self.jobs):
                await self.stream.ack(item)
                continue
            self._shown = item
            return event


def observed_at(stream_id: str) -> _dt.datetime:
    """Return when a stream entry was written (its id's milliseconds), in UTC."""
    millis = int(stream_id.split("-", 1)[0])
    return _dt.datetime.fromtimestamp(millis / 1000, _dt.timezone.utc)


def decode_event(payload: Any, at: _dt.datetime) -> Event | None:
    """Return the event a worker published (``cluster.encode_event``), or ``None`` if unknown.

    What a worker does not publish is left empty: a host's result beyond its status, a
    finished job's steps.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("job"), int):
        return None
    kind, job, n = payload.get("type"), payload["job"], payload.get("n", 0)
    try:
        if kind == "host":
            where = str(payload["host"])
            host = Host(bk_host_id=int(where)) if where.isdigit() else Host(ip=where)
            current = HostStatus.of(payload["cur"])
            previous = None if payload["prev"] is None else HostStatus.of(payload["prev"])
            result = HostResult(host, current)
            step, ec = payload["step"], payload["ec"]
            return HostTransition(job, at, step, ec, host, previous, current, result, occurrence=n)
        if kind == "step":
            prev, cur = payload["prev"], StepStatus.of(payload["cur"])
            previous_step = None if prev is None else StepStatus.of(prev)
            step, ec = payload["step"], payload["ec"]
            return StepTransition(job, at, step, ec, previous_step, cur, occurrence=n)
        if kind == "job":
            prev = payload["prev"]
            previous_job = None if prev is None else JobStatus.of(prev)
            return JobTransition(job, at, previous_job, JobStatus.of(payload["cur"]), occurrence=n)
        if kind == "finished":
            status = JobStatus.of(payload["status"])
            snapshot = JobInstanceStatus(True, JobInstance(job, status), ())
            return JobFinished(job, at, status, snapshot, occurrence=n)
        if kind == "failed":
            error_type = type(str(payload.get("error", "BkJobError")), (BkJobError,), {})
            error = error_type("the worker's watch of this job failed")
            return WatchFailed(job, at, error, occurrence=n)
    except (KeyError, TypeError, ValueError):
        return None
    return None
