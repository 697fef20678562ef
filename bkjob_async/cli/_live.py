"""The terminal live view and tables, drawn with ``rich``; imported only when stdout is a terminal.

Rule: this is the only module that imports ``rich`` (the ``cli`` extra), and only the CLI imports
it, lazily; it reads a ``Tally`` and statistics and never changes them. The view is redrawn from
the event loop (no refresh thread), so it never reads state while an event is being folded in.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TextIO

import anyio
from rich import box
from rich.columns import Columns
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..models import HostStatus, JobStatus
from ..polling.events import HostTransition, JobTransition, StepTransition
from ._format import attention_lines, code_name, describe_event, duration, millis
from ._tally import RateMeter

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from rich.console import RenderableType

    from ..models import JobInstanceStatus
    from ..polling import PollerStatistics
    from ..polling.events import Event
    from ._tally import Summary, Tally

__all__ = ["LiveView", "make_console", "print_status", "print_summary"]

_JOB_TABLE_LIMIT = 12


def make_console(stream: TextIO) -> Console:
    """Return a console drawing on ``stream`` (a terminal)."""
    return Console(file=stream, highlight=False)


def _status_style(status: HostStatus | JobStatus | None) -> str:
    if status is None:
        return "dim"
    if isinstance(status, HostStatus):
        if not status.is_finished:
            return "yellow" if status is HostStatus.RUNNING else "dim"
        return "green" if status.is_success else "red"
    if not status.is_finished:
        return "yellow"
    return "green" if status.is_success else "red"


def _event_style(event: Event) -> str:
    if isinstance(event, HostTransition):
        return _status_style(event.current)
    if isinstance(event, (StepTransition, JobTransition)):
        return _status_style(event.current)
    return "bold"


class LiveView:
    """A live panel of one watch: host progress bar, job and host counts, rate, latest events.

    :param statistics: returns the poller's statistics now (or ``None`` before it starts).
    """

    def __init__(
        self,
        console: Console,
        tally: Tally,
        *,
        title: str,
        statistics: Callable[[], PollerStatistics | None],
        fps: float = 8.0,
    ) -> None:
        self.console = console
        self.tally = tally
        self.title = title
        self._statistics = statistics
        self._period = 1.0 / fps
        self._started = time.monotonic()
        self._meter = RateMeter()
        self._live = Live(
            console=console, auto_refresh=False, transient=False, redirect_stdout=False
        )

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        self.refresh()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.refresh()
        finally:
            self._live.__exit__(exc_type, exc, tb)

    def refresh(self) -> None:
        """Redraw now."""
        self._live.update(self.render(), refresh=True)

    async def run(self) -> None:
        """Redraw at the view's frame rate until cancelled."""
        while True:
            await anyio.sleep(self._period)
            self.refresh()

    def render(self) -> RenderableType:
        """Return the current frame."""
        tally, stats = self.tally, self._statistics()
        elapsed = time.monotonic() - self._started
        total, done = tally.hosts_total, tally.hosts_finished
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(ratio=1)
        grid.add_column(no_wrap=True, justify="right")
        pct = f"{100 * done / total:.0f}%" if total else "-"
        grid.add_row(
            "Hosts",
            ProgressBar(total=max(total, 1), completed=done),
            f"{done:,}/{total:,} finished {pct}  {duration(elapsed)}",
        )
        jobs = tally.job_counts()
        job_text = Text()
        for name, style in (
            ("pending", "dim"),
            ("running", "yellow"),
            ("succeeded", "green"),
            ("failed", "red"),
        ):
            job_text.append(f"{name} ", style="dim").append(f"{jobs[name]:,}  ", style=style)
        grid.add_row("Jobs", job_text, "")
        host_text = Text()
        for status, count in sorted(tally.host_counts.items()):
            host_text.append(f"{status.name} ", style="dim")
            host_text.append(f"{count:,}  ", style=_status_style(status))
        grid.add_row("Host status", host_text, "")
        if stats is not None:
            grid.add_row(
                "Polls",
                Text(
                    f"{stats.requests:,} made  {stats.unchanged_polls:,} unchanged  "
                    f"{stats.retries:,} retries  {stats.in_flight} in flight",
                ),
                f"{self._meter.update(time.monotonic(), stats.requests):,.0f} req/s",
            )
        parts: list[RenderableType] = [grid]
        if len(tally.jobs) <= _JOB_TABLE_LIMIT:
            parts.append(self._job_table())
        recent = Text()
        for event in tally.recent:
            if recent:
                recent.append("\n")
            recent.append(describe_event(event, arrow="→"), style=_event_style(event))
        parts.append(
            Panel(
                recent or Text("waiting for the first poll...", style="dim"),
                title="Latest transitions",
                title_align="left",
                box=box.ROUNDED,
            )
        )
        return Panel(Group(*parts), title=self.title, title_align="left", box=box.ROUNDED)

    def _job_table(self) -> Table:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 2))
        for name in ("job", "status", "hosts finished", "failed hosts"):
            table.add_column(name, justify="right" if name != "status" else "left")
        for job_id, record in self.tally.jobs.items():
            seen, finished, failed = self.tally.per_job.get(job_id, (0, 0, 0))
            label = record.outcome if record.ended and record.outcome else code_name(record.status)
            table.add_row(
                str(job_id),
                Text(
                    label,
                    style=_status_style(record.status)
                    if record.outcome != "WATCH_FAILED"
                    else "red",
                ),
                f"{finished:,}/{seen:,}",
                Text(f"{failed:,}", style="red" if failed else "dim"),
            )
        return table


