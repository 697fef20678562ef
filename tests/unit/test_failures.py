"""The failure policy: what ends a watch, job backoff, and the outage's probes; pure."""

from __future__ import annotations

import random

import pytest

from bkjob_async import errors
from bkjob_async.polling._failures import (
    OUTAGE_AFTER,
    STALL_AFTER,
    Kind,
    Outage,
    classify,
    job_backoff,
)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (errors.NotFoundError("gone"), Kind.PERMANENT),
        (errors.PermissionDeniedError("no"), Kind.PERMANENT),
        (errors.InvalidRequestError("bad"), Kind.PERMANENT),
        (errors.OperationNotAllowedError("bad"), Kind.PERMANENT),
        (errors.AuthenticationError("who"), Kind.PERMANENT),
        (errors.RateLimitedError("slow", code=1306429), Kind.THROTTLED),
        (errors.RateLimitedError("quota", code=1244032), Kind.THROTTLED),
        (errors.ServerError("503", http_status=503), Kind.TRANSIENT),
        (errors.ConnectError("refused"), Kind.TRANSIENT),
        (errors.TimeoutError("read"), Kind.TRANSIENT),
        (errors.TransportError("reset"), Kind.TRANSIENT),
        (errors.ResponseFormatError("html"), Kind.MALFORMED),  # retried, up to a limit
        (errors.ApiError("unknown code", code=123), Kind.TRANSIENT),
    ],
)
def test_only_permanent_errors_end_a_watch(exc: errors.BkJobError, kind: Kind) -> None:
    assert classify(exc) is kind


def test_job_backoff_grows_jittered_and_capped() -> None:
    rng = random.Random(1)
    for failures in range(1, 40):
        top = min(15.0, 1.0 * 2 ** (failures - 1))
        delays = [job_backoff(failures, 1.0, 15.0, rng) for _ in range(200)]
        assert all(top / 2 <= d <= top for d in delays)
    assert len({round(job_backoff(5, 1.0, 15.0, rng), 6) for _ in range(50)}) > 40


def test_a_few_failures_are_not_an_outage() -> None:
    outage = Outage(cap=15.0, hold=11.0)
    rng = random.Random(1)
    # Failures within OUTAGE_AFTER of the last answer: bk-job still answers other polls.
    for i in range(10):
        outage, began = outage.failed(0.1 * i, 0.0, rng)
        assert not began
    assert not outage.down
    # Many failures with no answer for OUTAGE_AFTER seconds: bk-job is down.
    outage, began = outage.failed(OUTAGE_AFTER + 0.5, 0.0, rng)
    assert began
    assert outage.down


def test_fewer_than_stall_after_failures_are_never_an_outage() -> None:
    outage = Outage(cap=15.0, hold=11.0)
    rng = random.Random(1)
    for i in range(STALL_AFTER - 1):
        outage, began = outage.failed(100.0 + i, 0.0, rng)
        assert not began


def test_an_outage_is_a_value() -> None:
    outage = Outage(cap=15.0, hold=11.0)
    after, _ = outage.failed(10.0, 0.0, random.Random(1))
    assert outage == Outage(cap=15.0, hold=11.0)  # the old value is unchanged
    assert after.failures == 1


def _down(rng: random.Random) -> Outage:
    outage = Outage(cap=15.0, hold=11.0)
    for i in range(STALL_AFTER):
        outage, _ = outage.failed(10.0 + i, 0.0, rng)
    assert outage.down
    return outage


def test_an_outage_lets_one_probe_through_at_a_time_with_capped_backoff() -> None:
    rng = random.Random(3)
    outage = _down(rng)
    now = 12.0
    gaps = []
    for _ in range(12):
        wait = outage.wait(now)
        assert wait > 0
        assert not outage.allows(now)[1]
        now += wait
        outage, allowed = outage.allows(now)
        assert allowed  # the probe
        assert not outage.allows(now)[1]  # and no other poll while it is out
        gaps.append(wait)
        now += 0.01
        outage, _ = outage.failed(now, 0.0, rng)
    assert gaps[0] <= 2.0
    assert all(g <= 15.0 for g in gaps)
    assert gaps[-1] >= 7.5  # grown to the cap (jittered down to half at most)
    assert sum(gaps) / len(gaps) > 4.0


def test_a_lost_probe_frees_the_next_one_after_its_hold() -> None:
    rng = random.Random(3)
    outage = _down(rng)
    now = 20.0
    outage, allowed = outage.allows(now)
    assert allowed
    assert not outage.allows(now + 10.0)[1]
    assert outage.allows(now + 11.0)[1]


def test_an_answer_ends_the_outage() -> None:
    rng = random.Random(3)
    outage = _down(rng)
    outage, ended = outage.succeeded()
    assert ended
    assert not outage.down
    assert outage.allows(0.0)[1]
    assert not outage.succeeded()[1]
