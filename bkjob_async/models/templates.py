"""Frozen shapes for job templates and for what one step of a job was told to do; no wire here.

A job template owns plans (``JobPlan.job_template_id``); ``get_job_template_list`` pages them.
``StepDetail`` is ``get_step_instance_detail``'s answer (``EsbStepV3DTO``): a script step's
script, account and targets, a file step's sources and destination, or an approval's message.
A sensitive script parameter comes back masked by bk-job (``******``) and is masked in ``repr``
too. Times are timezone-aware ``datetime``; a field the server did not send is ``None``.
"""

from __future__ import annotations

import datetime as _dt

import attrs

from ..config import Scope
from ._masked import masked_repr
from .enums import StepType, _OpenIntEnum
from .requests import Targets

__all__ = [
    "AccountRef",
    "CreatedJobPlan",
    "FileDestination",
    "FileStepDetail",
    "JobTemplate",
    "JobTemplateDetail",
    "JobTemplatePage",
    "ScriptSource",
    "ScriptStepDetail",
    "StepDetail",
    "StepFileSource",
    "TemplateApproval",
    "TemplateStep",
    "TemplateVariable",
    "TransferMode",
]


@attrs.frozen
class JobTemplate:
    """A job template of a scope (``EsbTemplateBasicInfoV3DTO``).

    ``description`` is always ``None`` in ``get_job_template_list``: the DTO has the field and
    bk-job never sets it (``EsbTemplateV3ResourceImpl.convertToEsbTemplateBasicInfo`` at
    588f99bb). v4's ``get_job_template_detail`` (``JobTemplateDetail``) sends it (``""`` for
    none).
    """

    id: int
    name: str | None = None
    description: str | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    last_modify_user: str | None = None
    last_modify_time: _dt.datetime | None = None


@attrs.frozen
class JobTemplatePage:
    """One page of a scope's templates, last changed first; ``total`` counts every match."""

    start: int
    length: int
    total: int
    items: tuple[JobTemplate, ...]


class ScriptSource(_OpenIntEnum):
    """Where a script step's script comes from (``script_info.script_type``)."""

    LOCAL = 1
    SCOPE = 2
    PUBLIC = 3


class TransferMode(_OpenIntEnum):
    """How a file step handles an existing or missing destination (``FileTransferModeEnum``)."""

    STRICT = 1
    FORCE = 2
    SAFE = 3


@attrs.frozen
class AccountRef:
    """The account a step ran as (``EsbAccountV3BasicDTO``)."""

    id: int | None = None
    name: str | None = None
    alias: str | None = None


def _param_repr(self: ScriptStepDetail) -> str:
    return masked_repr(self, "param", self.param_sensitive)


@attrs.frozen(repr=False)
class ScriptStepDetail:
    """A script step: its script (by id, version or text), parameters, account and targets."""

    source: ScriptSource | None = None
    script_id: str | None = None
    script_version_id: int | None = None
    content: str | None = None
    #: ``ScriptLanguage`` code (6 is SQL).
    language: int | None = None
    param: str | None = None
    #: Seconds.
    timeout: int | None = None
    account: AccountRef | None = None
    targets: Targets | None = None
    param_sensitive: bool = False
    ignore_error: bool = False
    windows_interpreter: str | None = None
    #: The host variable a template's step targets (v4 ``execute_target.variable``).
    target_variable: str | None = None

    __repr__ = _param_repr


@attrs.frozen
class StepFileSource:
    """One source of a file step: ``file_type`` 1 files on hosts, 2 local (uploaded) files,
    3 files of a file source (``file_source_id``)."""

    file_type: int
    files: tuple[str, ...] = ()
    targets: Targets | None = None
    account: AccountRef | None = None
    file_source_id: int | None = None
    file_source_code: str | None = None
    #: The host variable a template's source reads from (v4 ``execute_target.variable``).
    target_variable: str | None = None


@attrs.frozen
class FileDestination:
    """Where a file step writes: a path on its target hosts, as an account."""

    path: str | None = None
    account: AccountRef | None = None
    targets: Targets | None = None
    #: The host variable a template's destination is (v4 ``execute_target.variable``).
    target_variable: str | None = None


@attrs.frozen
class FileStepDetail:
    """A file step: sources, destination, timeout (seconds) and speed limits (MB/s)."""

    sources: tuple[StepFileSource, ...] = ()
    destination: FileDestination | None = None
    timeout: int | None = None
    upload_speed_limit: int | None = None
    download_speed_limit: int | None = None
    transfer_mode: TransferMode | None = None
    ignore_error: bool = False


@attrs.frozen
class StepDetail:
    """One step of a job as it was launched (``get_step_instance_detail``); exactly one of
    ``script``, ``file`` and ``approval_message`` is set, by ``type``."""

    id: int
    type: StepType
    name: str | None = None
    script: ScriptStepDetail | None = None
    file: FileStepDetail | None = None
    approval_message: str | None = None


@attrs.frozen
class TemplateVariable:
    """A template's global variable as v4 reports it (``V4JobTemplateGlobalVarDTO``): ``type``
    1 string, 2 namespace, 3 host list, 4 password, 5 associative and 6 index arrays."""

    name: str
    type: int | None = None
    description: str | None = None
    required: bool = False
    value: str | None = None
    #: A host variable's hosts (``execute_target``); ``target_variable`` another it names.
    targets: Targets | None = None
    target_variable: str | None = None


@attrs.frozen
class TemplateApproval:
    """A template's approval step (``V4JobTemplateApprovalStepDTO``): ``approval_type`` 1 one
    approver suffices, 2 all must approve; who, the message and the notify channels."""

    approval_type: int | None = None
    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    message: str | None = None
    notify_channels: tuple[str, ...] = ()


@attrs.frozen
class TemplateStep:
    """A template's step as v4 reports it (``V4JobTemplateStepDTO``): its id, name and type,
    and by type its script (texts decoded from base64), its files or its approval."""

    id: int
    name: str | None = None
    type: StepType | None = None
    script: ScriptStepDetail | None = None
    file: FileStepDetail | None = None
    approval: TemplateApproval | None = None


@attrs.frozen
class JobTemplateDetail(JobTemplate):
    """A job template with its steps and variables (v4 ``get_job_template_detail``), and the
    scope bk-job says it belongs to (``bk_scope_type``/``bk_scope_id``)."""

    variables: tuple[TemplateVariable, ...] = ()
    steps: tuple[TemplateStep, ...] = ()
    scope: Scope | None = None


@attrs.frozen
class CreatedJobPlan:
    """The plan ``create_job_plan`` made from a template (v4 ``OpenApiV4JobPlanDTO``)."""

    job_plan_id: int
    job_plan_name: str | None = None
    job_template_id: int | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    #: Whether the plan must be synchronised with a template changed since.
    need_update: bool | None = None
