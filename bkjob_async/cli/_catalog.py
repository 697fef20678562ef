"""The one-shot commands: launch, logs, list, plans, vars, push-config, call and crons.

Rule: each reads or sends, prints, and ends; the first request waits ``--timeout`` at most, and
a flavor without the API is told before any request (ESB v2 has neither host logs nor
history). A launch is sent once (the client retries it only when it provably never reached
bk-job); with no answer within ``--timeout``, the message says the job may have started anyway
and how to look for it. A password variable's value is never printed, as text or JSON
(``******``), nor a config file's contents; ``call`` prints the answer as one JSON document.
Bad input is one line and exit status 2, before any request.
"""

from __future__ import annotations

import datetime as _dt
import json
import pathlib
import re
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from .. import errors
from ..config import ApiFlavor
from ..models import CronJob, CronStatus, Host, JobStatus, ScriptLanguage
from ..models.requests import Account, ConfigFile, FileSource, GlobalVar, Targets
from ._commands import connecting, first_read, watch_jobs
from ._connect import connection, explain, no_answer, open_client
from ._containers import (
    container_entries,
    container_logs,
    container_targets,
    parse_container,
    pick_containers,
)
from ._follow import Mode, choose_mode
from ._format import code_name, dumps, job_launched, json_time, table, to_json
from ._runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError, Context, printable, read_ids

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    from ..client import BkJobClient
    from ..config import Credentials
    from ..models import (
        ContainerResult,
        ExecuteObjectLog,
        HostLog,
        HostResult,
        JobInstanceSummary,
        JobLaunch,
        JobPlan,
        PlanVariable,
        StepInstance,
        VariableValue,
    )
    from ._connect import Target

__all__ = [
    "launch",
    "run_call",
    "run_crons",
    "run_launch",
    "run_list",
    "run_logs",
    "run_plans",
    "run_push_config",
    "run_vars",
]

T = TypeVar("T")
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
    target, credentials = connection(args, ctx.env)
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
                lambda: _first(
                    lambda size: client.iter_job_plans(
                        target.scope, name=args.name, page_size=size
                    ),
                    args.limit,
                ),
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


async def _first(pages: Callable[[int], AsyncIterator[T]], limit: int) -> list[T]:
    """Return the first ``limit`` items (0: all) of ``pages(page_size)``."""
    found: list[T] = []
    async for item in pages(min(limit, 1000) if limit else 1000):
        found.append(item)
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
    target, credentials = connection(args, ctx.env)
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
    target, credentials = connection(args, ctx.env)
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
    target, credentials = connection(args, ctx.env)
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
    target, credentials = connection(args, ctx.env)
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
                lambda: _crons(client, target, args),
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


def _crons(client: BkJobClient, target: Target, args: argparse.Namespace) -> Any:
    status = None if args.status is None else CronStatus[args.status.upper()]
    return _first(
        lambda size: client.iter_crons(target.scope, name=args.name, status=status, page_size=size),
        args.limit,
    )


#: ``--script-language`` choices.
LANGUAGES = {m.name.lower(): m for m in ScriptLanguage}


def targets_from(
    host_ids: list[int] | None, hosts: list[str] | None, flag: str, more: str = ""
) -> Targets:
    """Return the hosts of ``--host-id`` and ``--host`` (ids, ``CLOUD:IP`` or ``IP``);
    ``more`` tells, when there are none, what else could be given."""
    ids = list(host_ids or ())
    ips: list[tuple[int, str]] = []
    for text in hosts or ():
        ref = parse_host(text)
        if isinstance(ref, int):
            ids.append(ref)
        else:
            ips.append(ref)
    if not ids and not ips:
        raise CliError(f"no target host: give {flag}-id ID or {flag} CLOUD:IP (repeatable){more}")
    return Targets(host_ids=ids, ips=ips)


def _script(args: argparse.Namespace) -> str:
    if args.content is not None:
        return str(args.content)
    try:
        return pathlib.Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read --file {args.file}: {exc.strerror}") from None


def _pairs(pairs: list[str] | None) -> list[tuple[str, str]]:
    found = []
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"--var needs NAME=VALUE, got {pair!r}")
        found.append((name, value))
    return found


