"""A job as the dashboard's board keeps it: its status, its bucket, how many of its hosts (or
containers) are done.

Rule: plain values and counting only, no I/O and nothing of the poller's: the board (``_board``)
folds each transition in through them, on its hottest path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..models import HostStatus, JobStatus
from ._feed import job_text

if TYPE_CHECKING:
    from ..config import Scope

__all__ = ["BUCKETS", "WEIGHTS", "JobRow", "bucket_of", "weight"]

#: Job buckets, in display order.
#: ``unfinished``: only the job's end is watched, and bk-job's job list says it has not come.
BUCKETS = ("pending", "unfinished", "running", "waiting", "succeeded", "failed", "ended")


def bucket_of(status: JobStatus | None, ended: str | None = None, listed: bool = False) -> str:
    """Return the bucket a job's status falls in (``ended``: its watch ended otherwise)."""
    if ended is not None:
        return "ended"
    if status is None and listed:
        return "unfinished"
    if status is None or status is JobStatus.BLANK:
        return "pending"
    if status is JobStatus.WAITING_USER:
        return "waiting"
    if status.is_finished:
        return "succeeded" if status.is_success else "failed"
    return "running"


class JobRow:
    """One job on the board: its status and how many of its hosts are done, as far as the
    board knows (a host's own status is asked of bk-job on the job's page). A job run in
    Kubernetes containers (gateway v4) counts them in ``containers``; ``finished`` and
    ``failed`` count either (bk-job never runs a job on both)."""

    __slots__ = (
        "bucket",
        "containers",
        "ended",
        "failed",
        "finished",
        "hosts",
        "job_id",
        "listed",
        "scope",
        "status",
        "text",
        "updated",
    )

    def __init__(self, scope: Scope, job_id: int) -> None:
        self.scope, self.job_id = scope, job_id
        #: ``biz:2/123``: the job as entries and pages name it.
        self.text = job_text(scope, job_id)
        self.status: JobStatus | None = None
        #: Hosts of the step rounds seen; those finished, those failed.
        self.hosts = self.finished = self.failed = 0
        #: Containers of the step rounds seen (gateway v4's container jobs).
        self.containers = 0
        #: How its watch ended when not by a status (``watch failed``, ``timed out``).
        self.ended: str | None = None
        self.bucket = "pending"
        self.updated = 0.0
        #: The job list follows it (only its end is watched): not ended, status not kept.
        self.listed = False

    def move(
        self,
        previous: HostStatus | None,
        current: HostStatus,
        counts: dict[int, int],
        container: bool = False,
    ) -> tuple[int, int]:
        """Count a host (a ``container``) moving from ``previous`` (``None``: first seen) to
        ``current`` in the job's and the board's counts; return ``weight(current)``."""
        counts[current] = counts.get(current, 0) + 1
        now = WEIGHTS.get(current) or weight(current)
        finished, failed = now
        if previous is None:
            if container:
                self.containers += 1
            else:
                self.hosts += 1
        else:
            counts[previous] = counts.get(previous, 0) - 1
            was_finished, was_failed = WEIGHTS.get(previous) or weight(previous)
            finished -= was_finished
            failed -= was_failed
        self.finished += finished
        self.failed += failed
        return now


def weight(status: HostStatus) -> tuple[int, int]:
    """Return ``(finished, failed)`` of a host's status, 1 or 0 each."""
    return int(status.is_finished), int(status.is_finished and not status.is_success)


#: ``weight`` of every status bk-job lists: one lookup on the hot path.
WEIGHTS = {status: weight(status) for status in HostStatus}
