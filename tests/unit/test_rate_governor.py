"""The rate governor on a virtual timeline: pacing, one cut per round trip, convergence, hints."""

from __future__ import annotations

import heapq
import math
import random

import pytest

from bkjob_async.polling._rate import BETA, MIN_RATE, RateGovernor, parse_retry_after


def _answered(governor: RateGovernor, t: float, sent: int, answers: int) -> tuple[int, int]:
    """At ``t``, send what the governor lets go, every request answered, and sample when due;
    return the counts of sent requests and answers after it."""
    if governor.take(t):
        sent += 1
        answers += 1
        governor.succeeded(t)
    if t >= governor.sample_due:
        governor.sample(t, sent, answers)
    return sent, answers


def test_without_limit_it_never_waits() -> None:
    governor = RateGovernor(None)
    assert all(governor.take(t / 1000) for t in range(1000))
    assert governor.wait(5.0) == 0.0


def test_it_paces_a_limit() -> None:
    governor = RateGovernor(10.0)
    sent = [t / 1000 for t in range(2000) if governor.take(t / 1000)]
    assert 19 <= len(sent) <= 22  # 10 per second over 2 s (plus the first token)


def _steady(governor: RateGovernor, rate: float, until: float) -> tuple[float, int]:
    """Feed the governor ``rate`` answered requests per second up to ``until``."""
    sent = 0
    t = 0.0
    while t < until:
        t += 1.0 / rate
        sent += 1
        if t >= governor.sample_due:
            governor.sample(t, sent, sent)
    return t, sent


def test_a_burst_of_throttles_in_flight_is_one_cut() -> None:
    governor = RateGovernor(None)
    now, answers = _steady(governor, 1000.0, 3.0)
    # 32 requests sent before the first 429 came back all come back 429 too.
    assert governor.throttled(now, now - 0.004, answers)
    cut = governor.rate
    assert cut == pytest.approx(BETA * 1000.0, rel=0.05)
    for i in range(31):
        assert not governor.throttled(now + 0.0001 * i, now - 0.003, answers)
    assert governor.rate == cut
    assert governor.cuts == 1
    # A request sent after the cut that is throttled again is a new signal.
    assert governor.throttled(now + 0.01, now + 0.005, answers)
    assert governor.cuts == 2


def test_a_throttle_in_the_first_moments_cuts_from_what_got_through() -> None:
    governor = RateGovernor(None)
    # 100 answers in the first 50 ms, then a 429: no full sample was taken yet.
    governor.throttled(0.05, 0.049, 100)
    assert governor.rate is not None
    assert governor.rate == pytest.approx(BETA * 2000.0, rel=0.01)  # not 1/s


def test_after_a_cut_the_rate_grows_back_then_probes_beyond() -> None:
    governor = RateGovernor(None)
    now, answers = _steady(governor, 500.0, 3.0)
    governor.throttled(now, now, answers)
    rates = []
    for i in range(1, 81):
        t = now + i * 0.05
        governor.sample(t, answers + 500 * i // 20, answers + 500 * i // 20)
        governor.succeeded(t)
        rates.append(governor.rate)
    assert rates == sorted(rates)  # never down without a throttle
    assert rates[19] == pytest.approx(500.0, rel=0.05)  # back to the cut-from rate at 1 s..2 s
    assert rates[39] == pytest.approx(500.0, rel=0.05)
    assert rates[-1] > 500.0  # then probing beyond it (capped at twice what is sent)
    assert rates[-1] <= 2 * 500.0 + 1e-9


def test_the_rate_never_falls_below_the_floor() -> None:
    governor = RateGovernor(None)
    for t in range(50):
        governor.throttled(float(t), float(t) - 0.001, 0)
    assert governor.rate == MIN_RATE


def test_growth_stops_at_the_configured_limit() -> None:
    governor = RateGovernor(8.0)
    governor.sample(1.0, 8, 8)
    governor.throttled(1.0, 0.99, 8)
    assert governor.rate == pytest.approx(BETA * 8.0)
    for i in range(1, 100):
        governor.sample(1.0 + i, 8 + 8 * i, 8 + 8 * i)
        governor.succeeded(1.0 + i)
    assert governor.rate == 8.0


def test_retry_after_pauses_everything() -> None:
    governor = RateGovernor(None)
    governor.throttled(10.0, 9.99, 0, retry_after=2.0)
    assert not governor.take(11.0)
    assert governor.wait(11.0) == pytest.approx(1.0)
    assert governor.take(12.0)


def test_retry_after_is_capped() -> None:
    governor = RateGovernor(None)
    governor.pause(0.0, 10_000.0)
    assert governor.wait(0.0) == 60.0


def test_remaining_and_reset_cap_the_rate_until_the_window_ends() -> None:
    governor = RateGovernor(None)
    governor.hint(0.0, "90", "11", wall=0.0)  # 90 left, window ends in (10, 11] s
    assert governor.rate == pytest.approx(9.0)
    governor.succeeded(5.0)
    assert governor.rate == pytest.approx(9.0)
    governor.succeeded(10.5)  # the window is over: the cap lifts
    assert governor.rate is None


def test_a_reset_of_one_second_caps_nothing() -> None:
    # The gateway rounds up: "1" means the window ends within a second, maybe now.
    governor = RateGovernor(None)
    governor.hint(0.0, "0", "1", wall=0.0)
    assert governor.rate is None


def test_an_epoch_reset_is_read_as_a_time() -> None:
    governor = RateGovernor(None)
    governor.hint(0.0, "20", "1700000011", wall=1_700_000_000.0)
    assert governor.rate == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [("x", "5"), ("5", "x"), ("-1", "5"), ("5", "nan"), (None, "5")])
