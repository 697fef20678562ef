"""Rule: the job table is the one module that knows how a watched job is stored and packed.

Each watched job is a row of columns by slot, and its due heap's entries are packed ints.

``PolledJob`` is what the policy knows of one job (its tracker state, its interval, its
failures, whether it is stalled): a value, never changed in place. ``_decide.decide`` returns a
new one and the driver puts it in the job's row of the registry (``Registry``), the one place it
lives. The rest of ``polling/`` names a job by a ``Watched`` handle. A poll enters the table
twice: one read, as the due heap hands the job out (``Registry.taken``: a ``Row`` of plain
values, carried through the read to the decision), and one write of what its decision changed
together with the next poll's entry (``Watched.put``). A watch that changes the job while its
poll is in flight counts a change in its row (``Row.change``), so the put of a decision made on
the older row writes nothing and the driver decides again on the row as it is now. The due
heap keeps its entries as opaque ints that ``Registry.schedule`` and ``Watched.put`` make and
``Registry.pop_due`` reads (``_due.Due``). How a row is laid out and how an entry packs a due
time and a slot is said here only; ``benchmarks/test_scale.py`` and
``benchmarks/test_instructions.py`` measure it.

A job's row holds the job value, the watches that hold it (the registry's), the job's place
in the schedule (the driver's) and what the reader remembers of its last answer (its poll
request, fingerprint and result groups: the reader's). Each part has one owner. The row is
columns by slot, not an object per job: numbers in arrays, flags in byte arrays, plain
tuples of plain values in lists, which the collector stops tracking after their first pass
(``benchmarks/HISTORY.md``, "The registry's columns"). A job is polled while a subscription
holds it; when the last one lets go, its state moves to a bounded memory (``remember``), so
watching it again reports only what changed since.
"""

from __future__ import annotations

import heapq
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
    "KEEP",
    "KEPT_REQUESTS",
    "SHIFT",
    "STALE",
    "GroupCounts",
    "Jobs",
    "Key",
    "PolledJob",
    "Registry",
    "Row",
    "Watched",
    "hangs",
    "key",
]


# --- jobs ----------------------------------------------------------------------------------------


Key = tuple[str, int, int]


def key(scope: Scope, job_id: int) -> Key:
    """A job's key in the poller's tables: plain values."""
    return (scope.type.value, scope.id, job_id)


class PolledJob(NamedTuple):
    """What the policy knows of one polled job; replaced, never changed in place."""

    scope: Scope
    job_instance_id: int
    #: The tracker's state: every status seen, and the job's event sequence.
    state: JobState = EMPTY
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
    def status(self) -> int | None:
        """The job's status code as last seen (``state.status``)."""
        return self.state.status


class Row(NamedTuple):
    """What applying a poll's answer reads of its job, in one read: as the due heap hands the
    job out (``Registry.taken``), or when an outcome comes from elsewhere (``Watched.row``)."""

    #: The handle on the job (``Watched.put`` writes through it).
    watched: Watched
    job: PolledJob
    #: The watches holding it (``Watched.subscribers``).
    subscribers: tuple[_Subscription, ...]
    #: When its poll was taken (the driver's clock).
    sent: float
    #: How many times its watches had changed the job when it was read (``Watched.put``).
    change: int


#: ``Watched.put``'s ``fingerprint`` when no answer was decoded: the last one stays.
KEEP: Final[Any] = object()

#: What ``Watched.put`` returns when the row its decision was made on is not the job's row any
#: more (a watch changed the job, or it was released): nothing was written.
STALE: Final[tuple[int, bool]] = (-1, False)


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


def hangs(job: PolledJob) -> bool:
    """Whether a job fails alone with timeouts: each of its polls holds a request for a whole
    read timeout, so the failing jobs' share of the requests in flight bounds them (below).
    A job that fails fast (a 502, a malformed body) holds one no longer than a healthy one."""
    return job.failures > 0 and isinstance(job.error, TimeoutError)


# --- the table -----------------------------------------------------------------------------------


