"""Rule: the dashboards' fold of events counts as it is fed, so that reading never scans the jobs.

Jobs by status, hosts by status, failed hosts, latencies. ``feed`` (and ``seed``) is the only
writer, and every count is kept up to date there; what goes out is frozen: ``FoldedJob`` per job,
``FoldCounts`` for all, the failed hosts and containers as ``FailedHost``/``FailedContainer``,
a ``WatchSummary``. The web dashboard and the command line's views each keep one; the engine
does not (a watch's own summary is ``polling._summary.Told``'s, which counts no host).

A host (or a Kubernetes container, the gateway v4's, counted apart) is known by its job, step
and key. With ``objects=True`` the fold keeps each one's last status, so a transition seen
twice, or one whose ``previous`` it never saw, counts right; ``objects=False`` trusts each
event's ``previous`` instead and keeps nothing per host (a dashboard over 100,000 hosts).
A job ends with its last event (``JobFinished``, ``WatchFailed``, ``WatchTimedOut``) and is
revived by a transition to a status that is not finished (its failed hosts retried).
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter, deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from .errors import ApiError, BkJobError, TransportError
from .models import Container, Host, HostStatus, JobInstanceStatus, JobStatus
from .polling._summary import FailedContainer, FailedHost, WatchSummary, summarize
from .polling._tap import JobSeen
from .polling.events import (
    ContainerTransition,
    HostTransition,
    JobFinished,
    JobPollFailing,
    JobPollRecovered,
    JobTransition,
    PollingResumed,
    PollingStalled,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
    is_container,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .models import ContainerResult, HostKey, HostResult, StepInstance
    from .polling.events import Event

    Failed = FailedHost | FailedContainer

__all__ = ["BUCKETS", "Fold", "FoldCounts", "FoldedJob", "is_outage", "percentile"]

#: Jobs by where they stand, in display order. ``waiting``: for a person (``WAITING_USER``);
#: ``timed_out``: the watch's deadline passed; ``unreachable``: its watch ended because bk-job
#: could not be reached; ``unwatched``: its watch failed otherwise (``WatchFailed``).
BUCKETS = (
    "pending",
    "running",
    "waiting",
    "succeeded",
    "failed",
    "timed_out",
    "unreachable",
    "unwatched",
)
#: How a watch ended when not by a status (``FoldedJob.outcome``).
TIMED_OUT, UNREACHABLE, WATCH_FAILED = "TIMED_OUT", "UNREACHABLE", "WATCH_FAILED"
_BY_OUTCOME = {TIMED_OUT: "timed_out", UNREACHABLE: "unreachable", WATCH_FAILED: "unwatched"}
#: ``(finished, failed)`` of each host status, 1 or 0: one lookup a transition.
_WEIGHTS = {s: (int(s.is_finished), int(s.is_finished and not s.is_success)) for s in HostStatus}
#: Host statuses that are not finished (a host leaving one has no failure to forget).
_OPEN = frozenset(s for s in HostStatus if not s.is_finished)


def _weight(status: HostStatus) -> tuple[int, int]:
    return _WEIGHTS.get(status) or (int(status.is_finished), int(not status.is_success))


def is_outage(error: BkJobError) -> bool:
    """Tell whether an error says bk-job could not be reached, not that the job is bad."""
    return isinstance(error, TransportError) or (isinstance(error, ApiError) and error.transient)


def percentile(ordered: list[float] | tuple[float, ...], pct: float) -> float | None:
    """Return the nearest-rank percentile of ascending values, or ``None`` if there are none."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[min(len(ordered), int(rank)) - 1]


class FoldedJob(NamedTuple):
    """One job as the fold has it now: a frozen snapshot."""

    job_instance_id: int
    #: Its last status seen (``None``: not seen yet).
    status: JobStatus | None
    #: Where it stands (one of ``BUCKETS``).
    bucket: str
    #: How its watch ended: a status name, ``TIMED_OUT``, ``UNREACHABLE`` or ``WATCH_FAILED``
    #: (``None``: not ended).
    outcome: str | None
    #: Why it could not be watched, if it could not.
    error: BkJobError | None
    #: Hosts and containers seen, and of them those finished and those failed now.
    hosts: int
    containers: int
    finished: int
    failed: int
    #: The step waiting for a person, as its transitions told.
    waiting_step: int | None
    #: Since when its reads fail alone (bk-job answering others), if they do now.
    failing_since: _dt.datetime | None

    @property
    def ended(self) -> bool:
        """Tell whether its watch has ended (finished, failed to be watched, timed out)."""
        return self.outcome is not None


