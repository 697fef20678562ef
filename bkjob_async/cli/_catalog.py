"""Rule: ``plans``, ``vars``, ``push-config``, ``call`` and ``crons`` never print a password.

``plans``, ``vars``, ``push-config``, ``call`` and ``crons``: what a scope keeps, any API.

Rule: a password variable's value is never printed, as text or JSON (``******``); config file
contents are never printed. ``call`` prints the answer as one JSON document. Bad input is one
line and exit status 2, before any request.
"""

from __future__ import annotations

import json
import pathlib
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .. import errors
from ..models import CronJob, CronStatus
from ..models.requests import Account, ConfigFile
from ._commands import connecting
from ._connect import credentials_from_env, explain, no_answer, open_client, target_from
from ._follow import Mode, choose_mode
from ._format import table
from ._jsonl import dumps, json_time, to_json
from ._launch import launch, show_launched, targets_from
from ._runtime import EXIT_INTERRUPTED, EXIT_OK, CliError, Context, printable

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Sequence

    from ..client import BkJobClient
    from ..models import JobPlan, PlanVariable, VariableValue
    from ._connect import Target

__all__ = [
    "MASK",
    "ask",
    "parse_pairs",
    "run_call",
    "run_crons",
    "run_plans",
    "run_push_config",
    "run_vars",
    "shown",
]

#: What a password's value prints as.
MASK = "******"


def _shown(variable: PlanVariable | VariableValue) -> str | None:
    return MASK if variable.is_secret and variable.value else variable.value


async def ask(
    ctx: Context, target: Target, api: str, json: bool, call: Callable[[], Awaitable[Any]]
) -> Any:
    """Run one request within ``--timeout``; a bk-job error is one line, exit status 2."""
    with connecting(ctx, target, json=json), anyio.move_on_after(target.timeout):
        try:
            return await call()
        except errors.BkJobError as exc:
            raise CliError(explain(exc, target, api=api)) from None
    raise CliError(no_answer(target))


# --- plans ------------------------------------------------------------------------------------


async def run_plans(ctx: Context, args: argparse.Namespace) -> int:
    """List a scope's plans, or show one plan with its steps and global variables."""
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
    with ctx.interruptible():
        async with open_client(target, credentials) as client:
            if args.plan_id is not None:
                plan = await ask(
                    ctx,
                    target,
                    "get_job_plan_detail",
                    args.json,
                    lambda: client.get_job_plan_detail(target.scope, args.plan_id),
                )
                _show_plan(ctx, plan, json=args.json)
                return EXIT_OK
            plans = await ask(
                ctx,
                target,
                "get_job_plan_list",
                args.json,
                lambda: _first_plans(client, target, args.name, args.limit),
            )
    if ctx.interrupted:
        return EXIT_INTERRUPTED
    rows = [
        (p.job_plan_id, p.name or "-", p.creator or "-", _when(p.last_modify_time)) for p in plans
    ]
    listing(
        ctx,
        args,
        "plan",
        [_plan_json(p) for p in plans],
        ("plan", "name", "creator", "changed"),
        rows,
    )
    return EXIT_OK


def listing(
    ctx: Context,
    args: argparse.Namespace,
    noun: str,
    shown: Sequence[object],
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
) -> None:
    """Print a list command's items: ``shown`` one JSON object a line (``--json``), else
    ``rows`` as a table under ``header``, or that there is no ``noun`` (named like ``--name``)."""
    if args.json:
        for item in shown:
            ctx.out(dumps(item))
    elif not rows:
        ctx.err(f"no {noun}" + (f" named like {args.name!r}" if args.name else ""))
    else:
        ctx.out("\n".join(table(header, rows)))


async def _first_plans(
    client: BkJobClient, target: Target, name: str | None, limit: int
) -> list[JobPlan]:
    found: list[JobPlan] = []
    size = min(limit, 1000) if limit else 1000
    async for plan in client.iter_job_plans(target.scope, name=name, page_size=size):
        found.append(plan)
        if limit and len(found) >= limit:
            break
    return found


def _when(moment: Any) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


def _plan_json(plan: JobPlan) -> dict[str, Any]:
    data: dict[str, Any] = {
        "job_plan_id": plan.job_plan_id,
        "name": plan.name,
        "job_template_id": plan.job_template_id,
        "creator": plan.creator,
        "create_time": None if plan.create_time is None else json_time(plan.create_time),
        "last_modify_user": plan.last_modify_user,
        "last_modify_time": None
        if plan.last_modify_time is None
        else json_time(plan.last_modify_time),
    }
    if plan.steps is not None:
        data["steps"] = [{"id": s.id, "name": s.name, "type": s.type.name} for s in plan.steps]
    if plan.variables is not None:
        data["variables"] = [
            {
                "id": v.id,
                "name": v.name,
                "type": None if v.type is None else v.type.name,
                "value": _shown(v),
                "hosts": None if v.server is None else _hosts_text(v),
                "required": v.required,
                "description": v.description,
            }
            for v in plan.variables
        ]
    return data


