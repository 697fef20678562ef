"""bk-job's error codes and localized texts, as its i18n bundles spell them; data only.

The language is Chinese unless the request's ``Blueking-Language`` header starts with ``en``
(bk-job's ``JobLangHeaderLocaleResolver``; the bundles' default is Chinese).
"""

from __future__ import annotations

from ..models.enums import HostStatus

__all__ = [
    "ACCOUNT_ALIAS_EXIST",
    "ACCOUNT_NOT_EXIST",
    "BAD_REQUEST",
    "CREDENTIAL_NAME_EXIST",
    "CREDENTIAL_NOT_EXIST",
    "CRON_JOB_ALREADY_EXIST",
    "CRON_JOB_NOT_EXIST",
    "CRON_JOB_TIME_PASSED",
    "DANGEROUS_RULE_EXIST",
    "DANGEROUS_SCRIPT_FORBIDDEN",
    "DB_SYSTEM_ACCOUNT_IS_INVALID",
    "DELETE_REF_ACCOUNT_FORBIDDEN",
    "FAIL_TO_FIND_FILE_SOURCE_BY_CODE",
    "FILE_SOURCE_CODE_ALREADY_EXISTS",
    "HOST_EMPTY",
    "ILLEGAL_PARAM",
    "ILLEGAL_PARAM_NAMED",
    "ILLEGAL_PARAM_REASON",
    "INTERNAL_ERROR",
    "MISSING_OR_ILLEGAL_NAMED",
    "MISSING_PARAM_NAMED",
    "NOT_A_CONFIRMER",
    "PLAN_NAME_EXIST",
    "PLAN_NOT_EXIST",
    "REPEAT_START",
    "SCRIPT_NAME_DUPLICATE",
    "SCRIPT_NOT_EXECUTABLE",
    "SCRIPT_NOT_EXIST",
    "SCRIPT_NOT_IN_APP",
    "SCRIPT_VERSION_NAME_EXIST",
    "STEP_NOT_EXIST",
    "TASK_NOT_EXIST",
    "TASK_PLAN_NOT_EXIST",
    "TEMPLATE_NOT_EXIST",
    "UNSUPPORTED_OPERATION",
    "VALIDATION",
    "host_status_text",
    "localized",
    "message",
]

#: bk-job's ``ErrorCode`` names of the codes the simulator refuses with, named here once (their
#: texts are ``_MESSAGES``'s, below).
INTERNAL_ERROR = 1240002
BAD_REQUEST = 1240003
ILLEGAL_PARAM = 1241002
UNSUPPORTED_OPERATION = 1241003
MISSING_PARAM_NAMED = 1241004
ILLEGAL_PARAM_NAMED = 1241005
MISSING_OR_ILLEGAL_NAMED = 1241007
ILLEGAL_PARAM_REASON = 1241010
REPEAT_START = 1241015
SCRIPT_NOT_EXIST = 1243001
SCRIPT_NAME_DUPLICATE = 1243002
SCRIPT_NOT_IN_APP = 1243004
ACCOUNT_ALIAS_EXIST = 1243007
DB_SYSTEM_ACCOUNT_IS_INVALID = 1243008
TASK_PLAN_NOT_EXIST = 1243009
DELETE_REF_ACCOUNT_FORBIDDEN = 1243014
TEMPLATE_NOT_EXIST = 1243026
SCRIPT_VERSION_NAME_EXIST = 1243036
PLAN_NAME_EXIST = 1243042
CREDENTIAL_NOT_EXIST = 1243048
DANGEROUS_RULE_EXIST = 1243056
CREDENTIAL_NAME_EXIST = 1243060
HOST_EMPTY = 1244001
ACCOUNT_NOT_EXIST = 1244003
TASK_NOT_EXIST = 1244006
STEP_NOT_EXIST = 1244007
PLAN_NOT_EXIST = 1244012
NOT_A_CONFIRMER = 1244016
SCRIPT_NOT_EXECUTABLE = 1244018
DANGEROUS_SCRIPT_FORBIDDEN = 1244019
CRON_JOB_NOT_EXIST = 1245001
CRON_JOB_ALREADY_EXIST = 1245004
CRON_JOB_TIME_PASSED = 1245006
FAIL_TO_FIND_FILE_SOURCE_BY_CODE = 1260012
FILE_SOURCE_CODE_ALREADY_EXISTS = 1260015

