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
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from ..models import HostKey

if TYPE_CHECKING:
    from ._visits import Visits

__all__ = ["EMPTY", "JobState", "StepState", "pack_codes", "pack_keys"]


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


class JobState(tuple[Any, ...]):
    """One job as last seen: a value; ``steps`` (in the order first seen) is never changed.

    ``seq`` counts the observations that changed something (which of two stored states is
    newer); ``visits`` holds the explicit arrival counts (see the module doc; ``()``, shared,
    in the common case). Built and read by name, ``JobState(status, finished, steps, seq,
    visits)``, and kept as one tuple ``(status, finished, seq, visits, *steps)``: no second
    tuple for the steps of every watched job (a named tuple with a ``steps`` field costs 45
    bytes more per job of 3 steps). ``steps`` is a new tuple at each read; a changed state is
    a new ``JobState``, never a copy with fields replaced.
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
        steps: tuple[StepState, ...],
        seq: int = 0,
        visits: Visits = (),
    ) -> JobState:
        return tuple.__new__(cls, (status, finished, seq, visits, *steps))

    @property
    def steps(self) -> tuple[StepState, ...]:
        """Every step seen, in the order first seen."""
        return self[4:]

    @property
    def round(self) -> int:
        """The job's round: the sum of its steps' ``execute_count`` (its retries so far)."""
        return sum(step.execute_count for step in self[4:])

    def step(self, step_instance_id: int) -> StepState | None:
        """Return the state of one step, or ``None`` if it was never seen."""
        for step in self[4:]:
            if step.step_instance_id == step_instance_id:
                return step  # type: ignore[no-any-return]
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


def pack_codes(codes: list[int]) -> _Codes:
    """Return status codes as ``bytes``, or a tuple if one is outside 0-255."""
    if not codes:
        return ()  # (as a step never seen: equal states compare equal)
    try:
        return bytes(codes)
    except ValueError:
        return tuple(codes)