def test_bad_hints_are_ignored(bad) -> None:
    governor = RateGovernor(None)
    governor.hint(0.0, bad[0], bad[1], wall=0.0)
    assert governor.rate is None


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("2.5", 0.0) == 2.5
    assert parse_retry_after("-3", 0.0) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("soon", 0.0) is None
    assert parse_retry_after(None, 0.0) is None
    assert parse_retry_after("inf", 0.0) is None


# --- closed loop: the governor driving workers against a fixed-window server ----------------


def _run(
    *,
    window_limit: int | None,
    seconds: float,
    workers: int = 32,
    latency: float = 0.005,
    demand: float = 2000.0,
    single_429_at: float | None = None,
) -> tuple[list[int], list[int], RateGovernor]:
    """Simulate workers polling through the governor; return accepted and refused per second.

    The server admits ``window_limit`` requests per one-second window (like the gateway's
    ``bk-rate-limit``) and refuses the rest with a 429 and no hint at all. Each worker can do
    ``demand / workers`` polls per second when nothing holds it back.
    """
    rng = random.Random(7)
    governor = RateGovernor(None)
    events: list[tuple[float, int, str, float]] = [(0.0, w, "try", 0.0) for w in range(workers)]
    heapq.heapify(events)
    window_start, used, sent, ok = 0.0, 0, 0, 0
    accepted = [0] * math.ceil(seconds)
    refused = [0] * math.ceil(seconds)
    thrown = False
    while events:
        now, worker, kind, sent_at = heapq.heappop(events)
        if now >= seconds:
            break
        if now >= governor.sample_due:
            governor.sample(now, sent, ok)
        if kind == "try":
            wait = governor.wait(now)
            if wait > 0 or not governor.take(now):
                heapq.heappush(events, (now + max(wait, 0.001), worker, "try", 0.0))
                continue
            sent += 1
            heapq.heappush(events, (now + latency * (0.5 + rng.random()), worker, "answer", now))
            continue
        arrived = (now + sent_at) / 2
        if arrived - window_start >= 1.0:
            window_start, used = arrived, 0
        admitted = window_limit is None or used < window_limit
        if single_429_at is not None and not thrown and now >= single_429_at:
            admitted, thrown = False, True
        if admitted:
            used += 1
            ok += 1
            accepted[int(now)] += 1
            governor.succeeded(now)
        else:
            refused[int(now)] += 1
            governor.throttled(now, sent_at, ok)
        heapq.heappush(events, (now + workers / demand, worker, "try", 0.0))
    return accepted, refused, governor


def test_a_real_rate_limit_converges_near_it() -> None:
    accepted, refused, governor = _run(window_limit=200, seconds=60.0)
    steady_ok, steady_refused = sum(accepted[10:]), sum(refused[10:])
    assert steady_ok / 50 >= 0.85 * 200
    assert steady_refused / (steady_ok + steady_refused) <= 0.10
    assert min(accepted[10:]) >= 100  # never collapses (the old halving fell to 1.4/s)
    assert governor.cuts > 5  # it keeps probing


def test_a_single_429_costs_little_and_recovers_within_seconds() -> None:
    baseline, _, _ = _run(window_limit=None, seconds=20.0)
    accepted, refused, governor = _run(window_limit=None, seconds=20.0, single_429_at=10.0)
    assert sum(refused) == 1
    assert governor.cuts == 1
    unthrottled = sum(baseline[5:10]) / 5
    assert accepted[10] >= 0.7 * unthrottled
    assert min(accepted[11:15]) >= 0.9 * unthrottled  # back within 5 s (here: 1 s)


