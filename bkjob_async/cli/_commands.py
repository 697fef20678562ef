"""Rule: a whole-run error ends a command with status 2, a job's own error fails only that job.

The commands that talk to a real bk-job: ``watch``, ``status``, ``operate``; and ``simulate``.

Rule: each command is ``async def run_<name>(ctx, args) -> int``. Errors that concern the whole
run (credentials, URL, flavor, scope, permission on the first request) end it with exit status
2 and an explanation; errors about one job count that job as failed (exit status 1). A
``watch --events/--status`` filter narrows what is shown, never what the command needs to end
and to judge: job ends and outages always reach it (an end-only ``--events`` lets the poller
read the job list instead of each job), and a job that comes to wait for a person is shown.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import time
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .. import errors
from .._numbers import ID
from ..models import JobOperation, JobStatus, StepOperation
from ..polling import Poller, SqliteStore, events, open_jobs
from ..polling._codec import from_data
from ..polling.events import waits_for_a_person
from ..polling.stores import check_name
from ._connect import (
    connection,
    explain,
    is_job_level,
    no_answer,
    open_client,
    policy_from,
    serve_metrics,
)
from ._containers import pick_containers
from ._follow import Mode, Shown, choose_mode, rich_available, show_summary, showing
from ._format import (
    EVENT_NAMES,
    Tally,
    clock,
    code_name,
    counted,
    dumps,
    error_to_dict,
    status_lines,
    to_json,
)
from ._runtime import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Context,
    read_ids,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from ..client import BkJobClient
    from ..config import Credentials, Scope
    from ..metrics import PollerMetrics
    from ..models import JobInstanceStatus
    from ..polling import PollerStatistics, Store, WatchSummary
    from ..polling._tracker import JobState
    from ..polling.stores import StoredWatch
    from ._connect import Target
    from ._format import Summary

__all__ = [
    "JOB_OPERATIONS",
    "STEP_OPERATIONS",
    "connecting",
    "first_read",
    "run_operate",
    "run_simulate",
    "run_status",
    "run_watch",
    "wait_for_effect",
    "watch_jobs",
    "watch_status",
]

#: Step operations by their command-line name, and the step statuses bk-job allows them in.
STEP_OPERATIONS: dict[str, tuple[StepOperation, frozenset[int]]] = {
    "retry-failed": (StepOperation.RETRY_FAILED, frozenset({4, 9, 11})),
    "retry-all": (StepOperation.RETRY_ALL, frozenset({4, 9, 11})),
    "ignore-error": (StepOperation.IGNORE_ERROR, frozenset({4, 9})),
    "confirm": (StepOperation.CONFIRM_CONTINUE, frozenset({7})),
    "confirm-terminate": (StepOperation.CONFIRM_TERMINATE, frozenset({7})),
    "confirm-restart": (StepOperation.CONFIRM_RESTART, frozenset({13})),
    "rolling-continue": (StepOperation.ROLLING_CONTINUE, frozenset({7})),
    "next-step": (StepOperation.NEXT_STEP, frozenset({11})),
    "skip": (StepOperation.SKIP, frozenset({10})),
}
#: Job operations by their command-line name, and the job statuses bk-job allows them in.
JOB_OPERATIONS: dict[str, tuple[JobOperation, frozenset[int]]] = {
    "terminate": (JobOperation.TERMINATE, frozenset({2, 7})),
    "start": (JobOperation.START, frozenset({1})),
}


async def first_read(
    client: BkJobClient, target: Target, job_id: int, *, hosts: bool
) -> JobInstanceStatus | errors.BkJobError:
    """Read one job; end the run (exit 2) if the error is about everything, not this job.

    Waits ``--timeout`` at most in all (retries included), then says bk-job did not answer.
    """
    with anyio.move_on_after(target.timeout):
        try:
            return await client.get_job_instance_status(target.scope, job_id, with_hosts=hosts)
        except errors.BkJobError as exc:
            if is_job_level(exc):
                return exc
            raise CliError(explain(exc, target, api="get_job_instance_status")) from None
    raise CliError(no_answer(target))


def _title(verb: str, job_ids: Sequence[int]) -> str:
    jobs = f"job {job_ids[0]}" if len(job_ids) == 1 else counted(len(job_ids), "job")
    return f"bkjob-async {verb} {jobs}"


@contextlib.contextmanager
def connecting(ctx: Context, target: Target, *, json: bool) -> Iterator[None]:
    """Say "connecting to URL" on a terminal while the block waits for bk-job (then erase it)."""
    if json or not ctx.tty or not rich_available():
        yield
        return
    from ._live import make_console

    with make_console(ctx.stdout).status(f"connecting to {target.server} ..."):
        yield


def watch_status(ctx: Context, tally: Tally, shown: Shown | None, target: Target) -> int:
    """Return a watch's exit status; say once (not once per job) when bk-job was unreachable."""
    if ctx.interrupted:
        return EXIT_INTERRUPTED
    since = shown.gave_up_since if shown is not None else None
    unreachable = tally.unreachable
    if since is not None or unreachable:
        when = f" since {clock(since)}" if since is not None else ""
        error = unreachable[0].error if unreachable else None
        ctx.err(
            f"bk-job at {target.server} unreachable{when}: gave up"
            + (f" ({type(error).__name__}: {error})" if error is not None else "")
            + "\ncheck --url / BKJOB_URL, the network, and that bk-job is up "
            "(--give-up-after sets how long a watch waits through an outage)"
        )
        return EXIT_USAGE
    return EXIT_OK if tally.all_succeeded else EXIT_FAILED


