"""A Redis restarted empty (real redis-server, persistence off): noticed through the cluster
epoch, said loudly, and the workers carry on with fencing tokens still rising."""

from __future__ import annotations

import logging

from bkjob_async import Scope
from bkjob_async.cluster import LeaseKeeper


async def test_a_wiped_redis_is_noticed_said_loudly_and_survived(
    make_cluster, redis_server, caplog
):
    caplog.set_level(logging.WARNING, "bkjob_async.cluster")
    cluster = make_cluster()
    keeper = LeaseKeeper(cluster, worker_id="w1", ttl=5, max_partitions=4)
    first = await keeper.tick()
    assert not first.reset
    assert cluster.resets == 0
    before = {lease.partition: lease.token for lease in first.gained}
    epoch = cluster.epoch
    redis_server.restart_empty()
    result = await keeper.tick()
    assert result.reset
    assert cluster.resets == 1
    assert cluster.epoch != epoch
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "lost the data of cluster 'test'" in errors[0].getMessage()
    # It carries on with what it held: the same partitions, lost then regained with new
    # tokens, higher than any issued before the wipe (the counters restart from the clock).
    assert set(result.lost) == set(before)
    assert {lease.partition for lease in result.gained} == set(before)
    assert all(lease.token > before[lease.partition] for lease in result.gained)
    # And nothing more is said while the new epoch holds.
    assert not (await keeper.tick()).reset
    assert cluster.resets == 1


async def test_check_epoch_notices_a_wipe_without_a_lease_keeper(make_cluster, redis_server):
    cluster = make_cluster()
    await cluster.submit(Scope.biz(2), [1], watch="w")
    assert await cluster.check_epoch() is False
    redis_server.restart_empty()
    assert await cluster.check_epoch() is True
    assert await cluster.jobs("w") == set()  # the watch set went with it; said, not hidden
    await cluster.submit(Scope.biz(2), [1], watch="w")
    assert await cluster.jobs("w") == {(Scope.biz(2), 1)}


async def test_a_flushed_redis_counts_as_a_wipe(make_cluster):
    cluster = make_cluster()
    await cluster.check_epoch()
    await cluster.redis.flushall()
    assert await cluster.check_epoch() is True
