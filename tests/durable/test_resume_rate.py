"""A resumed watch polls as its policy says, whatever point the stop came at (issue 22).

A job restored from a store starts from its stored state, so its first answer after a restart
is usually unchanged. The schedule once grew the interval from zero then, and the resumed
watch polled each running job thousands of times a second. Each test here stops a named watch
at one kind of moment, resumes it in a new poller, and counts the requests each job costs
over 10 s of virtual time against what ``PollPolicy`` allows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from bkjob_async import BkJobClient, JobFinished, MemoryStore, Poller, PollPolicy, SqliteStore
from bkjob_async.polling import Store
from bkjob_async.testing import BkJobSimulator, StepPlan
from tests.virtual import VirtualBkJob, now, run_virtual

from ..scripted import SCOPE

POLICY = PollPolicy()
#: The policy's unit of time: the tests' moments scale with it.
U = POLICY.interval
WINDOW = 10.0
#: Job 1 ends one interval in; jobs 2 and 3 run for the whole test.
FINISH_AT = {1: U, 2: 1e9, 3: 1e9}


def sim_client(sim: BkJobSimulator) -> BkJobClient:
    return BkJobClient(sim.url, app_code="app", app_secret="s3cret", username="admin")


def most_polls(policy: PollPolicy, window: float) -> int:
    """Return the most polls ``policy`` allows one unchanging running job in ``window`` s.

    Its first poll may come at once (a restored job's phase), then each gap is the base
    interval (``interval`` first), grown by ``growth`` per unchanged answer up to the cap of
    a job that may change by itself (``latency``, or ``interval`` if that is longer, never
    past ``max_interval``), shortened by the full ``jitter``.
    """
    top = policy.max_interval
    if policy.latency is not None:
        top = min(top, max(policy.latency, policy.interval))
    polls, t, base = 1, 0.0, policy.interval
    while True:
        t += base * (1 - policy.jitter)
        if t > window:
            return polls
        polls += 1
        base = min(base * policy.growth, top)


def test_most_polls_counts_the_policy_schedule() -> None:
    assert most_polls(PollPolicy(), 10.0) == 3  # 0, 4.5, 9 (latency 5 s, jitter 10%)
    fixed = PollPolicy(interval=1.0, growth=1.0, jitter=0.0)
    assert most_polls(fixed, 10.0) == 11
    unbound = PollPolicy(latency=None, interval=1.0)
    assert most_polls(unbound, 10.0) == 5  # 0, 0.9, 2.25, 4.28, 7.31 (then 11.86)


# How the first run stops, as a function of the events read so far and the jobs' ids by
# name (acked when it says so).
Stop = Callable[[list, dict[int, int]], bool]

STOPS: dict[str, tuple[float, Stop, bool]] = {
    # name: (seconds the first run lasts at most, stop after this event?, ack what is read)
    "nothing delivered": (2.0 * U, lambda got, ids: True, False),
    "some delivered": (2.0 * U, lambda got, ids: len(got) == 2, True),
    "all of one job": (
        2.0 * U,
        lambda got, ids: sum(e.job_instance_id == ids[2] for e in got) == 3,
        True,
    ),
    "all of every job": (0.5 * U, lambda got, ids: False, True),
    "a job that ended": (2.5 * U, lambda got, ids: False, True),
    "JobFinished unacked": (2.5 * U, lambda got, ids: isinstance(got[-1], JobFinished), False),
}


@pytest.mark.parametrize("stop", list(STOPS))
def test_a_resumed_watch_polls_within_the_policy(stop: str) -> None:
    seconds, stop_after, ack = STOPS[stop]
    server = VirtualBkJob(FINISH_AT)
    ids = server.ids  # job name (FINISH_AT's keys) -> the simulator's id
    memory = MemoryStore()  # the engine path is the same for every store (SQLite below)
    first: list = []
    resumed: list = []

    async def run_first(store: Store) -> None:
        async with (
            Poller(server.client(), policy=POLICY, store=store) as poller,
            poller.watch_jobs(SCOPE, list(ids.values()), name="w") as watch,
        ):
            if stop == "nothing delivered":
                await anyio.sleep(seconds)  # polled and stored, never read
                return
            with anyio.move_on_after(seconds):
                async for event in watch:
                    first.append(event)
                    if ack:
                        await watch.ack(event)
                    if stop_after(first, ids):
                        return

    async def main() -> tuple[dict[int, int], int]:
        async with memory:
            await run_first(memory)
        before = dict(server.polls)
        async with memory as store, Poller(server.client(), policy=POLICY, store=store) as poller:
            async with await poller.resume("w") as watch:
                start = now()
                with anyio.move_on_after(WINDOW):
                    async for event in watch:
                        resumed.append(event)
                assert now() - start == pytest.approx(WINDOW, abs=0.1)
            refused = poller.statistics().refused_polls
        polls = {job: server.polls[ids[job]] - before.get(ids[job], 0) for job in FINISH_AT}
        return polls, refused

    polls, refused = run_virtual(main)
    limit = most_polls(POLICY, WINDOW)
    assert polls[2] <= limit, polls
    assert polls[3] <= limit, polls
    assert polls[2] >= 1  # still watched: a resume polls them again
    assert polls[3] >= 1
    ended_before = any(isinstance(e, JobFinished) for e in first)
    assert ended_before == (stop in ("a job that ended", "JobFinished unacked"))
    if ended_before:
        assert polls[1] == 0, polls  # its end was stored: never polled again
    assert polls[1] <= limit
    assert refused == 0  # the schedule itself asked for nothing sooner than the policy allows
    finished = [
        name
        for e in resumed
        if isinstance(e, JobFinished)
        for name in ids
        if ids[name] == e.job_instance_id
    ]
    if stop == "JobFinished unacked":
        assert finished == [1]  # handed out again, not polled for
    elif ended_before:
        assert finished == []
    else:
        assert finished == [1]


@pytest.mark.anyio
async def test_the_issue_repro_on_sqlite_and_the_simulator(tmp_path: Path) -> None:
    """The report as a user ran it: SqliteStore, the simulator, real time (shortened)."""
    async with BkJobSimulator(seed=1) as sim:
        ids = [
            sim.create_job(SCOPE, [StepPlan(hosts=2, duration=(0.5, 0.5))]),
            sim.create_job(SCOPE, [StepPlan(hosts=2, duration=(60, 60))]),
            sim.create_job(SCOPE, [StepPlan(hosts=2, duration=(60, 60))]),
        ]
        path = tmp_path / "w.db"
        async with sim_client(sim) as client:
            async with (
                SqliteStore(path) as store,
                Poller(client, store=store) as poller,
                poller.watch_jobs(SCOPE, ids, name="w") as watch,
            ):
                # Until job 1's end is acked (the first poll after its 0.5 s, whenever a loaded
                # machine makes that): the resumed watch must then never poll it again.
                with anyio.fail_after(30):
                    async for event in watch:
                        await watch.ack(event)
                        if isinstance(event, JobFinished) and event.job_instance_id == ids[0]:
                            break
            before = sim.request_count()
            async with SqliteStore(path) as store, Poller(client, store=store) as poller:
                async with await poller.resume("w") as watch:
                    with anyio.move_on_after(3.0):
                        async for _ in watch:
                            pass
                refused = poller.statistics().refused_polls
    # Two running jobs, the ended one never polled again.
    assert sim.request_count() - before <= 2 * most_polls(PollPolicy(), 3.0)
    assert refused == 0
