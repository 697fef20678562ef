"""The one codec of stored events: lossless round trips, and formats it cannot read refused."""

from __future__ import annotations

import datetime as dt

import pytest

from bkjob_async import Credentials, HostStatus
from bkjob_async._protocol import Protocol
from bkjob_async.models import Container, ContainerResult, Host, HostResult, JobStatus
from bkjob_async.polling._codec import FORMAT, decode_event, encode_event
from bkjob_async.polling.events import (
    ContainerTransition,
    HostTransition,
    JobTransition,
    StepTransition,
)

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
    box = Container(100123456, "d0c4e7", "job-execute", 7)
    done = ContainerResult(box, HostStatus(104), "t", 3, AT, AT, dt.timedelta(seconds=1.5))
    running = ContainerResult(Container(100123457), HostStatus(7))
    return [
        HostTransition(1, AT, 11, 2, HOST, HostStatus(7), HostStatus(9), result, visit=2),
        ContainerTransition(1, AT, 11, 2, box, HostStatus(7), HostStatus(104), done, visit=2),
        ContainerTransition(1, AT, 11, 0, running.container, None, HostStatus(7), running),
        StepTransition(1, AT, 11, 2, None, JobStatus(3)),
        JobTransition(1, AT, JobStatus(2), JobStatus(3), round=1, visit=2),
    ]


@pytest.mark.parametrize("event", _events(), ids=lambda e: type(e).__name__)
def test_an_event_comes_back_equal_with_its_id(event: object) -> None:
    data = encode_event(event)  # type: ignore[arg-type]
    assert data["v"] == FORMAT
    back = decode_event(data, PROTOCOL.parse)
    assert back == event
    assert back.event_id == event.event_id  # type: ignore[attr-defined]


# Events as format 1 wrote them (without "v" in the first release): ids counted observations.
FORMAT_1 = [
    (
        {"j": 1, "t": AT.isoformat(), "o": 4, "k": "h", "s": 11, "x": 2, "p": 7, "c": 9}
        | {"host": [7, "10.0.0.7", 0, None, "agent-7"], "r": [None, 0, 0, None, None, None]},
        "1/11/2/h7/7-9/4",
    ),
    (
        {"j": 1, "t": AT.isoformat(), "o": 1, "k": "s", "s": 11, "x": 2, "p": None, "c": 3},
        "1/11/2/s/none-3/1",
    ),
    ({"v": 1, "j": 1, "t": AT.isoformat(), "o": 2, "k": "j", "p": 2, "c": 3}, "1/j/2-3/2"),
]


@pytest.mark.parametrize(("data", "event_id"), FORMAT_1)
def test_a_format_1_event_keeps_the_id_it_was_handed_out_with(data: dict, event_id: str) -> None:
    event = decode_event(data, PROTOCOL.parse)
    assert event.event_id == event_id  # consumers dedupe on it and acks name it
    assert int(event.current) == data["c"]  # type: ignore[union-attr]
    again = decode_event(encode_event(event), PROTOCOL.parse)  # type: ignore[arg-type]
    assert again == event  # written anew: format 2, the id of the visit rule
    assert again.event_id != event_id


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
