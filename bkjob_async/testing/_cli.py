"""Rule: the simulator's command line imports nothing of ``cli/``, the floor above it.

Run the simulator by hand: ``python -m bkjob_async.testing --port 9000 --jobs 50 --hosts 20``.

``main(argv)`` prints where the simulator listens, how to authenticate and which jobs and plans
exist, then serves until interrupted (or for ``--run-for`` seconds). ``bkjob-async simulate``
uses the same parser, ``serve`` and ``export_hint``; the argparse number types both command
lines take are a floor below both (``_numbers.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import shlex
import sys
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from .._numbers import Number, number
from ..config import Scope
from ..models.enums import HostStatus, JobStatus, StepType
from ._plan import HostPlan, StepPlan
from ._simulator import BkJobSimulator

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["accepted_apps", "build_parser", "export_hint", "main", "serve"]


class _Span(argparse.Action):
    """``MIN MAX`` seconds: both positive, ``MIN <= MAX``."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        low, high = values
        if not 0 < low <= high:
            parser.error(f"{option} needs 0 < MIN <= MAX, got {low:g} {high:g}")
        setattr(namespace, self.dest, (low, high))


#: The numeric options, in ``--help`` order: flag, type, default, help, other ``add_argument``
#: keywords. Each number is checked as it is parsed (``number``): a bad one is a usage error.
_NUMBERS: tuple[tuple[str, Number, object, str, dict[str, Any]], ...] = (
    ("--port", number(int, 0, 65535), 9000, "port to bind; 0: any free port (%(default)s)", {}),
    (
        "--jobs",
        number(int, 0, 100_000),
        50,
        "jobs to create at start, the command-line tour's three first (%(default)s)",
        {},
    ),
    ("--hosts", number(int, 1, 100_000), 20, "hosts per step of those jobs (%(default)s)", {}),
    ("--biz", number(int, 1, 2**63 - 1), 2, "business id (%(default)s)", {}),
    ("--seed", number(int, 0, 2**32 - 1), 0, "seed for hosts, ids and outcomes (%(default)s)", {}),
    ("--fail-rate", number(float, 0.0, 1.0), 0.01, "chance a host fails, 0..1 (%(default)s)", {}),
    (
        "--duration",
        number(float, 0.0, 86_400.0, above=True),
        (1.0, 5.0),
        "seconds a host runs (1 5)",
        {"nargs": 2, "action": _Span, "metavar": ("MIN", "MAX")},
    ),
    ("--retry-lag", number(float, 0.0, 3600.0), 0.5, "seconds of retry lag (%(default)s)", {}),
    (
        "--operation-lag",
        number(float, 0.0, 3600.0),
        0.2,
        "seconds before an operation's step change (and a terminate) applies (%(default)s)",
        {},
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser (shared with ``bkjob-async simulate``)."""
    parser = argparse.ArgumentParser(
        prog="python -m bkjob_async.testing",
        description="Serve a simulated bk-job (API gateway v3, ESB jobv3 and ESB v2 paths).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    for flag, kind, default, text, more in _NUMBERS:
        parser.add_argument(flag, type=kind, default=default, help=text, **more)
    parser.add_argument(
        "--app",
        type=_app,
        action="append",
        default=[],
        metavar="CODE[:SECRET]",
        help="accept only this app code (repeatable), with its secret or --secret's "
        "(default: any non-empty code and secret)",
    )
    parser.add_argument(
        "--secret", metavar="SECRET", help="the secret of each --app CODE given without one"
    )
    parser.add_argument(
        "--run-for",
        type=number(float, 0.0, 1e9),
        metavar="SECONDS",
        help="stop after this many seconds (default: until interrupted)",
    )
    return parser


def _app(text: str) -> tuple[str, str | None]:
    """An ``--app`` value: ``CODE`` or ``CODE:SECRET``, each part non-empty."""
    code, sep, secret = text.partition(":")
    if not code or (sep and not secret):
        raise argparse.ArgumentTypeError(f"needs CODE or CODE:SECRET, got {text!r}")
    return code, secret or None


def accepted_apps(options: argparse.Namespace) -> dict[str, str] | None:
    """Return the app codes and secrets ``--app`` and ``--secret`` accept (``None``: any).

    :raises ValueError: an ``--app CODE`` without a secret, or ``--secret`` without ``--app``.
    """
    if options.secret is not None and not options.secret:
        raise ValueError("--secret needs a non-empty SECRET")
    if not options.app:
        if options.secret is not None:
            raise ValueError("--secret is the secret of an --app CODE: give --app CODE too")
        return None
    apps: dict[str, str] = {}
    for code, secret in options.app:
        secret = secret or options.secret
        if secret is None:
            raise ValueError(
                f"--app {code} has no secret: --app {code} --secret SECRET, or --app {code}:SECRET"
            )
        apps[code] = secret
    return apps


#: What the command-line tour (docs/howto/command-line.md) finds in a simulator started with its
#: defaults.
TOUR = (
    "10001 has succeeded, 10002 has failed (one host, exit code 1), 10003 waits for a confirmation"
)


def _tour(hosts: int) -> list[list[StepPlan]]:
    """The first three jobs: ended or waiting within a second, as the command-line tour needs.

    10001 succeeds, 10002 fails on one host (exit code 1), 10003 waits at a confirmation
    from the start and then runs hosts that succeed; none of them fails at random.
    """
    quick = (0.05, 0.5)
    ok = [HostPlan(duration=quick) for _ in range(hosts)]
    bad = HostPlan(HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, duration=quick, exit_code=1)
    return [
        [StepPlan(hosts=tuple(ok), name="check")],
        [StepPlan(hosts=(bad, *ok[1:]), name="deploy")],
        [StepPlan(StepType.MANUAL_CONFIRM, name="confirm"), StepPlan(hosts=tuple(ok))],
    ]


def _populate(sim: BkJobSimulator, options: argparse.Namespace) -> list[int]:
    """Create the plans and ``--jobs`` jobs: the tour's three first, then a running mix."""
    scope, hosts = Scope.biz(options.biz), max(1, options.hosts)
    shapes = (
        [StepPlan(hosts=hosts)],
        [StepPlan(hosts=hosts), StepPlan(StepType.FILE, hosts=hosts)],
        [StepPlan(hosts=hosts), StepPlan(StepType.MANUAL_CONFIRM), StepPlan(hosts=hosts)],
    )
    for plan_id, steps in enumerate(shapes, start=1):
        sim.add_plan(plan_id, steps, name=f"demo plan {plan_id}")
    tour = _tour(min(hosts, 5))
    return [
        sim.create_job(
            scope,
            tour[index] if index < len(tour) else shapes[index % len(shapes)],
            name=f"demo job {index + 1}",
        )
        for index in range(options.jobs)
    ]


async def _tour_ready(sim: BkJobSimulator, tour: list[int]) -> None:
    """Wait (a second or so) until the tour's jobs stand as the banner says they do."""
    ended, waiting = tour[:2], tour[2]
    with anyio.move_on_after(10):
        for _ in range(200):  # (the simulator has no "job changed" event to wait for)
            if (
                all(sim.job(i).status.is_finished for i in ended)
                and sim.job(waiting).status is JobStatus.WAITING_USER
            ):
                return
            await anyio.sleep(0.05)


async def serve(
    options: argparse.Namespace,
    out: TextIO | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Start a simulator from parsed options, describe it on ``out`` (stdout), and serve.

    ``on_ready`` is called with the URL once the port is bound.
    """
    out = sys.stdout if out is None else out
    sim = BkJobSimulator(
        seed=options.seed,
        host=options.host,
        port=options.port,
        apps=accepted_apps(options),
        retry_lag=options.retry_lag,
        operation_lag=options.operation_lag,
        host_duration=tuple(options.duration),
        fail_rate=options.fail_rate,
    )
    async with sim:
        job_ids = _populate(sim, options)
        if len(job_ids) >= 3 and job_ids[0] == 10001:
            await _tour_ready(sim, job_ids[:3])
        shown = ", ".join(map(str, job_ids[:5])) + (" ..." if len(job_ids) > 5 else "")
        print(f"bk-job simulator listening on {sim.url}", file=out)
        print(f"  gateway v3: {sim.url}/api/v3/<api>", file=out)
        print(f"  ESB jobv3:  {sim.url}/api/c/compapi/v2/jobv3/<api>/", file=out)
        print(f"  ESB v2:     {sim.url}/api/c/compapi/v2/job/<api>/", file=out)
        print(f"  scope biz:{options.biz}; jobs {shown}; plans 1, 2, 3", file=out)
        if len(job_ids) >= 3 and job_ids[0] == 10001:
            print(f"  the tour of docs/howto/command-line.md: {TOUR}", file=out)
        print(
            '  auth: X-Bkapi-Authorization {"bk_app_code","bk_app_secret","bk_username"}', file=out
        )
        out.flush()
        if on_ready is not None:
            on_ready(sim.url)
        if options.run_for is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(options.run_for)


def export_hint(url: str, options: argparse.Namespace) -> str:
    """Return the shell lines that watch this simulator's jobs (the credentials it accepts).

    The first ``--app``'s code and secret, or ``demo``/``demo`` when it accepts any; each value
    is quoted for the shell. ``bkjob-async simulate`` prints the same lines.
    """
    apps = accepted_apps(options)
    code, secret = next(iter(apps.items())) if apps else ("demo", "demo")
    return (
        f"\nwatch its jobs from another terminal:\n"
        f"  export BKJOB_URL={url} BKJOB_SCOPE=biz:{options.biz}\n"
        f"  export BKJOB_APP_CODE={shlex.quote(code)} BKJOB_APP_SECRET={shlex.quote(secret)}"
        " BKJOB_USERNAME=admin\n"
        "  bkjob-async watch 10001 10002 10003\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m bkjob_async.testing`` with ``argv``: serve until Ctrl-C or ``--run-for``.

    Bad arguments are usage errors (one line, exit status 2) before anything is bound; a port
    that cannot be bound is one line and status 2 too. The command line's package is never
    imported here (``testing/`` sits beside ``cli/``, not above it).
    """
    parser = build_parser()
    try:
        options = parser.parse_args(sys.argv[1:] if argv is None else argv)
        try:
            accepted_apps(options)
        except ValueError as exc:
            parser.error(str(exc))
    except SystemExit as exc:  # --help (0), or a usage error (2), said on stderr already
        return exc.code if isinstance(exc.code, int) else 2

    def hint(url: str) -> None:
        print(export_hint(url, options), flush=True)

    try:
        anyio.run(functools.partial(serve, options, on_ready=hint))
    except OSError as exc:
        print(
            f"{parser.prog}: cannot serve on {options.host}:{options.port}: {exc}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        print("simulator stopped", flush=True)
    return 0
