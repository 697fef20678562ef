"""Rule: a polled job is a value in a row of columns, due at a time in a heap of plain ints.

Here are the polled job (``PolledJob``), the registry of watched jobs (``Registry``, handles
``Watched``) and the heap of when each is due (``Due``), which parked workers wait on.

A ``PolledJob`` is what the policy knows of one job (its tracker state, its interval, its
failures, whether it is stalled). It is never changed in place: ``_decide.decide`` returns a
new one and the driver puts it in the job's row of the registry, the one place it lives (as a
plain tuple, which the collector stops tracking: ``Watched.job`` makes the value when read).

A job's row holds the job value, the watches that hold it (the registry's), the job's place
in the schedule (the driver's) and what the reader remembers of its last answer (its poll
request, fingerprint and result groups: the reader's). Each part has one owner. The row is
columns by slot, not an object per job: every object a watched job holds that the cyclic
garbage collector tracks is one more for each full collection to walk, and a column of
numbers is none (``benchmarks/HISTORY.md``, "The registry's columns"). Code names a job by a
``Watched`` handle, made when needed. A job is polled while a subscription holds it; when the
last one lets go, its state moves to a bounded memory (``remember``), so watching it again
reports only what changed since.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from array import array
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol, cast

from ._tracker import EMPTY, JobState

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Iterable, Sequence

    from .._observe import GroupKey
    from .._protocol import Request
    from ..config import Scope
    from ..errors import BkJobError
    from ._subscription import _Subscription

__all__ = [
    "KEPT_REQUESTS",
    "SHIFT",
    "Due",
    "GroupCounts",
    "Jobs",
    "Key",
    "PolledJob",
    "Registry",
    "Slot",
    "Watched",
    "hangs",
    "held",
    "key",
    "moved",
]


# --- jobs ----------------------------------------------------------------------------------------


Key = tuple[str, int, int]


#: The jobs in the first slots that keep their poll request (``Watched.request``): as
#: many as the transport keeps URLs for (``_aiohttp.DEFAULT_KEPT_URLS``).
KEPT_REQUESTS = 1024


_NEVER = -math.inf  # (one float for every job: ``-math.inf`` makes a new one each time)

#: ``Registry.entries`` of a job with no live entry in the due heap, and ``Registry.prints``
#: of one whose next answer is decoded whatever it is (fingerprints keep 60 bits: never < 0).
_NONE: Final = -1

#: ``Registry.scopes`` of a slot no job ever held (a free slot's scope is never read).
_NO_SCOPE: Final = cast("Scope", None)


def key(scope: Scope, job_id: int) -> Key:
    """A job's key in the poller's tables: plain values, so hashing it costs no Python call."""
    return (scope.type.value, scope.id, job_id)


#: A job not seen yet (``EMPTY``), as a ``PolledJob`` holds it (``held``).
_UNSEEN: tuple[Any, ...] = tuple(EMPTY)


class PolledJob(NamedTuple):
    """What the policy knows of one polled job; replaced, never changed in place."""

    scope: Scope
    job_instance_id: int
    #: The tracker's state (``state``) as a plain tuple: a ``JobState`` is a tuple subclass,
    #: which the cyclic garbage collector tracks for as long as it lives, while a plain tuple
    #: of plain values it stops tracking after its first pass (``held``).
    held: tuple[Any, ...] = _UNSEEN
    #: The schedule's base interval (0: not polled since it was attached).
    interval: float = 0.0
    #: Failed reads in a row that spent its failure budget (``_decide``), and the latest.
    failures: int = 0
    error: BkJobError | None = None
    #: The same format error in a row.
    malformed: int = 0
    #: When an outage of bk-job stalled its polls (wall clock, for events), or ``None``.
    stalled: _dt.datetime | None = None
    #: Its status comes from the job list (``_census``) now: it is polled only when its row
    #: says so (``_decide.Listed``); never once a round.
    census: bool = False
    #: Its watches need its transitions, so the list stands for its polls only while its next
    #: change must change its status (``_decide._park``: it waits for a person, or its last
    #: host runs): ``census`` follows its state.
    parks: bool = False
    #: When its first failed read of the current spell was sent, on the wall clock, once its
    #: watches heard ``JobPollFailing`` (``None`` before); and on the driver's clock, for the
    #: failure budget's time (``None`` while its reads succeed).
    failing: _dt.datetime | None = None
    failing_since: float | None = None

    @property
    def state(self) -> JobState:
        """The tracker's state: every status seen, and the job's event sequence (made anew at
        each read, from ``held``)."""
        return _as_state(self.held)

    @property
    def status(self) -> int | None:
        """The job's status code as last seen (``state.status``, read in place: no ``JobState``
        made on the path every poll takes)."""
        return self.held[0]  # type: ignore[no-any-return]


#: Where ``Watched._job`` (a ``PolledJob`` without its scope and id) keeps these fields.
_FAILURES = PolledJob._fields.index("failures") - 2
_ERROR = PolledJob._fields.index("error") - 2


#: Return a state held as a plain tuple as a ``JobState``, in C.
_as_state: Callable[[Iterable[Any]], JobState] = partial(tuple.__new__, JobState)


#: Return a ``PolledJob`` of a plain tuple of its fields, in C (``Watched.job``).
_as_job: Callable[[Iterable[Any]], PolledJob] = partial(tuple.__new__, PolledJob)


def held(state: JobState) -> tuple[Any, ...]:
    """Return ``state`` as a ``PolledJob`` holds it: a plain tuple."""
    return tuple(state)


def moved(job: PolledJob, state: JobState | None, interval: float) -> PolledJob:
    """Return ``job`` with a new tracker state (``None``: the same) and interval: what every
    changed poll makes.

    The constructor, field by field: ``job._replace`` costs twice as much (``_make`` and a
    ``map``), on the path every changed answer takes (``benchmarks/test_instructions.py``).
    """
    return PolledJob(
        job.scope,
        job.job_instance_id,
        job.held if state is None else tuple(state),
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


class GroupCounts:
    """How many hosts a large step had in each result group, to fetch only groups that grew.

    Within a round a host only moves forward, so every host that changed landed in a group that
    grew. A new round (``execute_count``) resets the counts: every group is fetched again.
    """

    __slots__ = ("counts", "execute_count")

    def __init__(self) -> None:
        self.execute_count = -1
        self.counts: dict[GroupKey, int] = {}

    def grown(self, execute_count: int, counts: dict[GroupKey, int]) -> list[GroupKey]:
        """Record the new sizes; return the groups to fetch, in the server's order."""
        if execute_count != self.execute_count:
            self.execute_count, self.counts = execute_count, {}
        old = self.counts
        self.counts = counts
        return [key for key, size in counts.items() if size > old.get(key, 0)]


