"""Rule: every view reads a ``Tally``, and only ``feed`` changes it.

What a watch has shown so far: the library's ``Fold``, and what the command shows besides.

Rule: the live view, the plain progress lines and the summaries all read a ``Tally``; only
``feed`` changes it. The fold keeps every count (rendering never scans the events); a tally
adds the latest transitions, each job's last full status, and a known total of hosts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from ..config import Scope
from ..models import JobInstanceStatus, JobStatus
from ..polling import FailedHost, events
from ..polling._fold import TIMED_OUT, UNREACHABLE, Fold, FoldedJob, percentile
from ..polling._tap import _seen

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..polling import FoldCounts, JobSeen, PollerStatistics
    from ..polling._tracker import JobState

__all__ = [
    "RateMeter",
    "Summary",
    "Tally",
    "Workers",
    "job_counts",
    "objects_noun",
    "percentile",
]

#: The job-count buckets, in display order (a watch that failed counts as failed).
BUCKETS = ("pending", "running", "waiting", "succeeded", "failed", "timed_out", "unreachable")
#: Events the latest transitions leave out: a job's end, and outages (told once, apart).
_QUIET = frozenset(
    {
        events.JobFinished,
        events.WatchFailed,
        events.WatchTimedOut,
        events.PollingStalled,
        events.PollingResumed,
    }
)


def bucket(job: FoldedJob) -> str:
    """Return the bucket a job counts in (one of ``BUCKETS``)."""
    return "failed" if job.bucket == "unwatched" else job.bucket


def job_counts(counts: FoldCounts) -> dict[str, int]:
    """Return jobs by bucket, in ``BUCKETS`` order."""
    found = dict(counts.buckets)
    found["failed"] += found.pop("unwatched")
    return {k: found[k] for k in BUCKETS}


def confirm_command(job: FoldedJob) -> str | None:
    """Return the exact command that lets a waiting job go on, if it waits for a person."""
    if not _waits(job) or job.waiting_step is None:
        return None
    return f"bkjob-async operate {job.job_instance_id} {job.waiting_step} confirm"


def _waits(job: FoldedJob) -> bool:
    return job.status is JobStatus.WAITING_USER


class Tally(Fold):
    """A ``Fold`` of one command's watch, with the latest transitions and the jobs' last status.

    :param job_ids: the jobs watched, so jobs not seen yet count as pending.
    :param expected_hosts: a known total of hosts (the demo knows it); else hosts seen so far.
    :param recent: how many latest transitions to keep.
    """

    def __init__(
        self, job_ids: Iterable[int], *, expected_hosts: int = 0, recent: int = 64
    ) -> None:
        super().__init__(job_ids)
        self.expected_hosts = expected_hosts
        self.recent: deque[events.Event] = deque(maxlen=recent)
        #: Each job's last full status (``JobFinished``, ``WatchTimedOut``, ``seed``).
        self.snapshots: dict[int, JobInstanceStatus] = {}
        #: Jobs that had ended before this run (a resumed watch's state file says so).
        self.ended_before = 0

    def feed(self, event: events.Event) -> None:
        """Fold one event in."""
        super().feed(event)
        if type(event) not in _QUIET:
            self.recent.append(event)
        elif isinstance(event, events.JobFinished | events.WatchTimedOut) and event.snapshot:
            self.snapshots[event.job_instance_id] = event.snapshot

    def seed(self, job: JobInstanceStatus | JobSeen) -> None:
        """Start from a job's known status and hosts (as after an earlier watch), adding no events."""
        super().seed(job)
        if isinstance(job, JobInstanceStatus):
            self.snapshots[job.job.job_instance_id] = job

    def seed_state(self, job_id: int, state: JobState) -> None:
        """Start from a job as a state file holds it (a resumed watch), adding no events; one
        that had ended before this run is counted as seen to end, and told apart."""
        self.seed(_seen(Scope.biz(1), job_id, state, False))  # (a fold keeps no scope)
        self.ended_before += state.finished

    def hosts_total(self, counts: FoldCounts) -> int:
        """Return all hosts (and containers): the known total, or every one seen if more."""
        return max(self.expected_hosts, counts.objects)

    @property
    def all_succeeded(self) -> bool:
        """Tell whether every watched job ended successfully."""
        return self.counts().buckets["succeeded"] == len(self)

    def jobs_in(self, *buckets: str) -> list[FoldedJob]:
        """Return the jobs in ``buckets`` (``BUCKETS``' names), by id."""
        return sorted((j for j in self.jobs() if bucket(j) in buckets), key=_by_id)

    def waiting_jobs(self) -> list[FoldedJob]:
        """Return the jobs waiting for a person now (or when their deadline passed), by id."""
        return sorted((j for j in self.jobs() if _waits(j)), key=_by_id)

    def failed_steps(self, job_id: int) -> list[tuple[str, int, int]]:
        """Return ``(kind, step_instance_id, count)`` of a job's failed hosts (kind ``host``)
        and containers (``container``), by step."""
        found: dict[tuple[str, int], int] = {}
        for row in self.failed(job_id):
            kind = "host" if isinstance(row, FailedHost) else "container"
            found[kind, row.step_instance_id] = found.get((kind, row.step_instance_id), 0) + 1
        return [(k, s, n) for (k, s), n in sorted(found.items(), key=lambda kv: kv[0][1])]

    def report(
        self,
        *,
        title: str,
        elapsed: float,
        statistics: PollerStatistics | None,
        interrupted: bool = False,
    ) -> Summary:
        """Return the frozen summary of what was seen."""
        counts, jobs = self.counts(), self.jobs()
        outcomes: dict[str, int] = {}
        for job in jobs:
            name = job.outcome or ("PENDING" if job.status is None else job.status.name)
            outcomes[name] = outcomes.get(name, 0) + 1
        latencies = self.latencies()
        by_status = {**counts.hosts}
        for status, n in counts.containers.items():
            by_status[status] = by_status.get(status, 0) + n
        final = sorted(
            ((s, n) for s, n in by_status.items() if s.is_finished), key=lambda kv: (-kv[1], kv[0])
        )
        failed = self.jobs_in("failed")
        total = self.hosts_total(counts)
        return Summary(
            title=title,
            elapsed=elapsed,
            interrupted=interrupted,
            jobs=len(jobs),
            jobs_by_outcome=tuple(sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))),
            hosts=total,
            hosts_by_status=tuple((f"{s.name} ({int(s)})", n) for s, n in final),
            hosts_unfinished=total - counts.finished,
            polls=statistics.requests if statistics else 0,
            unchanged_polls=statistics.unchanged_polls if statistics else 0,
            retries=statistics.retries if statistics else 0,
            errors=tuple(sorted(statistics.errors.items())) if statistics else (),
            events=counts.events,
            latency_p50=percentile(latencies, 50),
            latency_p99=percentile(latencies, 99),
            latency_samples=len(latencies),
            failed_jobs=tuple(failed),
            failed_steps={
                j.job_instance_id: tuple(self.failed_steps(j.job_instance_id)) for j in failed
            },
            waiting_jobs=tuple(self.waiting_jobs()),
            timed_out_jobs=tuple(j for j in jobs if j.outcome == TIMED_OUT),
            ended_before=self.ended_before,
            containers=sum(counts.containers.values()),
        )

    @property
    def unreachable(self) -> list[FoldedJob]:
        """Return the jobs whose watch ended because bk-job could not be reached."""
        return [j for j in self.jobs() if j.outcome == UNREACHABLE]


