"""The one codec of stored events: lossless round trips, and formats it cannot read refused."""

from __future__ import annotations

import datetime as dt

import pytest

from bkjob_async import Credentials, HostStatus
from bkjob_async._protocol import Protocol
from bkjob_async.models import Host, HostResult, JobStatus
from bkjob_async.polling._codec import FORMAT, decode_event, encode_event
from bkjob_async.polling.events import HostTransition, JobTransition, StepTransition

PROTOCOL = Protocol("http://x", flavor="apigw-v3", credentials=Credentials("a", "b", username="u"))
AT = dt.datetime(2026, 11, 23, 12, 0, 0, 250000, tzinfo=dt.timezone.utc)
HOST = Host(bk_host_id=7, ip="10.0.0.7", bk_cloud_id=0, ipv6=None, bk_agent_id="agent-7")


def _events() -> list[object]:
    result = HostResult(
        HOST,
        HostStatus(9),
        "tag",
        0,
        0,
        AT - dt.timedelta(seconds=3),
        AT,
        dt.timedelta(seconds=3, milliseconds=5),
    )
    return [
        HostTransition(1, AT, 11, 2, HOST, HostStatus(7), HostStatus(9), result, occurrence=4),
        StepTransition(1, AT, 11, 2, None, JobStatus(3), occurrence=1),
        JobTransition(1, AT, JobStatus(2), JobStatus(3), occurrence=2),
    ]


@pytest.mark.parametrize("event", _events(), ids=lambda e: type(e).__name__)
def test_an_event_comes_back_equal_with_its_id(event: object) -> None:
    data = encode_event(event)  # type: ignore[arg-type]
    assert data["v"] == FORMAT
    back = decode_event(data, PROTOCOL.parse)
    assert back == event
    assert back.event_id == event.event_id  # type: ignore[attr-defined]


def test_data_of_the_first_release_without_a_format_is_read() -> None:
    event = _events()[2]
    data = encode_event(event)  # type: ignore[arg-type]
    del data["v"]
    assert decode_event(data, PROTOCOL.parse) == event


@pytest.mark.parametrize("version", [FORMAT + 1, "2", None])
def test_a_format_this_version_cannot_read_is_refused_never_misread(version: object) -> None:
    data = encode_event(_events()[0])  # type: ignore[arg-type]
    data["v"] = version
    with pytest.raises(ValueError, match="newer bkjob-async"):
        decode_event(data, PROTOCOL.parse)


@pytest.mark.parametrize("data", [[], "x", {"v": 1}, {"v": 1, "j": 1, "t": "now", "o": 0}])
def test_what_is_not_an_event_is_a_value_error(data: object) -> None:
    with pytest.raises(ValueError, match="not a stored event"):
        decode_event(data, PROTOCOL.parse)
