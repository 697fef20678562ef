"""The terminal live view and tables, drawn with ``rich``; imported only when stdout is a terminal.

Rule: this is the only module that imports ``rich`` (the ``cli`` extra), and only the CLI imports
it, lazily; it reads a ``Tally`` and statistics and never changes them. The view is redrawn from
the event loop (no refresh thread), so it never reads state while an event is being folded in.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TextIO, cast

import anyio
from rich import box
from rich.columns import Columns
from rich.console import Console, Group
from rich.file_proxy import FileProxy
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ..models import HostStatus, JobStatus
from ..polling.events import HostTransition, JobTransition, StepTransition
from ._format import (
    RateMeter,
    attention_lines,
    bucket,
    code_name,
    confirm_command,
    confirm_hint,
    counted,
    describe_event,
    duration,
    failing_line,
    host_rows,
    job_counts,
    job_rows,
    objects_noun,
    outage_line,
    polling_rows,
    result_tables,
    resumed_note,
    short_event,
)
from ._runtime import printable

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import RenderableType

    from .._fold import FoldCounts, FoldedJob
    from ..models import JobInstanceStatus
    from ..polling import PollerStatistics
    from ..polling.events import Event
    from ._format import Summary, Tally, Workers

__all__ = ["LiveView", "above", "make_console", "print_status", "print_summary"]

#: Lines the view keeps for the latest transitions, at least.
_MIN_TRANSITIONS = 3
#: At most this many jobs waiting for a person are listed, each with its command.
_MAX_WAITING = 3
#: Below this width, transitions are told in their short form.
_WIDE = 120
#: From this height on, a cluster watch lists its workers one a line (at most this many).
_TALL = 40
_MAX_WORKERS = 5


def make_console(stream: TextIO) -> Console:
    """Return a console drawing on ``stream`` (a terminal)."""
    return Console(file=stream, highlight=False)


def above(console: Console, stream: TextIO) -> TextIO:
    """Return ``stream`` for use while ``console`` draws a live view: on a terminal, lines
    written to it are printed through the console, above the view, never through it."""
    isatty = getattr(stream, "isatty", None)
    try:
        terminal = bool(isatty and isatty())
    except ValueError:  # a closed stream
        terminal = False
    return cast("TextIO", FileProxy(console, stream)) if terminal else stream


def _status_style(status: HostStatus | JobStatus | None) -> str:
    if status is None:
        return "dim"
    if isinstance(status, HostStatus):
        if not status.is_finished:
            return "yellow" if status is HostStatus.RUNNING else "dim"
        return "green" if status.is_success else "red"
    if status is JobStatus.WAITING_USER:
        return "magenta"
    if not status.is_finished:
        return "yellow"
    return "green" if status.is_success else "red"


def _event_style(event: Event) -> str:
    if isinstance(event, (HostTransition, StepTransition, JobTransition)):
        return _status_style(event.current)
    return "bold"


_BUCKET_STYLES = {
    "pending": "dim",
    "running": "yellow",
    "waiting": "magenta",
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "unreachable": "red",
}
#: Which jobs the job table lists first when it cannot list them all: what needs a person
#: (waiting, failed), then running jobs with failed hosts (``_table_key``), then the rest.
_TABLE_ORDER = {
    "waiting": 0,
    "failed": 1,
    "unreachable": 1,
    "timed_out": 1,
    "running": 3,
    "pending": 4,
    "succeeded": 5,
}


def _line(text: str | Text, style: str = "") -> Text:
    """Return one line of the view: never wrapped, cut with an ellipsis if too long."""
    line = text if isinstance(text, Text) else Text(text, style=style)
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


class LiveView:
    """A live panel of one watch that fits the terminal, from 80x24 up, and fills larger ones.

    From top to bottom: where bk-job is and whether it answers ("connecting to URL" until the
    first answer; "bk-job unreachable since HH:MM:SS, retrying" during an outage), host
    progress, jobs by state, hosts by status, polling figures, the jobs waiting for a person
    with the exact command that lets each go on, a table of the jobs that matter most (as
    room allows), and the latest transitions, one line each. A cluster watch also shows its
    workers, each with how many of the watch's open jobs it polls, and the table which worker
    polls each job.

    :param server: the URL (and scope) shown while connected.
    :param server_label: what ``server`` is ("bk-job"; a cluster watch's: "Redis").
    :param statistics: returns the poller's statistics now (or ``None`` before it starts).
    :param workers: a cluster watch's: returns who polls its jobs now (``None``: not read yet).
    """

    def __init__(
        self,
        console: Console,
        tally: Tally,
        *,
        title: str,
        statistics: Callable[[], PollerStatistics | None],
        server: str = "",
        connected: bool = True,
        fps: float = 8.0,
        workers: Callable[[], Workers | None] | None = None,
        server_label: str = "bk-job",
    ) -> None:
        self.console = console
        self.tally = tally
        self.title = title
        self.server = server
        self.server_label = server_label
        #: False until bk-job answered once: the view says "connecting to ...".
        self.connected = connected
        self._statistics = statistics
        self._workers = workers
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

    def __exit__(self, *exc: Any) -> None:
        try:
            self.refresh()
        finally:
            self._live.__exit__(*exc)

    def refresh(self) -> None:
        """Redraw now."""
        self._live.update(self.render(), refresh=True)

    async def run(self) -> None:
        """Redraw at the view's frame rate until cancelled."""
        while True:
            await anyio.sleep(self._period)
            self.refresh()

    def render(self) -> RenderableType:
        """Return the current frame, no taller than the terminal (less one line) and no wider."""
        width, height = self.console.size
        room = max(height - 1, 12) - 2  # the panel's top and bottom borders
        counts = self.tally.counts()
        rows = [
            self._server_row(counts),
            *self._figures(counts, wide=width >= 100),
            *self._waiting_rows(),
        ]
        workers = self._workers() if self._workers is not None else None
        if self._workers is not None:
            rows += self._worker_rows(workers, height >= _TALL)
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(style="bold", no_wrap=True, min_width=11)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        for label, value in rows:
            grid.add_row(label, value)
        room -= len(rows) + 1  # the grid, and the rule above the transitions
        parts: list[RenderableType] = [grid]
        table_rows = min(len(self.tally), (room - _MIN_TRANSITIONS) // 2 - 1)
        if table_rows >= min(len(self.tally), 2):
            parts.append(self._job_table(table_rows, counts, workers))
            room -= table_rows + 1
        parts.append(Rule("Latest transitions", align="left", style="dim"))
        parts.append(self._transitions(max(room, 1), wide=width >= _WIDE))
        title = _line(self.title, "bold")
        return Panel(Group(*parts), title=title, title_align="left", box=box.ROUNDED)

    def _server_row(self, counts: FoldCounts) -> tuple[str, RenderableType]:
        since = counts.outage_since
        if since is not None:
            error = counts.outage_error
            text = outage_line(since) + (f" ({type(error).__name__})" if error else "")
            return "bk-job", _line(text, "bold red")
        stats = self._statistics()
        if stats is not None and stats.stalled and not counts.outages:
            # A watch that does not tell of outages (its events filtered, say); one that does
            # is believed, so the line goes at the first answer, not once every job answered.
            return "bk-job", _line("bk-job unreachable, retrying", "bold red")
        if counts.failing:  # bk-job answers: these jobs' reads fail alone
            return "bk-job", _line(failing_line(counts.failing), "yellow")
        if not self.connected:
            return self.server_label, _line(f"connecting to {self.server} ...", "yellow")
        return self.server_label, _line(self.server, "dim")

    def _figures(self, counts: FoldCounts, *, wide: bool) -> list[tuple[str, RenderableType]]:
        stats = self._statistics()
        elapsed = time.monotonic() - self._started
        total, done = self.tally.hosts_total(counts), counts.finished
        pct = f"{100 * done // total}%" if total else "-"  # 100% only when all are
        progress = Table.grid(padding=(0, 1), expand=True)
        progress.add_column(ratio=1)
        progress.add_column(no_wrap=True, justify="right")
        progress.add_row(
            ProgressBar(total=max(total, 1), completed=done),
            f"{done:,}/{total:,} finished {pct} {duration(elapsed)}",
        )
        jobs = Text()
        for name, count in job_counts(counts).items():
            if count or name in ("running", "succeeded", "failed"):
                jobs.append(f"{name.replace('_', ' ')} ", style="dim")
                jobs.append(f"{count:,}  ", style=_BUCKET_STYLES[name])
        hosts = Text()
        by_status = dict(counts.hosts)
        for status, n in counts.containers.items():
            by_status[status] = by_status.get(status, 0) + n
        for status, count in sorted(by_status.items()):
            hosts.append(f"{status.name} ", style="dim")
            hosts.append(f"{count:,}  ", style=_status_style(status))
        where = objects_noun(total, sum(counts.containers.values())).capitalize()
        rows: list[tuple[str, RenderableType]] = [
            (where, progress),
            ("Jobs", _line(jobs)),
            (f"{where[:-1]} status", _line(hosts)),
        ]
        if stats is not None:
            rate = self._meter.update(time.monotonic(), stats.requests)
            unchanged = f" ({stats.unchanged_polls:,} unchanged)" if wide else ""
            rows.append(
                (
                    "Polls",
                    _line(
                        f"{rate:,.0f} req/s · {counted(stats.requests, 'poll')}{unchanged} · "
                        f"{counted(stats.retries, 'retry', 'retries')} · "
                        f"{stats.in_flight:,} in flight"
                    ),
                )
            )
        return rows

    def _waiting_rows(self) -> list[tuple[str, RenderableType]]:
        waiting = [r for r in self.tally.waiting_jobs() if not r.ended]
        rows: list[tuple[str, RenderableType]] = []
        for record in waiting[:_MAX_WAITING]:
            command = confirm_command(record) or f"bkjob-async status {record.job_instance_id}"
            text = Text(f"job {record.job_instance_id}: ", style="magenta")
            text.append(command, style="bold")
            rows.append(("Waiting" if not rows else "", _line(text)))
        if len(waiting) > _MAX_WAITING:
            rows.append(("", _line(f"... and {len(waiting) - _MAX_WAITING} more", "magenta")))
        return rows

    def _worker_rows(self, workers: Workers | None, tall: bool) -> list[tuple[str, RenderableType]]:
        """One line of every worker and how many open jobs it polls, or one line each when tall.

        Jobs no worker polls come first, in red: they wait for a worker.
        """
        if workers is None:
            return [("Workers", _line("reading the workers' leases...", "dim"))]
        if not workers.held:
            waits = f", {counted(len(workers.unheld), 'job')} waiting" if workers.unheld else ""
            line = Text(f"none live{waits}: start one with bkjob-async worker", style="bold red")
            return [("Workers", _line(line))]
        unheld = Text()
        if workers.unheld:
            unheld = Text(
                f"no worker polls {counted(len(workers.unheld), 'job')}", style="bold red"
            )
        parts: list[Text] = []
        ordered = sorted(workers.held.items(), key=lambda item: (-len(item[1]), item[0]))
        for worker, jobs in ordered:
            text = Text(f"{worker} ", style="red" if worker in workers.silent else "cyan")
            text.append(counted(len(jobs), "job"))
            if worker in workers.silent:
                text.append(" (silent: its lease lapses soon)", style="red")
            if tall and jobs:
                ids = " ".join(str(job) for job in jobs[:20])
                text.append(f": {ids}{' ...' if len(jobs) > 20 else ''}", style="dim")
            parts.append(text)
        if tall:
            parts = [unheld, *parts] if unheld else parts
            shown = parts[:_MAX_WORKERS]
            if len(parts) > _MAX_WORKERS:
                more = len(parts) - _MAX_WORKERS + 1
                shown = [*parts[: _MAX_WORKERS - 1], Text(f"... and {more} more", style="dim")]
            return [("Workers" if i == 0 else "", _line(t)) for i, t in enumerate(shown)]
        live = len(workers.held) - len(workers.silent)
        line = unheld + Text(" · ", style="dim") if unheld else Text()
        line.append(f"{live:,} live: ", style="dim")
        for i, text in enumerate(parts):
            if i:
                line.append(" · ", style="dim")
            line.append_text(text)
        return [("Workers", _line(line))]

    def _job_table(self, limit: int, counts: FoldCounts, workers: Workers | None = None) -> Table:
        table = Table(box=None, pad_edge=False, padding=(0, 2), header_style="bold dim")
        where = objects_noun(self.tally.hosts_total(counts), sum(counts.containers.values()))
        for name in ("job", "status", f"{where} finished", f"failed {where}"):
            table.add_column(name, justify="right" if name != "status" else "left", no_wrap=True)
        if self._workers is not None:
            table.add_column("worker", no_wrap=True, overflow="ellipsis", max_width=32)

        def key(record: FoldedJob) -> tuple[int, int]:
            rank = _TABLE_ORDER[bucket(record)]
            if rank == _TABLE_ORDER["running"] and record.failed:
                rank -= 1  # running, with failed hosts already
            return rank, record.job_instance_id

        records = sorted(self.tally.jobs(), key=key)
        shown = records if len(records) <= limit else records[: limit - 1]
        for record in shown:
            seen, finished, failed = (
                record.hosts + record.containers,
                record.finished,
                record.failed,
            )
            if record.outcome:
                label = record.outcome
            else:
                label = code_name(record.status) if record.status is not None else "PENDING"
            style = _BUCKET_STYLES[bucket(record)]
            cells: list[RenderableType] = [
                str(record.job_instance_id),
                Text(label, style=style),
                f"{finished:,}/{seen:,}",
                Text(f"{failed:,}", style="red" if failed else "dim"),
            ]
            if self._workers is not None:
                cells.append(self._worker_cell(record, workers))
            table.add_row(*cells)
        if len(shown) < len(records):
            table.add_row("...", Text(f"and {len(records) - len(shown):,} more", style="dim"))
        return table

    @staticmethod
    def _worker_cell(record: FoldedJob, workers: Workers | None) -> Text:
        if record.ended or workers is None:
            return Text("")
        holder = workers.holders.get(record.job_instance_id)
        if holder is not None:
            return Text(holder, style="red" if holder in workers.silent else "cyan")
        if record.job_instance_id in workers.unheld:
            return Text("none", style="bold red")
        return Text("")

    def _transitions(self, limit: int, *, wide: bool) -> RenderableType:
        events = list(self.tally.recent)[-limit:]
        if not events:
            waiting = "waiting for the first answer..." if not self.connected else "no change yet"
            return _line(waiting, "dim")
        lines = Text()
        for event in events:
            if lines:
                lines.append("\n")
            text = describe_event(event, arrow="→") if wide else short_event(event)
            lines.append(text, style=_event_style(event))
        lines.no_wrap = True
        lines.overflow = "ellipsis"
        return lines


def print_summary(console: Console, summary: Summary) -> None:
    """Print the end-of-run summary as tables (the rows ``summary_lines`` prints)."""
    state = "interrupted after" if summary.interrupted else "done in"
    console.print(Text(f"{summary.title}: {state} {duration(summary.elapsed)}", style="bold"))
    where, tables = summary.objects, []
    for kind, title, column, rows in (
        ("jobs", "Jobs by final status", ("status", "jobs"), job_rows(summary)),
        ("hosts", f"{where.capitalize()} by final status", ("status", where), host_rows(summary)),
        ("polling", "Polling", ("measure", "value"), polling_rows(summary)),
    ):
        table = Table(title=title, box=box.ROUNDED, title_justify="left", min_width=len(title) + 4)
        table.add_column(column[0])
        table.add_column(column[1], justify="right")
        for name, value in rows:
            table.add_row(name, value, style=_row_style(kind, name))
        tables.append(table)
    if summary.ended_before:
        tables[0].caption = resumed_note(summary)
    console.print(Columns(tables, padding=(0, 2)))
    attention = attention_lines(summary)
    if attention:
        console.print(Text("\n".join(attention), style="red" if summary.failed_jobs else "yellow"))


def _row_style(kind: str, name: str) -> str | None:
    """Return how a summary table's row is drawn: totals bold, statuses by their outcome."""
    if name == "total":
        return "bold"
    if kind == "polling":
        return "red" if name.startswith("errors: ") else None
    if name == "(not finished)":
        return "dim"
    return _outcome_style(name.split(" ")[0], host=kind == "hosts")


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
    heading.append(
        f"  {'finished' if status.finished else 'not finished'}  {printable(job.name or '')}"
    )
    console.print(heading)
    for step in status.steps:
        line = Text(f"  step {step.step_instance_id} ")
        line.append(code_name(step.status), style=_status_style(step.status))
        count = step.execute_count if step.execute_count is not None else "-"
        line.append(f"  round {count}  {printable(step.name or '')}")
        console.print(line)
        hint = confirm_hint(job.job_instance_id, step)
        if hint:
            console.print(Text(f"    {hint}", style="magenta"))
        for header, rows, statuses in result_tables(step) if hosts else ():
            table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
            widest = max(len(row[3]) for row in rows)
            for name in header:
                if name == "status":  # never cut: it is what the reader looks for
                    table.add_column(name, no_wrap=True, min_width=widest)
                else:
                    left = name in ("ip", "name")
                    table.add_column(name, justify="left" if left else "right", overflow="fold")
            for row, state in zip(rows, statuses, strict=True):
                table.add_row(*row[:3], Text(row[3], style=_status_style(state)), *row[4:])
            console.print(table, style="", justify="left")
