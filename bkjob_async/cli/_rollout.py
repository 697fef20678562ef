"""Rule: every target line is checked before the first request; a key fails alone (exit 1).

A whole-run error (credentials, URL, a bad target line) ends the command with exit status 2.

``bkjob-async rollout``: launch many jobs under ``--max-running`` and bk-job's running-job
quota, each key once (``Poller.rollout``), and show them as they run.

The targets are one JSON object a line, ``{"key": ..., "api": ..., "arguments": {...}}``
(a key and ``Launch.to_json()``'s fields), or, with a script (``--content``/``--file``), hosts
one or more a line (ids, ``CLOUD:IP`` or ``IP``) split into batches of ``--batch-size``, each
batch a key (``batch-1``, ``batch-2``, ...). ``--store FILE`` keeps the rollout in SQLite: run
again with the same file and ``--key``, it goes on where it was and no key is launched twice.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shlex
import time
from typing import TYPE_CHECKING, Any

import attrs

from .. import errors
from ..models import ScriptLanguage
from ..models.requests import Account, Targets
from ..polling import Launch, Poller, SqliteStore, events
from ..polling.rollouts import Launched, LaunchFailed, LaunchTimedOut
from ._catalog import parse_host
from ._commands import first_read
from ._connect import connection, explain, open_client, policy_from
from ._follow import Mode, choose_mode, showing
from ._format import (
    EVENT_NAMES,
    Tally,
    code_name,
    counted,
    dumps,
    duration,
    error_to_dict,
    event_to_dict,
)
from ._runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError, Context

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..polling import PollerStatistics, PollPolicy
    from ._follow import Shown

__all__ = ["read_targets", "run_rollout"]


def _lines(args: argparse.Namespace, ctx: Context) -> tuple[str, list[str]]:
    """Return where the targets come from and their lines."""
    if args.targets == "-":
        if ctx.stdin is None:
            raise CliError("'-' reads the targets from stdin, and there is none")
        return "stdin", ctx.stdin.read().splitlines()
    try:
        return args.targets, pathlib.Path(args.targets).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CliError(f"cannot read {args.targets}: {exc.strerror}") from None


def read_targets(args: argparse.Namespace, ctx: Context) -> list[tuple[str, Launch]]:
    """Return the ``(key, launch)`` pairs the targets give, each checked; ``CliError`` names
    the first bad line."""
    where, lines = _lines(args, ctx)
    numbered = [
        (n, line.strip())
        for n, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    script = _script(args)
    found = _batches(args, where, numbered, script) if script else _json_lines(where, numbered)
    if not found:
        raise CliError(f"no target in {where}")
    return found


def _json_lines(where: str, numbered: list[tuple[int, str]]) -> list[tuple[str, Launch]]:
    found: dict[str, Launch] = {}
    for number, line in numbered:
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("a line is a JSON object")
            key = data.pop("key", None)
            if not isinstance(key, str) or not key or not key.isprintable():
                raise ValueError("its 'key' is a non-empty printable string")
            if key in found:
                raise ValueError(f"the key {key!r} comes twice")
            found[key] = Launch.from_json(data)
        except (ValueError, TypeError, errors.BkJobError) as exc:
            hint = " (or give a script: --content, --file)" if line[:1] != "{" else ""
            raise CliError(f"{where} line {number}: {exc}{hint}") from None
    return list(found.items())


def _script(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.content is not None and args.file is not None:
        raise CliError("give the script as --content TEXT or --file PATH, not both")
    if args.content is not None:
        return {"script_content": args.content}
    if args.file is not None:
        try:
            return {"script_content": pathlib.Path(args.file).read_text(encoding="utf-8")}
        except OSError as exc:
            raise CliError(f"cannot read --file {args.file}: {exc.strerror}") from None
    return None


def _batches(
    args: argparse.Namespace, where: str, numbered: list[tuple[int, str]], script: dict[str, Any]
) -> list[tuple[str, Launch]]:
    hosts: list[int | tuple[int, str]] = []
    for number, line in numbered:
        for word in line.replace(",", " ").split():
            try:
                hosts.append(parse_host(word))
            except CliError as exc:
                raise CliError(f"{where} line {number}: {exc.message}") from None
    found = []
    size = args.batch_size
    for start in range(0, len(hosts), size):
        batch = hosts[start : start + size]
        targets = Targets(
            host_ids=[h for h in batch if isinstance(h, int)],
            ips=[h for h in batch if not isinstance(h, int)],
        )
        try:
            launch = Launch.script(
                targets=targets,
                account=Account(alias=args.account),
                **script,
                script_language=ScriptLanguage[args.script_language.upper()],
                script_param=args.params,
                script_timeout=args.script_timeout,
                task_name=args.name,
            )
        except (TypeError, ValueError) as exc:
            raise CliError(str(exc)) from None
        found.append((f"batch-{start // size + 1}", launch))
    return found


@attrs.define
class Keys:
    """What became of the rollout's keys in this run."""

    name: str
    total: int
    held_before: int = 0
    launched: int = 0
    succeeded: int = 0
    failed: list[str] = attrs.Factory(list)
    timed_out: list[str] = attrs.Factory(list)
    #: Each launched job's key.
    by_job: dict[int, str] = attrs.Factory(dict)

    def line(self) -> str:
        """Return how far the keys are, in one line."""
        ended = self.succeeded + len(self.failed) + len(self.timed_out)
        return (
            f"rollout {self.name}: {ended}/{self.total - self.held_before} keys ended, "
            f"{self.launched} launched, {self.succeeded} succeeded, {len(self.failed)} failed, "
            f"{len(self.timed_out)} timed out"
        )