_MESSAGES: dict[int, tuple[str, str]] = {
    1240001: ("服务不可用", "Service Unavailable"),
    1240002: ("内部服务器异常", "Internal Server Error"),
    1240003: ("错误的请求", "Bad Request"),
    1241001: ("请求参数缺失", "Missing request parameters"),
    1241002: ("请求参数不合法", "Invalid request parameters"),
    1241003: ("不支持的操作", "Unsupported operation"),
    1241004: ("请求参数[{0}]缺失", "Missing request parameter [{0}]"),
    1241005: ("请求参数[{0}]不合法", "Invalid request parameter [{0}]"),
    1241007: ("请求参数[{0}]缺失或不合法", "Missing or invalid request parameter [{0}]"),
    1241010: ("请求参数[{0}]不合法，原因：{1}", "Invalid request parameter [{0}], reason: {1}"),
    1241012: ("请求参数不合法，原因：{0}", "Invalid request parameter, reason: {0}"),
    1241015: (
        "不支持的操作，请勿重复启动作业,job_instance_id={0}",
        "Unsupported operation,do not repeat start the job,job_instance_id={0}",
    ),
    1243001: ("脚本不存在", "Script not exist"),
    1243002: ("脚本名称已存在，请重新输入", "Script name already exists"),
    1243004: ("脚本不属于该业务", "Script is not under this business"),
    1243007: ("账号别名已存在", "The account alias already exists"),
    1243008: ("DB依赖的系统账号不合法", "DB dependency system account is illegal"),
    1243009: ("执行方案不存在", "Job plan does not exist"),
    1243014: ("账号被引用，禁止删除", "Account is referenced and cannot be deleted"),
    1243036: ("脚本版本已存在", "Script version already exist"),
    1243048: ("凭证不存在", "Credential not exist"),
    1243051: ("资源范围不存在：{0}", "Scope not exist: {0}"),
    1243056: ("高危语句规则[{0}]已存在", "Dangerous rule [{0}] already exist"),
    1243060: ("凭证名称[{0}]已存在", "Credential name [{0}] already exists"),
    1244001: ("主机为空", "Host is empty"),
    1244003: ("账号[{0}]不存在", "Account [{0}] does not exist"),
    1244006: ("作业实例不存在", "Task instance does not exist"),
    1244007: ("作业步骤实例不存在", "Task step instance does not exist"),
    1244012: ("执行方案不存在", "Job plan does not exist"),
    1244016: ("只有步骤的确认人可以操作", "Only the confirmer of the step can operate"),
    1244018: ("脚本状态[{0}]，不支持执行", "Script status [{0}], cannot be executed"),
    1244019: ("高危脚本，禁止执行", "Dangerous script, cannot be executed"),
    1244027: ("滚动批次不能大于{0}", "Rolling batch can not be greater than {0}"),
    1244032: (
        "当前执行的作业总量超过业务配额限制",
        "The total number of jobs currently executed exceeds the resource scope quota limit",
    ),
    1244033: (
        "当前执行的作业总量超过应用配额限制",
        "The total number of jobs currently executed exceeds the bk app quota limit",
    ),
    1244034: (
        "当前执行的作业总量超过系统配额限制",
        "The total number of jobs currently executed exceeds the system quota limit",
    ),
    1244035: (
        "按源文件滚动策略仅支持服务器文件",
        "The file source rolling policy only support server file",
    ),
    1245001: ("定时任务不存在", "Cron job does not exist"),
    1245004: ("定时任务[{0}]已存在", "Cron job [{0}] already existed"),
    1245006: ("定时任务执行时间已失效", "Cron job execution time already passed"),
    1244020: (
        "作业执行历史查询时间范围必须小于30天",
        "The job execution history query time range must be less than 30 days",
    ),
    1260012: ("无法根据标识{0}找到文件源", "Cannot find file source by code:{0}"),
    1260015: ("文件源标识已存在：{0}", "FileSource code already exists:{0}"),
}

#: A failed bean validation's texts, by the key of ``ValidationMessages*.properties`` (the
#: answer is 1240003 with the text, as ``EsbExceptionControllerAdvice`` answers).
VALIDATION: dict[str, tuple[str, str]] = {
    "ScriptName_empty": ("脚本名称不能为空", "Script name cannot be empty"),
    "ScriptName_outOfLength": (
        "脚本名称不能超过60个字符",
        "Script name can not exceed  60 characters",
    ),
    "ScriptName_illegal": ("脚本名称非法", "Illegal Script name"),
    "ScriptType_empty": ("脚本类型不能为空", "script type cannot be empty"),
    "ScriptType_illegal": ("脚本类型非法", "Illegal script type"),
    "ScriptContent_empty": ("脚本内容不能为空", "Script content cannot be empty"),
    "ScriptVersion_empty": ("脚本版本不能为空", "Script version cannot be empty"),
    "ScriptVersion_outOfLength": (
        "脚本版本不能超过60个字符",
        "Script version name can not exceed  60 characters",
    ),
    "ScriptVersion_illegal": ("脚本版本非法", "Illegal script version"),
    "ScriptVersionId_empty": ("脚本版本ID不能为空", "Script version id cannot be empty"),
    "ScriptId_empty": ("脚本ID不能为空", "Script id cannot be empty"),
    "Id_empty": ("高危语句规则ID不能为空", "High-risk statement rule id can not be empty"),
    "Regex_empty": ("语法检测表达式不能为空", "High-risk statement regex can not be empty"),
    "Regex_outOfLength": (
        "语法检测表达式不能超过250个字符",
        "High-risk statement regex can not exceed 250 characters",
    ),
    "Regex_wrongExpr": ("语法检测表达式错误", "Wrong High-risk statement regex"),
    "ScriptTypeList_empty": ("脚本类型不能为空", "Script type cannot be empty"),
    "Description_outOfLength": (
        "规则说明不能超过1000个字符",
        "High-risk explanation description can not exceed  1000 characters",
    ),
    "Action": ("非法的处理动作", "Invalid handle action"),
}


def localized(texts: tuple[str, str], english: bool, *args: object) -> str:
    """Return the English or the Chinese of ``texts`` (zh, en) with ``{0}``-style arguments
    filled in."""
    zh, en = texts
    text = en if english else zh
    for index, arg in enumerate(args):
        text = text.replace(f"{{{index}}}", str(arg))
    return text


def message(code: int, english: bool, *args: object) -> str:
    """Return bk-job's message for ``code`` with ``{0}``-style arguments filled in."""
    return localized(_MESSAGES.get(code, (str(code), str(code))), english, *args)


def host_status_text(status: int, english: bool) -> str:
    """Return the localized name of a host status, from the models' texts; unknown codes read
    as 0 (bk-job ``valOf``)."""
    known = HostStatus.of(status)
    if not known.is_known:
        known = HostStatus.UNKNOWN_ERROR
    return known.text_en if english else known.text_zh
