"""Rule: a summary counts only the events its watch handed out; a job without host rows is unread.

A watch's summary from the events it handed out: jobs by status, failed hosts, waiting jobs.

A ``Told`` is fed the job-level events a watch hands out (``Watch.summary()`` keeps one);
``WatchSummary`` is its frozen snapshot, JSON-ready with ``to_dict()``. A wait for ends only
polls its jobs without host rows (the job list, or job-level polls), so the snapshot of a job
that ended may have none: such a job is listed in ``hosts_unread``, never counted as a job
without failed hosts, and ``failed_hosts(client, scope, ...)`` reads each such job once, whole.
A job in Kubernetes containers (the gateway v4) has its failed containers listed apart
(``FailedContainer``, ``failed_containers``), read the same way.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from ..models import Container, Host, HostStatus, JobInstanceStatus, JobStatus
from .events import PERSON_WAITING, JobFinished, JobTransition, WatchFailed, WatchTimedOut

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..client import BkJobClient
    from ..config import Scope

__all__ = [
    "FailedContainer",
    "FailedHost",
    "Told",
    "WatchSummary",
    "failed_containers",
    "failed_hosts",
]

#: The status name of a job the watch has not seen yet.
UNSEEN = "UNSEEN"


@attrs.frozen
class FailedHost:
    """A host that finished without success in a job's last round."""

    job_instance_id: int
    step_instance_id: int
    host: Host
    status: HostStatus
    exit_code: int | None = None
    #: bk-job's error code for the host (``HostResult.error_code``), when known; this and
    #: ``observed_at`` are not compared (nor in ``to_dict``): the same failure, however read.
    error_code: int | None = attrs.field(default=None, kw_only=True, eq=False)
    #: When the watch saw it fail (``None``: read from a status, not seen to fail).
    observed_at: _dt.datetime | None = attrs.field(default=None, kw_only=True, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """Return it as plain JSON values (``status`` as an int, with ``status_name``)."""
        return _row_dict(self, "host", self.host)


@attrs.frozen
class FailedContainer:
    """A container that finished without success in a job's last round (the gateway v4)."""

    job_instance_id: int
    step_instance_id: int
    container: Container
    status: HostStatus
    exit_code: int | None = None
    #: When the watch saw it fail (``None``: read from a status, not seen to fail).
    observed_at: _dt.datetime | None = attrs.field(default=None, kw_only=True, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """Return it as plain JSON values (``status`` as an int, with ``status_name``)."""
        return _row_dict(self, "container", self.container)


def _row_dict(
    row: FailedHost | FailedContainer, kind: str, what: Host | Container
) -> dict[str, Any]:
    return {
        "job_instance_id": row.job_instance_id,
        "step_instance_id": row.step_instance_id,
        kind: attrs.asdict(what),
        "status": int(row.status),
        "status_name": row.status.name,
        "exit_code": row.exit_code,
    }


@attrs.frozen
class WatchSummary:
    """What a watch has told so far, per job: an immutable snapshot (``Watch.summary()``)."""

    #: Jobs the watch holds.
    jobs: int
    #: Jobs by their last known status name (``"UNSEEN"``: nothing heard of it yet).
    statuses: Mapping[str, int]
    #: Jobs that ended (``JobFinished``), and of those the ones that did not succeed.
    finished: tuple[int, ...]
    failed: tuple[int, ...]
    #: The failed hosts of the ended jobs whose final snapshot has host rows.
    failed_hosts: tuple[FailedHost, ...]
    #: Jobs that ended without success and whose snapshot has no host rows (a wait for ends
    #: only): ``failed_hosts(client, scope, ...)`` reads them.
    hosts_unread: tuple[int, ...]
    #: Jobs that wait for a person now (a confirmation, a rolling pause).
    waiting: tuple[int, ...]
    #: Jobs the watch gave up on: ``WatchFailed`` (the error) or ``WatchTimedOut``.
    unwatched: Mapping[int, str]
    #: The failed containers of the same jobs (the gateway v4; unread as their hosts are).
    failed_containers: tuple[FailedContainer, ...] = ()

    @property
    def done(self) -> bool:
        """Whether every job has ended or been given up."""
        return len(self.finished) + len(self.unwatched) >= self.jobs

    def to_dict(self) -> dict[str, Any]:
        """Return it as one JSON object: every job and host listed, none cut."""
        return {
            "jobs": self.jobs,
            "statuses": dict(self.statuses),
            "finished": list(self.finished),
            "failed": list(self.failed),
            "failed_hosts": [host.to_dict() for host in self.failed_hosts],
            "failed_containers": [row.to_dict() for row in self.failed_containers],
            "hosts_unread": list(self.hosts_unread),
            "waiting": list(self.waiting),
            "unwatched": {str(job): why for job, why in self.unwatched.items()},
        }


#: A failed host or container.
Failed = FailedHost | FailedContainer


def _failed_in(snapshot: JobInstanceStatus) -> list[Failed] | None:
    """Return a snapshot's failed hosts and containers, or ``None`` when a step has no host rows
    (v4 sends its containers with them; v3 never has containers)."""
    found: list[Failed] = []
    job = snapshot.job.job_instance_id
    for step in snapshot.steps:
        if step.hosts is None:
            return None
        step_id = step.step_instance_id
        for row in step.hosts:
            if row.status.is_finished and not row.status.is_success:
                code = row.error_code
                found.append(
                    FailedHost(job, step_id, row.host, row.status, row.exit_code, error_code=code)
                )
        for one in step.containers or ():
            if one.status.is_finished and not one.status.is_success:
                found.append(
                    FailedContainer(job, step_id, one.container, one.status, one.exit_code)
                )
    return found


def summarize(
    job_ids: Iterable[int],
    status: Callable[[int], JobStatus | None],
    unwatched: Callable[[int], str | None],
    rows: Callable[[int], list[Failed] | tuple[Failed, ...] | None],
) -> WatchSummary:
    """Return the ``WatchSummary`` of ``job_ids`` from each job's last status, why its watch was
    given up (``None``: it was not) and its failed rows (``None``: its snapshot had none)."""
    ids = tuple(job_ids)
    known = {i: st for i in ids for st in (status(i),) if st}
    counts = Counter(known[i].name if i in known else UNSEEN for i in ids)
    finished = tuple(i for i in ids if i in known and known[i].is_finished)
    failed = tuple(i for i in finished if not known[i].is_success)
    found = {i: rows(i) for i in failed}
    listed = [row for i in failed for row in found[i] or ()]
    return WatchSummary(
        jobs=len(ids),
        statuses=dict(sorted(counts.items())),
        finished=finished,
        failed=failed,
        failed_hosts=tuple(row for row in listed if isinstance(row, FailedHost)),
        hosts_unread=tuple(i for i in failed if found[i] is None),
        waiting=tuple(i for i in ids if known.get(i) in PERSON_WAITING),
        unwatched={i: why for i in ids for why in (unwatched(i),) if why is not None},
        failed_containers=tuple(row for row in listed if isinstance(row, FailedContainer)),
    )


class Told:
    """What a watch handed out, per job: its last status, why its watch was given up, the failed
    rows of its final snapshot; ``summary`` reads it (the dashboard's ``Fold`` counts hosts too).

    Fed the job-level events (``JobTransition``, ``JobFinished``, ``WatchFailed``,
    ``WatchTimedOut``); any other is ignored.
    """

    __slots__ = ("_rows", "_status", "_unwatched")

    def __init__(self) -> None:
        self._status: dict[int, JobStatus] = {}
        #: The jobs given up on: the error's text, or ``"timed out"``.
        self._unwatched: dict[int, str] = {}
        #: The failed rows of each job's final snapshot (``None``: it had no host rows).
        self._rows: dict[int, list[Failed] | None] = {}

    def feed(self, event: object) -> None:
        """Fold one event in."""
        kind = type(event)
        if kind is JobTransition:
            assert isinstance(event, JobTransition)
            self._status[event.job_instance_id] = event.current
            self._unwatched.pop(event.job_instance_id, None)
        elif kind is JobFinished:
            assert isinstance(event, JobFinished)
            job = event.job_instance_id
            self._status[job] = event.status
            self._unwatched.pop(job, None)
            self._rows[job] = [] if event.status.is_success else _failed_in(event.snapshot)
        elif kind is WatchFailed:
            assert isinstance(event, WatchFailed)
            error = event.error
            self._unwatched[event.job_instance_id] = f"{type(error).__name__}: {error}"
        elif kind is WatchTimedOut:
            assert isinstance(event, WatchTimedOut)
            if event.snapshot is not None:
                self._status[event.job_instance_id] = event.snapshot.job.status
            self._unwatched[event.job_instance_id] = "timed out"

    def summary(self, job_ids: Iterable[int]) -> WatchSummary:
        """Return the ``WatchSummary`` of ``job_ids`` (a watch's jobs now)."""
        return summarize(job_ids, self._status.get, self._unwatched.get, self._rows_of)

    def _rows_of(self, job: int) -> list[Failed] | None:
        return self._rows.get(job, [])


async def failed_hosts(
    client: BkJobClient,
    scope: Scope,
    ended: Iterable[JobFinished | JobInstanceStatus],
    *,
    at_once: int = 16,
) -> tuple[FailedHost, ...]:
    """Return the failed hosts of ended jobs, in the order given: what a report of failures lists.

    Each item is a ``JobFinished`` or a job's status. One whose steps all have host rows is
    read as it is; one without (a wait for ends only polls without them) is read once, whole
    (``get_job_instance_status``), ``at_once`` jobs at a time, so the report is never
    silently empty. A job's containers (the gateway v4) are ``failed_containers``'s.
    """
    found = await _failed_rows(client, scope, ended, at_once)
    return tuple(row for row in found if isinstance(row, FailedHost))


async def failed_containers(
    client: BkJobClient,
    scope: Scope,
    ended: Iterable[JobFinished | JobInstanceStatus],
    *,
    at_once: int = 16,
) -> tuple[FailedContainer, ...]:
    """Return the failed containers of ended jobs (the gateway v4), read as ``failed_hosts``
    reads hosts: a job whose snapshot has no rows is read once, whole."""
    found = await _failed_rows(client, scope, ended, at_once)
    return tuple(row for row in found if isinstance(row, FailedContainer))


async def _failed_rows(
    client: BkJobClient,
    scope: Scope,
    ended: Iterable[JobFinished | JobInstanceStatus],
    at_once: int,
) -> list[Failed]:
    snapshots = [e.snapshot if isinstance(e, JobFinished) else e for e in ended]
    found: list[list[Failed] | None] = [_failed_in(s) for s in snapshots]
    limiter = anyio.CapacityLimiter(max(1, at_once))

    async def read(n: int) -> None:
        async with limiter:
            job = snapshots[n].job.job_instance_id
            found[n] = _failed_in(await client.get_job_instance_status(scope, job)) or []

    async with anyio.create_task_group() as group:
        for n, rows in enumerate(found):
            if rows is None:
                group.start_soon(read, n)
    return [row for rows in found for row in rows or ()]
