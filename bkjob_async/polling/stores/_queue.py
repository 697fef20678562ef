"""The one write queue of every durable store: tickets, settling, health, backoff, statistics.

A store writes its queue its own way (SQLite: a batch per transaction in a thread; Redis:
fenced commands on the loop) and tells this queue what happened: ``applied(upto)`` after a
write, ``failed(error)`` after one that could not be made. The queue does the rest:

- ``settled(ticket)``: the call is durable, or the store gave durability up for now
  (unhealthy, or closed), so the poller delivers from memory (a crash then can lose it);
- waiters (``wait_settled``, ``flush``) wake after each attempt, from the loop or a thread;
- health: the first failure logs one ERROR and makes ``statistics().healthy`` false, the calls
  stay queued and are retried with backoff (``retry_interval`` doubling to
  ``max_retry_interval``); the next success logs one WARNING with the count of failures.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import anyio

from . import Store, StoreStatistics

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

__all__ = ["QueuedStore", "WriteQueue"]


class WriteQueue:
    """Tickets and health of one store's writes; the store does the writing."""

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        *,
        retry_interval: float,
        max_retry_interval: float,
    ) -> None:
        #: How log records name the store (``"store /var/lib/w.db"``).
        self.what = what
        self._logger = logger
        self.retry_interval = retry_interval
        self.max_retry_interval = max(max_retry_interval, retry_interval)
        self._delay = retry_interval
        #: The last ticket handed out; a store's hot path may count it itself (under its lock).
        self.ticket = 0
        #: Every call up to this ticket is durable.
        self.durable = 0
        #: Why writes fail now (``None``: healthy).
        self.error: str | None = None
        #: The store is open for writes; before ``open`` and from ``aclose`` on, every ticket
        #: is settled (nothing more will be written, or nothing was).
        self.accepting = False
        self.transactions = 0
        self.failures = 0
        self._failures_before = 0
        #: Write attempts begun and finished (``flush`` waits for an attempt after its call).
        self.started = 0
        self.finished = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cycle: anyio.Event | None = None
        self._waiting = False

    def bind(self) -> None:
        """Remember the running loop: writer threads wake its waiters (call it in ``open``)."""
        self._loop = asyncio.get_running_loop()

    def issue(self) -> int:
        """Return the ticket of one more call."""
        self.ticket += 1
        return self.ticket

    # -- settling ---------------------------------------------------------------------------

    def settled(self, ticket: int) -> bool:
        """Whether call ``ticket`` is durable, or the store is unhealthy or closed."""
        return ticket <= self.durable or self.error is not None or not self.accepting

    def next_attempt(self) -> anyio.Event:
        """Return the event set after the next attempt finishes (on the loop)."""
        if self._cycle is None:
            self._cycle = anyio.Event()
        self._waiting = True  # before the caller checks: see ``attempted_threadsafe``
        return self._cycle

    async def wait_settled(self, ticket: int) -> None:
        """Return once ``settled(ticket)``."""
        while True:
            attempt = self.next_attempt()
            if self.settled(ticket):
                return
            await attempt.wait()

    async def flush(self, hurry: Callable[[], None]) -> None:
        """Return once every call so far is durable, or once an attempt made after this call
        failed; ``hurry`` asks the store's writer for an attempt now."""
        ticket, mark = self.ticket, self.started
        while True:
            attempt = self.next_attempt()
            if self.durable >= ticket or not self.accepting:
                return
            if self.error is not None and self.finished > mark:
                return
            hurry()
            await attempt.wait()

    def attempted(self) -> None:
        """Wake every waiter: an attempt finished (on the loop)."""
        self._waiting = False
        cycle, self._cycle = self._cycle, None
        if cycle is not None:
            cycle.set()

    def attempted_threadsafe(self) -> None:
        """Wake the loop's waiters from a writer thread, if any wait.

        The writer updates ``durable`` before it reads ``_waiting``; a waiter sets ``_waiting``
        before it reads ``durable``: one of them sees the other's write.
        """
        if self._waiting and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self.attempted)

    # -- health -----------------------------------------------------------------------------

    def applied(self, upto: int, *, wrote: bool = True) -> None:
        """Every call up to ``upto`` is durable now (``wrote``: a transaction was made)."""
        if wrote:
            self.transactions += 1
        if upto > self.durable:
            self.durable = upto
        self._delay = self.retry_interval
        if self.error is not None:
            self._logger.warning(
                "%s: writes resumed after %d failed attempts",
                self.what,
                self.failures - self._failures_before,
            )
            self.error = None

    def failed(self, exc: BaseException, queued: int) -> float:
        """A write failed and its ``queued`` calls are kept: say so once; return the delay
        before the next attempt (it doubles up to ``max_retry_interval``)."""
        message = f"{type(exc).__name__}: {exc}"
        if self.error is None:
            self._failures_before = self.failures
            self._logger.error(
                "%s: writes failing (%s); keeping %d calls in memory and retrying;"
                " a crash now loses them",
                self.what,
                message,
                queued,
            )
        else:
            self._logger.debug("%s: write retry failed (%s)", self.what, message)
        self.failures += 1
        self.error = message
        delay = self._delay
        self._delay = min(delay * 2, self.max_retry_interval)
        return delay

    def statistics(self) -> StoreStatistics:
        """Return a snapshot of the writes and the health."""
        return StoreStatistics(
            healthy=self.error is None,
            error=self.error,
            writes=self.ticket,
            pending_writes=self.ticket - self.durable,
            transactions=self.transactions,
            failed_transactions=self.failures,
        )


class QueuedStore(Store):
    """A store writing through a ``WriteQueue`` (``_queue``): its durability calls are the
    queue's; ``_hurry`` asks the store's writer for an attempt now."""

    _queue: WriteQueue
    _hurry: Callable[[], None]

    def settled(self, ticket: int) -> bool:
        return self._queue.settled(ticket)

    async def wait_settled(self, ticket: int) -> None:
        await self._queue.wait_settled(ticket)

    async def flush(self) -> None:
        await self._queue.flush(self._hurry)

    def statistics(self) -> StoreStatistics:
        return self._queue.statistics()