def _policy(args: argparse.Namespace, limit: int) -> PollPolicy:
    """Return the poll policy (``--deadline`` is the rollout's, not the polls')."""
    return policy_from(argparse.Namespace(**{**vars(args), "deadline": None}), limit)


async def run_rollout(ctx: Context, args: argparse.Namespace) -> int:
    """Launch every target under the caps, each key once; exit 1 if any key failed."""
    target, credentials = connection(args, ctx.env)
    _policy(args, args.max_in_flight)  # a bad policy is refused before anything is sent
    items = read_targets(args, ctx)
    mode = choose_mode(ctx, json=args.json, piped=Mode.PLAIN)
    store = None
    if args.store is not None:
        store = SqliteStore(args.store)
        try:
            await store.open()
        except errors.StoreError as exc:
            raise CliError(f"cannot use the store: {exc}") from None
    keys = Keys(args.key, len(items))
    started = time.monotonic()
    stats: list[Any] = []
    try:
        await _roll(ctx, args, target, credentials, store, items, keys, mode, stats)
    finally:
        if store is not None:
            import anyio

            with anyio.CancelScope(shield=True):  # Ctrl-C: what is queued is still written
                await store.aclose()
    _summary(ctx, args, keys, mode, time.monotonic() - started, stats)
    if ctx.interrupted:
        if args.store is not None:
            ctx.err(f"resume it with: {_again(ctx, args)}")
        else:
            ctx.err("not resumable: run it with --store FILE to make a rollout you can resume")
        return EXIT_INTERRUPTED
    return EXIT_FAILED if keys.failed or keys.timed_out else EXIT_OK


def _again(ctx: Context, args: argparse.Namespace) -> str:
    """Return the command that resumes this rollout: the same arguments (no flag holds a secret)."""
    again = shlex.join(["bkjob-async", *ctx.argv])
    if args.targets == "-":
        again += "  (the same targets on stdin)"
    return again


async def _roll(
    ctx: Context,
    args: argparse.Namespace,
    target: Any,
    credentials: Any,
    store: SqliteStore | None,
    items: list[tuple[str, Launch]],
    keys: Keys,
    mode: Mode,
    stats: list[Any],
) -> None:
    import contextlib

    tally = Tally([])
    pollers: list[Poller] = []

    def statistics() -> PollerStatistics | None:
        return pollers[0].statistics() if pollers else None

    title = f"bkjob-async rollout {args.key}"
    with ctx.interruptible():
        async with (
            showing(
                ctx, tally, mode=mode, title=title, server=target.server, statistics=statistics
            ) as shown,
            contextlib.AsyncExitStack() as stack,
        ):
            client = await stack.enter_async_context(open_client(target, credentials))
            # (A whole-run error, a wrong URL or secret, ends it here with exit status 2: the
            # rollout itself would wait for bk-job and send its launches again.)
            await first_read(client, target, 1, hosts=False)
            shown.connected()
            policy = _policy(args, client.connection_limit)
            poller = await stack.enter_async_context(Poller(client, policy=policy, store=store))
            pollers.append(poller)
            try:
                rollout = await stack.enter_async_context(
                    poller.rollout(
                        target.scope,
                        key=args.key,
                        max_running=args.max_running,
                        deadline=args.deadline,
                        on_deadline="leave" if args.leave_running else "terminate",
                    )
                )
            except (ValueError, TypeError) as exc:
                raise CliError(str(exc)) from None
            for key, launch in items:
                if not rollout.submit(key, launch):
                    keys.held_before += 1
            if keys.held_before:
                shown.note(f"{counted(keys.held_before, 'key')} held already in {args.store}")
            try:
                async for event in rollout:
                    _show(ctx, shown, tally, keys, event, target)
            finally:
                stats.append(rollout.statistics())
                stats.append(statistics())


