"""A watched job's state as a value: ``JobState``, its steps (``StepState``) and their packed hosts.

A state holds the job's status, whether bk-job calls it finished, and per step its status,
round, and its hosts' keys and status codes as two compact sequences of plain numbers
(``array``/``bytes``, tuples where a value does not fit), which the cyclic garbage collector
never walks and which hold no object per host (``benchmarks/HISTORY.md``, "Scale without
pauses"). A state is never changed: ``_tracker.observe`` makes a new one that shares every part
that did not change, and ``_codec`` turns one into JSON-able data and back, for a store.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ..models import HostKey

if TYPE_CHECKING:
    from ._visits import Visits

__all__ = ["EMPTY", "JobState", "StepState", "keeper", "pack_codes", "pack_keys"]

#: A value ``keeper`` keeps (hashable).
K = TypeVar("K")


class StepState(NamedTuple):
    """One step as last seen; its hosts are two sequences, never changed once in a state.

    ``keys`` lists the step's hosts in the order first seen, ``codes`` their last statuses in
    the same order. A change of statuses makes a new ``codes`` and shares ``keys``: a changed
    poll keeps two small sequences per step, not a copy of a map. ``hosts`` is the map they
    make. Host ids are kept as an ``array`` of 32-bit (or, if one needs it, 64-bit) ints and
    codes as ``bytes`` (a tuple when one does not fit: a ``(cloud, ip, ipv6)`` key, a code above
    255): 4 or 8 bytes per host id and one per code instead of an int object each, and nothing
    for the garbage collector to walk (``pack_keys``, ``pack_codes``).
    """

    step_instance_id: int
    status: int | None
    execute_count: int
    keys: Sequence[HostKey]
    codes: Sequence[int]

    @property
    def hosts(self) -> dict[HostKey, int]:
        """``{host key: status code}``: a new dict."""
        return dict(zip(self.keys, self.codes, strict=True))


#: A ``JobState``'s own fields come first, then each step's five fields (``StepState``'s order).
_FIRST = 4
_WIDTH = len(StepState._fields)
_STATUS, _EXECUTE_COUNT, _CODES = map(StepState._fields.index, ("status", "execute_count", "codes"))


#: Return one step's five fields, read from a ``JobState``, as a ``StepState``: in C
#: (``StepState(*fields)`` is a Python call, at twice the cost).
_step: Callable[[Iterable[Any]], StepState] = partial(tuple.__new__, StepState)


class JobState(tuple[Any, ...]):
    """One job as last seen: a value; ``steps`` (in the order first seen) is never changed.

    ``seq`` counts the observations that changed something (which of two stored states is
    newer); ``visits`` holds the explicit arrival counts (see the module doc; ``()``, shared,
    in the common case). Built and read by name, ``JobState(status, finished, steps, seq,
    visits)``, and kept as one flat tuple ``(status, finished, seq, visits, *fields of each
    step)``: no tuple per step for each watched job (a step kept as a ``StepState`` of its own
    costs 48 bytes more: its object's header, and a pointer to it). ``steps`` makes the
    ``StepState``s anew at each read (a changed poll reads them once); a changed state is a new
    ``JobState``, never a copy with fields replaced.
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
        return tuple.__new__(cls, (status, finished, seq, visits, *chain.from_iterable(steps)))

    @property
    def steps(self) -> tuple[StepState, ...]:
        """Every step seen, in the order first seen."""
        return tuple(map(_step, zip(*[iter(self[_FIRST:])] * _WIDTH, strict=True)))

    @property
    def round(self) -> int:
        """The job's round: the sum of its steps' ``execute_count`` (its retries so far)."""
        return sum(self[_FIRST + _EXECUTE_COUNT :: _WIDTH])

    def step(self, step_instance_id: int) -> StepState | None:
        """Return the state of one step, or ``None`` if it was never seen."""
        for i in range(_FIRST, len(self), _WIDTH):
            if self[i] == step_instance_id:
                return _step(self[i : i + _WIDTH])
        return None

    def codes_of_first(self, status: int) -> Sequence[int] | None:
        """Return the host codes of the first step in ``status``, ``None`` if none is (read in
        place: no ``StepState`` made)."""
        for i in range(_FIRST + _STATUS, len(self), _WIDTH):
            if self[i] == status:
                return self[i + _CODES - _STATUS]  # type: ignore[no-any-return]
        return None

    def __getnewargs__(self) -> tuple[Any, ...]:  # (copy and pickle)
        return (self.status, self.finished, self.steps, self.seq, self.visits)

    def __repr__(self) -> str:
        return (
            f"JobState(status={self.status!r}, finished={self.finished!r}, "
            f"steps={self.steps!r}, seq={self.seq!r}, visits={self.visits!r})"
        )


#: A job never seen.
EMPTY = JobState(None, False, (), 0)
_Keys = Sequence[HostKey]
_Codes = Sequence[int]


def pack_keys(keys: list[HostKey]) -> _Keys:
    """Return host keys as an ``array`` of 32-bit unsigned ints, of 64-bit ints if one does not
    fit, or a tuple if one is not such an int."""
    if not keys:
        return ()
    try:
        return array("I", keys)  # type: ignore[type-var]
    except (TypeError, OverflowError):  # a (cloud, ip, ipv6) key, or an id past 32 bits
        pass
    try:
        return array("q", keys)  # type: ignore[type-var]
    except (TypeError, OverflowError):  # a (cloud, ip, ipv6) key, or an id past 64 bits
        return tuple(keys)


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
