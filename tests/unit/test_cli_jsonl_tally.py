"""The pure parts of the CLI: events as JSON objects, and the tally the views read."""

from __future__ import annotations

import datetime as dt
import json

import attrs

from bkjob_async import (
    Host,
    HostResult,
    HostStatus,
    HostTransition,
    JobFinished,
    JobInstanceStatus,
    JobStatus,
    JobTransition,
    PermissionDeniedError,
    StepInstance,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
)
from bkjob_async.cli._format import (
    RateMeter,
    Tally,
    dumps,
    event_to_dict,
    job_counts,
    percentile,
    to_json,
)
from tests.made import one_step

T0 = dt.datetime(2025, 1, 1, 8, 0, tzinfo=dt.timezone.utc)
HOST = Host(bk_host_id=1001, ip="10.0.0.1", bk_cloud_id=0)


def host_event(job: int, status: HostStatus, previous: HostStatus | None, *, host=HOST, ended=None):
    result = HostResult(
        host, status, exit_code=0, end_time=ended, total_time=dt.timedelta(seconds=1.5)
    )
    return HostTransition(job, T0 + dt.timedelta(seconds=2), 20, 0, host, previous, status, result)


def snapshot(job: int, status: JobStatus, hosts: list[HostStatus]) -> JobInstanceStatus:
    return one_step(job, status, hosts)


def test_host_transition_has_every_field() -> None:
    event = host_event(1, HostStatus.SUCCESS, None, ended=T0)
    obj = event_to_dict(event)
    assert obj["event"] == "host_transition"
    assert obj["observed_at"] == "2025-01-01T08:00:02.000+00:00"
    assert (obj["previous"], obj["previous_name"]) == (None, None)
    assert (obj["current"], obj["current_name"]) == (9, "SUCCESS")
    assert obj["result"]["status_name"] == "SUCCESS"
    assert obj["result"]["end_time"] == "2025-01-01T08:00:00.000+00:00"
    assert obj["result"]["total_time"] == 1.5
    assert obj["host"] == {
        "bk_host_id": 1001,
        "ip": "10.0.0.1",
        "bk_cloud_id": 0,
        "ipv6": None,
        "bk_agent_id": None,
    }
    assert json.loads(dumps(obj)) == obj


def test_unknown_codes_keep_their_number() -> None:
    obj = event_to_dict(JobTransition(1, T0, JobStatus.RUNNING, JobStatus(99)))
    assert (obj["previous"], obj["previous_name"]) == (2, "RUNNING")
    assert (obj["current"], obj["current_name"]) == (99, "UNKNOWN_99")


def test_enum_fields_are_named_whether_or_not_types_are_resolved() -> None:
    step = StepInstance(20, JobStatus.FAIL)
    before = to_json(step)
    attrs.resolve_types(StepInstance)  # what a cattrs converter does to the class
    assert to_json(step) == before
    assert (before["type"], before["type_name"]) == (None, None)


def test_every_event_type_has_a_name() -> None:
    snap = snapshot(1, JobStatus.FAIL, [HostStatus.FAILED])
    error = PermissionDeniedError(
        "no permission", code=9900403, permission={"system_id": "bk_job"}, api="x"
    )
    events = [
        StepTransition(1, T0, 20, 1, JobStatus.FAIL, JobStatus.RUNNING),
        JobFinished(1, T0, JobStatus.FAIL, snap),
        WatchFailed(1, T0, error),
        WatchTimedOut(1, T0, None),
    ]
    objs = [event_to_dict(e) for e in events]
    assert [o["event"] for o in objs] == [
        "step_transition",
        "job_finished",
        "watch_failed",
        "watch_timed_out",
    ]
    assert objs[1]["snapshot"]["steps"][0]["hosts"][0]["status_name"] == "FAILED"
    assert objs[1]["snapshot"]["steps"][0]["type"] is None
    assert objs[1]["snapshot"]["steps"][0]["type_name"] is None
    assert objs[2]["error"]["type"] == "PermissionDeniedError"
    assert objs[2]["error"]["code"] == 9900403
    assert objs[2]["error"]["permission"] == {"system_id": "bk_job"}
    assert objs[3]["snapshot"] is None
    for obj in objs:
        json.loads(dumps(obj))