def test_a_spell_of_refusals_is_climbed_out_of_within_seconds() -> None:
    """The server refuses everything for a second, then admits all again."""
    governor = RateGovernor(None)
    now, answers = _steady(governor, 1000.0, 5.0)
    sent = answers
    t = now
    while t < now + 1.0:  # every request refused
        wait = governor.wait(t)
        t += max(wait, 0.001)
        if governor.take(t):
            sent += 1
            governor.throttled(t + 0.002, t, answers)
        if t >= governor.sample_due:
            governor.sample(t, sent, answers)
    refused = sent - answers
    assert refused < 400  # it slowed down at once (unthrottled: 1,000)
    back = None
    while t < now + 10.0:
        t += 0.001
        sent, answers = _answered(governor, t, sent, answers)
        if back is None and governor.rate >= 900:
            back = t - (now + 1.0)
    assert back is not None
    assert back <= 5.0


def test_a_burst_of_refusals_early_on_does_not_leave_a_crawl() -> None:
    """A few answers, then a dozen 429s in a row (each sent after the last cut), then none.

    (The engine once took more than 10 s to get going again after this, on the simulator.)
    """
    governor = RateGovernor(None)
    t = 0.02
    answers = 3
    for _ in range(12):
        t += 0.01
        assert governor.throttled(t, t - 0.001, answers)
    assert governor.rate is not None
    low = governor.rate
    sent = answers + 12
    while t < 3.0:
        t += 0.001
        sent, answers = _answered(governor, t, sent, answers)
    assert governor.rate >= 100.0 > low  # the target (150/s seen at first) is kept


def test_refused_from_the_start_it_aims_back_at_what_it_sent() -> None:
    governor = RateGovernor(None)
    # 40 requests in the first 20 ms, every one refused: no goodput to go by.
    assert governor.throttled(0.02, 0.019, 0, requests=40)
    assert governor.rate == MIN_RATE
    for i in range(1, 6):  # still refused: the rate stays down, the target stays
        governor.throttled(0.02 + i * 0.2, 0.02 + i * 0.2 - 0.001, 0, requests=40 + i)
    t = 1.5
    governor.succeeded(t)
    for _ in range(1000):  # answers again from 1.5 s on
        t += 0.002
        governor.succeeded(t)
    assert governor.rate is not None
    assert governor.rate >= 1000.0  # back near the 2,000/s it was sending, within 2 s


def test_a_throttle_right_after_an_outage_cuts_nothing() -> None:
    # Issue 85: 100/s answered, then bk-job down 20 s (nothing answers, nothing sampled but
    # the failures' throttle-free zero), then back: the catch-up's first 429 is no sign
    # that we overload it.
    governor = RateGovernor(None)
    now, sent = _steady(governor, 100.0, 3.0)
    governor.throttled(now, now - 0.05, sent, requests=sent)  # on, near 70/s
    settled = now + 5.0
    governor.succeeded(settled)
    rate = governor.rate
    assert rate is not None
    assert rate > 50.0
    back = settled + 20.0  # down meanwhile: nothing sampled
    governor.resumed(back, sent + 20, sent)
    assert not governor.throttled(back + 0.05, back + 0.01, sent + 3, requests=sent + 40)
    assert governor.rate == rate
    # Once a sample after the outage says what bk-job admits, a throttle cuts as ever.
    governor.sample(back + 0.6, sent + 60, sent + 50)
    assert governor.throttled(back + 0.7, back + 0.65, sent + 55, requests=sent + 70)
    assert governor.rate is not None
    assert governor.rate < rate


def test_without_the_resume_the_outage_would_halve_the_rate() -> None:
    # The same without ``resumed``: the first sample after it spans the outage (goodput near
    # 0), and the 429 cuts to the floor; what ``resumed`` prevents.
    governor = RateGovernor(None)
    now, sent = _steady(governor, 100.0, 3.0)
    governor.throttled(now, now - 0.05, sent, requests=sent)
    governor.succeeded(now + 5.0)
    rate = governor.rate
    assert rate is not None
    back = now + 25.0
    governor.sample(back, sent + 20, sent + 1)
    assert governor.throttled(back + 0.05, back + 0.01, sent + 3, requests=sent + 40)
    assert governor.rate is not None
    assert governor.rate <= rate / 2
