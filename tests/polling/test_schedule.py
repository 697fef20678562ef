"""The pure schedule: policy checks, intervals, phases, backoff, retry budget, rate governor."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bkjob_async import PollPolicy
from bkjob_async.polling._schedule import (
    RateGovernor,
    RetryBudget,
    error_delay,
    first_delay,
    next_interval,
)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": 0},
        {"interval": 2.0, "max_interval": 1.0},
        {"growth": 0.5},
        {"jitter": 1.0},
        {"max_in_flight": 0},
        {"rate_limit": -1},
        {"deadline": 0},
        {"max_retries": -1},
        {"retry_budget": 2},
        {"buffer_size": 0},
    ],
)
def test_policy_rejects_nonsense(kwargs) -> None:
    with pytest.raises((ValueError, TypeError)):
        PollPolicy(**kwargs)


def test_interval_grows_while_unchanged_and_resets_on_change() -> None:
    policy = PollPolicy(interval=1.0, max_interval=5.0, growth=2.0, jitter=0.0)
    rng = random.Random(0)
    base, _ = next_interval(policy, 0.0, True, rng)
    assert base == 1.0
    seen = []
    for _ in range(5):
        base, delay = next_interval(policy, base, False, rng)
        seen.append(delay)
    assert seen == [2.0, 4.0, 5.0, 5.0, 5.0]
    assert next_interval(policy, base, True, rng) == (1.0, 1.0)


def test_jitter_stays_within_its_band() -> None:
    policy = PollPolicy(interval=1.0, jitter=0.1)
    rng = random.Random(1)
    delays = [next_interval(policy, 1.0, True, rng)[1] for _ in range(1000)]
    assert 0.9 <= min(delays) < 0.92
    assert 1.08 < max(delays) <= 1.1


def test_first_polls_of_consecutive_ids_spread_evenly() -> None:
    policy = PollPolicy(interval=10.0)
    offsets = [first_delay(policy, job_id) for job_id in range(100_000, 110_000)]
    assert all(0 <= o < 10.0 for o in offsets)
    per_second = Counter(int(o) for o in offsets)
    # Even load: max/mean of polls per second <= 1.3 (anchors, target 6).
    assert max(per_second.values()) / (len(offsets) / 10) <= 1.3
    assert first_delay(policy, 123) == first_delay(policy, 123)  # stable across restarts


def test_error_backoff_is_capped_full_jitter() -> None:
    policy = PollPolicy(interval=1.0, max_interval=8.0)
    rng = random.Random(2)
    for failures, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (30, 8.0)]:
        delays = [error_delay(policy, failures, rng) for _ in range(500)]
        assert min(delays) >= 0.05
        assert max(delays) <= cap
        assert max(delays) > 0.8 * cap


def test_retry_budget_allows_a_share_plus_a_floor() -> None:
    budget = RetryBudget(ratio=0.25, floor=10.0)
    now = 0.0
    spent = sum(budget.withdraw(now, 0) for _ in range(100))
    assert spent == 10  # the initial floor only
    assert sum(budget.withdraw(now, 100) for _ in range(100)) == 25  # 100 requests earn 25
    assert sum(budget.withdraw(now + 0.5, 100) for _ in range(100)) == 5  # the floor: 10/s


def test_governor_without_limit_never_waits() -> None:
    governor = RateGovernor(None)
    assert all(governor.take(t / 1000) for t in range(1000))
    assert governor.wait(5.0) == 0.0


def test_governor_paces_a_limit() -> None:
    governor = RateGovernor(10.0)
    sent = [t / 1000 for t in range(2000) if governor.take(t / 1000)]
    assert 19 <= len(sent) <= 22  # 10 per second over 2 s (plus the first token)


def test_governor_pauses_on_throttle_then_halves_and_recovers() -> None:
    governor = RateGovernor(None)
    governor.throttled(10.0, retry_after=2.0, observed_rate=40.0)
    assert governor.rate == 20.0
    assert not governor.take(11.0)
    assert governor.wait(11.0) == pytest.approx(1.0)
    assert governor.take(12.0)  # the first request right when the pause ends
    assert not governor.take(12.0)  # the next one waits for the new rate
    assert governor.take(12.06)
    for second in range(13, 40):
        governor.succeeded(float(second))
    assert governor.rate is None  # well above the throttled rate: no limit again


def test_governor_never_throttles_below_one_per_second() -> None:
    governor = RateGovernor(None)
    for t in range(10):
        governor.throttled(float(t), retry_after=None, observed_rate=0.1)
    assert governor.rate == 1.0


def test_governor_recovers_only_up_to_its_limit() -> None:
    governor = RateGovernor(8.0)
    governor.throttled(0.0, retry_after=0.0, observed_rate=100.0)
    assert governor.rate == 4.0
    for second in range(1, 20):
        governor.succeeded(float(second))
    assert governor.rate == 8.0
