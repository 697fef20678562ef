"""The cluster-wide rate budget against a real redis-server: three worker processes stay
under the shared limit, and a 429 seen by one slows all of them (once per round trip); a
worker's concurrent acquirers share round trips, starve no other worker, and lose no permit
when cancelled."""

from __future__ import annotations

import bisect
import json
import time
from typing import Any

import anyio
import pytest

from bkjob_async.cluster import Permit, RateBudget

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
    runs = [json.loads(p.finish(timeout=40)[-1]) for p in procs]
    grants = [run["grants"] for run in runs]
    everything = [t for g in grants for t in g]
    assert all(len(g) > len(everything) / 7 for g in grants)  # each worker got a real share
    # The target: requests per second over any window (5 s in the long form) <= 110.
    assert busiest_window(everything, window * 1_000_000) <= window * 110
    # GCRA's own bound: rate x window + burst + 1.
    assert busiest_window(everything, window * 1_000_000) <= window * limit + limit / 10 + 1
    # And it is not slow either: all three together used the budget they had, or as much of it
    # as they could ask for. Not 90 grants a second on any machine: three processes on a loaded
    # one ask fewer times than that. What they could ask for: each one's round trips over the
    # seconds the budget did not tell it to wait (a budget that grants too slowly tells them to
    # wait, and they could ask for more than they got).
    could = sum(run["asks"] / max(run["free"], 1e-3) for run in runs)
    start = max(min(g) for g in grants)
    end = min(max(g) for g in grants)
    inside = sum(1 for t in everything if start <= t < end)
    figures = (
        inside,
        (end - start) / 1e6,
        could,
        [(len(g), r["asks"], r["free"]) for g, r in zip(grants, runs, strict=True)],
    )
    assert inside >= 0.8 * min(limit, could) * (end - start) / 1e6, figures


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
    grown = await budget.acquire()
    assert grown.rate == pytest.approx(84)
    permits = [await budget.acquire() for _ in range(4)]
    # Grows once per second, not per permit: 84 until a second after it grew (Redis's clock: a
    # loaded machine's four round trips may take longer than that), then once more, to the limit.
    rates = [(p.sent_at - grown.sent_at, p.rate) for p in permits]
    assert all(r == pytest.approx(84 if at < 1_000_000 else 100) for at, r in rates), rates


async def test_the_cut_stops_at_the_floor(make_cluster):
    budget = RateBudget(make_cluster(), limit=10, floor=5, burst=20)
    for _ in range(3):
        await budget.throttled(await budget.acquire(), retry_after=0)
    assert await budget.shared_rate() == pytest.approx(5)


