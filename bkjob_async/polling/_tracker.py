"""Rule: a job's state is a value, and ``observe(state, observation) -> (state, events)`` is pure.

Here are the state (``JobState``, its ``StepState``s and their packed hosts), the visit counts
(which arrival at its status in its round a transition is) and the tracker. ``observe`` never
changes the
state it is given; it returns a new one that shares every part that did not change. A poll that
changes one host makes new codes for its step and shares the keys, not a copy of a map
(``benchmarks/HISTORY.md``, "CPU per poll"). Hosts are never forgotten, so a host's ``previous``
spans rounds and hosts copied unchanged into a retry round emit nothing; rows missing from a poll
(bk-job's retry lag) mean "no news". A step listed twice in one answer is one step: the last
listing wins, in the place of the first (as for two rows of one host in ``bkjob_async._observe``).
``step_done`` and ``step_moves`` are the bk-job rules a watch needs about steps.

Each transition carries its ``visit`` (which arrival at its status in its round it is), from
the explicit counts a state keeps (``JobState.visits``; their rules are below).
"""

from __future__ import annotations

import datetime as _dt
import logging
from array import array
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, starmap
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import attrs

from .._converter._v4 import host_row
from .._observe import JobObservation
from ..models import Container, ContainerResult, Host, HostKey, HostResult, HostStatus, JobStatus
from ._statuses import (
    ENDS_FOR_GOOD,
    HOST_ENDED,
    HOST_PASSED,
    HOST_RANK,
    NOT_OVER,
    PASSES,
    STARTING,
    STEP_RUNNING,
)
from .events import (
    ContainerTransition,
    Event,
    HostTransition,
    JobTransition,
    StepTransition,
    is_container,
)

if TYPE_CHECKING:
    from .._observe import StepObservation

__all__ = [
    "EMPTY",
    "Count",
    "JobState",
    "PackedKeys",
    "Rows",
    "StepState",
    "Visits",
    "arrival",
    "forget_job_round",
    "host_keys",
    "keeper",
    "new_step_round",
    "observe",
    "pack_codes",
    "pack_keys",
    "round_mark",
    "step_done",
    "step_moves",
    "visit_of",
]

logger = logging.getLogger("bkjob_async.polling")


# --- state ---------------------------------------------------------------------------------------
#
# A watched job's state as a value: ``JobState``, its steps (``StepState``) and their packed hosts.
#
# A state holds the job's status, whether bk-job calls it finished, and per step its status,
# round, and its hosts' keys and status codes as two compact sequences of plain numbers
# (``bytes``, tuples where a value does not fit), which the cyclic garbage collector
# never walks and which hold no object per host (``benchmarks/HISTORY.md``, "Scale without
# pauses"). A state is never changed: ``_tracker.observe`` makes a new one that shares every part
# that did not change, and ``_codec`` turns one into JSON-able data and back, for a store.


#: A step's host keys as a state keeps them (``pack_keys``; read with ``host_keys``).
PackedKeys = bytes | tuple[HostKey, ...]


#: A value ``keeper`` keeps (hashable).
K = TypeVar("K")


class StepState(NamedTuple):
    """One step as last seen; its hosts are two sequences, never changed once in a state.

    ``keys`` lists the step's hosts in the order first seen, ``codes`` their last statuses in
    the same order. A change of statuses makes a new ``codes`` and shares ``packed_keys``: a
    changed poll keeps two small sequences per step, not a copy of a map. ``hosts`` is the map
    they make. Host ids are kept packed in ``bytes`` as 32-bit (or, if one needs it, 64-bit)
    ints and codes as ``bytes`` (a tuple when one does not fit: a ``(cloud, ip, ipv6)`` key, a
    code above 255): 4 or 8 bytes per host id and one per code instead of an int object each,
    and nothing the garbage collector tracks (an ``array`` is tracked: one more object a step
    for every full collection to walk; ``pack_keys``, ``pack_codes``).
    """

    step_instance_id: int
    status: int | None
    execute_count: int
    packed_keys: PackedKeys
    codes: Sequence[int]

    @property
    def keys(self) -> Sequence[HostKey]:
        """The step's host keys, in the order first seen (a view of ``packed_keys``)."""
        return host_keys(self.packed_keys)

    @property
    def hosts(self) -> dict[HostKey, int]:
        """``{host key: status code}``: a new dict."""
        return dict(zip(self.keys, self.codes, strict=True))


