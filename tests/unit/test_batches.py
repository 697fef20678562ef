"""``polling.batches``: the batch follower on hand-made polls, batches read from host and step
transitions alone."""

from __future__ import annotations

import datetime as _dt

from bkjob_async.models import Host, HostResult, HostStatus, JobStatus
from bkjob_async.polling import HostTransition, JobFinished, StepTransition
from bkjob_async.polling.batches import BatchEnded, BatchFollower, BatchStarted, BatchWaiting

T0 = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
W, R, OK, BAD = HostStatus.WAITING, HostStatus.RUNNING, HostStatus.SUCCESS, HostStatus.FAILED


def poll(n: int, hosts: dict[int, tuple[HostStatus | None, HostStatus]], step=None) -> list:
    at = T0 + _dt.timedelta(seconds=n)
    events: list = [
        HostTransition(1, at, 10, 0, Host(h), prev, cur, HostResult(Host(h), cur))
        for h, (prev, cur) in hosts.items()
    ]
    if step is not None:
        events.append(StepTransition(1, at, 10, 0, step[0], step[1]))
    return events


def run(*polls: list) -> list[tuple]:
    follower, out = BatchFollower(), []
    for events in polls:
        for event in events:
            out += follower.feed(event)
    out += follower.close()
    names = {BatchStarted: "start", BatchEnded: "end", BatchWaiting: "wait"}
    return [(names[type(e)], e.batch, e.hosts, getattr(e, "failed", ())) for e in out]


def test_a_missed_15_still_ends_one_batch_before_the_next_starts() -> None:
    assert run(
        poll(0, {1: (None, R), 2: (None, W), 3: (None, W)}, (None, JobStatus.RUNNING)),
        # one poll: host 1 done and host 2 running (15 came and went unseen)
        poll(1, {1: (R, OK), 2: (W, R)}),
        poll(2, {2: (R, OK)}, (JobStatus.RUNNING, JobStatus.ROLLING_WAITING)),
        poll(3, {3: (W, R)}, (JobStatus.ROLLING_WAITING, JobStatus.RUNNING)),
        poll(4, {3: (R, BAD)}, (JobStatus.RUNNING, JobStatus.FAIL)),
    ) == [
        ("start", 1, (1,), ()),
        ("end", 1, (1,), ()),
        ("wait", 2, (2, 3), ()),
        ("start", 2, (2,), ()),
        ("end", 2, (2,), ()),
        ("wait", 3, (3,), ()),
        ("start", 3, (3,), ()),
        ("end", 3, (3,), (3,)),
    ]


def test_hosts_of_one_batch_starting_a_poll_apart_are_one_batch() -> None:
    assert run(
        poll(0, {1: (None, R), 2: (None, W), 3: (None, W)}),
        poll(1, {2: (W, R)}),
        poll(2, {1: (R, OK), 2: (R, OK)}, (JobStatus.RUNNING, JobStatus.ROLLING_WAITING)),
    ) == [("start", 1, (1,), ()), ("end", 1, (1, 2), ()), ("wait", 2, (3,), ())]


def test_a_step_whose_hosts_start_apart_but_never_pause_has_no_batches() -> None:
    assert (
        run(
            poll(0, {1: (None, R), 2: (None, W)}, (None, JobStatus.RUNNING)),
            poll(1, {2: (W, R)}),
            poll(2, {1: (R, OK), 2: (R, OK)}, (JobStatus.RUNNING, JobStatus.SUCCESS)),
        )
        == []
    )


def test_a_finished_job_forgets_its_steps() -> None:
    follower = BatchFollower()
    for event in poll(0, {1: (None, R), 2: (None, W)}):
        follower.feed(event)
    assert follower._steps
    finished = object.__new__(JobFinished)
    object.__setattr__(finished, "job_instance_id", 1)
    object.__setattr__(finished, "observed_at", T0)
    follower.feed(finished)
    assert not follower._steps
