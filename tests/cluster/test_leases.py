"""Partition leases against a real redis-server: fair share, takeover of dead and stalled
workers, and an unreachable Redis (workers stop acting before their leases could expire)."""

from __future__ import annotations

import logging
import time

import anyio
import pytest

from bkjob_async.cluster import LeaseKeeper, LeaseLostError, NewEvent

from .redis_server import sigcont, sigstop


def owners(server, cluster) -> dict[int, str]:
    """Return partition -> worker as Redis has it (read straight from the server)."""
    found = {}
    for p in range(cluster.partitions):
        reply = server.command("GET", cluster.keys.lease(p))
        if not reply.startswith(b"$-1"):
            found[p] = reply.split(b"\r\n")[1].decode().rsplit(":", 1)[0]
    return found


async def rounds(keepers, n):
    for _ in range(n):
        for keeper in keepers:
            await keeper.tick()


async def wait_for(predicate, timeout, step=0.02):
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(step)
    return time.monotonic()


def test_bad_lease_settings_raise():
    from bkjob_async.cluster import Cluster

    cluster = Cluster("redis://127.0.0.1:1/0", partitions=64)
    with pytest.raises(ValueError, match="ttl"):
        LeaseKeeper(cluster, ttl=0)
    with pytest.raises(ValueError, match="margin"):
        LeaseKeeper(cluster, ttl=1, margin=1)
    with pytest.raises(ValueError, match="worker_id"):
        LeaseKeeper(cluster, worker_id="a:b")
    with pytest.raises(ValueError, match="max_partitions"):
        LeaseKeeper(cluster, max_partitions=-1)


async def test_three_workers_split_the_partitions_fairly(make_cluster, redis_server):
    keepers = [LeaseKeeper(make_cluster(), worker_id=f"w{i}", ttl=5) for i in range(3)]
    await rounds(keepers, 4)
    held = [set(k.leases()) for k in keepers]
    assert sorted(len(h) for h in held) == [21, 21, 22]  # floor or ceil of 64 / 3
    assert set().union(*held) == set(range(64))
    assert sum(len(h) for h in held) == 64  # with the union above: no partition twice
    truth = owners(redis_server, keepers[0].cluster)
    for keeper, parts in zip(keepers, held, strict=True):
        assert {p for p, w in truth.items() if w == keeper.worker_id} == parts
    assert all(k.live_workers == 3 for k in keepers)


async def test_a_joining_worker_gets_its_share_and_tokens_grow(make_cluster):
    first = LeaseKeeper(make_cluster(), worker_id="first", ttl=5)
    result = await first.tick()
    assert len(result.gained) == 64
    before = {lease.partition: lease.token for lease in result.gained}
    second = LeaseKeeper(make_cluster(), worker_id="second", ttl=5)
    await rounds([second, first, second], 1)
    assert len(first.leases()) == 32
    assert len(second.leases()) == 32
    for p, lease in second.leases().items():
        assert lease.token > before[p]  # every acquisition raises the fencing token


async def test_max_partitions_caps_a_worker(make_cluster):
    keeper = LeaseKeeper(make_cluster(), worker_id="small", ttl=5, max_partitions=3)
    await keeper.tick()
    assert len(keeper.leases()) == 3


async def test_leaving_releases_at_once(make_cluster):
    other = LeaseKeeper(make_cluster(), worker_id="other", ttl=5)
    async with LeaseKeeper(make_cluster(), worker_id="leaver", ttl=30) as leaver:
        await rounds([leaver, other], 2)
        assert len(leaver.leases()) == 32
    await other.tick()  # the leaver's leases are free now, not in 30 s
    assert len(other.leases()) == 64
    assert other.live_workers == 1


async def test_a_killed_workers_partitions_are_taken_over_within_the_ttl(
    make_cluster, redis_server, child
):
    ttl = 1.0
    proc = child("hold", redis_server.url, "doomed", str(ttl))
    while not proc.line().startswith("held 0"):  # it started and holds everything
        pass
    keeper = LeaseKeeper(make_cluster(), worker_id="survivor", ttl=ttl)
    async with anyio.create_task_group() as tg:
        await tg.start(keeper.run)
        await wait_for(lambda: len(keeper.leases()) == 32, 5)
        doomed = set(owners(redis_server, keeper.cluster)) - set(keeper.leases())
        assert len(doomed) == 32
        proc.kill()  # SIGKILL: no release
        killed = time.monotonic()
        took = await wait_for(lambda: len(keeper.leases()) == 64, 5) - killed
        tg.cancel_scope.cancel()
    # Expiry (ttl) plus at most one round (ttl / 3), plus slack for a loaded machine.
    assert took < ttl + ttl / 3 + 1.0, took


