"""The census: bk-job's job list stands for the polls of end-only waits (virtual time)."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import anyio
import attrs
import pytest
from anyio.abc import TaskGroup
from multidict import CIMultiDict, CIMultiDictProxy

from bkjob_async import (
    HostTransition,
    JobFinished,
    JobStatus,
    JobTransition,
    Poller,
    PollPolicy,
)
from bkjob_async.polling._census import waiting_at
from bkjob_async.polling._decide import census_round, min_gap
from bkjob_async.polling._jobs import key
from bkjob_async.testing import Fault, HostPlan, Request, Response, StepPlan

from ..virtual import SCOPE, VirtualBkJob, now, run_virtual

#: Virtual time: CPU-bound polls under a 60 s timeout, too slow under coverage's tracer.
pytestmark = pytest.mark.untraced

POLICY = PollPolicy()  # latency 5 s: a census round every 5 s


async def _ends_in_order(server: VirtualBkJob, jobs: list[int]) -> list[int]:
    """Wait for ``jobs`` with ``as_completed`` at the default policy; return their ids as they end."""
    ended: list[int] = []
    async with (
        server.client() as client,
        Poller(client, policy=POLICY) as poller,
        poller.as_completed(SCOPE, jobs) as finished,
    ):
        async for status in finished:
            ended.append(status.job.job_instance_id)
    return ended


class Rows(VirtualBkJob):
    """The simulator, its job list's rows edited as no bk-job the simulator plays writes them
    (a scripted answer): rows of ``unlisted`` jobs (names) left out, every row created at
    ``created_ms``, statuses as they stood ``list_lag`` seconds ago (from the planned times)."""

    def __init__(self, finish_at: Mapping[int, float], **kwargs: Any) -> None:
        super().__init__(finish_at, **kwargs)
        self.finish_at = dict(finish_at)
        self.unlisted: set[int] = set()
        self.created_ms: int | None = None
        self.list_lag = 0.0

    async def _send(self, request: Request) -> Response:
        if request.api != "get_job_instance_list":
            return await super()._send(request)
        request, asked = _unfiltered(request)  # (filtered here, on the statuses as edited)
        response = await super()._send(request)
        if response.status != 200:
            return response
        body = json.loads(response.body)
        names = {job: name for name, job in self.ids.items()}
        rows = []
        for row in body["data"]["data"] or ():
            name = names[row["job_instance_id"]]
            if name in self.unlisted:
                continue
            if self.created_ms is not None:
                row["create_time"] = self.created_ms
            if self.list_lag:
                row["status"] = self._status(name, now() - self.list_lag)
            if asked is None or row["status"] == asked:
                rows.append(row)
        body["data"]["data"] = rows or None
        return Response(200, response.headers, json.dumps(body).encode())

    def _status(self, name: int, t: float) -> int:
        if t >= self.finish_at[name]:
            return 3
        return 7 if t < self.wait_until.get(name, 0.0) else 2


def _unfiltered(request: Request) -> tuple[Request, int | None]:
    """Return ``request`` without its job list's ``status`` filter, and the status it asked."""
    if request.query is not None and "status" in request.query:
        query = dict(request.query)
        asked = int(query.pop("status"))
        return attrs.evolve(request, query=query), asked
    if request.body is not None:
        body = json.loads(request.body)
        if "status" in body:
            asked = int(body.pop("status"))
            return attrs.evolve(request, body=json.dumps(body).encode()), asked
    return request, None


def long_deploys(count: int, seed: int = 1) -> dict[int, float]:
    """Jobs that end 1 to 20 minutes in (long deploys), ids 1..count."""
    rng = random.Random(seed)
    return {i: rng.uniform(60.0, 1200.0) for i in range(1, count + 1)}


#: Jobs of ``test_as_completed_reads_each_job_once_and_the_list_once_a_round``: one page of the
#: list (1,000 a page), and few enough that its run on virtual time costs seconds of CPU, not a
#: minute of a loaded machine's (``benchmarks/`` has the thousands).
AS_COMPLETED_JOBS = 300


