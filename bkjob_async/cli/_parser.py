"""The argument parser: every command, flag, default and example the ``--help`` pages show.

Rule: no flag takes a secret (credentials come from the environment only), and help text shows
variable names, never their values. Parsing never exits the process: ``--help`` and usage
errors become ``ParserExit`` for ``main`` to turn into an exit status.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn

import attrs

from .._numbers import ID, IDS, PER_SECOND, SECONDS, number
from ..config import ApiFlavor
from ..models.enums import HostStatus, JobStatus
from ..models.requests import WORKLOAD_KINDS
from ._cluster import LEVELS
from ._commands import JOB_OPERATIONS, STEP_OPERATIONS
from ._connect import DEFAULT_TIMEOUT, ENV_VARS, LANGUAGES
from ._dashboard import PASSWORD_ENV, TOKEN_ENV, USER_ENV
from ._runtime import EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Callable

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


#: Argument types beyond ``ID`` and ``SECONDS`` (``_numbers``): counts and bounds of their own.
_IN_FLIGHT = number(int, 1, 1024)
_PORT = number(int, 0, 65535)
_RATE = number(float, 0.0, 1.0)
_SCRIPT_TIMEOUT = number(int, 1, 259_200)  # bk-job refuses more (1240003)

#: One argument: its flags (space-separated; a name without dashes is a positional) and the
#: keywords of ``add_argument``.
Row = tuple[str, dict[str, Any]]


@attrs.frozen
class Group:
    """Arguments shown under a heading of their own (``exclusive``: at most one of them)."""

    title: str | None
    rows: Sequence[Row | Group]
    description: str | None = None
    exclusive: bool = False


def arg(flags: str, help: str | None = None, **kw: Any) -> Row:
    """Return one argument's row."""
    return flags, kw if help is None else {**kw, "help": help}


def flag(flags: str, help: str) -> Row:
    """Return a ``store_true`` flag's row."""
    return flags, {"action": "store_true", "help": help}


def _add(parser: Any, rows: Sequence[Row | Group]) -> None:
    for row in rows:
        if isinstance(row, Group):
            if row.exclusive:
                _add(parser.add_mutually_exclusive_group(), row.rows)
            else:
                _add(parser.add_argument_group(row.title, row.description), row.rows)
        else:
            parser.add_argument(*row[0].split(), **row[1])


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _limit(default: int, what: str = "") -> Row:
    """``--limit``: at most this many rows of a list, 0 for all."""
    return arg(
        "--limit",
        f"at most this many{what} ({default}; 0: all)",
        type=number(int, 0, 10**9),
        default=default,
    )


# fmt: off
_JSON = flag("--json", "JSON lines even on a terminal")
_THEN_WATCH = (flag("--watch", "then watch the job to its end"), _JSON)
_JOB_IDS_HELP = "job ids; - reads more from stdin (ids, or the JSON lines of list --json)"
_LAUNCH = (
    arg("--host-id", "target host id", type=ID, action="append", metavar="ID"),
    arg("--host", "target CLOUD:IP or IP", action="append", metavar="HOST"),
    arg("--account", "execution account alias (root)", default="root"),
    arg("--name", "the job's name"),
)
_CONNECTION = Group("connection (credentials come from the environment only)", [
    arg("--url", "bk-job URL (default: $BKJOB_URL)"),
    arg("--flavor", "API generation (default: $BKJOB_FLAVOR, else apigw-v3)",
        choices=[f.value for f in ApiFlavor]),
    arg("--scope", "biz:<id> or biz_set:<id>; a bare number is a business (default: $BKJOB_SCOPE)"),
    arg("--tenant-id", "X-Bk-Tenant-Id on multi-tenant installs"),
    arg("--timeout", f"wait this long for an answer, then say so ({DEFAULT_TIMEOUT:g})",
        type=SECONDS, default=DEFAULT_TIMEOUT, metavar="SECONDS"),
    arg("--language", "language of bk-job's messages (default: $BKJOB_LANGUAGE, else en)",
        choices=sorted(LANGUAGES)),
    arg("--ca-bundle", "verify bk-job's certificate against this CA bundle, an internal CA "
        "(default: $BKJOB_CA_BUNDLE, else the system's CAs)", metavar="PATH"),
    arg("--client-cert",
        "client certificate for mutual TLS: a PEM file with its key, or the certificate "
        "with --client-key (default: $BKJOB_CLIENT_CERT)", metavar="PATH"),
    arg("--client-key", "the client certificate's key, if in its own file", metavar="PATH"),
    arg("--proxy", "an http:// proxy for every request (default: $BKJOB_PROXY)", metavar="URL"),
    flag("--trust-env",
        "take proxies from HTTP(S)_PROXY/NO_PROXY and the CA bundle from REQUESTS_CA_BUNDLE"),
])
_POLLING = Group("polling", [
    arg("--interval", "seconds between polls of a changing job (1)", type=SECONDS, default=1.0),
    arg("--max-interval", "longest wait between polls of a quiet job (15, or --interval if longer; "
        "shorter than --interval is refused)", type=SECONDS, default=None),
    arg("--deadline", "seconds; jobs still running then end as timed out (apart from failed ones)",
        type=SECONDS, default=None),
    arg("--max-in-flight", "requests at once (32)", type=_IN_FLIGHT, default=32),
    arg("--give-up-after", "end with exit status 2 when bk-job stays unreachable this long "
        f"({DEFAULT_GIVE_UP:g}); until then an outage is shown and polls go on",
        type=SECONDS, default=DEFAULT_GIVE_UP, metavar="SECONDS"),
])
_WATCHING = (_CONNECTION, _POLLING)
_REDIS = ("Redis URL of the cluster: redis://, rediss://, unix://, "
          "redis+sentinel://HOST:PORT[,...]/SERVICE[/DB] or redis+cluster://HOST:PORT[,...] "
          "(default: $BKJOB_REDIS_URL)")