class _Column(Protocol):
    """A column of the registry: an array, a list or a dict by slot."""

    def __setitem__(self, slot: int, value: Any, /) -> None: ...


#: Make a ``Watched`` of ``(registry, slot, gen)``, in C (a handle is made at every poll).
_handle: Callable[[tuple[Registry, int, int]], Watched]


class Watched(NamedTuple):
    """A handle on a job the registry polls: its slot in the registry's columns, and the
    generation of the slot it was made in.

    The registry keeps no object per job. A job is a row across its columns, at its slot
    (``Registry``): numbers in arrays, flags in byte arrays, and plain tuples in lists, which
    the collector stops tracking after their first pass. So a full collection walks a column
    in C, not one object per job (``benchmarks/HISTORY.md``, "The registry's columns"). A
    handle is made when the job is attached, found (``Registry.with_id``, ``Registry.jobs``) or
    handed out by the due heap; it dies with the poll that holds it.

    Releasing a job gives its slot a new generation: an older handle reads ``active`` false
    and every write through it goes nowhere. The slot is reused only once the poll in flight
    is done (``busy`` cleared), so a worker's handle never reaches another job.
    """

    registry: Registry
    slot: int
    gen: int

    def __repr__(self) -> str:
        return f"Watched(slot={self.slot}, gen={self.gen}, job_id={self.job_id})"

    def _write(self, column: _Column, value: Any) -> None:
        """Write the job's ``value`` in ``column``, unless the job was released: a handle of
        an older generation writes nowhere (every setter below goes through here but
        ``busy``'s)."""
        if self.registry.gens[self.slot] == self.gen:
            column[self.slot] = value

    @property
    def active(self) -> bool:
        """Registered; false once its last watch left (``Registry.release_if_unwatched``)."""
        return self.registry.gens[self.slot] == self.gen

    @property
    def scope(self) -> Scope:
        return self.registry.scopes[self.slot]

    @property
    def job_id(self) -> int:
        return self.registry.ids[self.slot]

    @property
    def job(self) -> PolledJob:
        """The job's value (``PolledJob``), made when read: never changed in place. Replaced
        by the driver after each decision."""
        registry, slot = self.registry, self.slot
        return _as_job((registry.scopes[slot], registry.ids[slot]) + registry.values[slot])

    @job.setter
    def job(self, job: PolledJob) -> None:
        self._write(self.registry.values, job[2:])  # (a job's scope and id never change)

    @property
    def subscribers(self) -> tuple[_Subscription, ...]:
        """The watches holding the job (the registry's): a tuple, replaced on each change, and
        shared by every job only the latest watch holds (``Registry.attach``)."""
        return self.registry.subscribers[self.slot]

    @subscribers.setter
    def subscribers(self, subscribers: tuple[_Subscription, ...]) -> None:
        self._write(self.registry.subscribers, subscribers)

    @property
    def busy(self) -> bool:
        """A poll is in flight: never poll one job twice at once (answers could cross)."""
        return bool(self.registry.busy[self.slot])

    @busy.setter
    def busy(self, busy: bool) -> None:
        registry, slot = self.registry, self.slot
        if registry.gens[slot] == self.gen:
            registry.busy[slot] = busy
        elif not busy:
            registry.drained(slot, self.gen)  # (released in flight: the slot is free now)

    @property
    def entry(self) -> int | None:
        """Its live entry in the due heap, ``None`` when it has none (``Due``)."""
        entry = self.registry.entries[self.slot]
        return None if entry == _NONE else entry

    @entry.setter
    def entry(self, entry: int | None) -> None:
        self._write(self.registry.entries, _NONE if entry is None else entry)

    @property
    def sent(self) -> float:
        """When its last poll was taken (the driver's clock; ``-inf``: never). Only ``Due``
        sets it, as it hands the job out."""
        return self.registry.sents[self.slot]

    @property
    def due(self) -> float:
        """When its next poll is due (the driver's clock), read from its heap entry; ``inf``
        when it has none. Up to a millisecond later than asked (``Due``)."""
        entry = self.registry.entries[self.slot]
        return math.inf if entry == _NONE else (entry >> SHIFT) / 1e3

    # The reader's part (``_reader.Reader``; only the reader changes it).

    @property
    def fingerprint(self) -> int | None:
        """The last decoded answer's fingerprint (``None``: decode the next)."""
        fingerprint = self.registry.prints[self.slot]
        return None if fingerprint == _NONE else fingerprint

    @fingerprint.setter
    def fingerprint(self, fingerprint: int | None) -> None:
        self._write(self.registry.prints, _NONE if fingerprint is None else fingerprint)

    @property
    def request(self) -> Request | None:
        """Its poll request, sent again and again, kept in the first ``KEPT_REQUESTS`` slots
        only (``None``: made at each send, ``Reader.poll_of``)."""
        return self.registry.requests[self.slot]

    @request.setter
    def request(self, request: Request | None) -> None:
        self._write(self.registry.requests, request)

    @property
    def hosts(self) -> bool:
        """Whether its polls read host rows."""
        return bool(self.registry.hosts[self.slot])

    @hosts.setter
    def hosts(self, hosts: bool) -> None:
        self._write(self.registry.hosts, hosts)

    @property
    def cuts(self) -> tuple[int, ...]:
        """Where the last decoded answer's request ids were (``body_fingerprint``'s ``known``)."""
        return self.registry.cuts[self.slot]

    @cuts.setter
    def cuts(self, cuts: tuple[int, ...]) -> None:
        self._write(self.registry.cuts, cuts)

    @property
    def needs_decode(self) -> bool:
        """Decode the next answer even if unchanged (a watch joined: it must hear the state)."""
        return bool(self.registry.fresh[self.slot])

    @needs_decode.setter
    def needs_decode(self, needs: bool) -> None:
        self._write(self.registry.fresh, needs)

    @property
    def groups(self) -> dict[int, GroupCounts] | None:
        """Large steps followed by result groups (``None``: the job is polled whole)."""
        return self.registry.groups.get(self.slot)

    @groups.setter
    def groups(self, groups: dict[int, GroupCounts] | None) -> None:
        if groups is None:
            if self.active:
                self.registry.groups.pop(self.slot, None)
        else:
            self._write(self.registry.groups, groups)

    @property
    def hinted(self) -> float:
        """When a hint (a callback) last brought its poll forward (``-inf``: never)."""
        return self.registry.hinted.get(self.slot, _NEVER)

    @hinted.setter
    def hinted(self, at: float) -> None:
        self._write(self.registry.hinted, at)

    def hangs(self) -> bool:
        """``hangs(self.job)``, without making the job (every poll asks)."""
        rest = self.registry.values[self.slot]
        return rest[_FAILURES] > 0 and isinstance(rest[_ERROR], TimeoutError)

    def decoded(self, changed: bool) -> None:
        """Note that an answer was decoded and tracked (``changed``: it moved the state)."""
        self.needs_decode = False
        if not changed:
            # The answer looked changed but nothing in it was: maybe a request id where the
            # reused places do not look. Search the next answer whole (``body_fingerprint``).
            self.cuts = ()

    @property
    def key(self) -> Key:
        """The job's key (``key``): made when asked, not kept per job."""
        return key(self.scope, self.job_id)


