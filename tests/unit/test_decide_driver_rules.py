"""The rules the driver asks besides a poll's (``_decide``): who a failure is blamed on, what an
outage does to each job, the hint limit, whether the job list follows a job, and what a read of
the list means. Tables on virtual time, with no driver."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, NamedTuple

import pytest

from bkjob_async import PollPolicy, errors
from bkjob_async.models import HostResult
from bkjob_async.polling._decide import (
    Blame,
    Health,
    ListRead,
    Rules,
    blame,
    cover,
    hinted,
    joined_at,
    list_read,
    outage_began,
    outage_ended,
    unlisted,
    unparked,
    unparked_at,
)
from bkjob_async.polling._jobs import PolledJob
from bkjob_async.polling.events import HostTransition, JobFinished, WatchFailed

from ..scripted import SCOPE

POLICY = PollPolicy(interval=1.0, max_interval=15.0, latency=5.0)
WALL = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)
JOB = PolledJob(SCOPE, 7)
TIMEOUT = errors.TimeoutError("read")


def rules() -> Rules:
    def host(key: Any, code: int, row: dict[str, Any]) -> HostResult:
        raise AssertionError("no host is read here")

    return Rules.of(POLICY, random.Random(1), lambda: WALL, host)


@pytest.mark.parametrize(
    ("exc", "sent_at", "last_answer", "known", "expected"),
    [
        # a throttle: slow down, no failure of anyone's
        (errors.RateLimitedError("429", http_status=429), 10.0, 9.0, True, Blame(True, True, None)),
        # a full quota: no failure, no rate cut (no rate frees a slot)
        (
            errors.QuotaExceededError("quota", code=1244032),
            10.0,
            9.0,
            True,
            Blame(False, True, None),
        ),
        # no answer from bk-job or the way to it: bk-job's
        (errors.ServerError("502", http_status=502), 10.0, 9.0, True, Blame(False, False, True)),
        (errors.ConnectError("refused"), 10.0, 11.0, False, Blame(False, False, True)),
        # a timeout while nothing answered, of a job answered before: bk-job's
        (TIMEOUT, 10.0, 9.0, True, Blame(False, False, True)),
        # ... while others were answered, or of a job never answered: the job's
        (TIMEOUT, 10.0, 10.5, True, Blame(False, False, False)),
        (TIMEOUT, 10.0, 9.0, False, Blame(False, False, False)),
        # bk-job answered with a failure of this job's: the job's
        (errors.ResponseFormatError("bad"), 10.0, 9.0, True, Blame(False, True, False)),
        (errors.NotFoundError("gone", code=1244006), 10.0, 9.0, True, Blame(False, True, False)),
    ],
)
def test_blame(
    exc: errors.BkJobError, sent_at: float, last_answer: float, known: bool, expected: Blame
) -> None:
    # known: answered before; not: never answered while others were (``server_level``)
    job = JOB._replace(interval=1.0) if known else JOB
    assert blame(exc, job, sent_at, last_answer, 5, 12.0) == expected
    if not known:  # no poll ever answered: a timeout with nothing answered is bk-job's
        assert blame(exc, job, sent_at, last_answer, 0, 12.0).server is (
            expected.server or (isinstance(exc, errors.TimeoutError) and last_answer <= sent_at)
        )


class Began(NamedTuple):
    job: PolledJob
    failures: int
    gave_back: bool
    stalls: bool


_FAILING = dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "case",
    [
        # failing, not yet said to fail alone: the outage explains its failures
        Began(JOB._replace(failures=2, malformed=1, error=TIMEOUT), 0, True, True),
        # said to fail alone: keeps them
        Began(JOB._replace(failures=3, error=TIMEOUT, failing=_FAILING), 3, False, True),
        # healthy: stalls only; stalled already: nothing
        Began(JOB, 0, False, True),
        Began(JOB._replace(stalled=_FAILING), 0, False, False),
    ],
)
def test_an_outage_began(case: Began) -> None:
    job, gave_back, stalls = outage_began(case.job, WALL)
    assert (job.failures, gave_back, stalls) == (case.failures, case.gave_back, case.stalls)
    assert job.stalled == (WALL if stalls else case.job.stalled)
    if gave_back:
        assert job.malformed == 0


def test_an_outage_ended_gives_its_time_back_and_resumes_stalled_jobs() -> None:
    job, since = outage_ended(JOB._replace(stalled=WALL, failing_since=100.0), 30.0)
    assert (job.stalled, job.failing_since, since) == (None, 130.0, WALL)
    job, since = outage_ended(JOB, 30.0)
    assert (job, since) == (JOB, None)


@pytest.mark.parametrize(
    ("now", "last", "due", "expected"),
    [
        (10.0, -float("inf"), 14.0, 10.0),  # never hinted: poll now
        (10.0, 9.5, 14.0, None),  # hinted within an interval: as scheduled
        (10.0, 9.0, 14.0, 10.0),  # an interval ago: poll now
        (10.0, -float("inf"), 10.0, None),  # due now anyway
    ],
)
def test_a_hint_moves_a_poll_once_an_interval(
    now: float, last: float, due: float, expected: float | None
) -> None:
    assert hinted(rules(), JOB, Health.start(POLICY), now, last, due) == expected


class Sub(NamedTuple):
    kinds: frozenset[type] | None
    step_instance_id: int | None = None


END_ONLY = Sub(frozenset({JobFinished, WatchFailed}))
ALL = Sub(None)
HOSTS = Sub(frozenset({HostTransition, JobFinished}))


def _flags(change: Any) -> tuple[bool, bool, bool, bool]:
    """A membership change's job on the list, parked, its hosts followed, the list following it."""
    return change.job.census, change.job.parks, change.hosts, change.follow