def _show(ctx: Context, shown: Shown, tally: Tally, keys: Keys, event: Any, target: Any) -> None:
    """Fold one event in and show it (a line in plain mode, an object in JSON mode)."""
    line: str | None = None
    obj: dict[str, Any] | None = None
    if isinstance(event, Launched):
        keys.launched += 1
        keys.by_job[event.job_instance_id] = event.key
        line = f"launched {event.key}: job {event.job_instance_id}"
        obj = {"event": "launched", "key": event.key, "job_instance_id": event.job_instance_id}
    elif isinstance(event, LaunchFailed):
        keys.failed.append(event.key)
        error = event.error
        text = explain(error, target) if isinstance(error, errors.BkJobError) else str(error)
        line = f"failed {event.key}: {type(error).__name__}: {text}"
        obj = {"event": "launch_failed", "key": event.key, "error": error_to_dict(error)}
    elif isinstance(event, LaunchTimedOut):
        keys.timed_out.append(event.key)
        how = "terminated" if event.terminated else "left running"
        line = f"timed out {event.key}: job {event.job_instance_id} {how}"
        obj = {
            "event": "launch_timed_out",
            "key": event.key,
            "job_instance_id": event.job_instance_id,
            "terminated": event.terminated,
        }
    elif type(event) in EVENT_NAMES:
        tally.feed(event)
        key = keys.by_job.get(getattr(event, "job_instance_id", -1))
        if isinstance(event, events.JobFinished) and key is not None:
            status = event.status
            if status.is_success:
                keys.succeeded += 1
            elif key not in keys.timed_out:
                keys.failed.append(key)
            line = f"finished {key}: job {event.job_instance_id} {code_name(status)}"
        elif isinstance(event, (events.WatchFailed, events.WatchTimedOut)) and key is not None:
            if key not in keys.timed_out:
                keys.failed.append(key)
            line = f"failed {key}: job {event.job_instance_id} could not be watched"
        obj = {**event_to_dict(event), "key": key}
    if shown.view is not None:
        shown.view.title = keys.line()
    elif shown.mode is Mode.JSON:
        ctx.out(dumps(obj))
    elif line is not None:
        ctx.out(line)


def _summary(
    ctx: Context,
    args: argparse.Namespace,
    keys: Keys,
    mode: Mode,
    elapsed: float,
    stats: Iterable[Any],
) -> None:
    found = list(stats)
    rollout = found[0] if found else None
    line = f"{keys.line()} in {duration(elapsed)}"
    if rollout is not None:
        line += (
            f"; {counted(rollout.launch_requests, 'launch request')}, "
            f"{counted(rollout.quota_refusals, 'quota refusal')}, "
            f"peak running {rollout.peak_running}"
        )
    if keys.failed or keys.timed_out:
        line += f"\nfailed: {' '.join(keys.failed + keys.timed_out)}"
    if mode is Mode.JSON:
        ctx.err(line)
        ctx.out(
            dumps(
                {
                    "event": "summary",
                    "key": args.key,
                    "keys": keys.total,
                    "held_before": keys.held_before,
                    "launched": keys.launched,
                    "succeeded": keys.succeeded,
                    "failed": keys.failed,
                    "timed_out": keys.timed_out,
                    "launch_requests": None if rollout is None else rollout.launch_requests,
                    "quota_refusals": None if rollout is None else rollout.quota_refusals,
                    "elapsed": round(elapsed, 3),
                }
            )
        )
    else:
        ctx.out(line)
