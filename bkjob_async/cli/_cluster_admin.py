"""``bkjob-async cluster status|groups|dead-letters``: look at a cluster in Redis, read only.

Rule: everything shown is read by ``bkjob_async.cluster.ClusterReader``, which joins no group and
acknowledges nothing; only ``groups --delete`` and ``dead-letters --replay|--drop`` write (through
``bkjob_async.cluster``'s ``delete_group``, ``replay_dead_letters``, ``drop_dead_letters``). Like ``_cluster``, this module imports ``bkjob_async.cluster`` (and so
redis-py) only when one of these commands runs. Human output on stdout (tables), ``--json``:
one JSON object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._cluster import _cluster
from ._format import counted, table
from ._jsonl import dumps, event_to_dict, to_json
from ._runtime import EXIT_OK, CliError

if TYPE_CHECKING:
    import argparse

    from ..cluster import ClusterStatus, DeadLetter, GroupStatus
    from ._runtime import Context

__all__ = ["run_cluster"]

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