#: The jobs in the first slots that keep their poll request (``Watched.request``): as
#: many as the transport keeps URLs for (``_aiohttp.DEFAULT_KEPT_URLS``).
KEPT_REQUESTS = 1024


_NEVER = -math.inf  # (one float for every job: ``-math.inf`` makes a new one each time)

#: ``Registry.entries`` of a job with no live entry in the due heap, and ``Registry.prints``
#: of one whose next answer is decoded whatever it is (fingerprints keep 60 bits: never < 0).
_NONE: Final = -1

#: ``Registry.scopes`` of a slot no job ever held (a free slot's scope is never read).
_NO_SCOPE: Final = cast("Scope", None)

#: A job not seen yet (``EMPTY``), as a row keeps its state: a plain tuple.
_UNSEEN: tuple[Any, ...] = tuple(EMPTY)

#: A new job's value past its scope, id and state (``PolledJob``'s defaults).
_FRESH: tuple[Any, ...] = PolledJob(_NO_SCOPE, 0)[3:]

#: Where ``Registry.values`` (a ``PolledJob`` past its scope, id and state) keeps these.
_FAILURES = PolledJob._fields.index("failures") - 3
_ERROR = PolledJob._fields.index("error") - 3

# A heap entry (``Registry.schedule``) is a plain int, which the collector never tracks: the due
# time in whole milliseconds (rounded up, so a job is never handed out early; the scheduler's
# tick is a millisecond too), shifted left ``SHIFT`` bits, or-ed with the job's slot (below
# 2**24). Entries order as their due times. An entry is stale unless it is its job's ``entry``
# (the job was rescheduled, taken, released, or the slot holds another job); ``pop_due`` drops
# stale ones. Why ints and not tuples: ``benchmarks/HISTORY.md``, "Scale without pauses".
SHIFT = 24

_SLOT = (1 << SHIFT) - 1

#: The most stale entries one ``pop_due`` drops by default, about the work of one poll: a watch
#: that ends while its jobs are behind their schedule leaves them all due at once, and the due
#: heap counts each call that drops some in the loop's turn (``_due.Due._take``;
#: ``benchmarks/HISTORY.md``, "The stall on cancel").
STALE_DROPS = 256


def _entry(due: float, slot: int) -> int:
    """Return the heap entry of the job at ``slot`` due at ``due`` (``slot`` 0: the first entry
    not due by ``due``)."""
    return ((int(due * 1e3) + 1) << SHIFT) | slot


#: A row's state (a plain tuple) as a ``JobState``, and a row as a ``PolledJob``: the tuple
#: subclasses made of a plain tuple of their fields, as ``tuple.__new__`` makes them.
_as_state: Callable[[Iterable[Any]], JobState] = partial(tuple.__new__, JobState)
_as_job: Callable[[Iterable[Any]], PolledJob] = partial(tuple.__new__, PolledJob)


class _Column(Protocol):
    """A column of the registry: an array, a list or a dict by slot."""

    def __setitem__(self, slot: int, value: Any, /) -> None: ...


