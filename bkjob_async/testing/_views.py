"""Frozen snapshots of the simulator's jobs, for tests to assert on; nothing here changes state.

Times are epoch milliseconds as the v3 API reports them; ``None`` where bk-job has none yet.
"""

from __future__ import annotations

import attrs

from ..config import Scope
from ..models.enums import HostStatus, JobStatus, StepStatus, StepType
from ._engine import NO_EXIT, Job, Round, Step

__all__ = ["HostView", "JobView", "StepView", "job_view"]


@attrs.frozen
class HostView:
    """One host row of one round."""

    bk_host_id: int
    ip: str
    bk_cloud_id: int
    ipv6: str | None
    status: HostStatus
    exit_code: int | None
    tag: str
    batch: int
    start_time: int | None
    end_time: int | None


@attrs.frozen
class StepView:
    """One step instance; ``hosts`` is the current round (``None`` while a retry is pending)."""

    step_instance_id: int
    name: str
    type: StepType
    status: StepStatus
    execute_count: int
    start_time: int | None
    end_time: int | None
    total_time: int | None
    hosts: tuple[HostView, ...] | None
    rounds: dict[int, tuple[HostView, ...]] = attrs.field(eq=False, repr=False)

    def host(self, bk_host_id: int) -> HostView:
        """Return this round's row for one host, or raise ``KeyError``."""
        for row in self.hosts or ():
            if row.bk_host_id == bk_host_id:
                return row
        raise KeyError(bk_host_id)

    def statuses(self) -> list[HostStatus]:
        """Return the host statuses of the current round, in target order."""
        return [row.status for row in self.hosts or ()]


@attrs.frozen
class JobView:
    """One job instance as the simulator holds it."""

    job_instance_id: int
    scope: Scope
    name: str
    operator: str
    status: JobStatus
    create_time: int
    start_time: int | None
    end_time: int | None
    total_time: int | None
    steps: tuple[StepView, ...]

    @property
    def finished(self) -> bool:
        """Tell whether bk-job reports ``finished`` for this job."""
        return self.status.is_finished

    def step(self, index_or_id: int) -> StepView:
        """Return a step by position (``< len(steps)``) or by ``step_instance_id``."""
        if 0 <= index_or_id < len(self.steps):
            return self.steps[index_or_id]
        for step in self.steps:
            if step.step_instance_id == index_or_id:
                return step
        raise KeyError(index_or_id)


def job_view(job: Job, now: int) -> JobView:
    """Snapshot a settled job at ``now``."""
    return JobView(
        job_instance_id=job.id,
        scope=job.scope,
        name=job.name,
        operator=job.operator,
        status=JobStatus(job.status),
        create_time=job.create,
        **_times(job),
        steps=tuple(_step_view(step, now) for step in job.steps),
    )


def _step_view(step: Step, now: int) -> StepView:
    rounds = {count: _rows(step, rnd, now) for count, rnd in sorted(step.rounds.items())}
    return StepView(
        step_instance_id=step.id,
        name=step.name,
        type=step.type,
        status=JobStatus(step.status),
        execute_count=step.execute_count,
        **_times(step),
        hosts=rounds.get(step.execute_count),
        rounds=rounds,
    )


def _times(run: Job | Step) -> dict[str, int | None]:
    """The start, end and total time a job and a step report alike."""
    return {"start_time": run.start, "end_time": run.end, "total_time": run.total}


def _rows(step: Step, rnd: Round, now: int) -> tuple[HostView, ...]:
    rows = []
    for index, host in enumerate(step.hosts):
        status = rnd.status(index, now)
        started = status != HostStatus.WAITING
        ended = HostStatus(status).is_finished
        rows.append(
            HostView(
                bk_host_id=host.bk_host_id,
                ip=host.ip,
                bk_cloud_id=host.bk_cloud_id,
                ipv6=host.ipv6,
                status=HostStatus(status),
                exit_code=rnd.exit[index] if ended and rnd.exit[index] != NO_EXIT else None,
                tag=rnd.tags.get(index, ""),
                batch=step.batch_of(index),
                start_time=rnd.run[index] if started else None,
                end_time=rnd.end[index] if ended else None,
            )
        )
    return tuple(rows)
