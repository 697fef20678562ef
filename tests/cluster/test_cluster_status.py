"""``ClusterReader`` and ``bkjob-async cluster status|groups|dead-letters`` against a real
redis-server: what they report, and that looking writes nothing (no group joined, no ack)."""

from __future__ import annotations

import io
import json

import anyio

from bkjob_async import Scope
from bkjob_async.cli import amain
from bkjob_async.cluster import ClusterReader, LeaseKeeper, delete_group, replay_dead_letters

from .test_cluster_events import a_lease, made, publish, take

SCOPE = Scope.biz(2)


async def snapshot(cluster):
    """Return every key of the cluster with its type and what it holds (groups and pending of
    streams included): what a read-only look must leave exactly as it was."""
    r, found = cluster.redis, {}
    for key in sorted(await r.keys(cluster.keys.prefix + "*")):
        kind = await r.type(key)
        if kind == "stream":
            groups = await r.xinfo_groups(key)
            consumers = [await r.xinfo_consumers(key, g["name"]) for g in groups]
            found[key] = (await r.xlen(key), groups, [[c["name"] for c in cs] for cs in consumers])
        elif kind == "zset":
            found[key] = await r.zrange(key, 0, -1)
        elif kind == "set":
            found[key] = sorted(await r.smembers(key))
        elif kind == "hash":
            found[key] = await r.hgetall(key)
        else:
            found[key] = await r.get(key)
    return found


async def two_workers_and_a_lagging_group(make_cluster):
    """Two workers sharing the partitions, 5 jobs in watch ``deploys``, 10 events of which a
    group ``slow`` was given 4 and acknowledged 1; return the cluster and the keepers."""
    cluster = make_cluster()
    keepers = [LeaseKeeper(cluster, worker_id=f"w{i}", ttl=30) for i in range(2)]
    for _ in range(3):  # two rounds each to settle the fair share
        for keeper in keepers:
            await keeper.tick()
    await cluster.submit(SCOPE, range(1, 6), watch="deploys")
    lease = next(iter(keepers[0].leases().values()))
    await publish(cluster, lease, 10)
    stream = cluster.events("deploys", consumer="c1", group="slow", count=4, block=0.1)
    got = await take(stream, 4)
    await stream.ack(got[0])
    return cluster, keepers


async def test_status_reports_members_leases_watches_and_group_lag(make_cluster):
    cluster, _ = await two_workers_and_a_lagging_group(make_cluster)
    before = await snapshot(cluster)
    status = await ClusterReader(make_cluster()).status()
    assert await snapshot(cluster) == before  # read only: no group, consumer, ack or key
    assert status.exists
    assert status.partitions == 64
    assert [m.worker_id for m in status.members] == ["w0", "w1"]
    assert all(m.alive and 0 < m.heartbeat_ms <= 30_000 for m in status.members)
    assert sorted(p for m in status.members for p in m.partitions) == list(range(64))
    assert {len(m.partitions) for m in status.members} == {32}
    assert status.unheld == ()
    assert status.unheld_jobs == 0
    (watch,) = status.watches
    assert (watch.name, watch.jobs, watch.stream_length, watch.dead_letters) == (
        "deploys",
        5,
        10,
        0,
    )
    (group,) = watch.groups
    assert (group.name, group.consumers, group.pending, group.lag) == ("slow", 1, 3, 6)
    assert not group.lag_counted


async def test_status_says_which_jobs_nobody_polls(make_cluster):
    cluster, keepers = await two_workers_and_a_lagging_group(make_cluster)
    await keepers[1].release()  # w1 leaves: its partitions are free until w0's next round
    status = await ClusterReader(cluster).status()
    assert [m.worker_id for m in status.members] == ["w0"]
    assert len(status.unheld) == 32
    expected = sum(1 for job in range(1, 6) if cluster.partition(SCOPE, job) in set(status.unheld))
    assert status.unheld_jobs == expected
    await keepers[0].tick()
    assert (await ClusterReader(cluster).status()).unheld == ()


