"""Rule: rendering is pure; every view reads a ``Tally``, and only ``feed`` changes it.

What a watch has shown (a ``Tally`` on the library's ``Fold``), and how it is printed.

Rule: pure functions from values to ``str`` lines or JSON objects, no I/O. The live view, the
plain progress lines and the summaries all read a ``Tally``; only ``feed`` changes it, and
rendering never scans the events (the fold keeps every count). Text is ASCII, without colour;
the live view reuses its one-line pieces. JSON holds every field: an enum ``status`` as
``"status": 9`` and ``"status_name": "SUCCESS"``; every time, whatever the API generation sent,
as UTC ISO 8601 with milliseconds, ``"2025-01-01T08:00:02.000+00:00"`` (``json_time``;
``datetime.fromisoformat`` reads it on every supported version); durations (``total_time``)
as float seconds; errors as their type, message and the server's details.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import typing
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._fold import TIMED_OUT, UNREACHABLE, Fold, FoldedJob, percentile
from ..config import Scope
from ..errors import ApiError, BkJobError, QuotaExceededError, RateLimitedError
from ..models import JobInstanceStatus, JobStatus
from ..models import enums as _enums
from ..polling import FailedHost, events
from ..polling._tap import _seen
from ._runtime import printable

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .._fold import FoldCounts
    from ..models import HostStatus, StepInstance
    from ..polling import JobSeen, PollerStatistics
    from ..polling._tracker import JobState

__all__ = [
    "EVENT_NAMES",
    "RateMeter",
    "Summary",
    "Tally",
    "Workers",
    "attention_lines",
    "clock",
    "code_name",
    "confirm_hint",
    "counted",
    "describe_event",
    "dumps",
    "duration",
    "error_to_dict",
    "event_to_dict",
    "host_rows",
    "job_counts",
    "job_launched",
    "job_rows",
    "json_time",
    "objects_noun",
    "outage_line",
    "percentile",
    "polling_rows",
    "progress_line",
    "result_tables",
    "resumed_note",
    "short_event",
    "status_lines",
    "summary_lines",
    "table",
    "to_json",
]


def code_name(status: enum.Enum | None) -> str:
    """Return ``NAME(code)`` for a status, ``-`` for none."""
    if status is None:
        return "-"
    return f"{status.name}({status.value})"


def duration(seconds: float) -> str:
    """Return ``m:ss`` (or ``h:mm:ss``)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """Return ``1 job``, ``2 jobs``, ``3,000 hosts``: one number format, the right form."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def resumed_note(summary: Summary) -> str:
    """Say which part of a resumed watch's figures was seen before this run."""
    ended = counted(summary.ended_before, "job")
    return f"{ended} had ended before this run; the state file says how"


def millis(seconds: float | None) -> str:
    """Return seconds as a rounded millisecond figure, ``-`` for none."""
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"


def clock(when: _dt.datetime) -> str:
    """Return an aware time as the local ``HH:MM:SS``."""
    return when.astimezone().strftime("%H:%M:%S")


def outage_line(since: _dt.datetime) -> str:
    """Return the one line that says bk-job cannot be reached and the watch goes on."""
    return f"bk-job unreachable since {clock(since)}, retrying"


#: The events that tell a status change (``previous`` to ``current``).
_TRANSITIONS = (
    events.HostTransition,
    events.ContainerTransition,
    events.StepTransition,
    events.JobTransition,
)


