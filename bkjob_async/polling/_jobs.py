"""A polled job as a value, and the registry of watched jobs; no I/O, no clock.

A ``PolledJob`` is what the policy knows of one job (its tracker state, its interval, its
failures, whether it is stalled). It is never changed in place: ``_decide.decide`` returns a
new one and the driver puts it in the job's ``Watched`` record, the one place it lives.

A ``Watched`` record is the registry's entry for a job being polled: the job value, the
watches that hold it (the registry's), the job's place in the schedule (the driver's) and
what the reader remembers of its last answer (``_reader.Wire``, the reader's). Each part has
one owner. A job is polled while a subscription holds it; when the last one lets go, its
state moves to a bounded memory (``remember``), so watching it again reports only what
changed since.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import TYPE_CHECKING, NamedTuple

from ._heap import SHIFT
from ._state import EMPTY, JobState

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Iterable, Sequence

    from ..config import Scope
    from ..errors import BkJobError
    from ._reader import Wire
    from ._subscription import _Subscription

__all__ = ["Jobs", "Key", "PolledJob", "Registry", "Watched", "key", "moved"]

Key = tuple[str, int, int]

_NEVER = -math.inf  # (one float for every record: ``-math.inf`` makes a new one each time)

#: ``Watched.hinted`` of the records a hint reached, until they are released: few jobs are
#: hinted, so the time is not a slot of every record.
_HINTED: dict[Watched, float] = {}


def key(scope: Scope, job_id: int) -> Key:
    """A job's key in the poller's tables: plain values, so hashing it costs no Python call."""
    return (scope.type.value, scope.id, job_id)


class PolledJob(NamedTuple):
    """What the policy knows of one polled job; replaced, never changed in place."""

    scope: Scope
    job_instance_id: int
    #: The tracker's state: every status seen, and the job's event sequence.
    state: JobState = EMPTY
    #: The schedule's base interval (0: not polled since it was attached).
    interval: float = 0.0
    #: Failed reads in a row that spent its failure budget (``_failures``), and the latest.
    failures: int = 0
    error: BkJobError | None = None
    #: The same format error in a row.
    malformed: int = 0
    #: When an outage of bk-job stalled its polls (wall clock, for events), or ``None``.
    stalled: _dt.datetime | None = None
    #: Its status comes from the job list (``_census``) now: it is polled only when its row
    #: says so (``_decide.Listed``); never once a round.
    census: bool = False
    #: Its watches need its transitions, so the list stands for its polls only while it waits
    #: for a person (``_rules.WAITS_FOR_A_PERSON``): ``census`` follows its status.
    parks: bool = False
    #: When its first failed read of the current spell was sent, on the wall clock, once its
    #: watches heard ``JobPollFailing`` (``None`` before); and on the driver's clock, for the
    #: failure budget's time (``None`` while its reads succeed).
    failing: _dt.datetime | None = None
    failing_since: float | None = None


def moved(job: PolledJob, state: JobState, interval: float) -> PolledJob:
    """Return ``job`` with a new tracker state and interval: what every changed poll makes.

    The constructor, field by field: ``job._replace`` costs twice as much (``_make`` and a
    ``map``), on the path every changed answer takes (``benchmarks/test_instructions.py``).
    """
    return PolledJob(
        job.scope,
        job.job_instance_id,
        state,
        interval,
        job.failures,
        job.error,
        job.malformed,
        job.stalled,
        job.census,
        job.parks,
        job.failing,
        job.failing_since,
    )


class Watched:
    """The registry's record of a job being polled: its value and who owns what of it."""

    __slots__ = (
        "active",
        "busy",
        "entry",
        "job",
        "sent",
        "slot",
        "subscribers",
        "wire",
    )

    def __init__(self, job: PolledJob, wire: Wire, slot: int = -1) -> None:
        #: Its place in ``Registry.slots``: the due heap names it so (``_heap``).
        self.slot = slot
        #: The job's value: replaced by the driver after each decision.
        self.job = job
        #: The reader's memory of the job's last answer.
        self.wire = wire
        #: The watches holding the job (the registry's): a tuple, replaced on each change (a
        #: list of one costs twice the memory, for every watched job).
        self.subscribers: tuple[_Subscription, ...] = ()
        #: Registered; cleared when its last watch leaves.
        self.active = True
        #: Its live entry in the due heap (``_heap``: its due time), ``None`` when it has none.
        self.entry: int | None = None
        #: When its last poll was taken (the driver's clock).
        self.sent = _NEVER
        #: A poll is in flight: never poll one job twice at once (answers could cross).
        self.busy = False

    @property
    def hinted(self) -> float:
        """When a hint (a callback) last brought its poll forward (``-inf``: never)."""
        return _HINTED.get(self, _NEVER)

    @hinted.setter
    def hinted(self, at: float) -> None:
        _HINTED[self] = at

    @property
    def key(self) -> Key:
        """The job's key (``key``): made when asked, not kept per job."""
        job = self.job
        return key(job.scope, job.job_instance_id)

    @property
    def due(self) -> float:
        """When its next poll is due (the driver's clock), read from its heap entry; ``inf``
        when it has none. Up to a millisecond later than asked (``_heap``)."""
        entry = self.entry
        return math.inf if entry is None else (entry >> SHIFT) / 1e3


