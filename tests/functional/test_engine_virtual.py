"""The engine on virtual time: rate limits, outages, deadlines; no test here waits in real time."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import anyio
import pytest

from bkjob_async import (
    ConnectError,
    JobFinished,
    JobPollFailing,
    JobPollRecovered,
    NotFoundError,
    Poller,
    PollingResumed,
    PollingStalled,
    PollPolicy,
    WatchFailed,
)
from bkjob_async.polling._decide import SEEN_MARGIN
from bkjob_async.testing import BkJobSimulator, Fault, HostPlan, MockTransport, StepPlan

from ..virtual import SCOPE, VirtualBkJob, now, run_virtual

#: Virtual time: CPU-bound polls under a 60 s timeout, too slow under coverage's tracer.
pytestmark = pytest.mark.untraced


def test_the_virtual_clock_skips_waits() -> None:
    async def main() -> float:
        start = now()
        await anyio.sleep(3600)
        return now() - start

    wall = time.monotonic()
    assert run_virtual(main) == pytest.approx(3600)
    assert time.monotonic() - wall < 5


def test_the_simulator_keeps_the_loops_time() -> None:
    """``BkJobSimulator(virtual_clock=loop.time)``: no ``advance``, the loop moves it."""
    server = VirtualBkJob({1: 600.0})

    async def main() -> tuple[float, int, float, bool]:
        start = server.sim.now()
        await anyio.sleep(599.5)
        before = server.sim.job(server.job(1)).status
        await anyio.sleep(1)
        return server.sim.now() - start, before, now(), server.sim.job(server.job(1)).finished

    moved, before, loop, finished = run_virtual(main)
    assert moved == pytest.approx(loop, abs=0.002)
    assert before == 2
    assert finished


def test_a_clock_source_never_goes_back_and_advance_adds_to_it() -> None:
    seconds = [100.0]
    sim = BkJobSimulator(virtual_clock=lambda: seconds[0])
    assert sim.now() == 0.0
    assert abs(sim.now_ms() - time.time() * 1000) < 60_000  # anchored at the wall time
    seconds[0] = 102.5
    assert sim.now() == 2.5
    seconds[0] = 50.0  # a new loop starts at 0, say: the clock holds where it was
    assert sim.now() == 2.5
    sim.advance(1.0)
    seconds[0] = 102.5
    assert sim.now() == 3.5
    with pytest.raises(ValueError, match="go back"):
        sim.advance(-1)


def _per_second(stamps: list[float], start: float, end: float) -> float:
    return sum(1 for t in stamps if start <= t < end) / (end - start)


def test_a_rate_limit_converges_near_it_and_never_collapses() -> None:
    """Demand of 4,000 polls/s against a window of 200/s with no hint: >= 0.85 R, <= 10% refused."""
    server = VirtualBkJob(dict.fromkeys(range(1, 4001), 1000000000.0), hosts=2)  # (polled)
    server.sim.set_rate_limit(200)
    jobs = list(server.ids.values())

    async def main() -> tuple[float, float]:
        policy = PollPolicy(interval=1.0, max_interval=1.0, jitter=0.0, max_in_flight=32)
        async with server.client() as client, Poller(client, policy=policy) as poller:
            watch = poller.watch_jobs(SCOPE, jobs)
            with anyio.move_on_after(40):
                async for _ in watch:
                    pass
            stats = poller.statistics()
        return stats.rate_limit or 0.0, stats.current_rate

    run_virtual(main)
    accepted = _per_second(server.answered, 10, 40)
    refused = _per_second(server.refused, 10, 40)
    assert accepted >= 0.85 * 200
    assert refused / (accepted + refused) <= 0.10
    worst = min(_per_second(server.answered, s, s + 1) for s in range(10, 40))
    assert worst >= 100  # the old halving fell to 1.4/s and stayed there for seconds


@pytest.mark.parametrize(
    "jobs",
    # 1,000 jobs ask for 2,000 polls/s, 2,000 for 4,000 (8.7 s of CPU: the long form); the
    # benchmark test_rate_limit.py polls back to back, at over 12,000/s.
    [pytest.param(1000, id="short"), pytest.param(2000, id="long", marks=pytest.mark.slow)],
)
def test_a_single_429_is_soon_forgotten(jobs: int) -> None:
    server = VirtualBkJob(dict.fromkeys(range(1, jobs + 1), 1000000000.0))
    jobs = list(server.ids.values())

    async def main() -> None:
        policy = PollPolicy(interval=0.5, max_interval=0.5, jitter=0.0, max_in_flight=32)
        async with server.client() as client, Poller(client, policy=policy) as poller:
            watch = poller.watch_jobs(SCOPE, jobs)

            async def throttle_once() -> None:
                await anyio.sleep(10)
                server.sim.inject(Fault.rate_limited(), times=1)  # the next answer is a 429

            async with anyio.create_task_group() as tg:
                tg.start_soon(throttle_once)
                with anyio.move_on_after(16):  # past the last window read (hit + 5 s)
                    async for _ in watch:
                        pass

    run_virtual(main)
    assert len(server.refused) >= 1
    hit = server.refused[0]
    before = _per_second(server.answered, hit - 5, hit)
    after = _per_second(server.answered, hit + 1, hit + 5)
    assert after >= 0.9 * before


def test_a_ten_minute_outage_ends_no_watch_and_costs_few_requests() -> None:
    """1,000 jobs; bk-job unreachable from 30 s to 630 s; every job finishes meanwhile."""
    server = VirtualBkJob({job: 60.0 + job * 0.5 for job in range(1, 1001)})  # done by 560 s
    jobs = list(server.ids.values())
    events: list = []

    async def main() -> None:
        policy = PollPolicy(interval=1.0, max_interval=15.0, max_in_flight=32)
        async with server.outage_beside(30.0, 630.0, policy=policy) as poller:
            with anyio.fail_after(2000):
                async for event in poller.watch_jobs(SCOPE, jobs):
                    events.append((now(), event))
                    if isinstance(event, PollingStalled):
                        assert poller.statistics().stalled
                    if isinstance(event, PollingResumed):
                        assert not poller.statistics().stalled

    run_virtual(main)
    finished = {e.job_instance_id: (t, e) for t, e in events if isinstance(e, JobFinished)}
    assert set(finished) == set(jobs)
    assert not [e for _, e in events if isinstance(e, WatchFailed)]
    assert all(e.status == 3 for _, e in finished.values())  # the true final state
    # Back within one max_interval plus jitter, every job polled again and reported.
    assert max(t for t, _ in finished.values()) <= 630.0 + 15.0 * 1.1 + 1.0
    stalled = [(t, e) for t, e in events if isinstance(e, PollingStalled)]
    resumed = [(t, e) for t, e in events if isinstance(e, PollingResumed)]
    assert len(stalled) == 1
    assert len(resumed) == 1
    assert 30.0 <= stalled[0][0] <= 35.0
    assert 630.0 <= resumed[0][0] <= 630.0 + 15.0 * 1.1 + 1.0
    assert resumed[0][1].since == stalled[0][1].since
    # While down: at most a few requests per second (after the first seconds of failures).
    while_down = [t for t in server.failed if 40.0 <= t < 630.0]
    assert len(while_down) / 590.0 <= 1.0


def test_a_job_alone_failing_is_that_jobs_and_no_outage() -> None:
    server = VirtualBkJob({1: 1e9, 2: 30.0})
    got: dict[int, list] = {1: [], 2: []}

    async def flaky(request):  # type: ignore[no-untyped-def]
        if request.query["job_instance_id"] == str(server.job(1)) and now() < 20.0:
            raise ConnectError("reset by a proxy")
        return await server.transport.send(request)

    async def main() -> None:
        policy = PollPolicy(interval=1.0, max_interval=4.0, max_in_flight=4, deadline=40.0)
        client = server.client(MockTransport(flaky))
        async with client, Poller(client, policy=policy) as poller:

            async def read(name: int) -> None:
                async for event in poller.watch_jobs(SCOPE, [server.job(name)]):
                    got[name].append((now(), event))
                    if name == 1 and isinstance(event, JobPollFailing):
                        assert poller.statistics().failing_jobs == 1
                        assert not poller.statistics().stalled

            async with anyio.create_task_group() as tg:
                tg.start_soon(read, 1)
                tg.start_soon(read, 2)

    run_virtual(main)
    names1 = [type(e).__name__ for _, e in got[1]]
    names2 = [type(e).__name__ for _, e in got[2]]
    assert names1[0] == "JobPollFailing"
    assert names1.count("JobPollFailing") == 1
    assert "JobPollRecovered" in names1
    failing = got[1][0][1]
    assert isinstance(failing.error, ConnectError)
    assert failing.failures >= 2  # (at its second failure or later: OUTAGE_AFTER on)
    recovered_at = next(t for t, e in got[1] if isinstance(e, JobPollRecovered))
    assert 20.0 <= recovered_at <= 20.0 + 4 * 4.0  # within its backoff's cap of the fix
    assert names1[-1] == "WatchTimedOut"  # only the deadline ended it: the budget held
    assert "PollingStalled" not in names1 + names2  # bk-job answered job 2 all along
    assert names2[-1] == "JobFinished"


def test_the_bodys_exception_leaves_the_poller_as_itself() -> None:
    server = VirtualBkJob({1: 1e9})

    async def timeout() -> None:
        async with server.client() as client, Poller(client) as poller:
            with anyio.fail_after(5):
                await poller.wait_finished(SCOPE, server.job(1))

    with pytest.raises(TimeoutError) as caught:
        run_virtual(timeout)
    assert type(caught.value) is TimeoutError  # itself, not in an ExceptionGroup

    async def missing() -> None:
        async with server.client(language="en") as client, Poller(client) as poller:
            await poller.wait_finished(SCOPE, server.job(1) + 1)  # bk-job answers 1244006

    with pytest.raises(NotFoundError) as missing_error:
        run_virtual(missing)
    assert "does not exist" in str(missing_error.value)


def test_a_watch_made_during_an_outage_hears_of_it() -> None:
    server = VirtualBkJob({1: 120.0, 2: 100.0})
    one, two = server.job(1), server.job(2)
    late: list = []

    async def main() -> None:
        policy = PollPolicy(interval=1.0, max_interval=5.0, max_in_flight=4)
        async with server.outage_beside(10.0, 60.0, policy=policy) as poller:
            first = poller.watch_jobs(SCOPE, [one])
            await anyio.sleep(30)  # bk-job has been down for 20 s
            assert poller.statistics().stalled
            with anyio.fail_after(200):
                async for event in poller.watch_jobs(SCOPE, [one, two]):
                    late.append((now(), event))
            await first.aclose()

    run_virtual(main)
    names = [type(e).__name__ for _, e in late]
    assert names[0] == "PollingStalled"
    assert names.count("PollingStalled") == 1
    assert names.count("PollingResumed") == 1
    resumed_at = next(t for t, e in late if isinstance(e, PollingResumed))
    assert 60.0 <= resumed_at <= 60.0 + 5.5 + 1.0
    assert names[-1] == "JobFinished"


def test_answers_that_end_jobs_let_the_rate_grow_again() -> None:
    """Every job is done; 429s for the first second. Each job's first answer ends it.

    Those answers must count for the rate governor, or it stays at the few requests a second
    it was cut to (the engine once took 20 s for this on the simulator).
    """
    server = VirtualBkJob(dict.fromkeys(range(1, 401), 0.0))
    jobs = list(server.ids.values())
    done: list[float] = []

    async def main() -> None:
        policy = PollPolicy(interval=0.05, max_interval=0.1, max_in_flight=8)
        async with server.outage_beside(0.0, 1.0, Fault.rate_limited(), policy=policy) as poller:
            with anyio.fail_after(60):
                async for event in poller.watch_jobs(SCOPE, jobs):
                    if isinstance(event, JobFinished):
                        done.append(now())

    run_virtual(main)
    assert len(done) == 400
    assert server.refused
    assert max(done) <= 6.0  # all 400 within a few seconds of the refusals ending


def test_statistics_count_events_handed_out_apart_from_events_observed() -> None:
    """Issue 28: ``as_completed`` of many jobs observes every change, hands out the ends."""
    from bkjob_async.polling._watch import _FINAL_EVENTS

    server = VirtualBkJob()
    jobs = [  # two steps each: host, step and job changes
        server.sim.create_job(
            SCOPE, [StepPlan(duration=1.0), StepPlan(hosts=[HostPlan(duration=1.0 + job / 10)])]
        )
        for job in range(1, 21)
    ]

    async def main():
        async with server.client() as client, Poller(client) as poller:
            got = [e async for e in poller.watch_jobs(SCOPE, jobs, events=_FINAL_EVENTS)]
            return got, poller.statistics()

    got, stats = run_virtual(main)
    assert len(got) == 20
    assert stats.events_emitted == 20  # what the consumer received
    assert stats.events_observed >= 20 * 3  # host, step and job changes, filtered out


def test_following_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        run_virtual(_follow_a_string)


async def _follow_a_string() -> None:
    server = VirtualBkJob()
    async with server.client() as client, Poller(client) as poller:
        poller.follow(SCOPE, "12")  # type: ignore[arg-type]


def test_a_hint_polls_the_job_at_once_and_a_flood_costs_one_poll_per_interval() -> None:
    """A callback (``Poller.hint``) brings a job's poll forward; the poll is the truth."""
    server = VirtualBkJob({1: 5.0, 2: 1e9})
    one, two = server.job(1), server.job(2)
    policy = PollPolicy(latency=30.0, interval=30.0, max_interval=30.0, jitter=0.0)

    async def main() -> tuple[float, int, int, int]:
        async with server.client() as client, Poller(client, policy=policy) as poller:
            watch = poller.watch_jobs(SCOPE, [one, two], events=[JobFinished])
            while server.lists < 1:  # a JobFinished-only watch: the job list follows them
                await anyio.sleep(0.01)
            await anyio.sleep(0.1)  # both listed running; the next list read is 30 s away
            assert not server.sim.job(one).finished
            await anyio.sleep(5.0 - now())  # job 1 ends, and bk-job calls back
            assert server.sim.job(one).finished
            before = dict(server.polls)
            start = now()
            for _ in range(1000):  # a flood: one real, many replayed, some for unknown jobs
                poller.hint(one)
                poller.hint(two)
                poller.hint(99)
            async for event in watch:
                assert isinstance(event, JobFinished)
                seen_after = now() - start
                break
            polls_1 = server.polls[one] - before.get(one, 0)
            polls_2 = server.polls[two] - before.get(two, 0)
            await watch.aclose()
            return seen_after, polls_1, polls_2, poller.statistics().hinted_polls

    seen_after, polls_1, polls_2, hinted = run_virtual(main)
    assert seen_after < 1.0  # not the 30 s of its schedule
    assert polls_1 == 1  # one poll for a thousand hints
    assert polls_2 == 1  # a stray hint for a running job: one poll, no event, no more
    assert hinted == 2


