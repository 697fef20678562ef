"""``Fold``: one fold of a watch's events for the summary, the command line and the dashboard."""

from __future__ import annotations

import datetime as dt

import pytest

from bkjob_async import (
    ConnectError,
    ContainerTransition,
    FailedContainer,
    FailedHost,
    Fold,
    Host,
    HostResult,
    HostStatus,
    HostTransition,
    JobFinished,
    JobInstanceStatus,
    JobPollFailing,
    JobPollRecovered,
    JobStatus,
    JobTransition,
    PermissionDeniedError,
    PollingResumed,
    PollingStalled,
    Scope,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
)
from bkjob_async.models import Container, ContainerResult
from bkjob_async.polling import JobSeen, StepSeen
from tests.made import one_step

T0 = dt.datetime(2025, 1, 1, 8, 0, tzinfo=dt.timezone.utc)
LATER = T0 + dt.timedelta(seconds=3)


def host(
    job: int, n: int, status: HostStatus, previous: HostStatus | None, **row
) -> HostTransition:
    who = Host(bk_host_id=1000 + n, ip=f"10.0.0.{n}", bk_cloud_id=0)
    result = HostResult(who, status, **row)
    return HostTransition(job, LATER, 20, 0, who, previous, status, result)


def final(job: int, status: JobStatus, hosts: list[HostStatus] | None) -> JobInstanceStatus:
    def row(n: int, host_status: HostStatus) -> HostResult:
        return HostResult(
            Host(bk_host_id=1000 + n, ip=f"10.0.0.{n}", bk_cloud_id=0), host_status, exit_code=n
        )

    return one_step(job, status, hosts, row=row)


def test_jobs_move_between_buckets_and_end_with_their_last_event() -> None:
    fold = Fold([1, 2, 3, 4])
    assert fold.counts().buckets["pending"] == 4
    fold.feed(JobTransition(1, T0, None, JobStatus.RUNNING))
    fold.feed(JobTransition(1, T0, JobStatus.RUNNING, JobStatus.FAIL))
    assert fold.job(1).bucket == "running"  # type: ignore[union-attr]  # ended by JobFinished only
    fold.feed(JobFinished(1, T0, JobStatus.FAIL, final(1, JobStatus.FAIL, [])))
    fold.feed(WatchFailed(2, T0, ConnectError("refused")))
    fold.feed(WatchFailed(3, T0, PermissionDeniedError("no")))
    fold.feed(JobTransition(4, T0, None, JobStatus.WAITING_USER))
    buckets = fold.counts().buckets
    assert {k: v for k, v in buckets.items() if v} == {
        "waiting": 1,
        "failed": 1,
        "unreachable": 1,
        "unwatched": 1,
    }
    assert not fold.done
    fold.feed(WatchTimedOut(4, T0, final(4, JobStatus.WAITING_USER, [])))
    assert fold.done
    assert [j.outcome for j in fold.jobs()] == ["FAIL", "UNREACHABLE", "WATCH_FAILED", "TIMED_OUT"]
    # A failed job retried is revived: its watch goes on.
    fold.feed(JobTransition(1, T0, JobStatus.FAIL, JobStatus.RUNNING))
    revived = fold.job(1)
    assert revived is not None
    assert (revived.bucket, revived.ended) == ("running", False)
    assert fold.counts().events == 8


def test_hosts_count_by_status_and_a_redelivery_counts_once() -> None:
    fold = Fold([1])
    fold.feed(host(1, 1, HostStatus.RUNNING, None))
    fold.feed(host(1, 1, HostStatus.RUNNING, None))  # the same transition again
    fold.feed(host(1, 2, HostStatus.SUCCESS, HostStatus.RUNNING))  # its first change unseen
    counts = fold.counts()
    assert counts.hosts == {HostStatus.RUNNING: 1, HostStatus.SUCCESS: 1}
    assert (counts.objects, counts.finished, counts.failed) == (2, 1, 0)
    # Without ``objects`` each event's ``previous`` is trusted: a dashboard keeps no host.
    trusting = Fold([1], objects=False)
    trusting.feed(host(1, 1, HostStatus.RUNNING, None))
    trusting.feed(host(1, 1, HostStatus.SUCCESS, HostStatus.RUNNING))
    assert trusting.counts().hosts == {HostStatus.SUCCESS: 1}