def test_the_list_follows_a_job_whose_watches_wait_for_its_end_only() -> None:
    change = cover(POLICY, JOB, [END_ONLY], 10.0, 0.0)
    assert change is not None
    assert _flags(change) == (True, False, False, True)
    assert change.poll_at is None
    # the same watches again: nothing changes
    assert cover(POLICY, change.job, [END_ONLY], 11.0, 0.0) is None


def test_a_watch_that_needs_transitions_takes_the_job_off_the_list() -> None:
    listed = JOB._replace(census=True)
    change = cover(POLICY, listed, [END_ONLY, HOSTS], 10.0, 9.0)
    assert change is not None
    assert _flags(change) == (False, True, True, False)
    assert change.poll_at == joined_at(POLICY, 7, 10.0, 9.0, None)
    # a step's watch is no wait for the end either; no watch at all: nothing follows it
    assert cover(POLICY, listed, [Sub(END_ONLY.kinds, 3)], 10.0, 9.0) is not None
    change = cover(POLICY, JOB._replace(census=True, parks=True), [], 10.0, 9.0)
    assert change is not None
    assert (change.job.census, change.job.parks) == (False, False)


def test_a_job_handed_back_by_the_list_is_polled_on_its_own_schedule() -> None:
    listed = JOB._replace(census=True, parks=True, interval=2.0)
    job, at = unparked(POLICY, listed, 10.0, 9.0)
    assert (job.census, job.parks, at) == (False, False, unparked_at(POLICY, listed, 10.0, 9.0))
    # the list ends for good: a job it stood for is polled, one it only parks is not moved
    assert unlisted(POLICY, listed, 10.0, 9.0) == (job, at)
    job, at = unlisted(POLICY, JOB._replace(parks=True), 10.0, 9.0)
    assert (job.parks, at) == (False, None)
    assert unlisted(POLICY, JOB, 10.0, 9.0) == (JOB, None)


def _down() -> Health:
    health = Health.start(POLICY)
    return health._replace(
        server=health.server.__class__(5.0, 31.0, 15.0, down_since=1.0, probing=True)
    )


@pytest.mark.parametrize(
    ("health", "error", "expected"),
    [
        (Health.start(POLICY), None, ListRead.ANSWERED),
        (_down(), None, ListRead.ENDED),
        (_down(), errors.ServerError("502", http_status=502), ListRead.FAILED),
        (Health.start(POLICY), errors.ServerError("502", http_status=502), ListRead.NOTHING),
        (_down(), ValueError("not bk-job's"), ListRead.NOTHING),
        (Health.start(POLICY), errors.PermissionDeniedError("no", code=1), ListRead.GONE),
    ],
)
def test_a_read_of_the_job_list(
    health: Health, error: BaseException | None, expected: ListRead
) -> None:
    after, read = list_read(rules(), health, error, 10.0, 9.0, 5)
    assert read is expected
    assert after.server.down == (
        expected in (ListRead.FAILED, ListRead.NOTHING) and health.server.down
    )
    if expected is ListRead.FAILED:
        assert after.server.probe_at > 10.0  # the failed probe: the next one waits
