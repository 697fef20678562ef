"""The store contract, on every store: jobs, states, pending events, order, ack, membership.

Payloads are opaque to a store; the real ones, a job's tracker states and events on hosts or on
the gateway v4's containers (``tests/objects``), come back as they went in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from bkjob_async import StoreError
from bkjob_async._observe import JobObservation, StepObservation
from bkjob_async.models import Container, ContainerResult, Host, HostResult, HostStatus
from bkjob_async.polling._codec import decode_event, encode_event, from_data, to_data
from bkjob_async.polling._tracker import EMPTY, observe
from bkjob_async.polling.stores import Store, StoredEvent

from ..objects import OBJECTS
from .conftest import BIZ, BIZ_SET

STATE = {"status": 2, "steps": {"101": {"status": 2, "round": 0, "hosts": {"0:10.0.0.1": 5}}}}


async def test_a_new_watch_has_its_jobs_in_add_order_without_state(store: Store) -> None:
    await store.wait_settled(store.add_jobs("deploys", [(BIZ, 3), (BIZ_SET, 1), (BIZ, 2)]))
    loaded = await store.load("deploys")
    assert loaded is not None
    assert list(loaded.jobs) == [(BIZ, 3), (BIZ_SET, 1), (BIZ, 2)]
    assert list(loaded.jobs.values()) == [None, None, None]
    assert loaded.pending == ()
    assert await store.load("other") is None
    assert await store.watch_names() == ["deploys"]


async def test_states_and_pending_events_survive_a_reopen_in_commit_order(
    make_store: Callable[[], Store],
) -> None:
    async with make_store() as store:
        store.add_jobs("w", [(BIZ, 1), (BIZ, 2)])
        store.commit("w", (BIZ, 2), STATE, [("b", {"n": 1}), ("a", [1, "x", None])])
        store.commit("w", (BIZ, 1), {"n": 1}, [("c", "text")])
        store.commit("w", (BIZ, 2), {"n": 2}, [("d", 4.5)])
        await store.flush()
    async with make_store() as store:
        loaded = await store.load("w")
    assert loaded is not None
    assert loaded.jobs == {(BIZ, 1): {"n": 1}, (BIZ, 2): {"n": 2}}
    assert loaded.pending == (
        StoredEvent("b", (BIZ, 2), {"n": 1}),
        StoredEvent("a", (BIZ, 2), [1, "x", None]),
        StoredEvent("c", (BIZ, 1), "text"),
        StoredEvent("d", (BIZ, 2), 4.5),
    )


async def test_ack_forgets_only_the_named_events_of_that_watch(store: Store) -> None:
    for name in ("w", "v"):
        store.add_jobs(name, [(BIZ, 1)])
        store.commit(name, (BIZ, 1), {"n": 1}, [("e1", 1), ("e2", 2), ("e3", 3)])
    store.ack("w", ["e2", "unknown"])
    store.ack("w", [])
    loaded, other = await store.load("w"), await store.load("v")
    assert loaded is not None
    assert other is not None
    assert [e.event_id for e in loaded.pending] == ["e1", "e3"]
    assert [e.event_id for e in other.pending] == ["e1", "e2", "e3"]


async def test_an_event_id_already_pending_keeps_its_first_place_and_payload(store: Store) -> None:
    store.add_jobs("w", [(BIZ, 1)])
    store.commit("w", (BIZ, 1), {"n": 1}, [("e1", "first"), ("e2", 2)])
    store.commit("w", (BIZ, 1), {"n": 2}, [("e1", "again"), ("e3", 3)])
    loaded = await store.load("w")
    assert loaded is not None
    assert [(e.event_id, e.payload) for e in loaded.pending] == [
        ("e1", "first"),
        ("e2", 2),
        ("e3", 3),
    ]


async def test_an_acked_id_committed_again_is_pending_again(store: Store) -> None:
    store.add_jobs("w", [(BIZ, 1)])
    store.commit("w", (BIZ, 1), {"n": 1}, [("e1", 1)])
    store.ack("w", ["e1"])
    store.commit("w", (BIZ, 1), {"n": 2}, [("e1", 2)])
    loaded = await store.load("w")
    assert loaded is not None
    assert [(e.event_id, e.payload) for e in loaded.pending] == [("e1", 2)]


async def test_commit_for_a_job_outside_the_watch_is_ignored(store: Store) -> None:
    store.add_jobs("w", [(BIZ, 1)])
    store.commit("w", (BIZ, 9), {"n": 1}, [("e1", 1)])
    store.commit("nowatch", (BIZ, 1), {"n": 1}, [("e2", 1)])
    store.remove_jobs("w", [(BIZ, 1)])
    store.commit("w", (BIZ, 1), {"n": 2}, [("e3", 1)])
    loaded = await store.load("w")
    assert loaded is not None
    assert loaded.jobs == {}
    assert loaded.pending == ()
    assert await store.watch_names() == ["w"]


async def test_remove_drops_the_jobs_states_and_pending_events_and_add_keeps_states(
    store: Store,
) -> None:
    store.add_jobs("w", [(BIZ, 1), (BIZ, 2)])
    store.commit("w", (BIZ, 1), {"n": 1}, [("a", 1)])
    store.commit("w", (BIZ, 2), {"n": 2}, [("b", 2)])
    store.remove_jobs("w", [(BIZ, 1)])
    store.add_jobs("w", [(BIZ, 2), (BIZ, 3)])
    loaded = await store.load("w")
    assert loaded is not None
    assert loaded.jobs == {(BIZ, 2): {"n": 2}, (BIZ, 3): None}
    assert [e.event_id for e in loaded.pending] == ["b"]


async def test_drop_deletes_the_watch_and_only_it(store: Store) -> None:
    store.add_jobs("w", [(BIZ, 1)])
    store.add_jobs("v", [(BIZ, 1)])
    store.commit("w", (BIZ, 1), {"n": 1}, [("a", 1)])
    store.drop("w")
    store.drop("never-made")
    assert await store.load("w") is None
    assert await store.watch_names() == ["v"]


async def test_tickets_grow_and_settle(store: Store) -> None:
    first = store.add_jobs("w", [(BIZ, 1)])
    second = store.commit("w", (BIZ, 1), {"n": 1})
    third = store.ack("w", [])
    assert first < second < third
    await store.wait_settled(third)
    assert store.settled(first)
    assert store.settled(third)
    stats = store.statistics()
    assert stats.healthy
    assert stats.error is None
    assert stats.writes == 3
    assert stats.pending_writes == 0


@pytest.mark.parametrize(
    "name", ["", "x" * 201, "line\nbreak", 7], ids=["empty", "long", "control", "int"]
)
async def test_bad_watch_names_are_refused(store: Store, name: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        store.add_jobs(name, [(BIZ, 1)])  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        await store.load(name)  # type: ignore[arg-type]


async def test_a_none_state_or_an_empty_event_id_is_refused(store: Store) -> None:
    store.add_jobs("w", [(BIZ, 1)])
    with pytest.raises(ValueError, match="None"):
        store.commit("w", (BIZ, 1), None)
    with pytest.raises(ValueError, match="event_id"):
        store.commit("w", (BIZ, 1), {"n": 1}, [("", 1)])


async def test_writes_on_a_closed_store_raise_store_error(make_store: Callable[[], Store]) -> None:
    async with make_store() as store:
        store.add_jobs("w", [(BIZ, 1)])
    for call in (
        lambda: store.add_jobs("w", [(BIZ, 2)]),
        lambda: store.commit("w", (BIZ, 1), {"n": 1}),
        lambda: store.ack("w", ["a"]),
        lambda: store.drop("w"),
    ):
        with pytest.raises(StoreError, match=r"closed|not open"):
            call()


async def test_after_a_reopen_and_load_acks_and_commits_apply_to_stored_events(
    make_store: Callable[[], Store],
) -> None:
    async with make_store() as store:
        store.add_jobs("w", [(BIZ, 1), (BIZ, 2)])
        store.commit("w", (BIZ, 1), {"n": 1}, [("a", 1), ("b", 2)])
        store.commit("w", (BIZ, 2), {"n": 1}, [("c", 3)])
    async with make_store() as store:
        loaded = await store.load("w")
        assert loaded is not None
        store.ack("w", ["a"])
        store.commit("w", (BIZ, 1), {"n": 2}, [("b", "again"), ("d", 4)])
        store.remove_jobs("w", [(BIZ, 2)])
    async with make_store() as store:
        loaded = await store.load("w")
    assert loaded is not None
    assert loaded.jobs == {(BIZ, 1): {"n": 2}}
    assert [(e.event_id, e.payload) for e in loaded.pending] == [("b", 2), ("d", 4)]


def _result(key: Any, code: int, row: dict[str, Any]) -> HostResult | ContainerResult:
    if isinstance(key, tuple):
        return ContainerResult(Container(key[1], name="app"), HostStatus.of(code), exit_code=1)
    return HostResult(Host(key, "10.0.0.1"), HostStatus.of(code), exit_code=1)


def _job(objects: str) -> list[tuple[Any, list[tuple[str, Any]]]]:
    """A job's real commits, as the poller makes them: its state and events after each poll
    (two hosts or two containers running, one failing, retried, then both done)."""
    keys: list[Any] = [101, 102] if objects == "hosts" else [("container", 101), ("container", 102)]
    polls = [(2, 2, 0, (7, 7)), (2, 2, 0, (9, 104)), (2, 2, 1, (9, 7)), (3, 3, 1, (9, 9))]
    state, commits = EMPTY, []
    at = dt.datetime(2026, 11, 25, 11, 0, tzinfo=dt.timezone.utc)
    for job, step, round_, codes in polls:
        rows = [(key, code, {}) for key, code in zip(keys, codes, strict=True)]
        seen = JobObservation(job == 3, job, [StepObservation(10, step, round_, rows)])
        state, events = observe(state, 1, seen, lambda: at, _result)
        commits.append((to_data(state), [(e.event_id, encode_event(e)) for e in events]))
    return commits


def _no_snapshot(raw: Any, cls: type[Any]) -> Any:
    raise AssertionError("no JobFinished here")


@pytest.mark.parametrize("objects", OBJECTS)
async def test_a_jobs_states_and_events_come_back_as_committed(
    make_store: Callable[[], Store], objects: str
) -> None:
    commits = _job(objects)
    async with make_store() as store:
        store.add_jobs("w", [(BIZ, 1)])
        for state, events in commits:
            store.commit("w", (BIZ, 1), state, events)
        await store.flush()
    async with make_store() as store:
        loaded = await store.load("w")
    assert loaded is not None
    last = commits[-1][0]
    assert loaded.jobs == {(BIZ, 1): last}
    assert from_data(loaded.jobs[(BIZ, 1)]) == from_data(last)
    sent = [event for _, events in commits for event in events]
    back = [(e.event_id, decode_event(e.payload, _no_snapshot)) for e in loaded.pending]
    assert [(i, encode_event(e)) for i, e in back] == sent
    assert [e.event_id for _, e in back] == [i for i, _ in sent]  # (ids made anew agree)
    kinds = {type(e).__name__ for _, e in back}
    assert kinds == {"HostTransition" if objects == "hosts" else "ContainerTransition"} | {
        "StepTransition",
        "JobTransition",
    }