def test_tally_counts_jobs_and_hosts() -> None:
    tally = Tally([1, 2, 3], expected_hosts=6)
    assert job_counts(tally.counts()) == {
        "pending": 3,
        "running": 0,
        "waiting": 0,
        "succeeded": 0,
        "failed": 0,
        "timed_out": 0,
        "unreachable": 0,
    }
    tally.feed(JobTransition(1, T0, None, JobStatus.RUNNING))
    tally.feed(host_event(1, HostStatus.RUNNING, None))
    tally.feed(host_event(1, HostStatus.SUCCESS, HostStatus.RUNNING, ended=T0))
    other = Host(bk_host_id=1002)
    tally.feed(host_event(1, HostStatus.SCRIPT_FAILED, None, host=other, ended=T0))
    counts = tally.counts()
    assert counts.finished == 2
    assert tally.hosts_total(counts) == 6
    assert counts.hosts == {HostStatus.SUCCESS: 1, HostStatus.SCRIPT_FAILED: 1}
    job = tally.job(1)
    assert job is not None
    assert (job.hosts, job.finished, job.failed) == (2, 2, 1)
    assert tally.latencies() == (2.0,)  # the host seen failed at once tells no latency
    tally.feed(JobTransition(1, T0, JobStatus.RUNNING, JobStatus.FAIL))
    assert job_counts(tally.counts())["running"] == 1  # not ended until JobFinished
    tally.feed(
        JobFinished(1, T0, JobStatus.FAIL, snapshot(1, JobStatus.FAIL, [HostStatus.SUCCESS]))
    )
    tally.feed(WatchFailed(2, T0, PermissionDeniedError("no")))
    tally.feed(JobFinished(3, T0, JobStatus.SUCCESS, snapshot(3, JobStatus.SUCCESS, [])))
    counts_now = job_counts(tally.counts())
    assert (
        counts_now["pending"],
        counts_now["running"],
        counts_now["succeeded"],
        counts_now["failed"],
    ) == (0, 0, 1, 2)
    assert tally.done
    assert not tally.all_succeeded
    summary = tally.report(title="t", elapsed=1.0, statistics=None)
    assert dict(summary.jobs_by_outcome) == {"FAIL": 1, "WATCH_FAILED": 1, "SUCCESS": 1}
    assert [r.job_instance_id for r in summary.failed_jobs] == [1, 2]


def test_tally_follows_a_revived_job_from_its_snapshot() -> None:
    tally = Tally([7])
    tally.seed(snapshot(7, JobStatus.FAIL, [HostStatus.SUCCESS, HostStatus.FAILED]))
    assert job_counts(tally.counts())["failed"] == 1
    assert tally.counts().finished == 2
    assert tally.failed_steps(7) == [("host", 20, 1)]
    assert tally.counts().events == 0
    tally.feed(JobTransition(7, T0, JobStatus.FAIL, JobStatus.RUNNING))
    assert job_counts(tally.counts())["running"] == 1
    failed_host = Host(bk_host_id=1001)
    tally.feed(host_event(7, HostStatus.WAITING, HostStatus.FAILED, host=failed_host))
    assert tally.counts().finished == 1
    assert tally.failed_steps(7) == []
    tally.feed(host_event(7, HostStatus.SUCCESS, HostStatus.WAITING, host=failed_host, ended=T0))
    tally.feed(JobFinished(7, T0, JobStatus.SUCCESS, snapshot(7, JobStatus.SUCCESS, [9, 9])))
    assert tally.all_succeeded
    assert tally.counts().hosts == {HostStatus.SUCCESS: 2}


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_rate_meter_reads_the_recent_window() -> None:
    meter = RateMeter(window=2.0)
    assert meter.update(0.0, 0) == 0.0
    assert meter.update(1.0, 100) == 100.0
    assert meter.update(2.0, 200) == 100.0
    assert meter.update(3.0, 500) == 200.0  # (500 - 100) / (3 - 1): the oldest sample aged out
    assert meter.update(10.0, 500) == 0.0
