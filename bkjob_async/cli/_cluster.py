"""Rule: the only CLI module that imports ``bkjob_async.cluster``, and only when it runs.

Cluster commands: ``worker``, ``submit``, ``watch --redis``, ``cluster ACTION`` (Redis).

Rule: this is the only CLI module that imports ``bkjob_async.cluster`` (and so redis-py), and
only when one of these commands runs; the Redis URL comes from ``--redis`` or
``$BKJOB_REDIS_URL`` and is shown with its password masked. ``cluster`` reads through
``ClusterReader`` (joins no group, acknowledges nothing); only ``groups --delete`` and
``dead-letters --replay|--drop`` write. ``worker`` logs on stderr (UTC time, level, logger,
message; ``--log-format json``: one object a line), through a handler on the ``bkjob_async``
loggers only while it runs; the package's records hold no secret, so nothing is redacted.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import socket
import time
from collections import OrderedDict, defaultdict
from typing import TYPE_CHECKING, Any

import anyio

from ..config import Scope
from ._connect import (
    connection,
    open_client,
    policy_from,
    serve_metrics,
)
from ._follow import Mode, choose_mode, show_summary, showing
from ._format import Tally, Workers, counted, dumps, event_to_dict, table, to_json
from ._runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError, printable

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Iterator

    from ..cluster import ClusterStatus, DeadLetter, GroupStatus
    from ..config import Scope as _Scope
    from ..polling.events import Event
    from ._runtime import Context

__all__ = ["LEVELS", "Workers", "run_cluster", "run_cluster_watch", "run_submit", "run_worker"]

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
    target, credentials = connection(args, ctx.env)
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


#: A group whose lag passed this share of ``stream_maxlen`` is flagged (``near maxlen``).
LAG_WARNING = 0.8


async def run_cluster(ctx: Context, args: argparse.Namespace) -> int:
    """Run ``cluster ACTION``."""
    from ..cluster import ClusterError, ClusterReader

    action = {"status": _status, "groups": _groups, "dead-letters": _dead_letters}[args.action]
    async with _cluster(args, ctx) as cluster:
        try:
            await action(ctx, args, ClusterReader(cluster))
        except ClusterError as exc:
            raise CliError(f"cannot read cluster {args.cluster!r}: {exc}") from None
    return EXIT_OK


async def _status(ctx: Context, args: argparse.Namespace, reader: Any) -> None:
    status: ClusterStatus = await reader.status()
    if args.json:
        data = to_json(status)
        data["unheld"] = list(status.unheld)
        data["url"] = reader.cluster.url
        ctx.out(dumps(data))
        return
    where = f"cluster {status.name!r} at {reader.cluster.url}"
    if not status.exists:
        ctx.out(f"{where}: no data (never used, or Redis lost it)")
        return
    alive = sum(m.alive for m in status.members)
    ctx.out(
        f"{where}: {counted(status.partitions, 'partition')}, "
        f"{counted(alive, 'live worker')}, {len(status.unheld):,} partitions unheld, "
        f"{counted(status.unheld_jobs, 'job')} nobody polls"
    )
    if status.members:
        ctx.out()
        rows: list[tuple[object, ...]] = [
            (
                m.worker_id,
                "live" if m.alive else "SILENT",
                "-" if m.heartbeat_ms is None else f"{m.heartbeat_ms / 1000:.1f} s",
                len(m.partitions),
                "-" if m.max_partitions is None else m.max_partitions,
            )
            for m in status.members
        ]
        for line in table(("WORKER", "STATE", "HEARTBEAT", "PARTITIONS", "CAP"), rows):
            ctx.out(line)
    if status.watches:
        ctx.out()
        rows = [
            (w.name, w.jobs, f"{w.stream_length:,}", f"{w.stream_maxlen:,}", w.dead_letters)
            for w in status.watches
        ]
        for line in table(("WATCH", "JOBS", "EVENTS", "MAXLEN", "DEAD"), rows):
            ctx.out(line)
        groups = [g for w in status.watches for g in w.groups]
        if groups:
            ctx.out()
            _group_table(ctx, groups, {w.name: w.stream_maxlen for w in status.watches})


def _group_table(ctx: Context, groups: list[GroupStatus], maxlen: dict[str, int]) -> None:
    rows = []
    for g in groups:
        note = "near maxlen: oldest events may be trimmed unread" if _near(g, maxlen) else ""
        lag = f"{g.lag:,}" + ("*" if g.lag_counted else "")
        rows.append((g.watch, g.name, g.consumers, g.pending, lag, note))
    for line in table(("WATCH", "GROUP", "CONSUMERS", "PENDING", "LAG", ""), rows):
        ctx.out(line)
    if any(g.lag_counted for g in groups):
        ctx.out("* counted here: Redis did not know the lag (after a failover, say)")


def _near(group: GroupStatus, maxlen: dict[str, int]) -> bool:
    limit = maxlen.get(group.watch)
    return limit is not None and group.lag >= LAG_WARNING * limit


async def _groups(ctx: Context, args: argparse.Namespace, reader: Any) -> None:
    if args.delete:
        from ..cluster import delete_group

        if not args.cluster_watch:
            raise CliError("name the watch of the group to delete: --watch NAME")
        deleted = await delete_group(reader.cluster, args.cluster_watch, args.delete)
        said = "deleted" if deleted else "not found, nothing deleted"
        ctx.err(f"group {args.delete!r} of watch {args.cluster_watch!r}: {said}")
        return
    if args.cluster_watch:
        watches = [args.cluster_watch]
    else:
        watches = [w.name for w in (await reader.status()).watches]
    groups: list[GroupStatus] = [g for name in watches for g in await reader.groups(name)]
    if args.json:
        ctx.out(dumps({"groups": to_json(groups)}))
        return
    if not groups:
        ctx.out("no consumer groups")
        return
    _group_table(ctx, groups, dict.fromkeys(watches, reader.cluster.stream_maxlen))


async def _dead_letters(ctx: Context, args: argparse.Namespace, reader: Any) -> None:
    if not args.cluster_watch:
        raise CliError("name the cluster watch: --watch NAME")
    found: tuple[DeadLetter, ...] = await reader.dead_letters(
        args.cluster_watch, group=args.group, count=args.limit
    )
    if args.replay or args.drop:
        await _act_on(ctx, args, reader, found)
        return
    if args.json:
        ctx.out(dumps({"dead_letters": [_dead_json(d) for d in found]}))
        return
    if not found:
        ctx.out(f"no dead letters in watch {args.cluster_watch!r}")
        return
    rows = [(d.dead_id, d.group, d.deliveries, d.stream_id, _what(d)) for d in found]
    for line in table(("DEAD ID", "GROUP", "DELIVERIES", "STREAM ID", "EVENT"), rows):
        ctx.out(line)


async def _act_on(
    ctx: Context, args: argparse.Namespace, reader: Any, found: tuple[DeadLetter, ...]
) -> None:
    """Replay or drop the dead letters named by ``--id`` (all of those listed without it)."""
    from ..cluster import drop_dead_letters, replay_dead_letters

    listed = {d.dead_id for d in found}
    ids = list(args.ids or listed)
    unknown = [i for i in ids if i not in listed]
    if unknown:
        raise CliError(
            f"no such dead letter in watch {args.cluster_watch!r}"
            f"{'' if args.group is None else f' of group {args.group!r}'}: {', '.join(unknown)}"
        )
    watch = args.cluster_watch
    if args.replay:
        done = await replay_dead_letters(reader.cluster, watch, ids)
        ctx.err(
            f"{counted(done, 'dead letter')} of watch {watch!r} replayed: appended to its stream "
            "again (every group is given them again; consumers dedupe by event_id)"
        )
    else:
        done = await drop_dead_letters(reader.cluster, watch, ids)
        ctx.err(f"{counted(done, 'dead letter')} of watch {watch!r} dropped")


def _what(dead: DeadLetter) -> str:
    if dead.event is None:
        return f"unreadable: {dead.error}"
    from ._format import short_event

    return short_event(dead.event)


def _dead_json(dead: DeadLetter) -> dict[str, Any]:
    data: dict[str, Any] = to_json(dead)
    data["event"] = None if dead.event is None else event_to_dict(dead.event)
    return data


#: ``--log-level`` choices.
LEVELS = ("debug", "info", "warning", "error")


def _time(record: logging.LogRecord) -> str:
    when = _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return printable(text, lines=True)


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class _ToContext(logging.Handler):
    """Write each record to ``ctx.stderr`` as it is at the time (tests swap it)."""

    def __init__(self, ctx: Context, level: int) -> None:
        super().__init__(level)
        self.ctx = ctx

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=self.ctx.stderr, flush=True)
        except Exception:  # pragma: no cover - a closed stderr
            self.handleError(record)


@contextlib.contextmanager
def logging_to_stderr(ctx: Context, level: str = "info", form: str = "text") -> Iterator[None]:
    """Send the package's log records of ``level`` and above to stderr within the block."""
    logger = logging.getLogger("bkjob_async")
    number = getattr(logging, level.upper())
    handler = _ToContext(ctx, number)
    handler.setFormatter(_Json() if form == "json" else _Text())
    if not any(isinstance(h, _ToContext) for h in logger.handlers):
        _saved[:] = [logger.level]  # as it was before the first command (tests run several)
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > number:
        logger.setLevel(number)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        if not any(isinstance(h, _ToContext) for h in logger.handlers):
            logger.setLevel(_saved[0])


#: The level of the ``bkjob_async`` logger before the commands running set theirs.
_saved: list[int] = [logging.NOTSET]
