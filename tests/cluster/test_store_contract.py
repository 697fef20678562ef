"""The store contract (``tests/durable/test_contract.py``, unchanged) on ``RedisStore`` against a
real redis-server, plus what only a cluster store has: fencing, the stream, the key layout."""

from __future__ import annotations

import json
from collections import Counter

import anyio
import pytest

from bkjob_async.cluster import LeaseKeeper, RedisStore
from bkjob_async.cluster._keys import parse_partition_member, parse_pending_field
from bkjob_async.polling.stores import Store
from tests.durable.conftest import BIZ
from tests.durable.test_contract import *  # noqa: F403 - the shared contract, run here on Redis

from .redis_server import sigcont, sigstop
from .test_cluster_watch_set import a_connection_closed_under_the_next_command


@pytest.fixture
async def keeper(make_cluster):
    """A lone worker's keeper: it holds every partition."""
    keeper = LeaseKeeper(make_cluster(), worker_id="store", ttl=30)
    result = await keeper.tick()
    assert len(result.held) == keeper.cluster.partitions
    return keeper


@pytest.fixture
def make_store(make_cluster, keeper):
    """Override: each call is a new ``RedisStore`` (its own connections) on the same cluster."""

    def make() -> Store:
        return RedisStore(make_cluster(), keeper.lease)

    return make


@pytest.fixture
async def store(make_store):
    async with make_store() as opened:
        yield opened


async def test_a_commit_is_one_fenced_write_with_the_state_and_the_stream(store, keeper):
    store.add_jobs("w", [(BIZ, 1)])
    await store.flush()
    before = store.statistics().transactions
    store.commit("w", (BIZ, 1), {"n": 1}, [("e1", {"x": 1}), ("e2", 2)])
    await store.flush()
    assert store.statistics().transactions == before + 1
    cluster = store.cluster
    part = cluster.partition(BIZ, 1)
    fields = await cluster.read_state(part)
    assert json.loads(fields["s:biz:2:1:w"]) == {"n": 1}
    entries = await cluster.redis.xrange(cluster.keys.events("w"))
    assert [(f["id"], json.loads(f["p"])) for _, f in entries] == [("e1", {"x": 1}), ("e2", 2)]
    assert {int(f["tok"]) for _, f in entries} == {keeper.lease(part).token}


async def test_without_the_lease_nothing_is_written_and_the_call_settles(make_cluster, keeper):
    cluster = make_cluster()
    async with RedisStore(cluster, lambda part: None) as store:
        store.add_jobs("w", [(BIZ, 1)])  # submit needs no lease
        ticket = store.commit("w", (BIZ, 1), {"n": 1}, [("e1", 1)])
        await store.wait_settled(ticket)
        assert store.fence.refused == 1
    assert await cluster.jobs("w") == {(BIZ, 1)}
    assert await cluster.read_state(cluster.partition(BIZ, 1)) == {}
    assert await cluster.redis.xlen(cluster.keys.events("w")) == 0


async def test_a_lease_taken_over_in_redis_refuses_the_write(make_cluster, keeper):
    cluster = make_cluster()
    part = cluster.partition(BIZ, 1)
    async with RedisStore(cluster, keeper.lease) as store:
        store.add_jobs("w", [(BIZ, 1)])
        # Another worker was granted a newer token for the partition.
        await cluster.redis.hincrby(cluster.keys.fence, str(part), 1)
        await store.wait_settled(store.commit("w", (BIZ, 1), {"n": 1}, [("e1", 1)]))
        assert store.fence.refused == 1
    assert await cluster.read_state(part) == {}


async def test_jobs_added_are_submitted_to_the_cluster_watch(store):
    store.add_jobs("deploys", [(BIZ, 1), (BIZ, 2)])
    store.remove_jobs("deploys", [(BIZ, 1)])
    await store.flush()
    assert await store.cluster.jobs("deploys") == {(BIZ, 2)}
    part = store.cluster.partition(BIZ, 2)
    assert (BIZ, 2) in await store.cluster.partition_jobs(part)