def describe_event(event: events.Event, *, arrow: str = "->") -> str:
    """Return one event as a line: time, job, step, host and the status change."""
    when = event.observed_at.astimezone().strftime("%H:%M:%S.%f")[:-3]
    job = f"job {event.job_instance_id}"
    if isinstance(event, events.PollingStalled):
        return f"{when} {job}  {outage_line(event.since)}: {event.error}"
    if isinstance(event, events.PollingResumed):
        return f"{when} {job}  bk-job answers again (unreachable since {clock(event.since)})"
    if isinstance(event, events.JobPollFailing):
        return f"{when} {job}  reads fail ({event.failures} in a row), retrying: {event.error}"
    if isinstance(event, events.JobPollRecovered):
        return f"{when} {job}  read again (its reads failed since {clock(event.since)})"
    if isinstance(event, _TRANSITIONS):
        change = f"{code_name(event.previous)} {arrow} {code_name(event.current)}"
        if isinstance(event, events.JobTransition):
            return f"{when} {job}  {change}"
        where = f"{job} step {event.step_instance_id}#{event.execute_count}"
        if isinstance(event, events.HostTransition):
            host = event.host  # known by its id alone (a cluster's events): "host 8424895"
            named = host if host.ip or host.ipv6 or host.bk_host_id is None else host.bk_host_id
            return f"{when} {where} host {named}  {change}{_exit_tail(event)}"
        if isinstance(event, events.ContainerTransition):
            return f"{when} {where} {event.container}  {change}{_exit_tail(event)}"
        return f"{when} {where}  {change}"
    if isinstance(event, events.JobFinished):
        return f"{when} {job}  finished {code_name(event.status)}"
    if isinstance(event, events.WatchFailed):
        return f"{when} {job}  could not be watched: {event.error}"
    assert isinstance(event, events.WatchTimedOut)
    return f"{when} {job}  watch deadline passed"


def _exit_tail(event: events.HostTransition | events.ContainerTransition) -> str:
    """Return `` exit N`` for a host that ended without success with an exit code, else ``""``."""
    exit_code = event.result.exit_code
    return f" exit {exit_code}" if exit_code and not event.current.is_success else ""


def short_event(event: events.Event) -> str:
    """Return one event in at most ~70 columns: time, ids, host and the change, without codes."""
    when = event.observed_at.astimezone().strftime("%H:%M:%S")
    job = f"job {event.job_instance_id}"
    if not isinstance(event, _TRANSITIONS):
        return describe_event(event)
    change = f"{_name(event.previous)} → {event.current.name}"
    if isinstance(event, events.JobTransition):
        return f"{when} {job} {change}"
    where = f"{when} {job} step {event.step_instance_id}"
    if isinstance(event, events.HostTransition):
        host = event.host
        name = host.ip or host.ipv6 or f"host {host.bk_host_id}"
        return f"{where} {name} {change}{_exit_tail(event)}"
    if isinstance(event, events.ContainerTransition):
        name = event.container.name or f"container {event.container.id}"
        return f"{where} {name} {change}{_exit_tail(event)}"
    return f"{where} {change}"


def _name(status: enum.Enum | None) -> str:
    return "-" if status is None else status.name


def progress_line(
    tally: Tally, statistics: PollerStatistics | None, elapsed: float, rate: float
) -> str:
    """Return one plain progress line: hosts (or containers) finished, jobs by state, requests
    per second."""
    counts = tally.counts()
    total, done = tally.hosts_total(counts), counts.finished
    pct = f"{100 * done // total:3d}%" if total else "  -%"  # 100% only when all are
    job_text = job_counts_text(counts)
    polls = ""
    if statistics is not None:
        polls = f" | polls {statistics.requests:,} ({rate:.0f}/s)"
    since = counts.outage_since
    outage = f" | {outage_line(since)}" if since is not None else ""
    if since is None and counts.failing:
        outage = f" | {failing_line(counts.failing)}"
    where = objects_noun(total, sum(counts.containers.values()))
    line = f"[{duration(elapsed)}] {where} {done:,}/{total:,} {pct} | jobs: {job_text}{polls}"
    return line + outage


def failing_line(jobs: int) -> str:
    """Return what the live view and the progress line say of jobs whose reads fail alone."""
    return f"{jobs:,} job{'s' if jobs != 1 else ''} failing to read, retrying alone"


#: Buckets shown even when empty.
_ALWAYS = ("running", "succeeded", "failed")


def job_counts_text(counts: FoldCounts) -> str:
    """Return ``running 3, waiting 1, succeeded 5, failed 1`` (empty rare buckets left out)."""
    by = job_counts(counts)
    return ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in by.items() if v or k in _ALWAYS)


def table(header: Sequence[str], rows: Iterable[Sequence[object]], indent: str = "") -> list[str]:
    """Return an aligned plain table; numbers align right, text left; cells on one line."""
    text_rows = [[printable(str(cell)) for cell in row] for row in rows]
    all_rows = [list(header), *text_rows]
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(header))]
    numeric = [
        bool(text_rows) and all(_is_number(row[i]) for row in text_rows) for i in range(len(header))
    ]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(row, widths, numeric, strict=True)
        ]
        return (indent + "  ".join(cells)).rstrip()

    return [line(all_rows[0]), *(line(row) for row in text_rows)]


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace(" ms", "").lstrip("-").isdigit()


