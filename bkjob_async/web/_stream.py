"""The live feed as server-sent events: every entry once, in order, resumed by its id.

Rule: a stream starts right after the entry its page last read (``after`` and ``generation``
from the page's JSON), or, when the browser reconnects, after its ``Last-Event-ID``. Each
entry goes as ``id: <event id>`` and ``data: <JSON>``; a start the feed cannot find (the id
is too old, or the board started over) goes as one ``reset`` event, and the page reloads
what it shows. The stream holds the board open (``Board.viewing``) while it is connected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ._board import BOARD
from ._feed import held_entry, held_job

if TYPE_CHECKING:
    from ._board import Board

__all__ = ["stream"]

#: Seconds between two comments on a quiet stream (proxies drop idle connections).
KEEPALIVE = 15.0
#: Entries written at once, at most.
CHUNK = 500
#: Milliseconds a browser waits before it reconnects.
RETRY_MS = 1000


def _start(board: Board, request: web.Request) -> int | None:
    """Return the number of the first entry to send (``None``: the stream must reset)."""
    feed = board.feed
    last = request.headers.get("Last-Event-ID")
    if last is None:
        last = request.query.get("after")
        generation = request.query.get("generation")
        if generation is not None and generation != str(feed.generation):
            return None
        if not last:
            return feed.start if generation is not None else feed.end
    return feed.after(last)


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
    async with board.viewing():
        generation = board.feed.generation
        number = _start(board, request)
        while True:
            feed = board.feed
            if number is None or feed.generation != generation or number < feed.start:
                await response.write(b"event: reset\ndata: {}\n\n")
                generation, number = feed.generation, feed.end
            if newest is not None:
                number = max(number, feed.end - newest)
            held = feed.read(number, CHUNK)
            if held:
                number += len(held)
                entries = [held_entry(h) for h in held if only is None or held_job(h)[0] == only]
                if entries:
                    text = "".join(f"id: {i}\ndata: {data}\n\n" for i, _, data in entries)
                    await response.write(text.encode())
                continue
            await board.changed(KEEPALIVE)
            transport = request.transport
            if board.stopping or transport is None or transport.is_closing():
                break
            if number == feed.end and feed.generation == generation:
                await response.write(b": keepalive\n\n")
    return response
