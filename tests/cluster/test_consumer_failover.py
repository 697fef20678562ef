"""Consumers ride out a Sentinel failover: ``watch --redis`` and a plain ``EventStream`` loop
(no ``try`` of its own) keep reading through it, each event once.

A real Sentinel deployment (``SentinelSet``: a primary, a replica, three sentinels) fails over
while a publisher appends an event every 20 ms under a lease, retrying through the outage: once
by SIGKILL of the primary (the consumers' connections break, then no primary until the
sentinels agree), once by ``SENTINEL FAILOVER`` (the old primary lives on as a replica and
answers writes with READONLY, "The previous master is now a slave").
"""

from __future__ import annotations

import io
import json
import logging
import time

import anyio
import pytest
import redis

from bkjob_async.cli import amain
from bkjob_async.cluster import ClusterError, LeaseKeeper
from bkjob_async.cluster._entries import encode_entry

from .test_cluster_events import made

#: Events the publisher appends: before, through and after the failover.
EVENTS = 200


def sentinel_command_failover(deployment):
    sentinel = redis.Redis(port=deployment.sentinel_ports[0])
    try:
        sentinel.execute_command("SENTINEL", "FAILOVER", deployment.SERVICE)
    finally:
        sentinel.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["kill", "sentinel-failover"])
async def test_consumers_ride_out_a_sentinel_failover_without_a_duplicate(
    make_cluster, sentinel_set, caplog, how
):
    caplog.set_level(logging.WARNING, "bkjob_async.cluster")
    cluster = make_cluster(url=sentinel_set.url, name="cli", partitions=128)
    keeper = LeaseKeeper(cluster, worker_id="pub", ttl=60, max_partitions=1)
    (lease,) = (await keeper.tick()).gained
    published: list[str] = []
    read: list[str] = []
    out, err, interrupt = io.StringIO(), io.StringIO(), anyio.Event()
    stream = make_cluster(url=sentinel_set.url, name="cli", partitions=128).events(
        "deploys", consumer="py", group="py", claim_idle=2.0, block=0.2
    )

    async def publish():
        for i in range(EVENTS):
            event = made(i)
            while True:
                try:
                    payload = encode_entry(event, None, {})
                    await cluster.publish(lease, "deploys", payload, event_id=event.event_id)
                    break
                except ClusterError:  # failing over: the same event again once it is done
                    await anyio.sleep(0.05)
            published.append(event.event_id)
            await anyio.sleep(0.02)

    async def consume():  # the how-to's consumer, as written there: no retry of its own
        async for event in stream:
            read.append(event.event_id)
            await stream.ack(event)
            if len(set(read)) == EVENTS:
                return

    async def watch():
        argv = ["watch", "--redis", sentinel_set.url, "--cluster", "cli", "--watch", "deploys"]
        status = await amain(argv, stdout=out, stderr=err, interrupt=interrupt, env={})
        assert status == 130, err.getvalue()  # ended by the interrupt only

    def shown() -> list[str]:
        return [json.loads(line)["event_id"] for line in out.getvalue().splitlines()]

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        tg.start_soon(publish)
        with anyio.fail_after(20):
            while len(published) < 50:
                await anyio.sleep(0.02)
        async with anyio.create_task_group() as readers:
            readers.start_soon(consume)
            with anyio.fail_after(20):
                while len(read) < 50:
                    await anyio.sleep(0.02)
            at = time.monotonic()
            if how == "kill":
                await anyio.to_thread.run_sync(sentinel_set.kill_primary)
            else:
                await anyio.to_thread.run_sync(sentinel_command_failover, sentinel_set)
            await anyio.to_thread.run_sync(sentinel_set.wait_failover)
            failover = time.monotonic() - at
        with anyio.fail_after(30):
            while len(published) < EVENTS or set(shown()) != set(published):
                await anyio.sleep(0.05)
        await anyio.sleep(0.5)  # a late duplicate would be shown now
        interrupt.set()
    # Every event published, once each, to both (the failover lost no write here: with
    # SENTINEL FAILOVER the replica is in sync first; with the kill, the replica was in sync).
    assert len(published) == EVENTS
    assert sorted(read) == sorted(set(read)) == sorted(published), "each event once"
    assert sorted(shown()) == sorted(set(shown())) == sorted(published), "each event once"
    said = [r.getMessage() for r in caplog.records]
    outages = [m for m in said if "retrying" in m and "consumer 'py'" in m]
    recovered = [m for m in said if "reading again" in m and "consumer 'py'" in m]
    assert len(outages) == len(recovered) == stream.outages
    print(f"\n{how}: failover {failover:.2f} s, python consumer outages {stream.outages}")
