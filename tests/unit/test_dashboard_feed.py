"""The dashboard's feed as values: numbering, resumption, bounds (the poller's tap: ``test_tap``)."""

from __future__ import annotations

import datetime as _dt
import json

import pytest

from bkjob_async import Fold
from bkjob_async.models import (
    Container,
    ContainerResult,
    Host,
    HostResult,
    HostStatus,
    JobStatus,
)
from bkjob_async.polling._tap import JobSeen, StepSeen
from bkjob_async.polling.events import (
    ContainerTransition,
    HostTransition,
    JobFinished,
    JobTransition,
    WatchTimedOut,
    host_event_id,
)
from bkjob_async.web._board import SAMPLES, Board, bucket_of
from bkjob_async.web._feed import (
    Feed,
    entry_of,
    held_entry,
    held_id,
    host_state,
    host_text,
    job_text,
)

from ..made import ended
from ..scripted import SCOPE

AT = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)


def _job(n: int) -> JobTransition:
    """A job's transition with its own id (the job id tells them apart)."""
    return JobTransition(n, AT, None, JobStatus.RUNNING)


def _id(n: int) -> str:
    return _job(n).event_id


def test_the_feed_resumes_from_a_cursor_it_holds_and_says_when_it_does_not() -> None:
    feed = Feed(3)
    for n in range(5):
        feed.add(job_text(SCOPE, n), SCOPE, _job(n))
    assert (feed.start, feed.end) == (2, 5)
    assert feed.number_of(feed.cursor(4)) == 4
    assert [held_id(h) for h in feed.read(4, 10)] == [_id(4)]
    assert feed.number_of(feed.cursor(1)) is None  # too old: no longer held
    assert feed.number_of(feed.cursor(6)) is None  # not there yet
    assert feed.number_of(Feed(3).cursor(4)) is None  # another feed's (another process's)
    assert feed.number_of("4") is None
    with pytest.raises(LookupError):
        feed.read(1, 10)
    assert feed.last_id() == _id(4)
    # Missed events: the entries stay, no cursor of before resumes.
    cursor = feed.cursor(5)
    feed.forget_cursors()
    assert feed.number_of(cursor) is None
    assert feed.number_of(feed.cursor(5)) == 5
    assert feed.last_id() == _id(4)
    generation = feed.generation
    feed.restart()
    assert (feed.start, feed.end, feed.last_id()) == (0, 0, "")
    assert feed.generation == generation + 1
    assert feed.number_of(cursor) is None


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


def _host(
    key: Host, previous: HostStatus | None, result: HostResult, visit: int = 1
) -> HostTransition:
    return HostTransition(10001, AT, 7, 2, key, previous, result.status, result, visit=visit)


@pytest.mark.parametrize(
    "host",
    [Host(bk_host_id=1002), Host(ip="10.0.0.1", bk_cloud_id=0), Host(ipv6="::1", bk_cloud_id=3)],
)
@pytest.mark.parametrize("visit", [1, 2])
def test_a_hosts_transition_is_held_as_plain_values_and_sent_as_the_event_itself(
    host: Host, visit: int
) -> None:
    """The feed keeps numbers and strings of a host's transition, not the event; what it sends
    of them is what it would send of the event: the same id, the same JSON."""
    ok = HostResult(host, HostStatus.SUCCESS, exit_code=0)
    bad = HostResult(host, HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=3, error_code=7)
    feed = Feed(2)
    ids = []
    for event, failed in (
        (_job(10001), False),
        (_host(host, None, ok, visit), False),
        (_host(host, HostStatus.RUNNING, bad, visit), True),
    ):
        if isinstance(event, HostTransition):
            feed.add_host(job_text(SCOPE, 10001), event, failed)
        else:
            feed.add(job_text(SCOPE, 10001), SCOPE, event)
        (held,) = feed.read(feed.end - 1, 1)
        assert held_id(held) == feed.last_id() == event.event_id
        assert held_entry(held) == entry_of(SCOPE, event)
        ids.append(event.event_id)
    assert json.loads(held_entry(held)[2])["exit_code"] == 3
    # The ring went round: the job's entry is gone, the two hosts' are there in order.
    assert (feed.start, feed.end) == (1, 3)
    assert [held_id(h) for h in feed.read(1, 10)] == ids[1:]
    assert host_event_id(1, 2, 0, (None, "10.0.0.1", None), 9, 1) == "1/2/0/h|10.0.0.1|/9"


