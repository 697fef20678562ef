"""Rule: a launch is sent once, and a timeout never says the job did not start.

``launch script|file|plan``: start a job, say its id, and (``--watch``) follow it to its end.

Rule: a launch is sent once (the client retries it only when it provably never reached bk-job);
when no answer comes within ``--timeout``, the message says the job may have started anyway and
how to look for it, never that it did not.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

import anyio

from .. import errors
from ..models import ScriptLanguage
from ..models.requests import Account, FileSource, GlobalVar, Targets
from ._commands import connecting, watch_jobs
from ._connect import credentials_from_env, explain, no_answer, target_from
from ._containers import container_targets
from ._follow import Mode, choose_mode
from ._history import parse_host
from ._jsonl import job_launched
from ._runtime import EXIT_INTERRUPTED, EXIT_OK, CliError, Context

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable

    from ..client import BkJobClient
    from ..config import Credentials
    from ..models import JobLaunch, JobPlan
    from ._connect import Target

__all__ = ["LANGUAGES", "launch", "plan_variables", "run_launch", "show_launched", "targets_from"]

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
            ctx, args, target, credentials, [job_id], mode, title, client=client
        )
    return EXIT_INTERRUPTED if ctx.interrupted else EXIT_OK


async def run_launch(ctx: Context, args: argparse.Namespace) -> int:
    """Launch a script, a file transfer or a plan; print the job id; ``--watch`` follows it."""
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
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