# --- watch ------------------------------------------------------------------------------------


async def run_watch(ctx: Context, args: argparse.Namespace) -> int:
    """Watch jobs until each ends; exit 0 if all succeeded, 1 if any did not.

    With ``--state FILE`` the watch lives in a ``SqliteStore`` under ``--name``: run again with
    the same file and no job id, it resumes. The file is opened (and a bad one refused, exit
    2) before anything is sent to bk-job. With ``--redis`` it follows a cluster's watch.
    """
    if args.redis or args.cluster_watch:
        from ._cluster import run_cluster_watch

        return await run_cluster_watch(ctx, args)
    given = [f"--{name}" for name in ("cluster", "group") if getattr(args, name) is not None]
    given += ["--follow"] if args.follow else []
    if given:  # flags of a cluster watch, without one
        verb, it = ("is", "it") if len(given) == 1 else ("are", "them")
        raise CliError(
            f"{' and '.join(given)} {verb} for a cluster watch: add --watch NAME (and --redis "
            f"URL or $BKJOB_REDIS_URL), or leave {it} out to watch bk-job itself"
        )
    target, credentials = connection(args, ctx.env)
    policy_from(args, args.max_in_flight)  # a bad policy is refused before anything is sent
    job_ids: list[int] = read_ids(args.job_ids, ctx.stdin) if args.job_ids else []
    mode = choose_mode(ctx, json=args.json, piped=Mode.JSON)
    state, name = getattr(args, "state", None), getattr(args, "name", None)
    if state is None:
        if name is not None:
            raise CliError("--name names a watch in a --state file: give --state FILE too")
        if not job_ids:
            raise CliError("give the JOB_IDs to watch (or --state FILE to resume a watch)")
        status = await watch_jobs(
            ctx, args, target, credentials, job_ids, mode, _title("watch", job_ids)
        )
        if ctx.interrupted:  # the command on a line of its own, to copy whole
            ids = " ".join(map(str, job_ids)) if len(job_ids) <= 10 else "JOB_ID ..."
            ctx.err(
                "not resumable: run it with --state FILE to make a watch you can resume:\n"
                f"  bkjob-async watch {ids} --state watch.db"
            )
        return status
    name = name or "watch"
    try:
        check_name(name)
    except ValueError as exc:
        raise CliError(f"--name: {exc}") from None
    if not job_ids and not await anyio.Path(state).exists():  # a refusal creates no file
        raise CliError(
            f"no watch named {name!r} in {state} to resume (no such file): give the JOB_IDs"
        )
    store = SqliteStore(state)
    try:
        await store.open()
    except errors.StoreError as exc:
        raise CliError(f"cannot use the state file: {exc}") from None
    try:
        status = await _watch_stored(ctx, args, target, credentials, mode, store, name, job_ids)
    finally:
        with anyio.CancelScope(shield=True):  # Ctrl-C: what is queued is still written
            await store.aclose()
    if ctx.interrupted:
        named = "" if name == "watch" else f" --name {shlex.quote(name)}"
        ctx.err(f"resume it with: bkjob-async watch --state {shlex.quote(state)}{named}")
    return status