def summary_lines(summary: Summary) -> list[str]:
    """Return the summary as plain lines."""
    head = f"{summary.title}: {'interrupted after' if summary.interrupted else 'done in'}"
    lines = [f"{head} {duration(summary.elapsed)}", ""]
    lines += table(("jobs by final status", "count"), job_rows(summary), "  ")
    if summary.ended_before:
        lines.append(f"  ({resumed_note(summary)})")
    lines.append("")
    lines += table((f"{summary.objects} by final status", "count"), host_rows(summary), "  ")
    lines.append("")
    lines += table(("polling", "value"), polling_rows(summary), "  ")
    attention = attention_lines(summary)
    if attention:
        lines += ["", *attention]
    return lines


def job_rows(summary: Summary) -> list[tuple[str, str]]:
    """Return the summary's jobs by final status, and their total, as text rows."""
    rows = [(name, f"{n:,}") for name, n in summary.jobs_by_outcome]
    return [*rows, ("total", f"{summary.jobs:,}")]


def host_rows(summary: Summary) -> list[tuple[str, str]]:
    """Return the summary's hosts (or containers) by final status, and their total."""
    rows = [(name, f"{n:,}") for name, n in summary.hosts_by_status]
    if summary.hosts_unfinished:
        rows.append(("(not finished)", f"{summary.hosts_unfinished:,}"))
    return [*rows, ("total", f"{summary.hosts:,}")]


def polling_rows(summary: Summary) -> list[tuple[str, str]]:
    """Return the summary's polling figures as text rows."""
    rows = [
        ("polls made", f"{summary.polls:,}"),
        ("unchanged polls", f"{summary.unchanged_polls:,}"),
        ("retries", f"{summary.retries:,}"),
        ("events", f"{summary.events:,}"),
        (f"transition latency p50 (n={summary.latency_samples:,})", millis(summary.latency_p50)),
        ("transition latency p99", millis(summary.latency_p99)),
    ]
    rows += [(f"errors: {name}", f"{count:,}") for name, count in summary.errors]
    return rows


def attention_lines(summary: Summary, limit: int = 10) -> list[str]:
    """Return what failed, timed out or waits for a person, and the commands that move them on."""
    lines = failed_job_lines(summary, limit) if summary.failed_jobs else []
    timed_out = [r for r in summary.timed_out_jobs if r.status is not JobStatus.WAITING_USER]
    if timed_out:
        lines.append("  deadline passed (not a failure: the job may still end well):")
        lines += [
            f"    job {r.job_instance_id}: still {code_name(r.status)}" for r in timed_out[:limit]
        ]
    if summary.waiting_jobs:
        lines.append("  waiting for a person:")
        for record in summary.waiting_jobs[:limit]:
            command = confirm_command(record)
            lines.append(
                f"    job {record.job_instance_id}: WAITING_USER"
                + (f"; to go on: {command}" if command else "")
            )
    return lines


def failed_job_lines(summary: Summary, limit: int = 10) -> list[str]:
    """Return what failed and the command that retries it."""
    lines = ["  failed jobs:"]
    steps = summary.failed_steps
    for record in summary.failed_jobs[:limit]:
        found = steps.get(record.job_instance_id, ())
        detail = ", ".join(
            f"step {s}: {counted(n, f'failed {kind}')}"
            for want in ("host", "container")
            for kind, s, n in found
            if kind == want
        )
        if record.error is not None:
            detail = str(record.error)
        elif not detail and record.status is not None and not record.status.is_finished:
            detail = f"still {code_name(record.status)}"
        lines.append(
            f"    job {record.job_instance_id}: {record.outcome}"
            + (f" ({detail})" if detail else "")
        )
    if len(summary.failed_jobs) > limit:
        lines.append(f"    ... and {len(summary.failed_jobs) - limit} more")
    first = next(
        (r.job_instance_id for r in summary.failed_jobs if steps.get(r.job_instance_id)), None
    )
    if first is not None:
        # Containers are read on the gateway v4 only: their commands say so.
        kind, step, _ = sorted(steps[first], key=lambda row: row[0] != "host")[0]
        flavor = "" if kind == "host" else " --flavor apigw-v4"
        lines.append(
            f"  retry the failed {kind}s: bkjob-async operate {first} {step} "
            f"retry-failed --watch{flavor}"
        )
        lines.append(f"  their logs: bkjob-async logs {first} {step} --failed{flavor}")
    return lines


