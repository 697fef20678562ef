"""What a watch yields: frozen events, each naming its job and when the poller saw it.

Per job, events come in observation order; within one observation, host transitions, then
step transitions, then the job's; ``JobFinished``, ``WatchFailed`` or ``WatchTimedOut`` is
the last event of its job on a watch.
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


@attrs.frozen
class StepTransition:
    """A step's status changed (``previous`` is ``None`` on first sight)."""

    job_instance_id: int
    observed_at: _dt.datetime
    step_instance_id: int
    execute_count: int
    previous: StepStatus | None
    current: StepStatus


@attrs.frozen
class JobTransition:
    """The job's status changed (``previous`` is ``None`` on first sight)."""

    job_instance_id: int
    observed_at: _dt.datetime
    previous: JobStatus | None
    current: JobStatus


@attrs.frozen
class JobFinished:
    """The server reports the job finished; ``snapshot`` is its full final status.

    Finished is not always final: operations can revive a failed job; watch it again to follow.
    """

    job_instance_id: int
    observed_at: _dt.datetime
    status: JobStatus
    snapshot: JobInstanceStatus


@attrs.frozen
class WatchFailed:
    """The job could not be watched (not found, no permission, retries exhausted)."""

    job_instance_id: int
    observed_at: _dt.datetime
    error: BkJobError


@attrs.frozen
class WatchTimedOut:
    """The watch's deadline passed first; ``snapshot`` is the job's status then, if it could be read."""

    job_instance_id: int
    observed_at: _dt.datetime
    snapshot: JobInstanceStatus | None


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


@attrs.frozen
class PollingResumed:
    """Polls succeed again after a ``PollingStalled``; ``since`` is when the watch stalled.

    Sent once to a watch, when the last of its stalled jobs has an answer again (the job named).
    """

    job_instance_id: int
    observed_at: _dt.datetime
    since: _dt.datetime


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