def plan_variables(plan: JobPlan, pairs: list[tuple[str, str]]) -> list[GlobalVar]:
    """Return ``--var`` pairs as ``plan``'s variables: a name the plan lacks is an error (bk-job
    would drop it silently), a password's value is marked secret (masked in every error)."""
    found = []
    for name, value in pairs:
        variable = plan.variable(name)
        if variable is None:
            known = ", ".join(v.name for v in plan.variables or ()) or "none"
            raise CliError(
                f"plan {plan.job_plan_id} has no variable {name!r}; its variables: {known}"
            )
        found.append(GlobalVar(name=name, value=value, secret=variable.is_secret))
    return found


def _script_source(args: argparse.Namespace) -> dict[str, Any]:
    """Return the script to run: ``--content``/``--file`` text, ``--script-id`` (its online
    version) or ``--script-version-id``; exactly one."""
    given = [args.content, args.file, args.script_id, args.script_version_id]
    if sum(value is not None for value in given) != 1:
        raise CliError(
            "give the script as --content TEXT, --file PATH, --script-id ID or "
            "--script-version-id ID (one of them)"
        )
    if args.script_id is not None:
        return {"script_id": args.script_id}
    if args.script_version_id is not None:
        return {"script_version_id": args.script_version_id}
    return {"script_content": _script(args)}


async def _send(client: BkJobClient, target: Target, args: argparse.Namespace) -> JobLaunch:
    """Send the launch that ``args.kind`` names; everything is checked before it is sent.

    A plan with ``--var`` is read first, to check the names and to know its passwords.
    """
    if args.kind == "plan":
        pairs = _pairs(args.var)
        client.protocol.spell("execute_job_plan", target.scope, args.plan_id)  # checks, unsent
        variables: list[GlobalVar] = []
        if pairs:
            plan = await client.get_job_plan_detail(target.scope, args.plan_id)
            variables = plan_variables(plan, pairs)
        return await client.execute_job_plan(target.scope, args.plan_id, global_vars=variables)
    account = Account(alias=args.account)
    if args.kind == "script":
        source = _script_source(args)
        targets = container_targets(args, target.flavor) or targets_from(
            args.host_id, args.host, "--host", "; or containers: --cluster UID and its filters"
        )
        return await client.fast_execute_script(
            target.scope,
            targets=targets,
            account=account,
            **source,
            script_language=LANGUAGES[args.script_language],
            script_param=args.params,
            script_timeout=args.script_timeout,
            task_name=args.name,
        )
    targets = targets_from(args.host_id, args.host, "--host")
    files = FileSource(
        files=args.source,
        server=targets_from(args.from_host_id, args.from_host, "--from-host"),
        account=account,
    )
    return await client.fast_transfer_file(
        target.scope,
        targets=targets,
        account=account,
        file_target_path=args.dest,
        file_sources=[files],
        task_name=args.name,
    )


def _unknown(target: Target) -> str:
    """Say a launch got no answer: it may have started all the same."""
    return (
        f"{no_answer(target)}\n"
        "the job may have started anyway: look for it with bkjob-async list --since 10m"
    )


async def launch(
    ctx: Context, target: Target, what: str, json: bool, send: Callable[[], Awaitable[JobLaunch]]
) -> JobLaunch | None:
    """Send a launch within ``--timeout``; ``None`` if interrupted. A bad argument or a bk-job
    error is one line (exit status 2), and so is no answer: the job may have started anyway."""
    launched = None
    with connecting(ctx, target, json=json), anyio.move_on_after(target.timeout):
        try:
            launched = await send()
        except (TypeError, ValueError) as exc:
            raise CliError(str(exc)) from None
        except errors.TimeoutError:
            raise CliError(_unknown(target)) from None
        except errors.BkJobError as exc:
            raise CliError(explain(exc, target, api=what)) from None
    if launched is None and not ctx.interrupted:
        raise CliError(_unknown(target))
    return launched


async def show_launched(
    ctx: Context,
    args: argparse.Namespace,
    target: Target,
    credentials: Credentials,
    client: BkJobClient,
    mode: Mode,
    launched: JobLaunch,
    kind: tuple[str, str],
    line: str,
    **more: Any,
) -> int:
    """Print a launched job (``line``, or its ``job_launched`` JSON line of ``kind[0]`` and
    ``more``); with ``--watch``, follow it (the view titled by the command ``kind[1]``)."""
    job_id = launched.job_instance_id
    ctx.out(job_launched(launched, kind[0], **more) if mode is Mode.JSON or args.json else line)
    if args.watch:
        title = f"bkjob-async {kind[1]}: watch job {job_id}"
        return await watch_jobs(
            ctx, args, target, credentials, [job_id], mode, title, client=client, launched=True
        )
    return EXIT_INTERRUPTED if ctx.interrupted else EXIT_OK


