"""What this process holds of a cluster, as one record: jobs, their watches, partitions; no I/O.

A job held in a watch has a ``Member``, new at each join: its writes carry it, so those queued
before the job was let go are dropped unsent (``Member.held``), even if it joined again since.
A ``RedisStore`` keeps its jobs and pending events here; a ``Worker`` also its partitions.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections import defaultdict
from typing import TYPE_CHECKING

from .. import _json
from ..polling._codec import from_data
from ._keys import job_member, state_field, version_field

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ..config import Scope
    from ..polling._tracker import JobState
    from ._keys import JobRef

__all__ = ["Holdings", "Member", "writes_back"]

log = logging.getLogger("bkjob_async.cluster")

Jobs = dict["JobRef", frozenset[str]]


class Member:
    """A job's membership of one watch: join number, state version in Redis (as last read or
    written here), whether it holds (not once let go), whether the job's end was written to it."""

    __slots__ = ("ending", "held", "joined", "version")

    def __init__(self, joined: int, version: str) -> None:
        self.joined, self.version, self.held, self.ending = joined, version, True, False


class Holdings:
    """The jobs held here, each with its watches; pending events; a worker's partitions."""

    def __init__(self) -> None:
        #: Job held here -> its watches -> its membership, in join order.
        self.jobs: dict[JobRef, dict[str, Member]] = {}
        #: Watch -> pending event id -> its job (a store that keeps pending events).
        self.pending: dict[str, dict[str, JobRef]] = {}
        #: A worker's held partition -> its jobs polled here.
        self.parts: dict[int, set[JobRef]] = {}
        #: Held partition -> its version as last read (missing: read it again).
        self.versions: dict[int, int] = {}
        #: Partition -> its unfinished jobs as last read here: kept when the partition is
        #: dropped, so a Redis that comes back empty gets them back (``unfinished``).
        self.known: dict[int, Jobs] = {}
        #: Partition -> (job, watch) -> the version of the job's last write applied here,
        #: kept when the partition is dropped: a state read later that is older than it was
        #: rolled back by Redis (``take`` says so), not written since by another worker.
        self.applied: dict[int, dict[tuple[JobRef, str], str]] = {}
        #: Partition -> how many of its jobs were read older than written here, and by up to
        #: how many of this process's writes (``take``; the worker logs and clears it).
        self.rollbacks: dict[int, tuple[int, int]] = {}
        self._joins = itertools.count(1)
        self._nonce, self._writes = secrets.token_hex(8), itertools.count(1)

    # -- memberships ------------------------------------------------------------------------

    def join(
        self, watch: str, jobs: Iterable[JobRef], fields: Mapping[str, str] | None = None
    ) -> None:
        """Hold ``jobs`` in ``watch``; each one new to it joins anew, its version as read in
        its partition's state ``fields`` (none: nothing stored)."""
        fields = fields or {}
        for job in jobs:
            watches = self.jobs.setdefault(job, {})
            if watch not in watches:
                version = fields.get(version_field(job, watch), "")
                watches[watch] = Member(next(self._joins), version)

    def of(self, watch: str, job: JobRef) -> Member | None:
        """Return ``job``'s membership of ``watch`` (``None``: not held in it)."""
        watches = self.jobs.get(job)
        return None if watches is None else watches.get(watch)

    def version(self, member: Member) -> tuple[str, str]:
        """Return the version a write of ``member`` replaces, and the write's own (new in
        every call, and from now on the member's)."""
        replaced = member.version
        member.version = f"{self._nonce}.{next(self._writes)}"
        return replaced, member.version

    def forget(self, watch: str, jobs: Iterable[JobRef]) -> None:
        """Let ``jobs`` go from ``watch``, with their pending events."""
        jobs = set(jobs)
        for job in jobs:
            watches = self.jobs.get(job, {})
            member = watches.pop(watch, None)
            if member is not None:
                member.held = False
                if not watches:
                    del self.jobs[job]
        pending = self.pending.get(watch, {})
        for event_id in [i for i, job in pending.items() if job in jobs]:
            del pending[event_id]

    def release(self, job: JobRef) -> None:
        """Let ``job`` go from every watch."""
        for watch in list(self.jobs.get(job, ())):
            self.forget(watch, [job])

    def drop(self, watch: str) -> None:
        """Forget watch ``watch`` altogether."""
        self.forget(watch, [job for job, watches in self.jobs.items() if watch in watches])
        self.pending.pop(watch, None)

    def loaded(
        self, watch: str, jobs: set[JobRef], pending: dict[str, JobRef], fields: dict[str, str]
    ) -> list[JobRef]:
        """Take what a load read: the watch's jobs (those held keep their membership, with
        the versions in ``fields``) and its pending events; return the jobs in join order
        (those held here first, then the others by id)."""
        held = [job for job, watches in self.jobs.items() if watch in watches]
        self.forget(watch, [job for job in held if job not in jobs])
        held = sorted(set(held) & jobs, key=lambda job: self.jobs[job][watch].joined)
        for job in held:
            self.jobs[job][watch].version = fields.get(version_field(job, watch), "")
        order = held + sorted(jobs - set(held), key=lambda job: job_member(*job))
        self.join(watch, order, fields)
        self.pending[watch] = pending
        return order

    # -- a worker's partitions --------------------------------------------------------------

    def take(
        self, part: int, version: int, read: Jobs, fields: dict[str, str]
    ) -> tuple[list[JobRef], dict[JobRef, JobState | None]]:
        """Hold partition ``part`` as read (its jobs, their watches and stored ``fields``);
        return the jobs to stop polling and those to start, each with its stored state
        (``None``: nothing stored). A job whose stored state is finished is not polled."""
        self._rolled_back(part, read, fields)
        held = self.parts.get(part, set())
        wanted: Jobs = {}
        start: dict[JobRef, JobState | None] = {}
        for job, watches in read.items():
            if job not in held:
                state = _stored_state(fields, job, watches)
                if state is not None and state.finished:
                    continue
                start[job] = state
            wanted[job] = watches
        gone = [job for job in held if job not in wanted]
        for job in gone:
            self.release(job)
        for job, watches in wanted.items():
            for watch in set(self.jobs.get(job, ())) - watches:
                self.forget(watch, [job])
            for watch in watches:
                self.join(watch, [job], fields)
        self.known[part] = dict(wanted)
        self.parts[part] = set(wanted)
        self.versions[part] = version
        return gone, start

    def wrote(self, part: int, job: JobRef, watch: str, version: str, *, end: bool) -> None:
        """A write of ``job`` in ``watch`` was applied: its version is ``version`` (``end``:
        the job left the watch with it)."""
        applied = self.applied.setdefault(part, {})
        if end:
            applied.pop((job, watch), None)
        else:
            applied[job, watch] = version

    def _rolled_back(self, part: int, read: Jobs, fields: Mapping[str, str]) -> None:
        """Note in ``rollbacks`` if ``fields`` hold job states older than those written here."""
        applied = self.applied.get(part)
        if not applied:
            return
        back = {
            key: writes_back(fields.get(version_field(*key), ""), version)
            for key, version in applied.items()
            if key[1] in read.get(key[0], ())
        }
        self.applied[part] = {key: applied[key] for key in back}  # (those gone: forgotten)
        lost = [n for n in back.values() if n]
        if lost:
            self.rollbacks[part] = (len(lost), max(lost))

    def drop_part(self, part: int) -> list[JobRef] | None:
        """Let partition ``part`` go; return its jobs (``None``: it was not held)."""
        self.versions.pop(part, None)
        jobs = self.parts.pop(part, None)
        return None if jobs is None else list(jobs)

    def leave(self, job: JobRef, part: int, *, reread: bool) -> None:
        """``job`` is no longer polled here (``reread``: read its partition again at the next
        lease round, where it may be followed again from Redis)."""
        jobs = self.parts.get(part)
        if jobs is not None and job in jobs:
            jobs.discard(job)
            if reread:
                self.versions.pop(part, None)

    def unfinished(self) -> dict[tuple[str, Scope], list[int]]:
        """Return every unfinished job known here (polled now, or read with a partition held
        before), by watch and scope: what a Redis that lost its data gets back."""
        known: Jobs = {}
        for jobs in self.known.values():
            known.update(jobs)
        known.update((job, frozenset(watches)) for job, watches in self.jobs.items())
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
            state = from_data(_json.loads(text))
        except ValueError as exc:
            log.error("unreadable stored state of job %s in watch %r: %s", job, watch, exc)
            continue
        if best is None or state.seq > best.seq:
            best = state
    return best


def writes_back(stored: str, replaced: str) -> int:
    """Return how many of its writer's writes ``stored`` is behind ``replaced``, the version a
    refused write replaced (0 unless both are of one writer and ``stored`` is older): the
    writes Redis lost (a failover to a replica that lagged, a restart from an older snapshot);
    ``stored`` empty (nothing stored) is before the writer's first write."""
    nonce, _, n = replaced.rpartition(".")
    other, _, m = stored.rpartition(".")
    if not (nonce and n.isdigit()):
        return 0
    if not stored:
        return int(n)
    return max(0, int(n) - int(m)) if nonce == other and m.isdigit() else 0
