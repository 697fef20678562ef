"""Job names for the rows a viewer is shown: asked of bk-job a few at a time, never all.

Rule: the poller's answers are read without names (what a poll needs is statuses), so the
board learns a name from a job's end (``JobFinished.snapshot``), from its page, or here: the
rows of the jobs page a viewer asked for whose names are not known are asked for, without
their hosts, ``concurrency`` at a time, while the board is open. A name is asked once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from .. import errors

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._board import Board, JobRow

__all__ = ["NAMER", "Namer"]

logger = logging.getLogger("bkjob_async.web")

#: Names waiting to be asked, at most (a viewer paging fast asks for the newest).
BACKLOG = 400
#: Seconds each asker waits between two names (4 askers: about 40 names a second at most).
PACE = 0.1


class Namer:
    """Ask bk-job for the names of the jobs a viewer sees."""

    def __init__(self, board: Board, *, concurrency: int = 4) -> None:
        self.board, self.concurrency = board, concurrency
        self._wanted: dict[tuple[str, int, int], JobRow] = {}
        self._asked: set[tuple[str, int, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def want(self, rows: Iterable[JobRow]) -> None:
        """Ask for these rows' names soon (those not asked for yet)."""
        for row in rows:
            k = (row.scope.type.value, row.scope.id, row.job_id)
            if k not in self._asked:
                self._wanted[k] = row
        while len(self._wanted) > BACKLOG:
            self._wanted.pop(next(iter(self._wanted)))
        while self._wanted and len(self._tasks) < self.concurrency:
            task = asyncio.get_running_loop().create_task(self._ask())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _ask(self) -> None:
        client = self.board.poller.client
        while self._wanted and self.board.open and not self.board.stopping:
            k, row = self._wanted.popitem()
            self._asked.add(k)
            try:
                status = await client.get_job_instance_status(row.scope, row.job_id)
            except errors.BkJobError as exc:
                logger.debug("no name for job %s: %s", row.job_id, type(exc).__name__)
                continue
            if status.job.name is not None:
                self.board.names[k] = status.job.name
            await asyncio.sleep(PACE)  # names are a nicety: never a burst of requests

    async def aclose(self) -> None:
        """Stop asking."""
        self._wanted.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


NAMER = web.AppKey("bkjob_namer", Namer)