def test_a_containers_transition_is_held_and_sent_as_a_container_under_its_own_id() -> None:
    pod = Container(100123456, container_id="abc", name="app", node_host_id=5)
    bad = ContainerResult(pod, HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=3)
    feed = Feed(4)
    for previous, result, visit in ((None, bad, 1), (HostStatus.RUNNING, bad, 2)):
        event = ContainerTransition(
            10001, AT, 7, 2, pod, previous, result.status, result, visit=visit
        )
        feed.add_host(job_text(SCOPE, 10001), event, True)
        (held,) = feed.read(feed.end - 1, 1)
        assert held_id(held) == feed.last_id() == event.event_id
        assert held_entry(held) == entry_of(SCOPE, event)
    sent = json.loads(held_entry(held)[2])
    assert sent["id"] == "10001/7/2/c100123456/104#2"
    assert (sent["kind"], sent["container"], sent["state"]) == ("container", "100123456", "failed")
    assert (sent["label"], sent["exit_code"], sent["error_code"]) == (
        "app (container 100123456)",
        3,
        None,
    )
    assert "host" not in sent
    assert held_id(feed.read(0, 1)[0]) == "10001/7/2/c100123456/104"


def test_the_board_counts_a_jobs_containers_apart_from_hosts() -> None:
    """A board opened on a poller that already saw a container job and a host job."""
    pods = StepSeen(
        7, None, 0, {("container", 1): HostStatus.SUCCESS, ("container", 2): HostStatus.FAILED}
    )
    hosts = StepSeen(8, None, 0, {1002: HostStatus.RUNNING})
    board = Board(None)  # type: ignore[arg-type]  # (``_load`` reads no poller)
    board._load(
        [
            JobSeen(SCOPE, 1, None, False, (pods,), True),
            JobSeen(SCOPE, 2, None, False, (hosts,), True),
        ]
    )
    assert board.container_counts == {HostStatus.SUCCESS: 1, HostStatus.FAILED: 1}
    assert board.host_counts == {HostStatus.RUNNING: 1}
    pod_job, host_job = board.jobs.values()
    assert (pod_job.containers, pod_job.hosts, pod_job.finished, pod_job.failed) == (2, 0, 2, 1)
    assert (host_job.containers, host_job.hosts, host_job.finished, host_job.failed) == (0, 1, 0, 0)


def test_the_board_folds_containers_in_with_their_change_to_event_delays() -> None:
    """Containers' transitions count as containers, go to the feed, and give delays as hosts'
    (at most ``SAMPLES`` a tick)."""
    board = Board(None)  # type: ignore[arg-type]  # (``fold`` reads no poller)
    ends = []
    for n in range(SAMPLES + 5):
        pod = Container(100 + n, name="app")
        running = ContainerResult(pod, HostStatus.RUNNING)
        done = ContainerResult(pod, HostStatus.SUCCESS, end_time=AT - _dt.timedelta(seconds=2))
        ends += [
            ContainerTransition(10001, AT, 7, 0, pod, None, HostStatus.RUNNING, running),
            ContainerTransition(10001, AT, 7, 0, pod, HostStatus.RUNNING, HostStatus.SUCCESS, done),
        ]
    board.fold(SCOPE, ends[:2], None)
    board.fold(SCOPE, ends[2:], None)
    (row,) = board.jobs.values()
    assert (row.containers, row.hosts, row.finished, row.failed) == (SAMPLES + 5, 0, SAMPLES + 5, 0)
    assert board.container_counts[HostStatus.SUCCESS] == SAMPLES + 5
    assert board.host_counts == {}
    assert list(board.delays) == [2.0] * SAMPLES  # the tick's sample, no more
    assert board.feed.end == len(ends)


