"""``polling._subscription``: a watch's mailbox, exact up to its limit, then coalescing per host,
step and job, in order."""

from __future__ import annotations

import datetime as dt

from bkjob_async.models import Host, HostResult, HostStatus, JobStatus
from bkjob_async.polling._subscription import _Mailbox
from bkjob_async.polling.events import HostTransition, JobTransition, StepTransition

from ..scripted import describe

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def host(host_id: int, previous: int | None, current: int, count: int = 0) -> HostTransition:
    result = HostResult(Host(bk_host_id=host_id), HostStatus(current))
    prev = None if previous is None else HostStatus(previous)
    return HostTransition(1, NOW, 10, count, result.host, prev, HostStatus(current), result)


def step(previous: int | None, current: int) -> StepTransition:
    return StepTransition(
        1, NOW, 10, 0, None if previous is None else JobStatus(previous), JobStatus(current)
    )


def job(previous: int | None, current: int) -> JobTransition:
    return JobTransition(
        1, NOW, None if previous is None else JobStatus(previous), JobStatus(current)
    )


def drain(box: _Mailbox) -> list:
    out = []
    while (event := box.get_nowait()) is not None:
        out.append(describe(event))
    return out


async def test_below_the_limit_every_event_is_kept() -> None:
    box = _Mailbox(limit=10)
    for event in (host(1, None, 5), host(1, 5, 7), host(1, 7, 9), step(2, 3)):
        box.put(event)
    assert drain(box) == [
        ("host", 10, 0, 1, None, 5),
        ("host", 10, 0, 1, 5, 7),
        ("host", 10, 0, 1, 7, 9),
        ("step", 10, 0, 2, 3),
    ]
    assert not box.coalescing


async def test_past_the_limit_transitions_merge_and_keep_order() -> None:
    box = _Mailbox(limit=3)
    box.put(host(1, None, 5))
    box.put(job(None, 2))
    box.put(host(2, None, 5))
    box.put(host(1, 5, 7))  # overflow: coalescing starts
    box.put(host(1, 7, 11, count=0))
    box.put(step(2, 4))
    box.put(job(2, 4))
    assert box.coalescing
    assert len(box) == 4
    assert drain(box) == [
        ("host", 10, 0, 2, None, 5),
        ("host", 10, 0, 1, None, 11),  # previous from the oldest, current from the newest
        ("step", 10, 0, 2, 4),
        ("job", None, 4),
    ]
    assert not box.coalescing  # empty again: back to exact


async def test_coalescing_bounds_memory_by_keys() -> None:
    box = _Mailbox(limit=100)
    for round_ in range(1000):
        for host_id in range(50):
            box.put(host(host_id, 5 + round_ % 2, 5 + (round_ + 1) % 2))
    assert len(box) == 50
