"""What a watch has shown so far, folded from its events; pure bookkeeping, no I/O, no clock.

Rule: the live view, the plain progress lines and the summaries all read a ``Tally``; only
``feed`` changes it, and every count it shows is kept up to date there (rendering never scans).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import TYPE_CHECKING

import attrs

from ..errors import BkJobError
from ..models import HostKey, HostStatus, JobInstanceStatus, JobStatus
from ..polling.events import (
    Event,
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..polling import PollerStatistics

__all__ = ["JobRecord", "RateMeter", "Summary", "Tally", "percentile"]

#: How the end of a watch that was not a status is labelled.
WATCH_FAILED = "WATCH_FAILED"
TIMED_OUT = "TIMED_OUT"


@attrs.define
class JobRecord:
    """One watched job as far as the events told."""

    job_instance_id: int
    status: JobStatus | None = None
    ended: bool = False
    success: bool = False
    #: How the watch ended: a ``JobStatus`` name, ``WATCH_FAILED`` or ``TIMED_OUT``.
    outcome: str | None = None
    error: BkJobError | None = None
    snapshot: JobInstanceStatus | None = None
    #: The step waiting for a person (manual confirmation or a rolling pause), if any.
    waiting_step: int | None = None

    @property
    def failed_hosts(self) -> list[tuple[int, int]]:
        """Return ``(step_instance_id, failed host count)`` of each step with failed hosts."""
        if self.snapshot is None:
            return []
        found = []
        for step in self.snapshot.steps:
            failed = sum(
                1 for h in step.hosts or () if h.status.is_finished and not h.status.is_success
            )
            if failed:
                found.append((step.step_instance_id, failed))
        return found


class Tally:
    """Counts of jobs and hosts, the latest transitions, and latencies, kept per event.

    :param job_ids: the jobs watched, so jobs not seen yet count as pending.
    :param expected_hosts: a known total of hosts (the demo knows it); else hosts seen so far.
    :param recent: how many latest transitions to keep.
    """

    def __init__(self, job_ids: Iterable[int], *, expected_hosts: int = 0, recent: int = 8) -> None:
        self.jobs: dict[int, JobRecord] = {i: JobRecord(i) for i in job_ids}
        self.expected_hosts = expected_hosts
        self.hosts: dict[tuple[int, int, HostKey], HostStatus] = {}
        self.host_counts: Counter[HostStatus] = Counter()
        self.hosts_finished = 0
        #: Per job: ``[hosts seen, finished, failed]``.
        self.per_job: dict[int, list[int]] = {}
        self.recent: deque[Event] = deque(maxlen=recent)
        #: Seconds from a host's ``end_time`` (the server's clock) to the poll that saw it end.
        self.latencies: list[float] = []
        self.events = 0
        self._job_counts: Counter[str] = Counter(pending=len(self.jobs))

    # --- folding ------------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Fold one event in."""
        self.events += 1
        if isinstance(event, HostTransition):
            self._host(event)
        elif isinstance(event, StepTransition):
            record = self._record(event.job_instance_id)
            if event.current is JobStatus.WAITING_USER:
                record.waiting_step = event.step_instance_id
            elif record.waiting_step == event.step_instance_id:
                record.waiting_step = None
        elif isinstance(event, JobTransition):
            record = self._record(event.job_instance_id)
            self._set_job(record, event.current, ended=record.ended and event.current.is_finished)
        elif isinstance(event, JobFinished):
            record = self._record(event.job_instance_id)
            record.snapshot = event.snapshot
            self._set_job(record, event.status, ended=True)
        elif isinstance(event, WatchFailed):
            record = self._record(event.job_instance_id)
            record.error = event.error
            self._set_job(record, record.status, ended=True, outcome=WATCH_FAILED)
        elif isinstance(event, WatchTimedOut):
            record = self._record(event.job_instance_id)
            status = record.status
            if event.snapshot is not None:
                record.snapshot = event.snapshot
                status = event.snapshot.job.status
            self._set_job(record, status, ended=True, outcome=TIMED_OUT)
        if not isinstance(event, (HostTransition, JobFinished, WatchTimedOut)):
            self.recent.append(event)

    def seed(self, snapshot: JobInstanceStatus) -> None:
        """Start from a job's known status and hosts (as after an earlier watch), adding no events."""
        record = self._record(snapshot.job.job_instance_id)
        self._set_job(record, snapshot.job.status, ended=snapshot.finished)
        record.snapshot = snapshot
        for step in snapshot.steps:
            for result in step.hosts or ():
                key = (record.job_instance_id, step.step_instance_id, result.host.key)
                self._set_host(key, result.status)

    def _record(self, job_id: int) -> JobRecord:
        record = self.jobs.get(job_id)
        if record is None:
            record = self.jobs[job_id] = JobRecord(job_id)
            self._job_counts["pending"] += 1
        return record

    def _set_job(
        self,
        record: JobRecord,
        status: JobStatus | None,
        *,
        ended: bool,
        outcome: str | None = None,
    ) -> None:
        self._job_counts[self._bucket(record)] -= 1
        record.status = status
        record.ended = ended
        if ended:
            record.outcome = outcome or (status.name if status is not None else WATCH_FAILED)
            record.success = outcome is None and status is not None and status.is_success
        else:
            record.outcome, record.success, record.error = None, False, None
        self._job_counts[self._bucket(record)] += 1

    @staticmethod
    def _bucket(record: JobRecord) -> str:
        if record.ended:
            return "succeeded" if record.success else "failed"
        return "pending" if record.status is None else "running"

    def _host(self, event: HostTransition) -> None:
        new = event.current
        old = self._set_host((event.job_instance_id, event.step_instance_id, event.host.key), new)
        self.recent.append(event)
        end = event.result.end_time
        if new.is_finished and (old is None or not old.is_finished) and end is not None:
            self.latencies.append((event.observed_at - end).total_seconds())

    def _set_host(self, key: tuple[int, int, HostKey], new: HostStatus) -> HostStatus | None:
        old = self.hosts.get(key)
        self.hosts[key] = new
        per_job = self.per_job.setdefault(key[0], [0, 0, 0])
        if old is None:
            per_job[0] += 1
        else:
            self.host_counts[old] -= 1
            if not self.host_counts[old]:
                del self.host_counts[old]
            self.hosts_finished -= old.is_finished
            per_job[1] -= old.is_finished
            per_job[2] -= old.is_finished and not old.is_success
        self.host_counts[new] += 1
        self.hosts_finished += new.is_finished
        per_job[1] += new.is_finished
        per_job[2] += new.is_finished and not new.is_success
        return old

    # --- reading ------------------------------------------------------------------------------

    @property
    def hosts_total(self) -> int:
        """Return all hosts: the known total, or every host seen so far if more."""
        return max(self.expected_hosts, len(self.hosts))

    def job_counts(self) -> dict[str, int]:
        """Return jobs ``pending`` (not seen yet), ``running``, ``succeeded`` and ``failed``."""
        return {k: self._job_counts[k] for k in ("pending", "running", "succeeded", "failed")}

    @property
    def done(self) -> bool:
        """Tell whether every watched job has ended."""
        return all(r.ended for r in self.jobs.values())

    @property
    def all_succeeded(self) -> bool:
        """Tell whether every watched job ended successfully."""
        return all(r.ended and r.success for r in self.jobs.values())

    def failed_jobs(self) -> list[JobRecord]:
        """Return the jobs that ended without success, by id."""
        return sorted(
            (r for r in self.jobs.values() if r.ended and not r.success),
            key=lambda r: r.job_instance_id,
        )

    def summary(
        self,
        *,
        title: str,
        elapsed: float,
        statistics: PollerStatistics | None,
        interrupted: bool = False,
    ) -> Summary:
        """Return the frozen summary of what was seen."""
        outcomes: Counter[str] = Counter(
            r.outcome
            if r.ended and r.outcome
            else ("PENDING" if r.status is None else r.status.name)
            for r in self.jobs.values()
        )
        latencies = sorted(self.latencies)
        return Summary(
            title=title,
            elapsed=elapsed,
            interrupted=interrupted,
            jobs=len(self.jobs),
            jobs_by_outcome=tuple(sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))),
            hosts=self.hosts_total,
            hosts_by_status=tuple(
                (f"{s.name} ({int(s)})", n)
                for s, n in sorted(self.host_counts.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            polls=statistics.requests if statistics else 0,
            unchanged_polls=statistics.unchanged_polls if statistics else 0,
            retries=statistics.retries if statistics else 0,
            errors=tuple(sorted(statistics.errors.items())) if statistics else (),
            events=self.events,
            latency_p50=percentile(latencies, 50),
            latency_p99=percentile(latencies, 99),
            latency_samples=len(latencies),
            failed_jobs=tuple(self.failed_jobs()),
            waiting_jobs=tuple(
                r for r in self.jobs.values() if not r.ended and r.status is JobStatus.WAITING_USER
            ),
        )


class RateMeter:
    """Requests per second over the last ``window`` seconds, from samples of a growing count."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, now: float, count: int) -> float:
        """Record ``count`` at time ``now`` (seconds) and return the recent rate."""
        samples = self._samples
        samples.append((now, count))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        then, before = samples[0]
        return (count - before) / (now - then) if now > then else 0.0


def percentile(ordered: list[float], pct: float) -> float | None:
    """Return the nearest-rank percentile of an ascending list, or ``None`` if it is empty."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[min(len(ordered), int(rank)) - 1]


@attrs.frozen
class Summary:
    """The end-of-run report, ready for a renderer."""

    title: str
    elapsed: float
    interrupted: bool
    jobs: int
    jobs_by_outcome: tuple[tuple[str, int], ...]
    hosts: int
    hosts_by_status: tuple[tuple[str, int], ...]
    polls: int
    unchanged_polls: int
    retries: int
    errors: tuple[tuple[str, int], ...]
    events: int
    latency_p50: float | None
    latency_p99: float | None
    latency_samples: int
    failed_jobs: tuple[JobRecord, ...]
    #: Jobs still waiting for a person (manual confirmation) when the summary was made.
    waiting_jobs: tuple[JobRecord, ...] = ()
