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

from .._checks import check_bool
from .._observe import JobObservation, StepObservation
from .._protocol.jobs import GET_JOB_INSTANCE_LIST
from ..config import Scope, check_id
from ..errors import UnsupportedOperationError
from ..models import DEFAULT_SUCCESS, HostLog, JobInstanceStatus, JobResult, JobStatus, StepType
from ..models.enums import check_success
from ._codec import from_data, to_data
from ._reader import _final_snapshot
from ._tracker import EMPTY, observe, visit_of
from .events import Event, JobFinished

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..client import BkJobClient
    from .callbacks import Callback

__all__ = ["Check", "EndedJob", "JobChecks", "add_jobs", "check", "check_job", "check_jobs"]

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


# --- many jobs at once -----------------------------------------------------------------------

#: What a stored state of ``check_jobs`` says it is.
_JOBS_KIND = "bkjob-checks"
#: The job list's window: bk-job's 30 days less a margin, and a little ahead of ``now``.
_WINDOW = _dt.timedelta(days=30) - _dt.timedelta(hours=1)
_AHEAD = _dt.timedelta(minutes=5)


@attrs.frozen
class EndedJob:
    """A job ``check_jobs`` saw end (or give up on at the deadline), read with its hosts."""

    #: The job's events from a first look, ``JobFinished`` last when it ended.
    check: Check
    #: Every host's final row, sorted (``JobResult``), with ``success`` applied.
    result: JobResult
    #: Every host's log of its script and file steps (``BkJobClient.host_logs``), when asked
    #: (``logs=True``); a job given up at the deadline has its running hosts' logs too.
    logs: dict[int, tuple[HostLog, ...]] | None = None

    @property
    def timed_out(self) -> bool:
        """Whether the deadline passed before the job ended."""
        return not self.check.finished


@attrs.frozen
class JobChecks:
    """What one ``check_jobs`` visit found: the jobs that ended since, and the state to store."""

    #: The jobs that ended since the last visit, or that the deadline gave up on.
    ended: tuple[EndedJob, ...]
    #: The jobs still held (not ended, deadline not passed).
    running: frozenset[int]
    #: The state to store for the next visit: JSON-ready.
    state: dict[str, Any]


def add_jobs(
    state: Mapping[str, Any] | None,
    scope: Scope,
    job_instance_ids: Iterable[int],
    *,
    deadline: _dt.datetime | None = None,
) -> dict[str, Any]:
    """Return ``state`` (``JobChecks.state``, or ``None`` for a new one) holding these jobs too.

    ``deadline`` (aware): when ``check_jobs`` gives up on the jobs still running; kept in the
    state, so a caller that keeps no process keeps it too (a later one replaces it).
    """
    if not isinstance(scope, Scope):
        raise TypeError(f"scope must be a Scope, not {type(scope).__name__}")
    ids = [check_id(i, "job_instance_id") for i in job_instance_ids]
    new: dict[str, Any] = {
        "kind": _JOBS_KIND,
        "scope": [scope.type.value, scope.id],
        "jobs": {},
        "since": None,
    }
    out = dict(new if state is None else _held(state, scope))
    out["jobs"] = {**out["jobs"], **{str(i): {} for i in ids if str(i) not in out["jobs"]}}
    if deadline is not None:
        out["deadline"] = _aware(deadline, "deadline").timestamp()
    return out


