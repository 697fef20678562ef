"""Rule: the catalog family's rows (plans, accounts) check before any request; pure, no I/O.

The catalog family: job plans and accounts (scripts are the ``scripts`` family).

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O. v2's lists have
no paging or total: their readers make the bare list a page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._params import known_code, optional_id, paging, texts, v2_only_scalars
from ..models import (
    AccountCategory,
    AccountPage,
    ExecutionAccount,
    JobPlan,
    JobPlanPage,
)
from ._api import (
    GET,
    Pager,
    Params,
    bound,
    checked,
    ids,
    listed,
    model,
    row,
    v2_scoped,
    v3_scoped,
)

if TYPE_CHECKING:
    from ..config import Scope

__all__ = [
    "GET_ACCOUNT_LIST",
    "GET_JOB_PLAN_DETAIL",
    "GET_JOB_PLAN_LIST",
]


# --- plans ---------------------------------------------------------------------------------------


def _plan_list(
    v2: bool,
    /,
    scope: Scope,
    *,
    name: str | None = None,
    creator: str | None = None,
    last_modify_user: str | None = None,
    job_template_id: int | None = None,
    start: int = 0,
    length: int = 20,
) -> Params:
    """Spell ``get_job_plan_list`` (one page of a scope's plans) for v3 or
    (``v2``) v2's ``get_job_list``, which has no template filter."""
    filters = texts(name=name, creator=creator, last_modify_user=last_modify_user)
    template = optional_id(job_template_id, "job_template_id")
    if v2:
        v2_only_scalars(job_template_id=template)
        return v2_scoped(scope, **filters, **paging(start, length))
    return v3_scoped(scope, **filters, job_template_id=template, **paging(start, length))


GET_JOB_PLAN_LIST = row(
    "get_job_plan_list",
    GET,
    model(JobPlanPage),
    v3=bound(_plan_list, False),
    v2=bound(_plan_list, True),
    v2_name="get_job_list",
    v2_read=listed(JobPlanPage, JobPlan, 20),
    doc="""Return one page of a scope's job plans, newest changed first.

    The filters: ``name`` (a part of it), ``creator``, ``last_modify_user``,
    ``job_template_id`` (v3 only). On ESB v2 (``get_job_list``) the page has no ``total``.
    """,
    resource="`EsbPlanV3Resource`; v2 `EsbGetJobListResource`",
    pager=Pager(
        "iter_job_plans",
        JobPlan,
        ("job_plan_id",),
        """Yield every plan ``get_job_plan_list`` matches, a page at a time.""",
    ),
)


GET_JOB_PLAN_DETAIL = row(
    "get_job_plan_detail",
    GET,
    checked(JobPlan, "plan", "job_plan_id", lambda a: a.job_plan_id),
    v3=ids(v3_scoped, job_plan_id="job_plan_id"),
    v2=ids(v2_scoped, bk_job_id="job_plan_id"),  # (v2's get_job_detail: bk_job_id)
    v2_name="get_job_detail",
    v2_read=checked(JobPlan, "plan", "bk_job_id", lambda a: a.job_plan_id),
    doc="""Return a plan with its enabled steps and its global variables (their defaults).

    A password variable's value is masked (``******``) by bk-job v3; ESB v2 sends it as
    stored. Either way it never shows in a ``repr``.
    """,
    resource="`EsbPlanV3Resource`; v2 `EsbGetJobDetailResource`",
)

# --- accounts ------------------------------------------------------------------------------------


def _account_list(
    v2: bool,
    /,
    scope: Scope,
    *,
    category: AccountCategory | int | None = None,
    account: str | None = None,
    alias: str | None = None,
    start: int = 0,
    length: int = 20,
) -> Params:
    """Spell ``get_account_list`` for v3 (``length`` 1..1000: bk-job cuts a
    longer page) or (``v2``) v2's ``get_os_account``: no filter and no paging there (every
    system account at once), so a filter or a ``start`` past 0 is refused."""
    filters = {
        "category": known_code(category, AccountCategory, "category"),
        **texts(account=account, alias=alias),
    }
    page = paging(start, length)
    if v2:
        v2_only_scalars(**filters, start=page["start"])
        return v2_scoped(scope)
    return v3_scoped(scope, **filters, **page)


GET_ACCOUNT_LIST = row(
    "get_account_list",
    GET,
    model(AccountPage),
    v3=bound(_account_list, False),
    v2=bound(_account_list, True),
    v2_name="get_os_account",
    v2_read=listed(AccountPage, ExecutionAccount, None),
    doc="""Return one page of a scope's execution accounts (``ExecutionAccount.ref`` launches).

    On ESB v2 (``get_os_account``) every system account comes in one page.
    """,
    resource="`EsbAccountV3Resource`; v2 `EsbGetOSAccountResource`",
    pager=Pager(
        "iter_accounts",
        ExecutionAccount,
        ("id",),
        """Yield every account of a scope (of one ``category``), a page at a time.""",
    ),
)
