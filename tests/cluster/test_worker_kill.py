"""Three worker processes against a real redis-server and the simulator; one is SIGKILLed.

Its partitions are leased again by the others within two poll intervals of the kill, and
after dedupe by ``event_id`` every host's chain of transitions is unbroken and ends in its
true final status, with exactly one ``JobFinished`` per job.

The simulator's clock is virtual and driven by the test (``SimClock``): the kill lands while
hosts run however slow the machine is. ``make test`` runs 100 jobs; the soak (300 jobs, the
clock at real speed) is marked ``slow``.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import anyio
import pytest

from bkjob_async import Scope
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..sim_clock import sim_clock
from .chains import check_chains, finished_jobs, stream_events
from .workers import INTERVAL, WorkerProc, holders

SCOPE = Scope.biz(2)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("jobs", "speed"),
    [
        pytest.param(100, 4.0, id="short"),
        pytest.param(300, 1.0, id="soak", marks=pytest.mark.slow),
    ],
)
async def test_a_killed_workers_jobs_are_taken_over_with_no_transition_lost(
    make_cluster, redis_server, jobs, speed
):
    cluster = make_cluster()
    procs = []
    try:
        sim = BkJobSimulator(seed=7, host_duration=(1.0, 6.0), virtual_clock=True)
        async with sim, sim_clock(sim, speed) as clock:
            ids = [
                sim.create_job(SCOPE, [StepPlan(hosts=3), StepPlan(hosts=2)]) for _ in range(jobs)
            ]
            await cluster.submit(SCOPE, ids, watch="deploys")
            procs = [WorkerProc(sim, redis_server, f"w{i}") for i in range(3)]
            with anyio.fail_after(30):
                while True:
                    shares = Counter((await holders(cluster)).values())
                    if all(shares[f"w{i}"] >= 20 for i in range(3)):
                        break
                    await anyio.sleep(0.05)
            await clock.advance_by(2.5)  # mid-run: hosts are running
            assert sum(not sim.job(i).status.is_finished for i in ids) >= jobs // 2
            clock.speed, clock.running = 2 * speed, True  # to the end, faster
            doomed = {p for p, h in (await holders(cluster)).items() if h == "w0"}
            assert doomed
            procs[0].signal(signal.SIGKILL)
            killed_at = time.monotonic()
            with anyio.fail_after(10):
                while True:
                    now = await holders(cluster)
                    if all(now.get(p) in ("w1", "w2") for p in doomed):
                        break
                    await anyio.sleep(0.02)
            takeover = time.monotonic() - killed_at
            assert takeover <= 2 * INTERVAL, takeover

            async def finished():
                events = await stream_events(cluster, "deploys")
                return len(finished_jobs(events))

            with anyio.fail_after(60):
                while await finished() < len(ids):
                    await anyio.sleep(0.2)
            await anyio.sleep(1.0)  # any late duplicate would land now
            events = await stream_events(cluster, "deploys")
            assert check_chains(events, sim, ids) == jobs * 5
    finally:
        errors = [proc.stop() for proc in procs]
    for err in errors:
        assert "Traceback" not in err, err