async def _watch_stored(
    ctx: Context,
    args: argparse.Namespace,
    target: Target,
    credentials: Credentials,
    mode: Mode,
    store: SqliteStore,
    name: str,
    job_ids: list[int],
) -> int:
    """``watch --state``: extend (job ids given) or resume the named watch of ``store``."""
    try:
        stored = await store.load(name)
    except errors.StoreError as exc:
        raise CliError(f"cannot use the state file: {exc}") from None
    if stored is None and not job_ids:
        raise CliError(f"no watch named {name!r} in {args.state} to resume: give the JOB_IDs")
    extend = bool(job_ids)
    if stored is not None:
        scopes = {scope for scope, _ in stored.jobs}
        if scopes and scopes != {target.scope}:
            where = ", ".join(sorted(map(str, scopes)))
            raise CliError(f"the watch {name!r} in {args.state} holds jobs of {where}")
        job_ids = list(dict.fromkeys((*open_jobs(stored), *job_ids)))
    if not job_ids:  # every job had ended: nothing left to show
        store.drop(name)
        ctx.err(f"the watch {name!r} in {args.state} has ended: nothing to resume")
        return EXIT_OK
    title = _title("watch", job_ids)
    durable = (store, name, extend)
    seeds = {} if stored is None else stored_states(stored)
    return await watch_jobs(
        ctx, args, target, credentials, job_ids, mode, title, durable=durable, seeds=seeds
    )


def stored_states(stored: StoredWatch) -> dict[int, JobState]:
    """Return the states a state file holds of a watch's jobs (unreadable ones are left out)."""
    states = {}
    for (_, job_id), data in stored.jobs.items():
        if data is not None:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                states[job_id] = from_data(data)
    return states


async def watch_jobs(
    ctx: Context,
    args: argparse.Namespace,
    target: Target,
    credentials: Credentials,
    job_ids: list[int],
    mode: Mode,
    title: str,
    *,
    client: BkJobClient | None = None,
    durable: tuple[Store, str, bool] | None = None,
    seeds: Mapping[int, JobState] | None = None,
    launched: bool = False,
) -> int:
    """Watch ``job_ids`` to their end, show them in ``mode``, summarize; return the status.

    The live view is up before the first request; with ``client`` given (it has answered
    already), the view starts connected. ``durable`` is ``(store, name, extend)``: the watch
    is the named watch of that open store, extended with ``job_ids`` or else resumed;
    ``seeds`` its jobs' stored states (ended ones included), so the summary counts them all.
    ``launched``: the jobs were launched a moment ago (``Poller.watch_jobs``).
    """
    tally = Tally(job_ids)
    for job_id, state in (seeds or {}).items():
        tally.seed_state(job_id, state)  # a resumed watch: its jobs as the state file has them
    started = time.monotonic()
    pollers: list[Poller] = []

    def statistics() -> PollerStatistics | None:
        return pollers[0].statistics() if pollers else None

    shown: Shown | None = None
    told: WatchSummary | None = None
    with ctx.interruptible():
        async with (
            showing(
                ctx,
                tally,
                mode=mode,
                title=title,
                server=target.server,
                statistics=statistics,
                connected=client is not None,
            ) as shown,
            contextlib.AsyncExitStack() as stack,
        ):
            metrics = metrics_server(ctx, stack, getattr(args, "metrics_port", None))
            if client is None:  # (only ``watch`` takes --metrics-port, and it passes none)
                instruments = () if metrics is None else (metrics,)
                client = await stack.enter_async_context(
                    open_client(target, credentials, instruments=instruments)
                )
                await first_read(client, target, job_ids[0], hosts=False)
                shown.connected()
            policy = policy_from(args, client.connection_limit)
            store = None if durable is None else durable[0]
            poller = await stack.enter_async_context(Poller(client, policy=policy, store=store))
            pollers.append(poller)
            if metrics is not None:
                metrics.track(poller)
                shown.observe = metrics.observe
            kinds = poller_kinds(args)
            if durable is None:
                watch = poller.watch_jobs(target.scope, job_ids, events=kinds, launched=launched)
            elif durable[2]:
                watch = poller.watch_jobs(target.scope, job_ids, name=durable[1], events=kinds)
            else:
                watch = await poller.resume(durable[1])
            shown.shows = shown_events(args)
            async with watch:
                try:
                    await shown.follow(watch, give_up_after=args.give_up_after)
                finally:
                    told = watch.summary()
    summary = tally.report(
        title=title,
        elapsed=time.monotonic() - started,
        statistics=statistics(),
        interrupted=ctx.interrupted,
    )
    show_summary(ctx, summary, mode)
    if mode is Mode.JSON and getattr(args, "json", False) and args.command == "watch":
        ctx.out(dumps(summary_object(summary, told)))  # (--json: the stream's last object)
    return watch_status(ctx, tally, shown, target)