async def test_status_of_a_cluster_never_used_says_so(make_cluster):
    status = await ClusterReader(make_cluster(name="nobody")).status()
    assert (status.exists, status.members, status.watches, status.leases) == (False, (), (), {})


async def test_lag_is_counted_when_redis_cannot_say_it(make_cluster):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 10)
    stream = cluster.events("deploys", consumer="c1", group="g", count=3, block=0.1)
    await take(stream, 3)
    key = cluster.keys.events("deploys")
    entries = await cluster.redis.xrange(key)
    await cluster.redis.xdel(key, entries[5][0])  # a deleted entry past the group's position
    assert (await cluster.redis.xinfo_groups(key))[0]["lag"] is None  # Redis cannot say
    (group,) = await ClusterReader(cluster).groups("deploys")
    assert (group.lag, group.lag_counted) == (6, True)  # 10 - 3 given - 1 deleted


async def test_dead_letters_are_listed_by_group(make_cluster):
    cluster, one, first = await a_dead_letter(make_cluster)
    reader = ClusterReader(cluster)
    (dead,) = await reader.dead_letters("deploys")
    assert (dead.group, dead.event, dead.event_id, dead.deliveries) == ("g", one, one.event_id, 2)
    assert dead.stream_id == first.delivery(one).stream_id
    assert await reader.dead_letters("deploys", group="other") == ()
    assert (await reader.status()).watches[0].dead_letters == 1


async def cli(*argv, redis_server):
    out, err = io.StringIO(), io.StringIO()
    base = ["--redis", redis_server.url, "--cluster", "test"]
    status = await amain([*argv, *base], stdout=out, stderr=err, env={})
    return status, out.getvalue(), err.getvalue()


async def test_cli_status_json_finds_every_partition_held_and_each_groups_lag(
    make_cluster, redis_server
):
    cluster, _ = await two_workers_and_a_lagging_group(make_cluster)
    before = await snapshot(cluster)
    status, out, _ = await cli("cluster", "status", "--json", redis_server=redis_server)
    assert status == 0
    assert await snapshot(cluster) == before
    data = json.loads(out)
    assert all(data["leases"][str(p)] in ("w0", "w1") for p in range(64))
    assert data["unheld"] == []
    (watch,) = data["watches"]
    assert [(g["name"], g["lag"], g["pending"]) for g in watch["groups"]] == [("slow", 6, 3)]
    assert "@" not in data["url"] or "***" in data["url"]


async def test_cli_status_groups_and_dead_letters_for_people(make_cluster, redis_server):
    await two_workers_and_a_lagging_group(make_cluster)
    status, out, _ = await cli("cluster", "status", redis_server=redis_server)
    assert status == 0
    assert "64 partitions, 2 live workers, 0 partitions unheld, 0 jobs nobody polls" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("w")}
    assert (rows["w0"][1], rows["w0"][4], rows["w1"][1], rows["w1"][4]) == ("live", "32") * 2
    assert any(line.split()[:2] == ["deploys", "slow"] for line in out.splitlines())
    status, out, _ = await cli("cluster", "groups", "--watch", "deploys", redis_server=redis_server)
    assert status == 0
    (row,) = [line.split() for line in out.splitlines() if line.startswith("deploys")]
    assert row[:5] == ["deploys", "slow", "1", "3", "6"]
    status, out, _ = await cli(
        "cluster", "dead-letters", "--watch", "deploys", redis_server=redis_server
    )
    assert (status, out.strip()) == (0, "no dead letters in watch 'deploys'")


