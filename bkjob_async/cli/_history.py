"""``logs`` and ``list``: what ran and what it printed, read once.

Rule: like ``status``, these read and print; the first request waits ``--timeout`` at most, and
a flavor without the API is told before any request (ESB v2 has neither host logs nor history).
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import TYPE_CHECKING, Any

import anyio

from .. import errors
from ..config import ApiFlavor
from ..models import Host, JobStatus
from ._commands import connecting, first_read
from ._connect import credentials_from_env, explain, no_answer, open_client, target_from
from ._containers import container_entries, container_logs, parse_container, pick_containers
from ._format import code_name, table
from ._jsonl import dumps, to_json
from ._runtime import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError, Context, read_ids

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from ..client import BkJobClient
    from ..models import (
        ContainerResult,
        ExecuteObjectLog,
        HostLog,
        HostResult,
        JobInstanceSummary,
        StepInstance,
    )
    from ._connect import Target

__all__ = ["parse_host", "parse_since", "parse_status", "run_list", "run_logs"]

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
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
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
    target = target_from(args, ctx.env)
    credentials = credentials_from_env(ctx.env)
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