def confirm_hint(job_id: int, step: StepInstance) -> str | None:
    """Return how to let a step waiting for a person go on, or ``None`` if it does not wait."""
    if step.status is not JobStatus.WAITING_USER:
        return None
    return f"waiting for a person; to go on: bkjob-async operate {job_id} {step.step_instance_id} confirm"


def status_lines(status: JobInstanceStatus, *, hosts: bool = True) -> list[str]:
    """Return one job's status as plain, grep-able lines: the job, its steps, their hosts."""
    job = status.job
    lines = [
        f"job {job.job_instance_id}  {code_name(job.status)}  "
        f"{'finished' if status.finished else 'not finished'}  {printable(job.name or '')}".rstrip()
    ]
    for step in status.steps:
        lines.append(
            f"  step {step.step_instance_id}  {code_name(step.status)}  "
            f"round {step.execute_count if step.execute_count is not None else '-'}  "
            f"{printable(step.name or '')}".rstrip()
        )
        hint = confirm_hint(job.job_instance_id, step)
        if hint:
            lines.append(f"    {hint}")
        for header, rows, _ in result_tables(step) if hosts else ():
            lines += table(header, rows, indent="    ")
    return lines


#: A table of a step's execute objects: its header, its rows of text, each row's status.
ResultTable = tuple[tuple[str, ...], list[tuple[str, ...]], list["HostStatus"]]


def result_tables(step: StepInstance) -> list[ResultTable]:
    """Return a step's hosts, then its containers (gateway v4), each kind as a table whose
    ``status`` column is the 4th; none for a kind the step does not have."""
    found: list[ResultTable] = []
    rows: list[tuple[str, ...]]
    header: tuple[str, ...]
    if step.hosts:
        rows = [
            (
                _dash(r.host.bk_host_id),
                r.host.ip or r.host.ipv6 or "-",
                _dash(r.host.bk_cloud_id),
                *_outcome(r.status, r.exit_code, r.total_time),
            )
            for r in step.hosts
        ]
        header = ("host_id", "ip", "cloud", "status", "exit", "time")
        found.append((header, rows, [r.status for r in step.hosts]))
    if step.containers:
        rows = [
            (
                str(r.container.id),
                printable(r.container.name or "-"),
                _dash(r.container.node_host_id),
                *_outcome(r.status, r.exit_code, r.total_time),
            )
            for r in step.containers
        ]
        header = ("container", "name", "node_host", "status", "exit", "time")
        found.append((header, rows, [r.status for r in step.containers]))
    return found


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _outcome(
    status: HostStatus, exit_code: int | None, total: _dt.timedelta | None
) -> tuple[str, str, str]:
    return (
        code_name(status),
        _dash(exit_code),
        millis(total.total_seconds()) if total is not None else "-",
    )


#: The job-count buckets, in display order (a watch that failed counts as failed).
BUCKETS = ("pending", "running", "waiting", "succeeded", "failed", "timed_out", "unreachable")
#: Events the latest transitions leave out: a job's end, and outages (told once, apart).
_QUIET = frozenset(
    {
        events.JobFinished,
        events.WatchFailed,
        events.WatchTimedOut,
        events.PollingStalled,
        events.PollingResumed,
    }
)


def bucket(job: FoldedJob) -> str:
    """Return the bucket a job counts in (one of ``BUCKETS``)."""
    return "failed" if job.bucket == "unwatched" else job.bucket


def job_counts(counts: FoldCounts) -> dict[str, int]:
    """Return jobs by bucket, in ``BUCKETS`` order."""
    found = dict(counts.buckets)
    found["failed"] += found.pop("unwatched")
    return {k: found[k] for k in BUCKETS}


def confirm_command(job: FoldedJob) -> str | None:
    """Return the exact command that lets a waiting job go on, if it waits for a person."""
    if not _waits(job) or job.waiting_step is None:
        return None
    return f"bkjob-async operate {job.job_instance_id} {job.waiting_step} confirm"


def _waits(job: FoldedJob) -> bool:
    return job.status is JobStatus.WAITING_USER