def _hosts_text(variable: PlanVariable) -> str:
    server = variable.server
    if server is None:
        return "-"
    parts = [str(i) for i in server.host_ids] + [f"{c}:{ip}" for c, ip in server.ips]
    parts += [f"group {g}" for g in server.dynamic_group_ids]
    parts += [f"{t} {i}" for t, i in server.topo_nodes]
    return ", ".join(parts) or "-"


def _show_plan(ctx: Context, plan: JobPlan, *, json: bool) -> None:
    if json:
        ctx.out(dumps(_plan_json(plan)))
        return
    ctx.out(
        f"plan {plan.job_plan_id}: {printable(plan.name or '-')} (template {plan.job_template_id})"
    )
    for step in plan.steps or ():
        ctx.out(f"  step {step.id}: {printable(step.name or '-')} ({step.type.name.lower()})")
    variables = plan.variables or ()
    if not variables:
        ctx.out("no global variables")
        return
    rows = [
        (
            v.name,
            "-" if v.type is None else v.type.name.lower(),
            "yes" if v.required else "no",
            _hosts_text(v) if v.server is not None else (_shown(v) or ""),
        )
        for v in variables
    ]
    ctx.out("\n".join(table(("variable", "type", "required", "default"), rows)))


# --- vars -------------------------------------------------------------------------------------


async def run_vars(ctx: Context, args: argparse.Namespace) -> int:
    """Print the values a job's string variables held after each step (its outputs)."""
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
    with ctx.interruptible():
        async with open_client(target, credentials) as client:
            values = await ask(
                ctx,
                target,
                "get_job_instance_global_var_value",
                args.json,
                lambda: client.get_job_instance_global_var_value(target.scope, args.job_id),
            )
    if ctx.interrupted:
        return EXIT_INTERRUPTED
    if args.json:
        for step in values.steps:
            ctx.out(
                dumps(
                    {
                        "job_instance_id": values.job_instance_id,
                        "step_instance_id": step.step_instance_id,
                        "variables": {v.name: _shown(v) for v in step.variables},
                    }
                )
            )
        return EXIT_OK
    latest = {v.name: v for step in values.steps for v in step.variables}
    if not latest:
        ctx.err(f"job {args.job_id} has no string variable")
        return EXIT_OK
    rows = [(name, _shown(v) or "") for name, v in latest.items()]
    ctx.out("\n".join(table(("variable", "value"), rows)))
    return EXIT_OK


# --- push-config ------------------------------------------------------------------------------


def _config_files(paths: list[str]) -> list[ConfigFile]:
    files = []
    for text in paths:
        path = pathlib.Path(text)
        try:
            files.append(ConfigFile(path.name, path.read_bytes()))
        except OSError as exc:
            raise CliError(f"cannot read {text}: {exc.strerror}") from None
        except (TypeError, ValueError) as exc:
            raise CliError(f"{text}: {exc}") from None
    return files


async def run_push_config(ctx: Context, args: argparse.Namespace) -> int:
    """Write config files to hosts (``push_config_file``); print the job; ``--watch`` it."""
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
    files = _config_files(args.files)
    targets = targets_from(args.host_id, args.host, "--host")
    mode = choose_mode(ctx, json=args.json, piped=Mode.JSON)
    json = args.json or mode is Mode.JSON
    code = EXIT_INTERRUPTED
    with ctx.interruptible():
        async with open_client(target, credentials) as client:
            push: dict[str, Any] = {
                "targets": targets,
                "account": Account(alias=args.account),
                "file_target_path": args.dest,
                "files": files,
                "task_name": args.name,
            }
            launched = await launch(
                ctx,
                target,
                "push_config_file",
                json,
                lambda: client.push_config_file(target.scope, **push),
            )
            if launched is not None:
                job_id = launched.job_instance_id
                names = ", ".join(f.name for f in files)
                line = f"pushing {names} to {args.dest}: job {job_id}; bkjob-async watch {job_id}"
                kind = ("push-config", "push-config")
                more = {"files": [f.name for f in files]}
                code = await show_launched(
                    ctx, args, target, credentials, client, mode, launched, kind, line, **more
                )
    return code


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