def metrics_server(
    ctx: Context, stack: contextlib.AsyncExitStack, port: int | None
) -> PollerMetrics | None:
    """Serve Prometheus metrics on 127.0.0.1:``port`` until ``stack`` closes (``None``: none)."""
    registry = serve_metrics(ctx, stack, port)
    if registry is None:
        return None
    from ..metrics import PollerMetrics

    return PollerMetrics(registry=registry)


# --- status -----------------------------------------------------------------------------------


async def run_status(ctx: Context, args: argparse.Namespace) -> int:
    """Print each job's status once; exit 1 if any failed or could not be read."""
    target, credentials = connection(args, ctx.env)
    job_ids: list[int] = read_ids(args.job_ids, ctx.stdin)
    hosts = not args.no_hosts or args.failed
    results: dict[int, JobInstanceStatus | errors.BkJobError] = {}
    with ctx.interruptible(), connecting(ctx, target, json=args.json):
        async with open_client(target, credentials) as client:
            results[job_ids[0]] = await first_read(client, target, job_ids[0], hosts=hosts)
            limiter = anyio.CapacityLimiter(16)

            async def read(job_id: int) -> None:
                async with limiter:
                    try:
                        results[job_id] = await client.get_job_instance_status(
                            target.scope, job_id, with_hosts=hosts
                        )
                    except errors.BkJobError as exc:
                        results[job_id] = exc

            async with anyio.create_task_group() as tg:
                for job_id in job_ids[1:]:
                    tg.start_soon(read, job_id)
    if ctx.interrupted:
        ctx.err("interrupted")
        return EXIT_INTERRUPTED
    failed = False
    console: Any = None
    if not args.json and ctx.tty and rich_available():
        from ._live import make_console

        console = make_console(ctx.stdout)
    for job_id in job_ids:
        result = results[job_id]
        if isinstance(result, errors.BkJobError):
            failed = True
            if args.json:
                ctx.out(dumps({"job_instance_id": job_id, "error": error_to_dict(result)}))
            else:
                ctx.out(f"job {job_id}  ERROR  {explain(result, target)}")
            continue
        failed = failed or (result.finished and not result.job.status.is_success)
        if args.failed:
            result = only_failed(result)
        if args.json:
            ctx.out(dumps({"job_instance_id": job_id, **to_json(result)}))
        elif console is not None:
            from ._live import print_status

            print_status(console, result, hosts=hosts)
        else:
            ctx.out("\n".join(status_lines(result, hosts=hosts)))
    return EXIT_FAILED if failed else EXIT_OK


def only_failed(status: JobInstanceStatus) -> JobInstanceStatus:
    """Return ``status`` with only the steps that have failed hosts or containers, and only
    those."""
    steps = []
    for step in status.steps:
        bad = tuple(h for h in step.hosts or () if h.status.is_finished and not h.status.is_success)
        containers = pick_containers(step, failed=True, wanted=())
        if bad or containers:
            steps.append(attrs.evolve(step, hosts=bad, containers=tuple(containers)))
    return attrs.evolve(status, steps=tuple(steps))


# --- operate ----------------------------------------------------------------------------------