_handle = partial(tuple.__new__, Watched)


class Jobs:
    """The registry's jobs by key (``Registry.jobs``), found through ``Registry.by_id``.

    A dict by key would hold an entry and a key tuple per watched job for what only a detach
    and an outage look up.
    """

    __slots__ = ("_registry",)

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def get(self, k: Key) -> Watched | None:
        """Return a handle on the job of key ``k``, ``None`` if it is not polled."""
        for watched in self._registry.with_id(k[2]):
            if watched.key == k:
                return watched
        return None

    def values(self) -> list[Watched]:
        """Return a handle on every job, in slot order, in a new list (the caller may release
        jobs meanwhile)."""
        registry = self._registry
        return [_handle((registry, slot, gen)) for slot, gen in enumerate(registry.gens) if gen & 1]

    def __len__(self) -> int:
        return self._registry.count


class Registry:
    """Jobs being polled, as columns by slot; found by id (``by_id``) or by key (``jobs``);
    and the remembered states of released ones.

    A job's slot is its row in every column (``Watched`` reads and writes them). ``gens``
    holds each slot's generation: odd while a job holds it, even while it is free. ``by_id``
    holds a job's slot, a list only for an id watched in several scopes: no object per job for
    the collector to walk (``with_id`` reads it). The due heap's entries name a job by slot.
    """

    __slots__ = (
        "_alone",
        "_draining",
        "_free",
        "_known",
        "busy",
        "by_id",
        "count",
        "cuts",
        "entries",
        "failing",
        "fresh",
        "gens",
        "groups",
        "hinted",
        "hosts",
        "ids",
        "jobs",
        "prints",
        "remember",
        "requests",
        "scopes",
        "sents",
        "stalled",
        "subscribers",
        "values",
    )

    def __init__(self, remember: int) -> None:
        #: The jobs by key (``Jobs``: a view of ``by_id``).
        self.jobs = Jobs(self)
        #: The jobs' slots by job id alone (a callback names no scope): a slot, or a list of
        #: the slots of one id in several scopes.
        self.by_id: dict[int, int | list[int]] = {}
        # The columns, one row a slot (``Watched`` says what each holds). Numbers and flags
        # are in arrays, which hold no object; the lists hold shared or plain tuples.
        self.gens = array("q")
        self.scopes: list[Scope] = []
        self.ids = array("q")
        #: The job's value (``PolledJob``) without its scope and id: a plain tuple.
        self.values: list[tuple[Any, ...]] = []
        self.entries = array("q")
        self.sents = array("d")
        self.prints = array("q")
        self.busy = bytearray()
        self.hosts = bytearray()
        self.fresh = bytearray()
        self.subscribers: list[tuple[_Subscription, ...]] = []
        self.cuts: list[tuple[int, ...]] = []
        self.requests: list[Request | None] = []
        # The rare ones, by slot: few jobs are hinted or have large steps.
        self.groups: dict[int, dict[int, GroupCounts]] = {}
        self.hinted: dict[int, float] = {}
        #: How many jobs are polled, how many of them an outage stalled, and how many of
        #: them fail alone (``failures``: the driver keeps the count).
        self.count = 0
        self.stalled = 0
        self.failing = 0
        self._free: list[int] = []
        #: The slots of jobs released while a poll of theirs was in flight, and the generation
        #: they had: free once it is done (``drained``).
        self._draining: dict[int, int] = {}
        #: Released jobs' states, as plain tuples (``PolledJob.held``): the collector stops
        #: tracking them after their first pass.
        self._known: OrderedDict[Key, tuple[Any, ...]] = OrderedDict()
        self.remember = remember
        #: ``(sub,)`` of the latest subscription attached: the ``subscribers`` of every job it
        #: alone holds (one tuple, not one per job); let go once it is closed.
        self._alone: tuple[_Subscription] | None = None

    def __len__(self) -> int:
        return self.count

    def remembered(self) -> list[tuple[Key, JobState]]:
        """Return the remembered states of released jobs, oldest first (``Tap.jobs``)."""
        return [(k, _as_state(state)) for k, state in self._known.items()]

    def with_id(self, job_id: int) -> Sequence[Watched]:
        """Return handles on the jobs of this id, in any scope."""
        same = self.by_id.get(job_id)
        if same is None:
            return ()
        gens = self.gens
        if isinstance(same, list):
            return [_handle((self, slot, gens[slot])) for slot in same]
        return (_handle((self, same, gens[same])),)

    def handles(self, slots: dict[int, int]) -> list[Watched]:
        """Return handles on the jobs of ``{slot: generation}`` (``_census``)."""
        return [_handle((self, slot, gen)) for slot, gen in slots.items()]

    def attach(
        self,
        sub: _Subscription,
        job_id: int,
        request: Callable[[], Request],
        state: JobState | None = None,
    ) -> tuple[Watched, bool]:
        """Add ``sub`` to a job's subscribers; return a handle on the job and whether it is new.

        ``request`` makes a new job's poll request (the reader's), kept in the first
        ``KEPT_REQUESTS`` slots only.
        ``state`` (a stored state) starts a job not polled yet, in place of what is
        remembered of it; a job polled already keeps its newer state.
        """
        k = key(sub.scope, job_id)
        watched = self.jobs.get(k)
        if watched is not None:
            watched.subscribers += (sub,)
            watched.needs_decode = True
            return watched, False
        known = self._known.pop(k, _UNSEEN) if self._known else _UNSEEN
        job = PolledJob(sub.scope, job_id, known if state is None else held(state))
        slot = self._slot()
        self.gens[slot] += 1  # (odd: held)
        self.scopes[slot] = sub.scope
        self.ids[slot] = job_id
        self.values[slot] = job[2:]
        self.requests[slot] = request() if slot < KEPT_REQUESTS else None
        alone = self._alone
        if alone is None or alone[0] is not sub:
            alone = self._alone = (sub,)
        self.subscribers[slot] = alone
        self.count += 1
        same = self.by_id.setdefault(job_id, slot)
        if same != slot:  # the id in another scope too
            if isinstance(same, list):
                same.append(slot)
            else:
                self.by_id[job_id] = [same, slot]
        return _handle((self, slot, self.gens[slot])), True

    def _slot(self) -> int:
        """Return a free slot, its row as a new job's (every column grows by one if none)."""
        if self._free:
            slot = self._free.pop()
            self.entries[slot] = self.prints[slot] = _NONE
            self.sents[slot] = _NEVER
            self.busy[slot] = 0
            self.hosts[slot] = self.fresh[slot] = 1
            self.cuts[slot] = ()
            return slot
        slot = len(self.gens)
        if slot >> SHIFT:
            raise OverflowError(f"a poller watches at most {1 << SHIFT:,} jobs at once")
        self.gens.append(0)
        self.scopes.append(_NO_SCOPE)
        self.ids.append(0)
        self.values.append(())
        self.entries.append(_NONE)
        self.sents.append(_NEVER)
        self.prints.append(_NONE)
        self.busy.append(0)
        self.hosts.append(1)
        self.fresh.append(1)
        self.subscribers.append(())
        self.cuts.append(())
        self.requests.append(None)
        return slot

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
        slot = watched.slot
        self.count -= 1
        if self._alone is not None and self._alone[0].closed:
            self._alone = None
        job = watched.job
        same = self.by_id[job.job_instance_id]
        if isinstance(same, list):
            same.remove(slot)
            if len(same) == 1:
                self.by_id[job.job_instance_id] = same[0]
        else:
            del self.by_id[job.job_instance_id]
        if job.stalled is not None:  # (it leaves the stalled jobs too)
            self.values[slot] = job._replace(stalled=None)[2:]
            self.stalled -= 1
        if job.failures:  # (and the failing ones)
            self.failing -= 1
        self._known[watched.key] = job.held
        while len(self._known) > self.remember:
            self._known.popitem(last=False)
        self._vacate(slot)
        if self.busy[slot]:
            self._draining[slot] = watched.gen  # (free once its poll is done: ``drained``)
        else:
            self._free.append(slot)

    def _vacate(self, slot: int) -> None:
        """Let go of what a released job's row holds; a new generation stales its handles."""
        self.gens[slot] += 1  # (even: free)
        self.entries[slot] = _NONE
        self.subscribers[slot] = ()
        self.requests[slot] = None
        self.groups.pop(slot, None)
        self.hinted.pop(slot, None)

    def drained(self, slot: int, gen: int) -> None:
        """The poll in flight of the job released from ``slot`` at ``gen`` is done: free it."""
        if self._draining.get(slot) == gen:
            del self._draining[slot]
            self.busy[slot] = 0
            self._free.append(slot)

    def close(self) -> None:
        """Let go of every job and close every subscription (the poller is leaving)."""
        for watched in self.jobs.values():
            for sub in watched.subscribers:
                sub.close()
            self._vacate(watched.slot)
        self.count = self.stalled = self.failing = 0
        self._alone = None
        self.by_id.clear()
        self._draining.clear()
        self.busy[:] = bytes(len(self.busy))
        self._free[:] = range(len(self.gens) - 1, -1, -1)


