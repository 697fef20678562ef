"""``decide``: what follows each poll, as a table of cases on virtual time, with no driver."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, NamedTuple

import attrs
import pytest

from bkjob_async import PollPolicy, errors
from bkjob_async._converter import Generation
from bkjob_async._observe import observe_job
from bkjob_async.models import HostStatus, JobStatus
from bkjob_async.polling._decide import (
    EXPIRED,
    FAILING_AFTER,
    OUTAGE_AFTER,
    QUICK_RETRIES,
    SAME_FORMAT_LIMIT,
    UNCHANGED,
    Answer,
    Deliver,
    Expires,
    Failed,
    Failing,
    GiveUp,
    Health,
    Listed,
    OutageBegan,
    OutageEnded,
    Recovered,
    Retried,
    Rules,
    budget_end,
    job_backoff,
    joined_at,
    min_gap,
    rejoined_at,
    soon,
)
from bkjob_async.polling._decide import decide as decide_tuple
from bkjob_async.polling._jobs import PolledJob
from bkjob_async.polling.events import JobFinished, WatchFailed

from ..made import ended, host_read
from ..scripted import SCOPE, job_body

POLICY = PollPolicy(interval=1.0, max_interval=15.0, growth=2.0)
WALL = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
JOB = PolledJob(SCOPE, 7)


def rules(seed: int = 1, policy: Any = POLICY) -> Rules:
    return Rules.of(policy, random.Random(seed), lambda: WALL, host_read)


class Decided(NamedTuple):
    """``decide``'s tuple, named for the assertions."""

    job: PolledJob
    health: Health
    poll_at: float | None
    actions: tuple[Any, ...]


def decide(*args: Any) -> Decided:
    return Decided(*decide_tuple(*args))


def health(policy: Any = POLICY) -> Health:
    return Health.start(policy)


def answer(job_status: int, hosts: list[int] | None = None) -> Answer:
    data = job_body(7, job_status, [(1, job_status, 0, hosts)])
    observation = observe_job(data, Generation.V3, expected_job_instance_id=7)
    snapshot = None
    if observation.finished:
        snapshot = ended(7, JobStatus(job_status), "job 7")
    return Answer(data, observation, snapshot)


def failed(
    error: errors.BkJobError,
    *,
    now: float = 10.0,
    last_answer: float = 9.9,
    requests: int = 100,
    answers: int = 1000,
) -> Failed:
    return Failed(
        error, sent_at=now - 0.1, last_answer=last_answer, requests=requests, answers=answers
    )


TRANSIENT = errors.ServerError("502 from the gateway", http_status=502)
MALFORMED = errors.ResponseFormatError("field 'status': not an int")
REFUSED = errors.ResponseRefusedError("nested deeper than 100 levels; refused unread")
TIMEOUT = errors.TimeoutError("read timed out")
#: bk-job's own error code about the job: an answer, the job's failure.
ERROR_CODE = errors.ApiError("the job's data cannot be read", code=1249999)
PERMANENT = errors.NotFoundError("no such job")
THROTTLED = errors.RateLimitedError("slow down")


def kinds(actions: tuple[Any, ...]) -> list[type]:
    return [type(a) for a in actions]


# --- answers ------------------------------------------------------------------------------------


def run_unchanged(job: PolledJob, polls: int) -> list[float]:
    r, h, now, gaps = rules(), health(), 0.0, []
    for _ in range(polls):
        d = decide(r, job, h, UNCHANGED, now)
        assert d.actions == ()
        assert d.poll_at is not None
        assert d.poll_at - now <= d.job.interval + 1e-9  # jitter only shortens
        gaps.append(d.job.interval)
        job, now = d.job, d.poll_at
    return gaps