class Jobs:
    """The registry's records by key (``Registry.jobs``), found through ``Registry.by_id``.

    A dict by key would hold an entry and a key tuple per watched job for what only a detach
    and an outage look up.
    """

    __slots__ = ("_registry",)

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def get(self, k: Key) -> Watched | None:
        """Return the record of the job of key ``k``, ``None`` if it is not polled."""
        for watched in self._registry.with_id(k[2]):
            if watched.key == k:
                return watched
        return None

    def values(self) -> list[Watched]:
        """Return every record, in a new list (the caller may release jobs meanwhile)."""
        return [watched for watched in self._registry.slots if watched is not None]

    def __len__(self) -> int:
        return self._registry.count


class Registry:
    """Jobs being polled, found by id (``by_id``) or by key (``jobs``), and the remembered
    states of released ones.

    ``by_id`` holds a job's record itself, a list only for an id watched in several scopes:
    no container per job for the collector to walk (``with_id`` reads it). ``slots`` holds each
    record at its ``slot`` (``None``: free), for the due heap's entries of plain numbers.
    """

    __slots__ = (
        "_alone",
        "_free",
        "_known",
        "by_id",
        "count",
        "failing",
        "jobs",
        "remember",
        "slots",
        "stalled",
    )

    def __init__(self, remember: int) -> None:
        #: The jobs by key (``Jobs``: a view of ``by_id``).
        self.jobs = Jobs(self)
        #: The jobs by job id alone (a callback names no scope): a record, or a list of the
        #: records of one id in several scopes.
        self.by_id: dict[int, Watched | list[Watched]] = {}
        #: Records by slot; the list is never replaced (the due heap holds it).
        self.slots: list[Watched | None] = []
        #: How many jobs are polled, how many of them an outage stalled, and how many of
        #: them fail alone (``failures``: the driver keeps the count).
        self.count = 0
        self.stalled = 0
        self.failing = 0
        self._free: list[int] = []
        self._known: OrderedDict[Key, JobState] = OrderedDict()
        self.remember = remember
        #: ``(sub,)`` of the latest subscription attached: the ``subscribers`` of every job it
        #: alone holds (one tuple, not one per job); let go once it is closed.
        self._alone: tuple[_Subscription] | None = None

    def __len__(self) -> int:
        return self.count

    def remembered(self) -> list[tuple[Key, JobState]]:
        """Return the remembered states of released jobs, oldest first (``Tap.jobs``)."""
        return list(self._known.items())

    def with_id(self, job_id: int) -> Sequence[Watched]:
        """Return the records of the jobs of this id, in any scope."""
        same = self.by_id.get(job_id)
        if same is None:
            return ()
        return same if isinstance(same, list) else (same,)

    def attach(
        self,
        sub: _Subscription,
        job_id: int,
        wire: Callable[[], Wire],
        state: JobState | None = None,
    ) -> tuple[Watched, bool]:
        """Add ``sub`` to a job's subscribers; return the job's record and whether it is new.

        ``state`` (a stored state) starts a job not polled yet, in place of what is
        remembered of it; a job polled already keeps its newer state.
        """
        k = key(sub.scope, job_id)
        watched = self.jobs.get(k)
        created = watched is None
        if watched is None:
            known = self._known.pop(k, EMPTY) if self._known else EMPTY
            job = PolledJob(sub.scope, job_id, known if state is None else state)
            slots = self.slots
            slot = self._free.pop() if self._free else len(slots)
            if slot >> SHIFT:
                raise OverflowError(f"a poller watches at most {1 << SHIFT:,} jobs at once")
            watched = Watched(job, wire(), slot)
            self.count += 1
            if slot == len(slots):
                slots.append(watched)
            else:
                slots[slot] = watched
            same = self.by_id.setdefault(job_id, watched)
            if same is not watched:  # the id in another scope too
                if isinstance(same, list):
                    same.append(watched)
                else:
                    self.by_id[job_id] = [same, watched]
            alone = self._alone
            if alone is None or alone[0] is not sub:
                alone = self._alone = (sub,)
            watched.subscribers = alone
        else:
            watched.subscribers += (sub,)
        watched.wire.needs_decode = True
        return watched, created

    def detach(self, sub: _Subscription, job_ids: Iterable[int]) -> None:
        """Remove ``sub`` from these jobs; release the jobs no one watches any more."""
        for job_id in job_ids:
            watched = self.jobs.get(key(sub.scope, job_id))
            if watched is not None and sub in watched.subscribers:
                watched.subscribers = tuple(s for s in watched.subscribers if s is not sub)
                self.release_if_unwatched(watched)

    def release_if_unwatched(self, watched: Watched) -> None:
        """Stop polling a job if no open subscription holds it; remember its state."""
        subscribers = watched.subscribers
        for sub in subscribers:
            if sub.closed:  # a dropped watch: rebuild (rare; every poll comes through here)
                subscribers = watched.subscribers = tuple(s for s in subscribers if not s.closed)
                break
        if subscribers or not watched.active:
            return
        watched.active = False
        self.count -= 1
        if self._alone is not None and self._alone[0].closed:
            self._alone = None
        job_id = watched.job.job_instance_id
        same = self.by_id[job_id]
        if isinstance(same, list):
            same.remove(watched)
            if len(same) == 1:
                self.by_id[job_id] = same[0]
        else:
            del self.by_id[job_id]
        watched.entry = None
        _HINTED.pop(watched, None)
        self.slots[watched.slot] = None
        self._free.append(watched.slot)
        if watched.job.stalled is not None:  # (it leaves the stalled jobs too)
            watched.job = watched.job._replace(stalled=None)
            self.stalled -= 1
        if watched.job.failures:  # (and the failing ones)
            self.failing -= 1
        self._known[watched.key] = watched.job.state
        while len(self._known) > self.remember:
            self._known.popitem(last=False)

    def close(self) -> None:
        """Let go of every job and close every subscription (the poller is leaving)."""
        for watched in self.jobs.values():
            watched.active = False
            _HINTED.pop(watched, None)
            for sub in watched.subscribers:
                sub.close()
        self.count = self.stalled = self.failing = 0
        self._alone = None
        self.by_id.clear()
        self.slots[:] = [None] * len(self.slots)  # (the same list: the due heap holds it)
        self._free[:] = range(len(self.slots) - 1, -1, -1)
