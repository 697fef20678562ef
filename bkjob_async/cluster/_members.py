"""What a ``RedisStore`` knows of its watches here: their member jobs and pending events; data only.

A job joins a watch with a number new each time (``join``): the writes of a job carry it
(``_writes.Fenced.follow``), so a write queued before the job was let go is dropped unsent even
when the job joined again meanwhile. Each job also has the version of its state in Redis as
this process last read or wrote it (``version``): a write replaces it by one of its own, unique
to the write, so Redis applies each write once and only over the state it was made from. The
pending event ids are those this process committed or loaded, for ``commit``'s duplicate check
and ``ack``.
"""

from __future__ import annotations

import itertools
import secrets
from typing import TYPE_CHECKING

from ._keys import job_member

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ..polling.stores import JobKey

__all__ = ["Members"]


class Members:
    """Per watch: its jobs here, in add order, each with its membership; its pending events."""

    __slots__ = ("_joins", "_nonce", "_writes", "jobs", "pending", "versions")

    def __init__(self) -> None:
        #: Watch -> its jobs as this process knows them (loaded or added) -> membership.
        self.jobs: dict[str, dict[JobKey, int]] = {}
        #: Watch -> pending event id -> its job.
        self.pending: dict[str, dict[str, JobKey]] = {}
        #: Watch -> job -> the version of its state in Redis (``""``: none stored).
        self.versions: dict[str, dict[JobKey, str]] = {}
        self._joins = 0
        self._nonce, self._writes = secrets.token_hex(8), itertools.count(1)

    def join(
        self, name: str, jobs: Iterable[JobKey], versions: Mapping[JobKey, str] | None = None
    ) -> None:
        """Count ``jobs`` as members of watch ``name``; each one new to it joins anew, its
        state's version in Redis as read (``versions``; none: nothing stored)."""
        members = self.jobs.setdefault(name, {})
        known = self.versions.setdefault(name, {})
        for job in jobs:
            if job not in members:
                self._joins += 1
                members[job] = self._joins
                known[job] = "" if versions is None else versions.get(job, "")

    def version(self, name: str, job: JobKey) -> tuple[str, str]:
        """Return the version of ``job``'s state a write of it replaces, and the write's own
        (new in every call, and from now on the job's)."""
        known = self.versions.setdefault(name, {})
        own = f"{self._nonce}.{next(self._writes)}"
        replaced, known[job] = known.get(job, ""), own
        return replaced, own

    def resync(self, name: str, job: JobKey, stored: str) -> None:
        """Take ``stored`` as ``job``'s version in Redis: a write of it was refused as stale,
        so its next write replaces what Redis holds (without this, each would be refused)."""
        known = self.versions.get(name)
        if known is not None and job in known:
            known[job] = stored

    def of(self, name: str, job: JobKey) -> int | None:
        """Return ``job``'s membership of watch ``name`` (``None``: not a member)."""
        members = self.jobs.get(name)
        return None if members is None else members.get(job)

    def forget(self, name: str, jobs: set[JobKey]) -> None:
        """Stop counting ``jobs`` as members of ``name``, and their pending events."""
        known, versions = self.jobs.get(name, {}), self.versions.get(name, {})
        for job in jobs:
            known.pop(job, None)
            versions.pop(job, None)
        pending = self.pending.get(name, {})
        for event_id in [i for i, job in pending.items() if job in jobs]:
            del pending[event_id]

    def drop(self, name: str) -> None:
        """Forget watch ``name`` altogether."""
        self.jobs.pop(name, None)
        self.pending.pop(name, None)
        self.versions.pop(name, None)

    def order(self, name: str, jobs: set[JobKey]) -> list[JobKey]:
        """Return ``jobs`` in add order: those known here first, then the others by id."""
        order = [job for job in self.jobs.get(name, {}) if job in jobs]
        return order + sorted(jobs - set(order), key=lambda j: job_member(*j))

    def loaded(
        self,
        name: str,
        order: list[JobKey],
        pending: dict[str, JobKey],
        versions: dict[JobKey, str],
    ) -> None:
        """Take what a load read: the watch's jobs (those known keep their membership), their
        states' versions and its pending events."""
        known = self.jobs.get(name, {})
        self.jobs[name] = {job: known[job] for job in order if job in known}
        self.versions[name] = {job: versions.get(job, "") for job in order}
        self.join(name, order, versions)
        self.pending[name] = pending