#: Make a ``Watched`` of ``(registry, slot, gen)``.
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

    def _write(self, column: _Column, value: Any, change: bool = True) -> None:
        """Write the job's ``value`` in ``column``, unless the job was released: a handle of
        an older generation writes nowhere (every setter below goes through here but
        ``busy``'s and ``job``'s). A ``change`` (a watch's: not the reader's own part, nor a
        hint) is counted in the row, for a poll in flight to see (``put``)."""
        registry, slot = self.registry, self.slot
        if registry.gens[slot] == self.gen:
            column[slot] = value
            if change:
                registry.changes[slot] += 1

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
        state = _as_state(registry.states[slot])
        return _as_job((registry.scopes[slot], registry.ids[slot], state) + registry.values[slot])

    @job.setter
    def job(self, job: PolledJob) -> None:
        registry, slot = self.registry, self.slot
        if registry.gens[slot] == self.gen:  # (a job's scope and id never change)
            registry.states[slot] = tuple(job.state)
            registry.values[slot] = job[3:]
            registry.changes[slot] += 1

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
        self._write(self.registry.prints, _NONE if fingerprint is None else fingerprint, False)

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
        self._write(self.registry.cuts, cuts, False)

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
            self._write(self.registry.groups, groups, False)

    @property
    def hinted(self) -> float:
        """When a hint (a callback) last brought its poll forward (``-inf``: never)."""
        return self.registry.hinted.get(self.slot, _NEVER)

    @hinted.setter
    def hinted(self, at: float) -> None:
        self._write(self.registry.hinted, at, False)

    def row(self) -> Row | None:
        """Return what applying an outcome reads of the job, ``None`` if it was released: one
        read of its row (a poll's row is read as the heap hands it out: ``Registry.taken``)."""
        registry, slot = self.registry, self.slot
        if registry.gens[slot] != self.gen:
            return None
        return registry.row(self, slot, registry.sents[slot])

    def put(
        self,
        row: Row,
        job: PolledJob | None,
        changed: bool | None = None,
        fingerprint: Any = KEEP,
        cuts: tuple[int, ...] | None = None,
        due: float | None = None,
    ) -> tuple[int, bool] | None:
        """Write what a decision made on ``row`` changed, in one write, and make the job's next
        poll's entry: the job's new value (``None``: the same); for a decoded answer
        (``changed``: it moved the state) its fingerprint (``KEEP``: the last stays), where its
        request ids were (``cuts``, ``None``: where they were) and that it was decoded
        (``decoded``); and its next poll at ``due`` (``None``: none), as ``schedule`` does.

        Return the entry for the due heap and whether it goes to the jobs failing alone
        (``hangs``), ``None`` without a next poll; or ``STALE``, writing nothing, when the job
        is not as ``row`` read it (a watch changed it, or it was released, since): decide again
        on its row now.
        """
        registry, slot = self.registry, self.slot
        if registry.gens[slot] != self.gen or registry.changes[slot] != row.change:
            return STALE
        if job is not None:
            registry.states[slot] = tuple(job.state)
            registry.values[slot] = job[3:]
            registry.changes[slot] += 1  # (a poll in flight decided on the value before)
        if fingerprint is not KEEP:
            registry.prints[slot] = _NONE if fingerprint is None else fingerprint
        if changed is not None:
            if cuts is not None:
                registry.cuts[slot] = cuts
            registry.fresh[slot] = False
            if not changed:  # (``decoded``)
                registry.cuts[slot] = ()
        if due is None:
            return None
        entry = registry.entries[slot] = _entry(due, slot)
        registry.busy[slot] = False  # (scheduled: no poll of it in flight)
        return entry, self.hangs()

    def hangs(self) -> bool:
        """``_jobs.hangs(self.job)``, read in its row."""
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


