"""Redis loses its latest writes under three worker processes; a consumer loses nothing.

As an operator would see it: ``SAVE``, a few seconds of work, then Redis SIGKILLed and started
again from that snapshot (what a failover to a replica that lagged, or a crash with
``appendfsync everysec``, does); or started again empty; or jobs that ended submitted again.
The holders continue from older (or no) states and derive again what the consumer already
has: it must come under the ids the consumer dedupes on. A consumer reading the watch's stream
all along (a consumer group), deduping by ``event_id``, sees no status reached again under a
new id, no step back, a chain broken only by a merge (from ``None``, or from a status it
passed before), one ``JobFinished`` per job and every host's true final status
(``chains.consumer_view``).

The simulator's clock is virtual and driven by the test (``SimClock``): jobs stand where the
test needs them when Redis goes back, however slow the machine is. ``make test`` runs each
fault once; ``make test-slow`` runs the snapshot rollback ``RUNS`` times at three snapshot points.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from bkjob_async import Scope
from bkjob_async.cluster import ClusterError
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..sim_clock import sim_clock
from .chains import consumer_view
from .workers import WorkerProc

SCOPE = Scope.biz(2)


def make_jobs(sim, n, seed):
    rnd = random.Random(seed)
    return [
        sim.create_job(SCOPE, [StepPlan(hosts=rnd.randint(3, 5)) for _ in range(rnd.randint(2, 3))])
        for _ in range(n)
    ]


class Consumer:
    """Reads the watch's stream in a consumer group from the start, through every fault."""

    def __init__(self, cluster, watch: str) -> None:
        self.cluster, self.watch = cluster, watch
        self.events: list = []
        self.stream = None

    @property
    def repeats(self) -> int:
        """Events the stream itself dropped: repeats of an event id it was acked already."""
        return 0 if self.stream is None else self.stream.dropped_repeats

    async def run(self) -> None:
        self.stream = stream = self.cluster.events(
            self.watch, consumer="c", claim_idle=1.0, block=0.2
        )
        while True:
            try:
                async for event in stream:
                    self.read(stream, event)
                    await stream.ack(event)
            except ClusterError:  # Redis down, restarting, paused or failing over: read on
                await anyio.sleep(0.05)  # when it is back

    def read(self, stream: Any, event: Any) -> None:
        """Keep an event read from ``stream`` (before it is acknowledged)."""
        self.events.append(event)

    def finished(self) -> set[int]:
        return {e.job_instance_id for e in self.events if type(e).__name__ == "JobFinished"}


async def until(predicate, timeout: float) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.05)


@contextlib.asynccontextmanager
async def on_three_workers(
    cluster: Any,
    consumer: Consumer,
    deployment: Any,
    procs: list[WorkerProc],
    seed: int,
    jobs: int,
) -> AsyncIterator[tuple[BkJobSimulator, Any, list[int]]]:
    """Run ``jobs`` jobs of ``seed`` on a simulator (its clock at twice real time), submitted to
    ``cluster`` and read by ``consumer``, polled by three worker processes on ``deployment``
    (put in ``procs``, for the caller to stop); yield the simulator, its clock and the job ids
    once every worker polls and 1.5 s (simulated) have passed; stop the reading after."""
    sim = BkJobSimulator(seed=seed, host_duration=(1.0, 4.0), virtual_clock=True)
    async with sim, sim_clock(sim, speed=2.0) as clock, anyio.create_task_group() as tg:
        ids = make_jobs(sim, jobs, seed)
        await cluster.submit(SCOPE, ids, watch="deploys")
        tg.start_soon(consumer.run)
        procs += [WorkerProc(sim, deployment, f"w{i}") for i in range(3)]

        async def polling():
            return all(p.stats is not None and p.stats[1] > 0 for p in procs)

        await until(polling, 30)
        await clock.advance_by(1.5)  # hosts run, some steps end
        yield sim, clock, ids
        tg.cancel_scope.cancel()