def test_a_job_that_may_change_grows_its_gap_up_to_the_latency() -> None:
    assert run_unchanged(JOB, 6) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_a_job_waiting_for_a_person_grows_its_gap_to_max_interval() -> None:
    waiting = decide(rules(), JOB, health(), answer(JobStatus.WAITING_USER), 0.0).job
    assert run_unchanged(waiting._replace(interval=1.0), 6) == [2.0, 4.0, 8.0, 15.0, 15.0, 15.0]


def test_a_waiting_job_that_starts_again_is_back_within_the_latency() -> None:
    waiting = decide(rules(), JOB, health(), answer(JobStatus.WAITING_USER), 0.0).job
    waiting = waiting._replace(interval=15.0)
    running = decide(rules(), waiting, health(), answer(JobStatus.RUNNING), 1.0)
    assert running.job.interval == POLICY.interval
    assert running.poll_at <= 1.0 + POLICY.latency  # type: ignore[operator]


def test_unchanged_answers_at_the_cap_keep_the_same_value() -> None:
    job = JOB._replace(interval=5.0)
    d = decide(rules(), job, health(), UNCHANGED, 0.0)
    assert d.job is job  # nothing to change: no new value on the hot path


def test_a_changed_answer_delivers_and_resets_the_interval() -> None:
    job = JOB._replace(interval=8.0)
    d = decide(rules(), job, health(), answer(2, None), 100.0)
    assert kinds(d.actions) == [Deliver]
    deliver = d.actions[0]
    assert deliver.finished is None
    assert deliver.changed
    assert [type(e).__name__ for e in deliver.events] == ["StepTransition", "JobTransition"]
    assert d.job.interval == POLICY.interval
    assert d.job.state.seq > job.state.seq
    assert 100.0 + POLICY.interval * 0.9 <= d.poll_at <= 100.0 + POLICY.interval


def test_an_answer_that_moves_nothing_schedules_as_unchanged() -> None:
    first = decide(rules(), JOB, health(), answer(2, None), 0.0).job._replace(interval=2.0)
    d = decide(rules(), first, health(), answer(2, None), 10.0)
    (deliver,) = d.actions
    assert deliver.events == []
    assert not deliver.changed
    assert d.job.interval == 4.0


def test_a_final_answer_ends_the_job_with_its_snapshot() -> None:
    d = decide(rules(), JOB, health(), answer(3, None), 5.0)
    (deliver,) = d.actions
    assert isinstance(deliver.finished, JobFinished)
    assert deliver.finished.status is JobStatus.SUCCESS
    assert (deliver.finished.round, deliver.finished.visit) == (0, 1)
    assert deliver.finished.event_id == "7/finished/3/r0"


# --- failures -----------------------------------------------------------------------------------


def run_failures(
    error: errors.BkJobError | list[errors.BkJobError], count: int, seed: int = 1, **kw: Any
) -> list[Any]:
    """Fail ``count`` polls of one job in a row, 1 s apart, while bk-job answers others."""
    r, h, job, out = rules(seed, **kw), health(**kw), JOB._replace(interval=1.0), []
    for i in range(count):
        now = 10.0 + i
        this = error[i % len(error)] if isinstance(error, list) else error
        d = decide(
            r, job, h, failed(this, now=now, last_answer=now - 0.01, answers=1000 + 50 * i), now
        )
        out.append(d)
        job, h = d.job, d.health
    return out


def test_a_job_failing_alone_backs_off_alone_and_says_so_once() -> None:
    decisions = run_failures(TRANSIENT, FAILING_AFTER + 3)
    assert all(Retried in kinds(d.actions) for d in decisions)
    failing = [i for i, d in enumerate(decisions) if Failing in kinds(d.actions)]
    # Once: the first failure in a row past the second, OUTAGE_AFTER after the first (sooner
    # an outage's start could not be told from it).
    assert failing == [2]
    notice = next(a for a in decisions[2].actions if isinstance(a, Failing))
    first_sent = WALL - dt.timedelta(seconds=12.0 - 9.9)  # (the wall clock here stands still)
    assert (notice.since, notice.error, notice.failures) == (first_sent, TRANSIENT, 3)
    last = decisions[-1]
    assert last.job.failures == FAILING_AFTER + 3
    assert last.job.failing_since == 10.0 - 0.1  # when its first failed read was sent
    assert last.job.stalled is None  # bk-job answers others: no outage, no stall
    assert not last.health.server.down
    assert not [a for d in decisions for a in d.actions if isinstance(a, OutageBegan)]
    for i, d in enumerate(decisions):  # its own backoff, from the time it failed
        assert d.poll_at is not None
        assert min_gap(POLICY) <= d.poll_at - (10.0 + i) <= 4.0 * POLICY.latency


