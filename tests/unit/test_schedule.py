"""The pure schedule (``polling._decide``): intervals, phases, retry budget."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bkjob_async import PollPolicy
from bkjob_async.polling._decide import (
    RetryBudget,
    cap,
    first_delay,
    job_backoff,
    min_gap,
    next_interval,
    soon,
)


def test_interval_grows_while_unchanged_and_resets_on_change() -> None:
    policy = PollPolicy(interval=1.0, max_interval=5.0, growth=2.0, jitter=0.0)
    rng = random.Random(0)
    top = cap(policy, True)
    base, _ = next_interval(policy, 0.0, policy.interval, rng, top)
    assert base == 1.0
    seen = []
    for _ in range(5):
        base, delay = next_interval(policy, base, 0.0, rng, top)
        seen.append(delay)
    assert seen == [2.0, 4.0, 4.95, 4.95, 4.95]  # (5 s is the latency bound too: SEEN_MARGIN)
    assert next_interval(policy, base, 1.0, rng, top) == (1.0, 1.0)


@pytest.mark.parametrize("current", [0.0, 1e-9, 0.3, -1.0])
def test_an_unchanged_answer_never_shrinks_the_interval_below_interval(current: float) -> None:
    # A restored or remembered job starts at 0: growing 0 by 1.5 once polled it nonstop.
    policy = PollPolicy(interval=1.0, max_interval=5.0, growth=1.5, jitter=0.0)
    base, delay = next_interval(policy, current, 0.0, random.Random(0), cap(policy, True))
    assert (base, delay) == (1.0, 1.0)


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.6, 0.9])
def test_min_gap_bounds_every_delay_the_schedule_gives(jitter: float) -> None:
    policy = PollPolicy(interval=2.0, max_interval=30.0, jitter=jitter)
    rng = random.Random(3)
    gap = min_gap(policy)
    answers = [
        next_interval(policy, c, ch * soon(policy), rng, cap(policy, waiting))[1]
        for c in (0, 2, 9)
        for ch in (0, 1)
        for waiting in (False, True)
    ] * 50
    retries = [job_backoff(n, policy, rng) for n in range(1, 8)] * 50
    assert min(answers + retries) >= gap
    assert gap == soon(policy) * min(1 - jitter, 0.5)


def test_min_gap_follows_a_latency_below_the_interval() -> None:
    policy = PollPolicy(latency=1.0, interval=2.0, max_interval=30.0, jitter=0.1)
    assert min_gap(policy) == 2.0 * 0.5  # the interval wins over a shorter latency
    assert soon(policy) == 2.0  # no quicker polls at a step's turn either
    assert cap(policy, False) == 2.0


def test_jitter_only_shortens_a_gap() -> None:
    policy = PollPolicy(interval=1.0, jitter=0.1)
    rng = random.Random(1)
    delays = [next_interval(policy, 1.0, 1.0, rng, cap(policy, False))[1] for _ in range(1000)]
    assert 0.9 <= min(delays) < 0.92
    assert 0.98 < max(delays) <= 1.0  # never past the base: the latency bound holds


@pytest.mark.parametrize("current", [0.0, 1.0, 4.9, 5.0, 14.0, 15.0, 60.0])
@pytest.mark.parametrize("changed", [True, False])
def test_a_job_that_may_change_is_polled_within_the_latency(current, changed) -> None:
    policy = PollPolicy(latency=5.0, interval=1.0, max_interval=15.0)
    rng, top = random.Random(2), cap(policy, False)
    for _ in range(50):
        base, delay = next_interval(policy, current, changed * policy.interval, rng, top)
        assert policy.interval <= base <= 5.0
        assert delay <= 5.0


def test_a_job_waiting_for_a_person_backs_off_to_max_interval() -> None:
    policy = PollPolicy(latency=5.0, interval=5.0, max_interval=60.0, growth=1.5, jitter=0.0)
    rng = random.Random(3)
    base, bases = 0.0, []
    for _ in range(10):
        base, _ = next_interval(policy, base, 0.0, rng, cap(policy, True))
        bases.append(base)
    assert bases[:4] == [5.0, 7.5, 11.25, 16.875]
    assert bases[-1] == 60.0
    running = next_interval(policy, 60.0, 0.0, rng, cap(policy, False))[0]
    assert running == 5.0  # it started by itself: back to the bound at once


def test_an_interval_above_the_latency_wins_and_no_latency_means_no_bound() -> None:
    rng = random.Random(4)
    slow = PollPolicy(latency=5.0, interval=10.0, max_interval=30.0, jitter=0.0)
    assert next_interval(slow, 30.0, 0.0, rng, cap(slow, False))[0] == 10.0
    unbound = PollPolicy(latency=None, interval=1.0, max_interval=15.0, jitter=0.0)
    assert next_interval(unbound, 15.0, 0.0, rng, cap(unbound, False))[0] == 15.0


def test_first_polls_of_consecutive_ids_spread_evenly() -> None:
    policy = PollPolicy(interval=10.0)
    offsets = [first_delay(policy, job_id) for job_id in range(100_000, 110_000)]
    assert all(0 <= o < 10.0 for o in offsets)
    per_second = Counter(int(o) for o in offsets)
    # Even load: max/mean of polls per second <= 1.3 (anchors, target 6).
    assert max(per_second.values()) / (len(offsets) / 10) <= 1.3
    assert first_delay(policy, 123) == first_delay(policy, 123)  # stable across restarts


def test_retry_budget_allows_a_share_plus_a_floor() -> None:
    budget = RetryBudget(ratio=0.25, floor=10.0)

    def spend(now: float, requests: int, tries: int) -> int:
        nonlocal budget
        spent = 0
        for _ in range(tries):
            budget, allowed = budget.withdraw(now, requests)
            spent += allowed
        return spent

    now = 0.0
    assert spend(now, 0, 100) == 10  # the initial floor only
    assert spend(now, 100, 100) == 25  # 100 requests earn 25
    assert spend(now + 0.5, 100, 100) == 5  # the floor: 10/s