# --- heap ----------------------------------------------------------------------------------------
#
# The due jobs: heaps of due times, the guard against polls too soon, and parked workers.
#
# No task exists per job: a job is an entry in a heap of due times. Workers take due jobs
# themselves (``take``) and park when none is due; the scheduler (``_tick``, a timer callback
# while ``run`` runs) only wakes a parked worker when a job falls due, and sets its timer for the
# next due time. A job is never handed out
# sooner than the policy's smallest gap after its last poll unless asked (a callback's hint
# since): such a poll is a scheduling bug, so it is put off, counted and logged once, never sent.
#
# Every poll pushes one entry that lives for the job's interval. Entries are plain ints, which
# the cyclic garbage collector never tracks: the due time in whole milliseconds (rounded up, so a
# job is never handed out early; the scheduler's tick is a millisecond too), shifted left 24 bits,
# or-ed with the job's ``slot`` (its place in ``Registry.slots``, below 2**24). Such an int stays
# below 2**60 for 795 days of the monotonic clock, so it takes 32 bytes, not the 48 of a larger
# one: every watched job has one. A tuple per entry would be tracked: ``(due, seq, job)``
# entries were promoted to the oldest generation and, at a high poll rate, made frequent full
# collections walking every job's state; even tuples of numbers only (untracked at their
# first pass) piled up in the youngest generation between passes, one per job polled, and made
# its pass walk them all (``benchmarks/HISTORY.md``, "Scale without pauses"). An entry is stale
# unless it is its job's ``entry`` (the job was rescheduled, taken, released, or the slot holds
# another job).
#
# Jobs whose reads time out alone (``_jobs.hangs``) wait in a heap of their own and hold at most
# ``share`` of the requests in flight (``_decide.failing_share``): a hung job never holds a
# healthy job's poll. In an outage the probe is a job failing alone only when no other is due.
#
# The scheduler is an asyncio timer and parked workers wait on bare asyncio futures (the client
# runs on asyncio only, as aiohttp does), not anyio Events and cancel scopes: at a few polls a
# second per worker nearly every poll came with a scheduler sleep that ran to its deadline (a
# cancel scope's timeout: a cancellation delivered, raised and caught), then a turn of the
# scheduler's task before the worker's (``benchmarks/HISTORY.md``, "CPU per job-hour"). Now a
# timer hands the job to the worker directly. Cancelling ``run``'s task stops the scheduler.