# No default for --cluster: ``watch`` refuses a cluster flag without a cluster watch; "prod"
# is filled in by ``_cluster._cluster`` (and ``run_cluster_watch``).
_CLUSTER = (
    arg("--redis", _REDIS, metavar="URL"),
    arg("--cluster", "cluster name (prod)", metavar="NAME"),
)
_CLUSTER_WATCH = Group("cluster (Redis)", [
    *_CLUSTER, arg("--watch", "the cluster watch's name", dest="cluster_watch", metavar="NAME"),
])
_CONTAINERS = Group(
    "containers (gateway v4: --flavor apigw-v4)",
    [
        arg("--cluster", "a cluster (BCS-K8S-00001; repeatable)", action="append", metavar="UID"),
        arg("--namespace", "a namespace", action="append", metavar="NAME"),
        arg("--workload", f"a workload, one kind for all ({', '.join(sorted(WORKLOAD_KINDS))})",
            action="append", metavar="KIND/NAME"),
        arg("--pod", "a pod name", action="append", metavar="NAME"),
        arg("--label-selector", "pods whose labels match (app=api,tier!=db)", metavar="EXPR"),
        arg("--container", "a container name", action="append", metavar="NAME"),
        flag("--whole-cluster", "every container of the clusters (and nothing narrows them)"),
    ],
    "run in Kubernetes containers instead of hosts: --cluster, then what narrows it (all of "
    "them must match), or --whole-cluster",
)
_METRICS = "serve Prometheus metrics on 127.0.0.1:PORT/metrics"
_DEAD_LETTERS: list[Row | Group] = [
    arg("--group", "only those of this consumer group"),
    Group(None, [
        flag("--replay", "append them to the watch's stream again (every group is given them "
             "again) and take them out of the dead letters"),
        flag("--drop", "delete them"),
    ], exclusive=True),
    arg("--id", "with --replay or --drop: only this one (repeat for more; default: all listed)",
        dest="ids", action="append", metavar="DEAD_ID"),
    arg("--limit", "show at most N, oldest first (1000)",
        type=number(int, 1, 1_000_000), default=1000, metavar="N"),
]
_CLUSTER_ACTIONS: dict[str, tuple[str, Sequence[Row | Group]]] = {
    "status": ("workers, partitions, watches, streams, group lag and pending", []),
    "groups": ("the consumer groups of each watch (or of --watch); --delete one", [
        arg("--delete", "delete this consumer group of --watch, with its pending events",
            metavar="GROUP"),
    ]),
    "dead-letters": (
        "the events a group gave up on, of --watch; --replay or --drop them", _DEAD_LETTERS
    ),
}
_EXIT_STATUS = "\n\nexit status: "
_STEP_NAMES, _JOB_NAMES = ", ".join(STEP_OPERATIONS), ", ".join(JOB_OPERATIONS)

