"""The templates family: a scope's job templates, and what one step of a job was told to do.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._params import check_count, check_text, step_ids
from ..models.templates import JobTemplatePage, StepDetail
from ._api import GET, Params, checked, model, row, v3_scoped

if TYPE_CHECKING:
    from ..config import Scope

__all__ = ["GET_JOB_TEMPLATE_LIST", "GET_STEP_INSTANCE_DETAIL"]


def _text(value: str | None, name: str) -> str | None:
    return None if value is None else check_text(value, name)


def template_list_v3(
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
        name=_text(name, "name"),
        creator=_text(creator, "creator"),
        last_modify_user=_text(last_modify_user, "last_modify_user"),
        start=check_count(start, "start"),
        length=check_count(length, "length", 1),
    )


GET_JOB_TEMPLATE_LIST = row(
    "get_job_template_list", GET, model(JobTemplatePage), v3=template_list_v3
)


def step_detail_v3(scope: Scope, job_instance_id: int, step_instance_id: int) -> Params:
    """Spell ``get_step_instance_detail`` (gateway only)."""
    return v3_scoped(scope, **step_ids(job_instance_id, step_instance_id))


GET_STEP_INSTANCE_DETAIL = row(
    "get_step_instance_detail",
    GET,
    checked(StepDetail, "step", "step_instance_id", lambda a: a.id),
    v3=step_detail_v3,
    esb=False,
)
