"""A worker's SIGTERM drain and its log lines, against a real redis-server: a SIGTERM'd worker
process releases its leases and says so, and another worker takes them at its next lease round,
long before they would have expired; each line has its UTC time and level (or is JSON), and a
takeover names the worker taken from."""

from __future__ import annotations

import json
import re
import signal
import time

import anyio

from bkjob_async import Scope
from bkjob_async.cluster import LeaseKeeper
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..child import Child
from .test_cluster_metrics import ENV, Running

SCOPE = Scope.biz(2)
TTL = 10.0
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR|DEBUG) \S+: ")


async def test_a_sigterm_drains_and_the_leases_are_taken_at_the_next_round(
    make_cluster, redis_server
):
    cluster = make_cluster(partitions=128)
    async with BkJobSimulator(seed=4, host_duration=(30, 60)) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=2)]) for _ in range(10)]
        await cluster.submit(SCOPE, ids, watch="deploys")
        argv = ["-m", "bkjob_async.cli", "worker", "--redis", redis_server.url]
        argv += ["--cluster", "test", "--url", sim.url, "--worker-id", "w1", "--interval", "1"]
        argv += ["--lease-ttl", str(TTL), "--report-every", "60"]
        with Child(argv, env=ENV) as worker:

            async def held() -> int:
                holders = await cluster.holders(range(128))
                return sum(1 for h in holders.leases.values() if h == "w1")

            with anyio.fail_after(30):
                while await held() < 128:
                    assert worker.alive, "\n".join(worker.err)
                    await anyio.sleep(0.1)
            await anyio.sleep(0.5)  # its jobs are being polled
            sent = time.monotonic()
            worker.signal(signal.SIGTERM)
            assert await anyio.to_thread.run_sync(worker.wait) == 0
            stopped = time.monotonic() - sent
            err = list(worker.err)
        # One lease round of another worker takes every partition, from w1.
        result = await LeaseKeeper(cluster, worker_id="w2", ttl=TTL).tick()
        taken = time.monotonic() - sent
    assert len(result.gained) == 128
    assert set(result.taken_from.values()) == {"w1"}
    assert taken < TTL / 2, (stopped, taken)  # by expiry it would have been >= TTL
    print(f"\nSIGTERM to exit {stopped:.2f} s, to all 128 partitions taken {taken:.2f} s")
    assert all(LINE.match(line) for line in err), err
    said = "\n".join(err)
    assert "INFO bkjob_async.cli.worker: worker w1 joined cluster 'test'" in said
    assert "worker w1: draining: taking no more partitions" in said
    assert "worker w1 left cluster 'test': released 128 partitions" in said
    assert "Traceback" not in said


async def test_json_logs_and_a_takeover_line_naming_the_worker(make_cluster, redis_server):
    cluster = make_cluster(partitions=128)
    async with BkJobSimulator(seed=4) as sim, anyio.create_task_group() as tg:
        base = ["worker", "--redis", redis_server.url, "--cluster", "test", "--url", sim.url]
        base += ["--interval", "1", "--lease-ttl", "0.9", "--log-format", "json"]
        w1 = Running(tg, [*base, "--worker-id", "w1"], ENV)
        with anyio.fail_after(20):
            while "joined" not in w1.err.getvalue():
                await anyio.sleep(0.05)
        w2 = Running(tg, [*base, "--worker-id", "w2", "--log-level", "info"], ENV)

        async def shares() -> list[int]:
            holders = (await cluster.holders(range(128))).leases.values()
            return [sum(1 for h in holders if h == w) for w in ("w1", "w2")]

        with anyio.fail_after(20):
            while await shares() != [64, 64]:
                await anyio.sleep(0.1)
        await w1.stop()
        with anyio.fail_after(20):
            while await shares() != [0, 128]:
                await anyio.sleep(0.1)
        await anyio.sleep(0.3)
        await w2.stop()
    records = [json.loads(line) for line in w2.err.getvalue().splitlines()]
    assert all(set(r) == {"time", "level", "logger", "message"} for r in records)
    messages = [r["message"] for r in records if r["level"] == "INFO"]
    # 64 each on a machine with a core to spare; at a load of 8 on two cores these 0.9 s leases
    # lapse and move between the two before w1 leaves, and the counts with them.
    assert any(
        re.fullmatch(r"worker w2: took over \d+ partition\(s\) from w1 \(no longer live\): .+", m)
        for m in messages
    ), messages
    assert any(
        re.fullmatch(r"worker w2: was handed \d+ partition\(s\) from w1: .+", m) for m in messages
    ), messages
