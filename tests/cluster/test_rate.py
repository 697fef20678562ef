"""The cluster-wide rate budget against a real redis-server: three worker processes stay
under the shared limit, and a 429 seen by one slows all of them (once per round trip)."""

from __future__ import annotations

import bisect
import json
import time

import anyio
import pytest

from bkjob_async.cluster import RateBudget

from .redis_server import sigcont, sigstop


def busiest_window(times_us: list[int], window_us: int) -> int:
    """Return the most grants in any window of ``window_us`` (each window starts at a grant)."""
    times = sorted(times_us)
    return max(bisect.bisect_left(times, t + window_us) - i for i, t in enumerate(times))


def test_bad_budget_settings_raise():
    from bkjob_async.cluster import Cluster

    cluster = Cluster("redis://127.0.0.1:1/0")
    with pytest.raises(ValueError, match="limit"):
        RateBudget(cluster, limit=0)
    with pytest.raises(ValueError, match="beta"):
        RateBudget(cluster, limit=10, beta=2)
    with pytest.raises(TypeError, match="limit"):
        RateBudget(cluster, limit="10")


@pytest.mark.parametrize(
    ("seconds", "window"),
    [pytest.param(3.5, 2.5, id="short"), pytest.param(7, 5, id="long", marks=pytest.mark.slow)],
)
async def test_three_worker_processes_share_one_budget(redis_server, child, seconds, window):
    limit = 100
    procs = [child("rate", redis_server.url, str(limit), str(seconds)) for _ in range(3)]
    grants = [json.loads(p.finish(timeout=40)[-1]) for p in procs]
    everything = [t for g in grants for t in g]
    assert all(len(g) > limit * seconds / 7 for g in grants)  # each worker got a real share
    # The target: requests per second over any window (5 s in the long form) <= 110.
    assert busiest_window(everything, window * 1_000_000) <= window * 110
    # GCRA's own bound: rate x window + burst + 1.
    assert busiest_window(everything, window * 1_000_000) <= window * limit + limit / 10 + 1
    # And it is not slow either: all three together used the budget they had.
    start = max(min(g) for g in grants)
    end = min(max(g) for g in grants)
    inside = sum(1 for t in everything if start <= t < end)
    assert inside >= 0.9 * limit * (end - start) / 1e6


async def test_a_429_seen_by_one_worker_slows_all_once_per_round_trip(make_cluster):
    one = RateBudget(make_cluster(), limit=100)
    two = RateBudget(make_cluster(), limit=100)
    early = await one.acquire()
    late = await one.acquire()
    began = time.monotonic()  # before the pause: the calls below may take a while on a busy box
    assert await one.throttled(late, retry_after=0.3) is True
    # A 429 to a request sent before that cut is part of the same burst: no second cut.
    assert await two.throttled(early, retry_after=0.3) is False
    assert await two.shared_rate() == pytest.approx(70)
    after = await two.acquire()  # the other worker waits out the pause too
    assert time.monotonic() - began >= 0.25
    assert after.rate == pytest.approx(70)
    # A request sent after the cut that is throttled again cuts again.
    assert await two.throttled(after, retry_after=0.05) is True
    assert await one.shared_rate() == pytest.approx(49)


async def test_the_rate_grows_back_after_quiet_seconds(make_cluster):
    budget = RateBudget(make_cluster(), limit=100, floor=10)
    permit = await budget.acquire()
    await budget.throttled(permit, retry_after=0.05)
    assert await budget.shared_rate() == pytest.approx(70)
    await anyio.sleep(1.1)  # a quiet second after the pause
    assert (await budget.acquire()).rate == pytest.approx(84)
    for _ in range(4):
        permit = await budget.acquire()
    assert permit.rate == pytest.approx(84)  # grows once per second, not per permit


async def test_the_cut_stops_at_the_floor(make_cluster):
    budget = RateBudget(make_cluster(), limit=10, floor=5, burst=20)
    for _ in range(3):
        await budget.throttled(await budget.acquire(), retry_after=0)
    assert await budget.shared_rate() == pytest.approx(5)


async def test_with_redis_unreachable_permits_come_slower_never_faster(make_cluster, redis_server):
    budget = RateBudget(make_cluster(timeout=0.2), limit=50)
    budget.share = 2
    await budget.acquire()
    sigstop(redis_server.pid)
    try:
        began = time.monotonic()
        permits = [await budget.acquire() for _ in range(20)]
        took = time.monotonic() - began
    finally:
        sigcont(redis_server.pid)
    assert all(p.sent_at is None for p in permits)
    assert permits[-1].rate == pytest.approx(25)  # the shared rate / live workers
    # 20 permits at 25/s with a burst of 2.5: at least 17 intervals of 40 ms, plus one timeout.
    assert took >= 17 * 0.04
    await anyio.sleep(1.0)
    assert (await budget.acquire()).sent_at is not None  # shared again


async def five_permits(budget: RateBudget) -> float:
    """Return how long five permits took: at least four gaps of ``1/limit`` from an empty bucket
    (on a busy machine the calls' own time counts toward a gap, so count time, not sleeps)."""
    began = time.monotonic()
    for _ in range(5):
        await budget.acquire()
    return time.monotonic() - began


async def test_a_wiped_budget_starts_empty_not_with_a_burst(make_cluster, redis_server):
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)
        await anyio.sleep(delay)

    budget = RateBudget(make_cluster(), limit=20, burst=10, sleep=sleep)
    assert await five_permits(budget) >= 0.9 * 4 / 20  # paced at 20/s from the first permit
    await anyio.sleep(0.6)  # idle: now the bucket has filled
    waits.clear()
    for _ in range(5):
        await budget.acquire()
    assert waits == []  # a burst from a full bucket
    redis_server.restart_empty()
    assert await five_permits(budget) >= 0.9 * 4 / 20  # wiped: empty again, not full