def test_an_answer_after_failing_says_it_recovered_and_resets() -> None:
    failing = run_failures(TRANSIENT, FAILING_AFTER + 1)[-1]
    d = decide(rules(), failing.job, failing.health, UNCHANGED, 20.0)
    assert kinds(d.actions) == [Recovered]
    assert d.actions[0].since == failing.job.failing
    assert (d.job.failures, d.job.error, d.job.failing, d.job.failing_since) == (
        0,
        None,
        None,
        None,
    )


def test_one_failure_and_an_answer_say_nothing() -> None:
    blip = run_failures(TRANSIENT, 1)[-1]
    assert kinds(blip.actions) == [Retried, Expires]  # (its budget's end: 60 s on)
    d = decide(rules(), blip.job, blip.health, UNCHANGED, 20.0)
    assert d.actions == ()
    assert d.job.failures == 0


def test_the_failure_budget_ends_the_job_after_max_failures() -> None:
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failures=4, max_failing_time=None)
    decisions = run_failures(TIMEOUT, 4, policy=policy)
    assert all(GiveUp not in kinds(d.actions) for d in decisions[:-1])
    last = decisions[-1]
    assert kinds(last.actions)[-1] is GiveUp
    assert last.poll_at is None
    assert last.actions[-1].failed.error is TIMEOUT


def test_the_failure_budget_ends_the_job_after_max_failing_time() -> None:
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failing_time=3.5, max_failures=None)
    decisions = run_failures(ERROR_CODE, 10, policy=policy)
    ended = [i for i, d in enumerate(decisions) if GiveUp in kinds(d.actions)]
    assert ended[0] == 4  # sent at 9.9, failed again at 14.0: 4.1 s without a good answer
    assert decisions[4].poll_at is None  # (run_failures goes on feeding it failures)


def test_the_budget_needs_both_its_count_and_its_time() -> None:
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failures=3, max_failing_time=6.5)
    decisions = run_failures(ERROR_CODE, 10, policy=policy)
    ended = [i for i, d in enumerate(decisions) if GiveUp in kinds(d.actions)]
    assert ended[0] == 7  # three reads failed by 12.0, but 6.5 s without an answer at 17.0


def _hung(policy: PollPolicy, reads: int) -> Decided:
    """``reads`` reads of a job that hang 2 s each, 15 s apart (the failing share held by
    other hung jobs), the first sent at 1.9: the last decision."""
    r, h, job = rules(1, policy=policy), health(policy=policy), JOB._replace(interval=1.0)
    sent = 0.0
    for i in range(reads):
        now = sent + 2.0
        outcome = failed(TIMEOUT, now=now, last_answer=now - 0.01, answers=1000 + 50 * i)
        d = decide(r, job, h, outcome, now)
        job, h = d.job, d.health
        assert GiveUp not in kinds(d.actions)
        assert d.poll_at is not None
        sent = max(d.poll_at, sent + 15.0)  # held back
    return d