class Tally(Fold):
    """A ``Fold`` of one command's watch, with the latest transitions and the jobs' last status.

    :param job_ids: the jobs watched, so jobs not seen yet count as pending.
    :param expected_hosts: a known total of hosts (the demo knows it); else hosts seen so far.
    :param recent: how many latest transitions to keep.
    """

    def __init__(
        self, job_ids: Iterable[int], *, expected_hosts: int = 0, recent: int = 64
    ) -> None:
        super().__init__(job_ids)
        self.expected_hosts = expected_hosts
        self.recent: deque[events.Event] = deque(maxlen=recent)
        #: Each job's last full status (``JobFinished``, ``WatchTimedOut``, ``seed``).
        self.snapshots: dict[int, JobInstanceStatus] = {}
        #: Jobs that had ended before this run (a resumed watch's state file says so).
        self.ended_before = 0

    def feed(self, event: events.Event) -> None:
        """Fold one event in."""
        super().feed(event)
        if type(event) not in _QUIET:
            self.recent.append(event)
        elif isinstance(event, events.JobFinished | events.WatchTimedOut) and event.snapshot:
            self.snapshots[event.job_instance_id] = event.snapshot

    def seed(self, job: JobInstanceStatus | JobSeen) -> None:
        """Start from a job's known status and hosts (as after an earlier watch), adding no events."""
        super().seed(job)
        if isinstance(job, JobInstanceStatus):
            self.snapshots[job.job.job_instance_id] = job

    def seed_state(self, job_id: int, state: JobState) -> None:
        """Start from a job as a state file holds it (a resumed watch), adding no events; one
        that had ended before this run is counted as seen to end, and told apart."""
        self.seed(_seen(Scope.biz(1), job_id, state, False))  # (a fold keeps no scope)
        self.ended_before += state.finished

    def hosts_total(self, counts: FoldCounts) -> int:
        """Return all hosts (and containers): the known total, or every one seen if more."""
        return max(self.expected_hosts, counts.objects)

    @property
    def all_succeeded(self) -> bool:
        """Tell whether every watched job ended successfully."""
        return self.counts().buckets["succeeded"] == len(self)

    def jobs_in(self, *buckets: str) -> list[FoldedJob]:
        """Return the jobs in ``buckets`` (``BUCKETS``' names), by id."""
        return sorted((j for j in self.jobs() if bucket(j) in buckets), key=_by_id)

    def waiting_jobs(self) -> list[FoldedJob]:
        """Return the jobs waiting for a person now (or when their deadline passed), by id."""
        return sorted((j for j in self.jobs() if _waits(j)), key=_by_id)

    def failed_steps(self, job_id: int) -> list[tuple[str, int, int]]:
        """Return ``(kind, step_instance_id, count)`` of a job's failed hosts (kind ``host``)
        and containers (``container``), by step."""
        found: dict[tuple[str, int], int] = {}
        for row in self.failed(job_id):
            kind = "host" if isinstance(row, FailedHost) else "container"
            found[kind, row.step_instance_id] = found.get((kind, row.step_instance_id), 0) + 1
        return [(k, s, n) for (k, s), n in sorted(found.items(), key=lambda kv: kv[0][1])]

    def report(
        self,
        *,
        title: str,
        elapsed: float,
        statistics: PollerStatistics | None,
        interrupted: bool = False,
    ) -> Summary:
        """Return the frozen summary of what was seen."""
        counts, jobs = self.counts(), self.jobs()
        outcomes: dict[str, int] = {}
        for job in jobs:
            name = job.outcome or ("PENDING" if job.status is None else job.status.name)
            outcomes[name] = outcomes.get(name, 0) + 1
        latencies = self.latencies()
        by_status = {**counts.hosts}
        for status, n in counts.containers.items():
            by_status[status] = by_status.get(status, 0) + n
        final = sorted(
            ((s, n) for s, n in by_status.items() if s.is_finished), key=lambda kv: (-kv[1], kv[0])
        )
        failed = self.jobs_in("failed")
        total = self.hosts_total(counts)
        return Summary(
            title=title,
            elapsed=elapsed,
            interrupted=interrupted,
            jobs=len(jobs),
            jobs_by_outcome=tuple(sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))),
            hosts=total,
            hosts_by_status=tuple((f"{s.name} ({int(s)})", n) for s, n in final),
            hosts_unfinished=total - counts.finished,
            polls=statistics.requests if statistics else 0,
            unchanged_polls=statistics.unchanged_polls if statistics else 0,
            retries=statistics.retries if statistics else 0,
            errors=tuple(sorted(statistics.errors.items())) if statistics else (),
            events=counts.events,
            latency_p50=percentile(latencies, 50),
            latency_p99=percentile(latencies, 99),
            latency_samples=len(latencies),
            failed_jobs=tuple(failed),
            failed_steps={
                j.job_instance_id: tuple(self.failed_steps(j.job_instance_id)) for j in failed
            },
            waiting_jobs=tuple(self.waiting_jobs()),
            timed_out_jobs=tuple(j for j in jobs if j.outcome == TIMED_OUT),
            ended_before=self.ended_before,
            containers=sum(counts.containers.values()),
        )

    @property
    def unreachable(self) -> list[FoldedJob]:
        """Return the jobs whose watch ended because bk-job could not be reached."""
        return [j for j in self.jobs() if j.outcome == UNREACHABLE]


