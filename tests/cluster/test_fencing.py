"""Fencing against a real redis-server: a worker whose lease lapsed can neither write state
nor publish, not even a process frozen (SIGSTOP) past its TTL that wakes up mid-write."""

from __future__ import annotations

import time

import anyio
import pytest

from bkjob_async.cluster import LeaseKeeper, LeaseLostError, NewEvent
from bkjob_async.cluster._commit import Fenced

from .redis_server import sigcont, sigstop


async def event_ids(cluster, watch="deploys"):
    entries = await cluster.redis.xrange(cluster.keys.events(watch))
    return [fields["id"] for _, fields in entries]


async def test_a_lapsed_lease_is_refused_locally_and_by_redis(make_cluster):
    a, b = make_cluster(), make_cluster()
    old = LeaseKeeper(a, worker_id="old", ttl=0.3, margin=0.05, max_partitions=1)
    (lease,) = (await old.tick()).gained
    await a.commit(lease, state={"k": "old"}, events=[NewEvent("deploys", "e-old", 1)])
    await anyio.sleep(0.4)  # past the TTL; no renewal
    with pytest.raises(LeaseLostError) as info:
        await a.commit(lease, state={"k": "stale"})
    assert info.value.reason == "expired"
    # As if it had passed the local check just before pausing: Redis refuses it too.
    stale = Fenced(part=lease.partition, state={"k": "stale"}, events=(("deploys", "x", "1"),))
    with pytest.raises(LeaseLostError) as info:
        await a.fenced_commit(lease, stale)
    assert info.value.reason == "not-held"
    new = LeaseKeeper(b, worker_id="new", ttl=5)
    await new.tick()
    taken = new.lease(lease.partition)
    assert taken is not None
    assert taken.token > lease.token
    with pytest.raises(LeaseLostError) as info:
        await a.fenced_commit(lease, stale)
    assert info.value.reason == "not-held"
    assert info.value.token == lease.token
    await b.commit(taken, state={"k": "new"}, events=[NewEvent("deploys", "e-new", 2)])
    assert await a.read_state(lease.partition) == {"k": "new"}
    assert await event_ids(a) == ["e-old", "e-new"]


async def test_a_lower_token_than_the_highest_seen_is_refused(make_cluster, redis_server):
    cluster = make_cluster()
    keeper = LeaseKeeper(cluster, worker_id="w", ttl=5, max_partitions=1)
    (lease,) = (await keeper.tick()).gained
    # Someone was granted a newer token for this partition (e.g. before a failover).
    await cluster.redis.hincrby(cluster.keys.fence, str(lease.partition), 1)
    with pytest.raises(LeaseLostError) as info:
        await cluster.commit(lease, state={"k": "v"}, events=[NewEvent("deploys", "e", 1)])
    assert info.value.reason == "outranked"
    assert await cluster.read_state(lease.partition) == {}
    assert await event_ids(cluster) == []


@pytest.mark.parametrize("taken_over", [True, False])
async def test_a_worker_frozen_past_its_ttl_wakes_and_cannot_publish(
    make_cluster, redis_server, child, taken_over
):
    ttl = 1.0
    proc = child("fenced", redis_server.url, str(ttl))
    _, partition, token = proc.line().split()
    cluster = make_cluster()
    sigstop(proc.pid)
    frozen = time.monotonic()
    await anyio.sleep(ttl + 0.3)
    if taken_over:
        thief = LeaseKeeper(cluster, worker_id="thief", ttl=5)
        await thief.tick()
        lease = thief.lease(int(partition))
        assert lease is not None
        assert lease.token > int(token)
    sigcont(proc.pid)
    assert time.monotonic() - frozen > ttl
    proc.tell("go")
    assert proc.line() == "local:expired remote:not-held"
    ids = await event_ids(cluster)
    assert ids == ["before"]  # nothing it tried after waking landed
    assert await cluster.read_state(int(partition)) == {}


async def test_a_worker_with_a_valid_lease_publishes_both_ways(redis_server, child, make_cluster):
    proc = child("fenced", redis_server.url, "30")
    proc.line()
    proc.tell("go")
    assert proc.line() == "local:published remote:published"
    assert await event_ids(make_cluster()) == ["before", "local", "remote"]


async def test_a_fencing_counter_gone_back_is_set_up_reported_and_outgrown(make_cluster, caplog):
    """Redis lost its latest writes (a failover, a restart from a snapshot): the lease this
    worker held is gone and the partition's counter is below its token. Its round sets the
    counter back up and says so; a token issued after is above every token before."""
    cluster = make_cluster()
    keeper = LeaseKeeper(cluster, worker_id="w", ttl=5, max_partitions=1)
    (lease,) = (await keeper.tick()).gained
    field = str(lease.partition)
    await cluster.redis.hset(cluster.keys.fence, field, lease.token - 40)
    await cluster.redis.delete(cluster.keys.lease(lease.partition))
    with caplog.at_level("WARNING", logger="bkjob_async.cluster"):
        result = await keeper.tick()
    assert result.behind == {lease.partition: 40}
    assert "went back (by 40)" in caplog.text
    assert int(await cluster.redis.hget(cluster.keys.fence, field)) >= lease.token
    (again,) = result.gained  # (the lapsed partition is taken again at once)
    assert again.partition == lease.partition
    assert again.token > lease.token
    # A counter that lost everything still issues tokens above those before (the clock).
    await cluster.redis.delete(cluster.keys.fence, cluster.keys.lease(lease.partition))
    await anyio.sleep(0.002)  # (a token is the clock in ms: the next ms)
    other = LeaseKeeper(make_cluster(), worker_id="x", ttl=5)
    taken = {t.partition: t.token for t in (await other.tick()).gained}
    assert taken[lease.partition] > again.token