def test_a_budget_with_a_time_ends_at_that_time_read_or_not() -> None:
    # 4 reads by 60 s, where 10 fit at the backoff's shortest. The time is the budget: the
    # job ends at its end, with no read then (issue 85: 12 hung jobs ended after their 10th
    # read, ~100 s in; then up to 12 s late, their last read waiting for the failing share).
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failures=10, max_failing_time=60.0)
    d = _hung(policy, 4)
    assert [a for a in d.actions if isinstance(a, Expires)] == [Expires(1.9 + 60.0)]
    r, h = rules(1, policy=policy), d.health
    early = decide(r, d.job, h, EXPIRED, 61.0)  # (a timer set before the budget moved on)
    assert (early.job, early.poll_at, early.actions) == (d.job, None, (Expires(61.9),))
    end = decide(r, d.job, h, EXPIRED, 61.9)
    assert kinds(end.actions) == [GiveUp]
    assert end.actions[0].failed.error is TIMEOUT
    assert end.poll_at is None


def test_a_budget_whose_reads_need_longer_than_its_time_ends_when_they_fit() -> None:
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failures=10, max_failing_time=5.0)
    fit = budget_end(policy, 1, 0.0)
    assert fit is not None
    assert fit > 5.0  # (nine gaps of at least half a backoff)
    assert budget_end(policy, 10, 0.0) == 5.0  # its reads made: the time alone
    assert budget_end(attrs.evolve(policy, max_failing_time=None), 1, 0.0) is None
    assert budget_end(attrs.evolve(policy, max_failing_time=fit + 1), 1, 0.0) == fit + 1


@pytest.mark.parametrize("case", ["answered since", "bk-job down", "a 502 last"])
def test_an_expired_budget_ends_nothing_a_failure_would_not_end(case: str) -> None:
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failures=10, max_failing_time=60.0)
    d = _hung(policy, 4)
    job, h = d.job, d.health
    if case == "answered since":
        job = decide(rules(policy=policy), job, h, UNCHANGED, 50.0).job
    elif case == "bk-job down":
        h = h._replace(server=attrs.evolve(h.server, down_since=55.0))
    else:
        job = job._replace(error=TRANSIENT)  # (its next failure of its own ends it)
    end = decide(rules(policy=policy), job, h, EXPIRED, 70.0)
    assert (end.job, end.poll_at, end.actions) == (job, None, ())


def test_a_budget_of_reads_alone_still_counts_reads() -> None:
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failures=4, max_failing_time=None)
    decisions = run_failures(TIMEOUT, 40, policy=policy)
    ended = [i for i, d in enumerate(decisions) if GiveUp in kinds(d.actions)]
    assert ended[0] == 3


def test_a_gateway_error_never_spends_the_last_of_a_budget() -> None:
    # The first failures of an outage look like this before it is told: the job's next
    # failure of its own ends it.
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failures=3, max_failing_time=None)
    decisions = run_failures([TRANSIENT] * 6 + [ERROR_CODE], 7, policy=policy)
    ended = [i for i, d in enumerate(decisions) if GiveUp in kinds(d.actions)]
    assert ended == [6]
    assert decisions[6].actions[-1].failed.error is ERROR_CODE


def test_no_budget_means_retried_for_as_long_as_the_watch_lasts() -> None:
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failures=None, max_failing_time=None)
    decisions = run_failures(TRANSIENT, 50, policy=policy)
    assert all(GiveUp not in kinds(d.actions) for d in decisions)


def test_a_body_refused_twice_in_a_row_ends_the_job_at_once() -> None:
    decisions = run_failures(REFUSED, 2)
    assert kinds(decisions[0].actions) == [Retried, Expires]
    assert kinds(decisions[1].actions)[-1] is GiveUp
    assert decisions[1].actions[-1].failed.error is REFUSED


def test_a_refused_body_between_other_failures_does_not_end_the_job() -> None:
    decisions = run_failures([REFUSED, TRANSIENT], 6)
    assert all(GiveUp not in kinds(d.actions) for d in decisions)


