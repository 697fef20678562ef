"""Job names and times for the rows a viewer is shown: asked of bk-job a few at a time, never all.

Rule: the poller's answers are read without names or times (what a poll needs is statuses),
so the board learns them from a job's end (``JobFinished.snapshot``), from its page, or here:
the rows of the jobs page a viewer asked for whose names (or, once ended, end times) are not
known are asked for, without their hosts, ``concurrency`` at a time, while the board is open;
the jobs of the failed hosts a viewer is shown whose exit codes are not known (they failed
before the board looked), with their hosts. Each is asked once for each of those reasons.
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
#: Buckets of jobs that ended: their end time is asked once they are in one.
ENDED = frozenset({"succeeded", "failed", "ended"})
#: Seconds each asker waits between two names (2 askers: about 10 names a second at most,
#: each a request of the poller's client: a jobs page sorted by the latest change shows new
#: rows at every refresh, and its names must not cost the poller more than its polls).
PACE = 0.2


class Namer:
    """Ask bk-job for the names of the jobs a viewer sees."""

    def __init__(self, board: Board, *, concurrency: int = 2) -> None:
        self.board, self.concurrency = board, concurrency
        #: ``(scope type, scope id, job id, with hosts, ended)``: asked once each.
        self._wanted: dict[tuple[str, int, int, bool, bool], JobRow] = {}
        self._asked: set[tuple[str, int, int, bool, bool]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def want(self, rows: Iterable[JobRow], *, hosts: bool = False) -> None:
        """Ask for these rows' names and times soon (those not asked for yet; ``hosts``: with
        their hosts, for why their failed hosts failed)."""
        for row in rows:
            ended = row.bucket in ENDED
            k = (row.scope.type.value, row.scope.id, row.job_id, hosts, ended)
            if k not in self._asked:  # (to the end: the rows shown now are asked first)
                self._wanted.pop(k, None)
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
                status = await client.get_job_instance_status(
                    row.scope, row.job_id, with_hosts=k[3]
                )
            except errors.BkJobError as exc:
                logger.debug("no name for job %s: %s", row.job_id, type(exc).__name__)
                continue
            self.board.learn(row.scope, row.job_id, status)
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
