"""Event streams through consumer groups, against a real redis-server: fan-out per group,
one consumer per event within a group, claiming after a consumer dies, redelivery."""

from __future__ import annotations

import datetime as dt
import json

import anyio
import pytest

from bkjob_async import JobStatus
from bkjob_async.cluster import ClusterUnavailableError, LeaseKeeper, StreamFormatError
from bkjob_async.cluster._entries import encode_entry
from bkjob_async.polling.events import JobTransition

from .redis_server import sigcont, sigstop

AT = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
#: Each prefix numbers the jobs of its events from its own base.
BASES = {"e": 1, "late": 1001, "after-outage": 2001, "after-wipe": 3001}


async def pending(stream):
    """How many events of the stream's group are delivered and not acknowledged (Redis)."""
    info = await stream.cluster.redis.xpending(stream.key, stream.group)
    return int(info["pending"])


def made(i, prefix="e"):
    """Return event ``i`` of a test: job ``BASES[prefix] + i`` started running."""
    return JobTransition(BASES[prefix] + i, AT, None, JobStatus.RUNNING)


def ids(n, prefix="e"):
    return [made(i, prefix).event_id for i in range(n)]


async def a_lease(cluster, worker="pub"):
    keeper = LeaseKeeper(cluster, worker_id=worker, ttl=30, max_partitions=1)
    (lease,) = (await keeper.tick()).gained
    return lease


async def publish(cluster, lease, n, *, watch="deploys", prefix="e"):
    for i in range(n):
        event = made(i, prefix)
        await cluster.publish(lease, watch, encode_entry(event, None, {}), event_id=event.event_id)


async def take(stream, n, timeout=5.0):
    got = []
    with anyio.fail_after(timeout):
        while len(got) < n:
            got.append(await stream.__anext__())
    return got


async def test_every_group_sees_every_event(make_cluster):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    a = cluster.events("deploys", consumer="c1", group="audit", block=0.1)
    b = cluster.events("deploys", consumer="c1", group="alerts", block=0.1)
    await publish(cluster, lease, 5)
    for stream in (a, b):
        events = await take(stream, 5)
        assert events == [made(i) for i in range(5)]  # typed, as the worker's engine saw them
        deliveries = [stream.delivery(e) for e in events]
        assert all(d.token == lease.token and d.partition == lease.partition for d in deliveries)
        assert not any(d.redelivered for d in deliveries)


async def test_within_a_group_each_event_goes_to_one_consumer(make_cluster):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    one = make_cluster().events("deploys", consumer="c1", count=3, block=0.1)
    two = make_cluster().events("deploys", consumer="c2", count=3, block=0.1)
    await publish(cluster, lease, 12)
    seen: dict[str, list[str]] = {"c1": [], "c2": []}
    with anyio.fail_after(5):
        while len(seen["c1"]) + len(seen["c2"]) < 12:
            for stream in (one, two):
                with anyio.move_on_after(0.3):
                    event = await stream.__anext__()
                    seen[stream.consumer].append(event.event_id)
                    await stream.ack(event)
    assert seen["c1"]
    assert seen["c2"]
    assert not set(seen["c1"]) & set(seen["c2"])
    assert sorted(seen["c1"] + seen["c2"]) == sorted(ids(12))


async def test_a_dead_consumers_events_are_claimed_by_another(make_cluster):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 6)
    doomed = make_cluster().events("deploys", consumer="doomed", block=0.1)
    read = await take(doomed, 6)
    await doomed.ack(read[0])  # one acknowledged, five left pending; then it dies
    await doomed.cluster.aclose()
    heir = make_cluster().events("deploys", consumer="heir", claim_idle=1.0, block=0.1)
    # Before claim_idle the pending events stay with the dead consumer.
    with anyio.move_on_after(0.2):
        await heir.__anext__()
        pytest.fail("claimed before claim_idle")
    claimed = await take(heir, 5, timeout=3)
    assert claimed == read[1:]
    assert [heir.delivery(e).stream_id for e in claimed] == [
        doomed.delivery(e).stream_id for e in read[1:]
    ]
    assert all(heir.delivery(e).redelivered for e in claimed)
    for event in claimed:
        assert await heir.ack(event)
    assert await pending(heir) == 0
    # Acknowledged events never come back, even after another claim_idle.
    await anyio.sleep(1.1)
    with anyio.move_on_after(0.5):
        extra = await heir.__anext__()
        pytest.fail(f"redelivered an acknowledged event: {extra}")


