"""Subscriptions onto the driver's jobs: a watch's jobs in slices, a followed job one at a time.

A watch attaches and detaches its jobs in slices of a time budget with a checkpoint between
two (``_driver``), so a watch of a hundred thousand jobs never stalls the event loop, and a
detach runs to its end even when cancelled (a closed watch leaves no job polled for it);
``follow`` attaches one job to
the scope's follow subscription (a subscription that hands out nothing: the journal and other
watches of the job see its changes). No policy and no I/O here: the driver polls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from ._driver import Pace
from ._subscription import _Subscription

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..config import Scope
    from ._driver import Driver

__all__ = ["Attachments"]


class Attachments:
    """Attach subscriptions to the driver's jobs, and detach them."""

    __slots__ = ("_driver", "_follows", "pace")

    def __init__(self, driver: Driver, pace: Pace | None = None) -> None:
        self._driver = driver
        #: How long a slice of attaching or detaching may hold the event loop.
        self.pace = Pace(turn=driver.turn) if pace is None else pace
        #: Jobs polled for ``follow``, one subscription per scope.
        self._follows: dict[Scope, _Subscription] = {}

    async def subscribe(self, sub: _Subscription, ids: Sequence[int]) -> None:
        """Attach ``sub`` to jobs in slices; stop once it is closed."""

        def attach(chunk: Sequence[int]) -> None:
            now, remaining = self._driver.clock(), sub.remaining
            for job_id in chunk:
                if job_id in remaining:
                    self._attach(sub, job_id, now)

        if not sub.closed and await self.pace.run(ids, attach, stop=lambda: sub.closed):
            sub.seeds = None

    def _attach(self, sub: _Subscription, job_id: int, now: float) -> None:
        seeds = sub.seeds
        stored = None if seeds is None else seeds.get(job_id)
        self._driver.attach(sub, job_id, now, stored)

    async def unsubscribe(self, sub: _Subscription, job_ids: Sequence[int]) -> None:
        """Detach ``sub`` from ``job_ids`` in slices (a job no subscription holds is no longer
        polled); shielded: cancelled, it still detaches every one before the caller hears it."""
        with anyio.CancelScope(shield=True):
            await self.pace.run(job_ids, lambda chunk: self._driver.detach(sub, chunk))

    def follow(self, scope: Scope, job_instance_id: int) -> None:
        """Poll a job for its scope's follow subscription (twice is once)."""
        sub = self._follows.get(scope)
        if sub is None or sub.closed:
            sub = self._follows[scope] = _Subscription(scope, (), None, 1, kinds=frozenset())
        if sub.add((job_instance_id,)):
            self._attach(sub, job_instance_id, self._driver.clock())

    def unfollow(self, scope: Scope, job_instance_id: int) -> None:
        """Stop polling a job for ``follow``."""
        sub = self._follows.get(scope)
        if sub is not None:
            self._driver.detach(sub, sub.remove((job_instance_id,)))

    def following(self, scope: Scope) -> frozenset[int]:
        """The jobs of ``scope`` followed now (those that have not ended)."""
        return frozenset(sub.remaining) if (sub := self._follows.get(scope)) else frozenset()
