"""Model values the tests build again and again: a job's status read with one step, an ended
job's status with none, a host's row as the engine's rules read it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bkjob_async import Host, HostResult, HostStatus, JobInstance, JobInstanceStatus, StepInstance

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from bkjob_async import JobStatus


def plain_row(n: int, status: HostStatus) -> HostResult:
    """Host ``1000 + n``'s row in ``status``, nothing more known of it."""
    return HostResult(Host(bk_host_id=1000 + n), status)


def one_step(
    job: int,
    status: JobStatus,
    hosts: Iterable[HostStatus | HostResult] | None,
    *,
    row: Callable[[int, HostStatus], HostResult] = plain_row,
    step: int = 20,
    step_name: str | None = None,
    job_name: str | None = None,
) -> JobInstanceStatus:
    """Return job ``job``'s status read: in ``status`` (finished when that status is), its one
    step ``step`` (round 0) in the same status on ``hosts`` (``None``: none listed), each a row
    or the ``n``-th host's status, made a row by ``row(n, status)``."""
    rows = None
    if hosts is not None:
        rows = tuple(h if isinstance(h, HostResult) else row(n, h) for n, h in enumerate(hosts))
    only = StepInstance(step, status, execute_count=0, hosts=rows, name=step_name)
    return JobInstanceStatus(status.is_finished, JobInstance(job, status, name=job_name), (only,))


def ended(job: int, status: JobStatus, name: str | None = None) -> JobInstanceStatus:
    """Return job ``job``'s status read once it ended in ``status``, no step listed."""
    return JobInstanceStatus(True, JobInstance(job, status, name=name), ())


def host_read(key: Any, code: int, row: dict[str, Any]) -> HostResult:
    """Read a host's row as ``Rules.of`` is given to: host ``key`` in status ``code``, no more."""
    return HostResult(Host(bk_host_id=key), HostStatus(code))
