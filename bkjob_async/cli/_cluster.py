"""Cluster commands: ``worker``, ``submit`` and ``watch --redis`` (a cluster watch's events).

Rule: these are the only CLI modules that import ``bkjob_async.cluster`` (and so redis-py),
and only when one of these commands runs; the Redis URL comes from ``--redis`` or
``$BKJOB_REDIS_URL`` and is shown with its password masked.
"""

from __future__ import annotations

import json
import os
import socket
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import anyio

from ..config import Scope
from ._commands import policy_from
from ._connect import credentials_from_env, open_client, target_from
from ._format import counted
from ._runtime import EXIT_OK, CliError

if TYPE_CHECKING:
    import argparse

    from ._runtime import Context

__all__ = ["add_cluster_options", "run_cluster_watch", "run_submit", "run_worker"]

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
    """Print a cluster watch's events as JSON lines (deduplicated by ``event_id``) until
    interrupted, acknowledging each once printed."""
    from ..cluster import ClusterError

    name = _watch_name(args)
    consumer = f"{socket.gethostname()[:40]}-{os.getpid()}".replace(".", "-")
    seen: OrderedDict[str, None] = OrderedDict()
    async with _cluster(args, ctx) as cluster:
        stream = cluster.events(name, consumer=consumer, group=args.group)
        with ctx.interruptible():
            try:
                async with stream:
                    async for event in stream:
                        if event.event_id not in seen:
                            seen[event.event_id] = None
                            if len(seen) > _DEDUPE:
                                seen.popitem(last=False)
                            line = {"event_id": event.event_id, "watch": name}
                            payload = event.payload
                            line.update(payload if isinstance(payload, dict) else {"p": payload})
                            ctx.out(json.dumps(line, separators=(",", ":")))
                        await stream.ack(event)
            except ClusterError as exc:
                raise CliError(f"cannot follow watch {name!r}: {exc}") from None
    return EXIT_OK