def test_jobs_launched_a_moment_ago_are_first_polled_once_their_hosts_have_started() -> None:
    """``launched=True``: a job's first poll comes ``soon`` after the watch began (2.5 s at the
    defaults, less a share of the jitter), not at once; one the poller polls already keeps its
    schedule; ``Watch.add`` takes the flag too; anything but a bool is refused."""
    server = VirtualBkJob(dict.fromkeys(range(1, 61), 1e9), hosts=2)  # (polled: not parked)
    jobs = list(server.ids.values())
    fresh, plain, added = jobs[:20], jobs[20:40], jobs[40:]

    async def main() -> tuple[dict[int, list[int]], int]:
        counts: dict[int, list[int]] = {job: [] for job in jobs}
        async with server.client() as client, Poller(client) as poller:
            for bad in (1, "yes", None):
                with pytest.raises(TypeError, match="launched must be a bool"):
                    poller.watch_jobs(SCOPE, fresh, launched=bad)  # type: ignore[arg-type]
            one = poller.watch_jobs(SCOPE, fresh, launched=True)
            async with one, poller.watch_jobs(SCOPE, plain):
                await one.add(SCOPE, added, launched=True)
                for at in (0.5, 2.2, 2.55):  # seconds after the watches began
                    await anyio.sleep(at - now())
                    for job in jobs:
                        counts[job].append(server.polls[job])
                # Watched again as launched, a job polled already keeps its schedule.
                before = server.polls[plain[0]]
                async with poller.watch_jobs(SCOPE, plain[:1], launched=True):
                    await anyio.sleep(1.0)
                again = server.polls[plain[0]] - before
        return counts, again

    counts, again = run_virtual(main)
    for job in fresh + added:
        assert counts[job] == [0, 0, 1], job  # first polled within (2.25 s, 2.5 s]
    for job in plain:
        assert counts[job][0] == 1, job  # at once
    assert again == 0


