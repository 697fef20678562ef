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
from .chains import check_chains, finished_jobs, stream_events
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
    return len(finished_jobs(events)) >= len(ids)


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
            done = set(finished_jobs(events))
            assert set(running) <= done
    finally:
        errors = [p.stop() for p in procs]
    assert any("lost the data of cluster" in err for err in errors), errors
    assert any("resubmitted" in err for err in errors), errors


@pytest.mark.timeout(180)
async def test_a_woken_zombie_polls_a_job_it_no_longer_holds_at_most_once(
    make_cluster, redis_server
):
    """Issue 25: a worker stopped past its lease and continued went on polling jobs whose
    partitions it had lost (21-146 polls) before it noticed. It stops at once: its own clock
    says the lease lapsed, so at most one poll per job (one already under way) goes out."""
    cluster = make_cluster()
    procs = []
    try:
        sim = virtual_sim(5, (600.0, 900.0))  # every job runs throughout: always due
        async with sim, sim_clock(sim, speed=1.0):
            ids = jobs(sim, 80)
            await cluster.submit(SCOPE, ids, watch="deploys")
            procs = [WorkerProc(sim, redis_server, f"w{i}") for i in range(2)]
            zombie = procs[0]

            async def shared():
                return all(p.stats is not None and p.stats[1] >= 20 for p in procs)

            await until(shared, 30)
            await anyio.sleep(1.0)  # a few polls of each job: the schedule is steady
            zombie.signal(signal.SIGSTOP)
            try:

                async def taken_over():
                    return set((await holders(cluster)).values()) == {"w1"}

                await until(taken_over, 30)
                await anyio.sleep(1.0)  # w1 polls them all now; each is due in the zombie
                before = dict(zombie.unheld)
                lines = len(zombie.history)
            finally:
                zombie.signal(signal.SIGCONT)

            async def back():  # it has noticed, rejoined, and worked on for a while
                return len(zombie.history) >= lines + 8 and zombie.stats[0] > 0

            await until(back, 60)
            after = dict(zombie.unheld)
        late = {job: n - before.get(job, 0) for job, n in after.items()}
        late = {job: n for job, n in late.items() if n}
        assert max(late.values(), default=0) <= 1, late
    finally:
        errors = [p.stop() for p in procs]
    for err in errors:
        assert "Traceback" not in err, err


async def stops_across_last_frames(make_cluster, redis_server, cycles):
    """Stop a worker for 1.2 s (and until the other took all its partitions over), ``cycles``
    times (each worker in turn), while jobs reach their last frame throughout; then check
    every stream and the watch set."""
    cluster = make_cluster()
    procs = []
    try:
        sim = virtual_sim(7, (0.3, 0.6))
        async with sim, sim_clock(sim, speed=1.0) as clock:
            ids = [
                sim.create_job(SCOPE, [StepPlan(hosts=2), StepPlan(hosts=2, duration=(d, d + 0.3))])
                for d in (0.5 + 2.2 * cycles * i / 60 for i in range(60))
            ]
            await cluster.submit(SCOPE, ids, watch="deploys")
            procs = [WorkerProc(sim, redis_server, f"w{i}") for i in range(2)]

            async def shared():
                return all(p.stats is not None and p.stats[1] >= 10 for p in procs)

            await until(shared, 30)
            clock.running = True  # jobs end from now on, spread over the cycles
            for cycle in range(cycles):
                await anyio.sleep(1.0)
                frozen, other = procs[cycle % 2], procs[1 - cycle % 2]
                frozen.signal(signal.SIGSTOP)
                stopped = time.monotonic()
                try:

                    async def taken_over(other=other):
                        return set((await holders(cluster)).values()) == {other.worker_id}

                    await until(taken_over, 30)  # past its lease (0.3 s), however busy
                    await anyio.sleep(max(0.0, 1.2 - (time.monotonic() - stopped)))
                finally:
                    frozen.signal(signal.SIGCONT)
            clock.speed = 8.0  # to the end, fast
            await until(lambda: all_finished(cluster, ids), 60)

            async def left():  # every end took its job out of the watch
                return not await cluster.jobs("deploys")

            await until(left, 30)
            events = await stream_events(cluster, "deploys")
            assert check_chains(events, sim, ids) == 60 * 4  # one JobFinished per job
    finally:
        errors = [p.stop() for p in procs]
    for err in errors:
        assert "Traceback" not in err, err


@pytest.mark.timeout(180)
async def test_a_stop_across_last_frames_still_ends_every_job_once(make_cluster, redis_server):
    """Issue 25: a worker stopped (SIGSTOP, about 1.2 s) while its jobs reached their last
    frame had its writes refused on waking, and 3-5 of 6 such jobs were never polled again
    (no JobFinished, the job in the set for ever). Every job still ends with exactly one
    JobFinished, chains unbroken, and leaves the watch."""
    await stops_across_last_frames(make_cluster, redis_server, cycles=2)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_many_stops_across_last_frames_still_end_every_job_once(make_cluster, redis_server):
    """The long form: eight stops, each worker in turn."""
    await stops_across_last_frames(make_cluster, redis_server, cycles=8)


@pytest.mark.timeout(180)
async def test_a_redis_restart_with_its_append_only_file_loses_no_job(make_cluster, redis_server):
    """Issue 25: when Redis restarted mid-run, about half the runs lost jobs. Killed and
    started again from its append-only file (``appendonly yes``) while jobs run and end,
    every job still ends with exactly one JobFinished, chains unbroken, and leaves the watch."""
    cluster = make_cluster()
    procs = []
    try:
        sim = virtual_sim(8, (0.5, 1.5))
        async with sim, sim_clock(sim, speed=2.0) as clock:
            ids = jobs(sim, 60)
            await cluster.submit(SCOPE, ids, watch="deploys")
            procs = [WorkerProc(sim, redis_server, f"w{i}") for i in range(2)]

            async def polling():
                return all(p.stats is not None and p.stats[1] >= 10 for p in procs)

            await until(polling, 30)
            clock.running = True
            await anyio.sleep(1.5)  # some jobs end, the rest run on
            assert not all(sim.job(i).status.is_finished for i in ids)
            redis_server.restart_keeping_data()
            clock.speed = 8.0  # to the end, fast
            await until(lambda: all_finished(cluster, ids), 60)

            async def left():
                return not await cluster.jobs("deploys")

            await until(left, 30)
            events = await stream_events(cluster, "deploys")
            assert check_chains(events, sim, ids) == 60 * 5
    finally:
        errors = [p.stop() for p in procs]
    for err in errors:
        assert "Traceback" not in err, err
        assert "lost the data" not in err, err  # its data came back: not a wiped Redis