@attrs.frozen
class FoldCounts:
    """What a fold counted, for all its jobs: a frozen snapshot (``Fold.counts()``)."""

    #: Jobs, and jobs by bucket (every one of ``BUCKETS``, in order).
    jobs: int
    buckets: Mapping[str, int]
    #: Hosts by status now, and containers by status (the gateway v4's), apart.
    hosts: Mapping[HostStatus, int]
    containers: Mapping[HostStatus, int]
    #: Hosts and containers seen, those finished and those failed now.
    objects: int
    finished: int
    failed: int
    #: Jobs with a failed host or container now.
    jobs_with_failed: int
    #: Hosts and containers seen to fail so far (the same one again, as often as it does).
    failures: int
    #: Jobs whose reads fail alone now (bk-job answers others).
    failing: int
    #: Since when bk-job cannot be reached (``None``: it answers), why, and outages so far.
    outage_since: _dt.datetime | None
    outage_error: BkJobError | None
    outages: int
    #: Events fed.
    events: int


class _Jobs:
    """The fold's jobs, a list per figure and a row per job (``row``: by job id), changed by
    the fold alone.

    Columns, not an object a job: a watch keeps its fold as long as it runs, and every object a
    watched job holds that the cyclic garbage collector tracks is one more for each full
    collection to walk (``benchmarks/HISTORY.md``, "The 50,000-job watch in two tracked
    objects a job").
    """

    __slots__ = (
        "bucket",
        "containers",
        "error",
        "failed",
        "failing",
        "finished",
        "hosts",
        "id",
        "outcome",
        "row",
        "status",
        "unread",
        "view",
        "waiting_step",
    )

    def __init__(self) -> None:
        #: Each job's row, by id.
        self.row: dict[int, int] = {}
        self.id: list[int] = []
        self.status: list[JobStatus | None] = []
        self.bucket: list[str] = []
        self.outcome: list[str | None] = []
        self.error: list[BkJobError | None] = []
        self.hosts: list[int] = []
        self.containers: list[int] = []
        self.finished: list[int] = []
        self.failed: list[int] = []
        self.waiting_step: list[int | None] = []
        self.failing: list[_dt.datetime | None] = []
        #: It ended without success and its final status had no host rows.
        self.unread: list[bool] = []
        #: Its frozen figures as last read (``None``: changed since).
        self.view: list[FoldedJob | None] = []

    def add(self, job_id: int) -> int:
        """Add a job not heard of yet; return its row."""
        self.row[job_id] = row = len(self.id)
        self.id.append(job_id)
        self.status.append(None)
        self.bucket.append("pending")
        self.outcome.append(None)
        self.error.append(None)
        for counts in (self.hosts, self.containers, self.finished, self.failed):
            counts.append(0)
        self.waiting_step.append(None)
        self.failing.append(None)
        self.unread.append(False)
        self.view.append(None)
        return row

    def frozen(self, row: int) -> FoldedJob:
        view = self.view[row]
        if view is not None:
            return view
        view = self.view[row] = FoldedJob(
            self.id[row],
            self.status[row],
            self.bucket[row],
            self.outcome[row],
            self.error[row],
            self.hosts[row],
            self.containers[row],
            self.finished[row],
            self.failed[row],
            self.waiting_step[row],
            self.failing[row],
        )
        return view


def _bucket(status: JobStatus | None, outcome: str | None) -> str:
    """Return where a job stands (one of ``BUCKETS``)."""
    if outcome is not None:
        by = _BY_OUTCOME.get(outcome)
        if by is not None:
            return by
        return "succeeded" if status is not None and status.is_success else "failed"
    if status is None or status is JobStatus.BLANK:
        return "pending"
    return "waiting" if status is JobStatus.WAITING_USER else "running"


