"""The argument parser: every command, flag, default and example the ``--help`` pages show.

Rule: no flag takes a secret (credentials come from the environment only), and help text shows
variable names, never their values. Parsing never exits the process: ``--help`` and usage
errors become ``ParserExit`` for ``main`` to turn into an exit status.
"""

from __future__ import annotations

import argparse
import difflib
import re
import textwrap
from typing import IO, TYPE_CHECKING, Any, NoReturn

from ..config import ApiFlavor
from ..models.enums import HostStatus, JobStatus
from ._cluster import add_cluster_options
from ._commands import JOB_OPERATIONS, STEP_OPERATIONS
from ._connect import DEFAULT_TIMEOUT, ENV_VARS, LANGUAGES
from ._containers import add_container_arguments
from ._dashboard import add_dashboard_command
from ._logs import LEVELS
from ._numbers import ID, IDS, PER_SECOND, SECONDS, number
from ._runtime import EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ._runtime import Context

__all__ = ["ParserExit", "build_parser"]

_ENVIRONMENT = "environment:\n" + "\n".join(
    f"  {name:<20} {text}" for name, text in ENV_VARS.items()
)
_EXIT = (
    "exit status: 0 every job succeeded; 1 a job failed, timed out or could not be watched;\n"
    "  2 usage, credentials or connection error, or bk-job unreachable past --give-up-after;\n"
    "  130 interrupted (Ctrl-C)"
)
#: Seconds a watch goes on while bk-job cannot be reached (``--give-up-after``).
DEFAULT_GIVE_UP = 300.0


class ParserExit(Exception):
    """Parsing ended: ``--help`` printed (status 0) or a usage error (status 2)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that writes to the command's streams and never calls ``sys.exit``."""

    context: Context | None = None

    def _print_message(self, message: str, file: Any = None) -> None:
        if not message or self.context is None:
            super()._print_message(message, file)
            return
        import sys

        stream = self.context.stderr if file is sys.stderr else self.context.stdout
        stream.write(message)
        stream.flush()

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._print_message(message, _stderr())
        raise ParserExit(status)

    def error(self, message: str) -> NoReturn:
        """Print the usage and ``message``; a mistyped command gets the nearest one (as git
        does), and no command at all the list of commands (``--help``), on stderr. A bad
        value is one line, and where to read more."""
        choices = _commands(self)
        if choices and message.startswith("the following arguments are required:"):
            self.print_help(_stderr())
            self.exit(EXIT_USAGE, f"\n{self.prog}: error: {message}\n")
        if re.match(r"argument [^:]+: (?!invalid choice)", message):  # a bad value: one line
            self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\nsee '{self.prog} --help'\n")
        typed = re.match(r"argument \w+: invalid choice: '(.*?)'", message)
        if choices and typed:
            near = difflib.get_close_matches(typed[1], choices, n=1)
            if near:
                message += f" (did you mean {near[0]}?)"
        self.print_usage(_stderr())
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Parse ``args``; an unknown flag is reported by the command it was given to.

        argparse lets the top-level parser report it, with the top-level usage; here the
        command's own parser does, with its usage and the nearest flag it has, as git does.
        """
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = _chosen(self, parsed)
            message = f"unrecognized arguments: {' '.join(extras)}"
            flags = [s for a in command._actions for s in a.option_strings]
            for extra in extras:
                near = difflib.get_close_matches(extra.split("=", 1)[0], flags, n=1)
                if extra.startswith("-") and near:
                    message += f" (did you mean {near[0]}?)"
                    break
            command.error(message)
        return parsed


def _chosen(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> _Parser:
    """Return the deepest (sub)command parser ``parsed`` went through."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices.get(getattr(parsed, action.dest, None) or "")
            if sub is not None:
                return _chosen(sub, parsed)
    assert isinstance(parser, _Parser)
    return parser


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    """Return the names of ``parser``'s subcommands (none if it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def _stderr() -> IO[str]:
    import sys

    return sys.stderr


#: Argument types beyond ``ID`` and ``SECONDS`` (``_numbers``): counts and bounds of their own.
_IN_FLIGHT = number(int, 1, 1024)
_PORT = number(int, 0, 65535)
_RATE = number(float, 0.0, 1.0)
_SCRIPT_TIMEOUT = number(int, 1, 259_200)  # bk-job refuses more (1240003)


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _job_ids(command: argparse.ArgumentParser, nargs: str, more: str = "") -> None:
    """Add the ``JOB_ID`` arguments: ids, or ``-`` to read more from stdin."""
    command.add_argument(
        "job_ids",
        metavar="JOB_ID",
        type=IDS,
        nargs=nargs,
        help="job ids; - reads more from stdin (ids, or the JSON lines of list --json)" + more,
    )


def _limit(command: argparse.ArgumentParser, default: int, what: str = "") -> None:
    """Add ``--limit``: at most this many rows of a list, 0 for all."""
    command.add_argument(
        "--limit",
        type=number(int, 0, 10**9),
        default=default,
        help=f"at most this many{what} ({default}; 0: all)",
    )


def _launch_options(command: argparse.ArgumentParser) -> None:
    """Add where a launch runs (hosts by id or address), as whom, and the job's name."""
    command.add_argument("--host-id", type=ID, action="append", metavar="ID", help="target host id")
    command.add_argument("--host", action="append", metavar="HOST", help="target CLOUD:IP or IP")
    command.add_argument("--account", default="root", help="execution account alias (root)")
    command.add_argument("--name", help="the job's name")