#: Where a ``JobState`` keeps its steps' fields: five a step (``StepState``'s order), flat.
_STEPS = 4


_WIDTH = len(StepState._fields)


_STATUS, _EXECUTE_COUNT, _KEYS, _CODES = map(
    StepState._fields.index, ("status", "execute_count", "packed_keys", "codes")
)


class JobState(tuple[Any, ...]):
    """One job as last seen: a value; ``steps`` (in the order first seen) is never changed.

    ``seq`` counts the observations that changed something (which of two stored states is
    newer); ``visits`` holds the explicit arrival counts (see the module doc; ``()``, shared,
    in the common case). Built and read by name, ``JobState(status, finished, steps, seq,
    visits)``, and kept as ``(status, finished, seq, visits, fields)``, ``fields`` one plain
    tuple of each step's five fields in turn: no tuple per step for each watched job (a step
    kept as a ``StepState`` of its own costs 48 bytes more: its object's header, and a pointer
    to it), and, being a tuple of plain values (numbers, ``bytes``, ``None``), one the cyclic
    garbage collector stops tracking after its first pass: a full collection walks five fields
    of a state, not five a step (``benchmarks/HISTORY.md``, "The 50,000-job watch in two
    tracked objects a job"). ``steps`` makes the ``StepState``s anew at each read (``observe``
    reads an answer of the known steps in their order in the fields themselves, and makes a
    ``StepState`` only for a step it folds whole); a changed state is a new ``JobState``
    (``of_fields``), never a copy with fields replaced.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        status: int | None
        finished: bool
        seq: int
        visits: Visits
    else:
        status = property(itemgetter(0), doc="The job's status code (``None``: never seen).")
        finished = property(itemgetter(1), doc="Whether bk-job calls the job finished.")
        seq = property(itemgetter(2), doc="Observations that changed something.")
        visits = property(itemgetter(3), doc="Explicit arrival counts (module doc).")

    def __new__(
        cls,
        status: int | None,
        finished: bool,
        steps: Iterable[StepState],
        seq: int = 0,
        visits: Visits = (),
    ) -> JobState:
        return super().__new__(cls, (status, finished, seq, visits, (*chain.from_iterable(steps),)))

    @classmethod
    def of_fields(
        cls, status: int | None, finished: bool, fields: tuple[Any, ...], seq: int, visits: Visits
    ) -> JobState:
        """Return the state of these steps' ``fields``, five a step in ``StepState``'s order,
        one after the other (as a state keeps them)."""
        return super().__new__(cls, (status, finished, seq, visits, fields))

    @property
    def steps(self) -> tuple[StepState, ...]:
        """Every step seen, in the order first seen."""
        return tuple(starmap(StepState, zip(*[iter(self[_STEPS])] * _WIDTH, strict=True)))

    @property
    def round(self) -> int:
        """The job's round: the sum of its steps' ``execute_count`` (its retries so far)."""
        return sum(self[_STEPS][_EXECUTE_COUNT::_WIDTH])

    def step(self, step_instance_id: int) -> StepState | None:
        """Return the state of one step, or ``None`` if it was never seen."""
        fields = self[_STEPS]
        for i in range(0, len(fields), _WIDTH):
            if fields[i] == step_instance_id:
                return StepState(*fields[i : i + _WIDTH])
        return None

    def codes_of_first(self, status: int) -> Sequence[int] | None:
        """Return the host codes of the first step in ``status``, ``None`` if none is (read in
        place: no ``StepState`` made)."""
        fields = self[_STEPS]
        for i in range(_STATUS, len(fields), _WIDTH):
            if fields[i] == status:
                return fields[i + _CODES - _STATUS]  # type: ignore[no-any-return]
        return None

    def codes_of_only_open(self) -> Sequence[int] | None:
        """Return the host codes of the one step not over (``_statuses.NOT_OVER``, or no status
        yet), ``None`` if every step is over or more than one is not (read in place)."""
        fields = self[_STEPS]
        opened = list(map(_OPEN.__contains__, fields[_STATUS::_WIDTH]))
        if opened.count(True) != 1:
            return None
        return fields[opened.index(True) * _WIDTH + _CODES]  # type: ignore[no-any-return]

    def __getnewargs__(self) -> tuple[Any, ...]:  # (copy and pickle)
        return (self.status, self.finished, self.steps, self.seq, self.visits)

    def __repr__(self) -> str:
        return (
            f"JobState(status={self.status!r}, finished={self.finished!r}, "
            f"steps={self.steps!r}, seq={self.seq!r}, visits={self.visits!r})"
        )


#: A step's status while it is not over (``codes_of_only_open``): ``None`` is none yet.
_OPEN = frozenset((*NOT_OVER, None))


#: A job never seen.
EMPTY = JobState(None, False, (), 0)


_Codes = Sequence[int]


def pack_keys(keys: list[HostKey]) -> PackedKeys:
    """Return host keys packed: ``bytes`` of an ``array`` format letter then the ids, as 32-bit
    unsigned ints, as 64-bit ints if one does not fit; a tuple if one is not such an int."""
    if not keys:
        return ()
    try:
        return b"I" + array("I", keys).tobytes()  # type: ignore[type-var]
    except (TypeError, OverflowError):  # a (cloud, ip, ipv6) key, or an id past 32 bits
        pass
    try:
        return b"q" + array("q", keys).tobytes()  # type: ignore[type-var]
    except (TypeError, OverflowError):  # a (cloud, ip, ipv6) key, or an id past 64 bits
        return tuple(keys)


def host_keys(packed: PackedKeys) -> Sequence[HostKey]:
    """Return the host keys ``pack_keys`` packed, as a sequence read in place."""
    if type(packed) is not bytes:
        return packed
    view = memoryview(packed)[1:]
    return view.cast("I") if packed[0] == _LETTER_I else view.cast("q")


_LETTER_I = ord("I")


def keeper(kept: dict[K, K], most: int) -> Callable[[K], K]:
    """Return ``keep``: ``keep(value)`` is the one object kept in ``kept`` equal to ``value``
    (``value`` itself the first time), so that thousands of watched jobs holding equal values
    hold one object, not one each. Bounded: the kept ones are let go when ``most`` are kept."""

    def keep(value: K) -> K:
        shared = kept.get(value)
        if shared is None:
            if len(kept) >= most:
                kept.clear()
            shared = kept[value] = value
        return shared

    return keep


#: Codes of up to ``_SHARED_UP_TO`` hosts, one ``bytes`` for every step that has them: most
#: steps' hosts share a few patterns (all waiting, all done).
_SHARED_UP_TO = 256


_shared_codes: Callable[[bytes], bytes] = keeper({}, 4096)


def pack_codes(codes: list[int]) -> _Codes:
    """Return status codes as ``bytes`` (an equal one shared, ``_shared_codes``), or a tuple if
    one is outside 0-255."""
    if not codes:
        return ()  # (as a step never seen: equal states compare equal)
    try:
        packed = bytes(codes)
    except ValueError:
        return tuple(codes)
    return packed if len(packed) > _SHARED_UP_TO else _shared_codes(packed)


# --- visits --------------------------------------------------------------------------------------
#
# Visits: which arrival at its status, in its round, a transition is; pure, no I/O.
#
# Each transition says which arrival at its status it is, in its round (a host's and a step's
# round is the step's ``execute_count``; the job's, the sum of its steps'): ``visit`` 1 the first
# time the host, step or job reached that status in that round, 2 the second, ... This is what an
# ``event_id`` is made of (``events``), so that a transition derived again from an older or an
# empty state has the id it had.
#
# The counts cost nothing in the common case: a move forward (``_statuses``: a job or step through
# what it ``PASSES``, a host up its ``HOST_RANK``: waiting, running, ended) cannot reach a status
# seen before in its round, so nothing is kept; the first move back or sideways starts an explicit
# count (a ``Count``) for that host, step or job and round, seeded with what the forward path to
# where it was passed through (a job or step that reached a status it can leave again without
# being seen running is counted explicitly from then on, so that what is taken as passed was
# seen). A round that begins while its step still shows the last round's status (bk-job's retry
# lag) is marked (``round_mark``): the step leaving the last round's end, and every move of a
# host that came into the round unchanged, are first arrivals in it; a host that moved as the
# round began is counted from that move. After a rollback the counts are those of the older
# state, and every arrival seen since is a real one: a count can only be lower than what the ids
# handed out counted, and a lower count names an id already handed out, so a consumer drops it.
# Hosts are taken to wait, run and end once per round, as bk-job runs them (a retry is a new
# round).


#: Whose count: ``None`` the job, a step id a step, ``(step id, host key)`` a host; a round's
#: mark is ``(step id, None)`` (a step's round) or ``(None, None)`` (the job's).
Entity = Any


class Count(NamedTuple):
    """An explicit count: how many times ``entity`` arrived at each status in ``round``.

    A tuple (the codec stores it as a list; a state's counts compare as tuples). A round's mark
    is a ``Count`` with an empty tally (``round_mark``).
    """

    entity: Entity
    round: int
    #: ``(status code, arrivals)`` pairs, by status.
    tally: tuple[tuple[int, int], ...]


#: The explicit counts of a job's state: ``()``, shared, in the common case.
Visits = tuple[Count, ...]


def round_mark(step_instance_id: int | None, round_: int) -> Count:
    """The mark of a round that began while ``step_instance_id`` (``None``: the job) still
    showed the last round's status."""
    return Count((step_instance_id, None), round_, ())


_JOB_MARK = (None, None)


def arrival(
    visits: Visits,
    entity: Entity,
    round_: int,
    previous: int | None,
    same_round: bool,
    current: int,
    *,
    host: bool = False,
) -> tuple[int, Visits]:
    """Return which arrival at ``current`` in ``round_`` a move is, and the counts after it.

    ``entity`` is ``None`` (the job), a step id or ``(step id, host key)``; ``previous`` its
    status before (``None``: never seen), ``same_round`` whether that was in ``round_``.
    """
    fresh = previous is None or not same_round
    for i, (who, at, tally_) in enumerate(visits):
        if who == entity:  # counted explicitly
            rest = visits[:i] + visits[i + 1 :]
            if fresh or at != round_:
                visits = rest  # counts of a past round
                break
            tally = dict(tally_)
            tally[current] = n = tally.get(current, 0) + 1
            return n, (*rest, Count(who, at, tuple(sorted(tally.items()))))
    if not fresh:
        fresh, visits = _round_marked(visits, entity, round_, previous, host)
    elif host and round_mark(entity[0], round_) in visits:
        # A host that moved as its round was marked shows the last round's status (bk-job's
        # retry lag) or a new one: either way its moves after it are counted from this one,
        # so the real end of the round is not taken for a first arrival again.
        return 1, (*visits, Count(entity, round_, ((current, 1),)))
    if host:
        was = 0 if fresh or previous is None else HOST_RANK.get(previous, HOST_ENDED)
        if fresh or HOST_RANK.get(current, HOST_ENDED) > was:
            return 1, visits  # (waiting, running, ended: a status not reached before)
        assert previous is not None  # a host back where it was: count from what it passed
        tally = dict(HOST_PASSED[was])
        tally[previous] = tally.get(previous, 0) + 1
    elif current in PASSES and (fresh or previous == STARTING or current in ENDS_FOR_GOOD):
        return 1, visits  # (a job or step not yet where it may come back from)
    else:  # a job or step reaching where it may come back from: count from here
        tally = {} if fresh or previous is None else {previous: 1}
        if previous not in PASSES and not fresh:  # (a state stored without its counts)
            tally[STEP_RUNNING] = 1  # it ran to get there
    tally[current] = n = tally.get(current, 0) + 1
    return n, (*visits, Count(entity, round_, tuple(sorted(tally.items()))))


def _round_marked(
    visits: Visits, entity: Entity, round_: int, previous: int | None, host: bool
) -> tuple[bool, Visits]:
    """Whether a move is a first arrival in a round that began while the entity still showed
    the last round's status (``new_step_round``, ``forget_job_round``), and the counts after it.

    The job's first move in such a round is; a host's every move is (it waits, runs and ends
    once a round); a step leaving the last round's end is.
    """
    if entity is None:
        mark = round_mark(None, round_)
        if mark in visits:
            return True, tuple(v for v in visits if v != mark)
        return False, visits
    if host or previous not in PASSES:
        return round_mark(entity[0] if host else entity, round_) in visits, visits
    return False, visits


def _step_of(entity: Entity) -> int | None:
    """The step a count is about (``None``: the job's)."""
    return entity if entity is None or isinstance(entity, int) else entity[0]


def new_step_round(visits: Visits, step_instance_id: int, execute_count: int) -> Visits:
    """A step's round changed (a retry): forget its last round's counts and mark the new
    round, which bk-job applies late (its retry lag: the step's status and its host rows may
    still show the last round's)."""
    kept = tuple(v for v in visits if _step_of(v.entity) != step_instance_id)
    return (*kept, round_mark(step_instance_id, execute_count))


def forget_job_round(visits: Visits, round_: int) -> Visits:
    """The job's round changed while its status did not move: forget its last round's counts,
    and take its next move as a first arrival."""
    kept = tuple(v for v in visits if v.entity is not None and v.entity != _JOB_MARK)
    return (*kept, round_mark(None, round_))


def visit_of(visits: Visits, round_: int, status: int) -> int:
    """Return which arrival of the job at ``status`` in ``round_`` the counts record."""
    for who, at, tally in visits:
        if who is None and at == round_:
            return dict(tally).get(status, 1)
    return 1


# --- tracker -------------------------------------------------------------------------------------


_UNSEEN = StepState(0, None, -1, (), ())  # the old state of a step never seen


def observe(
    state: JobState,
    job_instance_id: int,
    observation: JobObservation,
    observed_at: Callable[[], _dt.datetime],
    host_result: Callable[[HostKey, int, dict[str, Any]], HostResult | ContainerResult],
) -> tuple[JobState, list[Event]]:
    """Fold ``observation`` into ``state``: return the new state and what changed.

    Events come hosts first, then steps, then the job. ``observed_at`` is called only if
    something changed; ``host_result`` structures the raw row of a host whose status changed
    into its event's ``host`` and ``result`` (``HostTransition``), a container's (gateway
    v4; its key ``("container", id)``) into its ``ContainerTransition``'s. Steps
    and hosts are matched by position first (the server lists them in the same order poll
    after poll), by key when the order differs.
    """
    seen = observation.steps
    fields = state[_STEPS]
    if tuple(map(_STEP_ID, seen)) != fields[::_WIDTH]:  # (not the steps known, in their order)
        return _observe_placed(state, job_instance_id, observation, observed_at, host_result)
    changes = _Changes(job_instance_id, state.visits, observed_at, host_result)
    steps: list[Any] | None = None  # the steps' fields, copied on the first change
    at = 0
    for step in seen:
        same = (
            step.status == fields[at + _STATUS]
            and step.execute_count == fields[at + _EXECUTE_COUNT]
        )
        hosts, against = step.hosts, step.against
        if same and not hosts and (hosts is None or against is None):
            at += _WIDTH  # (its status, round and hosts did not move: most steps of an answer)
            continue
        codes = fields[at + _CODES]
        if (
            same
            and type(against) is StepState
            and against.packed_keys is fields[at + _KEYS]
            and against.codes is codes
        ):  # (read against these hosts: its rows are those that moved, in their places)
            if hosts:
                if steps is None:
                    steps = list(fields)
                steps[at + _CODES] = _moved_hosts(codes, step, changes)
        else:
            new = _observe_step(StepState(*fields[at : at + _WIDTH]), step, changes)
            if new is not None:
                if steps is None:
                    steps = list(fields)
                steps[at : at + _WIDTH] = new
        at += _WIDTH
    return _folded(state, observation, steps, changes)


def _observe_placed(
    state: JobState,
    job_instance_id: int,
    observation: JobObservation,
    observed_at: Callable[[], _dt.datetime],
    host_result: Callable[[HostKey, int, dict[str, Any]], HostResult | ContainerResult],
) -> tuple[JobState, list[Event]]:
    """``observe`` an answer whose steps are not the known ones in their order: a step is
    matched by its place first, by its id when the order differs (new ones added last)."""
    old_steps = state.steps
    places = _places(old_steps, observation.steps)
    if places is None:  # a step listed twice: fold the answer without repeats
        last_wins = list({s.step_instance_id: s for s in observation.steps}.values())
        once = JobObservation(observation.finished, observation.status, last_wins)
        return observe(state, job_instance_id, once, observed_at, host_result)
    changes = _Changes(job_instance_id, state.visits, observed_at, host_result)
    steps: list[StepState] | None = None  # copied on the first change
    for place, step in zip(places, observation.steps, strict=True):
        new = _observe_step(None if place < 0 else old_steps[place], step, changes)
        if new is None:
            continue
        if steps is None:
            steps = list(old_steps)
        if place < 0:  # a step not seen before
            steps.append(new)
        else:
            steps[place] = new
    flat = None if steps is None else list(chain.from_iterable(steps))
    return _folded(state, observation, flat, changes)


_STEP_ID = attrgetter("step_instance_id")


def _folded(
    state: JobState, observation: JobObservation, steps: list[Any] | None, changes: _Changes
) -> tuple[JobState, list[Event]]:
    """The state after ``observation`` (``steps``: the new steps' fields, as ``JobState``
    keeps them, ``None`` if none changed), the job's own change told, and every event."""
    was_round = state.round
    now_round = was_round if steps is None else sum(steps[_EXECUTE_COUNT::_WIDTH])
    if state.status != observation.status:
        changes.job(state.status, observation.status, now_round, was_round == now_round)
    elif now_round != was_round and state.status is not None:
        changes.new_job_round(now_round)
    return _next_state(state, steps, observation, changes), changes.events()


def _places(old_steps: tuple[StepState, ...], seen: list[StepObservation]) -> list[int] | None:
    """Where each step seen is in ``old_steps`` (-1: new); ``None`` if one is listed twice."""
    places = []
    known = len(old_steps)
    where: dict[int, int] | None = None  # step id -> position, once the order differs
    for i, step in enumerate(seen):
        if i < known and old_steps[i].step_instance_id == step.step_instance_id:
            places.append(i)
            continue
        if where is None:
            # Only here can a step be listed twice (those matched by position are distinct).
            if len({s.step_instance_id for s in seen}) < len(seen):
                return None
            where = {s.step_instance_id: p for p, s in enumerate(old_steps)}
        places.append(where.get(step.step_instance_id, -1))
    return places


def _moved_hosts(known: _Codes, step: StepObservation, changes: _Changes) -> _Codes:
    """Fold the rows of a step that moved (``StepObservation.against``: each has a known key
    and a new status, in its place) into its hosts' codes, in the same status and round;
    return the new codes."""
    hosts, places = step.hosts, step.places
    assert hosts is not None
    assert places is not None
    codes = list(known)
    for (key, code, row), at in zip(hosts, places, strict=True):
        changes.host(step, key, code, row, codes[at], True)
        codes[at] = code
    return pack_codes(codes)


def _observe_step(
    old: StepState | None, step: StepObservation, changes: _Changes
) -> StepState | None:
    """Fold one step seen into its old state; return the new state, ``None`` if unchanged."""
    was = _UNSEEN if old is None else old
    same_round = was.execute_count == step.execute_count
    if old is not None and not same_round:
        changes.new_round(step.step_instance_id, step.execute_count)
    hosts = (
        None
        if step.hosts is None
        else _observe_hosts(was.packed_keys, was.codes, step, same_round, changes)
    )
    if was.status != step.status:
        changes.step(step, was.status, same_round)
    elif hosts is None and same_round:
        return None
    keys, codes = (was.packed_keys, was.codes) if hosts is None else hosts
    return StepState(step.step_instance_id, step.status, step.execute_count, keys, codes)


def _observe_hosts(
    packed: PackedKeys, codes: _Codes, step: StepObservation, same_round: bool, changes: _Changes
) -> tuple[PackedKeys, _Codes] | None:
    """Fold a step's host rows into its keys and codes; return new ones, ``None`` if unchanged.

    A host listed twice (rows of several result groups, read while it moved) compares with its
    earlier row, as rows read one after the other. A step whose rows were compared with these
    keys and codes already holds only the rows that moved (``StepObservation.against``).
    """
    rows, places = step.hosts, step.places
    against = step.against
    if against is not None and not (
        isinstance(against, StepState) and against.packed_keys is packed and against.codes is codes
    ):
        rows, places = step.every(), None  # (read against other hosts than these: read all)
    assert rows is not None
    if not rows:  # (most steps of a changed answer: none of their hosts moved)
        return None
    new_codes: list[int] | None = None  # copied on the first change
    new_keys: list[HostKey] | None = None  # copied when a host is added
    index: dict[HostKey, int] | None = None  # key -> position, once the order differs
    keys = host_keys(packed)
    count = len(keys)
    for j, (key, code, row) in enumerate(rows):
        at = j if places is None else places[j]  # (only the rows that moved: their places)
        if at < count and keys[at] == key:  # (every host of a changed poll comes here)
            previous: int | None = codes[at] if new_codes is None else new_codes[at]
            if previous == code:
                continue
            pos = at
        else:
            if index is None:
                index = {k: p for p, k in enumerate(keys)}
            pos = index.get(key, -1)
            if pos < 0:
                previous = None
            else:
                previous = codes[pos] if new_codes is None else new_codes[pos]
                if previous == code:
                    continue
        if new_codes is None:
            new_codes = list(codes)
        if previous is None:  # a host not seen before
            if new_keys is None:
                new_keys = list(keys)
            assert index is not None  # (a new key never matches by position)
            index[key] = len(new_keys)
            new_keys.append(key)
            new_codes.append(code)
        else:
            new_codes[pos] = code
        changes.host(step, key, code, row, previous, same_round)
    if new_codes is None:
        return None
    return (packed if new_keys is None else pack_keys(new_keys)), pack_codes(new_codes)


def _next_state(
    state: JobState,
    steps: list[Any] | None,
    observation: JobObservation,
    changes: _Changes,
) -> JobState:
    """Return the state after ``observation``: ``state`` itself if nothing changed."""
    changed = bool(changes.hosts or changes.others)  # (a job whose status changed has one)
    if (
        steps is None
        and not changed
        and state.finished == observation.finished
        and changes.visits is state.visits
    ):
        return state
    return JobState.of_fields(
        observation.status,
        observation.finished,
        state[_STEPS] if steps is None else tuple(steps),
        state.seq + 1 if changed else state.seq,
        changes.visits,
    )


@attrs.define
class _Changes:
    """The events of one observation, each with its visit and one time, read once."""

    job_instance_id: int
    visits: Visits
    observed_at: Callable[[], _dt.datetime]
    host_result: Callable[[HostKey, int, dict[str, Any]], HostResult | ContainerResult]
    hosts: list[Event] = attrs.Factory(list)
    others: list[Event] = attrs.Factory(list)  # steps', then the job's
    at: _dt.datetime | None = None

    def events(self) -> list[Event]:
        """Return every event, hosts first."""
        return self.hosts + self.others

    def now(self) -> _dt.datetime:
        """Return the time of this observation: ``observed_at()``, called on the first event."""
        if self.at is None:
            self.at = self.observed_at()
        return self.at

    def new_round(self, step_instance_id: int, execute_count: int) -> None:
        """A step's round changed (a retry): forget its last round's counts and mark the new
        round, which bk-job applies late (its retry lag: the step's status and its host rows
        may still show the last round's): the step leaving the last round's end, and every
        move of a host that came into the round unchanged, are first arrivals in it; a host
        that moved as the round changed is counted from that move (``arrival``)."""
        self.visits = new_step_round(self.visits, step_instance_id, execute_count)

    def new_job_round(self, round_: int) -> None:
        """The job's round changed while its status did not move: forget its last round's
        counts, and take its next move as a first arrival (``arrival``)."""
        self.visits = forget_job_round(self.visits, round_)

    def host(
        self,
        step: StepObservation,
        key: HostKey,
        code: int,
        row: dict[str, Any],
        was: int | None,
        same: bool,
    ) -> None:
        """Record a host's change to ``code`` that its ``row`` reports (``was``: its old status
        code, ``None`` if not seen before)."""
        visit, self.visits = arrival(
            self.visits,
            (step.step_instance_id, key),
            step.execute_count,
            was,
            same,
            code,
            host=True,
        )
        result = self.host_result(key, code, row)
        previous = None if was is None else HostStatus.of(was)
        if type(key) is tuple and is_container(key):  # (v4's: an event of their own)
            self.hosts.append(
                ContainerTransition.of_result(
                    self.job_instance_id,
                    self.now(),
                    step.step_instance_id,
                    step.execute_count,
                    code,
                    result,
                    previous,
                    visit,
                )
            )
            return
        if not isinstance(result, HostResult):
            raise TypeError(f"a host's row read as {type(result).__name__}")
        self.hosts.append(
            HostTransition(
                self.job_instance_id,
                self.now(),
                step.step_instance_id,
                step.execute_count,
                result.host,
                previous,
                HostStatus.of(code),
                result,
                visit=visit,
            )
        )

    def step(self, step: StepObservation, previous: int | None, same: bool) -> None:
        """Record a step's change of status."""
        visit, self.visits = arrival(
            self.visits, step.step_instance_id, step.execute_count, previous, same, step.status
        )
        self.others.append(
            StepTransition(
                self.job_instance_id,
                self.now(),
                step.step_instance_id,
                step.execute_count,
                None if previous is None else JobStatus.of(previous),
                JobStatus.of(step.status),
                visit=visit,
            )
        )

    def job(self, previous: int | None, status: int, round_: int, same: bool) -> None:
        """Record the job's change of status."""
        visit, self.visits = arrival(self.visits, None, round_, previous, same, status)
        self.others.append(
            JobTransition(
                self.job_instance_id,
                self.now(),
                None if previous is None else JobStatus.of(previous),
                JobStatus.of(status),
                round=round_,
                visit=visit,
            )
        )


def step_done(state: JobState, step_instance_id: int) -> bool:
    """Tell whether a step has ended for good as far as a step watch is concerned.

    A failed, stopped or abnormal step of a job that still runs is bk-job's retry lag (the job
    goes back to running before the step resets), not an end: only a finished job or a
    successful step (success, skipped, ignored error) ends a step watch.
    """
    step = state.step(step_instance_id)
    if step is None or step.status is None:
        return False
    status = JobStatus.of(step.status)
    if not status.is_finished:
        return False
    return state.finished or status.is_success


def step_moves(state: JobState, step: StepObservation) -> bool:
    """Tell whether a step's host rows may hold news: it started, and it runs or just changed.

    A manual-confirm step has no host rows (and the step-status API refuses it).
    """
    if step.status == JobStatus.BLANK or step.manual:  # not started, or no hosts ever
        return False
    known = state.step(step.step_instance_id)
    if known is None or known.status != step.status or known.execute_count != step.execute_count:
        return True
    return not JobStatus.of(step.status).is_finished


# --- a changed host's row, structured ------------------------------------------------------------


class Rows:
    """Structure a changed host's row (a v4 container's) into its typed result, as its
    transition is made (``_Changes.host``); the client's converter hooks of its API
    generation."""

    __slots__ = ("_container", "_host")

    def __init__(self, hooks: Any) -> None:
        self._host = hooks.get_structure_hook(HostResult)
        self._container = hooks.get_structure_hook(ContainerResult)

    def host(self, key: HostKey, code: int, row: dict[str, Any]) -> HostResult:
        """Structure a host row; a row not fully readable keeps its status only."""
        found: HostResult | None = _readable(self._host, row, HostResult, key)
        return HostResult(_host_from_key(key), HostStatus(code)) if found is None else found

    def object(self, key: HostKey, code: int, row: dict[str, Any]) -> HostResult | ContainerResult:
        """Structure a gateway v4 execute object's row: a container's (its key
        ``("container", id)``) as a ``ContainerResult``, a host's as ``host`` does."""
        if not is_container(key):
            return self.host(key, code, host_row(row))
        found: ContainerResult | None = _readable(self._container, row, ContainerResult, key)
        return ContainerResult(Container(key[1]), HostStatus.of(code)) if found is None else found


def _readable(hook: Callable[[Any, type[Any]], Any], row: Any, cls: type[Any], key: object) -> Any:
    """Return ``row`` structured as a ``cls``, or ``None`` (logged) if it is not fully readable."""
    try:
        return hook(row, cls)
    except Exception as exc:
        logger.warning(
            "%s %r: row not fully readable (%s: %s); keeping its status only",
            cls.__name__,
            key,
            type(exc).__name__,
            exc,
        )
        return None


def _host_from_key(key: HostKey) -> Host:
    if isinstance(key, int):
        return Host(bk_host_id=key)
    cloud, ip, ipv6 = key
    return Host(
        ip=ip if isinstance(ip, str) else None,
        bk_cloud_id=cloud if isinstance(cloud, int) else None,
        ipv6=ipv6 if isinstance(ipv6, str) else None,
    )