def test_buckets() -> None:
    fold = Fold([1])
    assert bucket_of(fold.job(1)) == "pending"  # type: ignore[arg-type]
    assert bucket_of(fold.job(1), listed=True) == "unfinished"  # type: ignore[arg-type]
    for event, bucket in [
        (JobTransition(1, AT, None, JobStatus.RUNNING), "running"),
        (JobTransition(1, AT, JobStatus.RUNNING, JobStatus.WAITING_USER), "waiting"),
        (JobFinished(1, AT, JobStatus.SUCCESS, ended(1, JobStatus.SUCCESS)), "succeeded"),
        (JobTransition(1, AT, JobStatus.SUCCESS, JobStatus.RUNNING), "running"),
        (JobFinished(1, AT, JobStatus.FAIL, ended(1, JobStatus.FAIL)), "failed"),
        (WatchTimedOut(1, AT, None), "ended"),
    ]:
        fold.feed(event)
        assert bucket_of(fold.job(1), listed=True) == bucket  # type: ignore[arg-type]


def test_the_transitions_rate_is_right_from_the_first_second_and_the_run_has_an_end() -> None:
    """The rate is what the polls observed a second over the seconds sampled, not that count
    spread over five seconds the board was not there for (it read 22/s for 1,500/s)."""
    now = [1_000.0]
    board = Board(None, clock=lambda: now[0])  # type: ignore[arg-type]  # (reads no poller)
    assert board.transitions_per_second() == 0.0
    board.sample((0, 0, 0, 0), 2, 10, None)  # the first reading: no second to tell yet
    assert (board.started, board.ended, list(board.series)) == (1_000_000, None, [])
    now[0] += 1
    board.sample((1_500, 40, 1, 2), 2, 10, (0, 0, 0, 0))
    assert board.transitions_per_second() == 1_500.0
    assert list(board.series) == [(1_001_000, 1_500, 40, 3)]
    for n in range(2, 8):
        now[0] += 1
        board.sample((1_500 * n, 40 * n, 1, 2), 2, 10, (1_500 * (n - 1), 40 * (n - 1), 1, 2))
    assert board.transitions_per_second() == 1_500.0
    # The watches end: the run ended then; a job followed again starts another.
    now[0] += 1
    board.sample((10_500, 280, 1, 2), 0, 0, (10_500, 280, 1, 2))
    assert board.ended == 1_008_000
    now[0] += 1
    board.sample((10_500, 280, 1, 2), 0, 0, (10_500, 280, 1, 2))
    assert board.ended == 1_008_000
    now[0] += 1
    board.sample((10_600, 281, 1, 2), 1, 1, (10_500, 280, 1, 2))
    assert (board.started, board.ended) == (1_009_000, None)


def test_an_entrys_json_is_made_once_for_every_stream_and_never_outlives_its_place() -> None:
    host = Host(bk_host_id=7)
    ok = HostResult(host, HostStatus.SUCCESS, exit_code=0)
    feed = Feed(2)
    text = job_text(SCOPE, 10001)
    first = _host(host, None, ok, 1)
    feed.add_host(text, first, False)
    (made,) = feed.texts(0, 10)
    assert made == (text, entry_of(SCOPE, first)[2])
    (again,) = feed.texts(0, 10)
    assert again[1] is made[1]  # the second stream sends what the first one made
    feed.add(text, SCOPE, _job(10001))
    later = _host(host, HostStatus.RUNNING, ok, 2)
    feed.add_host(text, later, False)  # (in the first one's place: the ring went round)
    assert feed.texts(1, 10) == [
        (text, entry_of(SCOPE, _job(10001))[2]),
        (text, entry_of(SCOPE, later)[2]),
    ]
    with pytest.raises(LookupError):
        feed.texts(0, 1)


@pytest.mark.parametrize("sort", ["id", "updated", "hosts", "status"])
@pytest.mark.parametrize("descending", [False, True])
def test_a_page_of_many_rows_is_the_page_of_the_whole_sort(sort: str, descending: bool) -> None:
    board = Board(object())  # type: ignore[arg-type]
    for n in range(400):
        board._row(SCOPE, 10_000 + (n * 7919) % 400).updated = float(n % 13)
    total, page = board.query(sort=sort, descending=descending, offset=20, limit=30)
    whole, every = board.query(sort=sort, descending=descending, offset=0, limit=400)
    assert total == whole == 400
    assert [r.job_id for r in page] == [r.job_id for r in every[20:50]]
