"""A job's end, written to its watches, against a watch that joins while it is on its way; no I/O.

The journal writes a job's end to each watch the job is held in, and the poller stops following
the job. A watch the job joins after that (a ``submit`` landing as the job ends, read with its
partition before the end's write is answered) never gets that end: once the end is applied
everywhere it was written, the worker lets the job go and reads its partition again, where the
job is followed anew for that watch. And the store telling of an applied end through a
callback that fails logs it and goes on writing.
"""

from __future__ import annotations

import datetime as _dt
from types import SimpleNamespace

from bkjob_async import Scope
from bkjob_async.cluster._holdings import Holdings
from bkjob_async.cluster._journal import ClusterJournal
from bkjob_async.cluster._worker import Worker
from bkjob_async.cluster._writes import Fence
from bkjob_async.errors import NotFoundError
from bkjob_async.polling._jobs import PolledJob
from bkjob_async.polling.events import WatchFailed

SCOPE = Scope.biz(2)
JOB = (SCOPE, 1)
PART = 0


def _setup(watches: frozenset[str]) -> tuple[Holdings, ClusterJournal, list, SimpleNamespace]:
    held = Holdings()
    commits: list[tuple[str, bool]] = []

    def commit(watch, key, data, records, *, end):
        commits.append((watch, end))
        return len(commits)

    journal = ClusterJournal(SimpleNamespace(held=held, commit=commit), wire={})  # type: ignore[arg-type]
    worker = SimpleNamespace(
        held=held,
        cluster=SimpleNamespace(partition=lambda scope, job_id: PART),
        poller=SimpleNamespace(unfollowed=[]),
    )
    worker.poller.unfollow = lambda scope, job_id: worker.poller.unfollowed.append(job_id)
    worker._unfollow = lambda jobs: Worker._unfollow(worker, jobs)  # type: ignore[arg-type]
    _gone, start = held.take(PART, 1, {JOB: watches}, {})
    assert start == {JOB: None}
    return held, journal, commits, worker


def _end(journal: ClusterJournal) -> None:
    failed = WatchFailed(1, _dt.datetime.now(_dt.timezone.utc), NotFoundError("no such job"))
    journal.record(PolledJob(SCOPE, 1), [], failed, [], None)


def test_a_watch_joined_while_the_end_is_on_its_way_follows_the_job_anew() -> None:
    held, journal, commits, worker = _setup(frozenset({"w1"}))
    _end(journal)
    assert commits == [("w1", True)]
    # ``submit`` to w2 lands; the partition is read again before w1's end is answered
    gone, start = held.take(PART, 2, {JOB: frozenset({"w1", "w2"})}, {})
    assert (gone, start) == ([], {})  # held: not followed anew yet
    Worker._end_written(worker, JOB, "w1")  # type: ignore[arg-type]
    assert worker.poller.unfollowed == [1]
    assert PART not in held.versions  # its partition is read again at the next lease round ...
    _gone, start = held.take(PART, 3, {JOB: frozenset({"w2"})}, {})
    assert start == {JOB: None}  # ... where the job is followed for w2


def test_an_end_written_to_two_watches_lets_the_job_go_once_both_are_applied() -> None:
    held, journal, commits, worker = _setup(frozenset({"w1", "w2"}))
    _end(journal)
    assert sorted(commits) == [("w1", True), ("w2", True)]
    Worker._end_written(worker, JOB, "w1")  # type: ignore[arg-type]
    member = held.of("w2", JOB)
    assert member is not None  # w2's end is still on its way: its write stays held
    assert member.held
    assert worker.poller.unfollowed == []
    assert held.versions[PART] == 1
    Worker._end_written(worker, JOB, "w2")  # type: ignore[arg-type]
    assert JOB not in held.jobs
    assert worker.poller.unfollowed == [1]
    assert held.versions[PART] == 1  # ended everywhere: nothing to read again


def test_a_failing_callback_is_logged_and_the_writes_go_on(caplog) -> None:
    def on_ended(job):  # one argument too few: it raises when called
        raise AssertionError("not called with a job alone")

    redis = SimpleNamespace(register_script=lambda script: None)
    fence = Fence(SimpleNamespace(redis=redis), lambda part: None, None, on_ended)  # type: ignore[arg-type]
    write = SimpleNamespace(
        settled=False, job=JOB, end=True, watch="w1", member=None, part=PART, version=None
    )
    fence._settle(write, None)  # type: ignore[arg-type]
    assert write.settled
    assert "callback" in caplog.text
    assert "TypeError" in caplog.text
