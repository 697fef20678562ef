"""Frozen shapes for host logs and the job history list; no wire knowledge here.

The enums follow bk-job's ``LogTypeEnum``, ``FileDistModeEnum`` and ``FileDistStatusEnum``
(spec §2.6) and keep unknown codes like every enum in ``enums``. A field the server did not send
is ``None``; times are timezone-aware ``datetime``, durations ``timedelta``.
"""

from __future__ import annotations

import datetime as _dt
from typing import NamedTuple

import attrs

from .enums import JobStatus, LaunchMode, TaskType, _OpenIntEnum
from .instances import Host

__all__ = [
    "MAX_LOG_BYTES",
    "FileLog",
    "FileLogMode",
    "FileTaskStatus",
    "HostLog",
    "JobInstancePage",
    "JobInstanceSummary",
    "JobStatusPage",
    "JobStatusRow",
    "LogType",
]

#: The most a host's script log holds: GSE keeps the first 5 MB of a script's output on a host
#: and bk-job stores what GSE hands it (``MAX_GSE_ATOMIC_TASK_CONTENT_BYTES`` in bk-job's
#: ``ScriptResultHandleTask``). What the script prints past it is never returned.
MAX_LOG_BYTES = 5 * 1024 * 1024


class LogType(_OpenIntEnum):
    """What a host's log holds: script output, or file transfer rows."""

    SCRIPT = 1
    FILE = 2


class FileLogMode(_OpenIntEnum):
    """Which side of a transfer a file log row describes (``FileDistModeEnum``)."""

    UPLOAD = 0
    DOWNLOAD = 1


class FileTaskStatus(_OpenIntEnum):
    """Status of one file transfer (``FileDistStatusEnum``); 0 is a third-party file source."""

    PULLING = 0
    WAITING = 1
    UPLOADING = 2
    DOWNLOADING = 3
    SUCCESS = 4
    FAILED = 5

    @property
    def is_finished(self) -> bool:
        """Tell whether the transfer is over (4 success or 5 failed)."""
        return self in (FileTaskStatus.SUCCESS, FileTaskStatus.FAILED)


@attrs.frozen
class FileLog:
    """One file transfer as a host's log reports it; sizes and speeds are the server's text."""

    mode: FileLogMode
    status: FileTaskStatus
    src_host: Host | None = None
    src_path: str | None = None
    #: Upload rows have no destination.
    dest_host: Host | None = None
    dest_path: str | None = None
    log_content: str | None = None
    size: str | None = None
    speed: str | None = None
    process: str | None = None


@attrs.frozen
class HostLog:
    """One host's log in a step's current round: script text, or file transfer rows.

    ``log_type`` is ``None`` when the step is neither a script nor a file step (bk-job then
    sets no type and no content).
    """

    host: Host
    log_type: LogType | None
    log_content: str | None = None
    file_logs: tuple[FileLog, ...] | None = None

    @property
    def truncated(self) -> bool:
        """Whether the script log reached bk-job's cap (``MAX_LOG_BYTES``): text past it is lost.

        bk-job sends no flag: a log this long (less a cut character's bytes) was cut.
        """
        text = self.log_content
        if text is None or len(text) * 4 < MAX_LOG_BYTES - 3:  # (4 bytes a character at most)
            return False
        return len(text.encode("utf-8", "surrogatepass")) >= MAX_LOG_BYTES - 3


@attrs.frozen
class JobInstanceSummary:
    """One job instance as the history list reports it."""

    job_instance_id: int
    status: JobStatus
    name: str | None = None
    operator: str | None = None
    launch_mode: LaunchMode | None = None
    type: TaskType | None = None
    #: The plan this job ran (0 or ``None`` for fast scripts and transfers).
    job_plan_id: int | None = None
    job_template_id: int | None = None
    create_time: _dt.datetime | None = None
    start_time: _dt.datetime | None = None
    end_time: _dt.datetime | None = None
    total_time: _dt.timedelta | None = None


@attrs.frozen
class JobInstancePage:
    """One page of the history list; ``total`` counts every match, not just this page
    (``None`` on the gateway v4, which does not count: a short page is the last)."""

    start: int
    length: int
    total: int | None
    items: tuple[JobInstanceSummary, ...]


class JobStatusRow(NamedTuple):
    """One job of the history list read for its status alone (a census of many jobs)."""

    job_instance_id: int
    #: The job's status code as sent (``JobStatus(status)`` reads it).
    status: int
    create_time: _dt.datetime | None


@attrs.frozen
class JobStatusPage:
    """A page of the history list read for each job's status alone: a seventh of the work of a
    ``JobInstancePage``, whose rows structure every field (``total`` as there)."""

    start: int
    total: int
    rows: tuple[JobStatusRow, ...]
