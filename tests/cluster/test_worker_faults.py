"""Worker processes under faults, against a real redis-server and the simulator.

- Redis unreachable (frozen with SIGSTOP) past the leases: every worker drops its partitions
  (stops polling) instead of acting on leases that could have expired; when Redis is back they
  take them again and finish every job, chains unbroken.
- A worker frozen (SIGSTOP) past its lease publishes nothing with its old leases after SIGCONT.
- Redis restarted empty: the workers say so loudly and carry on with the jobs they hold.

The simulator's clock is virtual and driven by the test (``SimClock``): the jobs stand where
the test needs them when it freezes or wipes something, however slow the machine is.
"""

from __future__ import annotations

import signal
import time

import anyio
import pytest

from bkjob_async import Scope
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..sim_clock import sim_clock
from .chains import check_chains, stream_events
from .redis_server import sigcont, sigstop
from .workers import WorkerProc, holders

SCOPE = Scope.biz(2)


def virtual_sim(seed, host_duration):
    return BkJobSimulator(seed=seed, host_duration=host_duration, virtual_clock=True)


async def until(predicate, timeout):
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.05)


async def all_finished(cluster, ids):
    events = await stream_events(cluster, "deploys")
    return sum(p["type"] == "finished" for _, p in events) >= len(ids)


def jobs(sim, n):
    return [sim.create_job(SCOPE, [StepPlan(hosts=3), StepPlan(hosts=2)]) for _ in range(n)]


@pytest.mark.timeout(180)
async def test_redis_unreachable_stops_polling_then_resumes(make_cluster, redis_server):
    cluster = make_cluster()
    procs = []
    try:
        sim = virtual_sim(3, (2.0, 6.0))
        async with sim, sim_clock(sim, speed=4.0) as clock:
            ids = jobs(sim, 100)
            await cluster.submit(SCOPE, ids, watch="deploys")
            procs = [WorkerProc(sim, redis_server, f"w{i}") for i in range(2)]

            async def shared():
                return all(p.stats is not None and p.stats[0] >= 16 for p in procs)

            await until(shared, 30)
            await clock.advance_by(2.0)
            sigstop(redis_server.pid)
            try:
                frozen_at = len(procs[0].history), len(procs[1].history)

                async def dropped():  # Redis answers nothing: no partition, no polling
                    return all(
                        len(p.history) > n and p.stats[0] == 0
                        for p, n in zip(procs, frozen_at, strict=True)
                    )

                await until(dropped, 15)  # its leases (0.3 s) long past, however busy
                await anyio.sleep(1.0)
                dropped_then = [p.stats for p in procs]
            finally:
                sigcont(redis_server.pid)
            assert [s[0] for s in dropped_then] == [0, 0], dropped_then  # and it stays so
            assert not all(sim.job(i).status.is_finished for i in ids)
            clock.speed, clock.running = 8.0, True  # to the end, fast
            await until(lambda: all_finished(cluster, ids), 60)
            await anyio.sleep(1.0)
            events = await stream_events(cluster, "deploys")
            assert check_chains(events, sim, ids) == 100 * 5
            assert all(p.stats[0] > 0 for p in procs)
    finally:
        errors = [p.stop() for p in procs]
    for err in errors:
        assert "Traceback" not in err, err
        assert "lease round failed" in err


@pytest.mark.timeout(180)
async def test_a_worker_frozen_past_its_lease_does_not_publish_after_waking(
    make_cluster, redis_server
):
    cluster = make_cluster()
    procs = []
    try:
        sim = virtual_sim(4, (1.0, 4.0))
        async with sim, sim_clock(sim, speed=4.0) as clock:
            ids = jobs(sim, 100)
            await cluster.submit(SCOPE, ids, watch="deploys")
            procs = [WorkerProc(sim, redis_server, f"w{i}") for i in range(2)]

            async def shared():
                shares = list((await holders(cluster)).values())
                return shares.count("w0") >= 16 and shares.count("w1") >= 16

            await until(shared, 30)
            clock.speed = 1.0  # at real speed from here to the thaw
            await clock.advance_by(1.0)
            old = {
                p: int(v.rsplit(":", 1)[1])
                for p, v in enumerate(
                    await cluster.redis.mget([cluster.keys.lease(p) for p in range(64)])
                )
                if v is not None and v.startswith("w0:")
            }
            procs[0].signal(signal.SIGSTOP)
            stopped_ms = int(time.time() * 1000)
            await clock.advance_by(2.0)  # w1 takes the partitions over; hosts go on
            assert not all(sim.job(i).status.is_finished for i in ids)
            clock.speed, clock.running = 8.0, True  # to the end, fast
            procs[0].signal(signal.SIGCONT)
            await until(lambda: all_finished(cluster, ids), 60)
            await anyio.sleep(1.0)
            entries = await cluster.redis.xrange(cluster.keys.events("deploys"))
            late = [
                (sid, fields)
                for sid, fields in entries
                if int(sid.split("-")[0]) > stopped_ms + 1000
                and old.get(int(fields["part"])) == int(fields["tok"])
            ]
            assert late == []
            events = await stream_events(cluster, "deploys")
            assert check_chains(events, sim, ids) == 100 * 5
    finally:
        errors = [p.stop() for p in procs]
    for err in errors:
        assert "Traceback" not in err, err


@pytest.mark.timeout(180)
async def test_redis_restarted_empty_is_reported_loudly_and_work_goes_on(
    make_cluster, redis_server
):
    cluster = make_cluster()
    procs = []
    try:
        sim = virtual_sim(6, (3.0, 8.0))
        async with sim, sim_clock(sim, speed=4.0) as clock:
            ids = jobs(sim, 60)
            await cluster.submit(SCOPE, ids, watch="deploys")
            procs = [WorkerProc(sim, redis_server, f"w{i}") for i in range(2)]

            async def polling():
                return all(p.stats is not None and p.stats[1] > 0 for p in procs)

            await until(polling, 30)
            await clock.advance_by(4.0)
            running = [i for i in ids if not sim.job(i).status.is_finished]
            assert running
            redis_server.restart_empty()

            async def resubmitted():
                try:
                    return len(await cluster.jobs("deploys")) > 0
                except Exception:
                    return False

            await until(resubmitted, 30)
            clock.speed, clock.running = 8.0, True  # to the end, fast
            # Every job still running when Redis was wiped is watched again and finishes.
            await until(lambda: all_finished(cluster, running), 60)
            events = await stream_events(cluster, "deploys")
            done = {p["job"] for _, p in events if p["type"] == "finished"}
            assert set(running) <= done
    finally:
        errors = [p.stop() for p in procs]
    assert any("lost the data of cluster" in err for err in errors), errors
    assert any("resubmitted" in err for err in errors), errors