def _by_id(job: FoldedJob) -> int:
    return job.job_instance_id


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


def objects_noun(total: int, containers: int) -> str:
    """Name ``total`` execute objects of which ``containers`` are containers: ``hosts``,
    ``containers`` or, for both, bk-job's word for either, ``execute objects``."""
    if not containers:
        return "hosts"
    return "containers" if containers >= total else "execute objects"


@attrs.frozen
class Summary:
    """The end-of-run report, ready for a renderer."""

    #: What ran ("bkjob-async watch 5 jobs").
    title: str
    #: Seconds from the start of the command.
    elapsed: float
    #: Ctrl-C ended it: the figures are partial.
    interrupted: bool
    #: Jobs watched.
    jobs: int
    #: ``(outcome, count)``, most frequent first: a status name, or ``TIMED_OUT`` and the like.
    jobs_by_outcome: tuple[tuple[str, int], ...]
    #: Hosts in all (known or seen), containers included (``containers`` says how many).
    hosts: int
    #: ``("NAME (code)", count)`` of hosts in a final status only, most frequent first.
    hosts_by_status: tuple[tuple[str, int], ...]
    #: Requests the poller made, polls whose answer had not changed, polls retried.
    polls: int
    unchanged_polls: int
    retries: int
    #: ``(error type, count)`` of failed polls.
    errors: tuple[tuple[str, int], ...]
    #: Events the watch delivered.
    events: int
    #: Transition latency in seconds (server end time to the poll that saw it), for the host
    #: transitions the command saw happen; ``None`` with no sample.
    latency_p50: float | None
    latency_p99: float | None
    latency_samples: int
    #: Jobs that ended in failure or whose watch failed (not timed out, not unreachable).
    failed_jobs: tuple[FoldedJob, ...]
    #: Of each failed job, ``Tally.failed_steps``.
    failed_steps: Mapping[int, tuple[tuple[str, int, int], ...]] = attrs.field(factory=dict)
    #: Jobs still waiting for a person (manual confirmation) when the summary was made.
    waiting_jobs: tuple[FoldedJob, ...] = ()
    #: Hosts not in a final status (yet): not part of ``hosts_by_status``.
    hosts_unfinished: int = 0
    #: Jobs whose ``--deadline`` passed before they ended (counted apart from failed ones).
    timed_out_jobs: tuple[FoldedJob, ...] = ()
    #: Of ``jobs``, those that had ended before this run (read from a resumed watch's state).
    ended_before: int = 0
    #: Of ``hosts``, the gateway v4's Kubernetes containers.
    containers: int = 0

    @property
    def objects(self) -> str:
        """Name what the jobs ran on: ``hosts``, ``containers`` or ``execute objects`` (both)."""
        return objects_noun(self.hosts, self.containers)


@attrs.frozen
class Workers:
    """Who polls a cluster watch's open jobs, as Redis said at one moment (heartbeats, leases).

    :param held: each worker with the open jobs of the partitions it holds a lease on; every
        live worker is listed, with no job if it holds none of them.
    :param silent: workers that hold a lease but whose heartbeat expired (a stalled or dead
        process): their jobs wait until the lease lapses and another worker takes it.
    :param unheld: open jobs whose partition no worker holds (no worker runs, or a lapsed
        lease is not taken again yet).
    """

    held: Mapping[str, tuple[int, ...]]
    silent: frozenset[str] = frozenset()
    unheld: tuple[int, ...] = ()
    #: Job id -> the worker polling it.
    holders: Mapping[int, str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        by_job = {job: worker for worker, jobs in self.held.items() for job in jobs}
        object.__setattr__(self, "holders", by_job)
