"""Rule: running jobs are counted as bk-job's quota manager counts them; no I/O and no clock.

bk-job's running-job quota (``RunningJobResourceQuotaManager``, its Lua check
``check_running_job_quota_limit.lua``, ``TaskExecuteServiceImpl``, ``JobListener``):

* a job takes a slot of its scope, of its app and of the system when it is **created**, started
  or not (``start_task=false`` too: ``saveTaskInstance`` adds it; START checks nothing again);
* it frees the slot when it ends, in any final status (``JobListener``'s ``finally``);
* an operation that revives an ended job (retry, ignore error, next step, ...) takes the slot
  again without a check, as ``TaskExecuteServiceImpl`` re-adds it;
* a launch is refused while a count is at its limit: the system's first (1244034), then the
  scope's (1244032), then the calling app's (1244033); a job of no app (``create_job``) counts
  for its scope and the system only.

Jobs advance lazily (``_engine``), so ``Slots`` keeps a heap of when each held job may next
change, and settles only those due before it counts. Left out: bk-job's hourly sweep of slots
held over an hour (``NotAliveJobDetector``), and the weight of a staggered rolling job.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import TYPE_CHECKING

from ._plan import RunningJobQuota

if TYPE_CHECKING:
    from ..config import Scope
    from ._engine import Engine, Job

__all__ = ["QUOTA_APP", "QUOTA_SCOPE", "QUOTA_SYSTEM", "Slots"]

QUOTA_SCOPE, QUOTA_APP, QUOTA_SYSTEM = 1244032, 1244033, 1244034


class Slots:
    """The jobs that hold a running-job slot, their counts and peaks, and the quota's check."""

    def __init__(self, quota: RunningJobQuota | None = None) -> None:
        self.quota = quota or RunningJobQuota()
        self.held: dict[int, Job] = {}
        self.by_scope: Counter[Scope] = Counter()
        self.by_app: Counter[str] = Counter()
        #: The most jobs held at once since the start, per scope and in all.
        self.peak_by_scope: Counter[Scope] = Counter()
        self.peak = 0
        #: Launches refused for the quota.
        self.refused = 0
        # (when a held job may next change, its id); ``_due`` says which entry is current.
        self._heap: list[tuple[int, int]] = []
        self._due: dict[int, int] = {}

    def refresh(self, engine: Engine, now: int) -> None:
        """Free the slots of the held jobs that ended by ``now`` (settling only those due)."""
        heap, due = self._heap, self._due
        while heap and heap[0][0] <= now:
            at, job_id = heapq.heappop(heap)
            if due.get(job_id) != at:
                continue  # stale: rescheduled since
            del due[job_id]
            job = self.held[job_id]
            engine.settle(job, now)
            self._follow(job, now)

    def refusal(self, scope: Scope, app_code: str) -> int | None:
        """Return bk-job's code refusing a launch of ``app_code`` in ``scope`` now, or ``None``.

        Call ``refresh`` first: the counts are of the jobs held as of then.
        """
        quota = self.quota
        if quota.system is not None and len(self.held) >= quota.system:
            return QUOTA_SYSTEM
        if quota.scope is not None and self.by_scope[scope] >= quota.scope:
            return QUOTA_SCOPE
        if app_code and quota.app is not None and self.by_app[app_code] >= quota.app:
            return QUOTA_APP
        return None

    def touched(self, job: Job, now: int) -> None:
        """Note a job created, started or operated on: it holds a slot while it has not ended."""
        if job.id not in self.held:
            if job.status.is_finished:
                return
            self.held[job.id] = job
            self.by_scope[job.scope] += 1
            if job.app_code:
                self.by_app[job.app_code] += 1
            self.peak_by_scope[job.scope] = max(
                self.peak_by_scope[job.scope], self.by_scope[job.scope]
            )
            self.peak = max(self.peak, len(self.held))
        self._follow(job, now)

    def _follow(self, job: Job, now: int) -> None:
        """Free a held job's slot if it ended, else look at it again at its next event."""
        if job.status.is_finished:
            self._release(job)
            return
        if not job.events:
            return  # waits for a person or an operation: ``touched`` again then
        at = job.events[0][0]
        if self._due.get(job.id, at + 1) > at:
            self._due[job.id] = at
            heapq.heappush(self._heap, (at, job.id))

    def _release(self, job: Job) -> None:
        if self.held.pop(job.id, None) is None:
            return
        self._due.pop(job.id, None)
        self.by_scope[job.scope] -= 1
        if job.app_code:
            self.by_app[job.app_code] -= 1
