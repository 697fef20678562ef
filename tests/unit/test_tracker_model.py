"""The tracker against a plain model of it: same events, same hosts, and states stay values.

The tracker matches steps and hosts by position first and by key when the server's order
changes; the model is a fold into dicts, with no positions at all. Hypothesis feeds both the
same observations: steps and hosts in any order, hosts and steps appearing late, a step named
twice, a host listed twice in one step, and observations folded into an old state again (a
branch).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bkjob_async._observe import JobObservation, StepObservation
from bkjob_async.models import Host, HostResult, HostStatus
from bkjob_async.polling._codec import from_data, to_data
from bkjob_async.polling._tracker import EMPTY, JobState, observe
from tests.properties import examples

from ..scripted import describe

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
STATUS = st.sampled_from([1, 2, 3, 4, 7, 9, 11, 99])

#: One step as observed: (step id, status, round, host rows or None).
steps = st.lists(
    st.tuples(
        st.integers(10, 14),
        STATUS,
        st.integers(0, 2),
        # Rows of a step; a host may be listed twice (rows of result groups read while it
        # moved from one group to another).
        st.none() | st.lists(st.tuples(st.integers(100, 109), STATUS), max_size=12),
    ),
    max_size=5,
)
observations = st.lists(st.tuples(st.booleans(), STATUS, steps), min_size=1, max_size=8)


def _observation(finished: bool, status: int, seen: list[Any]) -> JobObservation:
    return JobObservation(
        finished,
        status,
        [
            StepObservation(
                step_id,
                step_status,
                count,
                None if rows is None else [(key, code, {}) for key, code in rows],
            )
            for step_id, step_status, count, rows in seen
        ],
    )


def _host_result(key: Any, code: int, row: dict[str, Any]) -> HostResult:
    return HostResult(Host(bk_host_id=key), HostStatus.of(code))


#: The model's state: job status, finished, seq, {step id: (status, round, {key: code})}.
Model = tuple[Any, bool, int, dict[int, tuple[Any, int, dict[int, int]]]]
EMPTY_MODEL: Model = (None, False, 0, {})


def _model(state: Model, observation: JobObservation) -> tuple[Model, list[tuple[Any, ...]]]:
    """Fold an observation into dicts: what the tracker must report, without positions."""
    status, _, seq, old_steps = state
    steps = dict(old_steps)
    hosts_events: list[tuple[Any, ...]] = []
    step_events: list[tuple[Any, ...]] = []
    # A step listed twice is one step: the last listing wins, in the place of the first.
    for step in {s.step_instance_id: s for s in observation.steps}.values():
        old_status, _, old_hosts = old_steps.get(step.step_instance_id, (None, 0, {}))
        hosts = dict(old_hosts)
        for key, code, _ in step.hosts or ():  # rows read one after the other
            if hosts.get(key) != code:
                hosts_events.append(
                    ("host", step.step_instance_id, step.execute_count, key, hosts.get(key), code)
                )
                hosts[key] = code
        if old_status != step.status:
            step_events.append(
                ("step", step.step_instance_id, step.execute_count, old_status, step.status)
            )
        steps[step.step_instance_id] = (step.status, step.execute_count, hosts)
    events = hosts_events + step_events
    if status != observation.status:
        events.append(("job", status, observation.status))
    new_seq = seq + 1 if events else seq
    return (observation.status, observation.finished, new_seq, steps), events


def _as_model(state: JobState) -> Model:
    return (
        state.status,
        state.finished,
        state.seq,
        {s.step_instance_id: (s.status, s.execute_count, s.hosts) for s in state.steps},
    )


@settings(max_examples=examples(300), deadline=None)
@given(observations, st.data())
def test_the_tracker_reports_what_the_model_does(seen: list[Any], data: st.DataObject) -> None:
    state, model = EMPTY, EMPTY_MODEL
    history: list[tuple[JobState, Model]] = []
    for finished, status, steps_seen in seen:
        observation = _observation(finished, status, steps_seen)
        if history and data.draw(st.booleans(), label="branch from an older state"):
            state, model = data.draw(st.sampled_from(history), label="older state")
        saved = to_data(state)
        new, events = observe(state, 1, observation, lambda: NOW, _host_result)
        model, expected = _model(model, observation)
        assert [describe(e) for e in events] == expected
        assert _as_model(new) == model
        assert to_data(state) == saved  # the state observed from is a value: unchanged
        assert from_data(to_data(new)) == new
        if new == state:  # nothing changed: the very same state, nothing copied
            assert new is state
        history.append((new, model))
        state = new