logger = logging.getLogger("bkjob_async.polling")


# The scheduler never sleeps less than this: jobs due within a tick go out together.
_TICK = 0.001
#: The most polls handed out at once when jobs go early (``Due._hand_out``): a group shares
#: the loop's turns. Among many jobs the next ones are due a moment later, and only those go
#: early; a pull as far as ``early`` for each idle worker would run the whole schedule ahead.
_GROUP = 16


SHIFT = 24  # slots below 2**24 (``Watched.due`` reads an entry's due time)


_SLOT = (1 << SHIFT) - 1


def _entry(due: float, slot: int) -> int:
    """The heap entry of a poll of the job in ``slot`` at ``due`` (module docstring).

    ``int(due * 1e3) + 1``: up to a millisecond late, never early (``push`` spells it inline).
    """
    return ((int(due * 1e3) + 1) << SHIFT) | slot


def hangs(job: PolledJob) -> bool:
    """Whether a job fails alone with timeouts: each of its polls holds a request for a whole
    read timeout, so the failing jobs' share of the requests in flight bounds them (below).
    A job that fails fast (a 502, a malformed body) holds one no longer than a healthy one."""
    return job.failures > 0 and isinstance(job.error, TimeoutError)


class _Server(Protocol):
    @property
    def down_since(self) -> float | None: ...


