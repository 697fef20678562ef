"""The census: bk-job's job list stands for the polls of end-only waits (virtual time)."""

from __future__ import annotations

import random
import time

import anyio
import pytest

from bkjob_async import HostTransition, JobFinished, Poller, PollPolicy, Scope
from bkjob_async._protocol import Response
from bkjob_async.polling._schedule import census_round

from ..virtual import _JSON, MemoryBkJob, now, run_virtual

SCOPE = Scope.biz(2)
POLICY = PollPolicy()  # latency 5 s: a census round every 5 s


def long_deploys(count: int, seed: int = 1) -> dict[int, float]:
    """Jobs that end 1 to 20 minutes in (long deploys), ids 1..count."""
    rng = random.Random(seed)
    return {i: rng.uniform(60.0, 1200.0) for i in range(1, count + 1)}


def test_as_completed_reads_each_job_once_and_the_list_once_a_round() -> None:
    jobs = long_deploys(1000)
    server = MemoryBkJob(jobs)
    late: list[float] = []

    async def main() -> tuple[int, int]:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            async with poller.as_completed(SCOPE, jobs) as finished:
                async for status in finished:
                    late.append(now() - jobs[status.job.job_instance_id])
            stats = poller.statistics()
            assert stats.census
            return stats.census_requests, stats.requests

    list_requests, requests = run_virtual(main)
    assert len(late) == 1000  # no miss
    assert sum(server.polls.values()) <= 1.1 * 1000  # one read of each job's final snapshot
    assert max(server.polls.values()) == 1
    duration = max(jobs.values())
    rounds = duration / census_round(POLICY)
    assert list_requests <= rounds + 5  # one page a round, 1,000 a page
    assert requests == sum(server.polls.values()) + list_requests
    late.sort()
    assert late[int(0.99 * len(late))] <= POLICY.latency  # p99 job-end latency
    # What a per-job poller at the same latency sends for these jobs, for scale: each job
    # every 5 s for its whole life.
    per_job = sum(t / POLICY.interval for t in jobs.values())
    assert requests * 50 < per_job


def test_a_job_missing_from_the_list_is_polled_itself_never_silence() -> None:
    jobs = {1: 30.0, 2: 40.0}
    server = MemoryBkJob(jobs)
    server.unlisted = {2}  # outside the list's window, or deleted

    async def main() -> list[int]:
        ended = []
        async with (
            server.client() as client,
            Poller(client, policy=POLICY) as poller,
            poller.as_completed(SCOPE, jobs) as finished,
        ):
            async for status in finished:
                ended.append(status.job.job_instance_id)
        return ended

    assert run_virtual(main) == [1, 2]
    assert server.polls[1] == 1
    assert 40.0 / POLICY.latency - 1 <= server.polls[2] <= 45.0 / POLICY.interval + 2


def test_a_lagging_list_delays_an_end_by_its_lag_never_hides_it() -> None:
    jobs = {i: 10.0 * i for i in range(1, 11)}
    server = MemoryBkJob(jobs)
    server.list_lag = 3.0  # the list shows what was true 3 s ago

    async def main() -> dict[int, float]:
        seen: dict[int, float] = {}
        async with (
            server.client() as client,
            Poller(client, policy=POLICY) as poller,
            poller.as_completed(SCOPE, jobs) as finished,
        ):
            async for status in finished:
                seen[status.job.job_instance_id] = now()
        return seen

    seen = run_virtual(main)
    assert sorted(seen) == list(jobs)
    assert all(seen[i] - jobs[i] <= 3.0 + POLICY.latency + 0.5 for i in jobs)