def _by_id(job: FoldedJob) -> int:
    return job.job_instance_id


class RateMeter:
    """Requests per second over the last ``window`` seconds, from samples of a growing count."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, now: float, count: int) -> float:
        """Record ``count`` at time ``now`` (seconds) and return the recent rate."""
        samples = self._samples
        samples.append((now, count))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        then, before = samples[0]
        return (count - before) / (now - then) if now > then else 0.0


def objects_noun(total: int, containers: int) -> str:
    """Name ``total`` execute objects of which ``containers`` are containers: ``hosts``,
    ``containers`` or, for both, bk-job's word for either, ``execute objects``."""
    if not containers:
        return "hosts"
    return "containers" if containers >= total else "execute objects"


@attrs.frozen
class Summary:
    """The end-of-run report, ready for a renderer."""

    #: What ran ("bkjob-async watch 5 jobs").
    title: str
    #: Seconds from the start of the command.
    elapsed: float
    #: Ctrl-C ended it: the figures are partial.
    interrupted: bool
    #: Jobs watched.
    jobs: int
    #: ``(outcome, count)``, most frequent first: a status name, or ``TIMED_OUT`` and the like.
    jobs_by_outcome: tuple[tuple[str, int], ...]
    #: Hosts in all (known or seen), containers included (``containers`` says how many).
    hosts: int
    #: ``("NAME (code)", count)`` of hosts in a final status only, most frequent first.
    hosts_by_status: tuple[tuple[str, int], ...]
    #: Requests the poller made, polls whose answer had not changed, polls retried.
    polls: int
    unchanged_polls: int
    retries: int
    #: ``(error type, count)`` of failed polls.
    errors: tuple[tuple[str, int], ...]
    #: Events the watch delivered.
    events: int
    #: Transition latency in seconds (server end time to the poll that saw it), for the host
    #: transitions the command saw happen; ``None`` with no sample.
    latency_p50: float | None
    latency_p99: float | None
    latency_samples: int
    #: Jobs that ended in failure or whose watch failed (not timed out, not unreachable).
    failed_jobs: tuple[FoldedJob, ...]
    #: Of each failed job, ``Tally.failed_steps``.
    failed_steps: Mapping[int, tuple[tuple[str, int, int], ...]] = attrs.field(factory=dict)
    #: Jobs still waiting for a person (manual confirmation) when the summary was made.
    waiting_jobs: tuple[FoldedJob, ...] = ()
    #: Hosts not in a final status (yet): not part of ``hosts_by_status``.
    hosts_unfinished: int = 0
    #: Jobs whose ``--deadline`` passed before they ended (counted apart from failed ones).
    timed_out_jobs: tuple[FoldedJob, ...] = ()
    #: Of ``jobs``, those that had ended before this run (read from a resumed watch's state).
    ended_before: int = 0
    #: Of ``hosts``, the gateway v4's Kubernetes containers.
    containers: int = 0

    @property
    def objects(self) -> str:
        """Name what the jobs ran on: ``hosts``, ``containers`` or ``execute objects`` (both)."""
        return objects_noun(self.hosts, self.containers)