# fmt: off
#: Every command: its name, ``help``, ``description``, ``epilog``, the other keywords of
#: ``add_parser``, then its arguments' rows, in the order ``--help`` lists them.
COMMANDS: list[tuple[str, str, str, str, dict[str, Any], Sequence[Row | Group]]] = [
    ("demo", "launch and watch jobs on an embedded simulator (no server, no credentials)",
     "Start an embedded bk-job simulator, launch jobs through the client, watch them\n"
     "all with the poller (live view on a terminal, plain lines in a pipe), print a\n"
     "summary, then retry the failed hosts of one failed job and watch that round.",
     _examples(
         "bkjob-async demo",
         "bkjob-async demo --jobs 20 --hosts 10 --fail-rate 0.2",
         "bkjob-async demo | cat              # plain progress lines, as in CI logs",
         "bkjob-async demo --json | jq -c 'select(.event==\"job_finished\")|.status_name'",
     ), {}, [
        arg("--jobs", "jobs to launch (200)", type=number(int, 1, 10_000), default=200),
        arg("--hosts", "hosts per job (50)", type=number(int, 1, 5_000), default=50),
        arg("--fail-rate", "chance that a host fails (0.001: about 5%% of 50-host jobs fail)",
            type=_RATE, default=0.001),
        arg("--seed", "simulator seed: hosts and outcomes (0)",
            type=number(int, 0, 2**32 - 1), default=0),
        arg("--host-duration", "seconds a simulated host runs (1 6)",
            type=SECONDS, nargs=2, default=(1.0, 6.0), metavar=("MIN", "MAX")),
        flag("--no-faults", "do not inject the few transient server faults"),
        flag("--json", "one JSON object per event on stdout"),
        arg("--dashboard-port", "serve the web dashboard on 127.0.0.1:PORT while the demo runs "
            "(0: any free port)",
            type=_PORT, default=0, metavar="PORT"),
        flag("--no-dashboard", "do not serve the web dashboard"),
        arg("--workers",
            "cluster mode: a private redis-server and N worker processes, one killed mid-run "
            "(needs redis-server and the redis extra)", type=number(int, 2, 16), metavar="N"),
    ]),
    ("watch", "watch jobs until they end (live view, or JSON lines when piped)",
     "Watch jobs until each one ends. On a terminal: a live view, then a summary.\n"
     "Piped or with --json: one JSON object per event per line on stdout (the summary\n"
     "goes to stderr). Events: host_transition, step_transition, job_transition,\n"
     "job_finished, watch_failed, watch_timed_out, and polling_stalled/polling_resumed\n"
     "once per outage (bk-job unreachable: no job fails for it); enums as ints with\n"
     "*_name; times in UTC ISO 8601 with milliseconds (2025-01-01T08:00:02.000+00:00).",
     _examples(
         "export BKJOB_APP_CODE=my-app BKJOB_APP_SECRET=... BKJOB_USERNAME=admin",
         "bkjob-async watch 123456 --url https://bkapi.example.com/api/bk-job/prod --scope biz:2",
         "bkjob-async watch 123 124 --url https://paas.example.com --flavor esb-jobv3 "
         "--scope biz:2",
         "bkjob-async watch 123 --json | jq -c 'select(.event==\"host_transition\")'",
         "bkjob-async watch 123 --deadline 600 || echo 'failed or still running'",
         "bkjob-async watch 123 124 --metrics-port 9100   # Prometheus scrapes it meanwhile",
         "bkjob-async watch 123 124 --state watch.db   # interrupted? then: --state watch.db",
     ) + "\n\n" + _EXIT, {}, [
        *_WATCHING,
        arg("job_ids", _JOB_IDS_HELP, metavar="JOB_ID", type=IDS, nargs="*"),
        arg("--state",
            "keep the watch in this SQLite file: run again with the same file and no JOB_ID "
            "to resume where it was (events not yet shown come again; none is lost)",
                metavar="FILE"),
        arg("--name", "the watch's name in the --state file (default: watch); one file holds many"),
        _CLUSTER_WATCH,
        arg("--group", "with --redis: the consumer group to read in (cli)"),
        flag("--follow",
            "with --redis: go on after the JOB_IDs ended, until Ctrl-C (as without JOB_IDs)"),
        _JSON,
        arg("--events",
            "show only these events, by name, comma-separated (job_finished,watch_failed: a "
            "wait for ends, polled cheaply); a job that comes to wait for a person and outages "
            "are always shown", type=_names(EVENT_NAMES), metavar="NAMES"),
        arg("--status", "show only the events that reach these statuses (FAIL,WAITING_USER, host "
            "statuses too); events without a status are shown",
                type=_names(STATUS_NAMES), metavar="NAMES"),
        arg("--metrics-port", f"{_METRICS} while watching (with --redis: the cluster's and this "
            "consumer's; 0: any free port, printed); needs the prometheus extra",
                type=_PORT, metavar="PORT"),
    ]),
    ("worker", "poll a fair share of a Redis cluster's jobs (needs the redis extra)",
     "Join a cluster of workers sharing one Redis: hold a fair share of its partitions,\n"
     "poll their jobs, write every change to the watch's stream, and take over the\n"
     "jobs of workers that die. Runs until Ctrl-C or SIGTERM, then drains: takes no\n"
     "more partitions, writes what is in flight and releases its leases, so the other\n"
     "workers take them at their next lease round.",
     _examples(
         "export BKJOB_APP_CODE=my-app BKJOB_APP_SECRET=... BKJOB_USERNAME=admin",
         "bkjob-async worker --redis redis://127.0.0.1:6379/0 --cluster prod \\",
         "    --url https://bkapi.example.com/api/bk-job/prod --rate-limit 100",
         "bkjob-async worker --redis redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster",
         "bkjob-async worker --redis redis+cluster://10.0.0.1:7000,10.0.0.2:7000",
     ), {}, [
        *_WATCHING,
        Group("cluster (Redis)", _CLUSTER),
        arg("--worker-id", "unique among live workers (host name + random)"),
        arg("--rate-limit", "requests per second for the whole cluster (default: none)",
            type=PER_SECOND, metavar="PER_SECOND"),
        arg("--report-every", "seconds between status lines (10)", type=SECONDS, default=10.0),
        arg("--lease-ttl",
            "seconds a partition's lease lives unrenewed (renewed every third of it; "
            "default: 0.6 x --interval, at least 0.3): a dead worker's jobs wait about this long",
                type=SECONDS, metavar="SECONDS"),
        arg("--log-level", "log records shown on stderr, each with its UTC time and level (info)",
            choices=LEVELS, default="info"),
        arg("--log-format", "text lines, or one JSON object a line (time, level, logger, message)",
            choices=("text", "json"), default="text"),
        arg("--metrics-port", f"{_METRICS}: the worker's and the cluster's (partitions, takeovers, "
            "refused writes, lag, ...; 0: any free port, printed); needs the prometheus extra",
                type=_PORT, metavar="PORT"),
    ]),
    ("submit", "add jobs to a watch of a Redis cluster (--cancel: remove them)",
     "Add jobs to (or with --cancel remove them from) a cluster watch.",
     _examples(
         "bkjob-async submit 123 124 --redis redis://127.0.0.1:6379/0 --cluster prod \\",
         "    --watch deploys --scope biz:2",
         "bkjob-async watch --redis redis://127.0.0.1:6379/0 --cluster prod --watch deploys",
     ), {}, [
        arg("job_ids", metavar="JOB_ID", type=ID, nargs="+"),
        arg("--scope", "biz:<id> or biz_set:<id> (default: $BKJOB_SCOPE)"),
        flag("--cancel", "remove the jobs instead"),
        _CLUSTER_WATCH,
    ]),
    ("cluster", "look at a Redis cluster (workers, leases, watches, groups, dead letters)",
     "Look at a cluster in Redis without joining it: nothing here joins a consumer\n"
     "group or acknowledges an event. status: workers, the partitions each holds, jobs\n"
     "nobody polls, watches, stream lengths, each group's lag and pending; groups: the\n"
     "consumer groups (--delete one); dead-letters: events a group gave up on\n"
     "(max_deliveries; --replay or --drop them). Only --delete, --replay and --drop write.",
     _examples(
         "bkjob-async cluster status --redis redis://127.0.0.1:6379/0 --cluster prod",
         "bkjob-async cluster status --json | jq '.watches[].groups[] | {name, lag}'",
         "bkjob-async cluster groups --watch deploys",
         "bkjob-async cluster dead-letters --watch deploys --group cli",
         "bkjob-async cluster dead-letters --watch deploys --group cli --replay",
         "bkjob-async cluster groups --watch deploys --delete old-dashboard",
     ), {}, []),
    ("dashboard", "watch jobs and show them live in the browser (a web dashboard)",
     "Watch jobs (or, with --simulate, a simulated fleet) and serve a live web\n"
     "dashboard of them until Ctrl-C: an overview, a jobs table, a page per job, a live\n"
     "feed. With --redis/--cluster it shows a cluster instead: its workers, leases,\n"
     "watches, lag and dead letters. It listens on 127.0.0.1 and is read-only unless\n"
     "told otherwise.",
     _examples(
         "bkjob-async dashboard --simulate            # 1,000 simulated jobs, nothing to set up",
         "bkjob-async dashboard 123 124 --url https://bkapi.example.com/api/bk-job/prod "
         "--scope biz:2",
         "BKJOB_DASHBOARD_TOKEN=$(openssl rand -hex 16) bkjob-async dashboard 123 "
         "--allow-operations",
     ), {}, [
        *_WATCHING,
        arg("job_ids", metavar="JOB_ID", type=ID, nargs="*"),
        flag("--simulate", "watch jobs on an embedded simulator (no server, no credentials)"),
        arg("--jobs", "with --simulate: jobs to run (1000)",
            type=number(int, 1, 10_000), default=1000),
        arg("--hosts", "with --simulate: hosts per job (20)",
            type=number(int, 1, 1_000), default=20),
        arg("--bind", "address to listen on (127.0.0.1: this machine only)", default="127.0.0.1"),
        arg("--port", "port to listen on (8765; 0: any free port)",
            type=number(int, 0, 65535), default=8765),
        flag("--allow-operations",
            "let the page retry failed hosts and terminate jobs; needs a token "
             f"(${TOKEN_ENV} or --token-file) that each such request must carry"),
        arg("--token-file", "read the operations token from this file", metavar="FILE"),
        arg("--allow-host",
            "a host name (or address) people reach the dashboard by; repeat for more; "
            "'.example.com': a domain and its subdomains; '*': any (default: this machine's "
            "loopback names, and with --bind beyond loopback its own address and host name)",
                metavar="NAME", action="append", default=[]),
        arg("--login", f"require a login: basic: HTTP Basic, the user and password in ${USER_ENV} "
            f"and ${PASSWORD_ENV}", choices=("basic",)),
        arg("--login-header",
            "require a login done by a reverse proxy in front (oauth2-proxy, BlueKing's "
            "PaaS login): the user's name in this header (e.g. X-Forwarded-User), believed only "
            "from --trusted-proxy addresses", metavar="NAME"),
        arg("--trusted-proxy", "with --login-header: the proxy's address; repeat for more "
            "(default: loopback)",
            metavar="ADDRESS", action="append", default=[]),
        Group("a cluster instead of jobs (Redis)", [
            arg("--redis", "show the cluster at this Redis URL (redis://, rediss://, unix://, "
                "redis+sentinel://..., redis+cluster://...; default with --cluster: "
                    "$BKJOB_REDIS_URL)",
                    metavar="URL"),
            arg("--cluster", "the cluster's name (prod)", metavar="NAME"),
        ]),
    ]),
    ("status", "print the status of jobs once, with per-host (or per-container) results",
     "Print each job's status, steps and per-host results once: tables on a terminal,\n"
     "plain aligned lines when piped, one JSON object per job with --json. A job run in\n"
     "Kubernetes containers (--flavor apigw-v4) lists its containers instead.",
     _examples(
         "bkjob-async status 123456 --scope biz:2",
         "bkjob-async status 123 124 --no-hosts",
         "bkjob-async status 123 --failed          # only what failed, and where",
         "bkjob-async status 123 --json | jq '.steps[].hosts[] | select(.status != 9)'",
     ) + _EXIT_STATUS + "0 no job failed; 1 a job failed or could not be read; 2 usage, "
     "credentials or connection error", {}, [
        _CONNECTION,
        arg("job_ids", _JOB_IDS_HELP, metavar="JOB_ID", type=IDS, nargs="+"),
        flag("--json", "one JSON object per job"),
        flag("--no-hosts", "jobs and steps only (no hosts nor containers)"),
        flag("--failed", "only the steps with failed hosts or containers, only those"),
    ]),
    ("operate", "retry, skip, confirm or terminate: send one operation to a job or step",
     f"Send one operation.\n  step operations: {_STEP_NAMES}\n  job operations:  {_JOB_NAMES}\n"
     "Without STEP_ID, a step operation applies to the step whose state allows it.",
     _examples(
         "bkjob-async operate 123 456 retry-failed --watch",
         "bkjob-async operate 123 retry-failed          # the failed step, found for you",
         "bkjob-async operate 123 456 confirm",
         "bkjob-async operate 123 terminate",
     ) + _EXIT_STATUS + "0 accepted (with --watch: the job then succeeded); 1 refused\n"
     "  (the reason and the state it needs are printed) or the job failed; 2 usage,\n"
     "  credentials or connection error",
     {"usage": "bkjob-async operate JOB_ID [STEP_ID] OPERATION [--watch] [options]"}, [
        *_WATCHING,
        arg("job_id", metavar="JOB_ID", type=ID),
        arg("words", metavar="[STEP_ID] OPERATION", nargs="+"),
        flag("--watch", "then watch the job until it ends"),
        _JSON,
    ]),
    ("logs", "print the logs of a job's hosts or containers (all, failed, or named)",
     "Print the logs of a job's hosts, step by step: every host, only the failed\n"
     "ones (--failed), or the ones named (--host). Asked 500 hosts per request.\n"
     "A job in Kubernetes containers (--flavor apigw-v4): its containers, 50 a request\n"
     "(--container names them). Needs the v3 API or later (apigw-v3, apigw-v4 or\n"
     "esb-jobv3): ESB v2 has no log API.",
     _examples(
         "bkjob-async logs 123 --failed               # why did it fail?",
         "bkjob-async logs 123 --step 456 --host 0:10.0.0.9  # one host of step 456",
         "bkjob-async list --json | bkjob-async logs - --failed  # every listed job",
         "bkjob-async logs 123 --failed --json | jq -r .log_content",
     ) + _EXIT_STATUS + "0 read (even with no matching host); 1 no such job or step; 2 usage,\n"
     "  credentials or connection error, or a flavor without the API", {}, [
        _CONNECTION,
        arg("job_ids", _JOB_IDS_HELP + ". Two ids alone read as JOB_ID STEP_ID, as before "
            "(deprecated: use --step)", metavar="JOB_ID", type=IDS, nargs="+"),
        arg("--step", "only this step of each job", type=ID, metavar="STEP_ID"),
        flag("--failed", "only hosts (containers) that failed"),
        arg("--host", "a host id, CLOUD:IP or IP (repeatable)", action="append", metavar="HOST"),
        arg("--container", "a container's id or name (repeatable; gateway v4)",
            action="append", metavar="CONTAINER"),
        flag("--json", "one JSON object per host log"),
    ]),
    ("list", "list the jobs started recently (history), newest first",
     "List the jobs created since --since (24h by default), newest first, reading the\n"
     "history a page at a time. Needs the v3 API (apigw-v3 or esb-jobv3).",
     _examples(
         "bkjob-async list                            # the last 24 hours",
         "bkjob-async list --since 2h --status FAIL   # what failed lately",
         "bkjob-async list --since 2025-06-01T08:00 --limit 0 --json",
     ), {}, [
        _CONNECTION,
        arg("--since", "90s, 30m, 6h, 7d ago, or an ISO 8601 time (24h)", default="24h"),
        arg("--status", "a job status name (FAIL, RUNNING, ...) or code"),
        arg("--name", "jobs whose name contains this"),
        arg("--operator", "jobs started by this user"),
        _limit(50, " jobs"),
        arg("--page-size", "jobs per request (100)", type=number(int, 1, 1000), default=100),
        flag("--json", "one JSON object per job"),
    ]),
    ("launch", "start a script, a file transfer or a job plan (then --watch it)",
     "Start a job and print its id; with --watch, follow it to its end.",
     _examples(
         "bkjob-async launch script --host-id 1001 --host-id 1002 --content 'uptime'",
         "bkjob-async launch script --host 0:10.0.0.9 --file deploy.sh --watch",
         "bkjob-async launch file --host-id 1001 --from-host-id 1002 --source /etc/hosts "
         "--dest /tmp/",
         "bkjob-async launch plan 42 --var version=1.2.3 --watch",
         "bkjob-async launch script --flavor apigw-v4 --cluster BCS-K8S-00001 "
         "--namespace prod --workload deployment/api --container app --content 'uptime'",
     ), {}, []),
    ("rollout", "launch many jobs under a cap and bk-job's quota, each key once",
     "Launch the targets' jobs, at most --max-running at once and within bk-job's\n"
     "running-job quota (a refused launch waits for a slot), each key exactly once,\n"
     "and watch them: a live view on a terminal, a line per key when piped, JSON\n"
     "lines with --json. TARGETS (a file, or - for stdin) holds one JSON object a\n"
     'line, {"key": "web-1", "api": "fast_execute_script", "arguments": {...}}, or,\n'
     "with --content/--file, hosts (ids, CLOUD:IP or IP) run in batches of\n"
     "--batch-size, one key a batch. With --store FILE, run the same command again\n"
     "after a crash or Ctrl-C: it goes on, and no key is launched twice.",
     _examples(
         "bkjob-async rollout hosts.txt --content 'systemctl restart app' --batch-size 20 "
         "--max-running 5",
         "bkjob-async rollout launches.jsonl --max-running 50 --deadline 3600 --store r.db "
         "--key deploy-42",
         "cat hosts.txt | bkjob-async rollout - --file deploy.sh --json | "
         "jq -c 'select(.event==\"launch_failed\")'",
     ) + _EXIT_STATUS + "0 every key's job succeeded; 1 a key failed, timed out or its job\n"
     "  failed; 2 usage, a bad target line, credentials or connection error; 130 interrupted",
     {}, [
        _CONNECTION,
        arg("targets", "a file of targets, - for stdin", metavar="TARGETS"),
        Group("rollout", [
            arg("--key", "the rollout's name (its entries in --store) (rollout)",
                default="rollout"),
            arg("--max-running", "at most this many of its jobs at once (default: bk-job's "
                "quota alone)", type=number(int, 1, 100_000), metavar="N"),
            arg("--deadline", "seconds: keys not launched by then fail, running jobs are "
                "terminated", type=SECONDS, metavar="SECONDS"),
            flag("--leave-running", "at --deadline, leave running jobs running"),
            arg("--store", "keep the rollout in this SQLite file: run again with it to go on",
                metavar="FILE"),
        ]),
        Group("a script on hosts (the targets are hosts)", [
            arg("--content", "the script text"),
            arg("--file", "a file holding the script"),
            arg("--batch-size", "hosts a job (10)", type=number(int, 1, 100_000), default=10),
            arg("--account", "execution account alias (root)", default="root"),
            arg("--script-language", "(shell)",
                choices=["shell", "bat", "perl", "python", "powershell"], default="shell"),
            arg("--params", "the script's parameters"),
            arg("--script-timeout", "seconds bk-job lets the script run", type=_SCRIPT_TIMEOUT),
            arg("--name", "the jobs' name"),
        ]),
        Group("polling", [
            arg("--interval", "seconds between polls of a changing job (1)", type=SECONDS,
                default=1.0),
            arg("--max-interval", "longest wait between polls of a quiet job (15)",
                type=SECONDS, default=None),
            arg("--max-in-flight", "requests at once (32)", type=_IN_FLIGHT, default=32),
        ]),
        _JSON,
    ]),
    ("plans", "list the scope's job plans, or show one with its variables",
     "Without PLAN_ID, list the scope's job plans (newest changed first). With it, show\n"
     "the plan's steps and global variables; a password's value prints as ******.",
     _examples(
         "bkjob-async plans --name deploy",
         "bkjob-async plans 42                        # its variables, then:",
         "bkjob-async launch plan 42 --var version=1.2.3 --watch",
         "bkjob-async launch script --flavor apigw-v4 --cluster BCS-K8S-00001 "
         "--namespace prod --workload deployment/api --container app --content 'uptime'",
     ), {}, [
        _CONNECTION,
        arg("plan_id", metavar="PLAN_ID", type=ID, nargs="?"),
        arg("--name", "plans whose name contains this"),
        _limit(100),
        flag("--json", "one JSON object per plan"),
    ]),
    ("call", "send any bk-job API by its name, with key=value parameters; print JSON",
     "Send one bk-job API by its own name, with its own parameter names, as bk-job's\n"
     "docs spell them: key=value, where a value that reads as JSON is that value\n"
     '(5, true, [1,2], {"a":1}) and any other is text. The scope (--scope or\n'
     "BKJOB_SCOPE) is added unless given or --no-scope. An API the client types comes\n"
     "back as its typed answer; any other as bk-job's data. A password never prints.",
     _examples(
         "bkjob-async call get_cron_list length=5",
         "bkjob-async call get_job_plan_detail job_plan_id=42",
         "bkjob-async call get_public_script_list --no-scope",
         "bkjob-async call some_new_api --method GET key=value --idempotent",
     ), {}, [
        _CONNECTION,
        arg("api", "bk-job's name of the API (get_cron_list)", metavar="API"),
        arg("params", "its parameters", metavar="KEY=VALUE", nargs="*"),
        arg("--method", "for an API the client does not type: how to send it (POST)",
            choices=["GET", "POST"]),
        flag("--idempotent",
            "safe to send again: retry it on a failure that may have reached bk-job"),
        flag("--no-scope", "add no scope parameters"),
        flag("--compact", "one line of JSON"),
    ]),
    ("crons", "list the scope's cron jobs, or pause or resume one",
     "List the scope's cron jobs (last changed first), or pause or resume one: bk-job\n"
     "launches a running cron job's plan on its schedule. A save pauses a cron job:\n"
     "resume it after.",
     _examples(
         "bkjob-async crons --status running",
         "bkjob-async crons pause 1000031",
         "bkjob-async crons resume 1000031",
     ), {}, [
        _CONNECTION,
        arg("action", nargs="?", choices=["list", "pause", "resume"], default="list"),
        arg("cron_id", metavar="CRON_ID", type=ID, nargs="?"),
        arg("--name", "cron jobs whose name contains this"),
        arg("--status", "only these", choices=["running", "paused"]),
        _limit(100),
        flag("--json", "one JSON object per cron job"),
    ]),
    ("vars", "print a job's output variables (string variables after each step)",
     "Print the values a job's string variables held after its steps: what a plan's\n"
     "scripts left in them. bk-job reports string variables only.",
     _examples("bkjob-async vars 123", "bkjob-async vars 123 --json"), {}, [
        _CONNECTION,
        arg("job_id", metavar="JOB_ID", type=ID),
        flag("--json", "one JSON object per step"),
    ]),
    ("push-config", "write config files to hosts (push_config_file), then --watch it",
     "Write local files into a directory of the target hosts, as bk-job's\n"
     "push_config_file does: each file keeps its base name. Contents are never printed.",
     _examples(
         "bkjob-async push-config --host-id 1001 --dest /etc/app/ app.conf --watch",
         "bkjob-async push-config --host 0:10.0.0.9 --account app --dest /opt/a/ a.ini b.ini",
     ), {}, [
        *_WATCHING,
        arg("files", "a local file to push", metavar="FILE", nargs="+"),
        arg("--dest", "the target directory", required=True),
        *_LAUNCH,
        *_THEN_WATCH,
    ]),
    ("simulate", "run the bk-job simulator in the foreground, for manual use",
     "Serve a simulated bk-job (gateway v3, ESB jobv3 and ESB v2 paths) with some\n"
     "jobs already running, until Ctrl-C. It accepts any app code and secret, or only\n"
     "--app CODE --secret SECRET; it prints the export lines that work with it.",
     _examples(
         "bkjob-async simulate --port 9000 --jobs 20 --hosts 10",
         "bkjob-async simulate --app myapp --secret s3cret   # accept only these",
         "BKJOB_URL=http://127.0.0.1:9000 BKJOB_SCOPE=biz:2 BKJOB_APP_CODE=demo \\",
         "  BKJOB_APP_SECRET=demo BKJOB_USERNAME=admin bkjob-async watch 10001 10002",
     ), {"conflict_handler": "resolve"}, []),
]
#: ``launch``'s kinds: the ``help`` and arguments of each.
LAUNCH_KINDS: dict[str, tuple[str, Sequence[Row | Group]]] = {
    "script": ("fast_execute_script on hosts or containers", [
        *_WATCHING,
        *_LAUNCH,
        arg("--content", "the script text"),
        arg("--file", "a file holding the script"),
        arg("--script-id", "a script of the scope's library: its online version"),
        arg("--script-version-id", "a script version", type=ID, metavar="ID"),
        arg("--script-language", "(shell)",
            choices=["shell", "bat", "perl", "python", "powershell"], default="shell"),
        arg("--params", "the script's parameters"),
        _CONTAINERS,
        arg("--script-timeout", "seconds bk-job lets the script run", type=_SCRIPT_TIMEOUT),
        *_THEN_WATCH,
    ]),
    "file": ("fast_transfer_file to hosts", [
        *_WATCHING,
        *_LAUNCH,
        arg("--source", "a file to copy", action="append", required=True),
        arg("--from-host-id", type=ID, action="append", metavar="ID"),
        arg("--from-host", "CLOUD:IP or IP", action="append", metavar="HOST"),
        arg("--dest", "the target directory", required=True),
        *_THEN_WATCH,
    ]),
    "plan": ("execute_job_plan", [
        *_WATCHING,
        arg("plan_id", metavar="PLAN_ID", type=ID),
        arg("--var", "a global variable (the plan is read first: names are checked, passwords "
            "masked)", action="append", metavar="NAME=VALUE"),
        *_THEN_WATCH,
    ]),
}

