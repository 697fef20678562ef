"""What a watch has shown so far, folded from its events; pure bookkeeping, no I/O, no clock.

Hosts and the gateway v4's Kubernetes containers are counted alike (a container under its
``Container.key``, never a host's); ``objects`` names what was counted, for the lines to say.

Rule: the live view, the plain progress lines and the summaries all read a ``Tally``; only
``feed`` changes it, and every count it shows is kept up to date there (rendering never scans).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import TYPE_CHECKING

import attrs

from ..errors import ApiError, BkJobError, TransportError
from ..models import HostStatus, JobInstanceStatus, JobStatus
from ..polling import events
from ..polling._containers import is_container

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Iterable

    from ..models import ContainerResult, HostKey, HostResult, StepInstance
    from ..models.instances import ContainerKey
    from ..polling import PollerStatistics
    from ..polling._tracker import JobState

    #: A host's or a container's key in one step of one job.
    ObjectKey = tuple[int, int, HostKey | ContainerKey]

__all__ = ["JobRecord", "RateMeter", "Summary", "Tally", "objects_noun", "percentile"]

#: How the end of a watch that was not a status is labelled.
WATCH_FAILED = "WATCH_FAILED"
TIMED_OUT = "TIMED_OUT"
#: A watch that ended because bk-job could not be reached (not a verdict on the job).
UNREACHABLE = "UNREACHABLE"
#: The job-count buckets, in display order.
BUCKETS = ("pending", "running", "waiting", "succeeded", "failed", "timed_out", "unreachable")


def is_outage(error: BkJobError) -> bool:
    """Tell whether an error says bk-job could not be reached, not that the job is bad."""
    return isinstance(error, TransportError) or (isinstance(error, ApiError) and error.transient)


@attrs.define
class JobRecord:
    """One watched job as far as the events told."""

    job_instance_id: int
    #: The job's last status seen (``None``: not seen yet).
    status: JobStatus | None = None
    #: Its watch has ended (finished, failed to be watched, timed out or unreachable).
    ended: bool = False
    #: It ended in a successful status.
    success: bool = False
    #: How the watch ended: a ``JobStatus`` name, ``WATCH_FAILED``, ``TIMED_OUT`` or
    #: ``UNREACHABLE``.
    outcome: str | None = None
    #: Why it could not be watched, if it could not.
    error: BkJobError | None = None
    #: Its last full status (from ``JobFinished`` or ``WatchTimedOut``), hosts included.
    snapshot: JobInstanceStatus | None = None
    #: The step waiting for a person (manual confirmation or a rolling pause), if any.
    waiting_step: int | None = None

    @property
    def waiting(self) -> bool:
        """Tell whether the job's last known status is waiting for a person."""
        return self.status is JobStatus.WAITING_USER

    @property
    def confirm_step(self) -> int | None:
        """Return the step a person must confirm, from the events or the last snapshot."""
        if self.waiting_step is not None or self.snapshot is None:
            return self.waiting_step
        waiting = [s for s in self.snapshot.steps if s.status is JobStatus.WAITING_USER]
        return waiting[0].step_instance_id if waiting else None

    @property
    def confirm_command(self) -> str | None:
        """Return the exact command that lets a waiting job go on, if it waits for a person."""
        step = self.confirm_step
        if not self.waiting or step is None:
            return None
        return f"bkjob-async operate {self.job_instance_id} {step} confirm"

    @property
    def failed_hosts(self) -> list[tuple[int, int]]:
        """Return ``(step_instance_id, failed host count)`` of each step with failed hosts."""
        return self._failed(lambda step: step.hosts)

    @property
    def failed_containers(self) -> list[tuple[int, int]]:
        """Return ``(step_instance_id, count)`` of each step with failed containers (v4)."""
        return self._failed(lambda step: step.containers)

    def _failed(
        self, rows: Callable[[StepInstance], Iterable[HostResult | ContainerResult] | None]
    ) -> list[tuple[int, int]]:
        if self.snapshot is None:
            return []
        found = []
        for step in self.snapshot.steps:
            failed = sum(
                1 for r in rows(step) or () if r.status.is_finished and not r.status.is_success
            )
            if failed:
                found.append((step.step_instance_id, failed))
        return found