async def test_an_unreachable_redis_keeps_writes_queued_and_resumes(make_cluster, redis_server):
    cluster = make_cluster(timeout=1.0)  # the write to the frozen Redis times out after this
    keeper = LeaseKeeper(cluster, worker_id="solo", ttl=60)
    await keeper.tick()
    async with RedisStore(cluster, keeper.lease, max_retry_interval=0.2) as store:
        store.add_jobs("w", [(BIZ, 1)])
        await store.flush()
        sigstop(redis_server.pid)
        try:
            ticket = store.commit("w", (BIZ, 1), {"n": 1}, [("e1", 1)])
            await store.wait_settled(ticket)  # settles at once when unhealthy
            assert not store.statistics().healthy
        finally:
            sigcont(redis_server.pid)
        with anyio.fail_after(10):
            while not store.statistics().healthy:
                await anyio.sleep(0.05)
        loaded = await store.load("w")
    assert loaded.jobs == {(BIZ, 1): {"n": 1}}
    assert [e.event_id for e in loaded.pending] == ["e1"]
    # The timed-out write may have run too once Redis woke: e1 is in the stream once or twice.
    reader = make_cluster()
    entries = await reader.redis.xrange(reader.keys.events("w"))
    assert {f["id"] for _, f in entries} == {"e1"}


async def test_a_connection_closed_under_a_write_is_retried_and_the_writer_goes_on(
    make_cluster, keeper
):
    async with RedisStore(make_cluster(), keeper.lease, max_retry_interval=0.2) as store:
        store.add_jobs("w", [(BIZ, 1)])
        await store.flush()
        with a_connection_closed_under_the_next_command() as closed:
            await store.wait_settled(store.commit("w", (BIZ, 1), {"n": 1}, [("e1", 1)]))
            assert closed
        with anyio.fail_after(10):
            while not store.statistics().healthy:
                await anyio.sleep(0.05)
        store.commit("w", (BIZ, 1), {"n": 2}, [("e2", 2)])
        loaded = await store.load("w")
    assert loaded.jobs == {(BIZ, 1): {"n": 2}}
    assert [e.event_id for e in loaded.pending] == ["e1", "e2"]


async def test_a_worker_taking_over_loads_the_last_fenced_state_and_the_old_one_is_refused(
    make_cluster,
):
    """Store level of a takeover: B continues from what A wrote under its lease; A, paused
    past its lease, writes nothing more."""
    # A's lease lasts long enough for its writes on a loaded machine (0.5 s did not always).
    old_keeper = LeaseKeeper(make_cluster(), worker_id="a", ttl=1.5, margin=0.05)
    await old_keeper.tick()
    old = RedisStore(old_keeper.cluster, old_keeper.lease)
    await old.open()
    try:
        old.add_jobs("w", [(BIZ, 1)])
        old.commit("w", (BIZ, 1), {"hosts": 7}, [("h-5-7", "5 -> 7")])
        await old.flush()
        # A stalls past its lease (no renewal): B takes the partition once Redis let the
        # lease lapse, and A's own deadline (ttl less the margin from before its round) is
        # earlier still.
        new_keeper = LeaseKeeper(make_cluster(), worker_id="b", ttl=30)
        part = old.cluster.partition(BIZ, 1)
        with anyio.fail_after(30):
            await new_keeper.tick()
            while new_keeper.lease(part) is None:
                await anyio.sleep(0.1)
                await new_keeper.tick()
        assert old_keeper.lease(part) is None
        async with RedisStore(new_keeper.cluster, new_keeper.lease) as new:
            loaded = await new.load("w")
            assert loaded.jobs == {(BIZ, 1): {"hosts": 7}}
            assert [e.event_id for e in loaded.pending] == ["h-5-7"]
            # A wakes and writes: refused locally (its deadline passed), nothing applied.
            await old.wait_settled(old.commit("w", (BIZ, 1), {"hosts": 8}, [("h-7-8", 1)]))
            assert old.fence.refused == 1
            new.commit("w", (BIZ, 1), {"hosts": 9}, [("h-7-9", "7 -> 9")])
            new.ack("w", ["h-5-7"])
            again = await new.load("w")
        assert again.jobs == {(BIZ, 1): {"hosts": 9}}
        assert [e.event_id for e in again.pending] == ["h-7-9"]
        entries = await old.cluster.redis.xrange(old.cluster.keys.events("w"))
        assert [f["id"] for _, f in entries] == ["h-5-7", "h-7-9"]
    finally:
        await old.aclose()