def test_the_same_format_error_three_times_ends_the_job() -> None:
    decisions = run_failures(MALFORMED, SAME_FORMAT_LIMIT)
    assert all(GiveUp not in kinds(d.actions) for d in decisions[:-1])
    last = decisions[-1]
    assert kinds(last.actions)[-1] is GiveUp
    failed_event = last.actions[-1].failed
    assert isinstance(failed_event, WatchFailed)
    assert failed_event.error is MALFORMED


def test_format_errors_that_differ_spend_the_budget_as_any_failure() -> None:
    other = errors.ResponseFormatError("field 'steps': not a list")
    decisions = run_failures([MALFORMED, other], 9)
    assert all(GiveUp not in kinds(d.actions) for d in decisions)
    assert decisions[-1].job.malformed == 1


def test_a_permanent_failure_gives_up_at_once() -> None:
    d = decide(rules(), JOB, health(), failed(PERMANENT), 10.0)
    assert kinds(d.actions) == [GiveUp]
    assert d.poll_at is None


def test_a_permanent_failure_of_a_failing_job_says_it_recovered_first() -> None:
    failing = run_failures(TRANSIENT, FAILING_AFTER + 1)[-1]
    d = decide(rules(), failing.job, failing.health, failed(PERMANENT, now=30.0), 30.0)
    assert kinds(d.actions) == [Recovered, GiveUp]


def test_a_throttle_waits_for_the_pause_and_counts_no_failure() -> None:
    paused = failed(THROTTLED, now=10.0)._replace(paused_until=12.0)
    polls = {decide(rules(s), JOB, health(), paused, 10.0).poll_at for s in range(50)}
    assert all(12.0 <= p <= 12.0 + POLICY.interval for p in polls)  # type: ignore[operator]
    d = decide(rules(), JOB, health(), paused, 10.0)
    assert d.actions == ()
    assert d.job.failures == 0


def test_a_throttle_never_comes_sooner_than_the_smallest_gap() -> None:
    d = decide(rules(), JOB, health(), failed(THROTTLED, now=10.0), 10.0)
    assert d.poll_at >= 9.9 + min_gap(POLICY)  # type: ignore[operator]


def test_without_the_retry_budget_a_failed_job_waits_its_backoffs_cap() -> None:
    h = health()
    spent = h._replace(budget=attrs.evolve(h.budget, tokens=0.0, last=10.0, requests=100))
    d = decide(rules(), JOB, spent, failed(TRANSIENT, now=10.0, requests=100), 10.0)
    assert 10.0 + 2.0 * POLICY.latency <= d.poll_at <= 10.0 + 4.0 * POLICY.latency  # type: ignore[operator]
    quick = decide(rules(), JOB, h, failed(TRANSIENT, now=10.0, requests=100), 10.0)
    assert quick.poll_at <= 10.0 + job_backoff(1, POLICY, random.Random(1)) * 2  # type: ignore[operator]
    assert quick.poll_at < 10.0 + 2.0  # type: ignore[operator]


# --- outages ------------------------------------------------------------------------------------


def test_failures_with_no_answer_begin_an_outage_and_an_answer_ends_it() -> None:
    r, h, job = rules(), health(), JOB._replace(interval=1.0)
    began = []
    for i in range(QUICK_RETRIES + 2):  # the one job polled: no canary to ask
        now = OUTAGE_AFTER + 1.0 + i
        d = decide(r, job, h, failed(TRANSIENT, now=now, last_answer=0.0), now)
        began += [a for a in d.actions if isinstance(a, OutageBegan)]
        job, h = d.job, d.health
    assert len(began) == 1
    assert began[0].error is TRANSIENT
    assert h.server.down
    assert job.failures == QUICK_RETRIES  # failures once bk-job is down spend no budget
    d = decide(r, job, h, UNCHANGED, 100.0)
    assert OutageEnded in kinds(d.actions)
    assert not d.health.server.down