@attrs.frozen
class Workers:
    """Who polls a cluster watch's open jobs, as Redis said at one moment (heartbeats, leases).

    :param held: each worker with the open jobs of the partitions it holds a lease on; every
        live worker is listed, with no job if it holds none of them.
    :param silent: workers that hold a lease but whose heartbeat expired (a stalled or dead
        process): their jobs wait until the lease lapses and another worker takes it.
    :param unheld: open jobs whose partition no worker holds (no worker runs, or a lapsed
        lease is not taken again yet).
    """

    held: Mapping[str, tuple[int, ...]]
    silent: frozenset[str] = frozenset()
    unheld: tuple[int, ...] = ()
    #: Job id -> the worker polling it.
    holders: Mapping[int, str] = attrs.field(init=False, eq=False, repr=False)

    @holders.default
    def _holders(self) -> Mapping[int, str]:
        return {job: worker for worker, jobs in self.held.items() for job in jobs}


def json_time(value: _dt.datetime) -> str:
    """Return an aware time as UTC ISO 8601 with milliseconds (naive times are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds")


#: The ``"event"`` field of each event type.
EVENT_NAMES: dict[type, str] = {
    events.HostTransition: "host_transition",
    events.ContainerTransition: "container_transition",
    events.StepTransition: "step_transition",
    events.JobTransition: "job_transition",
    events.JobFinished: "job_finished",
    events.WatchFailed: "watch_failed",
    events.WatchTimedOut: "watch_timed_out",
    events.PollingStalled: "polling_stalled",
    events.PollingResumed: "polling_resumed",
    events.JobPollFailing: "job_poll_failing",
    events.JobPollRecovered: "job_poll_recovered",
}


def error_to_dict(exc: BaseException) -> dict[str, Any]:
    """Return an error as ``{"type", "message", ...}`` with bk-job's code, ids and permission."""
    out: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ApiError):
        out.update(
            api=exc.api,
            code=exc.code,
            http_status=exc.http_status,
            request_id=exc.request_id,
            job_request_id=exc.job_request_id,
            permission=to_json(exc.permission),
        )
    if isinstance(exc, RateLimitedError):
        out["retry_after"] = exc.retry_after
    if isinstance(exc, QuotaExceededError):
        out["quota"] = exc.quota
    return out


def to_json(value: Any) -> Any:
    """Return ``value`` as plain JSON data (attrs objects become objects, field by field)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value if not isinstance(value, int) else int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, _dt.datetime):
        return json_time(value)
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, BkJobError):
        return error_to_dict(value)
    if attrs.has(type(value)):
        return _attrs_to_dict(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    return str(value)


def _attrs_to_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in attrs.fields(type(obj)):
        if field.name.startswith("_"):  # (private: a lazy event's row)
            continue
        value = getattr(obj, field.name)
        out[field.name] = to_json(value)
        if isinstance(value, enum.IntEnum) or _is_enum_field(field):
            out[f"{field.name}_name"] = value.name if isinstance(value, enum.Enum) else None
    return out


def _is_enum_field(field: attrs.Attribute[Any]) -> bool:
    """Tell whether a field is declared as an (optional) enum, so ``None`` gets a name too.

    The declared type is a string until something (the converter) resolves it to a type.
    """
    declared: object = field.type
    if isinstance(declared, str):
        return declared.split(" ", 1)[0] in _ENUM_NAMES
    candidates = typing.get_args(declared) or (declared,)
    return any(isinstance(c, type) and issubclass(c, enum.Enum) for c in candidates)


_ENUM_NAMES = frozenset(
    name
    for name, value in vars(_enums).items()
    if isinstance(value, type) and issubclass(value, enum.Enum)
)


def event_to_dict(event: events.Event) -> dict[str, Any]:
    """Return one watch event as a JSON object: ``"event"`` names its type, ``"event_id"``
    is the id to dedupe redeliveries by."""
    return {"event": EVENT_NAMES[type(event)], "event_id": event.event_id, **_attrs_to_dict(event)}


def dumps(obj: Any) -> str:
    """Encode one JSON line: compact, UTF-8 text kept as is."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def job_launched(launched: Any, kind: str, **more: Any) -> str:
    """Return the ``job_launched`` line of a launch (``launch``, ``push-config``): its job's id
    and name, the kind of launch, and ``more``."""
    return dumps(
        {
            "event": "job_launched",
            "job_instance_id": launched.job_instance_id,
            "job_instance_name": launched.job_instance_name,
            "kind": kind,
            **more,
        }
    )
