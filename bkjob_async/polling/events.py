"""What a watch yields: frozen events, each naming its job and when the poller saw it.

Per job, events come in observation order; within one observation, host transitions, then
step transitions, then the job's; ``JobFinished``, ``WatchFailed`` or ``WatchTimedOut`` is
the last event of its job on a watch.

Every event has an ``event_id``: a string made of what the event says (job, step, round, host,
the transition) and ``occurrence``, the number of the job's observation that saw it (counted in
the tracker's state, which a store keeps). The same transition delivered again, after a restart
from a stored state, has the same id; two different transitions never share one, even a job
going ``2 -> 7 -> 2 -> 7``. Dedupe on it.
"""

from __future__ import annotations

import datetime as _dt

import attrs

from ..errors import BkJobError
from ..models import (
    Host,
    HostResult,
    HostStatus,
    JobInstanceStatus,
    JobStatus,
    StepStatus,
)

__all__ = [
    "Event",
    "HostTransition",
    "JobFinished",
    "JobTransition",
    "PollingResumed",
    "PollingStalled",
    "StepTransition",
    "WatchFailed",
    "WatchTimedOut",
]


def _status(value: int | None) -> str:
    return "none" if value is None else str(int(value))


def _host_id(event: HostTransition) -> str:
    # Built for every host transition: plain attribute reads and one f-string.
    host, previous = event.host, event.previous
    key = host.bk_host_id
    where = (
        str(key)
        if key is not None
        else "|".join("" if part is None else str(part) for part in host.key)  # type: ignore[union-attr]
    )
    return (
        f"{event.job_instance_id}/{event.step_instance_id}/{event.execute_count}/h{where}"
        f"/{'none' if previous is None else int(previous)}-{int(event.current)}"
        f"/{event.occurrence}"
    )


def _step_id(event: StepTransition) -> str:
    return (
        f"{event.job_instance_id}/{event.step_instance_id}/{event.execute_count}"
        f"/s/{_status(event.previous)}-{_status(event.current)}/{event.occurrence}"
    )


def _job_id(event: JobTransition) -> str:
    return (
        f"{event.job_instance_id}/j/{_status(event.previous)}-{_status(event.current)}"
        f"/{event.occurrence}"
    )


def _finished_id(event: JobFinished) -> str:
    return f"{event.job_instance_id}/finished/{int(event.status)}/{event.occurrence}"


def _failed_id(event: WatchFailed) -> str:
    return f"{event.job_instance_id}/failed/{type(event.error).__name__}/{event.occurrence}"


def _timed_out_id(event: WatchTimedOut) -> str:
    return f"{event.job_instance_id}/timedout/{event.occurrence}"


def _stalled_id(event: PollingStalled) -> str:
    return f"{event.job_instance_id}/stalled/{event.since.isoformat()}"


def _resumed_id(event: PollingResumed) -> str:
    return f"{event.job_instance_id}/resumed/{event.since.isoformat()}"


@attrs.frozen
class HostTransition:
    """A host's status changed; ``previous`` is ``None`` the first time the poller sees it.

    ``previous`` is the host's last status in that step in any round, so a retried host reads
    ``11 -> 5 -> 7 -> 9`` with the new ``execute_count``.
    """

    job_instance_id: int
    observed_at: _dt.datetime
    step_instance_id: int
    execute_count: int
    host: Host
    previous: HostStatus | None
    current: HostStatus
    result: HostResult
    #: The number of the job's observation that saw this (see the module doc).
    occurrence: int = attrs.field(default=0, kw_only=True)

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return _host_id(self)


@attrs.frozen
class StepTransition:
    """A step's status changed (``previous`` is ``None`` on first sight)."""

    job_instance_id: int
    observed_at: _dt.datetime
    step_instance_id: int
    execute_count: int
    previous: StepStatus | None
    current: StepStatus
    #: The number of the job's observation that saw this (see the module doc).
    occurrence: int = attrs.field(default=0, kw_only=True)

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return _step_id(self)


@attrs.frozen
class JobTransition:
    """The job's status changed (``previous`` is ``None`` on first sight)."""

    job_instance_id: int
    observed_at: _dt.datetime
    previous: JobStatus | None
    current: JobStatus
    #: The number of the job's observation that saw this (see the module doc).
    occurrence: int = attrs.field(default=0, kw_only=True)

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return _job_id(self)


@attrs.frozen
class JobFinished:
    """The server reports the job finished; ``snapshot`` is its full final status.

    Finished is not always final: operations can revive a failed job; watch it again to follow.
    """

    job_instance_id: int
    observed_at: _dt.datetime
    status: JobStatus
    snapshot: JobInstanceStatus
    #: The number of the job's observation that saw this (see the module doc).
    occurrence: int = attrs.field(default=0, kw_only=True)

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return _finished_id(self)


@attrs.frozen
class WatchFailed:
    """The job could not be watched (not found, no permission, retries exhausted)."""

    job_instance_id: int
    observed_at: _dt.datetime
    error: BkJobError
    #: The number of the job's observation that saw this (see the module doc).
    occurrence: int = attrs.field(default=0, kw_only=True)

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return _failed_id(self)


@attrs.frozen
class WatchTimedOut:
    """The watch's deadline passed first; ``snapshot`` is the job's status then, if it could be read."""

    job_instance_id: int
    observed_at: _dt.datetime
    snapshot: JobInstanceStatus | None
    #: The number of the job's observation that saw this (see the module doc).
    occurrence: int = attrs.field(default=0, kw_only=True)

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return _timed_out_id(self)


@attrs.frozen
class PollingStalled:
    """bk-job cannot be reached for this job: polls fail with transient errors and are retried.

    Sent once per outage to each watch of the job; the watch goes on. A watch of many jobs
    hears it once, for the first of its jobs to stall, however many stall with it (an outage
    stalls them all). ``since`` is when the job stalled, ``error`` the failure that stalled it.
    A job stalls after three failed polls in a row, or at once when no poll of any job has
    succeeded for two seconds (bk-job is down).
    """

    job_instance_id: int
    observed_at: _dt.datetime
    since: _dt.datetime
    error: BkJobError

    @property
    def event_id(self) -> str:
        """Stable identity of this event (job and ``since``)."""
        return _stalled_id(self)


@attrs.frozen
class PollingResumed:
    """Polls succeed again after a ``PollingStalled``; ``since`` is when the watch stalled.

    Sent once to a watch, when the last of its stalled jobs has an answer again (the job named).
    """

    job_instance_id: int
    observed_at: _dt.datetime
    since: _dt.datetime

    @property
    def event_id(self) -> str:
        """Stable identity of this event (job and ``since``)."""
        return _resumed_id(self)


Event = (
    HostTransition
    | StepTransition
    | JobTransition
    | JobFinished
    | WatchFailed
    | WatchTimedOut
    | PollingStalled
    | PollingResumed
)
TERMINAL_EVENTS = (JobFinished, WatchFailed, WatchTimedOut)