_handle = partial(tuple.__new__, Watched)  # (``Watched._make`` without its length check)
_as_row: Callable[[Iterable[Any]], Row] = partial(tuple.__new__, Row)


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
        "changes",
        "count",
        "cuts",
        "dropped",
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
        "states",
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
        #: The job's tracker state (``PolledJob.state``) as a plain tuple, and the rest of its
        #: value past its state: a plain tuple.
        self.states: list[tuple[Any, ...]] = []
        self.values: list[tuple[Any, ...]] = []
        self.entries = array("q")
        self.sents = array("d")
        #: How many times its watches changed each job (``Watched.put`` compares: ``Row``).
        self.changes = array("q")
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
        #: Stale heap entries the last ``pop_due`` dropped.
        self.dropped = 0
        self._free: list[int] = []
        #: The slots of jobs released while a poll of theirs was in flight, and the generation
        #: they had: free once it is done (``drained``).
        self._draining: dict[int, int] = {}
        #: Released jobs' states, as plain tuples (as ``states``): the collector stops
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
        slot = self._slot()
        self.gens[slot] += 1  # (odd: held)
        self.scopes[slot] = sub.scope
        self.ids[slot] = job_id
        self.states[slot] = known if state is None else tuple(state)
        self.values[slot] = _FRESH
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
        self.states.append(_UNSEEN)
        self.values.append(_FRESH)
        self.entries.append(_NONE)
        self.sents.append(_NEVER)
        self.changes.append(0)
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

    def let_go(self, watched: Watched, subscribers: tuple[_Subscription, ...]) -> None:
        """Keep ``subscribers`` as the job's watches (those a delivery left it), and stop
        polling it if no open one holds it (``release_if_unwatched``)."""
        if subscribers is not self.subscribers[watched.slot]:
            watched.subscribers = subscribers
        self.release_if_unwatched(watched)

    def release_if_unwatched(self, watched: Watched) -> None:
        """Stop polling a job if no open subscription holds it; remember its state."""
        subscribers = watched.subscribers
        for sub in subscribers:
            if sub.closed:  # a dropped watch: rebuild
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
            self.values[slot] = job._replace(stalled=None)[3:]
            self.stalled -= 1
        if job.failures:  # (and the failing ones)
            self.failing -= 1
        self._known[watched.key] = self.states[slot]
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

    # The due heap's entries (``_jobs.Due`` keeps them in its heaps; only these read them).

    def schedule(self, watched: Watched, due: float) -> int | None:
        """Make the job's next poll due at ``due``: return its heap entry, ``None`` if the job
        was released. Its entry until it is taken or scheduled again; any other is stale."""
        slot = watched.slot
        if self.gens[slot] != watched.gen:
            return None
        entry = self.entries[slot] = _entry(due, slot)
        self.busy[slot] = False  # (scheduled: no poll of it in flight)
        return entry

    @staticmethod
    def bound(at: float) -> int:
        """Return the first entry not due by ``at``: every entry below it is."""
        return _entry(at, 0)

    @staticmethod
    def next_due(heap: list[int]) -> float:
        """Return when the earliest entry of ``heap`` is due (``inf`` if it is empty): a time
        ``bound`` counts it due at, so the scheduler woken then finds it due in ``pop_due``.

        Its milliseconds over 1e3 alone are not always one: for about one in 170 (1,001 ms is
        one), ``int(ms / 1e3 * 1e3)`` is ``ms - 1``, and a tick at that time found the job due
        by this and not by ``bound``: it asked the gate how long polls are held back (nothing
        held them) and looked again a tick later. The next float up is such a time.
        """
        if not heap:
            return math.inf
        ms = heap[0] >> SHIFT
        at = ms / 1e3
        return at if int(at * 1e3) >= ms else math.nextafter(at, math.inf)

    def pop_due(self, heap: list[int], bound: int, drops: int = STALE_DROPS) -> Watched | None:
        """Pop the earliest live entry of ``heap`` below ``bound``, dropping at most ``drops``
        stale ones before it (``dropped`` says how many); return a handle on its job (``None``:
        none is due, or the stale ones left wait for a later call). Its ``entry`` stays set
        until ``taken``, so the caller may push it back."""
        entries, gens, dropped = self.entries, self.gens, 0
        while heap and heap[0] < bound:
            entry = heap[0]
            slot = entry & _SLOT
            if entries[slot] == entry:
                heapq.heappop(heap)
                self.dropped = dropped
                return _handle((self, slot, gens[slot]))
            if dropped == drops:
                break
            heapq.heappop(heap)
            dropped += 1
        self.dropped = dropped
        return None

    def requeue(self, heap: list[int], watched: Watched) -> None:
        """Push back the live entry ``pop_due`` popped (its job not ``taken``)."""
        heapq.heappush(heap, self.entries[watched.slot])

    def taken(self, watched: Watched, now: float) -> Row:
        """Mark a job handed out at ``now``: no entry in the heap, its poll in flight. Return
        its row, which its poll carries to its decision's one write (``Watched.put``)."""
        slot = watched.slot
        self.entries[slot] = _NONE
        self.sents[slot] = now
        self.busy[slot] = True
        return self.row(watched, slot, now)

    def row(self, watched: Watched, slot: int, sent: float) -> Row:
        """Return the row of the job held at ``slot`` (``Row``)."""
        state = _as_state(self.states[slot])
        job = _as_job((self.scopes[slot], self.ids[slot], state) + self.values[slot])
        return _as_row((watched, job, self.subscribers[slot], sent, self.changes[slot]))

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