async def test_a_stalled_worker_is_taken_over_and_converges_after_waking(
    make_cluster, redis_server, child
):
    ttl = 1.0
    proc = child("hold", redis_server.url, "stalled", str(ttl))
    while not proc.line().startswith("held 0"):
        pass
    keeper = LeaseKeeper(make_cluster(), worker_id="awake", ttl=ttl)
    async with anyio.create_task_group() as tg:
        await tg.start(keeper.run)
        await wait_for(lambda: len(keeper.leases()) == 32, 5)
        sigstop(proc.pid)
        stopped = time.monotonic()
        took = await wait_for(lambda: len(keeper.leases()) == 64, 5) - stopped
        assert took < ttl + ttl / 3 + 1.0, took
        sigcont(proc.pid)
        # Awake again, it loses what it held, then the two converge to 32 each.
        await wait_for(
            lambda: list(owners(redis_server, keeper.cluster).values()).count("stalled") == 32,
            5,
            step=0.1,
        )
        await wait_for(lambda: len(keeper.leases()) == 32, 5)
        truth = owners(redis_server, keeper.cluster)
        tg.cancel_scope.cancel()
    assert {p for p, w in truth.items() if w == "awake"} == set(keeper.leases())


@pytest.mark.parametrize("outage", ["frozen", "down"])
async def test_with_redis_unreachable_a_worker_stops_before_its_leases_could_expire(
    make_cluster, redis_server, caplog, outage
):
    # frozen: Redis takes connections and never answers (timeouts), then thaws with its data;
    # down: connections are refused, then Redis comes back empty.
    caplog.set_level(logging.WARNING, "bkjob_async.cluster")
    ttl = 1.5
    cluster = make_cluster(timeout=0.3)
    keeper = LeaseKeeper(cluster, worker_id="cut-off", ttl=ttl, max_partitions=4)
    replies: list[tuple[float, dict]] = []
    async with anyio.create_task_group() as tg:
        await tg.start(keeper.run, lambda r: replies.append((time.monotonic(), dict(r.held))))
        assert len(keeper.leases()) == 4
        lease = keeper.lease(min(keeper.leases()))
        if outage == "frozen":
            sigstop(redis_server.pid)
        else:
            redis_server.stop()
        try:
            await wait_for(lambda: not keeper.leases(), 5)
            # The last round that succeeded was sent before its answer came at last_ok, so
            # Redis keeps those keys until at least last_ok + ttl. Every deadline the worker
            # acts on ends before that, by the margin: no split brain.
            last_ok, held = replies[-1]
            assert len(held) == 4
            assert all(h.deadline <= last_ok + ttl - keeper.margin for h in held.values())
            assert time.monotonic() >= max(h.deadline for h in held.values())
            # And it refuses to write without asking Redis (which would take its timeout).
            began = time.monotonic()
            with pytest.raises(LeaseLostError) as info:
                await cluster.commit(lease, events=[NewEvent("w", "e", 1)])
            assert info.value.reason == "expired"
            assert time.monotonic() - began < 0.2  # less than the Redis timeout (0.3 s)
        finally:
            if outage == "frozen":
                sigcont(redis_server.pid)
            else:
                redis_server.start()
        # Back: it retries with backoff and holds leases again.
        await wait_for(lambda: len(keeper.leases()) == 4, 5)
        tg.cancel_scope.cancel()
    messages = [r.getMessage() for r in caplog.records]
    assert any("lease round failed" in m for m in messages)
    assert any("succeed again" in m for m in messages)


async def test_no_worker_is_left_idle_when_the_share_does_not_divide(make_cluster):
    keepers = [LeaseKeeper(make_cluster(), worker_id=f"w{i}", ttl=5) for i in range(10)]
    await rounds(keepers, 4)
    assert sorted(len(k.leases()) for k in keepers) == [6] * 6 + [7] * 4  # 64 = 6 x 6 + 4 x 7