#: ``_bucket`` of every status bk-job lists, for a job not ended: one lookup a transition.
_LIVE: dict[JobStatus | None, str] = {s: _bucket(s, None) for s in (None, *JobStatus)}


class Fold:
    """Events in, frozen figures out: jobs by bucket, hosts by status, failed hosts, latencies.

    :param job_ids: the jobs watched, so that jobs not heard of yet count as pending (others
        are added as their events come).
    :param objects: keep each host's last status (see the module's doc); ``False`` trusts
        each transition's ``previous``.
    :param latencies: how many latencies to keep, the latest (``None``: all).
    :param failed: how many failed hosts to keep, the latest (``None``: all).
    """

    def __init__(
        self,
        job_ids: Iterable[int] = (),
        *,
        objects: bool = True,
        latencies: int | None = None,
        failed: int | None = None,
    ) -> None:
        self._jobs = _Jobs()
        self._buckets: Counter[str] = Counter()
        self._objects: dict[tuple[int, int, Any], HostStatus] | None = {} if objects else None
        self._hosts: dict[HostStatus, int] = {}
        self._containers: dict[HostStatus, int] = {}
        self._seen = self._finished = self._failed_now = self._jobs_failed = 0
        #: The failed hosts and containers now, by job, step and key, oldest first.
        self._failed: dict[tuple[int, int, Any], Failed] = {}
        self._keep, self._failures = failed, 0
        self._latencies: deque[float] = deque(maxlen=latencies)
        self._outage: tuple[_dt.datetime, BkJobError] | None = None
        self._outages = self._events = self._failing = 0
        #: Latencies still to be measured (``None``: every one); each costs a host's row.
        self.budget: int | None = None
        for job_id in job_ids:
            self._job(job_id)

    # --- feeding ------------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Fold one event in (any event: those about nothing counted are only counted)."""
        self._events += 1
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def feed_all(self, events: Iterable[Event]) -> None:
        """Fold events in, in order (a host's transition the cheapest: written out here).

        With ``objects=False`` (each ``previous`` trusted), a host first seen, or leaving a
        status that is not finished, for one that has not failed (most of a run's: waiting,
        running, succeeded) is counted in place, as ``_move`` counts it, in the same order.
        """
        jobs = self._jobs
        rows, move, job, record = jobs.row, self._move, None, -1
        trusted, counts, view = self._objects is None, self._hosts, jobs.view
        for event in events:
            if type(event) is not HostTransition:
                self.feed(event)
                continue
            self._events += 1
            if job != event.job_instance_id:
                job = event.job_instance_id
                record = rows.get(job, -1)
                if record < 0:
                    record = self._job(job)
            step, previous, current = event.step_instance_id, event.previous, event.current
            now = _WEIGHTS.get(current) if trusted else None
            if now is None or now[1] or not (previous is None or previous in _OPEN):
                move(record, step, None, previous, current, None, event, False)
                continue
            view[record] = None
            counts[current] = counts.get(current, 0) + 1
            if previous is None:
                self._seen += 1
                jobs.hosts[record] += 1
            else:
                left = counts[previous] = counts.get(previous, 0) - 1
                if not left:
                    del counts[previous]
                if now[0] and self.budget != 0:
                    self._latency(event, previous)
            if now[0]:
                self._finished += 1
                jobs.finished[record] += 1

    def seed(self, job: JobInstanceStatus | JobSeen) -> None:
        """Start from a job as it is known (a status read, or a tap's ``JobSeen``): its status,
        its hosts and containers, counting no event."""
        if isinstance(job, JobSeen):
            record, status, ended = self._job(job.job_instance_id), job.status, job.finished
            for seen in job.steps:
                for key, code in seen.hosts.items():
                    step_id = seen.step_instance_id
                    self._move(record, step_id, key, None, code, None, None, is_container(key))
        else:
            record, status, ended = self._job(job.job.job_instance_id), job.job.status, job.finished
            for step in job.steps:
                for key, row in _rows_of(step):
                    step_id, code = step.step_instance_id, row.status
                    self._move(record, step_id, key, None, code, row, None, is_container(key))
        self._set(record, status, status.name if ended and status is not None else None)
        if not isinstance(job, JobSeen):
            waiting = self._jobs.waiting_step
            waiting[record] = waiting[record] or _waiting_step(job)

    def adopt(self, other: Fold) -> None:
        """Keep ``other``'s records of the hosts this fold has failed in the same status (when
        they were seen to fail, their labels): after starting over from what a poller knows."""
        failed = self._failed
        for key, row in other._failed.items():
            mine = failed.get(key)
            if mine is not None and mine.status == row.status:
                failed[key] = row

    def _job(self, job_id: int) -> int:
        """Return a job's row, the job added if it is new."""
        record = self._jobs.row.get(job_id)
        if record is None:
            record = self._jobs.add(job_id)
            self._buckets["pending"] += 1
        return record

    def _set(self, record: int, status: JobStatus | None, outcome: str | None) -> None:
        jobs = self._jobs
        jobs.status[record], jobs.outcome[record], jobs.view[record] = status, outcome, None
        if outcome is None:
            jobs.error[record] = None
            bucket = _LIVE.get(status) or _bucket(status, None)
        else:
            bucket = _bucket(status, outcome)
        was = jobs.bucket[record]
        if bucket != was:
            buckets = self._buckets
            buckets[was] -= 1
            buckets[bucket] += 1
            jobs.bucket[record] = bucket

    def _on_object(self, event: HostTransition | ContainerTransition) -> None:
        record = self._job(event.job_instance_id)
        container = type(event) is ContainerTransition
        key = event.container_key if container else None  # type: ignore[union-attr]
        step, previous, current = event.step_instance_id, event.previous, event.current
        self._move(record, step, key, previous, current, None, event, container)

    def _move(
        self,
        record: int,
        step: int,
        key: HostKey | tuple[str, int] | None,
        previous: HostStatus | None,
        current: HostStatus,
        row: Any,
        event: HostTransition | ContainerTransition | None,
        container: bool,
    ) -> None:
        """Count one host (or container) moving to ``current``: the fold's hottest path. A host's
        ``key`` (``None``: its event's) is read only where it is needed: a failure, or
        ``objects``."""
        objects, old, jobs = self._objects, previous, self._jobs
        job = jobs.id[record]
        jobs.view[record] = None
        if objects is not None:
            key = _key(event) if key is None else key
            old = objects.get((job, step, key))
            objects[job, step, key] = current
        counts = self._containers if container else self._hosts
        counts[current] = counts.get(current, 0) + 1
        finished, failed = now = _WEIGHTS.get(current) or _weight(current)
        if old is None:
            self._seen += 1
            if container:
                jobs.containers[record] += 1
            else:
                jobs.hosts[record] += 1
        else:
            left = counts[old] = counts.get(old, 0) - 1
            if not left:
                del counts[old]
            was_finished, was_failed = _WEIGHTS.get(old) or _weight(old)
            if was_failed:
                key = _key(event) if key is None else key
                self._failed.pop((job, step, key), None)
                failed -= 1
            if was_finished:
                finished -= 1
            elif finished and event is not None and previous is not None and self.budget != 0:
                self._latency(event, previous)
        if finished:
            self._finished += finished
            jobs.finished[record] += finished
        if failed:
            self._failed_now += failed
            had = jobs.failed[record]
            jobs.failed[record] = had + failed
            self._jobs_failed += (had == 0) - (had + failed == 0)
        if now[1]:
            key = _key(event) if key is None else key
            rows, place = self._failed, (job, step, key)
            rows.pop(place, None)
            rows[place] = _failed(job, step, key, current, row, event)
            self._failures += event is not None
            if self._keep is not None and len(rows) > self._keep:
                del rows[next(iter(rows))]

    def _latency(self, event: HostTransition | ContainerTransition, previous: HostStatus) -> None:
        """Measure how late the end of a host seen unfinished was seen (its row is read)."""
        if previous.is_finished:
            return
        end = event.result.end_time
        if end is not None:
            self._latencies.append((event.observed_at - end).total_seconds())
            if self.budget is not None:
                self.budget -= 1

    def _on_step(self, event: StepTransition) -> None:
        record, jobs = self._job(event.job_instance_id), self._jobs
        jobs.view[record] = None
        if event.current is JobStatus.WAITING_USER:
            jobs.waiting_step[record] = event.step_instance_id
        elif jobs.waiting_step[record] == event.step_instance_id:
            jobs.waiting_step[record] = None

    def _on_job(self, event: JobTransition) -> None:
        record = self._job(event.job_instance_id)
        current = event.current  # (a job revived: its watch goes on)
        ended = self._jobs.outcome[record] is not None and current.is_finished
        self._set(record, current, current.name if ended else None)

    def _on_finished(self, event: JobFinished) -> None:
        record = self._job(event.job_instance_id)
        self._set(record, event.status, event.status.name)
        self._set_failing(record, None)
        self._jobs.unread[record] = False
        if not event.status.is_success:
            self._rows(record, event.snapshot)

    def _rows(self, record: int, snapshot: JobInstanceStatus) -> None:
        """Take a job's failed hosts from its final status (``unread`` when it has no rows)."""
        failed, job = self._failed, self._jobs.id[record]
        for step in snapshot.steps:
            if step.hosts is None:
                self._jobs.unread[record] = True
                return
        for step in snapshot.steps:
            step_id = step.step_instance_id
            for key, row in _rows_of(step):
                place, status = (job, step_id, key), row.status
                if status.is_finished and not status.is_success:
                    mine = failed.get(place)
                    if mine is None or mine.status != status:
                        failed[place] = _failed(job, step_id, key, status, row, None)
                else:
                    failed.pop(place, None)

    def _on_failed(self, event: WatchFailed) -> None:
        record = self._job(event.job_instance_id)
        outcome = UNREACHABLE if is_outage(event.error) else WATCH_FAILED
        self._set(record, self._jobs.status[record], outcome)
        self._jobs.error[record] = event.error
        self._set_failing(record, None)

    def _on_timed_out(self, event: WatchTimedOut) -> None:
        record = self._job(event.job_instance_id)
        snapshot = event.snapshot
        self._set_failing(record, None)
        if snapshot is None:
            self._set(record, self._jobs.status[record], TIMED_OUT)
            return
        self._set(record, snapshot.job.status, TIMED_OUT)
        waiting = self._jobs.waiting_step
        waiting[record] = waiting[record] or _waiting_step(snapshot)

    def _on_stalled(self, event: PollingStalled) -> None:
        if self._outage is None:
            self._outages += 1
            self._outage = (event.since, event.error)
        else:
            self._outage = (self._outage[0], event.error)

    def _on_resumed(self, event: PollingResumed) -> None:
        self._outage = None

    def _on_poll_failing(self, event: JobPollFailing) -> None:
        self._set_failing(self._job(event.job_instance_id), event.since)

    def _on_poll_recovered(self, event: JobPollRecovered) -> None:
        self._set_failing(self._job(event.job_instance_id), None)

    def _set_failing(self, record: int, since: _dt.datetime | None) -> None:
        """Note since when a job's reads fail alone (``None``: they do not), and the count."""
        jobs = self._jobs
        if (jobs.failing[record] is None) is not (since is None):
            self._failing += 1 if since is not None else -1
        jobs.failing[record], jobs.view[record] = since, None

    # --- reading ------------------------------------------------------------------------------

    def job(self, job_id: int) -> FoldedJob | None:
        """Return a job as the fold has it, or ``None`` if it never heard of it."""
        record = self._jobs.row.get(job_id)
        return None if record is None else self._jobs.frozen(record)

    def jobs(self) -> list[FoldedJob]:
        """Return every job as the fold has it, in the order first heard of."""
        return list(map(self._jobs.frozen, range(len(self._jobs.id))))

    def __len__(self) -> int:
        return len(self._jobs.id)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs.row

    @property
    def done(self) -> bool:
        """Tell whether every job's watch has ended (none pending, running or waiting)."""
        count = self._buckets
        return not (count["pending"] or count["running"] or count["waiting"])

    @property
    def outage_since(self) -> _dt.datetime | None:
        """Return since when bk-job cannot be reached (``None``: it answers)."""
        return None if self._outage is None else self._outage[0]

    def counts(self) -> FoldCounts:
        """Return the figures for all jobs now."""
        outage = self._outage
        return FoldCounts(
            jobs=len(self._jobs.id),
            buckets={b: self._buckets[b] for b in BUCKETS},
            hosts=dict(self._hosts),
            containers=dict(self._containers),
            objects=self._seen,
            finished=self._finished,
            failed=self._failed_now,
            jobs_with_failed=self._jobs_failed,
            failures=self._failures,
            failing=self._failing,
            outage_since=None if outage is None else outage[0],
            outage_error=None if outage is None else outage[1],
            outages=self._outages,
            events=self._events,
        )

    def failed(self, job_id: int | None = None) -> tuple[Failed, ...]:
        """Return the failed hosts and containers now, oldest first (of one job: ``job_id``)."""
        rows = self._failed.items()
        return tuple(r for (job, _, _), r in rows if job_id is None or job == job_id)

    def latencies(self) -> tuple[float, ...]:
        """Return the latencies measured, ascending: seconds from a host's ``end_time`` (bk-job's
        clock) to the poll that saw it end, for the hosts the fold saw unfinished first."""
        return tuple(sorted(self._latencies))

    def summary(self, job_ids: Iterable[int]) -> WatchSummary:
        """Return the ``WatchSummary`` of ``job_ids`` (a watch's jobs now)."""
        jobs, where = self._jobs, self._jobs.row
        by_job: dict[int, list[Failed]] = {}
        for (job, _, _), row in self._failed.items():
            by_job.setdefault(job, []).append(row)

        def status(job: int) -> JobStatus | None:
            return jobs.status[where[job]] if job in where else None

        def unwatched(job: int) -> str | None:
            record = where.get(job)
            if record is None or jobs.outcome[record] not in _BY_OUTCOME:
                return None
            error = jobs.error[record]
            return f"{type(error).__name__}: {error}" if error else "timed out"

        def rows(job: int) -> list[Failed] | None:
            return None if jobs.unread[where[job]] else by_job.get(job, [])

        return summarize(job_ids, status, unwatched, rows)