def test_while_bk_job_is_down_no_job_spends_its_budget() -> None:
    policy = PollPolicy(interval=1.0, max_interval=15.0, max_failures=3)
    r, h, job = rules(policy=policy), health(policy), JOB._replace(interval=1.0)
    for i in range(50):  # a long outage: nothing answers at all
        now = OUTAGE_AFTER + 1.0 + i
        d = decide(r, job, h, failed(errors.ConnectError("refused"), now=now, last_answer=0.0), now)
        assert GiveUp not in kinds(d.actions)
        job, h = d.job, d.health
    assert h.server.down


def test_a_hung_job_among_answered_ones_is_no_outage_from_its_first_read() -> None:
    # Its first read times out; other jobs were answered just before it was sent, none since.
    first = Failed(TIMEOUT, sent_at=10.0, last_answer=9.95, requests=100, answers=500)
    d = decide(rules(), JOB, health(), first, 12.0)
    assert not d.health.server.down
    assert d.job.failures == 1
    # A job that was answered before, timing out while nothing answered: bk-job hangs.
    known = JOB._replace(interval=1.0)
    d = decide(rules(), known, health(), first, 12.0)
    assert d.health.server.down
    assert OutageBegan in kinds(d.actions)


# --- purity -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outcome",
    [UNCHANGED, answer(2, [HostStatus.RUNNING]), failed(TRANSIENT), failed(PERMANENT)],
    ids=["unchanged", "answer", "transient", "permanent"],
)
def test_the_same_inputs_give_the_same_decision_and_change_none(outcome: Any) -> None:
    job, h = JOB._replace(interval=2.0), health()
    first = decide(rules(7), job, h, outcome, 50.0)
    again = decide(rules(7), job, h, outcome, 50.0)
    assert (first.job, first.health, first.poll_at) == (again.job, again.health, again.poll_at)
    assert kinds(first.actions) == kinds(again.actions)
    assert job == JOB._replace(interval=2.0)
    assert h == health()


# --- joining ------------------------------------------------------------------------------------


def test_a_new_job_is_polled_at_once_and_never_sooner_than_the_gap() -> None:
    assert joined_at(POLICY, 7, 100.0, sent=-1e9, due=None) == 100.0
    assert joined_at(POLICY, 7, 100.0, sent=100.0, due=None) == 100.0 + min_gap(POLICY)


def test_a_job_joined_again_keeps_a_near_poll_and_pulls_in_a_far_one() -> None:
    assert joined_at(POLICY, 7, 100.0, sent=90.0, due=100.5) is None
    assert joined_at(POLICY, 7, 100.0, sent=90.0, due=114.0) == 100.0


def test_a_job_launched_a_moment_ago_is_first_polled_soon_after_its_launch() -> None:
    gap = soon(POLICY)
    ats = [joined_at(POLICY, i, 100.0, sent=-1e9, due=None, launched=100.0) for i in range(1000)]
    assert all(100.0 + gap * (1 - POLICY.jitter) <= at <= 100.0 + gap for at in ats)
    assert len(set(ats)) > 990  # spread by the id: a burst of launches is not polled in step
    assert ats == [joined_at(POLICY, i, 100.0, -1e9, None, 100.0) for i in range(1000)]
    # Launched longer ago than that: at once, as any new job.
    assert joined_at(POLICY, 7, 100.0, sent=-1e9, due=None, launched=90.0) == 100.0
    # Never sooner than the smallest gap after its last poll; a near poll is kept.
    late = joined_at(POLICY, 7, 100.0, sent=100.0, due=None, launched=90.0)
    assert late == 100.0 + min_gap(POLICY)
    assert joined_at(POLICY, 7, 100.0, sent=90.0, due=100.5, launched=100.0) is None
    # Without a bound (latency=None) ``soon`` is the interval: the first poll one gap later.
    unbound = PollPolicy(latency=None, interval=5.0, jitter=0.0)
    assert joined_at(unbound, 7, 0.0, sent=-1e9, due=None, launched=0.0) == 5.0