def test_the_first_answer_after_an_outage_resumes_every_watch_at_once() -> None:
    """A watch hears ``PollingResumed`` at bk-job's first answer, not after every job's poll."""
    server = VirtualBkJob(dict.fromkeys(range(1, 201), 1e9))
    jobs = list(server.ids.values())
    events: list = []

    async def main() -> None:
        policy = PollPolicy(interval=5.0, max_interval=15.0)
        async with server.outage_beside(10.0, 60.0, policy=policy) as poller:
            with anyio.move_on_after(120):
                async for event in poller.watch_jobs(SCOPE, jobs, events=[PollingResumed]):
                    events.append((now(), event))

    run_virtual(main)
    first_answer = min(t for t in server.answered if t >= 60.0)
    (resumed,) = [t for t, e in events if isinstance(e, PollingResumed)]
    assert resumed - first_answer < 0.1  # not the rephase's spread of up to one interval


def test_a_watch_whose_last_stalled_job_ends_hears_that_it_resumed() -> None:
    from bkjob_async import ServerError
    from bkjob_async.polling._subscription import _Subscription

    sub = _Subscription(SCOPE, (1, 2), None, 100)
    since = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    sub.stall(1, since, ServerError("502"))
    sub.end_job(1, None)  # its deadline passed, say: job 2 goes on, nothing is stalled now
    kinds = [type(sub.mailbox.get_nowait()).__name__ for _ in range(len(sub.mailbox))]
    assert kinds == ["PollingStalled", "PollingResumed"]


def test_a_running_job_is_polled_latency_apart_from_send_to_send_however_slow_its_answers() -> None:
    """Answers take 1 s: a job at the bound (5 s) is still polled every 5 s (less
    ``SEEN_MARGIN``), not every 6 s: the gap runs from send to send, whatever the answers take."""
    server = VirtualBkJob({1: 1000.0}, latency=1.0)

    async def main() -> None:
        async with server.client() as client, Poller(client) as poller:
            with anyio.move_on_after(60):
                async for _ in poller.watch_jobs(SCOPE, [server.job(1)]):
                    pass

    run_virtual(main)
    polls = [t for t in server.sent if t > 10.0]  # (past the first poll's changes)
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert len(gaps) >= 8
    assert all(gap == pytest.approx(5.0 * (1 - SEEN_MARGIN), abs=0.01) for gap in gaps), gaps
