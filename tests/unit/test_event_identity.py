"""Event ids survive a rollback: a transition derived again has the id a consumer already has.

A job's true history is a walk of bk-job-like moves (confirmations, rolling pauses, retries with
and without bk-job's lag, hosts that wait, run and end once per round), on hosts or on the
gateway v4's containers (``ContainerTransition``). A first holder observes a
random part of it and hands its events to a consumer; then its state rolls back (to any state it
had, as a Redis failover or a restored file does, or to nothing) and a second holder observes
what happens after. The consumer dedupes by ``event_id`` and must never be told an entity reached
a status again in a round unless it really left that status in between.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from bkjob_async._observe import JobObservation, StepObservation
from bkjob_async.models import Container, ContainerResult, Host, HostResult, HostStatus, JobStatus
from bkjob_async.polling._codec import from_data, to_data
from bkjob_async.polling._tracker import EMPTY, JobState, observe
from bkjob_async.polling.events import (
    ContainerTransition,
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
)
from tests.properties import examples

NOW = dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)
STEPS = (10, 20)
HOSTS = (100, 101)
#: A container job's execute objects (the gateway v4): a history runs on hosts or containers.
CONTAINERS = (("container", 100), ("container", 101))

# Moves a job or a step makes within a round (bk-job's RunStatusEnum): start, run, wait for a
# person or between rolling batches, stop, end; a confirmation rejected and asked again.
MOVES = {
    1: (2, 7),
    2: (7, 15, 10, 3, 4),
    7: (2, 3, 13, 10),
    15: (2,),
    10: (11,),
    4: (6,),
    13: (7,),
}
RETRIED = (4, 11)  # a step that ended so may be retried (a new round)
HOST_MOVES = {5: (7, 9, 11), 7: (9, 11)}


def _host_result(key: Any, code: int, row: dict[str, Any]) -> HostResult | ContainerResult:
    if isinstance(key, tuple):
        return ContainerResult(Container(key[1]), HostStatus.of(code))
    return HostResult(Host(bk_host_id=key), HostStatus.of(code))


# A snapshot: (job status, {step: (status, execute count, {host or container: code})}).
Snapshot = tuple[int, dict[int, tuple[int, int, dict[Any, int]]]]


@st.composite
def histories(draw: st.DrawFn) -> list[Snapshot]:
    job = 1
    objects = draw(st.sampled_from([HOSTS, CONTAINERS]), label="run on")
    steps = {s: (1, 0, dict.fromkeys(objects, 5)) for s in STEPS}
    history: list[Snapshot] = [(job, {s: (st_, ec, dict(h)) for s, (st_, ec, h) in steps.items()})]
    for _ in range(draw(st.integers(5, 30))):
        kind = draw(st.sampled_from(["job", "step", "host", "retry"]))
        if kind == "job" and job in MOVES:
            job = draw(st.sampled_from(MOVES[job]))
        elif kind == "step":
            step = draw(st.sampled_from(STEPS))
            status, ec, hosts = steps[step]
            if status in MOVES:
                steps[step] = (draw(st.sampled_from(MOVES[status])), ec, hosts)
        elif kind == "host":
            step, host = draw(st.sampled_from(STEPS)), draw(st.sampled_from(objects))
            status, ec, hosts = steps[step]
            if hosts[host] in HOST_MOVES:
                hosts = {**hosts, host: draw(st.sampled_from(HOST_MOVES[hosts[host]]))}
                steps[step] = (status, ec, hosts)
        elif kind == "retry":
            step = draw(st.sampled_from(STEPS))
            status, ec, hosts = steps[step]
            if status in RETRIED:
                reset = {h: 5 if c != 9 else 9 for h, c in hosts.items()}  # retry-failed
                if draw(st.booleans(), label="lag"):  # the round before the step moved
                    history.append((job, {**steps, step: (status, ec + 1, hosts)}))
                steps[step] = (2, ec + 1, reset)
        history.append((job, {s: (a, b, dict(c)) for s, (a, b, c) in steps.items()}))
    return history


def _observation(snapshot: Snapshot) -> JobObservation:
    job, steps = snapshot
    return JobObservation(
        JobStatus.of(job).is_finished,
        job,
        [
            StepObservation(s, status, ec, [(h, c, {}) for h, c in hosts.items()])
            for s, (status, ec, hosts) in steps.items()
        ],
    )


def _entity(event: Any) -> tuple[Any, ...] | None:
    """(entity, round, status) an event reports; ``None`` for a ``JobFinished``."""
    if isinstance(event, HostTransition):
        entity = ("h", event.step_instance_id, event.host_key)
        return entity, event.execute_count, int(event.current)
    if isinstance(event, ContainerTransition):
        entity = ("h", event.step_instance_id, event.container_key)
        return entity, event.execute_count, int(event.current)
    if isinstance(event, StepTransition):
        return ("s", event.step_instance_id), event.execute_count, int(event.current)
    if isinstance(event, JobTransition):
        return ("j",), event.round, int(event.current)
    return None


def _truth(snapshot: Snapshot, entity: tuple[Any, ...]) -> tuple[int, int]:
    """(round, status) of an entity in a snapshot."""
    job, steps = snapshot
    if entity[0] == "j":
        return sum(ec for _, ec, _ in steps.values()), job
    status, ec, hosts = steps[entity[1]]
    return ec, status if entity[0] == "s" else hosts[entity[2]]


def _run(
    state: JobState, history: list[Snapshot], seen: list[int], store: bool
) -> tuple[JobState, list[tuple[int, Any]], list[JobState]]:
    """Observe ``history`` at the indexes ``seen``: the last state, (index, event)s, states."""
    events: list[tuple[int, Any]] = []
    states = []
    for i in seen:
        state, found = observe(state, 1, _observation(history[i]), lambda: NOW, _host_result)
        if store:  # through the codec, as a store keeps it
            state = from_data(to_data(state))
        events += [(i, e) for e in found]
        if JobStatus.of(history[i][0]).is_finished:
            events.append(
                (i, JobFinished(1, NOW, JobStatus(history[i][0]), None, round=state.round))
            )  # type: ignore[arg-type]
        states.append(state)
    return state, events, states


@settings(max_examples=examples(400), deadline=None)
@given(histories(), st.data())
def test_a_consumer_that_dedupes_never_sees_a_repeat_after_a_rollback(
    history: list[Snapshot], data: st.DataObject
) -> None:
    last = len(history) - 1
    fault = data.draw(st.integers(0, last), label="fault")
    first = sorted(data.draw(st.sets(st.integers(0, fault), min_size=1), label="first holder"))
    store = data.draw(st.booleans(), label="through the codec")
    _, handed, states = _run(EMPTY, history, first, store)
    back = data.draw(st.sampled_from([EMPTY, *states]), label="rolled back to")
    later = sorted(data.draw(st.sets(st.integers(fault, last), min_size=1), label="second holder"))
    _, again, _ = _run(back, history, later, store)
    _check(history, [*handed, *again])


def _check(history: list[Snapshot], delivered: list[tuple[int, Any]]) -> None:
    """Assert what a consumer that dedupes by ``event_id`` is told never repeats itself."""
    ids: set[str] = set()
    told: dict[tuple[Any, ...], tuple[int, int, int]] = {}  # entity -> (index, round, status)
    for index, event in delivered:
        if event.event_id in ids:
            continue  # dropped by the consumer
        ids.add(event.event_id)
        reported = _entity(event)
        if reported is None:
            continue
        entity, round_, status = reported
        if entity in told:
            was_index, was_round, was_status = told[entity]
            assert index >= was_index, f"{event.event_id}: older than what was told"
            if (was_round, was_status) == (round_, status):
                # Told again: only if the entity really left that status in between.
                between = [_truth(history[i], entity) for i in range(was_index, index + 1)]
                assert any(t != (round_, status) for t in between), (
                    f"{event.event_id} repeats what the consumer has"
                )
        told[entity] = (index, round_, status)


@settings(max_examples=examples(200), deadline=None)
@given(histories(), st.data())
def test_without_a_fault_every_transition_has_its_own_id(
    history: list[Snapshot], data: st.DataObject
) -> None:
    seen = sorted(data.draw(st.sets(st.integers(0, len(history) - 1), min_size=1)))
    _, events, _ = _run(EMPTY, history, seen, store=False)
    ids = [e.event_id for _, e in events if not isinstance(e, JobFinished)]
    assert len(ids) == len(set(ids))


def test_a_job_waiting_twice_gets_two_ids_and_a_merge_keeps_the_first() -> None:
    def job(status: int, step: int, host: int) -> Snapshot:
        return (status, {10: (step, 0, {100: host})})

    history = [job(2, 2, 7), job(7, 15, 7), job(2, 2, 7), job(7, 15, 9), job(3, 3, 9)]
    _, events, states = _run(EMPTY, history, [0, 1, 2, 3, 4], store=True)
    ids = [e.event_id for _, e in events]
    assert ids[:3] == ["1/10/0/h100/7", "1/10/0/s/2", "1/j/2/r0"]
    assert "1/10/0/s/2#2" in ids
    assert "1/j/7/r0#2" in ids
    assert "1/10/0/s/15#2" in ids
    # From the first state, the host's 7 -> 9 is seen as it was: the same id.
    _, again, _ = _run(states[0], history, [4], store=True)
    assert "1/10/0/h100/9" in [e.event_id for _, e in again]
    # From nothing: None -> 9 is the 7 -> 9 the consumer has.
    _, merged, _ = _run(EMPTY, history, [4], store=True)
    host = next(e for _, e in merged if isinstance(e, HostTransition))
    assert (host.previous, host.event_id) == (None, "1/10/0/h100/9")


def test_a_retry_seen_with_or_without_bk_jobs_lag_has_the_same_ids() -> None:
    def job(status: int, step: int, ec: int, hosts: tuple[int, int]) -> Snapshot:
        return (status, {10: (step, ec, dict(zip(HOSTS, hosts, strict=True)))})

    history = [
        job(2, 2, 0, (7, 7)),
        job(4, 4, 0, (9, 11)),
        job(2, 4, 1, (9, 11)),  # the lag: a new round, the step and hosts not reset yet
        job(2, 2, 1, (9, 5)),
        job(2, 2, 1, (9, 7)),
    ]
    _, handed, states = _run(EMPTY, history, [0, 1, 2, 3], store=True)
    step = [e.event_id for _, e in handed if isinstance(e, StepTransition)]
    assert step == ["1/10/0/s/2", "1/10/0/s/4", "1/10/1/s/2"]  # the retry's first 2
    for back in (EMPTY, *states):
        for seen in ([3], [4], [3, 4]):
            _, again, _ = _run(back, history, seen, store=True)
            _check(history, [*handed, *again])
            ids = {e.event_id for _, e in handed}
            assert "1/10/1/h101/5" in ids


def test_a_job_whose_round_changed_while_it_waited_counts_afresh() -> None:
    def job(status: int, second: tuple[int, int]) -> Snapshot:
        return (status, {10: (7, 0, {100: 5}), 20: (*second, {100: 5})})

    # Step 20 is retried (a new round for the job) while the job shows 7, then runs.
    history = [job(1, (1, 0)), job(7, (2, 0)), job(7, (11, 0)), job(7, (2, 1)), job(2, (2, 1))]
    _, handed, states = _run(EMPTY, history, [0, 1, 2, 3, 4], store=True)
    assert "1/j/2/r1" in [e.event_id for _, e in handed]  # the first 2 of round 1
    for back in (EMPTY, *states):
        _, again, _ = _run(back, history, [4], store=True)
        _check(history, [*handed, *again])


def test_a_host_that_moved_in_the_retry_lag_ends_the_new_round_under_a_new_id() -> None:
    # Host 101 is seen running in round 0, then (its failure unseen) failed in the lag row of
    # round 1: that 11 is the round-0 failure, reported in round 1. When it really fails in
    # round 1, that is its second arrival at 11 there, not a repeat of the first id.
    def job(step: int, ec: int, hosts: tuple[int, int]) -> Snapshot:
        return (2, {10: (step, ec, dict(zip(HOSTS, hosts, strict=True)))})

    history = [
        job(2, 0, (7, 7)),
        job(4, 0, (9, 11)),  # (not seen)
        job(4, 1, (9, 11)),  # the lag
        job(2, 1, (9, 5)),
        job(2, 1, (9, 7)),
        job(4, 1, (9, 11)),
    ]
    seen = [0, 2, 3, 4, 5]
    _, events, _ = _run(EMPTY, history, seen, store=True)
    hosts = [e.event_id for _, e in events if isinstance(e, HostTransition)]
    assert hosts[-1] == "1/10/1/h101/11#2"
    assert len(hosts) == len(set(hosts))
    for fault in range(1, len(seen) + 1):  # a rollback after the first holder saw seen[:fault]
        _, handed, states = _run(EMPTY, history, seen[:fault], store=True)
        for back in (EMPTY, *states):
            _, again, _ = _run(back, history, seen[fault - 1 :], store=True)
            _check(history, [*handed, *again])
