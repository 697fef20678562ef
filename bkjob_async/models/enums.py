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
    "BK_SOPS_SUCCESS",
    "DBM_SUCCESS",
    "DEFAULT_SUCCESS",
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

    @property
    def text_en(self) -> str:
        """Return bk-job's English text for this status (its i18n ``message_en.properties``)."""
        return _text(self, 1, "Unknown")

    @property
    def text_zh(self) -> str:
        """Return bk-job's Chinese text for this status (its ``message_zh_CN.properties``)."""
        return _text(self, 0, "未知")


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

#: The job statuses this library counts as success (``JobStatus.is_success``): 3 success,
#: 5 skipped, 6 error ignored. Pass another set as ``success=`` to count as an app does.
DEFAULT_SUCCESS: frozenset[JobStatus] = _SUCCESSFUL_RUN_STATUSES
#: bk-sops' success (``JOB_SUCCESS = {3}`` in its ``job/base.py``): only 3.
BK_SOPS_SUCCESS: frozenset[JobStatus] = frozenset({JobStatus.SUCCESS})
#: blueking-dbm's success (``SUCCESS_LIST`` in ``backend/flow/consts.py``): 3, 5, 6, 8
#: terminated by hand, 11 force-terminated.
DBM_SUCCESS: frozenset[JobStatus] = frozenset(
    {
        JobStatus.SUCCESS,
        JobStatus.SKIPPED,
        JobStatus.IGNORE_ERROR,
        JobStatus.TERMINATED,
        JobStatus.STOP_SUCCESS,
    }
)


def check_success(value: object, name: str = "success") -> frozenset[JobStatus]:
    """Return ``value``, a set of final job statuses (``JobStatus`` or their codes), as a
    frozenset; raise ``TypeError``/``ValueError`` naming ``name`` and what it accepts."""
    accepted = "a set of final job statuses (JobStatus members or their int codes)"
    if isinstance(value, (str, bytes)) or not isinstance(value, (set, frozenset, list, tuple)):
        raise TypeError(f"{name} must be {accepted}, not {type(value).__name__}")
    statuses = set()
    for code in value:
        if not is_int(code):
            raise TypeError(f"{name} must be {accepted}; {code!r} is not a status")
        status = JobStatus.of(code)
        if not status.is_finished:
            raise ValueError(f"{name} must be {accepted}; {status!r} is not a final status")
        statuses.add(status)
    if not statuses:
        raise ValueError(f"{name} must be {accepted}, not empty")
    return frozenset(statuses)


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

    @property
    def text_en(self) -> str:
        """Return bk-job's English text for this status (its i18n ``message_en.properties``)."""
        return _text(self, 1, "Unknown")

    @property
    def text_zh(self) -> str:
        """Return bk-job's Chinese text for this status (its ``message_zh_CN.properties``)."""
        return _text(self, 0, "未知")


_PENDING_HOST_STATUSES = frozenset({HostStatus.WAITING, HostStatus.RUNNING})
_SUCCESSFUL_HOST_STATUSES = frozenset({HostStatus.SUCCESS, HostStatus.LAST_SUCCESS})


def _text(status: _OpenIntEnum, language: int, unknown: str) -> str:
    texts = _TEXTS.get(type(status), {}).get(status._value_)
    return texts[language] if texts is not None else f"{unknown} ({status._value_})"


# bk-job's texts (``task.run.status.*`` and ``agent.task.status.*`` in job-execute's
# ``i18n/message_zh_CN.properties`` and ``message_en.properties``, 588f99bb), by code.
_TEXTS: dict[type, dict[int, tuple[str, str]]] = {
    JobStatus: {
        1: ("等待执行", "Pending"),
        2: ("正在执行", "Running"),
        3: ("执行成功", "Success"),
        4: ("执行失败", "Failed"),
        5: ("跳过", "Skipped"),
        6: ("忽略错误", "Ignore Error"),
        7: ("等待确认", "Waiting"),
        8: ("手动结束", "Terminated"),
        9: ("状态异常", "Abnormal"),
        10: ("强制终止中", "Terminating"),
        11: ("强制终止成功", "Terminate Success"),
        13: ("确认终止", "Termination Confirmed"),
        14: ("被丢弃", "Abandoned"),
        15: ("滚动等待", "Rolling Waiting"),
    },
    HostStatus: {
        0: ("未知错误", "Unknown Error"),
        1: ("Agent 异常", "Abnormal Agent"),
        2: ("无效执行对象", "Invalid Execute Object"),
        3: ("上次已成功", "Successful Last Time"),
        5: ("等待执行", "Waiting"),
        7: ("正在执行", "Running"),
        9: ("执行成功", "Success"),
        11: ("任务失败", "Failed"),
        12: ("任务下发失败", "Task send failed"),
        13: ("任务超时", "Task Timeout"),
        15: ("任务日志错误", "Error in Log"),
        16: ("脚本日志超时", "Script Log Timeout"),
        17: ("文件日志超时", "File Log Timeout"),
        18: ("Agent 未安装", "Agent not installed"),
        101: ("脚本执行失败", "Script Execution Failed"),
        102: ("脚本执行超时", "Script Execution Timeout"),
        103: ("脚本执行被终止", "Script Execution Terminated"),
        104: ("脚本返回码非零", "Non-zero Exit Code"),
        202: ("文件传输失败", "File Transmission Failed"),
        203: ("源文件不存在", "Source File Not Exists"),
        301: ("文件任务未分类错误", "Unclassified File Failure"),
        303: ("执行任务超时", "File Transmission Timeout"),
        310: ("Agent 异常", "Abnormal Agent"),
        311: ("用户名不存在", "User not exist"),
        312: ("用户密码不正确", "User password incorrect"),
        320: ("文件获取失败", "File pull failed"),
        321: ("文件超出限制", "File size exceeds limit"),
        329: ("文件传输错误", "File Transmission Error"),
        399: ("任务执行出错", "Execution Error"),
        403: ("任务强制终止成功", "Force Terminated"),
        404: ("任务强制终止失败", "Force Terminate Failed"),
        500: ("未知", "Unknown"),
    },
}


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