async def run_launch(ctx: Context, args: argparse.Namespace) -> int:
    """Launch a script, a file transfer or a plan; print the job id; ``--watch`` follows it."""
    target, credentials = connection(args, ctx.env)
    mode = choose_mode(ctx, json=args.json, piped=Mode.JSON)
    json = args.json or mode is Mode.JSON
    from ._connect import open_client

    code = EXIT_INTERRUPTED
    with ctx.interruptible():
        async with open_client(target, credentials) as client:
            launched = await launch(
                ctx, target, f"launch {args.kind}", json, lambda: _send(client, target, args)
            )
            if launched is not None:
                job_id = launched.job_instance_id
                name = f" ({launched.job_instance_name})" if launched.job_instance_name else ""
                line = f"launched job {job_id}{name}; follow it: bkjob-async watch {job_id}"
                kind = (args.kind, f"launch {args.kind}")
                code = await show_launched(
                    ctx, args, target, credentials, client, mode, launched, kind, line
                )
    return code


#: bk-job's history covers at most 30 days per request.
MAX_WINDOW = _dt.timedelta(days=30)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _check_api(client: BkJobClient, target: Target, api: str, what: str) -> None:
    """Say, before any request, that this flavor has no ``api``."""
    try:
        client.protocol.binding(api)
    except errors.UnsupportedOperationError:
        raise CliError(
            f"bk-job's {target.flavor.value} API has no {what} ({api}); "
            "use --flavor apigw-v3 with the gateway URL, or esb-jobv3 with the PaaS URL"
        ) from None


# --- logs -------------------------------------------------------------------------------------


def parse_host(text: str) -> int | tuple[int, str]:
    """Return a ``--host`` as a ``bk_host_id``, or a ``(bk_cloud_id, ip)`` pair.

    ``1001`` is a host id; ``0:10.0.0.1`` a cloud area and an IP; ``10.0.0.1`` an IP in area 0.
    """
    if text.isdigit():
        return int(text)
    cloud, sep, ip = text.rpartition(":") if text.count(":") == 1 else ("", "", text)
    if sep and not cloud.isdigit():
        raise CliError(f"--host {text!r}: expected a host id, CLOUD:IP or IP")
    if not ip or not re.fullmatch(r"[0-9A-Fa-f.:]+", ip):
        raise CliError(f"--host {text!r}: expected a host id, CLOUD:IP or IP")
    return (int(cloud) if sep else 0, ip)


def _matches(host: Host, wanted: Sequence[int | tuple[int, str]]) -> bool:
    for want in wanted:
        if isinstance(want, int):
            if host.bk_host_id == want:
                return True
        elif (host.bk_cloud_id or 0, host.ip or host.ipv6) == want:
            return True
    return False


def _pick_hosts(
    step: StepInstance, *, failed: bool, wanted: Sequence[int | tuple[int, str]]
) -> list[HostResult]:
    rows = list(step.hosts or ())
    if failed:
        rows = [r for r in rows if r.status.is_finished and not r.status.is_success]
    if wanted:
        rows = [r for r in rows if _matches(r.host, wanted)]
    return rows


async def run_logs(ctx: Context, args: argparse.Namespace) -> int:
    """Print the logs of jobs' hosts: every step, one step, failed hosts, or named hosts."""
    target, credentials = connection(args, ctx.env)
    wanted = [parse_host(text) for text in args.host or ()]
    job_ids, step_id = _jobs_and_step(ctx, args)
    printed, failed = 0, False
    with ctx.interruptible():
        async with open_client(target, credentials) as client:
            _check_api(client, target, "batch_get_job_instance_ip_log", "host logs")
            for job_id in job_ids:
                try:
                    printed += await _job_logs(ctx, args, client, target, job_id, step_id, wanted)
                except CliError as exc:
                    if len(job_ids) == 1 or exc.status != EXIT_FAILED:
                        raise
                    ctx.err(f"bkjob-async logs: {exc.message}")  # the other jobs go on
                    failed = True
    if ctx.interrupted:
        ctx.err("interrupted")
        return EXIT_INTERRUPTED
    if failed:
        return EXIT_FAILED
    if not printed:
        which = "hosts or containers" if target.flavor is ApiFlavor.APIGW_V4 else "hosts"
        which = f"failed {which}" if args.failed else which
        which += " matching --host" if wanted else ""
        which += " matching --container" if args.container else ""
        jobs = f"job {job_ids[0]}" if len(job_ids) == 1 else f"{len(job_ids)} jobs"
        ctx.err(f"{jobs}: no {which} with a log" + (f" in step {step_id}" if step_id else ""))
    return EXIT_OK


