"""The registry of subscriptions: which jobs are polled, for which watches, and what is
remembered of jobs no watch holds any more; no I/O, no clock.

A job (``_Instance``) is polled while at least one subscription holds it. When the last one
lets go, its state moves to a bounded memory (``remember``), so watching it again reports only
what changed since.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import TYPE_CHECKING

from ._tracker import EMPTY, GroupCounts, JobState

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Iterable

    from .._protocol import Request
    from ..config import Scope
    from ..errors import BkJobError
    from ._watch import _Subscription

__all__ = ["Instance", "Key", "Registry", "key"]

Key = tuple[str, int, int]


def key(scope: Scope, job_id: int) -> Key:
    """A job's key in the poller's tables: plain values, so hashing it costs no Python call."""
    return (scope.type.value, scope.id, job_id)


class Instance:
    """One polled job: its request, state, subscribers and place in the schedule."""

    __slots__ = (
        "active",
        "busy",
        "cuts",
        "due",
        "error",
        "failures",
        "fingerprint",
        "groups",
        "interval",
        "job_instance_id",
        "key",
        "malformed",
        "needs_decode",
        "request",
        "scope",
        "sent",
        "stalled",
        "state",
        "subscribers",
    )

    def __init__(self, scope: Scope, job_id: int, request: Request, state: JobState) -> None:
        self.key = key(scope, job_id)
        self.scope, self.job_instance_id = scope, job_id
        #: Registered with the poller; cleared when its last watch leaves.
        self.active = True
        self.request = request
        self.state = state
        self.subscribers: list[_Subscription] = []
        self.fingerprint: int | None = None
        #: Where the request ids were in the last answer (``body_fingerprint``'s ``known``).
        self.cuts: tuple[int, ...] = ()
        self.needs_decode = True
        self.interval = 0.0
        #: Failed polls in a row, and the latest failure; malformed answers in a row.
        self.failures = 0
        self.malformed = 0
        self.error: BkJobError | None = None
        #: When the job stalled (wall clock, for events), or ``None``.
        self.stalled: _dt.datetime | None = None
        self.due = math.inf
        #: When its last poll was taken (engine clock): the driver's guard against floods.
        self.sent = -math.inf
        #: A poll is in flight: never poll one job twice at once (answers could cross).
        self.busy = False
        #: Large steps followed by result groups (``None``: the job is polled whole).
        self.groups: dict[int, GroupCounts] | None = None


class Registry:
    """Jobs being polled, by key, and the remembered states of released ones."""

    __slots__ = ("_known", "_on_release", "instances", "remember")

    def __init__(self, remember: int, on_release: Callable[[Instance], None]) -> None:
        self.instances: dict[Key, Instance] = {}
        self._known: OrderedDict[Key, JobState] = OrderedDict()
        self.remember = remember
        self._on_release = on_release

    def __len__(self) -> int:
        return len(self.instances)

    def attach(
        self,
        sub: _Subscription,
        job_id: int,
        request: Callable[[], Request],
        state: JobState | None = None,
    ) -> tuple[Instance, bool]:
        """Add ``sub`` to a job's subscribers; return the job and whether it is new.

        ``state`` (a named watch's stored state) starts a job not polled yet, in place of
        what is remembered of it; a job polled already keeps its newer state.
        """
        k = key(sub.scope, job_id)
        instance = self.instances.get(k)
        created = instance is None
        if instance is None:
            known = self._known.pop(k, EMPTY)
            instance = Instance(sub.scope, job_id, request(), known if state is None else state)
            self.instances[k] = instance
        instance.subscribers.append(sub)
        instance.needs_decode = True
        return instance, created

    def detach(self, sub: _Subscription, job_ids: Iterable[int]) -> None:
        """Remove ``sub`` from these jobs; release the jobs no one watches any more."""
        for job_id in job_ids:
            instance = self.instances.get(key(sub.scope, job_id))
            if instance is not None and sub in instance.subscribers:
                instance.subscribers.remove(sub)
                self.release_if_unwatched(instance)

    def release_if_unwatched(self, instance: Instance) -> None:
        """Stop polling ``instance`` if no open subscription holds it; remember its state."""
        subscribers = instance.subscribers
        for sub in subscribers:
            if sub.closed:  # a dropped watch: rebuild (rare; every poll comes through here)
                subscribers = instance.subscribers = [s for s in subscribers if not s.closed]
                break
        if subscribers or not instance.active:
            return
        instance.active = False
        del self.instances[instance.key]
        instance.due = math.inf
        self._on_release(instance)
        self._known[instance.key] = instance.state
        while len(self._known) > self.remember:
            self._known.popitem(last=False)

    def close(self) -> None:
        """Let go of every job and close every subscription (the poller is leaving)."""
        for instance in self.instances.values():
            instance.active = False
            for sub in instance.subscribers:
                sub.close()
        self.instances.clear()