def _key(event: HostTransition | ContainerTransition | None) -> Any:
    """Return the key of a host's (or a container's) event."""
    assert event is not None  # (a key is given where there is no event)
    return event.host_key if type(event) is HostTransition else event.container_key  # type: ignore[union-attr]


def _waiting_step(status: JobInstanceStatus) -> int | None:
    """Return the step of a status read that waits for a person, if one does."""
    waiting = (s for s in status.steps if s.status is JobStatus.WAITING_USER)
    return next((s.step_instance_id for s in waiting), None)


def _rows_of(step: StepInstance) -> list[tuple[Any, HostResult | ContainerResult]]:
    """Return a step's host rows, then its containers', each with its key."""
    rows: list[tuple[Any, HostResult | ContainerResult]] = [
        (r.host.key, r) for r in step.hosts or ()
    ]
    return rows + [(r.container.key, r) for r in step.containers or ()]


def _failed(
    job: int,
    step: int,
    key: Any,
    status: HostStatus,
    row: Any,
    event: HostTransition | ContainerTransition | None,
) -> Failed:
    """Return the record of a failed host or container, from its transition, its row in a
    status read, or only its key."""
    at = None if event is None else event.observed_at
    if event is not None:
        row = event.result
    if is_container(key):
        pod = row.container if row is not None else Container(key[1])
        exit_code = None if row is None else row.exit_code
        return FailedContainer(job, step, pod, status, exit_code, observed_at=at)
    if row is None:
        host = (
            Host(bk_host_id=key)
            if isinstance(key, int)
            else Host(ip=key[1], bk_cloud_id=key[0], ipv6=key[2])
        )
        return FailedHost(job, step, host, status)
    return FailedHost(
        job, step, row.host, status, row.exit_code, error_code=row.error_code, observed_at=at
    )


_HANDLERS: dict[type, Callable[[Fold, Any], None]] = {
    HostTransition: Fold._on_object,
    ContainerTransition: Fold._on_object,
    StepTransition: Fold._on_step,
    JobTransition: Fold._on_job,
    JobFinished: Fold._on_finished,
    WatchFailed: Fold._on_failed,
    WatchTimedOut: Fold._on_timed_out,
    PollingStalled: Fold._on_stalled,
    PollingResumed: Fold._on_resumed,
    JobPollFailing: Fold._on_poll_failing,
    JobPollRecovered: Fold._on_poll_recovered,
}