def _then_watch(command: argparse.ArgumentParser) -> None:
    """Add ``--watch`` and ``--json`` to a command that starts a job."""
    command.add_argument("--watch", action="store_true", help="then watch the job to its end")
    command.add_argument("--json", action="store_true", help="JSON lines even on a terminal")


def _connection_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection (credentials come from the environment only)")
    group.add_argument("--url", help="bk-job URL (default: $BKJOB_URL)")
    group.add_argument(
        "--flavor",
        choices=[f.value for f in ApiFlavor],
        help="API generation (default: $BKJOB_FLAVOR, else apigw-v3)",
    )
    group.add_argument(
        "--scope",
        help="biz:<id> or biz_set:<id>; a bare number is a business (default: $BKJOB_SCOPE)",
    )
    group.add_argument("--tenant-id", help="X-Bk-Tenant-Id on multi-tenant installs")
    group.add_argument(
        "--timeout",
        type=SECONDS,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"wait this long for an answer, then say so ({DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--language",
        choices=sorted(LANGUAGES),
        help="language of bk-job's messages (default: $BKJOB_LANGUAGE, else en)",
    )
    group.add_argument(
        "--ca-bundle",
        metavar="PATH",
        help="verify bk-job's certificate against this CA bundle, an internal CA "
        "(default: $BKJOB_CA_BUNDLE, else the system's CAs)",
    )
    group.add_argument(
        "--client-cert",
        metavar="PATH",
        help="client certificate for mutual TLS: a PEM file with its key, or the certificate "
        "with --client-key (default: $BKJOB_CLIENT_CERT)",
    )
    group.add_argument(
        "--client-key", metavar="PATH", help="the client certificate's key, if in its own file"
    )
    group.add_argument(
        "--proxy", metavar="URL", help="an http:// proxy for every request (default: $BKJOB_PROXY)"
    )
    group.add_argument(
        "--trust-env",
        action="store_true",
        help="take proxies from HTTP(S)_PROXY/NO_PROXY and the CA bundle from REQUESTS_CA_BUNDLE",
    )
    return parent


def _polling_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("polling")
    group.add_argument(
        "--interval", type=SECONDS, default=1.0, help="seconds between polls of a changing job (1)"
    )
    group.add_argument(
        "--max-interval",
        type=SECONDS,
        default=None,
        help="longest wait between polls of a quiet job (15, or --interval if longer; "
        "shorter than --interval is refused)",
    )
    group.add_argument(
        "--deadline",
        type=SECONDS,
        default=None,
        help="seconds; jobs still running then end as timed out (apart from failed ones)",
    )
    group.add_argument("--max-in-flight", type=_IN_FLIGHT, default=32, help="requests at once (32)")
    group.add_argument(
        "--give-up-after",
        type=SECONDS,
        default=DEFAULT_GIVE_UP,
        metavar="SECONDS",
        help="end with exit status 2 when bk-job stays unreachable this long "
        f"({DEFAULT_GIVE_UP:g}); until then an outage is shown and polls go on",
    )
    return parent