class Tally:
    """Counts of jobs and hosts, the latest transitions, outages and latencies, kept per event.

    :param job_ids: the jobs watched, so jobs not seen yet count as pending.
    :param expected_hosts: a known total of hosts (the demo knows it); else hosts seen so far.
    :param recent: how many latest transitions to keep.
    """

    def __init__(
        self, job_ids: Iterable[int], *, expected_hosts: int = 0, recent: int = 64
    ) -> None:
        self.jobs: dict[int, JobRecord] = {i: JobRecord(i) for i in job_ids}
        self.expected_hosts = expected_hosts
        #: Each host's and container's last status, by job, step and key.
        self.hosts: dict[ObjectKey, HostStatus] = {}
        #: How many of ``hosts`` are containers.
        self.containers = 0
        self.host_counts: Counter[HostStatus] = Counter()
        self.hosts_finished = 0
        #: Per job: ``[hosts seen, finished, failed]``.
        self.per_job: dict[int, list[int]] = {}
        self.recent: deque[events.Event] = deque(maxlen=recent)
        #: Seconds from a host's ``end_time`` (the server's clock) to the poll that saw it end,
        #: only for hosts this watch saw unfinished first (a host already done says nothing).
        self.latencies: list[float] = []
        self.events = 0
        #: When bk-job became unreachable, if it is now (``None``: it answers). The engine tells
        #: a watch of an outage once: one ``PollingStalled`` when its first job stalls and one
        #: ``PollingResumed`` when its last stalled job answers, each naming any one job.
        self.outage_since: _dt.datetime | None = None
        #: The latest error of the current outage.
        self.outage_error: BkJobError | None = None
        #: Outages seen so far (a watch that never reports one may be filtered).
        self.outages = 0
        #: Jobs whose reads fail alone now (``JobPollFailing``, until it answers or ends).
        self.failing: set[int] = set()
        self._job_counts: Counter[str] = Counter(pending=len(self.jobs))
        #: Jobs that had ended before this run (a resumed watch's state file says so).
        self.ended_before = 0

    # --- folding ------------------------------------------------------------------------------

    def feed(self, event: events.Event) -> None:
        """Fold one event in."""
        self.events += 1
        if isinstance(event, events.PollingStalled):
            if self.outage_since is None:
                self.outage_since = event.since
                self.outages += 1
            self.outage_error = event.error
            return
        if isinstance(event, events.PollingResumed):
            self.outage_since = self.outage_error = None
            return
        if isinstance(event, events.JobPollFailing):
            self.failing.add(event.job_instance_id)
            self.recent.append(event)
            return
        if isinstance(event, events.JobPollRecovered):
            self.failing.discard(event.job_instance_id)
            self.recent.append(event)
            return
        if isinstance(event, (events.HostTransition, events.ContainerTransition)):
            self._host(event)
            return
        record = self._record(event.job_instance_id)
        if isinstance(event, events.StepTransition):
            if event.current is JobStatus.WAITING_USER:
                record.waiting_step = event.step_instance_id
            elif record.waiting_step == event.step_instance_id:
                record.waiting_step = None
        elif isinstance(event, events.JobTransition):
            self._set_job(record, event.current, ended=record.ended and event.current.is_finished)
        elif isinstance(event, events.JobFinished):
            record.snapshot = event.snapshot
            self._set_job(record, event.status, ended=True)
        elif isinstance(event, events.WatchFailed):
            self.failing.discard(event.job_instance_id)
            record.error = event.error
            outcome = UNREACHABLE if is_outage(event.error) else WATCH_FAILED
            self._set_job(record, record.status, ended=True, outcome=outcome)
        elif isinstance(event, events.WatchTimedOut):
            status = record.status
            if event.snapshot is not None:
                record.snapshot = event.snapshot
                status = event.snapshot.job.status
            self._set_job(record, status, ended=True, outcome=TIMED_OUT)
        if not isinstance(event, (events.JobFinished, events.WatchFailed, events.WatchTimedOut)):
            self.recent.append(event)

    def seed(self, snapshot: JobInstanceStatus) -> None:
        """Start from a job's known status and hosts (as after an earlier watch), adding no events."""
        record = self._record(snapshot.job.job_instance_id)
        self._set_job(record, snapshot.job.status, ended=snapshot.finished)
        record.snapshot = snapshot
        job = record.job_instance_id
        for step in snapshot.steps:
            for result in step.hosts or ():
                self._set_host((job, step.step_instance_id, result.host.key), result.status)
            for row in step.containers or ():
                self._set_host((job, step.step_instance_id, row.container.key), row.status)

    def seed_state(self, job_id: int, state: JobState) -> None:
        """Start from a job as a state file holds it (a resumed watch), adding no events.

        A job that had ended before this run counts in the summary like one seen to end, and
        is reported apart (``Summary.ended_before``).
        """
        record = self._record(job_id)
        status = None if state.status is None else JobStatus.of(state.status)
        self._set_job(record, status, ended=state.finished)
        self.ended_before += state.finished
        for step in state.steps:
            for key, code in zip(step.keys, step.codes, strict=True):
                self._set_host((job_id, step.step_instance_id, key), HostStatus.of(code))

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
        self._job_counts[self.bucket(record)] -= 1
        record.status = status
        record.ended = ended
        if ended:
            record.outcome = outcome or (status.name if status is not None else WATCH_FAILED)
            record.success = outcome is None and status is not None and status.is_success
        else:
            record.outcome, record.success, record.error = None, False, None
        self._job_counts[self.bucket(record)] += 1

    @staticmethod
    def bucket(record: JobRecord) -> str:
        """Return the bucket a job counts in (one of ``BUCKETS``)."""
        if record.ended:
            if record.success:
                return "succeeded"
            return {TIMED_OUT: "timed_out", UNREACHABLE: "unreachable"}.get(
                record.outcome or "", "failed"
            )
        if record.status is None:
            return "pending"
        return "waiting" if record.waiting else "running"

    def _host(self, event: events.HostTransition | events.ContainerTransition) -> None:
        new = event.current
        what = event.host.key if isinstance(event, events.HostTransition) else event.container_key
        old = self._set_host((event.job_instance_id, event.step_instance_id, what), new)
        self.recent.append(event)
        end = event.result.end_time
        seen_running = event.previous is not None and not event.previous.is_finished
        if new.is_finished and seen_running and old is not None and end is not None:
            self.latencies.append((event.observed_at - end).total_seconds())

    def _set_host(self, key: ObjectKey, new: HostStatus) -> HostStatus | None:
        old = self.hosts.get(key)
        self.hosts[key] = new
        per_job = self.per_job.setdefault(key[0], [0, 0, 0])
        if old is None:
            per_job[0] += 1
            self.containers += is_container(key[2])
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
        """Return all hosts (and containers): the known total, or every one seen so far if more."""
        return max(self.expected_hosts, len(self.hosts))

    @property
    def objects(self) -> str:
        """Name what the jobs ran on: ``hosts``, ``containers`` or ``execute objects`` (both)."""
        return objects_noun(self.hosts_total, self.containers)

    def job_counts(self) -> dict[str, int]:
        """Return jobs by bucket, in ``BUCKETS`` order (``timed_out`` apart from ``failed``)."""
        return {k: self._job_counts[k] for k in BUCKETS}

    @property
    def done(self) -> bool:
        """Tell whether every watched job has ended."""
        return all(r.ended for r in self.jobs.values())

    @property
    def all_succeeded(self) -> bool:
        """Tell whether every watched job ended successfully."""
        return all(r.ended and r.success for r in self.jobs.values())

    @property
    def unreachable(self) -> list[JobRecord]:
        """Return the jobs whose watch ended because bk-job could not be reached."""
        return [r for r in self.jobs.values() if r.outcome == UNREACHABLE]

    def failed_jobs(self) -> list[JobRecord]:
        """Return the jobs that ended in failure, by id (not timed out, not unreachable)."""
        return sorted(
            (r for r in self.jobs.values() if self.bucket(r) == "failed"),
            key=lambda r: r.job_instance_id,
        )

    def waiting_jobs(self) -> list[JobRecord]:
        """Return the jobs waiting for a person now (or when their deadline passed), by id."""
        return sorted(
            (r for r in self.jobs.values() if r.waiting and not r.success),
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
        final = sorted(
            ((s, n) for s, n in self.host_counts.items() if s.is_finished),
            key=lambda kv: (-kv[1], kv[0]),
        )
        return Summary(
            title=title,
            elapsed=elapsed,
            interrupted=interrupted,
            jobs=len(self.jobs),
            jobs_by_outcome=tuple(sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))),
            hosts=self.hosts_total,
            hosts_by_status=tuple((f"{s.name} ({int(s)})", n) for s, n in final),
            hosts_unfinished=self.hosts_total - self.hosts_finished,
            polls=statistics.requests if statistics else 0,
            unchanged_polls=statistics.unchanged_polls if statistics else 0,
            retries=statistics.retries if statistics else 0,
            errors=tuple(sorted(statistics.errors.items())) if statistics else (),
            events=self.events,
            latency_p50=percentile(latencies, 50),
            latency_p99=percentile(latencies, 99),
            latency_samples=len(latencies),
            failed_jobs=tuple(self.failed_jobs()),
            waiting_jobs=tuple(self.waiting_jobs()),
            timed_out_jobs=tuple(r for r in self.jobs.values() if r.outcome == TIMED_OUT),
            ended_before=self.ended_before,
            containers=self.containers,
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


