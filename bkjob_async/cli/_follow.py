"""Drain a watch into a ``Tally`` while showing it: live view, JSON lines, or plain lines.

Rule: one loop for every command that watches. The output mode is chosen once per command
(``choose_mode``): a terminal gets the live view (when ``rich`` is installed), ``--json`` or a
pipe gets one JSON object per event, and the demo's pipe gets plain progress lines.
"""

from __future__ import annotations

import enum
import importlib.util
import time
from typing import TYPE_CHECKING

import anyio
import attrs

from ._format import describe_event, progress_line, summary_lines
from ._jsonl import dumps, event_to_dict
from ._tally import RateMeter

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..polling import PollerStatistics, Watch
    from ._runtime import Context
    from ._tally import Summary, Tally

__all__ = [
    "Mode",
    "choose_mode",
    "follow",
    "rich_available",
    "show_summary",
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
    """Return ``JSON`` if asked, ``LIVE`` on a terminal with ``rich``, else ``piped``."""
    if json:
        return Mode.JSON
    if ctx.tty:
        if rich_available():
            return Mode.LIVE
        ctx.err("(install the 'cli' extra, pip install 'bkjob-async[cli]', for the live view)")
        return Mode.PLAIN
    return piped


async def follow(
    ctx: Context,
    watch: Watch,
    tally: Tally,
    *,
    mode: Mode,
    title: str,
    statistics: Callable[[], PollerStatistics | None],
    echo: bool = False,
    period: float = 1.0,
) -> None:
    """Feed every event of ``watch`` to ``tally`` and show progress in ``mode`` until it ends.

    :param echo: in plain mode, print each event as a line too (for small watches).
    :param period: seconds between plain progress lines.
    """
    if mode is Mode.JSON:
        stream = ctx.stdout
        async for event in watch:
            tally.feed(event)
            stream.write(dumps(event_to_dict(event)) + "\n")
            if not watch.pending:
                stream.flush()
        stream.flush()
        return
    if mode is Mode.LIVE:
        from ._live import LiveView, make_console

        view = LiveView(make_console(ctx.stdout), tally, title=title, statistics=statistics)
        with view:
            async with anyio.create_task_group() as tg:
                tg.start_soon(view.run)
                async for event in watch:
                    tally.feed(event)
                tg.cancel_scope.cancel()
        return
    started = time.monotonic()
    meter = RateMeter()

    def line() -> str:
        now, stats = time.monotonic(), statistics()
        rate = meter.update(now, stats.requests) if stats is not None else 0.0
        return progress_line(tally, stats, now - started, rate)

    line()

    async def report() -> None:
        while True:
            await anyio.sleep(period)
            ctx.out(line())

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(report)
            async for event in watch:
                tally.feed(event)
                if echo:
                    ctx.out(describe_event(event))
            tg.cancel_scope.cancel()
    finally:
        ctx.out(line())


def show_summary(ctx: Context, summary: Summary, mode: Mode, *, failed: bool = True) -> None:
    """Print ``summary``: tables on a terminal, plain lines otherwise (stderr in JSON mode)."""
    if not failed:
        summary = attrs.evolve(summary, failed_jobs=(), waiting_jobs=())
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
        errors={k: v for k, v in errors.items() if v},
    )