async def test_a_killed_consumer_process_loses_its_events_to_another(
    make_cluster, redis_server, child
):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 4)
    proc = child("consume", redis_server.url, "3")
    assert proc.line() == "read " + ",".join(ids(3))
    proc.kill()  # SIGKILL, nothing acknowledged
    heir = cluster.events("deploys", consumer="heir", claim_idle=0.3, block=0.1)
    events = await take(heir, 4)
    # The fourth was read ahead (one XREADGROUP fetches up to ``count``), so it was pending for
    # the dead consumer too: all four come claimed, in stream order.
    assert [(e.event_id, heir.delivery(e).redelivered) for e in events] == [
        (i, True) for i in ids(4)
    ]
    for event in events:
        await heir.ack(event)
    assert await pending(heir) == 0


async def test_a_consumer_restarting_under_its_name_gets_its_pending_events_first(make_cluster):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 3)
    first = make_cluster().events("deploys", consumer="c1", block=0.1)
    await take(first, 3)
    await publish(cluster, lease, 2, prefix="late")
    again = make_cluster().events("deploys", consumer="c1", block=0.1)
    events = await take(again, 5)
    assert [(e.event_id, again.delivery(e).redelivered) for e in events] == [
        *((i, True) for i in ids(3)),
        *((i, False) for i in ids(2, "late")),
    ]


async def test_many_events_are_acknowledged_in_one_call(make_cluster):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 5)
    stream = cluster.events("deploys", consumer="c1", block=0.1)
    events = await take(stream, 5)
    assert await stream.ack(*events[:3]) == 3
    assert await pending(stream) == 2
    assert await stream.ack(*events) == 2
    assert await pending(stream) == 0


async def test_a_group_made_later_starts_from_the_oldest_event_kept(make_cluster):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 4)
    late = cluster.events("deploys", consumer="c1", group="late", block=0.1)
    assert [e.event_id for e in await take(late, 4)] == ids(4)


async def test_ack_reports_whether_the_event_was_pending(make_cluster):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 1)
    stream = cluster.events("deploys", consumer="c1", block=0.1)
    (event,) = await take(stream, 1)
    assert await stream.ack(event) == 1
    assert await stream.ack(event) == 0
    other = cluster.events("other", consumer="c1", block=0.1)
    with pytest.raises(ValueError, match="not handed out"):
        await other.ack(event)


async def test_reading_survives_an_outage_and_a_wiped_redis(make_cluster, redis_server):
    cluster = make_cluster(timeout=0.5)
    lease = await a_lease(cluster)
    await publish(cluster, lease, 1)
    stream = cluster.events("deploys", consumer="c1", block=0.2, retry=False)
    (event,) = await take(stream, 1)
    await stream.ack(event)
    sigstop(redis_server.pid)
    try:
        with anyio.fail_after(5), pytest.raises(ClusterUnavailableError):
            await stream.__anext__()
    finally:
        sigcont(redis_server.pid)
    await publish(cluster, lease, 1, prefix="after-outage")
    assert [e.event_id for e in await take(stream, 1)] == ids(1, "after-outage")
    # Restarted empty: the stream and its group are gone; they are made again on the next read.
    redis_server.restart_empty()
    with anyio.move_on_after(0.5):
        await stream.__anext__()
    fresh = await a_lease(cluster, worker="pub2")
    await publish(cluster, fresh, 1, prefix="after-wipe")
    assert [e.event_id for e in await take(stream, 1)] == ids(1, "after-wipe")


async def test_streams_are_trimmed_to_about_maxlen(make_cluster):
    cluster = make_cluster(stream_maxlen=100)
    lease = await a_lease(cluster)
    await publish(cluster, lease, 1000)
    length = await cluster.redis.xlen(cluster.keys.events("deploys"))
    assert 100 <= length < 300  # MAXLEN ~ trims whole nodes of 100 entries