def test_after_an_outage_every_job_comes_back_within_one_interval() -> None:
    ats = [rejoined_at(POLICY, job_id, 0.0, sent=-1e9) for job_id in range(1000)]
    assert all(0.0 <= a < POLICY.interval for a in ats)


# --- the job list -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "polled"),
    [(None, True), (1, False), (2, False), (7, False), (10, False), (15, False)]
    + [(s, True) for s in (3, 4, 5, 6, 8, 9, 11, 13, 14)],
)
def test_a_row_of_the_job_list_reads_the_job_only_when_it_ended_or_is_missing(
    status: int | None, polled: bool
) -> None:
    job = JOB._replace(census=True)
    d = decide(rules(), job, health(), Listed(status, sent=30.0), 40.0)
    assert d.poll_at == (40.0 if polled else None)
    assert d.actions == ()
    assert d.job is job


@pytest.mark.parametrize("parks", [False, True])
def test_a_row_read_a_moment_after_the_jobs_own_poll_keeps_the_smallest_gap(parks: bool) -> None:
    job = JOB._replace(census=True, parks=parks)
    gap = min_gap(rules().policy)
    d = decide(rules(), job, health(), Listed(3, sent=39.9), 40.0)  # (it ended: read it)
    assert d.poll_at == 39.9 + gap
    assert decide(rules(), job, health(), Listed(3, sent=40.0 - gap), 40.0).poll_at == 40.0


def test_a_job_the_list_follows_has_no_next_poll_after_an_answer() -> None:
    job = JOB._replace(census=True)
    assert decide(rules(), job, health(), UNCHANGED, 1.0).poll_at is None
    assert decide(rules(), job, health(), answer(2, None), 1.0).poll_at is None
    failed_poll = decide(rules(), job, health(), failed(TRANSIENT), 10.0)
    assert failed_poll.poll_at is not None  # a failed read of its end is retried


@pytest.mark.parametrize(
    ("status", "parked", "polled"),
    [(7, True, False), (1, True, False), (15, True, False), (2, False, True), (3, False, True)],
)
def test_a_job_whose_watches_need_its_transitions_is_left_to_the_list_only_while_it_waits(
    status: int, parked: bool, polled: bool
) -> None:
    job = JOB._replace(parks=True)
    d = decide(rules(), job, health(), answer(status, [5]), 1.0)
    assert d.job.census is parked
    assert (d.poll_at is not None) is polled
    again = decide(rules(), d.job, health(), UNCHANGED, 2.0)
    assert again.job.census is parked
    assert (again.poll_at is not None) is polled


@pytest.mark.parametrize(
    ("row", "polled"), [(7, False), (2, True), (3, True), (1, True), (None, True)]
)
def test_a_parked_job_is_read_when_its_row_differs_from_its_own_status(
    row: int | None, polled: bool
) -> None:
    parked = decide(rules(), JOB._replace(parks=True), health(), answer(7, [5]), 1.0).job
    assert parked.census
    d = decide(rules(), parked, health(), Listed(row, sent=1.0), 40.0)
    assert d.poll_at == (40.0 if polled else None)
    assert d.job.census is not polled  # read: back to its own polls until it waits again
    assert d.actions == ()


def test_moved_keeps_every_field_but_the_state_and_interval() -> None:
    from bkjob_async.polling._decide import moved

    job = PolledJob(SCOPE, 7, JOB.state, 1.0, 2, TRANSIENT, 3, WALL, True, True, WALL, 4.0)
    assert all(getattr(job, f) != getattr(JOB, f) for f in PolledJob._fields[2:] if f != "state")
    new_state = decide(rules(), JOB, health(), answer(2, None), 0.0).job.state
    after = moved(job, new_state, 9.0)
    assert after == job._replace(state=new_state, interval=9.0)
    assert after.state is new_state
    assert moved(job, None, 9.0).state is job.state
