"""Subscriptions onto the driver's jobs: a watch's jobs in chunks, a followed job one at a time.

A watch attaches its jobs ``_REGISTER_CHUNK`` at a time with a checkpoint between chunks, so a
watch of a hundred thousand jobs never stalls the event loop; ``follow`` attaches one job to
the scope's follow subscription (a subscription that hands out nothing: the journal and other
watches of the job see its changes). No policy and no I/O here: the driver polls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.lowlevel

from ._subscription import _Subscription

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..config import Scope
    from ._driver import Driver

__all__ = ["Attachments"]

_REGISTER_CHUNK = 500


class Attachments:
    """Attach subscriptions to the driver's jobs, and detach them."""

    __slots__ = ("_driver", "_follows")

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        #: Jobs polled for ``follow``, one subscription per scope.
        self._follows: dict[Scope, _Subscription] = {}

    async def subscribe(self, sub: _Subscription, ids: tuple[int, ...]) -> None:
        """Attach ``sub`` to jobs in chunks, so a huge watch never stalls the loop."""
        for start in range(0, len(ids), _REGISTER_CHUNK):
            if sub.closed:
                return
            now = self._driver.clock()
            for job_id in ids[start : start + _REGISTER_CHUNK]:
                if job_id in sub.remaining:
                    self._attach(sub, job_id, now)
            await anyio.lowlevel.checkpoint()
        sub.seeds = None

    def _attach(self, sub: _Subscription, job_id: int, now: float) -> None:
        seeds = sub.seeds
        stored = None if seeds is None else seeds.get(job_id)
        self._driver.attach(sub, job_id, now, stored)

    def unsubscribe(self, sub: _Subscription, job_ids: Iterable[int]) -> None:
        """Detach ``sub`` from ``job_ids`` (a job no subscription holds is no longer polled)."""
        self._driver.detach(sub, list(job_ids))

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
            self.unsubscribe(sub, sub.remove((job_instance_id,)))

    def following(self, scope: Scope) -> frozenset[int]:
        """The jobs of ``scope`` followed now (those that have not ended)."""
        return frozenset(sub.remaining) if (sub := self._follows.get(scope)) else frozenset()
