"""A step's host rows compared with its known hosts first: the same states and events.

``observe_job(..., known=state.step)`` reads only the rows of a step that moved when the server
lists the step's known hosts in their order (``_observe._moved``); the tracker folds those few.
Hypothesis feeds answers with hosts in any order, added late, listed twice, with statuses and
ids in any spelling, folded into the state they were compared with or into another one (an
older state: the tracker then reads every row); both ways give the same states, the same
events (each with its fields) and the same refusals. The same holds of the gateway v4's
execute objects (``step_execute_object_result_list``), some of them containers or of an odd
``type``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bkjob_async import ResponseFormatError
from bkjob_async._converter import Generation
from bkjob_async._observe import _FEW, observe_job
from bkjob_async.models import Container, ContainerResult, Host, HostResult, HostStatus
from bkjob_async.polling._tracker import EMPTY, JobState, observe
from bkjob_async.polling.events import is_container
from tests.properties import examples

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
STATUS = st.sampled_from([1, 2, 3, 5, 7, 9, 300])
#: Spellings the converter reads as the same number, or refuses (a bool, a fraction).
ODD = st.sampled_from([True, 7.0, "9", 2.5, None])


#: Execute objects' ``type`` as the gateway v4 may spell it (1 a host, 2 a container).
KIND = st.sampled_from([1, 1, 1, "1", True, 2, 3, None])


def _object(draw: st.DrawFn, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` (a v3 host row) as a v4 execute object: mostly a host, sometimes not."""
    status = row.pop("status")
    kind = 1 if draw(st.integers(0, 20)) else draw(KIND)
    target: dict[str, Any] = {"type": kind, "host": row}
    if kind == 2:
        target["container"] = {"id": row.get("bk_host_id")}
    if draw(st.integers(0, 30)) == 0:
        target["host"] = draw(st.sampled_from([None, [row], "x"]))
    return {"execute_object": target, "status": status, "tag": ""}


@st.composite
def answers(draw: st.DrawFn, hosts: list[int], objects: bool = False) -> dict[str, Any]:
    """A job's answer: steps whose rows are mostly ``hosts`` in order, sometimes not
    (``objects``: as the gateway v4's execute objects)."""
    steps = []
    for step_id in range(10, 10 + draw(st.integers(1, 2))):
        keys = list(hosts)
        if draw(st.integers(0, 4)) == 0:  # hosts in another order, added, or listed twice
            keys = draw(st.permutations(keys))
            keys += draw(st.lists(st.sampled_from([*hosts, 200, 201]), max_size=2))
        rows = []
        for key in keys:
            row: dict[str, Any] = {"bk_host_id": key, "status": draw(STATUS)}
            if draw(st.integers(0, 30)) == 0:
                row[draw(st.sampled_from(["bk_host_id", "status"]))] = draw(ODD)
            rows.append(_object(draw, row) if objects else row)
        steps.append(
            {
                "step_instance_id": step_id,
                "status": draw(STATUS),
                "execute_count": draw(st.integers(0, 1)),
                "step_execute_object_result_list" if objects else "step_ip_result_list": rows,
            }
        )
    return {
        "finished": False,
        "job_instance": {"job_instance_id": 7, "status": draw(STATUS)},
        "step_instance_list": steps,
    }


def _host_result(key: Any, code: int, row: dict[str, Any]) -> HostResult | ContainerResult:
    if is_container(key):
        return ContainerResult(Container(key[1]), HostStatus.of(code))
    return HostResult(Host(bk_host_id=key), HostStatus.of(code))


def _fold(state: JobState, answer: Any, known: JobState | None) -> Any:
    try:
        seen = observe_job(answer, Generation.V3, known=None if known is None else known.step)
    except ResponseFormatError as exc:
        return "refused", str(exc)
    new, events = observe(state, 7, seen, lambda: NOW, _host_result)
    return new, [
        (type(e).__name__, e.__dict__ if hasattr(e, "__dict__") else repr(e)) for e in events
    ]


@pytest.mark.parametrize("objects", [False, True], ids=["host-rows", "execute-objects"])
@settings(max_examples=examples(400), deadline=None)
@given(st.data())
def test_rows_compared_first_fold_as_rows_read_whole(objects: bool, data: st.DataObject) -> None:
    hosts = list(range(100, 100 + data.draw(st.integers(_FEW, _FEW + 4), label="hosts")))
    state = EMPTY
    history = [state]
    for _ in range(data.draw(st.integers(1, 6), label="answers")):
        answer = data.draw(answers(hosts, objects), label="answer")
        # Compared with the state folded into, or (rarely) with another one.
        known = state
        if data.draw(st.integers(0, 4), label="another") == 0:
            known = data.draw(st.sampled_from(history), label="known")
        whole = _fold(state, answer, None)
        first = _fold(state, answer, known)
        assert first == whole
        if whole[0] == "refused":
            continue
        state = whole[0]
        history.append(state)
