"""``polling._tap``: a tap is attached only while open, bounded, and survives a failing sink."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

import pytest

from bkjob_async.config import Scope
from bkjob_async.models import JobStatus
from bkjob_async.polling._delivery import Dispatcher, StoreJournal
from bkjob_async.polling._jobs import Registry
from bkjob_async.polling._tap import Tap
from bkjob_async.polling.events import Event, JobTransition
from bkjob_async.polling.stores.memory import MemoryStore

SCOPE = Scope.biz(2)
AT = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)


def _job(n: int) -> JobTransition:
    return JobTransition(n, AT, None, JobStatus.RUNNING)


def test_a_tap_is_attached_only_while_open_and_bounded() -> None:
    registry = Registry(10)
    delivery = Dispatcher(StoreJournal(MemoryStore()), registry)
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


def test_a_tap_with_a_sink_hands_each_delivery_over_at_once_and_survives_a_failing_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = Registry(10)
    delivery = Dispatcher(StoreJournal(MemoryStore()), registry)
    got: list[tuple[int, bool]] = []

    def sink(scope: Scope, events: Sequence[Event], last: Event | None) -> None:
        if len(events) == 3:
            raise RuntimeError("a bug in the reader")
        got.append((len(events), last is not None))

    events = [JobTransition(1, AT, None, JobStatus.RUNNING)]
    with Tap(delivery, registry, limit=5, sink=sink) as tap:
        tap.offer(SCOPE, events * 2, None)
        tap.offer(SCOPE, events * 3, _job(1))  # the sink raises: lost, counted, logged
        tap.offer(SCOPE, (), _job(2))
        assert got == [(2, False), (0, True)]
        assert tap.dropped == 4
        assert tap.take() == []  # nothing is kept when a sink takes the deliveries
    assert "a tap's sink failed" in caplog.text