def _jobs_and_step(ctx: Context, args: argparse.Namespace) -> tuple[list[int], int | None]:
    """Return the jobs and the step asked for; two ids alone are ``JOB_ID STEP_ID`` (as before)."""
    given: list[int | str] = args.job_ids
    if args.step is None and len(given) == 2 and "-" not in given:
        ctx.err("note: 'logs JOB_ID STEP_ID' reads step STEP_ID of one job; write --step STEP_ID")
        return [int(given[0])], int(given[1])
    return read_ids(given, ctx.stdin), args.step


async def _job_logs(
    ctx: Context,
    args: argparse.Namespace,
    client: BkJobClient,
    target: Target,
    job_id: int,
    step_id: int | None,
    wanted: list[Any],
) -> int:
    """Print one job's logs; return how many were printed."""
    printed = 0
    with connecting(ctx, target, json=args.json):
        status = await first_read(client, target, job_id, hosts=True)
    if isinstance(status, errors.BkJobError):
        raise CliError(explain(status, target), EXIT_FAILED)
    steps = [s for s in status.steps if step_id in (None, s.step_instance_id)]
    if not steps:
        known = ", ".join(str(s.step_instance_id) for s in status.steps) or "none"
        raise CliError(f"job {job_id} has no step {step_id}; its steps: {known}", 1)
    named = [parse_container(text) for text in args.container or ()]
    for step in steps:
        rows = [] if named and not wanted else _pick_hosts(step, failed=args.failed, wanted=wanted)
        boxes = (
            [] if wanted and not named else pick_containers(step, failed=args.failed, wanted=named)
        )
        if not rows and not boxes:
            continue
        with anyio.move_on_after(target.timeout * 4):
            entries: list[Any] = []
            if rows:
                logs = await _logs(client, target, job_id, step.step_instance_id, rows)
                entries += _host_entries(rows, logs)
            if boxes:
                found = await container_logs(client, target, job_id, step.step_instance_id, boxes)
                entries += container_entries(boxes, found)
            printed += _show_logs(ctx, args, job_id, step, entries)
            continue
        raise CliError(no_answer(target))
    return printed


async def _logs(
    client: BkJobClient, target: Target, job_id: int, step_id: int, rows: list[HostResult]
) -> tuple[HostLog, ...]:
    try:
        return await client.batch_get_job_instance_ip_log(
            target.scope, job_id, step_id, [r.host for r in rows]
        )
    except errors.BkJobError as exc:
        raise CliError(explain(exc, target, api="batch_get_job_instance_ip_log")) from None


def _host_entries(
    rows: list[HostResult], logs: tuple[HostLog, ...]
) -> list[tuple[str, HostResult | None, HostLog]]:
    """Pair each log with its host's result, under ``host ...`` for a heading."""
    results = {r.host.key: r for r in rows}
    entries = []
    for log in logs:
        result = results.get(log.host.key)
        if result is None:  # echoed by ip alone: find the row by its address
            result = next((r for r in rows if r.host.ip == log.host.ip), None)
        entries.append((f"host {result.host if result else log.host}", result, log))
    return entries


