"""Rule: ``call`` and ``crons`` print JSON and never a password variable's value.

``call`` and ``crons``: any bk-job API by its name, and a scope's cron jobs.

Rule: output is JSON (``call``: the answer, one document; ``crons --json``: one object per
cron); a password variable's value is never printed (``******``). Bad input is one line and
exit status 2, before any request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from ..models import CronJob, CronStatus
from ._catalog import MASK, ask, listing
from ._connect import credentials_from_env, open_client, target_from
from ._jsonl import dumps, to_json
from ._runtime import EXIT_INTERRUPTED, EXIT_OK, CliError, Context

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from ..client import BkJobClient
    from ._connect import Target

__all__ = ["parse_pairs", "run_call", "run_crons", "shown"]

_SCOPE_KEYS = frozenset({"bk_scope_type", "bk_scope_id", "bk_biz_id"})


def parse_pairs(words: Sequence[str]) -> dict[str, Any]:
    """Read ``key=value`` words: a value that reads as JSON is that value (``5``, ``true``,
    ``[1,2]``, ``{"a":1}``, ``"007"``), any other is the text as given."""
    params: dict[str, Any] = {}
    for word in words:
        key, sep, text = word.partition("=")
        if not sep or not key:
            raise CliError(f"expected key=value, got {word!r}")
        if key in params:
            raise CliError(f"{key} is given twice")
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params


def shown(value: Any) -> Any:
    """Return ``value`` with every secret variable's value masked, as JSON data."""
    return to_json(_masked(value))


def _masked(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    if not attrs.has(type(value)):
        return value
    changes = {}
    for field in attrs.fields(type(value)):
        inner = getattr(value, field.name)
        if isinstance(inner, (list, tuple)) or attrs.has(type(inner)):
            changes[field.name] = _masked(inner)
    if getattr(value, "is_secret", False) is True and getattr(value, "value", None):
        changes["value"] = MASK
    return attrs.evolve(value, **changes) if changes else value


async def run_call(ctx: Context, args: argparse.Namespace) -> int:
    """Send one bk-job API by its name with ``key=value`` parameters; print the answer as JSON."""
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
    params = parse_pairs(args.params)
    if not args.no_scope and not _SCOPE_KEYS & params.keys():
        params = {**target.scope.params(target.flavor), **params}
    with ctx.interruptible():
        async with open_client(target, credentials) as client:

            async def send() -> Any:
                try:
                    return await client.call(
                        args.api, params, method=args.method, idempotent=args.idempotent or None
                    )
                except (TypeError, ValueError) as exc:  # refused before anything was sent
                    raise CliError(str(exc)) from None

            answer = await ask(ctx, target, args.api, True, send)
    if ctx.interrupted:
        return EXIT_INTERRUPTED
    ctx.out(json.dumps(shown(answer), ensure_ascii=False, indent=None if args.compact else 2))
    return EXIT_OK


# --- crons ----------------------------------------------------------------------------------


async def run_crons(ctx: Context, args: argparse.Namespace) -> int:
    """List a scope's cron jobs, or pause or resume one."""
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
    if args.action in ("pause", "resume") and args.cron_id is None:
        raise CliError(f"crons {args.action} needs a CRON_ID")
    if args.action == "list" and args.cron_id is not None:
        raise CliError("crons list takes no CRON_ID (filter with --name, --status)")
    with ctx.interruptible():
        async with open_client(target, credentials) as client:
            if args.action != "list":
                status = CronStatus.RUNNING if args.action == "resume" else CronStatus.PAUSED
                await ask(
                    ctx,
                    target,
                    "update_cron_status",
                    args.json,
                    lambda: client.update_cron_status(target.scope, args.cron_id, status),
                )
                word = "running" if status.is_running else "paused"
                ctx.out(dumps({"id": args.cron_id, "status": word}) if args.json else
                        f"cron {args.cron_id} {word}")  # fmt: skip
                return EXIT_OK
            crons = await ask(
                ctx,
                target,
                "get_cron_list",
                args.json,
                lambda: _first_crons(client, target, args),
            )
    if ctx.interrupted:
        return EXIT_INTERRUPTED
    header = ("cron", "name", "status", "schedule", "plan")
    listing(ctx, args, "cron job", [shown(c) for c in crons], header, _rows(crons))
    return EXIT_OK


def _rows(crons: list[CronJob]) -> list[tuple[object, ...]]:
    return [
        (
            c.id,
            c.name or "-",
            "running" if c.is_running else "paused",
            c.expression or "-",
            c.job_plan_id if c.job_plan_id is not None else "-",
        )
        for c in crons
    ]


async def _first_crons(
    client: BkJobClient, target: Target, args: argparse.Namespace
) -> list[CronJob]:
    found: list[CronJob] = []
    limit = args.limit
    size = min(limit, 1000) if limit else 1000
    status = None if args.status is None else CronStatus[args.status.upper()]
    async for cron in client.iter_crons(
        target.scope, name=args.name, status=status, page_size=size
    ):
        found.append(cron)
        if limit and len(found) >= limit:
            break
    return found