def test_a_failing_list_falls_back_to_polling_each_job() -> None:
    jobs = {1: 20.0, 2: 25.0}

    class NoList(MemoryBkJob):
        def _list(self, query, t):  # type: ignore[no-untyped-def]
            self.lists += 1
            return Response(503, _JSON, b"<html>the list endpoint is broken</html>")

    broken = NoList(jobs)

    async def main() -> list[int]:
        ended = []
        async with broken.client() as client, Poller(client, policy=POLICY) as poller:
            with anyio.fail_after(120):
                async with poller.as_completed(SCOPE, jobs) as finished:
                    async for status in finished:
                        ended.append(status.job.job_instance_id)
        return ended

    assert sorted(run_virtual(main)) == [1, 2]
    assert broken.lists >= 1
    assert broken.polls[1] >= 2  # polled itself while the list failed


def test_a_host_watch_of_a_job_the_list_follows_polls_it_until_it_leaves() -> None:
    jobs = {1: 1e9}
    server = MemoryBkJob(jobs)

    async def main() -> tuple[int, int, int]:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            ends = poller.watch_jobs(SCOPE, [1], events=[JobFinished])
            await anyio.sleep(30)
            only_list = server.polls[1]
            hosts = poller.watch_jobs(SCOPE, [1], events=[HostTransition])
            await anyio.sleep(30)
            with_hosts = server.polls[1] - only_list
            await hosts.aclose()
            await anyio.sleep(5)  # (a poll in flight may still land)
            after = server.polls[1]
            await anyio.sleep(30)
            await ends.aclose()
            return only_list, with_hosts, server.polls[1] - after

    only_list, with_hosts, after_leaving = run_virtual(main)
    assert only_list == 0  # a running job on an end-only watch: the list says all
    assert 30 / POLICY.latency - 1 <= with_hosts <= 30 / (POLICY.interval * 0.9) + 1
    assert after_leaving == 0  # back to the list alone


@pytest.mark.parametrize("count", [2500])
def test_every_page_is_read_and_no_job_is_missed(count: int) -> None:
    jobs = dict.fromkeys(range(1, count + 1), 10.0)
    server = MemoryBkJob(jobs)

    async def main() -> int:
        ended = 0
        async with (
            server.client() as client,
            Poller(client, policy=POLICY) as poller,
            poller.as_completed(SCOPE, jobs) as finished,
        ):
            async for _ in finished:
                ended += 1
        return ended

    assert run_virtual(main) == count
    assert max(server.polls.values()) == 1
    assert server.lists <= 3 * (10.0 / POLICY.latency + 2)  # three pages a round


def test_waiting_again_for_a_job_that_ended_reads_its_end_at_once() -> None:
    """A job remembered as ended, waited for again: its row says ended, its end is read."""
    jobs = {1: 3.0}
    server = MemoryBkJob(jobs)

    async def main() -> tuple[int, int, float]:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            first = await poller.wait_finished(SCOPE, 1)
            start = now()
            with anyio.fail_after(30):
                again = await poller.wait_finished(SCOPE, 1)
            return first.job.status, again.job.status, now() - start

    first, again, took = run_virtual(main)
    assert first == again == 3
    assert took <= POLICY.latency + 0.5


def test_census_false_polls_each_job_every_round() -> None:
    jobs = {1: 30.0}
    server = MemoryBkJob(jobs)

    async def main() -> bool:
        policy = PollPolicy(census=False)
        async with server.client() as client, Poller(client, policy=policy) as poller:
            await poller.wait_finished(SCOPE, 1)
            return poller.statistics().census

    assert run_virtual(main) is False
    assert server.lists == 0
    assert server.polls[1] >= 30.0 / POLICY.latency - 1
    with pytest.raises(TypeError):
        PollPolicy(census="yes")  # type: ignore[arg-type]


def test_as_completed_takes_jobs_launched_later() -> None:
    jobs = {1: 10.0, 2: 20.0, 3: 30.0}
    server = MemoryBkJob(jobs)

    async def main() -> list[int]:
        ended: list[int] = []
        async with (
            server.client() as client,
            Poller(client, policy=POLICY) as poller,
            poller.as_completed(SCOPE, [1]) as finished,
        ):
            async for status in finished:
                ended.append(status.job.job_instance_id)
                if len(ended) == 1:
                    await finished.add(SCOPE, [2, 3])  # launched meanwhile
        return ended

    assert run_virtual(main) == [1, 2, 3]
    assert all(server.polls[i] == 1 for i in jobs)


