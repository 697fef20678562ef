"""Rule: the job list, read per scope once a round, is the status of jobs that wait only for an end.

The census: bk-job's job list, read per scope on its own schedule, as the status of many jobs.

A wait that needs only a job's end (``as_completed``, ``wait_finished``, a watch filtered to
``JobFinished``) does not need one status request per job per round: one list request returns
up to 1,000 jobs of a scope with their status. Each round the census reads, for every scope
that has such jobs, the jobs created in the narrowest window that covers them (every page,
newest first), and hands each job its row (``_decide.Listed``): a job is polled itself only
when its row says it ended (for its final snapshot) or it has no row (outside the window:
a per-job poll, never silence). A job whose watches need its transitions (host, step, job) is
left to the list only while its next change must change its status (``_decide``'s ``parks``):
while it waits for a person (not started, a confirmation, a rolling pause), or while it runs
its last step with one host at work (``_decide.ends_next``). A row whose status differs from
the job's own has it polled at once, and per job again until it parks again. When every job
the list follows in a scope is parked at one status, the list is read at that status only
(``waiting_at``): a job that moved has no row, and is polled as a row at another status would
have it. A job parked so has just been read by its own poll: the list reads it at its next
round (a round after it parked if the list was idle), not at once, so parking costs no list
read of its own. A running job parked saves one poll a round, and the list's read costs its
pages: a scope's running jobs are left to the list only while they are more than the pages
its last read for them took (one before any), else each is polled itself from then on
(``_read``).

The window starts 30 days back (bk-job's limit) until the jobs were found once; then at the
oldest of them. Jobs launched a moment ago (as their watch was told) need no month: their
window starts a moment back. Paging while jobs are created shifts rows to later pages: a row
read twice is read twice, none is lost. The census's requests go through the reader and wait for the rate
governor and the outage as every poll does. A round that fails is a round in which no job has
a row: each is polled itself. ESB v2 has no job list; there the poller polls every job itself.
The gateway v4's list pages 200 rows at most, up to offset 10,000, and says no total: a full
page has the census read the next one.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from .._converter import read_epoch_ms
from .._observe import observe_job_list
from .._protocol.jobs import MAX_LENGTH_V4, MAX_OFFSET_V4
from ..config import ApiFlavor
from ..models import JobStatus, JobStatusPage
from .events import (
    PERSON_WAITING,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .._protocol import Protocol as ApiProtocol
    from ..config import Scope
    from ._jobs import Registry, Watched
    from ._reader import Reader

__all__ = ["BURST", "Census", "Owner"]

logger = logging.getLogger("bkjob_async.polling")

#: bk-job's longest creation window, less a margin for clocks that disagree.
_WINDOW = _dt.timedelta(days=30) - _dt.timedelta(minutes=5)
#: How far past now the window ends (the server's clock may be ahead of ours).
_AHEAD = _dt.timedelta(minutes=2)
_PAGE = 1000
#: Jobs are often added in a burst: a job to be read soon is read this many seconds after it
#: was added, with those added meanwhile (at most a round).
BURST = 0.05
#: A job's status while it runs.
_RUNNING = int(JobStatus.RUNNING)
#: A job's creation time as the list read it: a ``datetime``, epoch milliseconds (the common
#: form, ``observe_job_list``: made a ``datetime`` only where read), or ``None`` (none sent).
_Created = _dt.datetime | int | None


class Owner(Protocol):
    """What the census asks of the poller that owns it (the driver)."""

    def census_gate(self) -> float:
        """Return 0 if a request for the list may go now, else how long to wait first."""

    def census_read(self, error: BaseException | None) -> None:
        """Hear of a read of the list: ``None`` when bk-job answered it, else the error (bk-job's
        health counts it, as a poll's)."""

    def listed(self, watched: Watched, status: int | None) -> None:
        """Take a job's row (``None``: it has none)."""

    def unpark(self, watched: Watched) -> None:
        """Have a job polled itself from now on, the list no longer standing for it."""

    def wall(self) -> _dt.datetime:
        """Return the wall clock now, aware (the window's ends)."""


class Census:
    """Per scope, the jobs the job list follows; ``run`` reads the list once a round."""

    def __init__(self, protocol: ApiProtocol, reader: Reader, round_: float, owner: Owner) -> None:
        """``owner`` gates the list's requests and takes what they read (``Owner``)."""
        self._protocol, self._reader, self._owner = protocol, reader, owner
        self.round = round_
        #: The jobs the list follows, by scope: each one's slot and generation in the
        #: registry (``_jobs.Watched``: plain ints, no object per job), and the registry.
        self.jobs: dict[Scope, dict[int, int]] = {}
        self._registry: Registry | None = None
        #: Where each scope's window starts (``None``: 30 days back).
        self._since: dict[Scope, _dt.datetime] = {}
        self.rounds = self.pages = self.failures = 0
        #: The pages of each scope's last read for jobs whose last host runs (``_read``).
        self._cost: dict[Scope, int] = {}
        self._woken = anyio.Event()
        #: A job waits to be read soon; the loop waits for its first job.
        self._soon = self._idle = False

    def add(self, watched: Watched, soon: bool = True, launched: bool = False) -> None:
        """Let the list follow a job; ``soon``: read it within moments (a job the list reads
        first), else at the next round (a job parked just after its own poll read it, or one
        ``launched`` a moment ago: its row would only say it runs, and a rollout that refills
        its slots one launch at a time would have the list read at every launch).

        A job added may be older than the window: the window goes back 30 days, unless the
        job was ``launched`` a moment ago (as its watch was told). Its row is then among the
        newest: the window need only reach back to now, less ``_AHEAD`` for clocks that
        disagree, and a busy scope's month of rows is not read again for each batch launched.
        A job the window misses all the same has no row: it is polled, and the next round's
        window goes back 30 days.
        """
        scope = watched.scope
        self._registry = watched.registry
        jobs = self.jobs.setdefault(scope, {})
        first = not jobs
        jobs[watched.slot] = watched.gen
        since = self._since.get(scope)
        if not launched:
            self._since.pop(scope, None)
        elif since is not None or first:
            recent = self._owner.wall() - _AHEAD
            self._since[scope] = recent if since is None or since > recent else since
        soon = soon and not launched
        if soon:
            self._soon = True
        if soon or self._idle:
            self._woken.set()

    def discard(self, watched: Watched) -> None:
        jobs = self.jobs.get(watched.scope)
        if jobs is not None and jobs.get(watched.slot) == watched.gen:
            del jobs[watched.slot]

    def follow(
        self, watched: Watched, now: bool, soon: bool = True, launched: bool = False
    ) -> None:
        """Let the list stand for a job's polls (``now``; ``soon``, ``launched``: see
        ``add``), or stop."""
        if now:
            self.add(watched, soon, launched)
        else:
            self.discard(watched)

    async def run(self) -> None:
        """Read the list of every scope with jobs, once a round."""
        while True:
            if not any(self.jobs.values()):
                self._woken, self._idle = anyio.Event(), True
                await self._woken.wait()
                self._idle = False
                await self._between(anyio.current_time())
            started = anyio.current_time()
            self._soon = False
            registry = self._registry
            assert registry is not None  # (set by the first ``add``)
            for scope, jobs in list(self.jobs.items()):
                gens = registry.gens  # (a slot released since has a new generation)
                jobs = {slot: gen for slot, gen in jobs.items() if gens[slot] == gen}
                self.jobs[scope] = jobs
                if jobs:
                    await self._read(scope, registry.handles(jobs))
            self.rounds += 1
            await self._between(started)

    async def _between(self, started: float) -> None:
        """Wait until the round begun at ``started`` is over. A job added to be read soon
        (``add``) ends it early: one read for a burst of them, ``BURST`` s later."""
        if not self._soon:
            self._woken = anyio.Event()
            with anyio.move_on_after(max(0.0, self.round - (anyio.current_time() - started))):
                await self._woken.wait()
            if not self._soon:
                return
        await anyio.sleep(min(BURST, self.round))

    async def _read(self, scope: Scope, jobs: list[Watched]) -> None:
        """Read one scope's window, every page; hand each job its row (``None``: none).

        A job whose last host runs saves one poll a round, where a read costs its pages (one
        request for a lone job, every running row of a busy scope's window): when such jobs
        are no more than the pages of the scope's last read for them (one before any), each
        is polled itself from then on (``unpark``), and the list is read for the others only.
        """
        running = sum(map(_ends_next, jobs))
        if running and running <= self._cost.get(scope, 1):
            kept = []
            for watched in jobs:
                if _ends_next(watched):
                    self._owner.unpark(watched)
                else:
                    kept.append(watched)
            if not kept:
                return
            jobs, running = kept, 0
        wanted = {w.job.job_instance_id for w in jobs}
        until = self._owner.wall() + _AHEAD
        since = self._since.get(scope)
        if since is None or not until - _WINDOW <= since < until:  # (clocks that disagree)
            since = until - _WINDOW
        rows: dict[int, tuple[int, _Created]] | None = {}
        waiting = waiting_at(jobs)
        pages = self.pages
        try:
            rows = await self._rows(scope, since, until, waiting)
            self._owner.census_read(None)
            if running:
                self._cost[scope] = self.pages - pages
        except Exception as exc:  # (one nothing expects too: the jobs are polled themselves)
            self._owner.census_read(exc)
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                logger.warning(
                    "census of %s: the job list failed (%s: %s); polling each job itself "
                    "this round",
                    scope,
                    type(exc).__name__,
                    self._reader.redact(str(exc)),
                )
            rows = None
        if rows is not None:
            found = [rows[i][1] for i in wanted if i in rows]
            times = [t for t in found if t is not None]
            if times and (len(found) == len(wanted) or waiting is not None):
                # (a job a list of one status leaves out has moved, or is older than the
                # window: polled now, it is followed again only by ``add``, which widens it)
                self._since[scope] = _earliest(times) - _dt.timedelta(seconds=1)
            else:
                self._since.pop(scope, None)
        for watched in jobs:  # (a handle released meanwhile reads ``active`` false)
            row = None if rows is None else rows.get(watched.job.job_instance_id)
            status = None if row is None else row[0]
            if status in PERSON_WAITING and status != watched.job.status:
                status = None  # it now waits for a person: read once, so every watch hears it
            self._owner.listed(watched, status)

    async def _rows(
        self, scope: Scope, since: _dt.datetime, until: _dt.datetime, status: int | None = None
    ) -> dict[int, tuple[int, _Created]]:
        """Return ``{job id: (status, created)}`` of every job created in the window (with
        ``status``: of those at that status only)."""
        rows: dict[int, tuple[int, _Created]] = {}
        start = 0
        v4 = self._protocol.flavor is ApiFlavor.APIGW_V4
        length = MAX_LENGTH_V4 if v4 else _PAGE
        while True:
            if v4 and start > MAX_OFFSET_V4:
                return rows  # (v4 pages no further: the jobs past it are polled themselves)
            request = self._protocol.build(
                "get_job_instance_list",
                scope,
                created_from=since,
                created_to=until,
                status=status,
                start=start,
                length=length,
            )
            while True:  # wait for the rate governor and the outage, as every poll does
                wait = self._owner.census_gate()
                if not wait:
                    break
                await anyio.sleep(wait)
            data = await self._reader.fetch(request)
            if v4:
                data = _v4_page(data, start, length)
            # (each row's time kept as sent: few are read)
            read: tuple[int, int, Mapping[int, tuple[int, _Created]]] | None
            read = observe_job_list(data)
            if read is None:  # (a value not in its common form: the converter reads the page)
                page = self._protocol.parse(data, JobStatusPage)
                read = len(page.rows), page.total, {i: (s, t) for i, s, t in page.rows}
            count, total, listed = read
            self.pages += 1
            rows.update(listed)
            start += count
            if not count or start >= total:
                return rows


def _ends_next(watched: Watched) -> bool:
    """Whether the list follows a job whose watches need its transitions while it runs (its
    next change can only come with its end: ``_decide.ends_next``)."""
    job = watched.job
    return job.parks and job.status == _RUNNING


def waiting_at(jobs: Sequence[Watched]) -> int | None:
    """Return the status every one of ``jobs`` is parked at, if they share one, else ``None``.

    Then the list is read at that status only: the jobs still waiting have their rows, any
    other (it moved) has none and is polled, as a row at another status would have it. The
    list's read costs the waiting jobs' rows, not those of every job the window holds (on a
    busy scope, pages of them). A job that waits only for its end needs the rows of jobs at
    any status: with one among ``jobs``, the whole window is read.
    """
    status = None
    for watched in jobs:
        job = watched.job
        if not job.parks:  # (a parked job: it waits for a person, or its next change ends it)
            return None
        if status is None:
            status = job.status
        elif job.status != status:
            return None
    return status


def _earliest(times: list[_dt.datetime | int]) -> _dt.datetime:
    """Return the earliest of creation times, each a ``datetime`` or epoch milliseconds (as
    ``observe_job_list`` keeps them: only the earliest of those is made a ``datetime``)."""
    ms = [t for t in times if isinstance(t, int)]
    dates = [t for t in times if isinstance(t, _dt.datetime)]
    if ms:
        dates.append(read_epoch_ms(min(ms)))
    return min(dates)


def _v4_page(data: Any, start: int, length: int) -> Any:
    """Return v4's page (``{job_instance_list}``, no total) as v3's: a full page may have a
    next one, one cut short is the last."""
    listed = data.get("job_instance_list") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        return data  # (not a page: refused by the parse)
    more = 1 if len(listed) >= length else 0
    return {"start": start, "total": start + len(listed) + more, "data": listed}
