"""Rule: a handler's checks of the fields it is sent are rows here, named as bk-job names them.

What a resource's ``checkRequest`` (or its bean validation) asks of the fields it reads, as a
table: per generation (v2, v3, v4) and API, each field in the order bk-job checks it: a number
(``Check``: the values it takes and the refusal of others, perhaps only beside a given text),
a text (``Text``: not empty, at most so many characters, of a pattern), a list (``Items``: not
empty), one of several fields (``OneOf``) or a page (``Page``: ``start`` and ``length`` as the
resource reads them). A refusal is a code (its message arguments beside it) or the key of a
failed bean validation (1240003 with that key's text, ``_codes.VALIDATION``). Every field is
one of that API's request fields in ``_fields`` (bk-job's request types, checked at import),
never the client's spelling, so a key the client misspells is missing here as it is at bk-job.
``Call.checked`` reads a row. What depends on the world (a script that exists, a name taken)
or on nested rows (hosts, file lists) stays in the handler, after its row.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping

import attrs

from ..models.enums import StepOperation
from . import _codes as codes
from ._fields import FIELDS

__all__ = ["CHECKS", "LANGUAGES", "Check", "Items", "OneOf", "Page", "Text", "unknown_fields"]


def _positive(value: int) -> bool:
    return value >= 1


def _given(value: int) -> bool:
    return True


#: A refusal: a code (with the check's message arguments), or a bean validation's key.
Refusal = int | str


@attrs.frozen
class Check:
    """One number: the values it takes (``None`` never does, but with ``optional``), the
    refusal (``code``) and message arguments for any other; ``bound``: a gateway GET binds it
    with ``@RequestParam``, so a missing one is 1240003 first (Spring's, before the resource's
    check); ``validation``: a missing one is a failed bean validation, 1240003 with the text of
    this key (``_codes.VALIDATION``); ``when``: checked only when that text is given (not
    empty)."""

    field: str
    code: Refusal
    takes: Callable[[int], bool] = _positive
    args: tuple[object, ...] = ()
    bound: bool = False
    validation: str | None = None
    optional: bool = False
    when: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,)


@attrs.frozen
class Text:
    """One text: refused with ``empty`` when missing or empty (or blank, with ``blank``),
    with ``long`` past ``most`` characters, with ``illegal`` where ``takes`` does not take it
    (a pattern's ``match``, say); ``args``: the refusals' message arguments; ``bound``: as ``Check``'s. ``optional``: a
    missing or empty one is not refused (it reads as ``None``); ``strip``: it is read without
    its outer blanks (a blank one reads as ``None``)."""

    field: str
    empty: Refusal
    most: int | None = None
    long: Refusal | None = None
    takes: Callable[[str], object] | None = None
    illegal: Refusal | None = None
    args: tuple[object, ...] = ()
    blank: bool = False
    bound: bool = False
    optional: bool = False
    strip: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,)


@attrs.frozen
class Items:
    """A list: refused with ``empty`` (and ``args``) when missing, not a list, or empty."""

    field: str
    empty: Refusal
    args: tuple[object, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,)


@attrs.frozen
class OneOf:
    """At least one of ``fields`` given (not missing, not empty), else ``refusal`` with
    ``args``; it reads as nothing."""

    fields: tuple[str, ...]
    refusal: Refusal
    args: tuple[object, ...] = ()


@attrs.frozen
class Page:
    """A page's ``start`` (or ``offset``: ``start``) and ``length`` as a list reads them, both
    read before either is checked. Without ``refusal``: ``start`` missing or below 0 is 0;
    ``length`` missing or below ``least`` is ``default``, and at most ``most`` (no cap:
    ``None``). With ``refusal``: a missing ``start`` is 0 and a missing ``length`` is
    ``default``; a ``start`` below 0 or past ``max_start``, or a ``length`` off ``least`` to
    ``most``, is refused naming it."""

    default: int
    most: int | None = None
    least: int = 1
    start: str = "start"
    max_start: int | None = None
    refusal: int | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.start, "length")


#: What a row holds, field by field.
Field = Check | Text | Items | OneOf | Page


def _named(field: str, code: int) -> Check:
    """A required id >= 1 whose refusal names the field (the resources' ``checkRequest``)."""
    return Check(field, code, args=(field,), bound=True)


def _required(field: str, key: str) -> Check:
    """A field ``@NotNull`` on the request: any number, but one (1240003 with ``key``'s text)."""
    return Check(field, codes.BAD_REQUEST, _given, validation=key)


def _one_of(field: str, code: int, values: Iterable[int], *args: object) -> Check:
    return Check(field, code, frozenset(int(v) for v in values).__contains__, args)


#: ``ScriptTypeEnum``: 1 shell ... 6 SQL.
LANGUAGES = range(1, 7)
_LANGUAGE = Check(
    "script_language", "ScriptType_illegal", LANGUAGES.__contains__, validation="ScriptType_empty"
)
_SCRIPT_ID = Text("script_id", "ScriptId_empty")
_CONTENT = Text("content", "ScriptContent_empty")
_VERSION_NAME = Text(
    "version",
    "ScriptVersion_empty",
    60,
    "ScriptVersion_outOfLength",
    re.compile(r"^[A-Za-z0-9_\-#@.]+$").match,
    "ScriptVersion_illegal",
)


def _script_name(pattern: bool) -> Text:
    """The script's name: bk-job checks its pattern when it creates a script only."""
    legal = re.compile(r'^[^\\|/:*<>"?]+$').match if pattern else None
    return Text(
        "name", "ScriptName_empty", 60, "ScriptName_outOfLength", legal, "ScriptName_illegal"
    )


#: ``IllegalCharChecker.DEFAULT_PATTERN``'s characters, none of them.
_NO_SPECIAL_CHAR = re.compile(r'^[^\\|/:*<>"?]*$')


def _plain(field: str) -> Text:
    """``@NotBlankField`` and ``@NotContainSpecialChar``: 1240003 for either."""
    return Text(
        field,
        codes.BAD_REQUEST,
        blank=True,
        takes=_NO_SPECIAL_CHAR.match,
        illegal=codes.BAD_REQUEST,
    )


def _at_most(field: str, most: int) -> Text:
    """``@Length(max=most)``: any text up to ``most`` characters, or none."""
    return Text(field, codes.BAD_REQUEST, most, codes.BAD_REQUEST, optional=True)


def _not_blank(field: str) -> Text:
    """A text the resource's ``validate`` wants (1241010 naming it)."""
    reason = f"{field} cannot be null or blank"
    return Text(field, codes.ILLEGAL_PARAM_REASON, args=(field, reason), blank=True)


def _any(field: str) -> Check:
    """A number read as given (or ``None``): the handler decides what it needs of it."""
    return Check(field, codes.BAD_REQUEST, _given, optional=True)


def _save_cron(v2: bool) -> tuple[Field, ...]:
    """``save_cron``'s fields as read, then its id's check (every number is read before it):
    v3 takes -1 as a new cron's id."""
    keys = ("cron_id", "bk_job_id", "cron_name", "cron_expression") if v2 else (
        "id", "job_plan_id", "name", "expression"
    )  # fmt: skip
    refusal = codes.ILLEGAL_PARAM_REASON if v2 else codes.BAD_REQUEST
    return (
        _any(keys[1]),
        Text(keys[2], codes.BAD_REQUEST, optional=True, strip=True),
        Text(keys[3], codes.BAD_REQUEST, optional=True, strip=True),
        *(() if v2 else (_any("execute_time"),)),
        Check(
            keys[0],
            refusal,
            (0).__lt__ if v2 else lambda cron_id: cron_id > 0 or cron_id == -1,
            (keys[0], "must be positive"),
            optional=True,
        ),
    )


def _compiles(expression: str) -> bool:
    try:
        re.compile(expression)
    except re.error:
        return False
    return True


#: ``EsbCreateDangerousRuleV3Req``'s fields (the update's too): 1240003 with their texts.
_RULE_FIELDS = (
    Text("expression", "Regex_empty", 250, "Regex_outOfLength", _compiles, "Regex_wrongExpr"),
    Items("script_language_list", "ScriptTypeList_empty"),
    Text("description", codes.BAD_REQUEST, 1000, "Description_outOfLength", optional=True),
    Check("action", "Action", (1, 2).__contains__),  # scan, intercept
)


def _v4_page(max_offset: int | None) -> Page:
    """v4's offset pages: ``length`` 1 to 200, 10 by default; refused naming the field
    (``EsbGetJobInstanceListV4Resource``: ``offset`` at most 10,000)."""
    return Page(10, 200, start="offset", max_start=max_offset, refusal=codes.ILLEGAL_PARAM_NAMED)


def _base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _encoded(field: str) -> Text:
    """A base64 text, when given (1241005 naming it otherwise)."""
    refusal = codes.ILLEGAL_PARAM_NAMED
    return Text(
        field, codes.BAD_REQUEST, optional=True, takes=_base64, illegal=refusal, args=(field,)
    )


def _fast_script(v2: bool) -> tuple[Field, ...]:
    """``fast_execute_script``'s script: by version id (v3), script id or content (1241004
    naming the three), a version id from 1, a language 1-5 for content (v2's ``script_type``
    defaults to shell), the content and its parameter base64."""
    illegal, named = codes.ILLEGAL_PARAM_NAMED, ("script_version_id", "script_id")
    version = Check(named[0], illegal, _positive, (named[0],), optional=True)
    given = ("script_id", "script_content") if v2 else (*named, "script_content")
    return (
        *(() if v2 else (version,)),
        OneOf(given, codes.MISSING_PARAM_NAMED, ("script_version_id|script_id|script_content",)),
        Check(
            "script_type" if v2 else "script_language",
            illegal,
            range(1, 6).__contains__,
            ("script_language",),  # (v2 too, as the one-of's names)
            optional=v2,
            when="script_content",
        ),
        _encoded("script_content"),
        _encoded("script_param"),
    )


def _fast_transfer(v2: bool) -> tuple[Field, ...]:
    """A file transfer's target path (named as missing on v2, missing or illegal on v3) and
    its sources (v2's ``file_source``)."""
    missing = codes.MISSING_PARAM_NAMED if v2 else codes.MISSING_OR_ILLEGAL_NAMED
    sources = "file_source" if v2 else "file_source_list"
    return (
        Text("file_target_path", missing, args=("file_target_path",)),
        Items(sources, codes.MISSING_PARAM_NAMED, (sources,)),
    )


#: ``AccountTypeEnum`` (1 Linux, 2 Windows, 9-11 databases) and ``AccountCategoryEnum``.
ACCOUNT_TYPES, ACCOUNT_CATEGORIES = (1, 2, 9, 10, 11), (1, 2)

_CONTEXT = (  # v4's job-analysis: which round of which execute object
    Check("execute_count", codes.MISSING_OR_ILLEGAL_NAMED, _given, ("execute_count",)),
    _one_of("execute_object_type", codes.MISSING_OR_ILLEGAL_NAMED, (1, 2), "execute_object_type"),
    _named("execute_object_resource_id", codes.MISSING_OR_ILLEGAL_NAMED),
)
_RULE = (_required("id", "Id_empty"),)
_ACCOUNT = (Check("id", codes.BAD_REQUEST, _given),)  # @NotNull
_VERSION = (_required("script_version_id", "ScriptVersionId_empty"),)
_JOB = _named("job_instance_id", codes.MISSING_OR_ILLEGAL_NAMED)
_STEP = _named("step_instance_id", codes.MISSING_OR_ILLEGAL_NAMED)
_OPERATE_JOB = (
    Check("job_instance_id", codes.ILLEGAL_PARAM),
    _one_of("operation_code", codes.ILLEGAL_PARAM, (1, 2)),  # terminate, start
)
_OPERATE_STEP = (
    Check("job_instance_id", codes.ILLEGAL_PARAM),
    Check("step_instance_id", codes.ILLEGAL_PARAM),
    _one_of("operation_code", codes.ILLEGAL_PARAM, StepOperation),
)

#: By generation and API (as that generation names it): the fields checked, in bk-job's order.
CHECKS: dict[tuple[str, str], tuple[Field, ...]] = {
    ("v2", "get_job_instance_status"): (_JOB,),
    ("v3", "get_job_instance_status"): (_JOB,),
    ("v2", "get_step_instance_status"): (_JOB, _STEP),
    ("v3", "get_step_instance_status"): (
        _named("job_instance_id", codes.BAD_REQUEST),
        _named("step_instance_id", codes.BAD_REQUEST),
    ),
    ("v2", "operate_job_instance"): _OPERATE_JOB,
    ("v3", "operate_job_instance"): _OPERATE_JOB,
    ("v2", "operate_step_instance"): _OPERATE_STEP,
    ("v3", "operate_step_instance"): _OPERATE_STEP,
    ("v2", "get_job_instance_log"): (_JOB,),
    ("v3", "get_job_instance_ip_log"): (_JOB, _STEP),
    ("v3", "batch_get_job_instance_ip_log"): (_JOB, _STEP),
    ("v2", "get_job_instance_global_var_value"): (_JOB,),
    ("v3", "get_job_instance_global_var_value"): (_JOB,),
    ("v3", "get_step_instance_detail"): (
        _named("job_instance_id", codes.ILLEGAL_PARAM_NAMED),
        _named("step_instance_id", codes.ILLEGAL_PARAM_NAMED),
    ),
    ("v2", "execute_job"): (_named("bk_job_id", codes.MISSING_OR_ILLEGAL_NAMED),),
    ("v3", "execute_job_plan"): (_named("job_plan_id", codes.ILLEGAL_PARAM_NAMED),),
    ("v3", "get_job_instance_list"): (
        _named("create_time_start", codes.MISSING_OR_ILLEGAL_NAMED),
        _named("create_time_end", codes.MISSING_OR_ILLEGAL_NAMED),
    ),
    ("v2", "get_job_detail"): (_named("bk_job_id", codes.MISSING_OR_ILLEGAL_NAMED),),
    ("v3", "get_job_plan_detail"): (_named("job_plan_id", codes.MISSING_OR_ILLEGAL_NAMED),),
    ("v3", "get_cron_detail"): (Check("id", codes.ILLEGAL_PARAM),),
    ("v3", "delete_cron"): (Check("id", codes.BAD_REQUEST),),  # @NotNull
    ("v2", "update_cron_status"): (
        Check("cron_id", codes.ILLEGAL_PARAM),
        _one_of("cron_status", codes.ILLEGAL_PARAM, (0, 1, 2)),
    ),
    ("v3", "update_cron_status"): (
        Check("id", codes.ILLEGAL_PARAM_REASON, args=("id", "id must be a positive integer")),
        Check("status", codes.ILLEGAL_PARAM_REASON, (0).__le__, ("status", "status must >= 0")),
    ),
    ("v4", "get_job_template_detail"): (_named("id", codes.MISSING_OR_ILLEGAL_NAMED),),
    ("v4", "create_job_plan"): (_named("job_template_id", codes.MISSING_OR_ILLEGAL_NAMED),),
    ("v4", "get_file_task_context"): (
        *_CONTEXT,
        _one_of("mode", codes.MISSING_OR_ILLEGAL_NAMED, (0, 1), "mode"),  # upload, download
    ),
    ("v4", "get_script_task_context"): _CONTEXT,
    ("v3", "update_account"): (
        *_ACCOUNT,
        _at_most("password", 255),
        _at_most("alias", 255),
        _at_most("description", 1024),
    ),
    ("v3", "delete_account"): _ACCOUNT,
    ("v2", "fast_execute_script"): _fast_script(v2=True),
    ("v3", "fast_execute_script"): _fast_script(v2=False),
    ("v2", "fast_push_file"): _fast_transfer(v2=True),
    ("v3", "fast_transfer_file"): _fast_transfer(v2=False),
    ("v3", "create_dangerous_rule"): _RULE_FIELDS,
    ("v3", "update_dangerous_rule"): (*_RULE, *_RULE_FIELDS),
    ("v3", "check_script"): (_LANGUAGE, _CONTENT),
    ("v3", "get_account_list"): (
        Check("category", codes.BAD_REQUEST, ACCOUNT_CATEGORIES.__contains__, optional=True),
        Page(20, 1000),  # EsbJobReq.adjustPageParam
    ),
    ("v4", "get_job_instance_list"): (_v4_page(10_000),),
    ("v4", "get_user_authorized_scopes"): (_v4_page(None),),
    ("v3", "delete_dangerous_rule"): _RULE,
    ("v3", "enable_dangerous_rule"): _RULE,
    ("v3", "disable_dangerous_rule"): _RULE,
    ("v3", "create_account"): (
        Text("account", codes.BAD_REQUEST),
        Check("type", codes.BAD_REQUEST, ACCOUNT_TYPES.__contains__, optional=True),
        Check("category", codes.BAD_REQUEST, ACCOUNT_CATEGORIES.__contains__, optional=True),
        _at_most("password", 117),
        _at_most("alias", 255),
        _at_most("description", 1024),
    ),
    ("v3", "create_credential"): (_not_blank("name"), _not_blank("type")),
    # (a type that is not one fails in CredentialTypeEnum.valueOf: 1240002)
    ("v3", "update_credential"): (_not_blank("id"), Text("type", codes.INTERNAL_ERROR)),
    ("v3", "get_credential_detail"): (Text("id", codes.BAD_REQUEST),),  # @NotBlankField
    ("v3", "create_file_source"): tuple(map(_plain, ("code", "alias", "type", "credential_id"))),
    ("v3", "update_file_source"): tuple(map(_plain, ("code", "alias", "type", "credential_id"))),
    ("v3", "get_file_source_detail"): (_plain("code"),),
    ("v2", "get_cron_list"): (Page(10, least=0),),
    ("v3", "get_cron_list"): (Page(20, least=0),),
    ("v2", "save_cron"): _save_cron(v2=True),
    ("v3", "save_cron"): _save_cron(v2=False),
    ("v3", "update_script_version"): (_SCRIPT_ID, *_VERSION, _CONTENT),
    ("v3", "update_public_script_version"): (
        _SCRIPT_ID,
        _required("script_version_id", "ScriptVersion_empty"),
        _CONTENT,
    ),
    **{
        ("v3", api.format(public)): row
        for public in ("", "public_")
        for api, row in (
            (
                "get_{}script_list",
                (
                    Check(
                        "script_language",
                        codes.ILLEGAL_PARAM_NAMED,
                        lambda language: language <= 0 or language in LANGUAGES,
                        ("type",),
                        optional=True,
                    ),
                    Page(20, 1000),
                ),
            ),
            (
                "get_{}script_version_list",
                (
                    Text(
                        "script_id",
                        codes.ILLEGAL_PARAM_NAMED,
                        args=("script_id",),
                        blank=True,
                        bound=True,
                    ),
                    Page(10),
                ),
            ),
            (
                "create_{}script",
                (
                    _script_name(pattern=True),
                    _LANGUAGE,
                    _CONTENT,
                    _VERSION_NAME,
                ),
            ),
            ("create_{}script_version", (_SCRIPT_ID, _CONTENT, _VERSION_NAME)),
            ("update_{}script_basic", (_SCRIPT_ID, _script_name(pattern=False))),
            ("publish_{}script_version", (_SCRIPT_ID, *_VERSION)),
            ("disable_{}script_version", (_SCRIPT_ID, *_VERSION)),
            ("delete_{}script", (_SCRIPT_ID,)),
            ("delete_{}script_version", (_SCRIPT_ID, *_VERSION)),
        )
    },
}


def unknown_fields(checks: Mapping[tuple[str, str], tuple[Field, ...]]) -> dict[str, list[str]]:
    """Return, per generation and API, the fields ``checks`` names that its request lacks."""
    unknown = {
        f"{generation} {api}": sorted(
            {f for c in row for f in c.fields} - FIELDS[generation].get(api, {}).keys()
        )
        for (generation, api), row in checks.items()
    }
    return {key: fields for key, fields in unknown.items() if fields}


if unknown_fields(CHECKS):
    raise RuntimeError(f"bk-job's requests have no such fields: {unknown_fields(CHECKS)}")