def parse_operation(words: Sequence[str]) -> tuple[int | None, str]:
    """Return ``(step id or None, operation name)`` from ``[STEP_ID] OPERATION``."""
    names = sorted([*STEP_OPERATIONS, *JOB_OPERATIONS])
    if len(words) not in (1, 2):
        raise CliError("expected: operate JOB_ID [STEP_ID] OPERATION")
    operation = words[-1]
    if operation not in STEP_OPERATIONS and operation not in JOB_OPERATIONS:
        raise CliError(f"unknown operation {operation!r}; choose one of: {', '.join(names)}")
    if len(words) == 1:
        return None, operation
    try:
        step_id: int = ID(words[0])
    except argparse.ArgumentTypeError as exc:
        raise CliError(f"STEP_ID: {exc}") from None
    return step_id, operation


def _pick_step(status: JobInstanceStatus, name: str, allowed: frozenset[int]) -> int:
    """Return the step an operation applies to when no STEP_ID was given."""
    candidates = [s for s in status.steps if int(s.status) in allowed]
    if candidates:
        return candidates[-1].step_instance_id
    steps = ", ".join(f"{s.step_instance_id} {code_name(s.status)}" for s in status.steps)
    raise CliError(
        f"no step of job {status.job.job_instance_id} is in a state that allows {name} "
        f"(needs {_statuses(allowed)}); its steps: {steps or 'none'}",
        EXIT_FAILED,
    )


def _statuses(codes: frozenset[int]) -> str:
    return " or ".join(code_name(JobStatus(code)) for code in sorted(codes))


async def run_operate(ctx: Context, args: argparse.Namespace) -> int:
    """Send one operation; with ``--watch`` follow the job until it ends again."""
    step_id, name = parse_operation(args.words)
    target, credentials = connection(args, ctx.env)
    job_id: int = args.job_id
    mode = choose_mode(ctx, json=args.json, piped=Mode.JSON)
    # Piped with --watch, every line is JSON: the acceptance too.
    json = args.json or (args.watch and mode is Mode.JSON)
    with ctx.interruptible():
        async with open_client(target, credentials) as client:
            with connecting(ctx, target, json=json):
                first = await first_read(client, target, job_id, hosts=False)
            if isinstance(first, errors.BkJobError):
                raise CliError(explain(first, target), EXIT_FAILED)
            step_id = await _operate(ctx, client, target, first, step_id, name, json)
            if args.watch:
                with anyio.move_on_after(target.timeout):
                    await wait_for_effect(client, target.scope, first)
                title = _title(f"operate {name}: watch", [job_id])
                return await watch_jobs(
                    ctx, args, target, credentials, [job_id], mode, title, client=client
                )
    if ctx.interrupted:
        ctx.err("interrupted")
        return EXIT_INTERRUPTED
    return EXIT_OK


async def _operate(
    ctx: Context,
    client: BkJobClient,
    target: Target,
    status: JobInstanceStatus,
    step_id: int | None,
    name: str,
    json: bool,
) -> int | None:
    job_id = status.job.job_instance_id
    code: int
    try:
        if name in JOB_OPERATIONS:
            job_op, _ = JOB_OPERATIONS[name]
            code, step_id = int(job_op), None
            await client.operate_job_instance(target.scope, job_id, job_op)
        else:
            step_op, allowed = STEP_OPERATIONS[name]
            code = int(step_op)
            if step_id is None:
                step_id = _pick_step(status, name, allowed)
            await client.operate_step_instance(target.scope, job_id, step_id, step_op)
    except errors.OperationNotAllowedError as exc:
        raise CliError(_refused(exc, status, step_id, name), EXIT_FAILED) from None
    except errors.BkJobError as exc:
        level = EXIT_FAILED if is_job_level(exc) else EXIT_USAGE
        raise CliError(explain(exc, target, api="operate"), level) from None
    what = f"job {job_id}" + (f" step {step_id}" if step_id is not None else "")
    if json:
        ctx.out(
            dumps(
                {
                    "event": "operation_accepted",
                    "job_instance_id": job_id,
                    "step_instance_id": step_id,
                    "operation": name,
                    "operation_code": code,
                }
            )
        )
    else:
        ctx.out(f"{what}: {name} (operation code {code}) accepted")
    return step_id


def _refused(
    exc: errors.OperationNotAllowedError,
    status: JobInstanceStatus,
    step_id: int | None,
    name: str,
) -> str:
    job = status.job
    if name in JOB_OPERATIONS:
        now = f"the job is {code_name(job.status)}"
        allowed = JOB_OPERATIONS[name][1]
    else:
        allowed = STEP_OPERATIONS[name][1]
        try:
            now = f"step {step_id} is {code_name(status.step(step_id or 0).status)}"
        except KeyError:
            now = f"job {job.job_instance_id} has no step {step_id}"
    return f"bk-job refused {name}: {exc}\n{now}; {name} needs {_statuses(allowed)}"