def build_parser(context: Context | None = None) -> argparse.ArgumentParser:
    """Return the ``bkjob-async`` parser; ``context`` receives help and usage errors."""
    from .. import __version__

    class Parser(_Parser):
        pass

    Parser.context = context
    formatter = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog="bkjob-async",
        description=(
            "Launch, watch, inspect and operate BlueKing Job (bk-job) jobs, or see a demo."
        ),
        formatter_class=formatter,
        epilog=textwrap.dedent(
            """\
            start here:
              bkjob-async demo                      simulated bk-job, nothing to set up
              bkjob-async COMMAND --help            flags and examples of one command
            """
        )
        + "\n"
        + _ENVIRONMENT
        + "\n\n"
        + _EXIT,
    )
    parser.add_argument("--version", action="version", version=f"bkjob-async {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    connection, polling = _connection_options(), _polling_options()
    common: dict[str, Any] = {"formatter_class": formatter}
    with_connection: dict[str, Any] = {"parents": [connection]}
    with_connection_and_polling: dict[str, Any] = {"parents": [connection, polling]}

    demo = commands.add_parser(
        "demo",
        help="launch and watch jobs on an embedded simulator (no server, no credentials)",
        description=(
            "Start an embedded bk-job simulator, launch jobs through the client, watch them\n"
            "all with the poller (live view on a terminal, plain lines in a pipe), print a\n"
            "summary, then retry the failed hosts of one failed job and watch that round."
        ),
        epilog=_examples(
            "bkjob-async demo",
            "bkjob-async demo --jobs 20 --hosts 10 --fail-rate 0.2",
            "bkjob-async demo | cat              # plain progress lines, as in CI logs",
            "bkjob-async demo --json | jq -c 'select(.event==\"job_finished\")|.status_name'",
        ),
        **common,
    )
    demo.add_argument(
        "--jobs", type=number(int, 1, 10_000), default=200, help="jobs to launch (200)"
    )
    demo.add_argument("--hosts", type=number(int, 1, 5_000), default=50, help="hosts per job (50)")
    demo.add_argument(
        "--fail-rate",
        type=_RATE,
        default=0.001,
        help="chance that a host fails (0.001: about 5%% of 50-host jobs fail)",
    )
    demo.add_argument(
        "--seed",
        type=number(int, 0, 2**32 - 1),
        default=0,
        help="simulator seed: hosts and outcomes (0)",
    )
    demo.add_argument(
        "--host-duration",
        type=SECONDS,
        nargs=2,
        default=(1.0, 6.0),
        metavar=("MIN", "MAX"),
        help="seconds a simulated host runs (1 6)",
    )
    demo.add_argument(
        "--no-faults", action="store_true", help="do not inject the few transient server faults"
    )
    demo.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    demo.add_argument(
        "--dashboard-port",
        type=_PORT,
        default=0,
        metavar="PORT",
        help="serve the web dashboard on 127.0.0.1:PORT while the demo runs (0: any free port)",
    )
    demo.add_argument("--no-dashboard", action="store_true", help="do not serve the web dashboard")
    demo.add_argument(
        "--workers",
        type=number(int, 2, 16),
        metavar="N",
        help="cluster mode: a private redis-server and N worker processes, one killed mid-run "
        "(needs redis-server and the redis extra)",
    )

    watch = commands.add_parser(
        "watch",
        **with_connection_and_polling,
        help="watch jobs until they end (live view, or JSON lines when piped)",
        description=(
            "Watch jobs until each one ends. On a terminal: a live view, then a summary.\n"
            "Piped or with --json: one JSON object per event per line on stdout (the summary\n"
            "goes to stderr). Events: host_transition, step_transition, job_transition,\n"
            "job_finished, watch_failed, watch_timed_out, and polling_stalled/polling_resumed\n"
            "once per outage (bk-job unreachable: no job fails for it); enums as ints with\n"
            "*_name; times in UTC ISO 8601 with milliseconds (2025-01-01T08:00:02.000+00:00)."
        ),
        epilog=_examples(
            "export BKJOB_APP_CODE=my-app BKJOB_APP_SECRET=... BKJOB_USERNAME=admin",
            "bkjob-async watch 123456 --url https://bkapi.example.com/api/bk-job/prod --scope biz:2",
            "bkjob-async watch 123 124 --url https://paas.example.com --flavor esb-jobv3 --scope biz:2",
            "bkjob-async watch 123 --json | jq -c 'select(.event==\"host_transition\")'",
            "bkjob-async watch 123 --deadline 600 || echo 'failed or still running'",
            "bkjob-async watch 123 124 --metrics-port 9100   # Prometheus scrapes it meanwhile",
            "bkjob-async watch 123 124 --state watch.db   # interrupted? then: --state watch.db",
        )
        + "\n\n"
        + _EXIT,
        **common,
    )
    _job_ids(watch, "*")
    watch.add_argument(
        "--state",
        metavar="FILE",
        help="keep the watch in this SQLite file: run again with the same file and no JOB_ID "
        "to resume where it was (events not yet shown come again; none is lost)",
    )
    watch.add_argument(
        "--name",
        help="the watch's name in the --state file (default: watch); one file holds many",
    )
    add_cluster_options(watch, watch=True)
    watch.add_argument("--group", help="with --redis: the consumer group to read in (cli)")
    watch.add_argument(
        "--follow",
        action="store_true",
        help="with --redis: go on after the JOB_IDs ended, until Ctrl-C (as without JOB_IDs)",
    )
    watch.add_argument("--json", action="store_true", help="JSON lines even on a terminal")
    watch.add_argument(
        "--events",
        type=_names(EVENT_NAMES),
        metavar="NAMES",
        help="show only these events, by name, comma-separated (job_finished,watch_failed: a "
        "wait for ends, polled cheaply); a job that comes to wait for a person and outages "
        "are always shown",
    )
    watch.add_argument(
        "--status",
        type=_names(STATUS_NAMES),
        metavar="NAMES",
        help="show only the events that reach these statuses (FAIL,WAITING_USER, host "
        "statuses too); events without a status are shown",
    )
    watch.add_argument(
        "--metrics-port",
        type=_PORT,
        metavar="PORT",
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics while watching (with --redis: "
        "the cluster's and this consumer's; 0: any free port, printed); needs the prometheus "
        "extra",
    )

    _cluster_commands(commands, connection, polling, common)
    add_dashboard_command(
        commands,
        [connection, polling],
        common,
        _examples(
            "bkjob-async dashboard --simulate            # 1,000 simulated jobs, nothing to set up",
            "bkjob-async dashboard 123 124 --url https://bkapi.example.com/api/bk-job/prod "
            "--scope biz:2",
            "BKJOB_DASHBOARD_TOKEN=$(openssl rand -hex 16) bkjob-async dashboard 123 "
            "--allow-operations",
        ),
    )

    status = commands.add_parser(
        "status",
        **with_connection,
        help="print the status of jobs once, with per-host (or per-container) results",
        description=(
            "Print each job's status, steps and per-host results once: tables on a terminal,\n"
            "plain aligned lines when piped, one JSON object per job with --json. A job run in\n"
            "Kubernetes containers (--flavor apigw-v4) lists its containers instead."
        ),
        epilog=_examples(
            "bkjob-async status 123456 --scope biz:2",
            "bkjob-async status 123 124 --no-hosts",
            "bkjob-async status 123 --failed          # only what failed, and where",
            "bkjob-async status 123 --json | jq '.steps[].hosts[] | select(.status != 9)'",
        )
        + "\n\nexit status: 0 no job failed; 1 a job failed or could not be read; 2 usage, "
        "credentials or connection error",
        **common,
    )
    _job_ids(status, "+")
    status.add_argument("--json", action="store_true", help="one JSON object per job")
    status.add_argument(
        "--no-hosts", action="store_true", help="jobs and steps only (no hosts nor containers)"
    )
    status.add_argument(
        "--failed",
        action="store_true",
        help="only the steps with failed hosts or containers, only those",
    )

    step_names = ", ".join(STEP_OPERATIONS)
    job_names = ", ".join(JOB_OPERATIONS)
    operate = commands.add_parser(
        "operate",
        **with_connection_and_polling,
        usage="bkjob-async operate JOB_ID [STEP_ID] OPERATION [--watch] [options]",
        help="retry, skip, confirm or terminate: send one operation to a job or step",
        description=(
            f"Send one operation.\n  step operations: {step_names}\n"
            f"  job operations:  {job_names}\n"
            "Without STEP_ID, a step operation applies to the step whose state allows it."
        ),
        epilog=_examples(
            "bkjob-async operate 123 456 retry-failed --watch",
            "bkjob-async operate 123 retry-failed          # the failed step, found for you",
            "bkjob-async operate 123 456 confirm",
            "bkjob-async operate 123 terminate",
        )
        + "\n\nexit status: 0 accepted (with --watch: the job then succeeded); 1 refused\n"
        "  (the reason and the state it needs are printed) or the job failed; 2 usage,\n"
        "  credentials or connection error",
        **common,
    )
    operate.add_argument("job_id", metavar="JOB_ID", type=ID)
    operate.add_argument("words", metavar="[STEP_ID] OPERATION", nargs="+")
    operate.add_argument("--watch", action="store_true", help="then watch the job until it ends")
    operate.add_argument("--json", action="store_true", help="JSON lines even on a terminal")

    logs = commands.add_parser(
        "logs",
        **with_connection,
        help="print the logs of a job's hosts or containers (all, failed, or named)",
        description=(
            "Print the logs of a job's hosts, step by step: every host, only the failed\n"
            "ones (--failed), or the ones named (--host). Asked 500 hosts per request.\n"
            "A job in Kubernetes containers (--flavor apigw-v4): its containers, 50 a request\n"
            "(--container names them). Needs the v3 API or later (apigw-v3, apigw-v4 or\n"
            "esb-jobv3): ESB v2 has no log API."
        ),
        epilog=_examples(
            "bkjob-async logs 123 --failed               # why did it fail?",
            "bkjob-async logs 123 --step 456 --host 0:10.0.0.9  # one host of step 456",
            "bkjob-async list --json | bkjob-async logs - --failed  # every listed job",
            "bkjob-async logs 123 --failed --json | jq -r .log_content",
        )
        + "\n\nexit status: 0 read (even with no matching host); 1 no such job or step; 2 usage,\n"
        "  credentials or connection error, or a flavor without the API",
        **common,
    )
    _job_ids(
        logs, "+", ". Two ids alone read as JOB_ID STEP_ID, as before (deprecated: use --step)"
    )
    logs.add_argument("--step", type=ID, metavar="STEP_ID", help="only this step of each job")
    logs.add_argument("--failed", action="store_true", help="only hosts (containers) that failed")
    logs.add_argument(
        "--host",
        action="append",
        metavar="HOST",
        help="a host id, CLOUD:IP or IP (repeatable)",
    )
    logs.add_argument(
        "--container",
        action="append",
        metavar="CONTAINER",
        help="a container's id or name (repeatable; gateway v4)",
    )
    logs.add_argument("--json", action="store_true", help="one JSON object per host log")

    history = commands.add_parser(
        "list",
        **with_connection,
        help="list the jobs started recently (history), newest first",
        description=(
            "List the jobs created since --since (24h by default), newest first, reading the\n"
            "history a page at a time. Needs the v3 API (apigw-v3 or esb-jobv3)."
        ),
        epilog=_examples(
            "bkjob-async list                            # the last 24 hours",
            "bkjob-async list --since 2h --status FAIL   # what failed lately",
            "bkjob-async list --since 2025-06-01T08:00 --limit 0 --json",
        ),
        **common,
    )
    history.add_argument(
        "--since", default="24h", help="90s, 30m, 6h, 7d ago, or an ISO 8601 time (24h)"
    )
    history.add_argument("--status", help="a job status name (FAIL, RUNNING, ...) or code")
    history.add_argument("--name", help="jobs whose name contains this")
    history.add_argument("--operator", help="jobs started by this user")
    _limit(history, 50, " jobs")
    history.add_argument(
        "--page-size", type=number(int, 1, 1000), default=100, help="jobs per request (100)"
    )
    history.add_argument("--json", action="store_true", help="one JSON object per job")

    launch = commands.add_parser(
        "launch",
        help="start a script, a file transfer or a job plan (then --watch it)",
        description="Start a job and print its id; with --watch, follow it to its end.",
        epilog=_examples(
            "bkjob-async launch script --host-id 1001 --host-id 1002 --content 'uptime'",
            "bkjob-async launch script --host 0:10.0.0.9 --file deploy.sh --watch",
            "bkjob-async launch file --host-id 1001 --from-host-id 1002 --source /etc/hosts "
            "--dest /tmp/",
            "bkjob-async launch plan 42 --var version=1.2.3 --watch",
            "bkjob-async launch script --flavor apigw-v4 --cluster BCS-K8S-00001 "
            "--namespace prod --workload deployment/api --container app --content 'uptime'",
        ),
        **common,
    )
    kinds = launch.add_subparsers(dest="kind", metavar="KIND", required=True)
    launch_common: dict[str, Any] = {
        "parents": [connection, polling],
        "formatter_class": formatter,
    }
    script = kinds.add_parser(
        "script", help="fast_execute_script on hosts or containers", **launch_common
    )
    file = kinds.add_parser("file", help="fast_transfer_file to hosts", **launch_common)
    plan = kinds.add_parser("plan", help="execute_job_plan", **launch_common)
    for sub in (script, file):
        _launch_options(sub)
    script.add_argument("--content", help="the script text")
    script.add_argument("--file", help="a file holding the script")
    script.add_argument("--script-id", help="a script of the scope's library: its online version")
    script.add_argument("--script-version-id", type=ID, metavar="ID", help="a script version")
    script.add_argument(
        "--script-language",
        choices=["shell", "bat", "perl", "python", "powershell"],
        default="shell",
        help="(shell)",
    )
    script.add_argument("--params", help="the script's parameters")
    add_container_arguments(script)
    script.add_argument(
        "--script-timeout", type=_SCRIPT_TIMEOUT, help="seconds bk-job lets the script run"
    )
    file.add_argument("--source", action="append", required=True, help="a file to copy")
    file.add_argument("--from-host-id", type=ID, action="append", metavar="ID")
    file.add_argument("--from-host", action="append", metavar="HOST", help="CLOUD:IP or IP")
    file.add_argument("--dest", required=True, help="the target directory")
    plan.add_argument("plan_id", metavar="PLAN_ID", type=ID)
    plan.add_argument(
        "--var",
        action="append",
        metavar="NAME=VALUE",
        help="a global variable (the plan is read first: names are checked, passwords masked)",
    )
    for sub in (script, file, plan):
        _then_watch(sub)
    launch.set_defaults(command="launch")

    plans = commands.add_parser(
        "plans",
        **with_connection,
        help="list the scope's job plans, or show one with its variables",
        description=(
            "Without PLAN_ID, list the scope's job plans (newest changed first). With it, show\n"
            "the plan's steps and global variables; a password's value prints as ******."
        ),
        epilog=_examples(
            "bkjob-async plans --name deploy",
            "bkjob-async plans 42                        # its variables, then:",
            "bkjob-async launch plan 42 --var version=1.2.3 --watch",
            "bkjob-async launch script --flavor apigw-v4 --cluster BCS-K8S-00001 "
            "--namespace prod --workload deployment/api --container app --content 'uptime'",
        ),
        **common,
    )
    plans.add_argument("plan_id", metavar="PLAN_ID", type=ID, nargs="?")
    plans.add_argument("--name", help="plans whose name contains this")
    _limit(plans, 100)
    plans.add_argument("--json", action="store_true", help="one JSON object per plan")

    call = commands.add_parser(
        "call",
        **with_connection,
        help="send any bk-job API by its name, with key=value parameters; print JSON",
        description=(
            "Send one bk-job API by its own name, with its own parameter names, as bk-job's\n"
            "docs spell them: key=value, where a value that reads as JSON is that value\n"
            '(5, true, [1,2], {"a":1}) and any other is text. The scope (--scope or\n'
            "BKJOB_SCOPE) is added unless given or --no-scope. An API the client types comes\n"
            "back as its typed answer; any other as bk-job's data. A password never prints."
        ),
        epilog=_examples(
            "bkjob-async call get_cron_list length=5",
            "bkjob-async call get_job_plan_detail job_plan_id=42",
            "bkjob-async call get_public_script_list --no-scope",
            "bkjob-async call some_new_api --method GET key=value --idempotent",
        ),
        **common,
    )
    call.add_argument("api", metavar="API", help="bk-job's name of the API (get_cron_list)")
    call.add_argument("params", metavar="KEY=VALUE", nargs="*", help="its parameters")
    call.add_argument(
        "--method",
        choices=["GET", "POST"],
        help="for an API the client does not type: how to send it (POST)",
    )
    call.add_argument(
        "--idempotent",
        action="store_true",
        help="safe to send again: retry it on a failure that may have reached bk-job",
    )
    call.add_argument("--no-scope", action="store_true", help="add no scope parameters")
    call.add_argument("--compact", action="store_true", help="one line of JSON")

    cron_list = commands.add_parser(
        "crons",
        **with_connection,
        help="list the scope's cron jobs, or pause or resume one",
        description=(
            "List the scope's cron jobs (last changed first), or pause or resume one: bk-job\n"
            "launches a running cron job's plan on its schedule. A save pauses a cron job:\n"
            "resume it after."
        ),
        epilog=_examples(
            "bkjob-async crons --status running",
            "bkjob-async crons pause 1000031",
            "bkjob-async crons resume 1000031",
        ),
        **common,
    )
    cron_list.add_argument("action", nargs="?", choices=["list", "pause", "resume"], default="list")
    cron_list.add_argument("cron_id", metavar="CRON_ID", type=ID, nargs="?")
    cron_list.add_argument("--name", help="cron jobs whose name contains this")
    cron_list.add_argument("--status", choices=["running", "paused"], help="only these")
    _limit(cron_list, 100)
    cron_list.add_argument("--json", action="store_true", help="one JSON object per cron job")

    variables = commands.add_parser(
        "vars",
        **with_connection,
        help="print a job's output variables (string variables after each step)",
        description=(
            "Print the values a job's string variables held after its steps: what a plan's\n"
            "scripts left in them. bk-job reports string variables only."
        ),
        epilog=_examples("bkjob-async vars 123", "bkjob-async vars 123 --json"),
        **common,
    )
    variables.add_argument("job_id", metavar="JOB_ID", type=ID)
    variables.add_argument("--json", action="store_true", help="one JSON object per step")

    push = commands.add_parser(
        "push-config",
        **launch_common,
        help="write config files to hosts (push_config_file), then --watch it",
        description=(
            "Write local files into a directory of the target hosts, as bk-job's\n"
            "push_config_file does: each file keeps its base name. Contents are never printed."
        ),
        epilog=_examples(
            "bkjob-async push-config --host-id 1001 --dest /etc/app/ app.conf --watch",
            "bkjob-async push-config --host 0:10.0.0.9 --account app --dest /opt/a/ a.ini b.ini",
        ),
    )
    push.add_argument("files", metavar="FILE", nargs="+", help="a local file to push")
    push.add_argument("--dest", required=True, help="the target directory")
    _launch_options(push)
    _then_watch(push)

    from ..testing._cli import build_parser as simulator_parser

    with_simulator: dict[str, Any] = {"parents": [simulator_parser()]}
    simulate = commands.add_parser(
        "simulate",
        conflict_handler="resolve",
        **with_simulator,
        help="run the bk-job simulator in the foreground, for manual use",
        description=(
            "Serve a simulated bk-job (gateway v3, ESB jobv3 and ESB v2 paths) with some\n"
            "jobs already running, until Ctrl-C. It accepts any app code and secret, or only\n"
            "--app CODE --secret SECRET; it prints the export lines that work with it."
        ),
        epilog=_examples(
            "bkjob-async simulate --port 9000 --jobs 20 --hosts 10",
            "bkjob-async simulate --app myapp --secret s3cret   # accept only these",
            "BKJOB_URL=http://127.0.0.1:9000 BKJOB_SCOPE=biz:2 BKJOB_APP_CODE=demo \\",
            "  BKJOB_APP_SECRET=demo BKJOB_USERNAME=admin bkjob-async watch 10001 10002",
        ),
        **common,
    )
    simulate.set_defaults(command="simulate")
    return parser


#: The names ``watch --events`` takes (``cli._jsonl.EVENT_NAMES``'s, outages aside).
EVENT_NAMES = (
    "host_transition",
    "container_transition",
    "step_transition",
    "job_transition",
    "job_finished",
    "watch_failed",
    "watch_timed_out",
)
#: The names ``watch --status`` takes: job, step and host statuses.
STATUS_NAMES = tuple(dict.fromkeys([*JobStatus.__members__, *HostStatus.__members__]))


def _names(known: tuple[str, ...]) -> Callable[[str], frozenset[str]]:
    """Return the argparse type of a comma-separated list of ``known`` names (any case)."""

    def names(text: str) -> frozenset[str]:
        found = {word.strip() for word in text.split(",") if word.strip()}
        lookup = {name.lower(): name for name in known}
        wrong = sorted(word for word in found if word.lower() not in lookup)
        if wrong or not found:
            close = difflib.get_close_matches((wrong or [""])[0].lower(), list(lookup), 1)
            hint = f" (did you mean {lookup[close[0]]}?)" if close else ""
            raise argparse.ArgumentTypeError(
                f"unknown name {', '.join(wrong) or repr(text)}{hint}; one of: {', '.join(known)}"
            )
        return frozenset(lookup[word.lower()] for word in found)

    return names


def _cluster_commands(
    commands: Any,
    connection: argparse.ArgumentParser,
    polling: argparse.ArgumentParser,
    common: dict[str, Any],
) -> None:
    """Add ``worker``, ``submit`` and ``cluster`` (cluster mode on Redis; needs the redis
    extra)."""
    worker = commands.add_parser(
        "worker",
        parents=[connection, polling],
        help="poll a fair share of a Redis cluster's jobs (needs the redis extra)",
        description=(
            "Join a cluster of workers sharing one Redis: hold a fair share of its partitions,\n"
            "poll their jobs, write every change to the watch's stream, and take over the\n"
            "jobs of workers that die. Runs until Ctrl-C or SIGTERM, then drains: takes no\n"
            "more partitions, writes what is in flight and releases its leases, so the other\n"
            "workers take them at their next lease round."
        ),
        epilog=_examples(
            "export BKJOB_APP_CODE=my-app BKJOB_APP_SECRET=... BKJOB_USERNAME=admin",
            "bkjob-async worker --redis redis://127.0.0.1:6379/0 --cluster prod \\",
            "    --url https://bkapi.example.com/api/bk-job/prod --rate-limit 100",
            "bkjob-async worker --redis redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster",
            "bkjob-async worker --redis redis+cluster://10.0.0.1:7000,10.0.0.2:7000",
        ),
        **common,
    )
    add_cluster_options(worker, watch=False)
    worker.add_argument("--worker-id", help="unique among live workers (host name + random)")
    worker.add_argument(
        "--rate-limit",
        type=PER_SECOND,
        metavar="PER_SECOND",
        help="requests per second for the whole cluster (default: none)",
    )
    worker.add_argument(
        "--report-every", type=SECONDS, default=10.0, help="seconds between status lines (10)"
    )
    worker.add_argument(
        "--lease-ttl",
        type=SECONDS,
        metavar="SECONDS",
        help="seconds a partition's lease lives unrenewed (renewed every third of it; "
        "default: 0.6 x --interval, at least 0.3): a dead worker's jobs wait about this long",
    )
    worker.add_argument(
        "--log-level",
        choices=LEVELS,
        default="info",
        help="log records shown on stderr, each with its UTC time and level (info)",
    )
    worker.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object a line (time, level, logger, message)",
    )
    worker.add_argument(
        "--metrics-port",
        type=_PORT,
        metavar="PORT",
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics: the worker's and the "
        "cluster's (partitions, takeovers, refused writes, lag, ...; 0: any free port, "
        "printed); needs the prometheus extra",
    )
    submit = commands.add_parser(
        "submit",
        help="add jobs to a watch of a Redis cluster (--cancel: remove them)",
        description="Add jobs to (or with --cancel remove them from) a cluster watch.",
        epilog=_examples(
            "bkjob-async submit 123 124 --redis redis://127.0.0.1:6379/0 --cluster prod \\",
            "    --watch deploys --scope biz:2",
            "bkjob-async watch --redis redis://127.0.0.1:6379/0 --cluster prod --watch deploys",
        ),
        **common,
    )
    submit.add_argument("job_ids", metavar="JOB_ID", type=ID, nargs="+")
    submit.add_argument("--scope", help="biz:<id> or biz_set:<id> (default: $BKJOB_SCOPE)")
    submit.add_argument("--cancel", action="store_true", help="remove the jobs instead")
    add_cluster_options(submit, watch=True)
    cluster = commands.add_parser(
        "cluster",
        help="look at a Redis cluster (workers, leases, watches, groups, dead letters)",
        description=(
            "Look at a cluster in Redis without joining it: nothing here joins a consumer\n"
            "group or acknowledges an event. status: workers, the partitions each holds, jobs\n"
            "nobody polls, watches, stream lengths, each group's lag and pending; groups: the\n"
            "consumer groups (--delete one); dead-letters: events a group gave up on\n"
            "(max_deliveries; --replay or --drop them). Only --delete, --replay and --drop write."
        ),
        epilog=_examples(
            "bkjob-async cluster status --redis redis://127.0.0.1:6379/0 --cluster prod",
            "bkjob-async cluster status --json | jq '.watches[].groups[] | {name, lag}'",
            "bkjob-async cluster groups --watch deploys",
            "bkjob-async cluster dead-letters --watch deploys --group cli",
            "bkjob-async cluster dead-letters --watch deploys --group cli --replay",
            "bkjob-async cluster groups --watch deploys --delete old-dashboard",
        ),
        **common,
    )
    actions = cluster.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("status", "workers, partitions, watches, streams, group lag and pending"),
        ("groups", "the consumer groups of each watch (or of --watch); --delete one"),
        ("dead-letters", "the events a group gave up on, of --watch; --replay or --drop them"),
    ):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        add_cluster_options(action, watch=name != "status")
        action.add_argument("--json", action="store_true", help="one JSON object on stdout")
        if name == "groups":
            action.add_argument(
                "--delete",
                metavar="GROUP",
                help="delete this consumer group of --watch, with its pending events",
            )
        if name == "dead-letters":
            action.add_argument("--group", help="only those of this consumer group")
            what = action.add_mutually_exclusive_group()
            what.add_argument(
                "--replay",
                action="store_true",
                help="append them to the watch's stream again (every group is given them "
                "again) and take them out of the dead letters",
            )
            what.add_argument("--drop", action="store_true", help="delete them")
            action.add_argument(
                "--id",
                dest="ids",
                action="append",
                metavar="DEAD_ID",
                help="with --replay or --drop: only this one (repeat for more; default: all "
                "listed)",
            )
            action.add_argument(
                "--limit",
                type=number(int, 1, 1_000_000),
                default=1000,
                metavar="N",
                help="show at most N, oldest first (1000)",
            )
