"""Rule: the board reads the poller only through its public tap and statistics.

What the dashboard shows of a poller: jobs, hosts, containers, the feed; kept after the run.

Rule: the board reads the poller through its public tap (``Poller.tap``) and statistics, never
its internals. With no viewer the tap is closed: a poll costs the poller one truth test more.
The first viewer opens the tap and reads every job as it is now; the events that come after
are folded in as each poll hands them over (the tap's sink, ``fold``: none is held past its
poll), and the streams are woken every ``tick`` seconds. The last viewer gone, the board
waits ``grace`` seconds (a reconnecting browser keeps its feed), then closes the tap and
keeps what it showed (the feed, failed hosts, names, times): whoever comes after the run
reads it. A monitor reads the poller's statistics once a second, viewer or not (a frozen
snapshot: no poll waits for it): the rates over the last minutes, and when the run ended.
At its start the board reads what the poller's store kept of earlier runs (``remember``:
``Poller.history``; a ``SqliteStore`` keeps it across restarts): the jobs of the watches that
ended, as last seen, the latest transitions, and when the last one ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import heapq
import operator
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import _json
from .._fold import Fold, percentile
from ..models import HostStatus
from ..polling import FailedHost
from ..polling.events import (
    ContainerTransition,
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
)
from ._feed import Feed, host_text
from ._rows import BUCKETS, JobRow, bucket_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence

    from ..config import Scope
    from ..models import JobInstanceStatus
    from ..polling import FailedContainer, JobSeen, Poller, Tap
    from ..polling._tap import History
    from ..polling.events import Event

__all__ = ["BOARD", "BUCKETS", "Board", "Failure", "JobRow", "bucket_of"]

#: Hosts' (and containers') change-to-event delays measured per tick, at most (a sample: each
#: costs the structuring of a host's row, some 20 us; 20 a second fill the 4,096 kept in 3.5
#: minutes).
SAMPLES = 2
#: Seconds of rates the board keeps (one sample a second).
SERIES = 900
#: Failed hosts the board keeps, at most (the oldest go first).
MAX_FAILED = 50_000
#: Jobs followed after an operation at once, at most.
MAX_FOLLOWS = 64
#: Seconds over which the transitions' rate is told.
RATE_WINDOW = 5

#: A key of a job: ``(scope type, scope id, job id)``.
Key = tuple[str, int, int]
#: Host statuses that are failures (a host in one is a failed host).
_FAILED = frozenset(s for s in HostStatus if s.is_finished and not s.is_success)


def _ms(at: _dt.datetime | None) -> int | None:
    """Return an aware time as milliseconds since the epoch (what a browser's ``Date`` takes)."""
    return None if at is None else int(at.timestamp() * 1000)


class Failure:
    """One failed host (or container) of a job, as the failed-hosts view lists it: the fold's
    record, with what an answer of bk-job's told of it since (``Board.learn``)."""

    __slots__ = ("at", "error_code", "exit_code", "host", "job", "kind", "label", "status", "step")

    def __init__(self, job: JobRow, row: FailedHost | FailedContainer, learnt: Any) -> None:
        self.job, self.step, self.status = job, row.step_instance_id, row.status
        if isinstance(row, FailedHost):
            self.kind, self.host, self.label = "host", host_text(row.host.key), str(row.host)
            self.error_code = row.error_code
        else:
            self.kind, self.host = "container", str(row.container.id)
            self.label, self.error_code = str(row.container), None
        self.exit_code = row.exit_code
        if learnt is not None:
            self.label, self.exit_code, self.error_code = learnt
        #: When the failure was seen (``None``: it had failed before the board opened).
        self.at = row.observed_at

    @property
    def error(self) -> str:
        """Return why it failed, as the view's filter matches it."""
        name = getattr(self.status, "name", str(int(self.status)))
        parts = [name]
        if self.exit_code is not None:
            parts.append(f"exit {self.exit_code}")
        if self.error_code:
            parts.append(f"error {self.error_code}")
        return " ".join(parts)

    def json(self) -> dict[str, Any]:
        row = self.job
        return {
            "job": row.job_id,
            "scope": str(row.scope),
            "job_text": row.text,
            "step": self.step,
            "kind": self.kind,
            self.kind: self.host,
            "label": self.label,
            "status": getattr(self.status, "name", str(int(self.status))),
            "exit_code": self.exit_code,
            "error_code": self.error_code,
            "error": self.error,
            "at": _ms(self.at),
        }


class Board:
    """The dashboard's picture of one poller, kept while anyone looks and after.

    :param tick: seconds between two wakes of the streams when something changed (the feed's
        delay, at most).
    :param grace: seconds the tap stays open after its last viewer left.
    :param clock: the wall clock (seconds since the epoch): the times the page shows.
    """

    def __init__(
        self,
        poller: Poller,
        *,
        tick: float = 0.1,
        grace: float = 10.0,
        feed: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.poller, self.tick, self.grace, self.clock = poller, tick, grace, clock
        self.feed = Feed(feed)
        #: The events folded in, by scope (``(scope type, scope id)``): the counts.
        self.folds: dict[tuple[str, int], Fold] = {}
        self.jobs: dict[Key, JobRow] = {}
        self.names: dict[Key, str] = {}
        #: A job's start and end (ms since the epoch), as bk-job said.
        self.times: dict[Key, tuple[int | None, int | None]] = {}
        #: What answers of bk-job's told of failed hosts: ``(label, exit code, error code)``
        #: by ``(job text, step, kind, host)``.
        self.learnt: dict[tuple[str, int, str, str], tuple[str, Any, Any]] = {}
        #: Jobs the job list follows whose end has not come (the ``unfinished`` bucket).
        self._unfinished = 0
        #: Jobs' changes of status: ``(ms, job text, previous, current)``, the latest.
        self.changes: deque[tuple[int, str, str | None, str]] = deque(maxlen=2000)
        #: One sample a second: ``(ms, transitions, polls, failures)`` in that second.
        self.series: deque[tuple[int, int, int, int]] = deque(maxlen=SERIES)
        #: When the watches began, and ended (ms; ``ended``: none is open now).
        self.started: int | None = None
        self.ended: int | None = None
        #: Watches and jobs watched, as the monitor last read them.
        self.watches = self.watched = 0
        #: The jobs of earlier runs' watches, as the poller's store kept them (``remember``).
        self.past: dict[Key, JobSeen] = {}
        self._tap: Tap | None = None
        self._dropped = 0
        self._viewers = 0
        self._last_seen = 0.0
        self._closed_at: int | None = None
        #: Done at the next wake (made by the first stream that waits for it).
        self._next: asyncio.Future[None] | None = None
        #: Events folded in since the last tick (no stream was woken for them yet).
        self._unseen = 0
        self._task: asyncio.Task[None] | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._follows: set[asyncio.Task[None]] = set()
        #: The scope of the last delivery folded, its fold and its key's head: a watch's
        #: deliveries come in one scope (``fold`` looks it up once).
        self._scope: Scope | None = None
        self._scope_fold: Fold | None = None
        self._scope_key: tuple[str, int] = ("", 0)
        #: Times the board was opened (a viewer came after none) and resynced (the tap lost
        #: events): what a test and the overview read.
        self.opened = self.resyncs = 0
        #: The app is shutting down: streams end.
        self.stopping = False

    # --- viewers ------------------------------------------------------------------------------

    @property
    def open(self) -> bool:
        """Tell whether the tap is open (someone looks, or looked within ``grace``)."""
        return self._tap is not None

    def now(self) -> int:
        """Return the wall clock in ms."""
        return int(self.clock() * 1000)

    def touch(self) -> None:
        """A viewer asked for something: open the board if it was closed, keep it open."""
        self._last_seen = time.monotonic()
        if self._tap is None and not self.stopping:
            self._start()

    @contextlib.asynccontextmanager
    async def viewing(self) -> AsyncIterator[None]:
        """Hold the board open while a stream is connected."""
        self._viewers += 1
        self.touch()
        try:
            yield
        finally:
            self._viewers -= 1
            self._last_seen = time.monotonic()

    def _start(self) -> None:
        tap = self.poller.tap(sink=self.fold)
        tap.__enter__()
        self._tap, self._dropped = tap, 0
        self.opened += 1
        self._load(tap.jobs())
        self._task = asyncio.get_running_loop().create_task(self._run(tap))

    def _load(self, jobs: Iterable[JobSeen]) -> None:
        """Start over from the jobs as they are now (the feed keeps what it had, marked)."""
        if self.feed.end:
            self._gap()
        old, self.folds = self.folds, {}
        self._scope = None
        self.jobs.clear()
        self._unfinished = 0
        now = time.monotonic()
        jobs = list(jobs)
        if self.past:
            known = {(j.scope.type.value, j.scope.id, j.job_instance_id) for j in jobs}
            jobs += [seen for k, seen in self.past.items() if k not in known]
        for seen in jobs:
            fold = self._fold_of(seen.scope)
            fold.seed(seen)
            row = self._row(seen.scope, seen.job_instance_id)
            row.job, row.listed, row.updated = fold.job(row.job_id) or row.job, seen.listed, now
            self._unfinished += row.bucket == "unfinished"
        for scope, fold in self.folds.items():
            if scope in old:
                fold.adopt(old[scope])  # (a failure seen before keeps when it was seen)

    def remember(self, history: History) -> None:
        """Start from what the poller's store kept of earlier runs: the jobs of the watches that
        ended (the latest of each), the latest transitions, and when the last watch ended."""
        for watch in history.ended:
            for seen in watch.jobs:
                self.past[seen.scope.type.value, seen.scope.id, seen.job_instance_id] = seen
        if self.past and self._tap is None:
            self._load(())
        for scope, event in history.recent:
            row = self._row(scope, event.job_instance_id)
            if isinstance(event, HostTransition | ContainerTransition):
                failed = event.current in _FAILED
                self.feed.add_host(row.text, event, failed)
                if failed and isinstance(event, HostTransition):  # (why it failed)
                    place = (row.text, event.step_instance_id, "host", host_text(event.host.key))
                    result = event.result
                    self.learnt[place] = (str(event.host), result.exit_code, result.error_code)
            else:
                self._note(row, scope, event)
        if history.ended and self.started is None:
            self.ended = int(history.ended[-1].ended_at * 1000)
            times = [_ms(e.observed_at) for _, e in history.recent]
            self.started = min([t for t in times if t is not None], default=self.ended)
            self._closed_at = self.ended

    def _gap(self) -> None:
        """Mark the feed: what comes next follows a time the board did not look."""
        self.feed.forget_cursors()
        since = self._closed_at
        now = self.now()
        body = (
            f'{{"id":"gap-{now}","job":"","at":{_json.quote(_iso(now))},"kind":"gap",'
            f'"from":{_json.dumps(since)},"to":{now}}}'
        )
        self.feed.note("", f"gap-{now}", body)

    async def _run(self, tap: Tap) -> None:
        try:
            while True:
                await asyncio.sleep(self.tick)
                if tap.dropped != self._dropped:  # (a fold failed: the sink lost a delivery)
                    self._dropped = tap.dropped
                    self.resyncs += 1
                    self._closed_at = self.now()
                    self._load(tap.jobs())
                    self.wake()
                elif self._unseen:
                    self.wake()
                for fold in self.folds.values():
                    fold.budget = SAMPLES
                if self._viewers == 0 and time.monotonic() - self._last_seen > self.grace:
                    break
        finally:
            self.close()

    async def aclose(self) -> None:
        """Close the tap and stop folding (the app's cleanup); end the streams."""
        self.stopping = True
        tasks = [self._task, self._monitor, *self._follows]
        self._task = self._monitor = None
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.close()

    def close(self) -> None:
        """Close the tap (nobody looks); keep what the board shows, for whoever comes next."""
        tap, self._tap = self._tap, None
        if tap is not None:
            tap.close()
            self._closed_at = self.now()
        self.wake()

    # --- the monitor: rates and the run's end, viewer or not ---------------------------------

    def start_monitor(self) -> None:
        """Read the poller's statistics once a second from now on (the app's startup)."""
        if self._monitor is None:
            self._monitor = asyncio.get_running_loop().create_task(self._watch_statistics())

    async def _watch_statistics(self) -> None:
        last: tuple[int, int, int, int] | None = None
        while True:
            stats = self.poller.statistics()
            counters = (
                stats.events_observed,
                stats.requests,
                sum(stats.errors.values()),
                sum(fold.counts().failures for fold in self.folds.values()),
            )
            self.sample(counters, stats.watches, stats.instances_watched, last)
            last = counters
            await asyncio.sleep(1.0)

    def sample(
        self,
        counters: tuple[int, int, int, int],
        watches: int,
        watched: int,
        last: tuple[int, int, int, int] | None,
    ) -> None:
        """Take one second's sample: the counters' growth since ``last``, the run's state."""
        now = self.now()
        if last is not None:
            events, polls, errors, hosts = (
                max(0, a - b) for a, b in zip(counters, last, strict=False)
            )
            self.series.append((now, events, polls, errors + hosts))
        self.watches, self.watched = watches, watched
        ran = last is not None and counters[0] > last[0]  # (a run shorter than a second)
        if watches or watched or (ran and self.started is None):
            if self.started is None or self.ended is not None:
                # A run, or a job followed again after it: it began within the last second.
                self.started = now - (1000 if ran else 0)
            self.ended = None
        if not (watches or watched) and self.started is not None and self.ended is None:
            self.ended = now

    def transitions_per_second(self) -> float:
        """Return the events the polls observed a second, over the last few seconds."""
        recent = list(self.series)[-RATE_WINDOW:]
        return sum(s[1] for s in recent) / len(recent) if recent else 0.0

    # --- after an operation: follow the job again ------------------------------------------

    def follow(self, scope: Scope, job_id: int) -> None:
        """Poll a job again until it ends (after a retry or a confirmation, say), so that the
        board (its bucket, its counts) follows what bk-job does next."""
        if len(self._follows) >= MAX_FOLLOWS or self.stopping:
            return
        task = asyncio.get_running_loop().create_task(self._follow(scope, job_id))
        self._follows.add(task)
        task.add_done_callback(self._follows.discard)

    async def _follow(self, scope: Scope, job_id: int) -> None:
        # Every event (no filter): a watch of its end alone would not read its hosts.
        async with self.poller.watch_jobs(scope, [job_id]) as watch:
            async for _ in watch:
                pass

    # --- folding ------------------------------------------------------------------------------

    def fold(self, scope: Scope, events: Sequence[Event], last: Event | None) -> None:
        """Fold in one delivery of the poller's, as its poll hands it to the tap (the tap's
        sink): at once, so that none of a busy poller's events is held past its poll.
        """
        if not events and last is None:
            return
        if scope is self._scope:
            fold, head = self._scope_fold, self._scope_key
            assert fold is not None
        else:
            fold, head = self._fold_of(scope), (scope.type.value, scope.id)
            self._scope, self._scope_fold, self._scope_key = scope, fold, head
        job_id = (last or events[0]).job_instance_id
        row = self.jobs.get((head[0], head[1], job_id)) or self._row(scope, job_id)
        listed = row.listed
        unfinished = listed and row.bucket == "unfinished"  # (before this delivery)
        fold.feed_all(events)
        add_host, text = self.feed.add_host, row.text
        for event in events:
            kind = type(event)
            if kind is HostTransition or kind is ContainerTransition:
                add_host(text, event, event.current in _FAILED)  # type: ignore[arg-type,operator,union-attr]
            else:
                self._note(row, scope, event)
        if last is not None:
            fold.feed(last)
            self._note(row, scope, last)
        row.changed(fold)  # (its figures read when it is shown: most rows never are)
        if listed:
            self._unfinished += (row.bucket == "unfinished") - unfinished
        row.updated = time.monotonic()
        self._unseen += len(events) + (last is not None)

    def _note(self, row: JobRow, scope: Scope, event: Event) -> None:
        """Keep what any other event tells (a step's, the job's, a watch's end) in the feed."""
        k = (scope.type.value, scope.id, row.job_id)
        if isinstance(event, JobTransition):
            was = None if event.previous is None else event.previous.name
            self.changes.append((_ms(event.observed_at) or 0, row.text, was, event.current.name))
        elif isinstance(event, JobFinished):
            job = event.snapshot.job
            if job.name is not None:
                self.names[k] = job.name
            self.times[k] = (_ms(job.start_time), _ms(job.end_time or event.observed_at))
        elif isinstance(event, WatchFailed | WatchTimedOut):
            ended = (
                "timed out"
                if isinstance(event, WatchTimedOut)
                else f"watch failed: {type(event.error).__name__}"
            )
            self.changes.append((_ms(event.observed_at) or 0, row.text, None, ended))
        elif not isinstance(event, StepTransition):
            return
        self.feed.add(row.text, scope, event)

    def learn(self, scope: Scope, job_id: int, status: JobInstanceStatus) -> None:
        """Keep what an answer of bk-job's tells of a watched job: its name, its times, why
        its failed hosts failed (an answer with hosts)."""
        k = (scope.type.value, scope.id, job_id)
        job = status.job
        if job.name is not None:
            self.names[k] = job.name
        self.times[k] = (_ms(job.start_time), _ms(job.end_time))
        row = self.jobs.get(k)
        if row is None or not row.failed:
            return
        for step in status.steps:
            for result in step.hosts or ():
                if result.status in _FAILED:
                    place = (row.text, step.step_instance_id, "host", host_text(result.host.key))
                    found = (str(result.host), result.exit_code, result.error_code)
                    self.learnt[place] = found
            for pod in step.containers or ():
                if pod.status in _FAILED:
                    place = (row.text, step.step_instance_id, "container", str(pod.container.id))
                    self.learnt[place] = (str(pod.container), pod.exit_code, None)

    def _row(self, scope: Scope, job_id: int) -> JobRow:
        k = (scope.type.value, scope.id, job_id)
        row = self.jobs.get(k)
        if row is None:
            row = self.jobs[k] = JobRow(scope, job_id)
        return row

    def _fold_of(self, scope: Scope) -> Fold:
        k = (scope.type.value, scope.id)
        fold = self.folds.get(k)
        if fold is None:  # (it keeps no host's status: the poller has them)
            fold = self.folds[k] = Fold(objects=False, latencies=4096, failed=MAX_FAILED)
            fold.budget = SAMPLES
        return fold

    def wake(self) -> None:
        """Wake every stream waiting for a change."""
        self._unseen = 0
        waiting, self._next = self._next, None
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    async def changed(self, timeout: float) -> None:
        """Wait until the next fold that changed something, or ``timeout`` seconds."""
        waiting = self._next
        if waiting is None:
            waiting = self._next = asyncio.get_running_loop().create_future()
        await asyncio.wait((waiting,), timeout=timeout)  # (no task made, unlike ``wait_for``)

    # --- reading ------------------------------------------------------------------------------

    @property
    def buckets(self) -> dict[str, int]:
        """Return how many jobs each bucket has (``BUCKETS``)."""
        found = dict.fromkeys(BUCKETS, 0)
        for fold in self.folds.values():
            for name, n in fold.counts().buckets.items():
                found[bucket_of_fold(name)] += n
        found["pending"] -= self._unfinished
        found["unfinished"] = self._unfinished
        return found

    @property
    def host_counts(self) -> dict[HostStatus, int]:
        """Return hosts by status now."""
        return _merged(fold.counts().hosts for fold in self.folds.values())

    @property
    def container_counts(self) -> dict[HostStatus, int]:
        """Return containers by status now (the gateway v4's container jobs)."""
        return _merged(fold.counts().containers for fold in self.folds.values())

    @property
    def delays(self) -> list[float]:
        """Return the change-to-event delays kept (seconds), ascending."""
        folds = list(self.folds.values())
        if len(folds) == 1:  # (one scope: the fold's are sorted already)
            return list(folds[0].latencies())
        return sorted(d for fold in folds for d in fold.latencies())

    @property
    def failures(self) -> list[Failure]:
        """Return the failed hosts (and containers) now, newest first."""
        learnt = self.learnt
        return [
            Failure(row, record, learnt.get((row.text, record.step_instance_id, *_named(record))))
            for (scope_type, scope_id), fold in self.folds.items()
            for record in reversed(fold.failed())
            for row in (self.jobs[scope_type, scope_id, record.job_instance_id],)
        ]

    def failed_count(self) -> tuple[int, int]:
        """Return the failed hosts (and containers) now, and the jobs that have any."""
        counts = [fold.counts() for fold in self.folds.values()]
        return sum(c.failed for c in counts), sum(c.jobs_with_failed for c in counts)

    def name(self, row: JobRow) -> str | None:
        """Return the job's name if the board has learnt it."""
        return self.names.get((row.scope.type.value, row.scope.id, row.job_id))

    def job_times(self, row: JobRow) -> tuple[int | None, int | None]:
        """Return the job's start and end (ms) if the board has learnt them."""
        return self.times.get((row.scope.type.value, row.scope.id, row.job_id), (None, None))

    def row(self, scope: Scope, job_id: int) -> JobRow | None:
        """Return the board's row of a job, if it has one."""
        return self.jobs.get((scope.type.value, scope.id, job_id))

    def query(
        self,
        *,
        text: str = "",
        bucket: str = "",
        sort: str = "id",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[JobRow]]:
        """Return how many jobs match, and the page of them asked for.

        ``bucket="failed"`` takes the jobs with a failed host too, whatever their status.
        """
        rows: Collection[JobRow] = self.jobs.values()
        if bucket == "failed":
            rows = [r for r in rows if r.bucket == bucket or r.failed > 0]
        elif bucket:
            rows = [r for r in rows if r.bucket == bucket]
        if text:
            needle = text.casefold()
            rows = [
                r
                for r in rows
                if needle in str(r.job_id) or needle in (self.name(r) or "").casefold()
            ]
        keys: dict[str, Any] = {
            "id": _BY_ID,
            "status": lambda r: (BUCKETS.index(r.bucket), r.job_id),
            "failed": lambda r: (r.failed, r.job_id),
            "hosts": lambda r: (r.hosts + r.containers, r.job_id),
            "updated": _BY_UPDATE,
            "name": lambda r: (self.name(r) or "", r.job_id),
            "started": lambda r: (self.job_times(r)[0] or 0, r.job_id),
            "duration": lambda r: (_duration(self.job_times(r), self.now()), r.job_id),
        }
        key, wanted = keys.get(sort, keys["id"]), offset + limit
        if wanted * 4 < len(rows):  # (a page of many: its rows alone, not the whole sort)
            pick = heapq.nlargest if descending else heapq.nsmallest
            return len(rows), pick(wanted, rows, key=key)[offset:]
        ordered = sorted(rows, key=key, reverse=descending)
        return len(ordered), ordered[offset : offset + limit]

    def failed_hosts(
        self, *, job: str = "", error: str = "", offset: int = 0, limit: int = 50
    ) -> tuple[int, list[Failure], list[tuple[str, int]]]:
        """Return how many failed hosts match, the page of them (newest first), and the
        errors of all the failed hosts with how many each (the most first)."""
        every = self.failures
        errors = Counter(f.error for f in every).most_common(20)
        if job:
            needle = job.casefold()
            every = [
                f
                for f in every
                if needle in f.job.text or needle in (self.name(f.job) or "").casefold()
            ]
        if error:
            needle = error.casefold()
            every = [f for f in every if needle in f.error.casefold()]
        return len(every), every[offset : offset + limit], errors

    def percentiles(self) -> dict[str, float | None]:
        """Return p50 and p99 of the change-to-event delays seen lately (seconds)."""
        values = self.delays
        return {"p50": percentile(values, 50), "p99": percentile(values, 99)}


#: The jobs table's keys read in C (a page of 10,000 rows each refresh).
_BY_ID = operator.attrgetter("job_id", "scope.id")
_BY_UPDATE = operator.attrgetter("updated", "job_id")


def bucket_of_fold(name: str) -> str:
    """Return the board's bucket of a fold's (``Fold`` buckets ``BUCKETS`` of its own)."""
    return "ended" if name in ("timed_out", "unreachable", "unwatched") else name


def _merged(counts: Iterable[Mapping[HostStatus, int]]) -> dict[HostStatus, int]:
    found: dict[HostStatus, int] = {}
    for each in counts:
        for status, n in each.items():
            found[status] = found.get(status, 0) + n
    return found


def _named(row: FailedHost | FailedContainer) -> tuple[str, str]:
    """Return ``(kind, text)`` of a failed host or container."""
    if isinstance(row, FailedHost):
        return "host", host_text(row.host.key)
    return "container", str(row.container.id)


def _duration(times: tuple[int | None, int | None], now: int) -> int:
    start, end = times
    return 0 if start is None else (end or now) - start


def _iso(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(
        timespec="milliseconds"
    )


BOARD = web.AppKey("bkjob_board", Board)