def print_summary(console: Console, summary: Summary) -> None:
    """Print the end-of-run summary as tables."""
    state = "interrupted after" if summary.interrupted else "done in"
    console.print(Text(f"{summary.title}: {state} {duration(summary.elapsed)}", style="bold"))
    jobs = Table(title="Jobs by final status", box=box.ROUNDED, title_justify="left")
    jobs.add_column("status")
    jobs.add_column("jobs", justify="right")
    for name, count in summary.jobs_by_outcome:
        jobs.add_row(name, f"{count:,}", style=_outcome_style(name))
    jobs.add_row("total", f"{summary.jobs:,}", style="bold")
    hosts = Table(title="Hosts by final status", box=box.ROUNDED, title_justify="left")
    hosts.add_column("status")
    hosts.add_column("hosts", justify="right")
    for name, count in summary.hosts_by_status:
        hosts.add_row(name, f"{count:,}", style=_outcome_style(name.split(" ")[0], host=True))
    hosts.add_row("total", f"{summary.hosts:,}", style="bold")
    polling = Table(title="Polling", box=box.ROUNDED, title_justify="left")
    polling.add_column("measure")
    polling.add_column("value", justify="right")
    polling.add_row("polls made", f"{summary.polls:,}")
    polling.add_row("unchanged polls", f"{summary.unchanged_polls:,}")
    polling.add_row("retries", f"{summary.retries:,}")
    polling.add_row("events", f"{summary.events:,}")
    polling.add_row(
        f"transition latency p50 (n={summary.latency_samples:,})", millis(summary.latency_p50)
    )
    polling.add_row("transition latency p99", millis(summary.latency_p99))
    for name, count in summary.errors:
        polling.add_row(f"errors: {name}", f"{count:,}", style="red")
    for table in (jobs, hosts, polling):
        table.min_width = len(str(table.title)) + 4
    console.print(Columns([jobs, hosts, polling], padding=(0, 2)))
    attention = attention_lines(summary)
    if attention:
        console.print(Text("\n".join(attention), style="red" if summary.failed_jobs else "yellow"))


def _outcome_style(name: str, *, host: bool = False) -> str:
    enum_type: Any = HostStatus if host else JobStatus
    member = enum_type.__members__.get(name)
    if member is None:
        return "yellow" if name in ("RUNNING", "PENDING") else "red"
    return _status_style(member)


def print_status(console: Console, status: JobInstanceStatus, *, hosts: bool = True) -> None:
    """Print one job's status: a heading, its steps, and a host table per step."""
    job = status.job
    heading = Text()
    heading.append(f"job {job.job_instance_id} ", style="bold")
    heading.append(code_name(job.status), style=_status_style(job.status))
    heading.append(f"  {'finished' if status.finished else 'not finished'}  {job.name or ''}")
    console.print(heading)
    for step in status.steps:
        line = Text(f"  step {step.step_instance_id} ")
        line.append(code_name(step.status), style=_status_style(step.status))
        count = step.execute_count if step.execute_count is not None else "-"
        line.append(f"  round {count}  {step.name or ''}")
        console.print(line)
        if not hosts or not step.hosts:
            continue
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
        for name in ("host_id", "ip", "cloud", "status", "exit", "time"):
            table.add_column(name, justify="left" if name in ("ip", "status") else "right")
        for r in step.hosts:
            table.add_row(
                str(r.host.bk_host_id) if r.host.bk_host_id is not None else "-",
                r.host.ip or r.host.ipv6 or "-",
                str(r.host.bk_cloud_id) if r.host.bk_cloud_id is not None else "-",
                Text(code_name(r.status), style=_status_style(r.status)),
                str(r.exit_code) if r.exit_code is not None else "-",
                millis(r.total_time.total_seconds()) if r.total_time is not None else "-",
            )
        console.print(table, style="", justify="left")
