"""Rule: frozen shapes of what a scope keeps, with no wire knowledge; a password never shows in a repr.

Frozen shapes for what a scope keeps: job plans and their variables, scripts, accounts; and
the values a job's steps left in its variables. No wire knowledge here.

The enums follow bk-job's ``TaskVariableTypeEnum``, ``AccountCategoryEnum``,
``AccountTypeEnum`` and ``JobResourceStatusEnum`` and keep unknown codes like every enum in
``enums``. A variable of the password type is a secret: its value never shows in a ``repr``
(bk-job itself masks it as ``******`` in a plan's detail). Times are timezone-aware
``datetime``; a field the server did not send is ``None``.
"""

from __future__ import annotations

import datetime as _dt

import attrs

from ._masked import masked_repr
from .enums import HostStatus, StepStatus, StepType, _OpenIntEnum
from .instances import Host
from .requests import Account, Targets
from .templates import FileStepDetail, ScriptStepDetail

__all__ = [
    "AccountCategory",
    "AccountPage",
    "AccountType",
    "ExecutionAccount",
    "HostStepLog",
    "JobPlan",
    "JobPlanPage",
    "JobVariables",
    "PlanStep",
    "PlanVariable",
    "Script",
    "ScriptPage",
    "ScriptVersion",
    "ScriptVersionStatus",
    "StepLog",
    "StepVariables",
    "VariableType",
    "VariableValue",
]


class VariableType(_OpenIntEnum):
    """The type of a plan's global variable (``TaskVariableTypeEnum``)."""

    STRING = 1
    NAMESPACE = 2
    HOST_LIST = 3
    PASSWORD = 4
    ASSOCIATIVE_ARRAY = 5
    INDEX_ARRAY = 6

    @property
    def is_secret(self) -> bool:
        """Tell whether values of this type are secrets (the password type)."""
        return self is VariableType.PASSWORD


def _secret_repr(self: VariableValue) -> str:
    """Return the ``repr`` of a variable, its value masked when the variable is a password."""
    return masked_repr(self, "value", self.is_secret)


@attrs.frozen(repr=False)
class PlanVariable:
    """A plan's global variable as the plan defines it: its default ``value``, or for a host
    list its default ``server``. A password's value is masked by bk-job (``******``) and in
    this ``repr``.

    ``type`` is ``None`` when bk-job leaves it out, as a cron's variable may (bk-job's own
    ``get_cron_detail`` example): such a value may be a password's, so its ``repr`` masks
    it too (``is_secret`` stays ``False``: the type is not known).
    """

    name: str
    type: VariableType | None = None
    id: int | None = None
    value: str | None = None
    server: Targets | None = None
    description: str | None = None
    required: bool | None = None
    #: Whether a step of the plan uses it (v3 only).
    used: bool | None = None

    @property
    def is_secret(self) -> bool:
        """Tell whether the variable is a password."""
        return self.type is not None and self.type.is_secret

    def __repr__(self) -> str:
        return masked_repr(self, "value", self.type is None or self.type.is_secret)


@attrs.frozen
class PlanStep:
    """One step of a plan: 1 script, 2 file, 3 manual confirmation (approval), with what it
    runs: ``script`` (its text or script, parameters, account, targets), ``file`` (sources,
    destination) or ``approval_message``, by ``type`` (``StepDetail``'s shapes).

    v3's ``get_job_plan_detail`` lists **every** step of the plan, disabled ones too, and does
    not say which are disabled (``TaskPlanInfoDTO.toEsbPlanInfoV3`` at 588f99bb); ESB v2's
    ``get_job_detail`` lists the enabled steps only. A plan's script step names its account
    by id only (``account.id``) on v3; its text and parameters arrive in base64 and are read
    here as text. A sensitive parameter is not masked by bk-job in a plan's detail: it shows
    in ``script.param`` (and never in a ``repr``).
    """

    id: int
    name: str | None
    type: StepType
    script: ScriptStepDetail | None = None
    file: FileStepDetail | None = None
    approval_message: str | None = None


@attrs.frozen
class JobPlan:
    """A job plan: what ``execute_job_plan`` launches by ``job_plan_id``.

    The plan list reports no steps or variables (``None``); ``get_job_plan_detail`` does.
    """

    job_plan_id: int
    name: str | None = None
    job_template_id: int | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    last_modify_user: str | None = None
    last_modify_time: _dt.datetime | None = None
    steps: tuple[PlanStep, ...] | None = None
    variables: tuple[PlanVariable, ...] | None = None

    def variable(self, name: str) -> PlanVariable | None:
        """Return the variable called ``name``, ``None`` if there is none (or no detail)."""
        return next((v for v in self.variables or () if v.name == name), None)


@attrs.frozen
class JobPlanPage:
    """One page of a scope's plans; ``total`` counts every match (``None`` on ESB v2, whose
    plan list reports no total)."""

    start: int
    length: int
    total: int | None
    items: tuple[JobPlan, ...]


