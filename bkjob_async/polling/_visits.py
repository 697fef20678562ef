"""Visits: which arrival at its status, in its round, a transition is; pure, no I/O.

Each transition says which arrival at its status it is, in its round (a host's and a step's
round is the step's ``execute_count``; the job's, the sum of its steps'): ``visit`` 1 the first
time the host, step or job reached that status in that round, 2 the second, ... This is what an
``event_id`` is made of (``events``), so that a transition derived again from an older or an
empty state has the id it had.

The counts cost nothing in the common case: a move forward (``_rules``: a job or step through
what it ``PASSES``, a host up its ``HOST_RANK``: waiting, running, ended) cannot reach a status
seen before in its round, so nothing is kept; the first move back or sideways starts an explicit
count (a ``Count``) for that host, step or job and round, seeded with what the forward path to
where it was passed through (a job or step that reached a status it can leave again without
being seen running is counted explicitly from then on, so that what is taken as passed was
seen). A round that begins while its step still shows the last round's status (bk-job's retry
lag) is marked (``round_mark``): the step leaving the last round's end, and every move of a
host that came into the round unchanged, are first arrivals in it; a host that moved as the
round began is counted from that move. After a rollback the counts are those of the older
state, and every arrival seen since is a real one: a count can only be lower than what the ids
handed out counted, and a lower count names an id already handed out, so a consumer drops it.
Hosts are taken to wait, run and end once per round, as bk-job runs them (a retry is a new
round).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._rules import (
    ENDS_FOR_GOOD,
    HOST_ENDED,
    HOST_PASSED,
    HOST_RANK,
    PASSES,
    STARTING,
    STEP_RUNNING,
)

__all__ = [
    "Count",
    "Visits",
    "arrival",
    "forget_job_round",
    "new_step_round",
    "round_mark",
    "visit_of",
]

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
