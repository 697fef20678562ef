"""The live feed as server-sent events: every entry once, in order, resumed by its id.

Rule: a stream starts right after the entry its page last read (``after``, a cursor from the
page's JSON), or, when the browser reconnects, after its ``Last-Event-ID``. Each entry goes as
``id: <cursor>`` and ``data: <JSON>`` (the JSON holds the event's own id); a start the feed
cannot find (too old, the board started over or missed events, or another process's cursor:
the dashboard restarted) goes as one ``reset`` event, and the page reloads what it shows. The
stream holds the board open (``Board.viewing``) while it is connected.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from ._board import BOARD

if TYPE_CHECKING:
    from ._board import Board

__all__ = ["stream"]

#: Seconds between two comments on a quiet stream (proxies drop idle connections).
KEEPALIVE = 15.0
#: Seconds a quiet stream waits before it looks again whether its viewer is still connected:
#: a viewer who left lets the board's ``grace`` begin within this, not at the next keepalive.
LOOK = 1.0
#: Entries written at once, at most.
CHUNK = 500
#: Milliseconds a browser waits before it reconnects.
RETRY_MS = 1000


def _start(board: Board, request: web.Request) -> int | None:
    """Return the number of the first entry to send (``None``: the stream must reset).

    ``?backlog=N`` (no cursor): begin with the newest N entries the feed holds.
    """
    feed = board.feed
    last = request.headers.get("Last-Event-ID") or request.query.get("after")
    if last:
        return feed.number_of(last)
    backlog = request.query.get("backlog", "")
    if backlog.isdigit():
        return max(feed.start, feed.end - min(int(backlog), feed.size))
    return feed.end


def _job_filter(text: str | None) -> str | None:
    """Return ``biz:2/123`` of ``?job=biz:2/123`` as entries name it (``None``: every job)."""
    if text is None:
        return None
    scope, _, job = text.rpartition("/")
    if not job.isdigit() or not scope:
        raise web.HTTPBadRequest(text="job must be SCOPE/JOB_ID, e.g. biz:2/123")
    return f"{scope}/{int(job)}"


async def stream(request: web.Request) -> web.StreamResponse:
    """Send the feed's entries as they come.

    ``?job=biz:2/123``: that job's only. ``?tail=N``: at most the newest N of what came since
    the last write (a page that shows the latest few, the overview, is not sent the rest).
    """
    board = request.app[BOARD]
    only = _job_filter(request.query.get("job"))
    tail = request.query.get("tail", "")
    newest = int(tail) if tail.isdigit() and 0 < int(tail) <= CHUNK else None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    wrote = time.monotonic()
    async with board.viewing():
        number = _start(board, request)
        generation = board.feed.generation
        while True:
            feed = board.feed
            if number is None or feed.generation != generation or number < feed.start:
                await response.write(b"event: reset\ndata: {}\n\n")
                wrote = time.monotonic()
                generation, number = feed.generation, feed.end
            if newest is not None:
                number = max(number, feed.end - newest)
            held = feed.texts(number, CHUNK)
            if held:
                first = number
                number += len(held)
                head = feed.cursor(0)[:-1]  # (``<feed>-<generation>.``, then the number)
                text = "".join(
                    f"id: {head}{first + n + 1}\ndata: {body}\n\n"
                    for n, (job, body) in enumerate(held)
                    if only is None or job == only
                )
                if text:
                    await response.write(text.encode())
                    wrote = time.monotonic()
                continue
            await board.changed(LOOK)
            transport = request.transport
            if board.stopping or transport is None or transport.is_closing():
                break
            quiet = number == feed.end and feed.generation == generation
            if quiet and time.monotonic() - wrote >= KEEPALIVE:
                await response.write(b": keepalive\n\n")
                wrote = time.monotonic()
    return response