def test_as_completed_reads_each_job_once_and_the_list_once_a_round() -> None:
    server = VirtualBkJob(long_deploys(AS_COMPLETED_JOBS))
    jobs = {server.job(name): at for name, at in long_deploys(AS_COMPLETED_JOBS).items()}
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
    assert len(late) == AS_COMPLETED_JOBS  # no miss
    assert sum(server.polls.values()) <= 1.1 * AS_COMPLETED_JOBS  # one read of each final snapshot
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
    server = Rows({1: 30.0, 2: 40.0})
    server.unlisted = {2}  # outside the list's window, or deleted
    jobs = list(server.ids.values())

    assert run_virtual(_ends_in_order, server, jobs) == jobs
    assert server.polls[jobs[0]] == 1
    assert 40.0 / POLICY.latency - 1 <= server.polls[jobs[1]] <= 45.0 / POLICY.interval + 2


def test_a_lagging_list_delays_an_end_by_its_lag_never_hides_it() -> None:
    server = Rows({i: 10.0 * i for i in range(1, 11)})
    server.list_lag = 3.0  # the list shows what was true 3 s ago
    jobs = {server.job(name): at for name, at in server.finish_at.items()}

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
    broken = VirtualBkJob({1: 20.0, 2: 25.0})
    page = "<html>the list endpoint is broken</html>"
    broken.sim.inject(Fault.http_status(503, page), api="get_job_instance_list", times=None)
    jobs = list(broken.ids.values())

    async def main() -> list[int]:
        ended = []
        async with broken.client() as client, Poller(client, policy=POLICY) as poller:
            with anyio.fail_after(120):
                async with poller.as_completed(SCOPE, jobs) as finished:
                    async for status in finished:
                        ended.append(status.job.job_instance_id)
        return ended

    assert sorted(run_virtual(main)) == jobs
    assert broken.lists >= 1
    assert broken.polls[jobs[0]] >= 2  # polled itself while the list failed


def test_a_host_watch_of_a_job_the_list_follows_polls_it_until_it_leaves() -> None:
    server = VirtualBkJob({1: 1e9}, hosts=2)  # (one host running: ``test_a_last_host_...``)
    one = server.job(1)

    async def main() -> tuple[int, int, int]:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            ends = poller.watch_jobs(SCOPE, [one], events=[JobFinished])
            await anyio.sleep(30)
            only_list = server.polls[one]
            hosts = poller.watch_jobs(SCOPE, [one], events=[HostTransition])
            await anyio.sleep(30)
            with_hosts = server.polls[one] - only_list
            await hosts.aclose()
            await anyio.sleep(5)  # (a poll in flight may still land)
            after = server.polls[one]
            await anyio.sleep(30)
            await ends.aclose()
            return only_list, with_hosts, server.polls[one] - after

    only_list, with_hosts, after_leaving = run_virtual(main)
    assert only_list == 0  # a running job on an end-only watch: the list says all
    assert 30 / POLICY.latency - 1 <= with_hosts <= 30 / (POLICY.interval * 0.9) + 1
    assert after_leaving == 0  # back to the list alone


