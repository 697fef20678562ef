"""The dashboard's feed and the poller's tap, as values: numbering, resumption, bounds."""

from __future__ import annotations

import datetime as _dt
import json

import pytest

from bkjob_async.config import Scope
from bkjob_async.models import HostStatus, JobStatus
from bkjob_async.polling._delivery import Delivery
from bkjob_async.polling._jobs import Registry
from bkjob_async.polling._journal import StoreJournal
from bkjob_async.polling._tap import Tap
from bkjob_async.polling.events import JobTransition
from bkjob_async.polling.stores.memory import MemoryStore
from bkjob_async.web._board import bucket_of
from bkjob_async.web._feed import Feed, entry_of, host_state, host_text

SCOPE = Scope.biz(2)
AT = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)


def _job(n: int) -> JobTransition:
    """A job's transition with its own id (the job id tells them apart)."""
    return JobTransition(n, AT, None, JobStatus.RUNNING)


def _id(n: int) -> str:
    return _job(n).event_id


def test_the_feed_resumes_after_an_id_it_holds_and_says_when_it_does_not() -> None:
    feed = Feed(3)
    for n in range(5):
        feed.add(SCOPE, _job(n))
    assert (feed.start, feed.end) == (2, 5)
    assert feed.after(_id(3)) == 4
    assert [e.event_id for _, e in feed.read(4, 10)] == [_id(4)]
    assert feed.after(_id(1)) is None  # too old: no longer held
    with pytest.raises(LookupError):
        feed.read(1, 10)
    assert feed.last_id() == _id(4)
    generation = feed.generation
    feed.restart()
    assert (feed.start, feed.end, feed.last_id()) == (0, 0, "")
    assert feed.generation == generation + 1
    assert feed.after(_id(4)) is None


def test_an_entry_is_json_with_the_events_own_id() -> None:
    event = JobTransition(10001, AT, JobStatus.RUNNING, JobStatus.FAIL, round=0)
    event_id, job, data = entry_of(SCOPE, event)
    assert event_id == event.event_id
    assert job == "biz:2/10001"
    assert json.loads(data) == {
        "id": event.event_id,
        "job": "biz:2/10001",
        "at": "2026-01-01T00:00:00.000+00:00",
        "kind": "job",
        "previous": "RUNNING",
        "current": "FAIL",
    }
    assert host_text(1002) == "1002"
    assert host_text((0, "10.0.0.1", None)) == "0/10.0.0.1/"
    assert [host_state(s) for s in (HostStatus.WAITING, HostStatus.RUNNING)] == [
        "waiting",
        "running",
    ]
    assert host_state(HostStatus.LAST_SUCCESS) == "succeeded"
    assert host_state(HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE) == "failed"


def test_buckets() -> None:
    assert bucket_of(None) == "pending"
    assert bucket_of(None, listed=True) == "unfinished"
    assert bucket_of(JobStatus.RUNNING) == "running"
    assert bucket_of(JobStatus.WAITING_USER) == "waiting"
    assert bucket_of(JobStatus.SUCCESS) == "succeeded"
    assert bucket_of(JobStatus.FAIL) == "failed"
    assert bucket_of(JobStatus.RUNNING, "timed out") == "ended"


def test_a_tap_is_attached_only_while_open_and_bounded() -> None:
    registry = Registry(10)
    delivery = Delivery(StoreJournal(MemoryStore()), registry)
    tap = Tap(delivery, registry, limit=5)
    assert delivery.taps == ()
    with tap:
        assert delivery.taps == (tap,)
        events = [JobTransition(1, AT, None, JobStatus.RUNNING)] * 2
        for _ in range(4):
            tap.offer(SCOPE, events, None)
        # 8 events past a limit of 5: the oldest batches went (4 kept), and are counted.
        assert tap.dropped == 4
        assert [len(e) for _, e, _ in tap.take()] == [2, 2]
        assert tap.take() == []
        with pytest.raises(RuntimeError):
            tap.__enter__()
    assert delivery.taps == ()
    assert tap.jobs() == []
    with pytest.raises(ValueError, match="limit"):
        Tap(delivery, Registry(10), limit=0)