def objects_noun(total: int, containers: int) -> str:
    """Name ``total`` execute objects of which ``containers`` are containers: ``hosts``,
    ``containers`` or, for both, bk-job's word for either, ``execute objects``."""
    if not containers:
        return "hosts"
    return "containers" if containers >= total else "execute objects"


def percentile(ordered: list[float], pct: float) -> float | None:
    """Return the nearest-rank percentile of an ascending list, or ``None`` if it is empty."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[min(len(ordered), int(rank)) - 1]


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
    #: Jobs that ended in failure (not timed out, not unreachable).
    failed_jobs: tuple[JobRecord, ...]
    #: Jobs still waiting for a person (manual confirmation) when the summary was made.
    waiting_jobs: tuple[JobRecord, ...] = ()
    #: Hosts not in a final status (yet): not part of ``hosts_by_status``.
    hosts_unfinished: int = 0
    #: Jobs whose ``--deadline`` passed before they ended (counted apart from failed ones).
    timed_out_jobs: tuple[JobRecord, ...] = ()
    #: Of ``jobs``, those that had ended before this run (read from a resumed watch's state).
    ended_before: int = 0
    #: Of ``hosts``, the gateway v4's Kubernetes containers.
    containers: int = 0

    @property
    def objects(self) -> str:
        """Name what the jobs ran on: ``hosts``, ``containers`` or ``execute objects`` (both)."""
        return objects_noun(self.hosts, self.containers)
