"""Named (durable) watches: which names are open here, and a watch's jobs and events from the store.

A name is claimed while its watch is being opened and held while it is open (one open watch
per name and poller). Opening loads the stored watch, if any, into the new subscription (its
jobs, their stored states, its undelivered events first) and makes the job set durable before
the first poll.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .. import errors
from ._codec import decode_event, from_data, open_jobs
from .events import JobFinished
from .stores import UnknownWatchError, check_name

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._protocol import Protocol
    from ._subscription import _Subscription
    from .stores import Store, StoredWatch

__all__ = ["NamedWatches"]

logger = logging.getLogger("bkjob_async.polling")


class NamedWatches:
    """The named watches of one poller, and the store they live in."""

    __slots__ = ("_open", "_protocol", "store")

    def __init__(self, store: Store, protocol: Protocol) -> None:
        self.store = store
        self._protocol = protocol
        #: Named watches open in this poller, by name (``None``: being opened).
        self._open: dict[str, _Subscription | None] = {}

    def claim(self, name: str) -> str:
        """Reserve ``name`` for a watch being opened (one open watch per name and poller)."""
        name = check_name(name)
        if name in self._open:
            held = self._open[name]
            if held is None or not held.closed:
                raise RuntimeError(f"the watch {name!r} is open already in this poller")
        self._open[name] = None
        return name

    def release(self, name: str) -> None:
        """Give back a claimed name (its watch could not be opened)."""
        self._open.pop(name, None)

    def opened(self, name: str, sub: _Subscription) -> None:
        self._open[name] = sub

    async def load(self, name: str) -> StoredWatch:
        """Return the stored watch ``name`` to resume; raise ``UnknownWatchError`` if none."""
        stored = await self.store.load(name)
        if stored is None:
            raise UnknownWatchError(f"no watch named {name!r} in {self.store!r}")
        if not stored.jobs:
            self.store.drop(name)
            raise UnknownWatchError(f"the watch {name!r} holds no job any more")
        return stored

    async def open(
        self,
        sub: _Subscription,
        name: str,
        ids: tuple[int, ...],
        subscribe: Callable[[_Subscription, tuple[int, ...]], Awaitable[None]],
    ) -> None:
        """Load (or create) a named watch, make its job set durable, then poll its jobs."""
        store = self.store
        try:
            stored = await store.load(name)
            if stored is not None:
                self.restore(sub, stored)
                new = sub.add(ids)
            else:
                new = ids
            if new:
                await store.wait_settled(store.add_jobs(name, [(sub.scope, i) for i in new]))
        except Exception as exc:  # a StoreError, or stored data this version cannot read
            logger.error("watch %r: cannot open it in %r (%s)", name, store, exc)
            sub.fail(exc)
            return
        await subscribe(sub, sub.job_instance_ids)

    def restore(self, sub: _Subscription, stored: StoredWatch) -> None:
        """Give ``sub`` a stored watch's jobs, states and pending events (queued first)."""
        ids: list[int] = []
        seeds: dict[int, Any] = {}
        try:
            for (scope, job_id), data in stored.jobs.items():
                if scope != sub.scope:
                    raise errors.StoreError(
                        f"the watch {stored.name!r} holds jobs of {scope}, not only of {sub.scope}"
                    )
                ids.append(job_id)
                if data is not None:
                    seeds[job_id] = from_data(data)
            events = [decode_event(e.payload, self._protocol.parse) for e in stored.pending]
        except ValueError as exc:  # (a state or an event this version cannot read)
            raise errors.StoreError(
                f"the watch {stored.name!r} in {self.store!r} cannot be read: {exc}"
            ) from None
        ended = set(ids) - set(open_jobs(stored))
        sub.job_instance_ids = tuple(dict.fromkeys((*ids, *sub.job_instance_ids)))
        sub.remaining = set(sub.job_instance_ids) - ended
        sub.seeds = seeds
        for event in events:
            if isinstance(event, JobFinished):
                # Its job ends when it is delivered: put it as the job's last event.
                sub.end_job(event.job_instance_id, event)
            else:
                sub.mailbox.put(event)