async def test_cli_dead_letters_json_and_a_missing_watch(make_cluster, redis_server):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 1)
    event = made(0)
    fields = {"id": event.event_id, "p": "{}", "part": 0, "tok": 1, "group": "g", "n": 3}
    await cluster.redis.xadd(cluster.keys.dead("deploys"), {**fields, "stream_id": "1-0"})
    status, out, _ = await cli(
        "cluster", "dead-letters", "--watch", "deploys", "--json", redis_server=redis_server
    )
    assert status == 0
    (dead,) = json.loads(out)["dead_letters"]
    assert (dead["group"], dead["deliveries"], dead["event"]) == ("g", 3, None)
    assert "cannot be read" in dead["error"]
    status, _, err = await cli("cluster", "dead-letters", redis_server=redis_server)
    assert status == 2
    assert "--watch" in err


async def test_status_reads_a_redis_cluster_too(make_cluster, redis_cluster):
    cluster = make_cluster(url=redis_cluster.url)
    keeper = LeaseKeeper(cluster, worker_id="w0", ttl=30)
    await keeper.tick()
    await cluster.submit(SCOPE, [1, 2], watch="deploys")
    await publish(cluster, next(iter(keeper.leases().values())), 3)
    status = await ClusterReader(cluster).status()
    assert status.unheld == ()
    assert [(w.name, w.jobs, w.stream_length) for w in status.watches] == [("deploys", 2, 3)]


async def a_dead_letter(make_cluster):
    """Publish 2 events; group ``g`` gives event 0 up (delivered twice, max 1): return the
    cluster, that event and the first consumer's stream."""
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 2)
    first = cluster.events("deploys", consumer="c1", group="g", block=0.1)
    one, two = await take(first, 2)
    await first.ack(two)
    heir = make_cluster().events(
        "deploys", consumer="c2", group="g", claim_idle=0.1, block=0.1, max_deliveries=1
    )
    with anyio.move_on_after(1.0):
        await heir.__anext__()  # claimed a second time: moved to the dead letters instead
    return cluster, one, first


async def test_a_replayed_dead_letter_is_given_to_the_group_again(make_cluster, redis_server):
    cluster, one, _ = await a_dead_letter(make_cluster)
    (dead,) = await ClusterReader(cluster).dead_letters("deploys")
    status, _, err = await cli(
        "cluster", "dead-letters", "--watch", "deploys", "--replay", redis_server=redis_server
    )
    assert status == 0
    assert "1 dead letter of watch 'deploys' replayed" in err
    assert await ClusterReader(cluster).dead_letters("deploys") == ()
    again = cluster.events("deploys", consumer="c3", group="g", block=0.1)
    (event,) = await take(again, 1)
    assert event == one
    assert await replay_dead_letters(cluster, "deploys", [dead.dead_id]) == 0  # done already


async def test_dead_letters_dropped_by_id_and_a_wrong_id_refused(make_cluster, redis_server):
    cluster, _, _ = await a_dead_letter(make_cluster)
    (dead,) = await ClusterReader(cluster).dead_letters("deploys")
    base = ("cluster", "dead-letters", "--watch", "deploys", "--drop")
    status, _, err = await cli(*base, "--id", "1-1", redis_server=redis_server)
    assert status == 2
    assert "no such dead letter in watch 'deploys': 1-1" in err
    status, _, err = await cli(*base, "--id", dead.dead_id, redis_server=redis_server)
    assert (status, await ClusterReader(cluster).dead_letters("deploys")) == (0, ())
    assert "1 dead letter of watch 'deploys' dropped" in err
    length = await cluster.redis.xlen(cluster.keys.events("deploys"))
    assert length == 2  # dropping appends nothing


async def test_a_group_is_deleted(make_cluster, redis_server):
    cluster, _, _ = await a_dead_letter(make_cluster)
    base = ("cluster", "groups", "--watch", "deploys", "--delete")
    status, _, err = await cli(*base, "g", redis_server=redis_server)
    assert (status, await ClusterReader(cluster).groups("deploys")) == (0, ())
    assert "group 'g' of watch 'deploys': deleted" in err
    status, _, err = await cli(*base, "g", redis_server=redis_server)
    assert status == 0
    assert "not found" in err
    assert not await delete_group(cluster, "nowhere", "g")