# fmt: on


def build_parser(context: Context | None = None) -> argparse.ArgumentParser:
    """Return the ``bkjob-async`` parser; ``context`` receives help and usage errors."""
    from .. import __version__
    from ..testing._cli import build_parser as simulator_parser

    class Parser(_Parser):
        pass

    Parser.context = context
    raw = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog="bkjob-async", description=_DESCRIPTION, formatter_class=raw, epilog=_EPILOG
    )
    parser.add_argument("--version", action="version", version=f"bkjob-async {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_, description, epilog, more, rows in COMMANDS:
        if name == "simulate":
            more = {**more, "parents": [simulator_parser()]}
        command = commands.add_parser(
            name, help=help_, description=description, epilog=epilog, formatter_class=raw, **more
        )
        _add(command, rows)
        if name == "cluster":
            actions = command.add_subparsers(dest="action", metavar="ACTION", required=True)
            for action, (text, more_rows) in _CLUSTER_ACTIONS.items():
                described = text[0].upper() + text[1:] + "."
                sub = actions.add_parser(action, help=text, description=described)
                where = _CLUSTER_WATCH if action != "status" else Group("cluster (Redis)", _CLUSTER)
                _add(sub, [where, flag("--json", "one JSON object on stdout"), *more_rows])
        elif name == "launch":
            kinds = command.add_subparsers(dest="kind", metavar="KIND", required=True)
            for kind, (text, kind_rows) in LAUNCH_KINDS.items():
                _add(kinds.add_parser(kind, help=text, formatter_class=raw), kind_rows)
        if name in ("launch", "simulate"):
            command.set_defaults(command=name)
    return parser


_DESCRIPTION = "Launch, watch, inspect and operate BlueKing Job (bk-job) jobs, or see a demo."
_EPILOG = (
    "start here:\n"
    "  bkjob-async demo                      simulated bk-job, nothing to set up\n"
    "  bkjob-async COMMAND --help            flags and examples of one command\n"
    "\n" + _ENVIRONMENT + "\n\n" + _EXIT
)
