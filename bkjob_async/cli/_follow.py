"""Rule: one loop drains a watch for every command that watches; the output mode is chosen once.

Drain a watch into a ``Tally`` while showing it: live view, JSON lines, or plain lines.

Rule: one loop for every command that watches. The output mode is chosen once per command
(``choose_mode``): a terminal gets the live view (when ``rich`` is installed), ``--json`` or a
pipe gets one JSON object per event, and the demo's pipe gets plain progress lines. The view
is up before the first request (it says "connecting to URL"); JSON mode prints only what
happened. An outage (polls stalled) is shown once, as an outage, and ``give_up_after`` bounds it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import importlib.util
import logging
import time
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import attrs

from ..polling.events import PollingResumed, PollingStalled
from ._format import (
    RateMeter,
    describe_event,
    dumps,
    duration,
    error_to_dict,
    event_to_dict,
    json_time,
    outage_line,
    progress_line,
    summary_lines,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from ..polling import PollerStatistics, Watch
    from ..polling.events import Event
    from ._format import Summary, Tally, Workers
    from ._live import LiveView
    from ._runtime import Context

__all__ = [
    "Mode",
    "Shown",
    "choose_mode",
    "rich_available",
    "show_summary",
    "showing",
    "statistics_since",
]


class Mode(enum.Enum):
    """How a command shows what it watches."""

    LIVE = "live"
    JSON = "json"
    PLAIN = "plain"


def rich_available() -> bool:
    """Tell whether the ``cli`` extra (``rich``) is installed."""
    return importlib.util.find_spec("rich") is not None


def choose_mode(ctx: Context, *, json: bool, piped: Mode) -> Mode:
    """Return ``JSON`` if asked, ``LIVE`` on a terminal with ``rich``, else ``piped``.

    A dumb terminal (``TERM=dumb``: an editor's shell, some CI logs) cannot redraw a panel
    (rich would print its last frame only): it gets plain progress lines.
    """
    if json:
        return Mode.JSON
    if ctx.tty and ctx.env.get("TERM") == "dumb":
        return Mode.PLAIN
    if ctx.tty:
        if rich_available():
            return Mode.LIVE
        ctx.err("(install the 'cli' extra, pip install 'bkjob-async[cli]', for the live view)")
        return Mode.PLAIN
    return piped


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class Shown:
    """What one command shows of its watches, from before its first request to its end.

    :param statistics: returns the poller's statistics now (``None`` before there is one).
    """

    def __init__(
        self,
        ctx: Context,
        tally: Tally,
        *,
        mode: Mode,
        statistics: Callable[[], PollerStatistics | None],
        view: LiveView | None = None,
    ) -> None:
        self.ctx = ctx
        self.tally = tally
        self.mode = mode
        self.statistics = statistics
        self.view = view
        #: When the outage that made the watch give up began (``None``: it did not give up).
        self.gave_up_since: _dt.datetime | None = None
        #: Called with every event (Prometheus counts them by type).
        self.observe: Callable[[Event], None] | None = None
        #: Which events are shown (``watch --events/--status``; ``None``: all).
        self.shows: Callable[[Event], bool] | None = None
        self._started = time.monotonic()
        self._meter = RateMeter()

    def note(self, text: str) -> None:
        """Tell a person something between the events (stderr in JSON mode)."""
        if self.view is not None:
            self.view.console.print(text, style="magenta", highlight=False)
        elif self.mode is Mode.JSON:
            self.ctx.err(text)
        else:
            self.ctx.out(text)

    def connected(self) -> None:
        """Say bk-job answered: the live view stops saying "connecting"."""
        if self.view is not None:
            self.view.connected = True
            self.view.refresh()

    async def follow(
        self,
        watch: Watch,
        *,
        give_up_after: float | None = None,
        echo: bool = False,
        period: float = 1.0,
    ) -> None:
        """Feed every event of ``watch`` to the tally and show it, until the watch ends.

        :param give_up_after: end the watch when bk-job stays unreachable this many seconds
            (``gave_up_since`` then says since when).
        :param echo: in plain mode, print each event as a line too (for small watches).
        :param period: seconds between plain progress lines.
        """
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                if give_up_after is not None:
                    tg.start_soon(self._give_up, give_up_after, scope)
                if self.mode is Mode.PLAIN:
                    self._progress()  # the rate meter's first sample
                    tg.start_soon(self._report, period)
                try:
                    await self._drain(watch, echo)
                finally:
                    if self.mode is Mode.PLAIN:
                        self.ctx.out(self._progress())
                    elif self.mode is Mode.JSON:
                        self.ctx.stdout.flush()
                tg.cancel_scope.cancel()

    async def _drain(self, watch: Watch, echo: bool) -> None:
        tally, mode, stream = self.tally, self.mode, self.ctx.stdout
        observe = self.observe
        async for event in watch:
            before = tally.outage_since
            tally.feed(event)
            if observe is not None:
                observe(event)
            if (before is None) != (tally.outage_since is None):
                self._outage_changed(before, event)  # before the event that ended it
            if isinstance(event, (PollingStalled, PollingResumed)):
                pass  # told once per outage, above
            elif self.shows is not None and not self.shows(event):
                pass
            elif mode is Mode.JSON:
                stream.write(dumps(event_to_dict(event)) + "\n")
                if not watch.pending:
                    stream.flush()
            elif echo and mode is Mode.PLAIN:
                self.ctx.out(describe_event(event))

    def _outage_changed(self, before: _dt.datetime | None, event: Event) -> None:
        """Tell of an outage once when it begins and once when it ends, not once per job.

        It ends at the first answer (``Tally.feed``), so each ``polling_stalled`` line is
        followed by one ``polling_resumed`` unless the watch ends first.
        """
        after = self.tally.outage_since
        if after is not None:
            assert isinstance(event, PollingStalled)
            line: dict[str, Any] = {
                "event": "polling_stalled",
                "observed_at": json_time(event.observed_at),
                "since": json_time(after),
                "message": outage_line(after),
                "error": error_to_dict(event.error),
            }
            text = f"{outage_line(after)}: {event.error}"
        else:
            assert before is not None
            down = (event.observed_at - before).total_seconds()
            line = {
                "event": "polling_resumed",
                "observed_at": json_time(event.observed_at),
                "since": json_time(before),
                "message": f"bk-job answers again after {duration(down)}",
            }
            text = str(line["message"])
        if self.mode is Mode.JSON:
            self.ctx.stdout.write(dumps(line) + "\n")
            self.ctx.stdout.flush()
        elif self.mode is Mode.PLAIN:
            self.ctx.out(text)
        elif self.view is not None:
            self.view.refresh()

    async def _give_up(self, after: float, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(min(0.2, after / 4))
            since = self.tally.outage_since
            if since is not None and (_now() - since).total_seconds() > after:
                self.gave_up_since = since
                scope.cancel()
                return

    async def _report(self, period: float) -> None:
        while True:
            await anyio.sleep(period)
            self.ctx.out(self._progress())

    def _progress(self) -> str:
        now, stats = time.monotonic(), self.statistics()
        rate = self._meter.update(now, stats.requests) if stats is not None else 0.0
        return progress_line(self.tally, stats, now - self._started, rate)


@contextlib.asynccontextmanager
async def showing(
    ctx: Context,
    tally: Tally,
    *,
    mode: Mode,
    title: str,
    server: str,
    statistics: Callable[[], PollerStatistics | None],
    connected: bool = False,
    workers: Callable[[], Workers | None] | None = None,
    server_label: str = "bk-job",
) -> AsyncIterator[Shown]:
    """Show progress from now until the block ends; the live view is drawn at once.

    Until ``Shown.connected()`` the live view says "connecting to ``server``"; JSON mode
    prints nothing that did not happen. ``workers`` and ``server_label``: see ``LiveView``.
    """
    if mode is not Mode.LIVE:
        yield Shown(ctx, tally, mode=mode, statistics=statistics)
        return
    from ._live import LiveView, above, make_console

    view = LiveView(
        make_console(ctx.stdout),
        tally,
        title=title,
        statistics=statistics,
        server=server,
        connected=connected,
        workers=workers,
        server_label=server_label,
    )
    with view, _logging_to(ctx, above(view.console, ctx.stderr)):
        async with anyio.create_task_group() as tg:
            tg.start_soon(view.run)
            try:
                yield Shown(ctx, tally, mode=mode, statistics=statistics, view=view)
            finally:
                tg.cancel_scope.cancel()


@contextlib.contextmanager
def _logging_to(ctx: Context, stream: TextIO) -> Iterator[None]:
    """Send stderr and log records (warnings and worse) to ``stream`` within the block.

    Without a handler of its own, a record would go to ``sys.stderr`` through Python's last
    resort, and on a terminal through the live view; ``stream`` prints above it.
    """
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved, ctx.stderr = ctx.stderr, stream
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        ctx.stderr = saved


def show_summary(ctx: Context, summary: Summary, mode: Mode, *, failed: bool = True) -> None:
    """Print ``summary``: tables on a terminal, plain lines otherwise (stderr in JSON mode)."""
    if not failed:
        summary = attrs.evolve(summary, failed_jobs=(), waiting_jobs=(), timed_out_jobs=())
    if mode is Mode.LIVE:
        from ._live import make_console, print_summary

        print_summary(make_console(ctx.stdout), summary)
        return
    write = ctx.err if mode is Mode.JSON else ctx.out
    write("\n".join(summary_lines(summary)))


def statistics_since(
    before: PollerStatistics | None, now: PollerStatistics | None
) -> PollerStatistics | None:
    """Return the poller's counters accumulated between two snapshots."""
    if before is None or now is None:
        return now
    errors = {k: v - before.errors.get(k, 0) for k, v in now.errors.items()}
    return attrs.evolve(
        now,
        requests=now.requests - before.requests,
        unchanged_polls=now.unchanged_polls - before.unchanged_polls,
        retries=now.retries - before.retries,
        events_emitted=now.events_emitted - before.events_emitted,
        events_observed=now.events_observed - before.events_observed,
        errors={k: v for k, v in errors.items() if v},
    )
