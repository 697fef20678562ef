"""``polling._summary.Told``: a watch's own summary, from the job-level events it handed out.

It summarizes exactly as the dashboards' ``Fold`` does when fed the same events, without
counting a host.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from bkjob_async import (
    ConnectError,
    Fold,
    Host,
    HostResult,
    HostStatus,
    JobFinished,
    JobInstanceStatus,
    JobStatus,
    JobTransition,
    PermissionDeniedError,
    WatchFailed,
    WatchTimedOut,
)
from bkjob_async.polling._summary import Told
from tests.made import one_step

T0 = dt.datetime(2025, 1, 1, 8, 0, tzinfo=dt.timezone.utc)


def final(job: int, status: JobStatus, hosts: list[HostStatus] | None) -> JobInstanceStatus:
    def row(n: int, host_status: HostStatus) -> HostResult:
        return HostResult(Host(bk_host_id=1000 + n), host_status, exit_code=n, error_code=9)

    return one_step(job, status, hosts, row=row)


def test_a_summary_lists_ends_failed_hosts_unread_jobs_waits_and_the_given_up() -> None:
    told = Told()
    told.feed(JobTransition(1, T0, None, JobStatus.RUNNING))
    told.feed(JobFinished(1, T0, JobStatus.FAIL, final(1, JobStatus.FAIL, [HostStatus.FAILED])))
    told.feed(JobFinished(2, T0, JobStatus.FAIL, final(2, JobStatus.FAIL, None)))
    told.feed(JobTransition(3, T0, None, JobStatus.WAITING_USER))
    told.feed(WatchFailed(4, T0, ConnectError("refused")))
    told.feed(WatchTimedOut(5, T0, None))
    summary = told.summary([1, 2, 3, 4, 5, 6])
    assert summary.statuses == {"FAIL": 2, "UNSEEN": 3, "WAITING_USER": 1}
    assert (summary.finished, summary.failed, summary.hosts_unread) == ((1, 2), (1, 2), (2,))
    (row,) = summary.failed_hosts
    assert (row.job_instance_id, row.host.bk_host_id, row.error_code) == (1, 1000, 9)
    assert summary.waiting == (3,)
    assert summary.unwatched == {4: "ConnectError: refused", 5: "timed out"}
    assert not summary.done
    # A job revived (its failed hosts retried) is no longer given up on.
    told.feed(JobTransition(4, T0, None, JobStatus.RUNNING))
    assert 4 not in told.summary([4]).unwatched


_STATUSES = st.sampled_from(
    [JobStatus.RUNNING, JobStatus.WAITING_USER, *JobStatus.__members__.values()]
)
_HOSTS = st.none() | st.lists(st.sampled_from([HostStatus.SUCCESS, HostStatus.FAILED]), max_size=3)


@st.composite
def _event(draw: st.DrawFn) -> object:
    job, kind = draw(st.integers(1, 3)), draw(st.integers(0, 4))
    status = draw(_STATUSES)
    if kind == 0:
        return JobTransition(job, T0, None, status)
    if kind == 1:
        return JobFinished(job, T0, status, final(job, status, draw(_HOSTS)))
    if kind == 2:
        error = draw(st.sampled_from([ConnectError("refused"), PermissionDeniedError("no")]))
        return WatchFailed(job, T0, error)
    snapshot = draw(st.none() | st.just(final(job, status, draw(_HOSTS))))
    return WatchTimedOut(job, T0, snapshot)


@given(st.lists(_event(), max_size=12))
def test_a_summary_is_the_dashboards_fold_summary_of_the_same_events(events: list[object]) -> None:
    told, fold, ended = Told(), Fold(objects=False), set()
    for event in events:
        job = event.job_instance_id  # type: ignore[attr-defined]
        if isinstance(event, JobTransition):
            if not event.current.is_finished:
                ended.discard(job)  # (revived: its failed hosts retried)
        elif job in ended:
            continue  # (a job's end is its last event until it is revived)
        else:
            ended.add(job)
        told.feed(event)
        fold.feed(event)  # type: ignore[arg-type]
    assert told.summary([1, 2, 3, 4]) == fold.summary([1, 2, 3, 4])
