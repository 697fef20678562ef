"""A watch's stream entries through the one codec: every kind a worker writes comes back equal,
with its ``event_id``, however the worker's client reads its answers; nothing is misread."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path

import pytest

from bkjob_async import Credentials, HostStatus
from bkjob_async._protocol import Protocol
from bkjob_async.cluster import StreamFormatError
from bkjob_async.cluster._entries import decode_entry, encode_entry, kept, wire_of
from bkjob_async.errors import BkJobError, NotFoundError
from bkjob_async.models import Host, HostResult, JobInstanceStatus, JobStatus
from bkjob_async.polling.events import (
    HostTransition,
    JobFinished,
    JobTransition,
    PollingStalled,
    StepTransition,
    WatchFailed,
)

SAMPLES = Path(__file__).parents[1] / "unit" / "samples"
AT = dt.datetime(2026, 11, 23, 12, 0, 0, 250000, tzinfo=dt.timezone.utc)
HOST = Host(bk_host_id=7, ip="10.0.0.7", bk_cloud_id=0, ipv6=None, bk_agent_id="agent-7")
#: A finished job as bk-job answers it (v3); its create_time is in ms.
RAW = {
    "finished": True,
    "job_instance": {"job_instance_id": 1, "status": 3, "create_time": 1763899200000},
    "step_instance_list": [],
}


def protocol(server_tz: dt.tzinfo | None = None, flavor: str = "apigw-v3") -> Protocol:
    options = {} if server_tz is None else {"server_tz": server_tz}
    return Protocol(
        "http://x", flavor=flavor, credentials=Credentials("a", "b", username="u"), **options
    )


def through_redis(event, raw=None, wire=None):
    """Encode ``event`` as a worker does, as Redis keeps it (text), and read it back."""
    payload = encode_entry(event, raw, wire_of(protocol()) if wire is None else wire)
    fields = {"id": event.event_id, "p": json.dumps(payload), "part": "3", "tok": "9"}
    return decode_entry("deploys", "bkjob:{t}:events:deploys", "1-0", fields)


def test_every_kind_a_worker_writes_comes_back_equal_with_its_id() -> None:
    result = HostResult(HOST, HostStatus(9), "tag", 0, 0, AT, AT, dt.timedelta(seconds=3))
    snapshot = protocol().parse(RAW, JobInstanceStatus)
    for event in (
        HostTransition(1, AT, 11, 2, HOST, HostStatus(7), HostStatus(9), result, visit=2),
        StepTransition(1, AT, 11, 2, None, JobStatus(3)),
        JobTransition(1, AT, JobStatus(2), JobStatus(3), round=1, visit=2),
        JobFinished(1, AT, JobStatus(3), snapshot, round=2),
    ):
        delivery = through_redis(event, RAW)
        assert delivery.event == event
        assert delivery.event.event_id == event.event_id
        assert (delivery.stream_id, delivery.partition, delivery.token) == ("1-0", 3, 9)


@pytest.mark.parametrize(
    "server_tz",
    [dt.timezone(dt.timedelta(hours=8)), zoneinfo.ZoneInfo("Asia/Shanghai")],
    ids=["offset", "zone"],
)
def test_a_finished_jobs_snapshot_is_read_as_the_workers_client_read_it(server_tz) -> None:
    v2 = protocol(server_tz, flavor="esb-v2")
    sample = json.loads((SAMPLES / "get_job_instance_status.v2.esb-doc-zh.json").read_text())
    # Times without their offset: read in the server's zone, so the zone must travel too.
    raw = json.loads(json.dumps(sample["data"]).replace(" +0800", ""))
    snapshot = v2.parse(raw, JobInstanceStatus)
    assert snapshot.job.create_time is not None
    assert snapshot.job.create_time.utcoffset() == dt.timedelta(hours=8)
    event = JobFinished(1, AT, JobStatus(3), snapshot)
    assert through_redis(event, raw, wire_of(v2)).event == event


def test_a_failed_watch_keeps_its_error_type_and_message() -> None:
    event = WatchFailed(4, AT, NotFoundError("job 4 not found", code=1244006), occurrence=2)
    back = through_redis(event).event
    assert isinstance(back, WatchFailed)
    assert type(back.error) is NotFoundError
    assert str(back.error) == str(event.error)
    assert back.event_id == event.event_id
    odd = WatchFailed(4, AT, type("ClusterOnlyError", (BkJobError,), {})("gone"))
    back = through_redis(odd).event
    assert type(back.error).__name__ == "ClusterOnlyError"
    assert back.event_id == odd.event_id


def test_only_what_consumers_read_goes_to_the_stream() -> None:
    assert kept(JobTransition(1, AT, None, JobStatus(2)))
    assert kept(WatchFailed(1, AT, BkJobError("x")))
    assert not kept(PollingStalled(1, AT, AT, BkJobError("x")))


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"type": "job", "job": 1, "prev": None, "cur": 2, "n": 0}, "older bkjob-async"),
        ({"v": 99, "k": "j", "j": 1, "t": AT.isoformat(), "o": 0, "p": None, "c": 2}, "newer"),
        ("not an event", "older bkjob-async"),
    ],
    ids=["old format", "newer format", "not a dict"],
)
def test_an_entry_it_cannot_read_is_refused_naming_the_stream(payload, why) -> None:
    fields = {"id": "1/job/x", "p": json.dumps(payload), "part": "0", "tok": "1"}
    with pytest.raises(StreamFormatError, match=why) as info:
        decode_entry("deploys", "bkjob:{t}:events:deploys", "5-1", fields)
    assert (info.value.watch, info.value.stream_id) == ("deploys", "5-1")
    assert "bkjob:{t}:events:deploys" in str(info.value)