class _Governor(Protocol):
    @property
    def rate(self) -> float | None: ...

    @property
    def paused_until(self) -> float: ...


class _Health(Protocol):
    @property
    def server(self) -> _Server: ...


class Gate(Protocol):
    """What may hold due polls back: the rate governor and an outage (the driver)."""

    registry: Registry

    @property
    def governor(self) -> _Governor: ...

    @property
    def health(self) -> _Health: ...

    def may_send(self, now: float) -> bool: ...

    def hold(self, now: float) -> float: ...


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Slot:
    """A parked worker: the scheduler puts a job in ``watched`` and wakes ``ready``."""

    __slots__ = ("ready", "watched")

    def __init__(self) -> None:
        self.watched: Watched | None = None
        self.ready: asyncio.Future[None]  # (``park`` sets it)


class Due:
    """Jobs by due time; ``take`` hands out the earliest due one when polls may go."""

    __slots__ = (
        "_clock",
        "_early",
        "_failing",
        "_gap",
        "_gate",
        "_heap",
        "_idle",
        "_loop",
        "_registry",
        "_running",
        "_share",
        "_soon",
        "_timer",
        "failing_out",
        "refused",
    )

    def __init__(self, gap: float, gate: Gate, share: int = 1, early: float = 0.0) -> None:
        self._gap = gap
        #: How much sooner than due a job may go along with polls that go now (``_hand_out``).
        self._early = early
        self._gate = gate
        #: ints: due time and slot (module docstring); the collector tracks none. The jobs
        #: failing alone have their own, and hold at most ``share`` polls in flight (taken,
        #: not yet ``done``: ``failing_out``).
        self._heap: list[int] = []
        self._failing: list[int] = []
        self._share = share
        self.failing_out = 0
        #: The registry, whose columns the entries name a job's row of by slot.
        self._registry = gate.registry
        #: While ``run`` runs: its task's future (``_tick`` fails it on a bug), the loop and
        #: the clock; the timer for the next due time, and whether a tick is scheduled soon.
        self._running: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: Callable[[], float] = lambda: 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._soon = False
        self._idle: list[Slot] = []
        #: Polls put off because they came sooner than the smallest gap (``_refuse``).
        self.refused = 0

    def push(self, watched: Watched, due: float) -> None:
        """(Re)schedule a job's next poll at ``due``."""
        registry, slot = self._registry, watched.slot
        if registry.gens[slot] != watched.gen:
            return  # (released)
        entry = ((int(due * 1e3) + 1) << SHIFT) | slot  # (_entry)
        registry.entries[slot] = entry
        rest = registry.values[slot]  # (``Watched.hangs``, in place: every poll comes here)
        hung = rest[_FAILURES] > 0 and isinstance(rest[_ERROR], TimeoutError)
        heap = self._failing if hung else self._heap
        heapq.heappush(heap, entry)
        if heap[0] == entry:
            self.wake()

    def replace(self, due: list[tuple[float, Watched]]) -> None:
        """Reschedule every job at once (after an outage): ``(due, job)`` pairs."""
        heap: list[int] = []
        failing: list[int] = []
        for at, watched in due:
            watched.entry = entry = _entry(at, watched.slot)
            (failing if watched.hangs() else heap).append(entry)
        heapq.heapify(heap)
        heapq.heapify(failing)
        self._heap[:] = heap
        self._failing[:] = failing
        self.wake()

    def clear(self) -> None:
        self._heap.clear()
        self._failing.clear()

    def done(self) -> None:
        """A failing job's poll came back: its share of the requests in flight is free."""
        self.failing_out -= 1
        if self._failing:
            self.wake()

    def wake(self) -> None:
        """Have the scheduler look again soon (polls may go again, say)."""
        if self._loop is not None and not self._soon:
            self._soon = True
            self._loop.call_soon(self._tick)

    def take(self, now: float) -> Watched | None:
        """Pop the earliest due job, if one is due and polls may go now; mark it sent.

        A failing job goes when it is due first and the failing jobs' share of the requests
        in flight has room; in an outage, only when no healthy job is due (module docstring).
        """
        failing = self._failing
        if failing and self.failing_out < self._share:
            bound = (int(now * 1e3) + 1) << SHIFT
            if failing[0] < bound:
                top = self._heap[0] if self._heap else bound
                down = self._gate.health.server.down_since is not None
                if top >= bound or (failing[0] < top and not down):
                    watched = self._take(failing, now)
                    if watched is not None:
                        self.failing_out += 1
                        return watched
        return self._take(self._heap, now)

    def _take(self, heap: list[int], now: float, until: float | None = None) -> Watched | None:
        """Pop the earliest due job of ``heap`` (``take``); with ``until``, the earliest due by
        then, if it may go now (``_hand_out``)."""
        gap, gate, registry = self._gap, self._gate, self._registry
        entries, sents = registry.entries, registry.sents
        # (entries below are due: at most ``now``, or ``until``)
        bound = (int((now if until is None else until) * 1e3) + 1) << SHIFT
        while heap and heap[0] < bound:
            entry = heapq.heappop(heap)
            slot = entry & _SLOT
            if entries[slot] != entry:
                continue  # rescheduled, taken or released since: a stale entry
            watched = _handle((registry, slot, registry.gens[slot]))
            sent = sents[slot]
            if now < sent + gap and registry.hinted.get(slot, _NEVER) <= sent:
                if until is not None:  # not due yet, and too soon to go early: at its time
                    heapq.heappush(heap, entry)
                    return None
                self._refuse(watched, now)  # (a hint since the last poll asked for this one)
                continue
            governor = gate.governor
            down = gate.health.server.down_since is not None
            if down and watched.job.failing is not None:  # a probe: not a job failing alone
                other = self._other_probe(heap, bound, now)
                if other is not None:
                    heapq.heappush(heap, entry)
                    entry, watched = other
            if (
                governor.rate is not None or now < governor.paused_until or down
            ) and not gate.may_send(now):
                heapq.heappush(heap, entry)
                return None
            slot = watched.slot  # (another probe's, maybe)
            entries[slot] = _NONE
            sents[slot] = now
            registry.busy[slot] = True
            return watched
        return None

    def _other_probe(self, heap: list[int], bound: int, now: float) -> tuple[int, Watched] | None:
        """Pop the earliest due entry of a job not failing alone, if any (an outage's probe)."""
        held: list[int] = []
        found = None
        while heap and heap[0] < bound:
            entry = heapq.heappop(heap)
            slot = entry & _SLOT
            registry = self._registry
            if registry.entries[slot] != entry:
                continue
            watched = _handle((registry, slot, registry.gens[slot]))
            if watched.job.failing is None and now >= watched.sent + self._gap:
                found = (entry, watched)
                break
            held.append(entry)
        for entry in held:
            heapq.heappush(heap, entry)
        return found

    def _next(self) -> float:
        """When the next poll that may go is due: the earliest entry, of a failing job only
        while their share has room (``inf``: none)."""
        heap, failing = self._heap, self._failing
        due = (heap[0] >> SHIFT) / 1e3 if heap else math.inf  # (the entry's due)
        if failing and self.failing_out < self._share:
            return min(due, (failing[0] >> SHIFT) / 1e3)
        return due

    def _refuse(self, watched: Watched, now: float) -> None:
        """Put off a poll that came too soon after the job's last one, and count it.

        The schedule never asks for one (``min_gap``): whatever asks is a bug, and this keeps
        it from becoming a flood of requests against bk-job.
        """
        self.refused += 1
        if self.refused == 1:
            logger.warning(
                "job %s: a poll was due %.3f s after the last one, sooner than the policy allows "
                "(%.3f s); putting it off (counted in statistics().refused_polls)",
                watched.job.job_instance_id,
                now - watched.sent,
                self._gap,
            )
        self.push(watched, watched.sent + self._gap)

    async def park(self, slot: Slot) -> Watched | None:
        """Park a worker until the scheduler hands it a job (``None``: look again)."""
        slot.ready = ready = asyncio.get_running_loop().create_future()
        self._idle.append(slot)
        if len(self._idle) == 1:
            self.wake()  # the scheduler may be waiting for a free worker
        await ready
        watched, slot.watched = slot.watched, None
        return watched

    async def run(self, clock: Callable[[], float]) -> None:
        """Run the scheduler until cancelled: hand due jobs to parked workers as they fall due.

        Busy workers take due jobs themselves, so under load nothing passes through here; the
        timer fires at most once per ``_TICK``. A bug in it is raised here.
        """
        self._loop = loop = asyncio.get_running_loop()
        self._clock = clock
        self._running = running = loop.create_future()
        self._tick()
        try:
            await running
        finally:
            self._loop = self._running = None
            if self._timer is not None:
                self._timer.cancel()

    def _tick(self) -> None:
        """Hand due jobs to parked workers; set the timer for when to look again."""
        self._soon = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        running, loop = self._running, self._loop
        if running is None or loop is None or running.done():
            return  # (a tick scheduled before ``run`` ended, or after a bug ended it)
        try:
            delay = self._hand_out(self._clock())
        except Exception as exc:
            running.set_exception(exc)
            return
        if delay < math.inf:
            self._timer = loop.call_later(delay, self._tick)

    def _hand_out(self, now: float) -> float:
        """Hand the jobs due at ``now`` to parked workers, and those due within ``early`` along
        with them; return how long to sleep."""
        handed = 0
        while self._idle and self._next() <= now:
            watched = self.take(now)
            if watched is None:
                break
            handed += 1
            self._hand(watched)
        if handed and self._early and self._gate.health.server.down_since is None:
            # Polls go now: the jobs due within ``early`` go with them (``_decide.early``), up
            # to a group.
            heap, until = self._heap, now + self._early
            while self._idle and heap and handed < _GROUP:
                handed += 1
                watched = self._take(heap, now, until)
                if watched is None:
                    break
                self._hand(watched)
        due = self._next()  # (stale ones popped)
        if due <= now:
            # Held back (rate, outage): wait until polls may go. Or no worker is free: the
            # first to park wakes us (busy ones take due jobs themselves).
            return max(self._gate.hold(now), _TICK) if self._idle else math.inf
        return max(due - now, _TICK) if due < math.inf else math.inf

    def _hand(self, watched: Watched) -> None:
        """Hand a job taken to a parked worker and wake it."""
        slot = self._idle.pop()
        slot.watched = watched
        _wake(slot.ready)