async def rollback_run(make_cluster, redis_server, *, fault: str, seed: int, ahead: float):
    """Run 60 jobs on three workers; at ``ahead`` s of simulated time past a ``SAVE``, lose
    what Redis wrote since (``fault="snapshot"``), or all of it (``"empty"``), or nothing but
    submit jobs that ended again (``"resubmit"``). Return the consumer's figures."""
    cluster = make_cluster()
    consumer = Consumer(cluster, "deploys")
    procs: list[WorkerProc] = []
    try:
        async with on_three_workers(cluster, consumer, redis_server, procs, seed, 60) as (
            sim,
            clock,
            ids,
        ):
            snapshot = redis_server.snapshot()
            await clock.advance_by(ahead)  # what Redis will lose: polled, written, read
            before = len(consumer.events)
            assert sum(not sim.job(i).status.is_finished for i in ids) >= 10
            down = time.monotonic()
            if fault == "snapshot":
                redis_server.restart_from(snapshot)
            elif fault == "empty":
                redis_server.restart_empty()
            clock.speed, clock.running = 4.0, True  # to the end

            async def all_ended():
                return consumer.finished() >= set(ids)

            await until(all_ended, 90)
            recovered = time.monotonic() - down
            if fault == "resubmit":  # every job followed again from nothing, by any worker
                ended = len(consumer.events) + consumer.repeats
                await cluster.submit(SCOPE, ids, watch="deploys")

                async def left():
                    return not await cluster.jobs("deploys")

                await until(left, 60)
                await anyio.sleep(1.0)  # their events are read by now
                # Derived again, every one of them: read, or dropped by the stream as repeats.
                assert len(consumer.events) + consumer.repeats > ended
            await anyio.sleep(1.0)  # any late duplicate would land now
        figures = consumer_view(consumer.events, sim, ids)
        figures["dropped"] += consumer.repeats  # (those the stream dropped before the view)
    finally:
        errors = [p.stop() for p in procs]
    for err in errors:
        assert "Traceback" not in err, err
    figures.update(read_before=before, to_end_s=round(recovered, 2))
    print(f"\n{fault} (seed {seed}, {ahead} s lost): {figures}")
    return figures, errors


@pytest.mark.timeout(180)
async def test_a_restart_from_an_older_snapshot_repeats_nothing_under_a_new_id(
    make_cluster, redis_server
):
    figures, errors = await rollback_run(
        make_cluster, redis_server, fault="snapshot", seed=11, ahead=2.5
    )
    assert figures["dropped"] > 0  # the rollback did make the holders derive again
    assert any("older states than this worker wrote" in e for e in errors), (
        "the rollback was not reported:\n" + "\n".join(e[-3000:] for e in errors)
    )


@pytest.mark.timeout(180)
async def test_an_empty_restart_repeats_nothing_under_a_new_id(make_cluster, redis_server):
    figures, _ = await rollback_run(make_cluster, redis_server, fault="empty", seed=12, ahead=1.0)
    assert figures["dropped"] > 0


@pytest.mark.timeout(180)
async def test_jobs_that_ended_submitted_again_repeat_nothing_under_a_new_id(
    make_cluster, redis_server
):
    figures, _ = await rollback_run(
        make_cluster, redis_server, fault="resubmit", seed=13, ahead=1.0
    )
    assert figures["dropped"] > 0


#: The snapshot rollbacks ``make test-slow`` runs at each point (each another seed): a fault
#: of these loops showed in 3 runs of 10 or more (0888934: 3 in 10); five runs find one 83
#: times in 100 (1 - 0.7 ** 5), and one that any point shows, 99.5 in 100 over the fifteen.
#: Ten a point took half the slow step; ``make test`` runs one more of each fault every time.
RUNS = 5


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("ahead", [0.5, 2.5, 5.0])
async def test_rollbacks_at_each_snapshot_point(make_cluster, redis_server, ahead):
    for run in range(RUNS):
        redis_server.reset()
        await rollback_run(
            make_cluster, redis_server, fault="snapshot", seed=100 + run, ahead=ahead
        )
