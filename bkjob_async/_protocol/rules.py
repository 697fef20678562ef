"""Rule: the rules family's rows send every field of a rule, checked first; pure, no I/O.

The rules family: bk-job's dangerous-command rules (高危语句规则), global to the tenant.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O. A rule is a
regular expression (at most 250 characters, Java's dialect: bk-job compiles it, the client
does not second-guess it), the script languages it applies to, a description (at most 1000
characters) and an action (scan, or intercept: refuse to launch a matching script). Creating
and updating send every field (bk-job replaces them all); a new rule is disabled until
``enable_dangerous_rule``. Every API is a POST, on v3 only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._params import check_text
from ..config import check_id
from ..models import (
    DangerousRule,
    DangerousRuleAction,
    DangerousRuleState,
    ScriptLanguage,
)
from ._api import POST, Params, checked, ids, model, nothing, row

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CREATE_DANGEROUS_RULE",
    "DELETE_DANGEROUS_RULE",
    "DISABLE_DANGEROUS_RULE",
    "ENABLE_DANGEROUS_RULE",
    "GET_DANGEROUS_RULE_LIST",
    "UPDATE_DANGEROUS_RULE",
]

#: ``EsbCreateDangerousRuleV3Req``'s limits.
_MAX_EXPRESSION = 250
_MAX_DESCRIPTION = 1000


def _languages(values: Iterable[ScriptLanguage | int]) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError("script_languages must be ScriptLanguage values (a list)")
    codes = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"script_languages holds a {type(value).__name__}, not a ScriptLanguage"
            )
        codes.append(int(ScriptLanguage(value)))
    if not codes:
        raise ValueError("script_languages must name at least one language")
    return sorted(set(codes))


def _action(action: DangerousRuleAction | int) -> int:
    if isinstance(action, bool) or not isinstance(action, int):
        raise TypeError(f"action must be a DangerousRuleAction, not {type(action).__name__}")
    code = int(action)
    if code not in (DangerousRuleAction.SCAN, DangerousRuleAction.INTERCEPT):
        raise ValueError(f"action must be SCAN (1) or INTERCEPT (2), got {code}")
    return code


def _expression(expression: str) -> str:
    check_text(expression, "expression")
    if len(expression) > _MAX_EXPRESSION:
        raise ValueError(f"expression must be at most {_MAX_EXPRESSION} characters")
    return expression


def _description(description: str) -> str:
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, not {type(description).__name__}")
    if len(description) > _MAX_DESCRIPTION:
        raise ValueError(f"description must be at most {_MAX_DESCRIPTION} characters")
    return description


def _rule(
    expression: str,
    script_languages: Iterable[ScriptLanguage | int],
    description: str,
    action: DangerousRuleAction | int,
) -> Params:
    return {
        "expression": _expression(expression),
        "script_language_list": _languages(script_languages),
        "description": _description(description),
        "action": _action(action),
    }


def rule_list(
    *,
    expression: str | None = None,
    script_languages: Iterable[ScriptLanguage | int] | None = None,
    description: str | None = None,
    action: DangerousRuleAction | int | None = None,
) -> Params:
    """Spell ``get_dangerous_rule_list``: every rule by priority, or those that match (the
    texts as substrings, any of the languages, the action)."""
    return {
        "expression": None if expression is None else check_text(expression, "expression"),
        "script_language_list": None if script_languages is None else _languages(script_languages),
        "description": None if description is None else check_text(description, "description"),
        "action": None if action is None else _action(action),
    }


def _rules(parse: Any, data: Any, sent: Mapping[str, Any], /) -> tuple[DangerousRule, ...]:
    return parse(data, tuple[DangerousRule, ...])  # type: ignore[no-any-return]


#: A list is a read, though the gateway routes it by POST.
GET_DANGEROUS_RULE_LIST = row(
    "get_dangerous_rule_list",
    POST,
    _rules,
    v3=rule_list,
    idempotent=True,
    doc="""Return the dangerous-command rules by priority, or those that match (v3 only):
    ``expression`` and ``description`` as substrings, any of ``script_languages``.
    """,
    resource="`EsbDangerousRuleV3Resource`",
)


def create_rule(
    *,
    expression: str,
    script_languages: Iterable[ScriptLanguage | int],
    action: DangerousRuleAction | int,
    description: str = "",
) -> Params:
    """Spell ``create_dangerous_rule``: a new rule, disabled."""
    return _rule(expression, script_languages, description, action)


CREATE_DANGEROUS_RULE = row(
    "create_dangerous_rule",
    POST,
    model(DangerousRule),
    v3=create_rule,
    doc="""Add a rule (v3 only): a regular expression (Java's dialect, at most 250 characters)
    checked on each line of scripts in ``script_languages``. It starts disabled
    (``enable_dangerous_rule``); ``INTERCEPT`` then refuses to launch a matching script.
    """,
    resource="`EsbDangerousRuleV3Resource`",
)


def update_rule(
    rule_id: int,
    *,
    expression: str,
    script_languages: Iterable[ScriptLanguage | int],
    action: DangerousRuleAction | int,
    description: str = "",
) -> Params:
    """Spell ``update_dangerous_rule``: every field anew; the status stays."""
    return {
        "id": check_id(rule_id, "rule_id"),
        **_rule(expression, script_languages, description, action),
    }


UPDATE_DANGEROUS_RULE = row(
    "update_dangerous_rule",
    POST,
    checked(DangerousRule, "rule", "id", lambda a: a.id),
    v3=update_rule,
    doc="""Replace a rule's fields; whether it is enabled stays (v3 only).""",
    resource="`EsbDangerousRuleV3Resource`",
)


_STATE = checked(DangerousRuleState, "rule", "id", lambda a: a.id)
DELETE_DANGEROUS_RULE = row(
    "delete_dangerous_rule",
    POST,
    nothing,
    v3=ids(None, id="rule_id"),
    doc="""Delete a rule (v3 only); bk-job answers success for a rule it does not have.""",
    resource="`EsbDangerousRuleV3Resource`",
)
ENABLE_DANGEROUS_RULE = row(
    "enable_dangerous_rule",
    POST,
    _STATE,
    v3=ids(None, id="rule_id"),
    doc="""Enable a rule (v3 only).""",
    resource="`EsbDangerousRuleV3Resource`",
)
DISABLE_DANGEROUS_RULE = row(
    "disable_dangerous_rule",
    POST,
    _STATE,
    v3=ids(None, id="rule_id"),
    doc="""Disable a rule (v3 only).""",
    resource="`EsbDangerousRuleV3Resource`",
)
