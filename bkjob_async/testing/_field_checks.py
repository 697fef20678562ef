"""Rule: a handler's checks of the ids and codes it is sent are rows here, named as bk-job names them.

What a resource's ``checkRequest`` (or its bean validation) asks of the numeric fields it reads,
as a table: per generation (v2, v3, v4) and API, each field in the order bk-job checks it, the
values it takes and the code it refuses others with. Every field is one of that API's request
fields in ``_fields`` (bk-job's request types, checked at import), never the client's spelling,
so a key the client misspells is missing here as it is at bk-job. ``Call.checked`` reads a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import attrs

from ..models.enums import StepOperation
from . import _codes as codes
from ._fields import FIELDS

__all__ = ["CHECKS", "Check", "unknown_fields"]


def _positive(value: int) -> bool:
    return value >= 1


def _given(value: int) -> bool:
    return True


@attrs.frozen
class Check:
    """One field: the values it takes (``None`` never does), the code and message arguments
    for any other; ``bound``: a gateway GET binds it with ``@RequestParam``, so a missing one is
    1240003 first (Spring's, before the resource's check); ``validation``: the refusal is a
    failed bean validation, 1240003 with the text of this key (``_codes.VALIDATION``)."""

    field: str
    code: int
    takes: Callable[[int], bool] = _positive
    args: tuple[object, ...] = ()
    bound: bool = False
    validation: str | None = None


def _named(field: str, code: int) -> Check:
    """A required id >= 1 whose refusal names the field (the resources' ``checkRequest``)."""
    return Check(field, code, args=(field,), bound=True)


def _required(field: str, key: str) -> Check:
    """A field ``@NotNull`` on the request: any number, but one (1240003 with ``key``'s text)."""
    return Check(field, codes.BAD_REQUEST, _given, validation=key)


def _one_of(field: str, code: int, values: Iterable[int], *args: object) -> Check:
    return Check(field, code, frozenset(int(v) for v in values).__contains__, args)


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
CHECKS: dict[tuple[str, str], tuple[Check, ...]] = {
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
    ("v4", "get_file_task_context"): _CONTEXT,
    ("v4", "get_script_task_context"): _CONTEXT,
    ("v3", "update_account"): _ACCOUNT,
    ("v3", "delete_account"): _ACCOUNT,
    ("v3", "update_dangerous_rule"): _RULE,
    ("v3", "delete_dangerous_rule"): _RULE,
    ("v3", "enable_dangerous_rule"): _RULE,
    ("v3", "disable_dangerous_rule"): _RULE,
    ("v3", "update_script_version"): _VERSION,
    ("v3", "update_public_script_version"): (
        _required("script_version_id", "ScriptVersion_empty"),
    ),
    ("v3", "publish_script_version"): _VERSION,
    ("v3", "publish_public_script_version"): _VERSION,
    ("v3", "disable_script_version"): _VERSION,
    ("v3", "disable_public_script_version"): _VERSION,
    ("v3", "delete_script_version"): _VERSION,
    ("v3", "delete_public_script_version"): _VERSION,
}


def unknown_fields(checks: Mapping[tuple[str, str], tuple[Check, ...]]) -> dict[str, list[str]]:
    """Return, per generation and API, the fields ``checks`` names that its request lacks."""
    unknown = {
        f"{generation} {api}": sorted(
            {c.field for c in row} - FIELDS[generation].get(api, {}).keys()
        )
        for (generation, api), row in checks.items()
    }
    return {key: fields for key, fields in unknown.items() if fields}


if unknown_fields(CHECKS):
    raise RuntimeError(f"bk-job's requests have no such fields: {unknown_fields(CHECKS)}")