async def test_an_event_delivered_too_often_goes_to_the_dead_letters(make_cluster, caplog):
    cluster = make_cluster()
    lease = await a_lease(cluster)
    await publish(cluster, lease, 2)
    first = make_cluster().events("deploys", consumer="c1", block=0.1)
    one, two = await take(first, 2)  # delivery 1 of each
    await first.ack(two)
    heirs = [
        make_cluster().events(
            "deploys", consumer=f"h{i}", claim_idle=0.2, block=0.1, max_deliveries=2
        )
        for i in range(2)
    ]
    (again,) = await take(heirs[0], 1)  # claimed: delivery 2, still allowed
    assert again == one
    assert heirs[0].delivery(again).redelivered
    # Claimed once more (delivery 3 > 2): moved aside, not delivered, and said loudly. (Read
    # until the dead letter is there, not for a fixed second: on a loaded machine, or a Redis
    # Cluster's first read of its slot map, the claim comes later.)

    async def reads_nothing() -> None:
        extra = await heirs[1].__anext__()
        pytest.fail(f"delivered past max_deliveries: {extra}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(reads_nothing)
        with anyio.fail_after(30):
            while not await heirs[0].dead_letters():
                await anyio.sleep(0.05)
        await anyio.sleep(0.3)  # (a claim_idle more: still nothing delivered)
        tg.cancel_scope.cancel()
    dead = await heirs[1].dead_letters()
    assert [(d.event, d.stream_id) for d in dead] == [(one, first.delivery(one).stream_id)]
    assert await pending(heirs[1]) == 0
    assert any("dead" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    other_group = cluster.events("deploys", consumer="c1", group="other", block=0.1)
    assert await other_group.dead_letters() == []


async def test_an_entry_of_the_old_format_is_refused_by_name_never_misread(make_cluster):
    """An entry written by a bkjob-async before the one codec (a dict with "type", no format)
    raises ``StreamFormatError`` naming the watch, the stream and the entry; it stays pending
    until skipped, and the events after it are read as usual."""
    cluster = make_cluster()
    lease = await a_lease(cluster)
    key = cluster.keys.events("deploys")
    old = {"type": "host", "job": 7, "step": 1, "ec": 0, "host": "5", "prev": 5, "cur": 9, "n": 0}
    fields = {"id": "7/old", "p": json.dumps(old), "part": lease.partition, "tok": lease.token}
    bad = await cluster.redis.xadd(key, fields)
    await publish(cluster, lease, 2)
    stream = cluster.events("deploys", consumer="c1", block=0.1)
    with anyio.fail_after(5), pytest.raises(StreamFormatError) as info:
        await stream.__anext__()
    error = info.value
    assert (error.watch, error.stream_id) == ("deploys", bad)
    assert key in str(error)
    assert bad in str(error)
    assert "older bkjob-async" in str(error)
    assert await take(stream, 2) == [made(0), made(1)]
    assert await pending(stream) == 3  # the bad entry too, until skipped
    assert await stream.skip(error) == 1
    await stream.ack(made(0), made(1))
    assert await pending(stream) == 0
    # An entry whose data does not make the event_id it claims is refused too.
    forged = {**fields, "id": "someone-else", "p": json.dumps(encode_entry(made(5), None, {}))}
    await cluster.redis.xadd(key, forged)
    with anyio.fail_after(5), pytest.raises(StreamFormatError, match="event_id"):
        await stream.__anext__()


async def test_a_group_near_stream_maxlen_is_warned_once_and_told_when_back(make_cluster, caplog):
    cluster = make_cluster(stream_maxlen=1000)
    lease = await a_lease(cluster)
    await publish(cluster, lease, 900)
    now = [0.0]
    reader = make_cluster(stream_maxlen=1000, clock=lambda: now[0])
    stream = reader.events("deploys", consumer="c1", count=50, block=0.1)
    await take(stream, 1)  # the first new read looks first: 900 events, none given yet
    assert stream.lag == 900
    warned = [r.getMessage() for r in caplog.records if "stream_maxlen" in r.getMessage()]
    assert len(warned) == 1
    assert "900 events behind, near the 1000 its stream keeps" in warned[0]
    await take(stream, 99)  # no new look within 30 s
    assert len([r for r in caplog.records if "stream_maxlen" in r.getMessage()]) == 1
    for event in await take(stream, 800):
        await stream.ack(event)
    now[0] += 31  # the next read looks again: only the new one behind
    await publish(cluster, lease, 1, prefix="late")
    await take(stream, 1)
    assert stream.lag == 1
    said = [r.getMessage() for r in caplog.records if "stream_maxlen" in r.getMessage()]
    assert len(said) == 2
    assert "1 events behind, under 80% of stream_maxlen again" in said[1]
