"""The pure tracker: observations in, transitions out, in order, never twice."""

from __future__ import annotations

import datetime as dt

from bkjob_async._converter import Generation
from bkjob_async._observe import observe_job
from bkjob_async.models import Host, HostResult, HostStatus
from bkjob_async.polling._tracker import JobTracker

from .scripted import describe, job_body

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def step(tracker: JobTracker, data, generation=Generation.V3):
    structured = []

    def host_result(key, code, row):
        structured.append(key)
        return HostResult(Host(bk_host_id=key if isinstance(key, int) else None), HostStatus(code))

    events = tracker.observe(1, observe_job(data, generation), lambda: NOW, host_result)
    return [describe(e) for e in events], structured


def test_first_sight_reports_everything_then_only_changes() -> None:
    tracker = JobTracker()
    events, structured = step(tracker, job_body(1, 2, [(10, 2, 0, [5, 7])]))
    assert events == [
        ("host", 10, 0, 100, None, 5),
        ("host", 10, 0, 101, None, 7),
        ("step", 10, 0, None, 2),
        ("job", None, 2),
    ]
    assert structured == [100, 101]
    events, structured = step(tracker, job_body(1, 2, [(10, 2, 0, [5, 9])]))
    assert events == [("host", 10, 0, 101, 7, 9)]
    assert structured == [101]  # unchanged rows are never structured
    assert step(tracker, job_body(1, 2, [(10, 2, 0, [5, 9])])) == ([], [])


def test_missing_rows_are_no_news() -> None:
    tracker = JobTracker()
    step(tracker, job_body(1, 4, [(10, 4, 0, [9, 11])]))
    events, _ = step(tracker, job_body(1, 2, [(10, 4, 1, [])]))  # retry lag: rows not written yet
    assert events == [("job", 4, 2)]
    events, _ = step(tracker, job_body(1, 2, [(10, 4, 1, None)]))  # no return_ip_result
    assert events == []
    events, _ = step(tracker, job_body(1, 2, [(10, 2, 1, [9, 5])]))
    assert events == [("host", 10, 1, 101, 11, 5), ("step", 10, 1, 4, 2)]


def test_finished_follows_the_server_flag() -> None:
    tracker = JobTracker()
    step(tracker, job_body(1, 7, [(10, 7, 0, None)]))
    assert not tracker.finished  # waiting for a user is not finished
    step(tracker, job_body(1, 13, [(10, 13, 0, None)]))
    assert tracker.finished
    step(tracker, job_body(1, 7, [(10, 7, 0, None)]))  # re-confirmation revives it
    assert not tracker.finished


def test_v2_rows_key_by_cloud_and_ip() -> None:
    data = {
        "is_finished": False,
        "job_instance": {"job_instance_id": 1, "status": 2},
        "blocks": [
            {
                "step_instances": [
                    {
                        "step_instance_id": 10,
                        "status": 2,
                        "retry_count": 0,
                        "step_ip_status": [{"ip": "10.0.0.1", "bk_cloud_id": 0, "status": 7}],
                    }
                ]
            }
        ],
    }
    tracker = JobTracker()
    _, structured = step(tracker, data, Generation.V2)
    assert structured == [(0, "10.0.0.1", None)]
    assert structured[0] == Host(ip="10.0.0.1", bk_cloud_id=0).key


def test_unknown_codes_pass_through() -> None:
    tracker = JobTracker()
    events, _ = step(tracker, job_body(1, 99, [(10, 98, 0, [777])], finished=False))
    assert events == [("host", 10, 0, 100, None, 777), ("step", 10, 0, None, 98), ("job", None, 99)]