def _show_logs(
    ctx: Context,
    args: argparse.Namespace,
    job_id: int,
    step: StepInstance,
    entries: Sequence[tuple[str, HostResult | ContainerResult | None, HostLog | ExecuteObjectLog]],
) -> int:
    """Print each host's or container's log under a heading (``--json``: one object each)."""
    for label, result, log in entries:
        if args.json:
            ctx.out(
                dumps(
                    {
                        "job_instance_id": job_id,
                        "step_instance_id": step.step_instance_id,
                        "execute_count": step.execute_count,
                        "status": int(result.status) if result else None,
                        "status_name": result.status.name if result else None,
                        "exit_code": result.exit_code if result else None,
                        **to_json(log),
                    }
                )
            )
            continue
        state = f"{code_name(result.status)}, exit {result.exit_code}" if result else "?"
        ctx.out(f"== job {job_id} step {step.step_instance_id} {label}: {state} ==")
        if log.log_content:
            ctx.out(log.log_content.rstrip("\n"))
        for file_log in log.file_logs or ():
            ctx.out(
                f"  {file_log.mode.name.lower()} {file_log.src_path or ''} -> "
                f"{file_log.dest_path or ''}  {file_log.status.name}  "
                f"{(file_log.log_content or '').strip()}".rstrip()
            )
    return len(entries)


# --- list -------------------------------------------------------------------------------------


def parse_since(text: str, now: _dt.datetime) -> _dt.datetime:
    """Return ``--since`` as an aware time: ``90s``, ``30m``, ``6h``, ``7d`` ago, or ISO 8601."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if match:
        return now - _dt.timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        when = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"--since {text!r}: expected a duration (90s, 30m, 6h, 7d) or an ISO 8601 time"
        ) from None
    return when if when.tzinfo else when.astimezone()  # a local time, as a person means it


def parse_status(text: str) -> JobStatus:
    """Return ``--status`` as a ``JobStatus``: a name (any case) or a code."""
    if text.isdigit():
        return JobStatus(int(text))
    member = JobStatus.__members__.get(text.upper())
    if member is None:
        names = ", ".join(m.name for m in JobStatus)
        raise CliError(f"--status {text!r}: expected a code or one of {names}")
    return member


async def run_list(ctx: Context, args: argparse.Namespace) -> int:
    """Print the jobs created in a window (24 h by default), newest first, a page at a time."""
    target, credentials = connection(args, ctx.env)
    now = _dt.datetime.now(_dt.timezone.utc)
    since = parse_since(args.since, now)
    if now - since > MAX_WINDOW:
        raise CliError("--since: bk-job lists at most 30 days back")
    status = parse_status(args.status) if args.status else None
    found: list[JobInstanceSummary] = []
    with ctx.interruptible():
        async with open_client(target, credentials) as client:
            _check_api(client, target, "get_job_instance_list", "job history")
            with connecting(ctx, target, json=args.json):
                await _collect(client, target, args, since, now, status, found)
    if ctx.interrupted:
        ctx.err("interrupted")
        return EXIT_INTERRUPTED
    found.sort(key=lambda j: (j.create_time or now, j.job_instance_id), reverse=True)
    if args.json:
        for job in found:
            ctx.out(dumps(to_json(job)))
        return EXIT_OK
    if not found:
        ctx.err(f"no job created since {since.astimezone():%Y-%m-%d %H:%M:%S}")
        return EXIT_OK
    rows = [
        (
            job.job_instance_id,
            code_name(job.status),
            job.create_time.astimezone().strftime("%m-%d %H:%M:%S") if job.create_time else "-",
            job.operator or "-",
            job.name or "-",
        )
        for job in found
    ]
    ctx.out("\n".join(table(("job", "status", "created", "operator", "name"), rows)))
    return EXIT_OK


async def _collect(
    client: BkJobClient,
    target: Target,
    args: argparse.Namespace,
    since: _dt.datetime,
    now: _dt.datetime,
    status: JobStatus | None,
    found: list[JobInstanceSummary],
) -> None:
    """Read pages until ``--limit`` jobs; each page waits ``--timeout`` at most."""
    pages = client.iter_job_instances(
        target.scope,
        created_from=since,
        created_to=now,
        status=status,
        name=args.name,
        operator=args.operator,
        page_size=min(args.page_size, args.limit) if args.limit else args.page_size,
    )
    try:
        while not args.limit or len(found) < args.limit:
            with anyio.move_on_after(target.timeout):
                try:
                    found.append(await pages.__anext__())
                except StopAsyncIteration:
                    return
                except errors.BkJobError as exc:
                    raise CliError(explain(exc, target, api="get_job_instance_list")) from None
                continue
            raise CliError(no_answer(target))
    finally:
        await pages.aclose()  # type: ignore[attr-defined]
