"""Rule: a job's result is read from one status, never from a request; no wire knowledge here.

``JobResult.of(status)`` sorts every host of a job by its final row: the row of the last step
that ran it (a status other than waiting). A host no step ran is "not run"; one whose last row
is running is still running; the others succeeded or failed, by bk-job's host status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from .enums import DEFAULT_SUCCESS, HostStatus, JobStatus, check_success
from .instances import HostResult, JobInstanceStatus

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .instances import HostKey

__all__ = ["JobResult"]


@attrs.frozen
class JobResult:
    """A job's result, host by host: succeeded, failed by status, not run, still running."""

    job_instance_id: int
    status: JobStatus
    #: bk-job says the job has ended (``JobInstanceStatus.finished``).
    finished: bool
    #: The job ended in one of ``success``; ``None`` while it has not ended.
    succeeded: bool | None
    #: Hosts whose final row succeeded (9, or 3: an earlier round's success).
    succeeded_hosts: tuple[HostResult, ...]
    #: Hosts whose final row failed, by that row's status.
    failed_hosts: Mapping[HostStatus, tuple[HostResult, ...]]
    #: Hosts no step ran (each with its first row, waiting): after a failure, or a termination.
    not_run: tuple[HostResult, ...]
    #: Hosts whose final row is still running (a job that has not ended, or stopped at a
    #: deadline).
    running: tuple[HostResult, ...]
    #: ``False`` when a step came without its host rows (a status read from the job list, or
    #: without hosts): then the host tuples are not the whole job; read it with its hosts.
    complete: bool
    #: The status this was read from.
    source: JobInstanceStatus = attrs.field(repr=False, eq=False)

    @classmethod
    def of(
        cls, status: JobInstanceStatus, *, success: Iterable[int] = DEFAULT_SUCCESS
    ) -> JobResult:
        """Return the result of the job ``status`` describes (``success``: its final statuses
        that count as success, ``DEFAULT_SUCCESS`` or an app's, as ``Poller.wait_finished``)."""
        wanted = check_success(success)
        finals = final_rows(status)
        failed: dict[HostStatus, list[HostResult]] = {}
        done: list[HostResult] = []
        not_run: list[HostResult] = []
        running: list[HostResult] = []
        for ran, row in finals.values():
            if not ran:
                not_run.append(row)
            elif not row.status.is_finished:
                running.append(row)
            elif row.status.is_success:
                done.append(row)
            else:
                failed.setdefault(row.status, []).append(row)
        job = status.job.status
        return cls(
            job_instance_id=status.job.job_instance_id,
            status=job,
            finished=status.finished,
            succeeded=job in wanted if status.finished else None,
            succeeded_hosts=tuple(done),
            failed_hosts={code: tuple(rows) for code, rows in sorted(failed.items())},
            not_run=tuple(not_run),
            running=tuple(running),
            complete=all(step.hosts is not None for step in status.steps),
            source=status,
        )

    @property
    def hosts(self) -> tuple[HostResult, ...]:
        """Return every host's final row: succeeded, failed, running, then not run."""
        failed = tuple(row for rows in self.failed_hosts.values() for row in rows)
        return self.succeeded_hosts + failed + self.running + self.not_run


def final_rows(status: JobInstanceStatus) -> dict[HostKey, tuple[bool, HostResult]]:
    """Return each host's final row, by key, with whether any step ran it: the row of the
    last step whose row is not waiting (5), else its first row."""
    found: dict[HostKey, tuple[bool, HostResult]] = {}
    for step in status.steps:
        for row in step.hosts or ():
            key = row.host.key
            if row.status is not HostStatus.WAITING:
                found[key] = (True, row)
            elif key not in found:
                found[key] = (False, row)
    return found