class ScriptVersionStatus(_OpenIntEnum):
    """A script version's state (``JobResourceStatusEnum``)."""

    DRAFT = 0
    ONLINE = 1
    OFFLINE = 2
    DISABLED = 3


@attrs.frozen
class Script:
    """A script of a scope's library (or the public library), as the script list reports it.

    Launch its online version with ``fast_execute_script(script_version_id=...)``. ESB v2
    lists a script by its online version: ``script_id`` is then ``None``, and ``version`` (and
    ``content``, when asked for) are the online version's.
    """

    script_id: str | None
    name: str | None = None
    #: ``ScriptLanguage`` code: 1 shell, 2 bat, 3 perl, 4 python, 5 powershell, 6 SQL.
    script_language: int | None = None
    online_script_version_id: int | None = None
    description: str | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    last_modify_user: str | None = None
    last_modify_time: _dt.datetime | None = None
    version: str | None = None
    content: str | None = None


@attrs.frozen
class ScriptPage:
    """One page of the script list; ``total`` counts every match."""

    start: int
    length: int
    total: int
    items: tuple[Script, ...]


@attrs.frozen
class ScriptVersion:
    """One version of a script, with its text (``content``, as stored: not base64).

    ``content`` is ``None`` where bk-job leaves it out (version lists unless asked for, v2's
    ``get_script_detail``)."""

    script_version_id: int
    script_id: str | None = None
    name: str | None = None
    version: str | None = None
    content: str | None = None
    status: ScriptVersionStatus | None = None
    script_language: int | None = None
    version_desc: str | None = None
    description: str | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    last_modify_user: str | None = None
    last_modify_time: _dt.datetime | None = None


class AccountCategory(_OpenIntEnum):
    """What an account is for (``AccountCategoryEnum``)."""

    SYSTEM = 1
    DB = 2


class AccountType(_OpenIntEnum):
    """An account's platform (``AccountTypeEnum``)."""

    LINUX = 1
    WINDOWS = 2
    MYSQL = 9
    ORACLE = 10
    DB2 = 11


@attrs.frozen
class ExecutionAccount:
    """An execution account of a scope: ``alias`` is the name users pick, ``account`` the
    user name on the host. ``ref`` is what a launch takes."""

    id: int
    account: str | None = None
    alias: str | None = None
    category: AccountCategory | None = None
    type: AccountType | None = None
    os: str | None = None
    description: str | None = None
    db_system_account_id: int | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    last_modify_user: str | None = None
    last_modify_time: _dt.datetime | None = None

    @property
    def ref(self) -> Account:
        """Return this account as a launch names it (by id)."""
        return Account(id=self.id)


@attrs.frozen
class AccountPage:
    """One page of a scope's accounts; ``total`` counts every match (on ESB v2, which does
    not page, the one page holds every system account)."""

    start: int
    length: int
    total: int
    items: tuple[ExecutionAccount, ...]


@attrs.frozen(repr=False)
class VariableValue:
    """The value a variable held when a step ended (a password's is masked in ``repr``)."""

    name: str
    value: str | None
    type: VariableType | None = None

    @property
    def is_secret(self) -> bool:
        """Tell whether the variable is a password."""
        return self.type is not None and self.type.is_secret

    __repr__ = _secret_repr


@attrs.frozen
class StepVariables:
    """The variables as one step of a job left them."""

    step_instance_id: int
    variables: tuple[VariableValue, ...] = ()


@attrs.frozen
class JobVariables:
    """The values of a job's global variables after each of its steps.

    bk-job reports the string variables only (other types are left out by the server).
    ``values()`` reads the value each variable had at the end of the last step that set it.
    """

    job_instance_id: int
    steps: tuple[StepVariables, ...] = ()

    def values(self) -> dict[str, str | None]:
        """Return each variable's latest value by name (later steps win)."""
        found: dict[str, str | None] = {}
        for step in self.steps:
            found.update((v.name, v.value) for v in step.variables)
        return found


@attrs.frozen
class HostStepLog:
    """One host in a step of ESB v2's ``get_job_instance_log``: its status and its log."""

    host: Host
    status: HostStatus
    tag: str | None = None
    execute_count: int | None = None
    exit_code: int | None = None
    #: The GSE code (0 finished, 115 running, 126 terminated), not a host status.
    error_code: int | None = None
    start_time: _dt.datetime | None = None
    end_time: _dt.datetime | None = None
    total_time: _dt.timedelta | None = None
    log_content: str | None = None


@attrs.frozen
class StepLog:
    """One step of a job with each host's log (ESB v2's ``get_job_instance_log``)."""

    step_instance_id: int
    status: StepStatus
    finished: bool
    name: str | None = None
    hosts: tuple[HostStepLog, ...] = ()
