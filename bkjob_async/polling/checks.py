"""One-shot checks: what changed since the state stored last time; for callers no process waits in.

A bk-sops plugin's ``schedule()`` is entered anew every few seconds and a Celery beat task runs
on a timer: neither keeps a ``Poller`` open between two visits. Each visit makes one request
(``check_job``, or your own ``get_job_instance_status``) and folds the answer into the state it
stored the visit before (``check``): the answer is the transitions since then and the state to
store for the next visit. ``check`` is pure: the poller's own tracker (``_tracker.observe``) on
the poller's state (``_tracker.JobState``) in the poller's stored form (``_codec.to_data``), so it
gives the same ``HostTransition``, ``ContainerTransition``, ``StepTransition``,
``JobTransition`` and ``JobFinished`` events, with the same ``event_id``, as a poller that saw
the same answers: dedupe on them across visits as a watch's consumer does.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._observe import JobObservation, StepObservation
from ..models import DEFAULT_SUCCESS, JobInstanceStatus, JobStatus, StepType
from ..models.enums import check_success
from ._codec import from_data, to_data
from ._reader import _final_snapshot
from ._tracker import EMPTY, observe, visit_of
from .events import Event, JobFinished

if TYPE_CHECKING:
    from ..client import BkJobClient
    from ..config import Scope

__all__ = ["Check", "check", "check_job"]

#: What a stored state says it is (``Check.state``), beside the tracker's form.
_KIND = "bkjob-check"


@attrs.frozen
class Check:
    """What one visit found: the events since the last one, and the state to store."""

    #: The transitions since the stored state, hosts (and containers) first, then steps, then
    #: the job, and last ``JobFinished`` if the job ended since.
    events: tuple[Event, ...]
    #: The state to store for the next visit: JSON-ready (``json.dumps`` writes it as it is),
    #: a few numbers per host.
    state: dict[str, Any]
    #: The job's status as read on this visit.
    status: JobInstanceStatus
    #: The final statuses that count as success (``success=``; ``DEFAULT_SUCCESS``: 3, 5, 6).
    success: frozenset[JobStatus] = attrs.field(default=DEFAULT_SUCCESS, kw_only=True)

    @property
    def finished(self) -> bool:
        """Whether bk-job says the job has ended (``JobInstanceStatus.finished``)."""
        return self.status.finished

    @property
    def succeeded(self) -> bool | None:
        """Whether the job ended in one of ``success``; ``None`` while it has not ended."""
        return self.status.job.status in self.success if self.status.finished else None


def check(
    state: Mapping[str, Any] | None,
    status: JobInstanceStatus,
    *,
    observed_at: _dt.datetime | None = None,
    success: frozenset[JobStatus] | set[int] = DEFAULT_SUCCESS,
) -> Check:
    """Fold a fresh ``status`` into the ``state`` stored last time; return what changed.

    ``state`` is ``Check.state`` from the visit before, or ``None`` on the first visit (every
    host, step and the job then come with ``previous=None``, as a poller's first look). Read
    ``status`` with its hosts (``get_job_instance_status(..., with_hosts=True)``, the default).
    ``JobFinished`` comes on the visit that first sees the job finished. ``observed_at`` stamps
    the events (default: now, in UTC). ``success``: the final statuses ``Check.succeeded``
    counts as success (``DEFAULT_SUCCESS``; bk-sops counts ``BK_SOPS_SUCCESS``, blueking-dbm
    ``DBM_SUCCESS``). Pure: no request, no clock but that default.

    :raises ValueError: ``state`` is not a stored state, or is another job's.
    :raises ResponseFormatError: ``status`` says finished in a status that is not final.
    """
    if not isinstance(status, JobInstanceStatus):
        raise TypeError(f"status must be a JobInstanceStatus, not {type(status).__name__}")
    success = check_success(success)
    job_id = status.job.job_instance_id
    old = EMPTY if state is None else _stored(state, job_id)
    at = observed_at or _dt.datetime.now(_dt.timezone.utc)
    new, events = observe(old, job_id, _observation(status), lambda: at, _given)
    if status.finished and not old.finished:
        snapshot = _final_snapshot(status)
        ended = snapshot.job.status
        visit = visit_of(new.visits, new.round, int(ended))
        events.append(JobFinished(job_id, at, ended, snapshot, round=new.round, visit=visit))
    stored = {"kind": _KIND, "job_instance_id": job_id, "tracker": to_data(new)}
    return Check(tuple(events), stored, status, success=success)


async def check_job(
    client: BkJobClient,
    scope: Scope,
    job_instance_id: int,
    state: Mapping[str, Any] | None = None,
    *,
    success: frozenset[JobStatus] | set[int] = DEFAULT_SUCCESS,
) -> Check:
    """Read a job's status (one ``get_job_instance_status`` with its hosts) and ``check`` it
    against ``state``; return what changed and the state to store (``success`` as there)."""
    success = check_success(success)
    status = await client.get_job_instance_status(scope, job_instance_id)
    if status.job.job_instance_id != job_instance_id:  # (the client refuses it; to be sure)
        raise ValueError(f"asked for job {job_instance_id}, read {status.job.job_instance_id}")
    return check(state, status, success=success)


def _stored(state: Mapping[str, Any], job_id: int) -> Any:
    """Return the tracker state of a ``Check.state``; refuse another job's, or no such data."""
    if not isinstance(state, Mapping) or state.get("kind") != _KIND:
        raise ValueError("state is not a stored check state (Check.state, as it was stored)")
    if state.get("job_instance_id") != job_id:
        raise ValueError(
            f"state is job {state.get('job_instance_id')!r}'s, and the status job {job_id}'s"
        )
    return from_data(state.get("tracker"))


def _observation(status: JobInstanceStatus) -> JobObservation:
    """Return what the poller's fast path reads of an answer, from its model: statuses, and
    each host's (and container's) key, status and (here) its result."""
    steps = []
    for step in status.steps:
        rows: list[Any] | None = None
        if step.hosts is not None or step.containers is not None:
            # (a host listed twice: the last row wins, in the first one's place, as there)
            found: dict[Any, Any] = {
                r.host.key: (r.host.key, int(r.status), r) for r in step.hosts or ()
            }
            found |= {
                r.container.key: (r.container.key, int(r.status), r) for r in step.containers or ()
            }
            rows = list(found.values())
        manual = step.type is StepType.MANUAL_CONFIRM
        count = step.execute_count or 0
        steps.append(StepObservation(step.step_instance_id, int(step.status), count, rows, manual))
    return JobObservation(status.finished, int(status.job.status), steps)


def _given(key: Any, code: int, result: Any) -> Any:
    """The result of a changed host: the model's, already structured."""
    return result