@pytest.mark.parametrize("created_days_ago", [40.0, -1.0])
def test_jobs_created_outside_any_window_keep_the_census_running(created_days_ago) -> None:
    """Rows whose creation time lies past bk-job's 30-day window (or ahead of our clock) never
    make a window bk-job would refuse: the census reads the widest window again."""
    jobs = {1: 12.0, 2: 24.0}
    server = MemoryBkJob(jobs)
    server.created_ms = int((time.time() - created_days_ago * 86_400) * 1000)

    async def main() -> list[int]:
        ended: list[int] = []
        async with (
            server.client() as client,
            Poller(client, policy=POLICY) as poller,
            poller.as_completed(SCOPE, jobs) as finished,
        ):
            async for status in finished:
                ended.append(status.job.job_instance_id)
        return ended

    assert run_virtual(main) == [1, 2]
    assert server.lists >= 3


def _host_watch(census: bool) -> tuple[dict[tuple, float], MemoryBkJob, int]:
    """50 jobs that wait for a confirmation for 5 minutes, then run 100 s, watched for every
    transition: what was seen (and when), the server, and the poller's requests."""
    jobs = {i: 400.0 + i for i in range(1, 51)}
    server = MemoryBkJob(jobs)
    server.waiting_until = {i: 300.0 + i for i in jobs}

    async def main() -> tuple[dict[tuple, float], int]:
        seen: dict[tuple, float] = {}
        policy = PollPolicy(census=census)
        async with server.client() as client, Poller(client, policy=policy) as poller:
            async for event in poller.watch_jobs(SCOPE, jobs):
                step = getattr(event, "step_instance_id", None)
                what = (type(event).__name__, event.job_instance_id, step)
                seen[(*what, getattr(event, "previous", None), getattr(event, "current", None))] = (
                    now()
                )
            return seen, poller.statistics().requests

    seen, requests = run_virtual(main)
    return seen, server, requests


def test_a_host_watch_leaves_a_waiting_job_to_the_list_and_misses_nothing() -> None:
    seen, server, requests = _host_watch(census=True)
    alone, alone_server, alone_requests = _host_watch(census=False)
    assert set(seen) == set(alone)  # every transition polling each job sees, and no other
    assert sum(1 for key in seen if key[0] == "JobFinished") == 50
    # While a job waits for a person it is read once, then the list stands for it: per job,
    # the polls of its 100 s run at 5 s, its first read, its start and its end.
    for job in range(1, 51):
        assert server.polls[job] <= 100 / POLICY.interval / 0.9 + 4
        assert alone_server.polls[job] >= server.polls[job] + 10  # 300 s at up to 15 s
    assert requests < 0.7 * alone_requests
    assert server.lists <= 410 / census_round(POLICY) + 5  # one page a round
    # The start is seen within the latency bound: the list's round, then one poll.
    for job in range(1, 51):
        started = seen[("JobTransition", job, None, 7, 2)]
        assert started - server.waiting_until[job] <= POLICY.latency + 0.5


def test_a_parked_job_whose_row_lags_is_read_again_when_the_row_moves() -> None:
    jobs = {1: 200.0}
    server = MemoryBkJob(jobs)
    server.waiting_until = {1: 100.0}
    server.list_lag = 20.0  # the list says "waiting" for 20 s after the job started

    async def main() -> float:
        async for event in _watch_all(server, jobs):
            if getattr(event, "previous", None) == 7 and type(event).__name__ == "JobTransition":
                return now()
        raise AssertionError("the start was never seen")

    started = run_virtual(main)
    assert 100.0 + 20.0 <= started <= 100.0 + 20.0 + POLICY.latency + 0.5


async def _watch_all(server: MemoryBkJob, jobs: dict[int, float]):  # type: ignore[no-untyped-def]
    async with server.client() as client, Poller(client, policy=POLICY) as poller:
        async for event in poller.watch_jobs(SCOPE, jobs):
            yield event