async def wait_for_effect(
    client: BkJobClient,
    scope: Scope,
    before: JobInstanceStatus,
    *,
    period: float = 0.2,
) -> None:
    """Wait until bk-job shows an accepted operation's effect (bound it with ``move_on_after``).

    bk-job applies operations asynchronously: right after the answer the job may still read
    as before, and a watch started then would end at once on the old, finished state.
    """

    def shape(status: JobInstanceStatus) -> tuple[Any, ...]:
        steps = tuple((s.step_instance_id, s.status, s.execute_count) for s in status.steps)
        return status.finished, status.job.status, steps

    old = shape(before)
    while True:
        now = await client.get_job_instance_status(
            scope, before.job.job_instance_id, with_hosts=False
        )
        if shape(now) != old:
            return
        await anyio.sleep(period)


# --- simulate ---------------------------------------------------------------------------------


async def run_simulate(ctx: Context, args: argparse.Namespace) -> int:
    """Serve the simulator in the foreground until Ctrl-C (or ``--run-for``)."""
    from ..testing._cli import accepted_apps, export_hint, serve

    try:
        accepted_apps(args)
    except ValueError as exc:
        raise CliError(str(exc)) from None

    def hint(url: str) -> None:  # once bound: the real URL, valid shell
        ctx.out(export_hint(url, args))

    with ctx.interruptible():
        try:
            await serve(args, out=ctx.stdout, on_ready=hint)
        except OSError as exc:
            raise CliError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    if ctx.interrupted:
        ctx.out("simulator stopped")
    return EXIT_OK


#: What the command needs whatever is shown: each job's end, outages, and jobs failing alone.
_NEEDED = frozenset(
    {
        events.JobFinished,
        events.WatchFailed,
        events.WatchTimedOut,
        events.PollingStalled,
        events.PollingResumed,
        events.JobPollFailing,
        events.JobPollRecovered,
    }
)


def poller_kinds(args: argparse.Namespace) -> frozenset[type] | None:
    """Return the event classes to ask the poller for (``None``: every event)."""
    names: frozenset[str] | None = getattr(args, "events", None)
    if not names:
        return None
    return _NEEDED | {cls for cls, name in EVENT_NAMES.items() if name in names}


def shown_events(args: argparse.Namespace) -> Callable[[events.Event], bool] | None:
    """Return which events to show, or ``None`` for all."""
    names: frozenset[str] | None = getattr(args, "events", None)
    statuses: frozenset[str] | None = getattr(args, "status", None)
    if not names and not statuses:
        return None

    def shows(event: events.Event) -> bool:
        if waits_for_a_person(event):
            return True
        if names and EVENT_NAMES[type(event)] not in names:
            return False
        status = getattr(event, "current", None) or getattr(event, "status", None)
        return not statuses or status is None or status.name in statuses

    return shows


def summary_object(summary: Summary, told: WatchSummary | None) -> dict[str, Any]:
    """Return the final summary as one JSON object: every job and host, nothing cut."""
    ids = [record.job_instance_id for record in summary.failed_jobs]
    return {
        "event": "summary",
        "title": summary.title,
        "elapsed": round(summary.elapsed, 3),
        "interrupted": summary.interrupted,
        "jobs": summary.jobs,
        "jobs_by_outcome": dict(summary.jobs_by_outcome),
        "failed_jobs": ids,
        "waiting_jobs": [record.job_instance_id for record in summary.waiting_jobs],
        "timed_out_jobs": [record.job_instance_id for record in summary.timed_out_jobs],
        "hosts": summary.hosts,
        "containers": summary.containers,
        "hosts_by_status": dict(summary.hosts_by_status),
        "hosts_unfinished": summary.hosts_unfinished,
        "polls": summary.polls,
        "unchanged_polls": summary.unchanged_polls,
        "retries": summary.retries,
        "errors": dict(summary.errors),
        "events": summary.events,
        "watch": None if told is None else told.to_dict(),
    }
