"""What a cluster worker holds, as data: partitions, their jobs polled here, each job's watches.

No I/O and no engine here: ``Worker`` reads Redis and drives the poller; this says what a
partition read means (which jobs to start, which to stop, from which stored state), what a
refused write or a written end changes, and which jobs a Redis that lost its data gets back.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import attrs

from ..polling._codec import from_data
from ._keys import state_field

if TYPE_CHECKING:
    from ..config import Scope
    from ..polling._tracker import JobState
    from ._keys import JobRef

__all__ = ["Holdings", "WorkerStatistics"]

log = logging.getLogger("bkjob_async.cluster")

Jobs = dict["JobRef", frozenset[str]]


@attrs.frozen
class WorkerStatistics:
    """A snapshot of what a ``Worker`` holds and has done."""

    #: Partitions held now.
    partitions: int
    #: Jobs polled now.
    jobs: int
    #: Partitions taken (first holds and takeovers) since the start.
    gained: int
    #: Partitions dropped (lost, released, or past their lease deadline) since the start.
    dropped: int
    #: Changed polls written (one fenced write per watch of the job).
    commits: int
    #: Writes refused because the lease was gone.
    refused: int


class Holdings:
    """The partitions a worker holds and the jobs it polls, each with its watches."""

    __slots__ = ("ending", "jobs", "known", "parts", "versions")

    def __init__(self) -> None:
        #: Held partition -> its jobs polled here -> their watches.
        self.parts: dict[int, Jobs] = {}
        #: Held partition -> its version as last read (``None``: read it again).
        self.versions: dict[int, int] = {}
        #: Job polled here -> its watches (where its changes are written).
        self.jobs: Jobs = {}
        #: Partition -> its unfinished jobs as last read here: kept when the partition is
        #: dropped, so a Redis that comes back empty gets them back (``unfinished``).
        self.known: dict[int, Jobs] = {}
        #: Job -> writes of its end (one per watch) not applied yet.
        self.ending: dict[JobRef, int] = {}

    def stale(self, part: int, version: int) -> bool:
        """Whether partition ``part`` is new here or changed since it was read."""
        return part not in self.parts or self.versions.get(part) != version

    def take(
        self, part: int, version: int, read: Jobs, fields: dict[str, str]
    ) -> tuple[list[JobRef], dict[JobRef, JobState | None]]:
        """Hold partition ``part`` as read (its jobs and their stored ``fields``); return the
        jobs to stop polling and the jobs to start, each with its stored state (``None``:
        nothing stored). A job whose stored state is finished is not polled again."""
        held = self.parts.get(part, {})
        wanted: Jobs = {}
        start: dict[JobRef, JobState | None] = {}
        for job, watches in read.items():
            if job not in held:
                state = _stored_state(fields, job, watches)
                if state is not None and state.finished:
                    continue
                start[job] = state
            wanted[job] = watches
        self.known[part] = dict(wanted)
        self.parts[part] = wanted
        self.versions[part] = version
        return [job for job in held if job not in wanted], start

    def watch(self, job: JobRef, watches: frozenset[str]) -> frozenset[str]:
        """Record ``job``'s watches; return those it had before."""
        before = self.jobs.get(job, frozenset())
        self.jobs[job] = watches
        return before

    def drop(self, part: int) -> list[JobRef] | None:
        """Let partition ``part`` go; return its jobs (``None``: it was not held)."""
        self.versions.pop(part, None)
        jobs = self.parts.pop(part, None)
        return None if jobs is None else list(jobs)

    def leave(self, job: JobRef, part: int, *, reread: bool) -> None:
        """``job`` is no longer polled here (``reread``: read its partition again at the next
        lease round, where it may be followed again from Redis)."""
        jobs = self.parts.get(part)
        if jobs is not None and jobs.pop(job, None) is not None and reread:
            self.versions.pop(part, None)

    def end_written(self, job: JobRef, part: int) -> bool:
        """A write of ``job``'s end was applied; return whether every watch has it now."""
        known = self.known.get(part)
        if known is not None:
            known.pop(job, None)
        left = self.ending.get(job)
        if left is None:
            return False
        if left > 1:
            self.ending[job] = left - 1
            return False
        del self.ending[job]
        self.leave(job, part, reread=False)
        return True

    def unfinished(self) -> dict[tuple[str, Scope], list[int]]:
        """Return every unfinished job known here (polled now, or read with a partition held
        before), by watch and scope: what a Redis that lost its data gets back."""
        known: Jobs = {}
        for jobs in self.known.values():
            known.update(jobs)
        known.update(self.jobs)
        by_watch: dict[tuple[str, Scope], list[int]] = defaultdict(list)
        for (scope, job_id), watches in known.items():
            for watch in watches:
                by_watch[watch, scope].append(job_id)
        return by_watch


def _stored_state(fields: dict[str, str], job: JobRef, watches: frozenset[str]) -> JobState | None:
    """Return the most advanced state stored for ``job`` in any of its watches."""
    best: JobState | None = None
    for watch in watches:
        text = fields.get(state_field(job, watch))
        if text is None:
            continue
        try:
            state = from_data(json.loads(text))
        except ValueError as exc:
            log.error("unreadable stored state of job %s in watch %r: %s", job, watch, exc)
            continue
        if best is None or state.seq > best.seq:
            best = state
    return best
