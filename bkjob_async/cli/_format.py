"""Plain text for people: one-line events, progress lines, summaries and status tables.

Rule: pure functions from values to ``str`` lines, ASCII only, no colour and no I/O; piped
output is made of these, and the live view reuses the one-line pieces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..models import JobStatus
from ..polling import events
from ._runtime import printable
from ._tally import confirm_command, job_counts, objects_noun

if TYPE_CHECKING:
    import datetime as _dt
    import enum
    from collections.abc import Iterable, Sequence

    from ..models import HostStatus, JobInstanceStatus, StepInstance
    from ..polling import FoldCounts, PollerStatistics
    from ._tally import Summary, Tally

__all__ = [
    "attention_lines",
    "clock",
    "code_name",
    "confirm_hint",
    "counted",
    "describe_event",
    "duration",
    "failed_job_lines",
    "host_rows",
    "job_counts_text",
    "job_rows",
    "millis",
    "outage_line",
    "polling_rows",
    "progress_line",
    "result_tables",
    "resumed_note",
    "short_event",
    "status_lines",
    "summary_lines",
    "table",
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
