"""The transition tracker: one job's last known statuses in, an observation in, events out; pure.

State is compact on purpose (a poller keeps one per watched job): the job's status, and per
step its status, round and a ``{host key: status code}`` map. Hosts are never forgotten, so a
host's ``previous`` spans rounds and hosts copied unchanged into a retry round emit nothing;
rows missing from a poll (bk-job's retry lag) mean "no news", never a change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import HostKey, HostResult, HostStatus, JobStatus
from .events import Event, HostTransition, JobTransition, StepTransition

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable

    from .._observe import GroupKey, JobObservation

__all__ = ["GroupCounts", "JobTracker"]


class _StepState:
    __slots__ = ("execute_count", "hosts", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.execute_count = 0
        self.hosts: dict[HostKey, int] = {}


class JobTracker:
    """What the poller last knew of one job, and the diff of each new observation against it."""

    __slots__ = ("finished", "status", "steps")

    def __init__(self) -> None:
        self.status: int | None = None
        self.finished = False
        self.steps: dict[int, _StepState] = {}

    def step_status(self, step_instance_id: int) -> int | None:
        """Return the last status seen for a step, or ``None``."""
        state = self.steps.get(step_instance_id)
        return None if state is None else state.status

    def observe(
        self,
        job_instance_id: int,
        observation: JobObservation,
        observed_at: Callable[[], _dt.datetime],
        host_result: Callable[[HostKey, int, dict[str, Any]], HostResult],
    ) -> list[Event]:
        """Fold ``observation`` into the state; return what changed, hosts first, job last.

        ``observed_at`` is called only if something changed; ``host_result`` structures the raw
        row of a host whose status changed (unchanged rows are never structured).
        """
        events: list[Event] = []
        step_events: list[Event] = []
        now: _dt.datetime | None = None
        for step in observation.steps:
            state = self.steps.get(step.step_instance_id)
            if state is None:
                state = self.steps[step.step_instance_id] = _StepState()
            if step.hosts is not None:
                known = state.hosts
                for key, code, row in step.hosts:
                    previous = known.get(key)
                    if previous == code:
                        continue
                    known[key] = code
                    result = host_result(key, code, row)
                    now = now or observed_at()
                    events.append(
                        HostTransition(
                            job_instance_id,
                            now,
                            step.step_instance_id,
                            step.execute_count,
                            result.host,
                            None if previous is None else HostStatus(previous),
                            result.status,
                            result,
                        )
                    )
            state.execute_count = step.execute_count
            if state.status != step.status:
                now = now or observed_at()
                step_events.append(
                    StepTransition(
                        job_instance_id,
                        now,
                        step.step_instance_id,
                        step.execute_count,
                        None if state.status is None else JobStatus(state.status),
                        JobStatus(step.status),
                    )
                )
                state.status = step.status
        events += step_events
        if self.status != observation.status:
            events.append(
                JobTransition(
                    job_instance_id,
                    now or observed_at(),
                    None if self.status is None else JobStatus(self.status),
                    JobStatus(observation.status),
                )
            )
            self.status = observation.status
        self.finished = observation.finished
        return events


class GroupCounts:
    """How many hosts a large step had in each result group, to fetch only groups that grew.

    Within a round a host only moves forward (waiting, running, an end), so every host that
    changed landed in a group that grew: fetching grown groups finds every change. A new round
    (``execute_count``) resets the counts, so every group is fetched again.
    """

    __slots__ = ("counts", "execute_count")

    def __init__(self) -> None:
        self.execute_count = -1
        self.counts: dict[GroupKey, int] = {}

    def grown(self, execute_count: int, counts: dict[GroupKey, int]) -> list[GroupKey]:
        """Record the new sizes; return the groups to fetch, in the server's order."""
        if execute_count != self.execute_count:
            self.execute_count, self.counts = execute_count, {}
        old = self.counts
        self.counts = counts
        return [key for key, size in counts.items() if size > old.get(key, 0)]