@pytest.mark.parametrize("acquirers", [1, 4])
async def test_with_redis_unreachable_permits_come_slower_never_faster(
    make_cluster, redis_server, acquirers
):
    budget = RateBudget(make_cluster(timeout=0.2), limit=50)
    budget.share = 2
    await budget.acquire()
    permits: list[Permit] = []

    async def take() -> None:
        for _ in range(20 // acquirers):
            permits.append(await budget.acquire())

    sigstop(redis_server.pid)
    try:
        began = time.monotonic()
        with anyio.fail_after(20):  # queued acquirers go local too, none waits on the head
            async with anyio.create_task_group() as tg:
                for _ in range(acquirers):
                    tg.start_soon(take)
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


def record_permits(budget: RateBudget) -> list[tuple[int, int]]:
    """Record each ``PERMIT`` round trip of ``budget`` as (permits asked for, permits granted)."""
    asks: list[tuple[int, int]] = []
    script = budget.cluster.script

    async def recorded(name: str, keys: list[str], args: list[Any]) -> Any:
        answer = await script(name, keys, args)
        if name == "PERMIT":
            asks.append((int(args[2]), int(answer[0])))
        return answer

    budget.cluster.script = recorded  # type: ignore[method-assign]
    return asks


async def test_a_binding_budget_serves_concurrent_acquirers_a_batch_a_round_trip(make_cluster):
    acquirers, limit, wanted = 32, 200, 320
    budget = RateBudget(make_cluster(), limit=limit)  # burst 20: up to 21 permits an ask
    asks = record_permits(budget)
    granted: list[int] = []

    async def take() -> None:
        while len(granted) < wanted:
            permit = await budget.acquire()
            assert permit.sent_at is not None
            granted.append(permit.sent_at)

    async with anyio.create_task_group() as tg:
        for _ in range(acquirers):
            tg.start_soon(take)
    # Each acquirer asking for itself made ~20 round trips a permit (8,441 for 320); the head
    # of the queue asks for the whole queue, and after a partial grant waits for the rest.
    assert len(asks) <= len(granted) / 4, (len(asks), len(granted))
    assert sum(got for _, got in asks) == len(granted)  # every permit granted went out
    assert max(most for most, _ in asks) == limit / 10 + 1
    # Still GCRA's bound over any window: rate x window + burst + 1.
    assert busiest_window(granted, 1_000_000) <= limit + limit / 10 + 1


async def take_until(
    budgets: dict[str, tuple[RateBudget, int]], wanted: int
) -> dict[str, list[int]]:
    """Run ``n`` acquirers on each named budget until ``wanted`` permits are granted in all;
    return each name's grant times. The sample is counted in grants, not seconds: a slow
    machine makes it take longer, not smaller (the hang guard is generous)."""
    grants: dict[str, list[int]] = {name: [] for name in budgets}

    async def take(budget: RateBudget, name: str) -> None:
        while True:
            permit = await budget.acquire()
            assert permit.sent_at is not None
            grants[name].append(permit.sent_at)
            if sum(map(len, grants.values())) >= wanted:  # the rest stop, granted or waiting
                tg.cancel_scope.cancel()

    with anyio.fail_after(25):  # two samples within the 60 s test timeout
        async with anyio.create_task_group() as tg:
            for name, (budget, n) in budgets.items():
                for _ in range(n):
                    tg.start_soon(take, budget, name)
    return grants


def per_second(times_us: list[int]) -> float:
    """Return the grants per second (Redis clock) between the first and the last grant."""
    return (len(times_us) - 1) * 1e6 / (max(times_us) - min(times_us))


@pytest.mark.parametrize("share", [1, 2])
async def test_one_acquirer_is_not_starved_by_a_worker_of_many(make_cluster, share):
    """A worker with 32 acquirers (asking in batches) and one with a single acquirer share a
    binding budget: neither takes it all, and together they use it (``share``: as a Worker
    sets it, the live workers; without: 1).

    Counted in grants and round trips, not in seconds: on a machine too busy to ask 100 times
    a second the one acquirer cannot take half of the budget, but it is still granted when it
    asks, and asks as often as the other worker (a starving budget refuses it, or keeps it
    waiting). The rate together is held to the many's rate alone in the same run."""
    limit = 100
    alone = RateBudget(make_cluster(), limit=limit)
    reference = per_second((await take_until({"alone": (alone, 32)}, 60))["alone"])
    many, one = RateBudget(make_cluster(), limit=limit), RateBudget(make_cluster(), limit=limit)
    many.share = one.share = share
    asks = {"many": record_permits(many), "one": record_permits(one)}
    grants = await take_until({"many": (many, 32), "one": (one, 1)}, 200)
    everything = grants["many"] + grants["one"]
    figures = {k: (len(grants[k]), len(asks[k])) for k in grants}  # (grants, round trips)
    assert len(grants["many"]) > len(everything) / 5, figures  # the one does not take it all
    assert len(grants["one"]) >= len(asks["one"]) / 4, figures  # granted when it asks
    assert len(asks["one"]) >= len(asks["many"]) / 4, figures  # and not kept waiting
    assert busiest_window(everything, 2_000_000) <= 2 * limit + limit / 10 + 1
    # Together they use the budget: as fast as the many alone (at most the limit).
    assert per_second(everything) >= 0.75 * min(limit, reference), (reference, figures)


async def test_cancelled_acquirers_lose_no_permit_and_stall_no_queue(make_cluster):
    """Of eight queued acquirers: one cancelled between its grant and its wake-up hands its
    permit to the next, the head cancelled while it waits to ask and one cancelled while
    queued take nothing, and the rest still get theirs."""
    sleeps = 0
    scopes = [anyio.CancelScope() for _ in range(8)]

    async def sleep(delay: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 1:  # the head (0) waits to ask: all queue, and the bucket fills (4)
            await anyio.wait_all_tasks_blocked()
            delay += 0.25
        elif sleeps == 2:  # the next head (5) waits to ask: cancel it, and 6 behind it
            scopes[5].cancel()
            scopes[6].cancel()
        await anyio.sleep(delay)

    budget = RateBudget(make_cluster(), limit=20, burst=3, sleep=sleep)
    asks = record_permits(budget)
    await budget.acquire()  # the bucket is empty after it: the next ask waits
    script = budget.cluster.script

    async def cancel_second(name: str, keys: list[str], args: list[Any]) -> Any:
        answer = await script(name, keys, args)
        if int(answer[0]) == 4:  # 0-3 granted: cancel 1 before it wakes up
            scopes[1].cancel()
        return answer

    budget.cluster.script = cancel_second  # type: ignore[method-assign]
    got: dict[int, Permit] = {}

    async def take(i: int) -> None:
        with scopes[i]:
            got[i] = await budget.acquire()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(take, i)
    assert sorted(got) == [0, 2, 3, 4, 7]
    assert [got for _, got in asks] == [1, 4, 1]  # 1's permit went to 4, none asked for it
    assert sum(got for _, got in asks) == len(got) + 1  # (and the first, taken alone)
