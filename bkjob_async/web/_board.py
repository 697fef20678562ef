"""What the dashboard shows of a poller: jobs, hosts, containers, the feed; kept while someone looks.

Rule: the board reads the poller through its public tap (``Poller.tap``) and statistics, never
its internals. With no viewer the tap is closed and the board holds nothing: a poll costs the
poller one truth test more. The first viewer opens the tap and reads every job as it is now;
the events that come after are folded in as each poll hands them over (the tap's sink,
``fold``: none is held past its poll), and the streams are woken every ``tick`` seconds. The
last viewer gone, the board waits ``grace`` seconds (a reconnecting browser keeps its feed),
then closes the tap and forgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..polling._containers import is_container
from ..polling.events import (
    ContainerTransition,
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
)
from ._feed import Feed
from ._rows import BUCKETS, WEIGHTS, JobRow, bucket_of, weight

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Sequence

    from ..config import Scope
    from ..polling import JobSeen, Poller, Tap
    from ..polling.events import Event

__all__ = ["BOARD", "BUCKETS", "Board", "JobRow", "bucket_of"]

#: Hosts' (and containers') change-to-event delays measured per tick, at most (a sample: see
#: ``fold``).
SAMPLES = 20


class Board:
    """The dashboard's picture of one poller, kept while anyone looks.

    :param tick: seconds between two wakes of the streams when something changed (the feed's
        delay, at most).
    :param grace: seconds the board stays open after its last viewer left.
    """

    def __init__(
        self, poller: Poller, *, tick: float = 0.1, grace: float = 10.0, feed: int = 20_000
    ) -> None:
        self.poller, self.tick, self.grace = poller, tick, grace
        self.feed = Feed(feed)
        self.jobs: dict[tuple[str, int, int], JobRow] = {}
        self.names: dict[tuple[str, int, int], str] = {}
        #: Hosts by status (a plain dict: counted in once per event).
        self.host_counts: dict[int, int] = {}
        #: Containers by status (gateway v4's container jobs), as hosts.
        self.container_counts: dict[int, int] = {}
        self.buckets: Counter[str] = Counter()
        #: Seconds from a host's end (bk-job's clock) to the event that told it, the latest.
        self.delays: deque[float] = deque(maxlen=4096)
        #: ``(monotonic time, events)`` of the folds of the last seconds.
        self._folds: deque[tuple[float, int]] = deque()
        self._tap: Tap | None = None
        self._dropped = 0
        self._samples = SAMPLES
        self._viewers = 0
        self._last_seen = 0.0
        self._changed = asyncio.Event()
        #: Events folded in since the last tick (no stream was woken for them yet).
        self._unseen = 0
        self._task: asyncio.Task[None] | None = None
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
        """Start over from the jobs as they are now."""
        self.jobs.clear()
        self.host_counts.clear()
        self.container_counts.clear()
        self.buckets.clear()
        self.feed.restart()
        now = time.monotonic()
        for seen in jobs:
            row = self._row(seen.scope, seen.job_instance_id)
            row.status, row.listed = seen.status, seen.listed
            for step in seen.steps:
                for key, status in step.hosts.items():
                    if is_container(key):
                        row.move(None, status, self.container_counts, container=True)
                    else:
                        row.move(None, status, self.host_counts)
            self._rebucket(row, now)

    async def _run(self, tap: Tap) -> None:
        try:
            while True:
                await asyncio.sleep(self.tick)
                if tap.dropped != self._dropped:  # (a fold failed: the sink lost a delivery)
                    self._dropped = tap.dropped
                    self.resyncs += 1
                    self._load(tap.jobs())
                    self.wake()
                elif self._unseen:
                    self._folds.append((time.monotonic(), self._unseen))
                    self.wake()
                self._samples = SAMPLES
                if self._viewers == 0 and time.monotonic() - self._last_seen > self.grace:
                    break
        finally:
            self.close()

    async def aclose(self) -> None:
        """Close the tap and stop folding (the app's cleanup); end the streams."""
        self.stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.close()

    def close(self) -> None:
        """Close the tap and forget everything (nobody looks)."""
        tap, self._tap = self._tap, None
        if tap is not None:
            tap.close()
        self.jobs.clear()
        self.host_counts.clear()
        self.container_counts.clear()
        self.buckets.clear()
        self.delays.clear()
        self._folds.clear()
        self.feed.restart()
        self.wake()

    # --- folding ------------------------------------------------------------------------------

    def fold(self, scope: Scope, events: Sequence[Event], last: Event | None) -> None:
        """Fold in one delivery of the poller's, as its poll hands it to the tap (the tap's
        sink): at once, so that none of a busy poller's events is held past its poll.
        """
        if not events and last is None:
            return
        counts, add_host, samples = self.host_counts, self.feed.add_host, self._samples
        start = samples
        row = self._row(scope, (last or events[0]).job_instance_id)
        # A host's transition, the many: counted in, and kept in the feed, written out
        # here (``JobRow.move`` inline) as the dashboard's hottest path.
        hosts = finished = failed = 0
        for event in events:
            if type(event) is not HostTransition:
                self._fold(row, scope, event)
                continue
            previous, current = event.previous, event.current
            counts[current] = counts.get(current, 0) + 1
            now_finished, now_failed = WEIGHTS.get(current) or weight(current)
            finished += now_finished
            failed += now_failed
            if previous is None:
                hosts += 1
            else:
                counts[previous] = counts.get(previous, 0) - 1
                was_finished, was_failed = WEIGHTS.get(previous) or weight(previous)
                finished -= was_finished
                failed -= was_failed
                # The delay needs the host's end_time, which structures its row:
                # measured on a sample (``SAMPLES`` a tick), not on every host that ends.
                if now_finished and samples:
                    samples -= 1
                    end = event.result.end_time
                    if end is not None:
                        self.delays.append((event.observed_at - end).total_seconds())
            add_host(row.text, event, now_failed == 1)
        row.hosts += hosts
        row.finished += finished
        row.failed += failed
        if last is not None:
            self._fold(row, scope, last)
        # (what ``_fold`` took for containers is gone too)
        self._samples = max(0, self._samples - (start - samples))
        self._unseen += len(events) + (last is not None)
        self._rebucket(row, time.monotonic())

    def _fold(self, row: JobRow, scope: Scope, event: Event) -> None:
        """Fold in any other event (a container's, a step's, the job's, a watch's end)."""
        if isinstance(event, HostTransition):
            self.feed.add_host(
                row.text, event, row.move(event.previous, event.current, self.host_counts)[1] == 1
            )
            return
        if isinstance(event, ContainerTransition):
            counts = self.container_counts
            moved = row.move(event.previous, event.current, counts, container=True)
            self.feed.add_host(row.text, event, moved[1] == 1)
            end = event.result.end_time  # (sampled as a host's delay is, in ``fold``)
            if moved[0] and event.previous is not None and self._samples and end is not None:
                self._samples -= 1
                self.delays.append((event.observed_at - end).total_seconds())
            return
        if isinstance(event, JobTransition):
            row.status = event.current
        elif isinstance(event, JobFinished):
            row.status = event.status
            name = event.snapshot.job.name
            if name is not None:
                self.names[(scope.type.value, scope.id, row.job_id)] = name
        elif isinstance(event, WatchFailed):
            row.ended = f"watch failed: {type(event.error).__name__}"
        elif isinstance(event, WatchTimedOut):
            row.ended = "timed out"
        elif not isinstance(event, StepTransition):
            return
        self.feed.add(row.text, scope, event)

    def _row(self, scope: Scope, job_id: int) -> JobRow:
        k = (scope.type.value, scope.id, job_id)
        row = self.jobs.get(k)
        if row is None:
            row = self.jobs[k] = JobRow(scope, job_id)
            self.buckets["pending"] += 1
        return row

    def _rebucket(self, row: JobRow, now: float) -> None:
        bucket = bucket_of(row.status, row.ended, row.listed)
        if bucket != row.bucket:
            self.buckets[row.bucket] -= 1
            self.buckets[bucket] += 1
            row.bucket = bucket
        row.updated = now

    def wake(self) -> None:
        """Wake every stream waiting for a change."""
        self._unseen = 0
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout: float) -> None:
        """Wait until the next fold that changed something, or ``timeout`` seconds."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    # --- reading ------------------------------------------------------------------------------

    def transitions_per_second(self, window: float = 5.0) -> float:
        """Return the events folded per second over the last ``window`` seconds."""
        now = time.monotonic()
        folds = self._folds
        while folds and folds[0][0] < now - window:
            folds.popleft()
        return sum(count for _, count in folds) / window

    def name(self, row: JobRow) -> str | None:
        """Return the job's name if the board has learnt it."""
        return self.names.get((row.scope.type.value, row.scope.id, row.job_id))

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
        """Return how many jobs match, and the page of them asked for."""
        rows: Sequence[JobRow] = list(self.jobs.values())
        if bucket:
            rows = [r for r in rows if r.bucket == bucket]
        if text:
            needle = text.casefold()
            rows = [
                r
                for r in rows
                if needle in str(r.job_id) or needle in (self.name(r) or "").casefold()
            ]
        keys: dict[str, Any] = {
            "id": lambda r: (r.job_id, r.scope.id),
            "status": lambda r: (BUCKETS.index(r.bucket), r.job_id),
            "failed": lambda r: (r.failed, r.job_id),
            "hosts": lambda r: (r.hosts + r.containers, r.job_id),
            "updated": lambda r: (r.updated, r.job_id),
            "name": lambda r: (self.name(r) or "", r.job_id),
        }
        ordered = sorted(rows, key=keys.get(sort, keys["id"]), reverse=descending)
        return len(ordered), ordered[offset : offset + limit]

    def percentiles(self) -> dict[str, float | None]:
        """Return p50 and p99 of the change-to-event delays seen lately (seconds)."""
        values = sorted(self.delays)
        if not values:
            return {"p50": None, "p99": None}

        def at(q: float) -> float:
            return values[min(len(values) - 1, int(q * len(values)))]

        return {"p50": at(0.50), "p99": at(0.99)}


BOARD = web.AppKey("bkjob_board", Board)