@pytest.mark.parametrize(("flavor", "page"), [("apigw-v3", 1000), ("apigw-v4", 200)])
def test_every_page_is_read_and_no_job_is_missed(flavor: str, page: int) -> None:
    """v3 pages 1,000 rows and says its total; v4 pages 200 and says none."""
    count = 2500
    server = VirtualBkJob(dict.fromkeys(range(1, count + 1), 10.0))
    jobs = list(server.ids.values())

    async def main() -> tuple[int, int]:
        ended = 0
        async with (
            server.client(flavor=flavor) as client,
            Poller(client, policy=POLICY) as poller,
            poller.as_completed(SCOPE, jobs) as finished,
        ):
            async for _ in finished:
                ended += 1
            return ended, poller.statistics().census_requests

    ended, listed = run_virtual(main)
    assert ended == count
    assert max(server.polls.values()) == 1  # (each job read once: its final snapshot)
    pages = -(-count // page) + (1 if count % page == 0 else 0)  # (a full last page: one more)
    assert 1 <= listed == server.lists <= pages * (10.0 / POLICY.latency + 2)


def test_waiting_again_for_a_job_that_ended_reads_its_end_at_once() -> None:
    """A job remembered as ended, waited for again: its row says ended, its end is read."""
    server = VirtualBkJob({1: 3.0})
    one = server.job(1)

    async def main() -> tuple[int, int, float]:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            first = await poller.wait_finished(SCOPE, one)
            start = now()
            with anyio.fail_after(30):
                again = await poller.wait_finished(SCOPE, one)
            return first.job.status, again.job.status, now() - start

    first, again, took = run_virtual(main)
    assert first == again == 3
    assert took <= POLICY.latency + 0.5


def test_census_false_polls_each_job_every_round() -> None:
    server = VirtualBkJob({1: 30.0})

    async def main() -> bool:
        policy = PollPolicy(census=False)
        async with server.client() as client, Poller(client, policy=policy) as poller:
            await poller.wait_finished(SCOPE, server.job(1))
            return poller.statistics().census

    assert run_virtual(main) is False
    assert server.lists == 0
    assert server.polls[server.job(1)] >= 30.0 / POLICY.latency - 1
    with pytest.raises(TypeError):
        PollPolicy(census="yes")  # type: ignore[arg-type]


def test_as_completed_takes_jobs_launched_later() -> None:
    server = VirtualBkJob({1: 10.0, 2: 20.0, 3: 30.0})
    one, two, three = jobs = list(server.ids.values())

    async def main() -> list[int]:
        ended: list[int] = []
        async with (
            server.client() as client,
            Poller(client, policy=POLICY) as poller,
            poller.as_completed(SCOPE, [one]) as finished,
        ):
            async for status in finished:
                ended.append(status.job.job_instance_id)
                if len(ended) == 1:
                    await finished.add(SCOPE, [two, three])  # launched meanwhile
        return ended

    assert run_virtual(main) == jobs
    assert all(server.polls[i] == 1 for i in jobs)


@pytest.mark.parametrize("created_days_ago", [40.0, -1.0])
def test_jobs_created_outside_any_window_keep_the_census_running(created_days_ago) -> None:
    """Rows whose creation time lies past bk-job's 30-day window (or ahead of our clock) never
    make a window bk-job would refuse: the census reads the widest window again."""
    server = Rows({1: 12.0, 2: 24.0})
    server.created_ms = int((time.time() - created_days_ago * 86_400) * 1000)
    jobs = list(server.ids.values())

    assert run_virtual(_ends_in_order, server, jobs) == jobs
    assert server.lists >= 3


@asynccontextmanager
async def _confirming(
    server: VirtualBkJob, waits: Mapping[int, float], policy: PollPolicy = POLICY
) -> AsyncIterator[tuple[Poller, TaskGroup]]:
    """A poller on ``server`` under ``policy``, each wait of ``waits`` confirmed in time beside
    it (``server.confirm``): yields the poller and the task group that runs the confirmations."""
    async with (
        server.client() as client,
        Poller(client, policy=policy) as poller,
        anyio.create_task_group() as tg,
    ):
        for name in waits:
            tg.start_soon(server.confirm, name)
        yield poller, tg


def _host_watch(census: bool) -> tuple[dict[tuple, float], VirtualBkJob, int]:
    """50 jobs that wait for a confirmation for 5 minutes, then run 100 s, watched for every
    transition: what was seen (and when), the server, and the poller's requests."""
    waits = {i: 300.0 + i for i in range(1, 51)}
    server = VirtualBkJob({i: 400.0 + i for i in waits}, wait_until=waits, hosts=2)
    jobs = list(server.ids.values())

    async def main() -> tuple[dict[tuple, float], int]:
        seen: dict[tuple, float] = {}
        async with _confirming(server, waits, PollPolicy(census=census)) as (poller, _):
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
    for name, job in server.ids.items():
        assert server.polls[job] <= 100 / POLICY.interval / 0.9 + 4
        assert alone_server.polls[alone_server.job(name)] >= server.polls[job] + 10  # 300 s, 15 s
    assert requests < 0.7 * alone_requests
    assert server.lists <= 410 / census_round(POLICY) + 5  # one page a round
    # The start is seen within the latency bound: the list's round, then one poll.
    for name, job in server.ids.items():
        started = seen[("JobTransition", job, None, 7, 2)]
        assert started - server.wait_until[name] <= POLICY.latency + 0.5


def test_a_parked_job_whose_row_lags_is_read_again_when_the_row_moves() -> None:
    server = Rows({1: 200.0}, wait_until={1: 100.0})
    server.list_lag = 20.0  # the list says "waiting" for 20 s after the job started

    async def main() -> float:
        async with (
            server.client() as client,
            Poller(client, policy=POLICY) as poller,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(server.confirm, 1)
            async for event in poller.watch_jobs(SCOPE, [server.job(1)]):
                if (
                    getattr(event, "previous", None) == 7
                    and type(event).__name__ == "JobTransition"
                ):
                    return now()
        raise AssertionError("the start was never seen")

    started = run_virtual(main)
    assert 100.0 + 20.0 <= started <= 100.0 + 20.0 + POLICY.latency + 0.5


def test_parking_a_job_costs_no_list_read_of_its_own() -> None:
    # 40 jobs, watched one every 0.5 s, each parked at its first poll: the list is read once a
    # round from the first park on, not again at each park.
    waits = dict.fromkeys(range(1, 41), 100.0)
    server = VirtualBkJob(dict.fromkeys(waits, 101.0), wait_until=waits)

    async def watch(poller: Poller, name: int) -> None:
        await anyio.sleep(0.5 * name)
        async for _ in poller.watch_jobs(SCOPE, [server.job(name)]):
            pass

    async def main() -> None:
        async with _confirming(server, waits) as (poller, tg):
            for name in waits:
                tg.start_soon(watch, poller, name)

    run_virtual(main)
    # Parked from the first job's first poll (0.5 s) until the round after 100 s.
    assert server.lists <= 100.0 / census_round(POLICY) + 2


def test_an_outage_of_an_end_only_wait_ends_at_the_lists_first_answer() -> None:
    """The job list's reads follow the outage's rules as polls do: a failed one while bk-job is
    down is a failed probe, its first answer ends the outage (issue 61)."""
    server = VirtualBkJob(long_deploys(200))
    jobs = list(server.ids.values())
    down: list[tuple[float, bool]] = []

    async def main() -> list[int]:
        ended = []
        policy = PollPolicy(max_interval=15.0)
        async with (
            server.client() as client,
            Poller(client, policy=policy) as poller,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(server.outage, 100.0, 160.0)

            async def sample() -> None:
                while True:
                    stalled = poller.statistics().stalled
                    if not down or down[-1][1] is not stalled:
                        down.append((now(), stalled))
                    await anyio.sleep(0.1)

            tg.start_soon(sample)
            with anyio.fail_after(2000):
                async with poller.as_completed(SCOPE, jobs) as finished:
                    async for status in finished:
                        ended.append(status.job.job_instance_id)
            tg.cancel_scope.cancel()
        return ended

    assert sorted(run_virtual(main)) == jobs
    changes = [t for t, _ in down[1:]]
    assert len(changes) == 2, down  # down once, up once
    assert 100.0 <= changes[0] <= 100.0 + 2 * POLICY.latency  # type: ignore[operator]
    assert 160.0 <= changes[1] <= 160.0 + 15.0 + 1.0, down  # a probe's gap, list read or poll
    failed = [t for t in server.failed if 110.0 <= t < 160.0]
    assert len(failed) / 50.0 <= 1.0  # probes, not rounds of the list


def test_the_lists_answer_ends_an_outage_and_its_failure_is_a_failed_probe() -> None:
    from bkjob_async import ConnectError, ServerError

    server = VirtualBkJob({1: 1e9})

    async def main() -> tuple[bool, bool, bool, float, float]:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            driver = poller._driver
            health = driver.health
            now_ = driver.clock()
            down, _ = health.server.failed(
                now_, now_ - 10.0, 0, driver.rules.rng, silent=True, first=True, waited=True
            )
            assert down.down
            driver.health = health._replace(server=down)
            probing, granted = down.allows(down.probe_at)
            assert granted
            driver.health = health._replace(server=probing)
            driver.census_read(ServerError("502", http_status=502))  # the list, as the probe
            failed = driver.health.server
            driver.census_read(ConnectError("refused"))
            driver.census_read(None)  # then it answers
            return (
                failed.down,
                failed.probing,
                driver.health.server.down,
                failed.probe_at - now_,
                driver.server_failures,
            )

    still_down, probing, down_after, next_probe_in, failures = run_virtual(main)
    assert still_down  # a failed probe: the next one later, not after its hold
    assert not probing
    # (after its hold, the granted probe would be poll_timeout + 1 s after it was granted)
    assert 0.0 < next_probe_in < POLICY.poll_timeout  # type: ignore[operator]
    assert not down_after  # the list's answer ended the outage
    assert failures == 2


class Asked(VirtualBkJob):
    """The simulator, noting each job list read: the status it asked for, the rows it got."""

    def __init__(self, finish_at: Mapping[int, float], **kwargs: Any) -> None:
        super().__init__(finish_at, **kwargs)
        self.asked: list[tuple[int | None, int]] = []

    async def _send(self, request: Request) -> Response:
        response = await super()._send(request)
        if request.api == "get_job_instance_list" and response.status == 200:
            rows = json.loads(response.body)["data"]["data"] or ()
            self.asked.append((_unfiltered(request)[1], len(rows)))
        return response


def _watched_to_their_ends(
    server: VirtualBkJob, waits: Mapping[int, float], jobs: list[int]
) -> tuple[dict[int, float], int]:
    """Watch ``jobs`` for every transition until they end, each wait confirmed in time: when
    each job was seen to start after its confirmation, and how many ends were seen."""

    async def main() -> tuple[dict[int, float], int]:
        started: dict[int, float] = {}
        ended = 0
        async with _confirming(server, waits) as (poller, _):
            async for event in poller.watch_jobs(SCOPE, jobs):
                if isinstance(event, JobTransition) and event.previous == JobStatus.WAITING_USER:
                    started[event.job_instance_id] = now()
                ended += isinstance(event, JobFinished)
        return started, ended

    return run_virtual(main)


def test_a_list_that_follows_parked_jobs_only_is_read_at_their_status() -> None:
    # 40 jobs run for 200 s beside 5 that wait 100 s for a confirmation: each round's list
    # is read at the confirmation's status, its rows the 5 waiting jobs', not the window's 45.
    waits = dict.fromkeys(range(1, 6), 100.0)
    server = Asked(dict.fromkeys(range(1, 46), 200.0), wait_until=waits, hosts=2)

    started, ended = _watched_to_their_ends(server, waits, list(server.ids.values()))
    assert ended == 45
    assert set(started) == {server.job(name) for name in waits}
    assert all(100.0 <= at <= 100.0 + POLICY.latency + 0.5 for at in started.values())
    assert server.asked  # the list was read while they waited, at their status only
    assert {asked for asked, _ in server.asked} == {int(JobStatus.WAITING_USER)}
    assert max(rows for _, rows in server.asked) == 5


def test_a_busy_scope_costs_its_parked_jobs_one_short_page_a_round() -> None:
    # 10 watched jobs wait 100 s for a confirmation in a scope where 2,500 others run (nobody
    # watches them): a round reads one page of the 10 waiting rows, where the whole window
    # was three pages of 1,000, three requests a round.
    waits = dict.fromkeys(range(1, 11), 100.0)
    server = Asked(dict.fromkeys(range(1, 11), 150.0), wait_until=waits, hosts=2)
    for name in range(11, 2_511):
        server.add(name, 1_000.0)
    watched = [server.job(name) for name in waits]

    _, ended = _watched_to_their_ends(server, waits, watched)
    assert ended == 10
    assert {asked for asked, _ in server.asked} == {int(JobStatus.WAITING_USER)}
    assert max(rows for _, rows in server.asked) == 10
    assert len(server.asked) <= 100.0 / census_round(POLICY) + 3  # one page a round


def test_a_list_that_follows_a_wait_for_the_end_is_read_whole() -> None:
    # The same jobs, the running ones waited for by ``as_completed``: their rows count too.
    waits = dict.fromkeys(range(1, 6), 100.0)
    server = Asked(dict.fromkeys(range(1, 46), 200.0), wait_until=waits)
    waiting = [server.job(name) for name in waits]
    running = [server.job(name) for name in range(6, 46)]

    async def watch(poller: Poller) -> None:
        async for _ in poller.watch_jobs(SCOPE, waiting):
            pass

    async def main() -> int:
        async with _confirming(server, waits) as (poller, tg):
            tg.start_soon(watch, poller)
            async with poller.as_completed(SCOPE, running) as finished:
                return len([status async for status in finished])

    assert run_virtual(main) == 40
    assert server.asked
    assert {asked for asked, _ in server.asked} == {None}
    assert max(rows for _, rows in server.asked) == 45


def _parked(status: int, parks: bool = True) -> Any:
    return SimpleNamespace(job=SimpleNamespace(status=status, parks=parks))


@pytest.mark.parametrize(
    ("jobs", "status"),
    [
        ([_parked(7), _parked(7)], 7),
        ([_parked(1)], 1),
        ([_parked(7), _parked(15)], None),  # two statuses: read whole, one request
        ([_parked(7), _parked(2, parks=False)], None),  # a wait for the end only
        ([_parked(7), _parked(2)], None),  # (moved, not yet let go of)
        ([], None),
    ],
)
def test_the_list_is_read_at_a_status_only_when_every_job_waits_at_it(
    jobs: list[Any], status: int | None
) -> None:
    assert waiting_at(jobs) == status


class Windows(VirtualBkJob):
    """The simulator, noting where each job list read's creation window starts (epoch ms)."""

    def __init__(self, finish_at: Mapping[int, float], **kwargs: Any) -> None:
        super().__init__(finish_at, **kwargs)
        self.starts: list[int] = []

    async def _send(self, request: Request) -> Response:
        if request.api == "get_job_instance_list":
            params = request.query if request.query is not None else json.loads(request.body or b"")
            self.starts.append(int(params["create_time_start"]))
        return await super()._send(request)


@pytest.mark.parametrize("launched", [False, True])
def test_jobs_launched_a_moment_ago_are_listed_from_a_moment_ago(launched: bool) -> None:
    # The list's first read goes back 30 days for jobs of unknown age, to a moment ago for
    # jobs launched then (a busy scope's month is not read for each batch); the rounds after
    # it narrow to the jobs' rows either way.
    server = Windows(long_deploys(20))
    jobs = list(server.ids.values())
    began = time.time() * 1000

    async def main() -> int:
        async with (
            server.client() as client,
            Poller(client, policy=POLICY) as poller,
            poller.as_completed(SCOPE, jobs, launched=launched) as finished,
        ):
            return len([status async for status in finished])

    assert run_virtual(main) == 20
    assert len(server.starts) >= 3
    month = 29 * 86_400_000
    if launched:
        assert began - 125_000 <= server.starts[0]  # (a moment ago: two minutes for clocks)
    else:
        assert server.starts[0] <= began - month
    assert all(start >= began - 125_000 for start in server.starts[1:])


def _every_transition(server: VirtualBkJob, census: bool) -> tuple[dict[tuple, float], int]:
    """Watch every job of ``server`` for every transition until they end: what was seen (and
    when, each first time), and the poller's requests; no poll was refused as too soon."""

    async def main() -> tuple[dict[tuple, float], int]:
        seen: dict[tuple, float] = {}
        async with (
            server.client() as client,
            Poller(client, policy=PollPolicy(census=census)) as poller,
        ):
            async for event in poller.watch_jobs(SCOPE, list(server.ids.values())):
                what = (
                    type(event).__name__,
                    event.job_instance_id,
                    getattr(event, "step_instance_id", None),
                    getattr(event, "previous", None),
                    getattr(event, "current", None),
                )
                seen.setdefault(what, now())
            assert poller.statistics().refused_polls == 0  # (none put off as too soon)
            return seen, poller.statistics().requests

    return run_virtual(main)


def test_a_last_host_at_work_is_left_to_the_list_and_its_end_seen_in_time() -> None:
    # 20 jobs of one step on one host, running 100-195 s: once the host runs, its end can only
    # come with the job's, which the list reads; each job is polled at its start and its end.
    finish = {name: 95.0 + 5 * name for name in range(1, 21)}
    server = VirtualBkJob(finish)
    seen, requests = _every_transition(server, census=True)
    alone_server = VirtualBkJob(finish)
    alone, alone_requests = _every_transition(alone_server, census=False)

    assert {key[0] for key in seen} >= {"HostTransition", "JobFinished"}
    assert len(seen) == len(alone)  # every transition polling each job sees, and no other
    for name, job in server.ids.items():
        assert server.polls[job] <= 3  # its first read, the read the list's row asked for
        assert alone_server.polls[alone_server.job(name)] >= 95 / POLICY.interval
        ended = seen[("JobFinished", job, None, None, None)]
        assert finish[name] <= ended <= finish[name] + POLICY.latency + 0.5
    assert server.lists <= 200 / census_round(POLICY) + 3  # one page a round
    assert requests < 0.25 * alone_requests


def test_a_last_host_with_a_step_to_come_is_polled_itself() -> None:
    # Two steps of one host each, 50 s apart: while the first runs, the second's start is a
    # change the job list cannot see (the job runs throughout), so the job is polled itself.
    server = VirtualBkJob()
    steps = [StepPlan(hosts=[HostPlan(duration=50.0)]) for _ in range(2)]
    job = server.ids[1] = server.sim.create_job(SCOPE, steps)
    second = server.sim.job(job).steps[1].step_instance_id
    seen, _ = _every_transition(server, census=True)

    started = min(at for key, at in seen.items() if key[0] == "HostTransition" and key[2] == second)
    assert 50.0 <= started <= 50.0 + POLICY.latency + 0.5
    assert server.polls[job] >= 50 / POLICY.interval  # the first step: polled every 5 s
    assert server.lists <= 50 / census_round(POLICY) + 3  # (the second step's last host only)


class NoList(VirtualBkJob):
    """The simulator behind a gateway that does not serve this app the job list (HTTP 404)."""

    def __init__(self, finish_at: Mapping[int, float], **kwargs: Any) -> None:
        super().__init__(finish_at, **kwargs)
        self.refused_lists = 0

    async def _send(self, request: Request) -> Response:
        if request.api == "get_job_instance_list":
            self.refused_lists += 1
            return Response(404, CIMultiDictProxy(CIMultiDict()), b"not found")
        return await super()._send(request)


def test_a_list_that_cannot_be_read_ends_the_census_and_every_job_is_polled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Jobs whose last host runs are left to the list; its first read is refused for good (no
    # retry fixes a 404): from then on every job is polled itself, and no end is seen late.
    finish = {name: 25.0 + 5 * name for name in range(1, 11)}
    server = NoList(finish)

    async def main() -> tuple[dict[int, float], bool]:
        ended: dict[int, float] = {}
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            async for event in poller.watch_jobs(SCOPE, list(server.ids.values())):
                if isinstance(event, JobFinished):
                    ended[event.job_instance_id] = now()
            return ended, poller.statistics().census

    with caplog.at_level(logging.WARNING, logger="bkjob_async.polling"):
        ended, census = run_virtual(main)
    assert server.refused_lists == 1
    assert not census
    assert sum("cannot be read" in r.message for r in caplog.records) == 1
    for name, job in server.ids.items():
        assert finish[name] <= ended[job] <= finish[name] + POLICY.latency + 0.5
        assert server.polls[job] >= finish[name] / POLICY.interval - 3


def test_a_busy_scope_leaves_its_running_jobs_to_their_own_polls() -> None:
    # 3 watched jobs whose last host runs 100 s, in a v4 scope where 2,500 others run (200
    # rows a page): a read at their status costs 13 pages where polling them costs 3 requests
    # a round, so after that one read they are polled themselves.
    finish = dict.fromkeys(range(1, 4), 100.0)
    server = VirtualBkJob(finish)
    for name in range(4, 2_504):
        server.add(name, 1_000.0)
    watched = [server.job(name) for name in finish]

    async def main() -> dict[int, float]:
        ended: dict[int, float] = {}
        async with (
            server.client(flavor="apigw-v4") as client,
            Poller(client, policy=POLICY) as poller,
        ):
            async for event in poller.watch_jobs(SCOPE, watched):
                if isinstance(event, JobFinished):
                    ended[event.job_instance_id] = now()
            assert poller.statistics().refused_polls == 0  # (none put off as too soon)
        return ended

    ended = run_virtual(main)
    assert server.lists == -(-2_503 // 200)  # one read (was one a round: 299 in all)
    for job in watched:
        assert 100.0 <= ended[job] <= 100.0 + POLICY.latency + 0.5
        assert server.polls[job] >= 100 / POLICY.latency - 3  # polled itself after it


def test_a_lone_job_whose_last_host_runs_is_polled_itself() -> None:
    # One job on one host, watched alone: a read of the list a round would cost what its own
    # polls cost, so it is polled itself, at its own pace, and the list is never read.
    server = VirtualBkJob({1: 100.0})
    seen, requests = _every_transition(server, census=True)
    alone_server = VirtualBkJob({1: 100.0})
    alone, alone_requests = _every_transition(alone_server, census=False)
    assert len(seen) == len(alone)
    assert server.lists == 0
    assert requests <= alone_requests + 1


def test_a_running_job_handed_back_keeps_its_own_schedule() -> None:
    # The list reads a waiting job every round; ten jobs of one host each join one round apart,
    # at phases that drift through the round, each parked at its first poll and handed back at
    # the next round (alone, it does not pay a read): it is polled next when its own schedule
    # says, never a moment after the poll that parked it.
    server = VirtualBkJob({1: 1e9, **dict.fromkeys(range(2, 12), 150.0)}, wait_until={1: 1e9})
    late = [server.job(name) for name in range(2, 12)]

    async def main() -> tuple[int, dict[int, float]]:
        ended: dict[int, float] = {}
        async with server.client() as client, Poller(client, policy=POLICY) as poller:

            async def watch(job: int, at: float) -> None:
                await anyio.sleep(at)
                async for event in poller.watch_jobs(SCOPE, [job]):
                    if isinstance(event, JobFinished):
                        ended[job] = now()

            async with poller.watch_jobs(SCOPE, [server.job(1)]), anyio.create_task_group() as tg:
                for k, job in enumerate(late):
                    tg.start_soon(watch, job, 5.0 + 4.95 * k)
            return poller.statistics().refused_polls, ended

    refused, ended = run_virtual(main)
    assert refused == 0
    assert all(150.0 <= ended[job] <= 150.0 + POLICY.latency + 0.5 for job in late)


def test_a_row_that_moved_a_moment_after_the_jobs_own_poll_waits_the_smallest_gap() -> None:
    # A job waits for a person, so the list stands for it from its first poll; a moment after
    # that poll, its row says it runs (a round of the list that came right after it): the job
    # is read itself, but never sooner than the policy's smallest gap after its last poll (a
    # poll sooner is a scheduling bug the heap refuses, counts and logs).
    server = VirtualBkJob({1: 200.0}, wait_until={1: 100.0})
    job = server.job(1)

    async def main() -> tuple[int, float, list[float]]:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            driver = poller._driver
            async for _ in poller.watch_jobs(SCOPE, [job]):
                await anyio.sleep(0.01)  # (its poll over: the job is not busy)
                watched = driver.registry.jobs.get(key(SCOPE, job))
                assert watched is not None
                assert watched.job.census  # (parked: the list reads it)
                sent = watched.sent
                driver.listed(watched, JobStatus.RUNNING)
                await anyio.sleep(3 * min_gap(POLICY))
                return poller.statistics().refused_polls, sent, list(server.sent)
        raise AssertionError("no event")

    refused, sent, polls = run_virtual(main)
    assert refused == 0
    assert polls[1] >= sent + min_gap(POLICY)  # (the second poll: read after the row moved)
    assert len(polls) == 2