async def check_jobs(
    client: BkJobClient,
    scope: Scope,
    state: Mapping[str, Any] | Iterable[int],
    *,
    deadline: _dt.datetime | None = None,
    success: Iterable[int] = DEFAULT_SUCCESS,
    callback: Callback | None = None,
    logs: bool = False,
    now: _dt.datetime | None = None,
) -> JobChecks:
    """Check every job ``state`` holds: one job-list read, then hosts (and logs) of those ended.

    For ``schedule()`` callers that keep no process (a bk-sops plugin, a Celery beat task):
    ``state`` is ``JobChecks.state`` from the visit before, or job ids to start holding
    (``add_jobs`` adds more). Each visit reads the job list of the scope's window once (its
    pages: up to 1,000 jobs a page), whatever the number of jobs held; a job the list does not
    show (older than its 30 days) is read itself, and so is every job on ESB v2 (no list). Each job that ended is read once with its
    hosts (``JobResult``, with ``success``) and, with ``logs=True``, every host's log; then it
    leaves the state. ``callback`` (``Callback.parse`` of bk-job's callback) has its job read
    at once, list or not; a callback that never came costs nothing more: the next visit's
    list read sees the end. ``deadline`` (aware; kept in the state) gives up on the jobs still
    running once passed: each is read with its hosts (and, with ``logs``, its running hosts'
    logs) and leaves the state (``EndedJob.timed_out``). ``now``: the time of the visit
    (default: now, UTC; a simulator's clock in tests).

    :raises ValueError: ``state`` is not a stored state, or another scope's.
    """
    success = check_success(success)
    check_bool(logs, "logs")
    if not isinstance(state, Mapping):
        state = add_jobs(None, scope, state)
    held = add_jobs(state, scope, (), deadline=deadline)
    at = _aware(now, "now") if now is not None else _dt.datetime.now(_dt.timezone.utc)
    jobs = {int(i) for i in held["jobs"]}
    if not jobs:
        return JobChecks((), frozenset(), held)
    until = at + _AHEAD
    since = held.get("since")
    start = until - _WINDOW
    if since is not None and start.timestamp() < since < until.timestamp():
        start = _dt.datetime.fromtimestamp(since, _dt.timezone.utc)
    listed: dict[int, JobStatus] = {}
    created = []
    if _has_list(client):  # (ESB v2 has no list: each job is read)
        async for row in client.iter_job_instances(scope, created_from=start, created_to=until):
            if row.job_instance_id in jobs:
                listed[row.job_instance_id] = row.status
                if row.create_time is not None:
                    created.append(row.create_time)
    ended_ids = {i for i, status in listed.items() if status.is_finished}
    ended_ids |= jobs - set(listed)  # (not in the window: read itself)
    if callback is not None and callback.job_instance_id in jobs:
        ended_ids.add(callback.job_instance_id)
    past = held.get("deadline") is not None and at.timestamp() >= held["deadline"]
    found = []
    for job_id in sorted(jobs if past else ended_ids):
        status = await client.get_job_instance_status(scope, job_id)
        if not status.finished and not past:
            continue  # (a callback or a list ahead of the job's status: seen next visit)
        read = None
        if logs:
            read = await client.host_logs(scope, job_id, status=status, running=past)
        result = JobResult.of(status, success=success)
        found.append(EndedJob(check(None, status, observed_at=at, success=success), result, read))
    gone = {e.result.job_instance_id for e in found}
    held["jobs"] = {k: v for k, v in held["jobs"].items() if int(k) not in gone}
    if created and len(listed) == len(jobs):
        held["since"] = min(created).timestamp() - 1
    return JobChecks(tuple(found), frozenset(jobs - gone), held)


def _has_list(client: BkJobClient) -> bool:
    """Tell whether the client's flavor has the job list (ESB v2 has none)."""
    try:
        client.protocol.binding(GET_JOB_INSTANCE_LIST)
    except UnsupportedOperationError:
        return False
    return True


def _held(state: Mapping[str, Any], scope: Scope) -> Mapping[str, Any]:
    """Return a stored ``check_jobs`` state; refuse another scope's, or no such data."""
    if not isinstance(state, Mapping) or state.get("kind") != _JOBS_KIND:
        raise ValueError("state is not a stored check_jobs state (JobChecks.state, as stored)")
    if state.get("scope") != [scope.type.value, scope.id]:
        raise ValueError(f"state is scope {state.get('scope')!r}'s, not {scope}'s")
    if not isinstance(state.get("jobs"), Mapping):
        raise ValueError("state is not a stored check_jobs state: it holds no jobs")
    return state


def _aware(moment: object, name: str) -> _dt.datetime:
    if not isinstance(moment, _dt.datetime) or moment.utcoffset() is None:
        raise TypeError(f"{name} must be an aware datetime, not {moment!r}")
    return moment
