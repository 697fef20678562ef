"""The simulator's cron jobs (定时任务): what a scope keeps, as bk-job's crontab service keeps it.

State only, no HTTP: ``CronStore`` holds every cron job by id; ``_api_crons`` serves them.
bk-job keeps a cron's times in epoch seconds and pauses a cron on every save.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..config import Scope

__all__ = ["CronStore", "SimCron"]


@attrs.define
class SimCron:
    """One stored cron job; ``variables`` are ``EsbGlobalVarV3DTO`` rows as resolved."""

    id: int
    scope: Scope
    plan_id: int
    name: str
    expression: str | None
    execute_time: int | None
    zone: str
    variables: list[dict[str, Any]] | None
    creator: str
    create_s: int
    modifier: str
    modify_s: int
    enabled: bool = False


class CronStore:
    """Every cron job by id; ids count from 1000001 as bk-job's table does in its docs."""

    def __init__(self) -> None:
        self.crons: dict[int, SimCron] = {}
        self._next = 1_000_001

    def new_id(self) -> int:
        """Return the next cron job's id."""
        found, self._next = self._next, self._next + 1
        return found

    def of(self, scope: Scope, cron_id: int) -> SimCron | None:
        """Return the scope's cron job ``cron_id``, or ``None``."""
        cron = self.crons.get(cron_id)
        return cron if cron is not None and cron.scope == scope else None

    def in_scope(self, scope: Scope) -> list[SimCron]:
        """Return the scope's cron jobs as bk-job lists them: running first, each group last
        changed first (``CronJobDAOImpl``: ``is_enable`` then ``last_modify_time``, both
        descending); the newest id first among equals."""
        rows = [c for c in self.crons.values() if c.scope == scope]
        return sorted(rows, key=lambda c: (c.enabled, c.modify_s, c.id), reverse=True)

    def named(self, scope: Scope, name: str, but: int | None = None) -> SimCron | None:
        """Return another cron job of the scope with this name (``checkCronJobName``)."""
        return next(
            (c for c in self.crons.values() if c.scope == scope and c.name == name and c.id != but),
            None,
        )