async def test_capped_workers_leave_the_rest_to_the_others(make_cluster):
    capped = LeaseKeeper(make_cluster(), worker_id="capped", ttl=5, max_partitions=3)
    others = [LeaseKeeper(make_cluster(), worker_id=f"w{i}", ttl=5) for i in range(2)]
    await rounds([capped, *others], 4)
    assert len(capped.leases()) == 3
    assert sorted(len(k.leases()) for k in others) == [30, 31]


async def test_a_redis_refusing_writes_is_waited_out_not_fatal(make_cluster, redis_server, caplog):
    caplog.set_level(logging.WARNING, "bkjob_async.cluster")
    ttl = 1.0
    keeper = LeaseKeeper(make_cluster(), worker_id="w", ttl=ttl, max_partitions=2)
    async with anyio.create_task_group() as tg:
        await tg.start(keeper.run)
        assert len(keeper.leases()) == 2
        redis_server.command("CONFIG", "SET", "maxmemory", "1")  # every write is now refused
        try:
            await wait_for(lambda: not keeper.leases(), 5)
        finally:
            redis_server.command("CONFIG", "SET", "maxmemory", "0")
        await wait_for(lambda: len(keeper.leases()) == 2, 5)
        tg.cancel_scope.cancel()
    assert any("maxmemory" in r.getMessage() for r in caplog.records)


async def test_each_round_reports_the_versions_of_the_partitions_held(make_cluster):
    from bkjob_async import Scope

    cluster = make_cluster()
    keeper = LeaseKeeper(cluster, worker_id="w", ttl=5)
    first = await keeper.tick()
    assert first.versions == dict.fromkeys(range(64), 0)
    await cluster.submit(Scope.biz(2), [1, 2], watch="w")
    changed = {cluster.partition(Scope.biz(2), 1), cluster.partition(Scope.biz(2), 2)}
    second = await keeper.tick()
    assert {p for p, v in second.versions.items() if v} == changed
    stored = await cluster.redis.hgetall(cluster.keys.partver)
    assert second.versions == {p: int(stored.get(str(p), 0)) for p in range(64)}


@pytest.mark.parametrize("seed", [3, 8, 14])
async def test_the_share_stays_fair_through_joins_and_leaves(make_cluster, seed):
    import random

    rng = random.Random(seed)
    live: list[LeaseKeeper] = []
    serial = 0
    for _ in range(25):
        if len(live) < 2 or (len(live) < 9 and rng.random() < 0.6):
            serial += 1
            cap = 5 if rng.random() < 0.2 else None
            live.append(
                LeaseKeeper(make_cluster(), worker_id=f"w{serial}", ttl=30, max_partitions=cap)
            )
        else:
            await live.pop(rng.randrange(len(live))).release()
        await rounds(live, 3)
        held = [set(k.leases()) for k in live]
        assert sum(len(h) for h in held) == len(set().union(*held))  # none held twice
        capped = [k for k in live if k.max_partitions is not None]
        free = [len(k.leases()) for k in live if k.max_partitions is None]
        assert all(len(k.leases()) == k.max_partitions for k in capped)
        if free:  # with an uncapped worker, every partition is held, evenly
            assert set().union(*held) == set(range(64))
            assert max(free) - min(free) <= 1, free


async def test_holders_names_the_live_workers_and_who_holds_each_partition(make_cluster):
    """``Cluster.holders``: what ``watch --redis`` shows, read in one round trip, changing
    nothing."""
    cluster = make_cluster()
    keeper = LeaseKeeper(make_cluster(), worker_id="a", ttl=30, max_partitions=2)
    await keeper.tick()
    held = sorted(keeper.leases())
    free = next(p for p in range(cluster.partitions) if p not in held)
    keys = sorted(await cluster.redis.keys("*"))
    holders = await cluster.holders([*held, free])
    assert holders.live == {"a"}
    assert holders.leases == {held[0]: "a", held[1]: "a", free: None}
    assert sorted(await cluster.redis.keys("*")) == keys
    await keeper.release()
    assert (await cluster.holders(held)).leases == dict.fromkeys(held)
