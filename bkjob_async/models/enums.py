"""Every bk-job code as an IntEnum; an unknown code parses to a pseudo-member that keeps its value.

The tables follow bk-job's Java enums (``RunStatusEnum``, ``ExecuteObjectTaskStatusEnum``,
``StepExecuteTypeEnum``, ``StepOperationEnum``, ``TaskOperationEnum``); see ``spec/bkjob-api.md`` §3.
Nothing here knows about the wire: parsing lives in ``bkjob_async._converter``.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from .._checks import is_int

__all__ = [
    "FINISHED_JOB_STATUSES",
    "HostStatus",
    "JobOperation",
    "JobStatus",
    "LaunchMode",
    "ScriptLanguage",
    "StepOperation",
    "StepStatus",
    "StepType",
    "TaskType",
]


_E = TypeVar("_E", bound="_OpenIntEnum")


class _OpenIntEnum(enum.IntEnum):
    """An IntEnum that accepts codes it does not know: ``int(member) == code`` always holds."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return cls(int(value))
        if not is_int(value):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member

    @classmethod
    def of(cls: type[_E], code: int) -> _E:
        """Return ``cls(code)``; a known code by one dict lookup (``cls(code)`` makes two
        Python-level calls, and the tracker and the converter do this for every change)."""
        member = cls._value2member_map_.get(code)
        return cls(code) if member is None else member  # type: ignore[return-value]

    @property
    def is_known(self) -> bool:
        """Tell whether this code is one the spec lists."""
        return self._name_ in type(self).__members__


class JobStatus(_OpenIntEnum):
    """Job and step run status (``RunStatusEnum``); 12 does not exist in Job 3.x."""

    BLANK = 1
    RUNNING = 2
    SUCCESS = 3
    FAIL = 4
    SKIPPED = 5
    IGNORE_ERROR = 6
    WAITING_USER = 7
    TERMINATED = 8
    ABNORMAL_STATE = 9
    STOPPING = 10
    STOP_SUCCESS = 11
    CONFIRM_TERMINATED = 13
    ABANDONED = 14
    ROLLING_WAITING = 15

    @property
    def is_finished(self) -> bool:
        """Tell whether bk-job reports ``finished`` for this status (unknown codes: no)."""
        return self in FINISHED_JOB_STATUSES

    @property
    def is_success(self) -> bool:
        """Tell whether this status counts as a successful end (3 success, 5 skipped, 6 ignored)."""
        return self in _SUCCESSFUL_RUN_STATUSES


# Job and step statuses are one Java enum (RunStatusEnum); the two names read better at call sites.
StepStatus = JobStatus

#: The job statuses bk-job treats as final (its own set; ``JobStatus.is_finished`` reads it).
FINISHED_JOB_STATUSES: frozenset[JobStatus] = frozenset(
    {
        JobStatus.SUCCESS,
        JobStatus.FAIL,
        JobStatus.SKIPPED,
        JobStatus.IGNORE_ERROR,
        JobStatus.TERMINATED,
        JobStatus.ABNORMAL_STATE,
        JobStatus.STOP_SUCCESS,
        JobStatus.CONFIRM_TERMINATED,
        JobStatus.ABANDONED,
    }
)
_SUCCESSFUL_RUN_STATUSES = frozenset({JobStatus.SUCCESS, JobStatus.SKIPPED, JobStatus.IGNORE_ERROR})


class HostStatus(_OpenIntEnum):
    """Status of one host (execute object) in one step round (``ExecuteObjectTaskStatusEnum``)."""

    UNKNOWN_ERROR = 0
    AGENT_ERROR = 1
    HOST_NOT_EXIST = 2
    LAST_SUCCESS = 3
    WAITING = 5
    RUNNING = 7
    SUCCESS = 9
    FAILED = 11
    SUBMIT_FAILED = 12
    TASK_TIMEOUT = 13
    LOG_ERROR = 15
    GSE_SCRIPT_TIMEOUT = 16
    GSE_FILE_TIMEOUT = 17
    AGENT_NOT_INSTALLED = 18
    SCRIPT_FAILED = 101
    SCRIPT_TIMEOUT = 102
    SCRIPT_TERMINATED = 103
    SCRIPT_NOT_ZERO_EXIT_CODE = 104
    COPYFILE_FAILED = 202
    COPYFILE_SOURCE_FILE_NOT_EXIST = 203
    FILE_ERROR_UNCLASSIFIED = 301
    GSE_TIMEOUT = 303
    GSE_AGENT_ERROR = 310
    GSE_USER_ERROR = 311
    GSE_USER_PWD_ERROR = 312
    GSE_FILE_ERROR = 320
    GSE_FILE_SIZE_EXCEED = 321
    GSE_FILE_TASK_ERROR = 329
    GSE_TASK_ERROR = 399
    GSE_TASK_TERMINATE_SUCCESS = 403
    GSE_TASK_TERMINATE_FAILED = 404
    UNKNOWN = 500

    @property
    def is_finished(self) -> bool:
        """Tell whether the host is done: every status but waiting (5) and running (7)."""
        return self not in _PENDING_HOST_STATUSES

    @property
    def is_success(self) -> bool:
        """Tell whether the host succeeded: 9, or 3 (succeeded in an earlier round)."""
        return self in _SUCCESSFUL_HOST_STATUSES


_PENDING_HOST_STATUSES = frozenset({HostStatus.WAITING, HostStatus.RUNNING})
_SUCCESSFUL_HOST_STATUSES = frozenset({HostStatus.SUCCESS, HostStatus.LAST_SUCCESS})


class StepType(_OpenIntEnum):
    """Step execute type (``StepExecuteTypeEnum``)."""

    SCRIPT = 1
    FILE = 2
    MANUAL_CONFIRM = 3
    SQL = 4


class TaskType(_OpenIntEnum):
    """Job instance type as the history list reports it (``TaskTypeEnum``)."""

    PLAN = 0
    FAST_SCRIPT = 1
    FAST_FILE = 2


class LaunchMode(_OpenIntEnum):
    """How a job was started (``TaskStartupModeEnum``; v2 ``start_way``)."""

    WEB = 1
    API = 2
    CRON = 3


class ScriptLanguage(enum.IntEnum):
    """A script's language (``ScriptTypeEnum``): ``script_language``, v2 ``script_type``.

    ``SQL`` is for the script library and ``check_script``; ``fast_execute_script`` runs 1-5.
    """

    SHELL = 1
    BAT = 2
    PERL = 3
    PYTHON = 4
    POWERSHELL = 5
    SQL = 6


class StepOperation(enum.IntEnum):
    """``operation_code`` of ``operate_step_instance`` that Job 3.x accepts (``StepOperationEnum``)."""

    RETRY_FAILED = 2
    IGNORE_ERROR = 3
    CONFIRM_CONTINUE = 6
    RETRY_ALL = 8
    CONFIRM_TERMINATE = 9
    CONFIRM_RESTART = 10
    NEXT_STEP = 11
    SKIP = 12
    ROLLING_CONTINUE = 13


class JobOperation(enum.IntEnum):
    """``operation_code`` of ``operate_job_instance`` (``TaskOperationEnum``)."""

    TERMINATE = 1
    START = 2