def test_failed_hosts_come_and_go_and_the_final_status_has_the_last_word() -> None:
    fold = Fold([1])
    fold.feed(host(1, 1, HostStatus.RUNNING, None))
    fold.feed(host(1, 1, HostStatus.FAILED, HostStatus.RUNNING, exit_code=2, error_code=7))
    (row,) = fold.failed()
    assert row == FailedHost(1, 20, row.host, HostStatus.FAILED, 2)
    assert (row.error_code, row.observed_at) == (7, LATER)
    assert fold.counts().jobs_with_failed == 1
    fold.feed(host(1, 1, HostStatus.WAITING, HostStatus.FAILED))  # retried
    assert fold.failed() == ()
    assert (fold.counts().jobs_with_failed, fold.counts().failures) == (0, 1)
    # The job's end: its final status names its failed hosts, whatever was seen before.
    fold.feed(JobFinished(1, T0, JobStatus.FAIL, final(1, JobStatus.FAIL, [HostStatus.FAILED] * 2)))
    assert [(r.host.bk_host_id, r.exit_code) for r in fold.failed(1)] == [(1000, 0), (1001, 1)]


def test_the_summary_is_a_watchs() -> None:
    fold = Fold(objects=False)  # a watch feeds the job-level events only
    fold.feed(JobTransition(1, T0, None, JobStatus.RUNNING))
    fold.feed(JobFinished(1, T0, JobStatus.FAIL, final(1, JobStatus.FAIL, [HostStatus.FAILED])))
    fold.feed(JobFinished(2, T0, JobStatus.FAIL, final(2, JobStatus.FAIL, None)))  # no rows
    fold.feed(JobFinished(3, T0, JobStatus.SUCCESS, final(3, JobStatus.SUCCESS, [])))
    fold.feed(JobTransition(4, T0, None, JobStatus.WAITING_USER))
    fold.feed(WatchFailed(5, T0, PermissionDeniedError("no")))
    fold.feed(WatchTimedOut(6, T0, None))
    summary = fold.summary([1, 2, 3, 4, 5, 6, 7])
    assert summary.statuses == {"FAIL": 2, "SUCCESS": 1, "UNSEEN": 3, "WAITING_USER": 1}
    assert (summary.finished, summary.failed) == ((1, 2, 3), (1, 2))
    assert [r.job_instance_id for r in summary.failed_hosts] == [1]
    assert summary.hosts_unread == (2,)
    assert summary.waiting == (4,)
    assert summary.unwatched == {5: "PermissionDeniedError: no", 6: "timed out"}
    assert not summary.done


def test_containers_count_apart_from_hosts() -> None:
    fold = Fold([1])
    pod = Container(7, name="app")
    failed = ContainerResult(pod, HostStatus.FAILED, exit_code=3)
    fold.feed(ContainerTransition(1, T0, 20, 0, pod, None, HostStatus.FAILED, failed))
    counts = fold.counts()
    assert (counts.hosts, counts.containers) == ({}, {HostStatus.FAILED: 1})
    assert fold.failed() == (FailedContainer(1, 20, pod, HostStatus.FAILED, 3),)
    job = fold.job(1)
    assert job is not None
    assert (job.hosts, job.containers, job.failed) == (0, 1, 1)


def test_latencies_of_hosts_seen_running_within_a_budget() -> None:
    fold = Fold([1])
    ended = {"end_time": T0}
    fold.feed(host(1, 1, HostStatus.SUCCESS, None, **ended))  # done before it was seen
    fold.feed(host(1, 2, HostStatus.RUNNING, None))
    fold.feed(host(1, 2, HostStatus.SUCCESS, HostStatus.RUNNING, **ended))
    assert fold.latencies() == (3.0,)
    fold.budget = 1
    for n in (3, 4):
        fold.feed(host(1, n, HostStatus.RUNNING, None))
        fold.feed(host(1, n, HostStatus.SUCCESS, HostStatus.RUNNING, **ended))
    assert (fold.latencies(), fold.budget) == ((3.0, 3.0), 0)


def test_outages_and_steps_waiting_for_a_person() -> None:
    fold = Fold([1])
    fold.feed(PollingStalled(1, T0, T0, ConnectError("refused")))
    fold.feed(PollingStalled(1, LATER, T0, ConnectError("again")))
    assert (fold.outage_since, fold.counts().outages) == (T0, 1)
    assert str(fold.counts().outage_error) == "again"
    fold.feed(PollingResumed(1, LATER, T0))
    assert fold.outage_since is None
    fold.feed(StepTransition(1, T0, 30, 0, JobStatus.RUNNING, JobStatus.WAITING_USER))
    assert fold.job(1).waiting_step == 30  # type: ignore[union-attr]
    fold.feed(StepTransition(1, T0, 30, 0, JobStatus.WAITING_USER, JobStatus.SUCCESS))
    assert fold.job(1).waiting_step is None  # type: ignore[union-attr]


