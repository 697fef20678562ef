"""Rule: a board row is a plain value: no I/O and no counting.

A job as the dashboard's board shows it: where it is, its bucket, the fold's figures of it.

Rule: plain values, no I/O and no counting: the board's ``Fold`` counts, and a row holds the
frozen figures of its job as of the job's last delivery (read from the fold when the row is
next read, not at each delivery: most deliveries' rows are never shown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._fold import FoldedJob
from ._feed import job_text

if TYPE_CHECKING:
    from .._fold import Fold
    from ..config import Scope
    from ..models import JobStatus

__all__ = ["BUCKETS", "JobRow", "bucket_of"]

#: Job buckets, in display order.
#: ``unfinished``: only the job's end is watched, and bk-job's job list says it has not come.
#: ``ended``: its watch ended otherwise than by the job's end (it failed, or timed out).
BUCKETS = ("pending", "unfinished", "running", "waiting", "succeeded", "failed", "ended")
#: The fold's buckets of a watch that ended otherwise than by the job's end.
_ENDED = frozenset({"timed_out", "unreachable", "unwatched"})


def bucket_of(job: FoldedJob, listed: bool = False) -> str:
    """Return the bucket a job falls in (``listed``: the job list follows it)."""
    if job.bucket in _ENDED:
        return "ended"
    if job.bucket == "pending" and listed and job.status is None:
        return "unfinished"
    return job.bucket


class JobRow:
    """One job on the board: where it is, and the fold's figures of it as of its last change
    (``job``: a frozen ``FoldedJob``). A job run in Kubernetes containers (gateway v4) counts
    them in ``containers``; ``finished`` and ``failed`` count either (bk-job never runs a job
    on both)."""

    __slots__ = ("_changed", "_job", "job_id", "listed", "scope", "text", "updated")

    def __init__(self, scope: Scope, job_id: int) -> None:
        self.scope, self.job_id = scope, job_id
        #: ``biz:2/123``: the job as entries and pages name it.
        self.text = job_text(scope, job_id)
        self._job = FoldedJob(job_id, None, "pending", None, None, 0, 0, 0, 0, None, None)
        #: The fold that changed the job since its figures were last read (``None``: none).
        self._changed: Fold | None = None
        self.updated = 0.0
        #: The job list follows it (only its end is watched): not ended, status not kept.
        self.listed = False

    @property
    def job(self) -> FoldedJob:
        """Return the fold's figures of the job as of its last delivery."""
        fold = self._changed
        if fold is not None:
            self._changed = None
            self._job = fold.job(self.job_id) or self._job
        return self._job

    @job.setter
    def job(self, job: FoldedJob) -> None:
        self._job, self._changed = job, None

    def changed(self, fold: Fold) -> None:
        """Say that ``fold`` folded a delivery of the job in: its figures are read from it when
        the row is next read (the fold's figures of a job change only with its deliveries)."""
        self._changed = fold

    @property
    def status(self) -> JobStatus | None:
        """Return the job's last status seen."""
        return self.job.status

    @property
    def hosts(self) -> int:
        """Return the hosts of the step rounds seen."""
        return self.job.hosts

    @property
    def containers(self) -> int:
        """Return the containers of the step rounds seen."""
        return self.job.containers

    @property
    def finished(self) -> int:
        """Return the hosts (or containers) finished."""
        return self.job.finished

    @property
    def failed(self) -> int:
        """Return the hosts (or containers) failed now."""
        return self.job.failed

    @property
    def bucket(self) -> str:
        """Return the job's bucket (one of ``BUCKETS``)."""
        return bucket_of(self.job, self.listed)

    @property
    def ended(self) -> str | None:
        """Say how its watch ended when not by a status (``watch failed``, ``timed out``)."""
        job = self.job
        if job.bucket not in _ENDED:
            return None
        error = job.error
        return "timed out" if error is None else f"watch failed: {type(error).__name__}"
