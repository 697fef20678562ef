"""The transition tracker: ``observe(state, observation) -> (new state, events)``; pure.

A job's state is a value (``_state.JobState``, re-exported here): ``observe`` never changes the
state it is given; it returns a new one that shares every part that did not change. A poll that
changes one host makes new codes for its step and shares the keys, not a copy of a map
(``benchmarks/HISTORY.md``, "CPU per poll"). Hosts are never forgotten, so a host's ``previous``
spans rounds and hosts copied unchanged into a retry round emit nothing; rows missing from a poll
(bk-job's retry lag) mean "no news". A step listed twice in one answer is one step: the last
listing wins, in the place of the first (as for two rows of one host in ``bkjob_async._observe``).
``step_done`` and ``step_moves`` are the bk-job rules a watch needs about steps.

Each transition carries its ``visit`` (which arrival at its status in its round it is), from
the explicit counts a state keeps (``JobState.visits``; ``_visits`` holds the rules).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._observe import JobObservation
from ..models import ContainerResult, HostKey, HostResult, HostStatus, JobStatus
from ._containers import ContainerTransition, is_container
from ._state import EMPTY, JobState, StepState, pack_codes, pack_keys
from ._visits import Visits, arrival, forget_job_round, new_step_round
from .events import Event, HostRow, HostTransition, JobTransition, StepTransition

if TYPE_CHECKING:
    from .._observe import StepObservation

__all__ = [
    "EMPTY",
    "JobState",
    "StepState",
    "observe",
    "pack_codes",
    "pack_keys",
    "step_done",
    "step_moves",
]


_UNSEEN = StepState(0, None, -1, (), ())  # the old state of a step never seen
_Keys = Sequence[HostKey]
_Codes = Sequence[int]


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
    when its event's ``host`` or ``result`` is first read (``HostTransition.of_row``); a
    container's (gateway v4; its key ``("container", id)``) at once (``ContainerTransition``). Steps
    and hosts are matched by position first (the server lists them in the same order poll
    after poll), by key when the order differs.
    """
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
    was_round = state.round
    now_round = was_round if steps is None else sum(s.execute_count for s in steps)
    if state.status != observation.status:
        changes.job(state.status, observation.status, now_round, was_round == now_round)
    elif now_round != was_round and state.status is not None:
        changes.new_job_round(now_round)
    return _next_state(state, old_steps, observation, steps, changes), changes.events()


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
        else _observe_hosts(was.keys, was.codes, step, same_round, changes)
    )
    if was.status != step.status:
        changes.step(step, was.status, same_round)
    elif hosts is None and same_round:
        return None
    keys, codes = (was.keys, was.codes) if hosts is None else hosts
    return StepState(step.step_instance_id, step.status, step.execute_count, keys, codes)


def _observe_hosts(
    keys: _Keys, codes: _Codes, step: StepObservation, same_round: bool, changes: _Changes
) -> tuple[_Keys, _Codes] | None:
    """Fold a step's host rows into its keys and codes; return new ones, ``None`` if unchanged.

    A host listed twice (rows of several result groups, read while it moved) compares with its
    earlier row, as rows read one after the other.
    """
    assert step.hosts is not None
    new_codes: list[int] | None = None  # copied on the first change
    new_keys: list[HostKey] | None = None  # copied when a host is added
    index: dict[HostKey, int] | None = None  # key -> position, once the order differs
    count = len(keys)
    for j, (key, code, row) in enumerate(step.hosts):
        if j < count and keys[j] == key:  # (every host of a changed poll comes here)
            previous: int | None = codes[j] if new_codes is None else new_codes[j]
            if previous == code:
                continue
            pos = j
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
        changes.host(step, HostRow(key, code, row, changes.host_result), previous, same_round)
    if new_codes is None:
        return None
    return (keys if new_keys is None else pack_keys(new_keys)), pack_codes(new_codes)


def _next_state(
    state: JobState,
    old_steps: tuple[StepState, ...],
    observation: JobObservation,
    steps: list[StepState] | None,
    changes: _Changes,
) -> JobState:
    """Return the state after ``observation``: ``state`` itself if nothing changed
    (``old_steps``: its steps, read once)."""
    changed = bool(changes.hosts or changes.others)  # (a job whose status changed has one)
    if (
        steps is None
        and not changed
        and state.finished == observation.finished
        and changes.visits is state.visits
    ):
        return state
    return JobState(
        observation.status,
        observation.finished,
        old_steps if steps is None else steps,
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

    def host(self, step: StepObservation, row: HostRow, was: int | None, same: bool) -> None:
        """Record a host's change (``was``: its old status code, ``None`` if not seen before)."""
        visit, self.visits = arrival(
            self.visits,
            (step.step_instance_id, row.key),
            step.execute_count,
            was,
            same,
            row.code,
            host=True,
        )
        key = row.key
        if type(key) is tuple and is_container(key):  # (v4's: an event of their own)
            self.hosts.append(
                ContainerTransition.of_result(
                    self.job_instance_id,
                    self.now(),
                    step.step_instance_id,
                    step.execute_count,
                    row.code,
                    row.structure(row.key, row.code, row.row),  # (a container's key)
                    None if was is None else HostStatus.of(was),
                    visit,
                )
            )
            return
        self.hosts.append(
            HostTransition.of_row(
                self.job_instance_id,
                self.now(),
                step.step_instance_id,
                step.execute_count,
                row,
                None if was is None else HostStatus.of(was),
                visit,
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


# --- bk-job's step rules ----------------------------------------------------------------------


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