def test_jobs_failing_alone_are_counted_apart_from_outages() -> None:
    fold = Fold([1, 2, 3])
    timeout = TimeoutError("read timed out")
    for job in (1, 2, 3):
        fold.feed(JobPollFailing(job, LATER, T0, timeout, 2))
    fold.feed(JobPollFailing(1, LATER, T0, timeout, 3))  # (said again: counted once)
    counts = fold.counts()
    assert (counts.failing, counts.outages, counts.outage_since) == (3, 0, None)
    assert fold.job(1).failing_since == T0  # type: ignore[union-attr]
    fold.feed(JobPollRecovered(1, LATER, T0))
    fold.feed(WatchFailed(2, LATER, ConnectError("its budget spent")))
    fold.feed(JobFinished(3, LATER, JobStatus.SUCCESS, final(3, JobStatus.SUCCESS, [])))
    assert fold.counts().failing == 0
    assert fold.job(1).failing_since is None  # type: ignore[union-attr]


def test_seeded_from_a_status_read_or_a_tap_and_adopting_what_was_seen() -> None:
    fold = Fold()
    fold.seed(final(1, JobStatus.FAIL, [HostStatus.SUCCESS, HostStatus.FAILED]))
    assert (fold.job(1).outcome, fold.counts().finished) == ("FAIL", 2)  # type: ignore[union-attr]
    assert fold.counts().events == 0
    seen = JobSeen(
        Scope.biz(2),
        2,
        JobStatus.RUNNING,
        False,
        (StepSeen(20, None, 0, {1000: HostStatus.FAILED, ("container", 9): HostStatus.SUCCESS}),),
        True,
    )
    tapped = Fold(objects=False)
    tapped.seed(seen)
    counts = tapped.counts()
    assert (counts.hosts, counts.containers) == ({HostStatus.FAILED: 1}, {HostStatus.SUCCESS: 1})
    (row,) = tapped.failed()
    assert (row.host, row.observed_at) == (Host(bk_host_id=1000), None)
    before = Fold(objects=False)
    before.feed(host(2, 0, HostStatus.FAILED, None))
    tapped.adopt(before)
    assert tapped.failed()[0].observed_at == LATER


def test_at_most_the_failed_hosts_asked_for_are_kept() -> None:
    fold = Fold(failed=2)
    for n in range(5):
        fold.feed(host(1, n, HostStatus.FAILED, None))
    assert [r.host.bk_host_id for r in fold.failed()] == [1003, 1004]
    assert fold.counts().failed == 5


@pytest.mark.parametrize("objects", [True, False])
def test_a_fold_is_cheap_to_read(objects: bool) -> None:
    fold = Fold(range(1000), objects=objects)
    for job in range(1000):
        fold.feed(host(job, 1, HostStatus.RUNNING, None))
    assert fold.counts().buckets["pending"] == 1000
    assert len(fold) == 1000
    assert 5 in fold
    assert 5000 not in fold


@pytest.mark.parametrize("objects", [True, False])
def test_deliveries_fold_as_their_events_one_by_one(objects: bool) -> None:
    """``feed_all`` (a delivery at once; with ``objects=False`` most hosts counted in place)
    leaves every figure as ``feed`` of each event does, the counts' order included."""
    import random

    statuses = [
        *(HostStatus.WAITING, HostStatus.RUNNING, HostStatus.SUCCESS, HostStatus.FAILED),
        *(HostStatus.LAST_SUCCESS, HostStatus.SCRIPT_FAILED, HostStatus.of(77)),
    ]
    for seed in range(40):
        rnd = random.Random(seed)
        deliveries = []
        for _ in range(60):
            job = rnd.randrange(5)
            events = []
            for _ in range(rnd.randrange(1, 4)):
                current = rnd.choice(statuses)
                previous = rnd.choice([None, None, *statuses])
                events.append(host(job, rnd.randrange(6), current, previous, end_time=T0))
            if rnd.random() < 0.1:
                events.append(JobTransition(job, LATER, JobStatus.RUNNING, None))
            deliveries.append(events)
        one, each = Fold(range(3), objects=objects), Fold(range(3), objects=objects)
        one.budget = each.budget = 5
        for events in deliveries:
            one.feed_all(events)
            for event in events:
                each.feed(event)
        assert one.counts() == each.counts()
        assert list(one.counts().hosts.items()) == list(each.counts().hosts.items())
        assert one.jobs() == each.jobs()
        assert one.failed() == each.failed()
        assert (one.latencies(), one.budget) == (each.latencies(), each.budget)
