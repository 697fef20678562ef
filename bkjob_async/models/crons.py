"""Rule: frozen shapes of bk-job's cron jobs (定时任务), with no wire knowledge.

Frozen shapes of bk-job's cron jobs (定时任务): a plan launched on a schedule. No wire
knowledge here.

bk-job answers a cron's state as 1 (running) and 2 (paused) when it saves one, but as 0 for
paused in its lists and details (``CronJobInfoDTO.toEsbCronInfoV3``): both read as
``CronStatus.PAUSED``. Times are timezone-aware ``datetime``; a field the server did not send
is ``None``.
"""

from __future__ import annotations

import datetime as _dt

import attrs

from .catalog import PlanVariable
from .enums import _OpenIntEnum

__all__ = ["CronJob", "CronPage", "CronStatus"]


class CronStatus(_OpenIntEnum):
    """A cron job's state: running (its schedule launches its plan) or paused."""

    RUNNING = 1
    PAUSED = 2

    @property
    def is_running(self) -> bool:
        """Tell whether the schedule launches the plan."""
        return self is CronStatus.RUNNING


@attrs.frozen
class CronJob:
    """A cron job: a plan (``job_plan_id``) launched on a Unix cron ``expression`` (minute hour
    day month weekday), or once at ``execute_time``, with its own variable values.

    A saved cron job is paused: bk-job pauses it on every save; ``update_cron_status`` starts
    it. ``global_vars`` are in the detail only (``None`` in a list).
    """

    id: int
    name: str | None
    job_plan_id: int | None
    status: CronStatus
    expression: str | None = None
    #: The zone its expression is read in (``Asia/Shanghai``; v3 only).
    execute_time_zone: str | None = None
    global_vars: tuple[PlanVariable, ...] | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    last_modify_user: str | None = None
    last_modify_time: _dt.datetime | None = None

    @property
    def is_running(self) -> bool:
        """Tell whether the schedule launches the plan."""
        return self.status.is_running


@attrs.frozen
class CronPage:
    """One page of a scope's cron jobs; ``total`` counts every match (``None`` on ESB v2, whose
    list reports no total)."""

    start: int
    length: int
    total: int | None
    items: tuple[CronJob, ...]
