"""What a ``RedisStore`` knows of its watches here: their member jobs and pending events; data only.

A job joins a watch with a number new each time (``join``): the writes of a job carry it
(``_writes.Fenced.follow``), so a write queued before the job was let go is dropped unsent even
when the job joined again meanwhile. The pending event ids are those this process committed or
loaded, for ``commit``'s duplicate check and ``ack``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._keys import job_member

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..polling.stores import JobKey

__all__ = ["Members"]


class Members:
    """Per watch: its jobs here, in add order, each with its membership; its pending events."""

    __slots__ = ("_joins", "jobs", "pending")

    def __init__(self) -> None:
        #: Watch -> its jobs as this process knows them (loaded or added) -> membership.
        self.jobs: dict[str, dict[JobKey, int]] = {}
        #: Watch -> pending event id -> its job.
        self.pending: dict[str, dict[str, JobKey]] = {}
        self._joins = 0

    def join(self, name: str, jobs: Iterable[JobKey]) -> None:
        """Count ``jobs`` as members of watch ``name``; each one new to it joins anew."""
        members = self.jobs.setdefault(name, {})
        for job in jobs:
            if job not in members:
                self._joins += 1
                members[job] = self._joins

    def of(self, name: str, job: JobKey) -> int | None:
        """Return ``job``'s membership of watch ``name`` (``None``: not a member)."""
        members = self.jobs.get(name)
        return None if members is None else members.get(job)

    def forget(self, name: str, jobs: set[JobKey]) -> None:
        """Stop counting ``jobs`` as members of ``name``, and their pending events."""
        known = self.jobs.get(name, {})
        for job in jobs:
            known.pop(job, None)
        pending = self.pending.get(name, {})
        for event_id in [i for i, job in pending.items() if job in jobs]:
            del pending[event_id]

    def drop(self, name: str) -> None:
        """Forget watch ``name`` altogether."""
        self.jobs.pop(name, None)
        self.pending.pop(name, None)

    def order(self, name: str, jobs: set[JobKey]) -> list[JobKey]:
        """Return ``jobs`` in add order: those known here first, then the others by id."""
        order = [job for job in self.jobs.get(name, {}) if job in jobs]
        return order + sorted(jobs - set(order), key=lambda j: job_member(*j))

    def loaded(self, name: str, order: list[JobKey], pending: dict[str, JobKey]) -> None:
        """Take what a load read: the watch's jobs (those known keep their membership) and
        its pending events."""
        known = self.jobs.get(name, {})
        self.jobs[name] = {job: known[job] for job in order if job in known}
        self.join(name, order)
        self.pending[name] = pending
