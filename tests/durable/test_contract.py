"""The store contract, on every store: jobs, states, pending events, order, ack, membership."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bkjob_async import StoreError
from bkjob_async.polling.stores import Store, StoredEvent

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