async def test_a_cancel_deletes_the_jobs_pending_events_in_every_partition(make_cluster, keeper):
    """Whoever cancels (here a store holding no lease at all), nothing of the cancelled jobs
    stays in that watch: no state, no version, no pending event, in any partition; other
    watches keep theirs."""
    jobs = [(BIZ, i) for i in range(1, 41)]
    cluster = make_cluster()

    async def fields_of() -> Counter[tuple[str, str, int]]:
        """Count the ``state:P`` fields of every partition by (kind, watch, job)."""
        counts: Counter[tuple[str, str, int]] = Counter()
        for part in range(cluster.partitions):
            for field in await cluster.read_state(part):
                if field.startswith("e:"):
                    (_, job_id), watch, _ = parse_pending_field(field)
                else:
                    (_, job_id), watch = parse_partition_member(field[2:])
                counts[field[0], watch, job_id] += 1
        return counts

    async with RedisStore(make_cluster(), keeper.lease) as holder:
        for watch in ("w", "v"):
            holder.add_jobs(watch, jobs)
            for _, job_id in jobs:
                holder.commit(
                    watch, (BIZ, job_id), {"n": 1}, [(f"{job_id}a", 1), (f"{job_id}b", 2)]
                )
        await holder.flush()
    assert len({cluster.partition(*job) for job in jobs}) > 10
    before = await fields_of()
    assert sum(before.values()) == 2 * 40 * 4  # per job and watch: state, version, 2 events
    async with RedisStore(cluster, lambda part: None) as canceller:
        assert await canceller.load("w") is not None
        canceller.remove_jobs("w", jobs[:30])
        await canceller.flush()
    after = await fields_of()
    assert after == {k: n for k, n in before.items() if k[1] == "v" or k[2] > 30}
    assert sum(after.values()) == (40 + 10) * 4
    assert await cluster.jobs("w") == set(jobs[30:])


async def test_writes_queued_for_a_job_let_go_never_land_even_once_it_is_held_again(
    make_cluster, keeper
):
    """A worker lets a job go (a lease lapsed by its clock, a refused write) and follows it
    again from the state it reads in Redis: a write it still had queued from the older follow
    must not land after that read, or the job's chains repeat or skip transitions (the stream
    has the older follow's ``5 -> 7``, the new follow, seeded at 5, writes ``5 -> 9``)."""
    cluster = make_cluster()
    job, part = (BIZ, 1), cluster.partition(BIZ, 1)
    async with RedisStore(cluster, keeper.lease, pending=False) as store:
        await cluster.submit(BIZ, [1], watch="w")
        store.held.join("w", [job])
        await store.wait_settled(store.commit("w", job, {"n": 1}, [("e1", 1)]))
        read = await cluster.read_state(part)
        # Queued and not sent (nothing awaited since): the job is let go and held again.
        older = store.commit("w", job, {"n": 2}, [("e2", 2)])
        store.held.forget("w", [job])
        store.held.join("w", [job], read)  # seeded from what was read, its version too
        await store.wait_settled(older)
        assert await cluster.read_state(part) == read  # what the new follow was seeded from
        assert store.fence.stale == 1
        assert store.fence.refused == 0
        # The new follow's writes land.
        await store.wait_settled(store.commit("w", job, {"n": 3}, [("e3", 3)]))
    ids = [f["id"] for _, f in await cluster.redis.xrange(cluster.keys.events("w"))]
    assert ids == ["e1", "e3"]
    assert json.loads((await cluster.read_state(part))["s:biz:2:1:w"]) == {"n": 3}


async def test_quiet_returns_once_a_write_already_sent_has_landed(make_cluster, keeper):
    """A write already on its way when its job is let go may still land: ``quiet`` returns
    only after it did (or failed), so a partition read after it sees every write that will
    ever land of the jobs let go."""
    cluster = make_cluster()
    job, part = (BIZ, 1), cluster.partition(BIZ, 1)
    async with RedisStore(cluster, keeper.lease, pending=False) as store:
        await cluster.submit(BIZ, [1], watch="w")
        store.held.join("w", [job])
        queue = store._queue
        mark = queue.started
        ticket = store.commit("w", job, {"n": 1}, [("e1", 1)])
        with anyio.fail_after(10):
            while queue.started == mark:  # the writer took it: sent, or about to be
                await anyio.sleep(0)
        store.held.forget("w", [job])
        await store.writer.quiet()
        assert store.settled(ticket)
        assert json.loads((await cluster.read_state(part))["s:biz:2:1:w"]) == {"n": 1}
        assert store.fence.stale == 0
