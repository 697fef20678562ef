"""Rule: the templates family's rows check ids before any request; pure, no I/O.

The templates family: a scope's job templates, what one step of a job was told to do, and
the gateway v4's template detail and plans made from a template.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._checks import check_many
from .._params import check_count, check_text, texts
from ..config import check_id
from ..models.requests import GlobalVar
from ..models.templates import JobTemplate, JobTemplatePage, StepDetail
from . import _v4
from ._api import GET, POST, Pager, Params, checked, ids, model, row, v3_scoped, with_secrets
from ._v4 import execute_target

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..config import Scope

__all__ = [
    "CREATE_JOB_PLAN",
    "GET_JOB_TEMPLATE_DETAIL",
    "GET_JOB_TEMPLATE_LIST",
    "GET_STEP_INSTANCE_DETAIL",
]


def template_list(
    scope: Scope,
    *,
    name: str | None = None,
    creator: str | None = None,
    last_modify_user: str | None = None,
    start: int = 0,
    length: int = 20,
) -> Params:
    """Spell ``get_job_template_list``: ``name`` matches a part of the name, the users exactly;
    bk-job does not cap ``length``."""
    return v3_scoped(
        scope,
        **texts(name=name, creator=creator, last_modify_user=last_modify_user),
        start=check_count(start, "start"),
        length=check_count(length, "length", 1),
    )


GET_JOB_TEMPLATE_LIST = row(
    "get_job_template_list",
    GET,
    model(JobTemplatePage),
    v3=template_list,
    doc="""Return one page of a scope's job templates, last changed first (``name``: a part).""",
    resource="`EsbTemplateV3Resource`",
    pager=Pager(
        "iter_job_templates",
        JobTemplate,
        ("id",),
        """Yield every job template ``get_job_template_list`` matches, a page at a time.""",
        page_size=100,
    ),
)


GET_STEP_INSTANCE_DETAIL = row(
    "get_step_instance_detail",
    GET,
    checked(StepDetail, "step", "step_instance_id", lambda a: a.id),
    v3=ids(v3_scoped, job_instance_id="job_instance_id", step_instance_id="step_instance_id"),
    esb=False,
    doc="""Return what a step of a job was told to do: script, files or approval (gateway only).""",
    resource="`EsbGetStepInstanceDetailV3Resource`",
)


# --- the gateway v4: a template's detail, a plan made from a template ----------------------------


GET_JOB_TEMPLATE_DETAIL = row(
    "get_job_template_detail",
    GET,
    _v4.template_detail,
    v4=ids(v3_scoped, id="job_template_id"),
    doc="""Return a job template with its steps and variables (gateway v4 only).""",
    resource="v4 `OpenApiJobTemplateV4Resource` (`OpenApiV4JobTemplateDetailDTO`)",
)

#: ``V4CreateJobPlanRequest``: a plan's name is at most 60 characters.
MAX_PLAN_NAME = 60


def create_plan(
    scope: Scope,
    job_template_id: int,
    name: str,
    *,
    enable_steps: Sequence[int] | None = None,
    variables: Sequence[GlobalVar] = (),
    follow_template: Sequence[str] = (),
) -> Params:
    """Spell v4's ``create_job_plan``: the template's steps to enable (all if ``None``), the
    variables' values by name (a text ``value`` or hosts as ``server``), and the names of the
    variables that keep following the template."""
    check_text(name, "name")
    if not name.strip() or len(name) > MAX_PLAN_NAME:
        raise ValueError(f"a plan's name is 1 to {MAX_PLAN_NAME} characters, got {len(name)}")
    steps = None
    if enable_steps is not None:
        steps = [check_id(s, "step id") for s in check_many(enable_steps, "enable_steps")]
        if not steps:
            raise ValueError("enable_steps must name at least one step (or be None: all)")
    items: list[dict[str, Any]] = []
    secrets: list[str] = []
    for var in check_many(variables, "variables"):
        if not isinstance(var, GlobalVar) or var.name is None:
            raise TypeError("variables must be GlobalVar values with a name (v4 names them)")
        item: dict[str, Any] = {"name": var.name}
        if var.server is not None:
            item["execute_target"] = execute_target(var.server)
        else:
            item["value"] = var.value
            if var.secret and var.value:
                secrets.append(var.value)
        items.append(item)
    items += [
        {"name": check_text(n, "follow_template name"), "follow_template": True}
        for n in check_many(follow_template, "follow_template")
    ]
    params = v3_scoped(
        scope,
        job_template_id=check_id(job_template_id, "job_template_id"),
        name=name,
        enable_steps=steps,
        variables=items or None,
    )
    return with_secrets(params, tuple(secrets))


CREATE_JOB_PLAN = row(
    "create_job_plan",
    POST,
    _v4.created_plan,
    v4=create_plan,
    doc="""Create a plan from a template (gateway v4 only): ``name`` 1 to 60 characters, the
    template's steps ``enable_steps`` (all if ``None``), ``variables`` by name (a text
    ``value`` or hosts as ``server``; a ``GlobalVar.password`` stays out of errors), and the
    names in ``follow_template`` keep the template's values.
    """,
    resource="v4 `OpenApiJobPlanV4Resource` (`V4CreateJobPlanRequest`)",
)
