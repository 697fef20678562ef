"""Rule: as ``_api``, the dangerous-rule endpoints see parameters, never HTTP.

The simulated dangerous-command rules, ``check_script``, and the launch check they drive.

Rule: as ``_api``, handlers see parameters, never HTTP. The store holds the rules (global,
ordered by priority, in ``_store``); the handlers follow ``EsbDangerousRuleV3ResourceImpl`` and
``CurrentTenantDangerousRuleServiceImpl``: a new rule is disabled and last in priority, an
expression already used for exactly the same languages is 1243056, updating, enabling or
disabling a rule bk-job does not have fails inside bk-job (1240002, a null dereference there),
deleting one succeeds. ``check_script`` reports each enabled rule's match per line
(``DangerousRuleScriptChecker``: comment and blank lines skipped, level 3); bk-job's built-in
shell checks (``bash -n``, its own dangerous-command list) are not simulated. A
``fast_execute_script`` whose script (given inline or by id) matches an enabled rule whose
action is to intercept is refused with 1244019 (``TaskExecuteServiceImpl``); a script launched
by id must exist in the scope or the public library (1243001) and be online or offline
(1244018).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import ApiFlavor
from . import _api
from . import _codes as codes
from ._api import ApiFailure, Call, scope_of
from ._scripts import DISABLED, DRAFT, decode, fail
from ._store import SimRule, matches

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._world import World

__all__ = ["check_script", "fast_execute_script"]  # and the rules' handlers, routed by name

SCAN, INTERCEPT = 1, 2

#: ``JobResourceStatusEnum``'s names, as 1244018 shows a status.
_STATUS_NAMES = {0: ("未上线", "Draft"), 3: ("已禁用", "Disabled")}


def _mask(languages: object) -> int:
    """``encodeScriptType``: bits for 1..8, anything else ignored."""
    mask = 0
    for value in languages if isinstance(languages, list) else ():
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ApiFailure(codes.BAD_REQUEST) from None
        if 0 < number <= 8:
            mask |= 1 << (number - 1)
    return mask


# -- rules -------------------------------------------------------------------------------------


def _rule(fields: Sequence[Any]) -> tuple[str, int, str, int]:
    """``EsbCreateDangerousRuleV3Req``'s fields as its row checked them (the update's too,
    after its id): the expression, its languages' mask, the description and the action."""
    expression, languages, description, action = fields
    return expression, _mask(languages), description or "", action


def _unique(world: World, call: Call, rule_id: int | None, expression: str, mask: int) -> None:
    for rule in world.store.rules.values():
        if rule.id != rule_id and rule.expression == expression and rule.languages == mask:
            raise fail(call, codes.DANGEROUS_RULE_EXIST, expression)


def _existing(world: World, rule_id: int) -> SimRule:
    rule = world.store.rules.get(rule_id)
    if rule is None:  # bk-job dereferences the missing rule: its catch-all answers 1240002
        raise ApiFailure(codes.INTERNAL_ERROR)
    return rule


def get_dangerous_rule_list(world: World, call: Call) -> object:
    """Every rule by priority, filtered by ``expression``/``description`` (substrings),
    ``script_language_list`` (any of them) and ``action``."""
    params = call.params
    expression = (params.text("expression") or "").strip() and params.text("expression")
    description = (params.text("description") or "").strip() and params.text("description")
    languages, action = params.raw("script_language_list"), params.long("action")
    mask = None if languages is None else _mask(languages)
    return [
        rule.render()
        for rule in world.store.ordered_rules()
        if (not expression or expression in rule.expression)
        and (not description or description in rule.description)
        and (mask is None or rule.languages & mask)
        and (action is None or rule.action == action)
    ]


def create_dangerous_rule(world: World, call: Call) -> object:
    """Add a disabled rule."""
    expression, mask, description, action = _rule(call.checked())
    _unique(world, call, None, expression, mask)
    now = world.now_ms()
    return world.store.add_rule(expression, mask, description, action, call.username, now).render()


def update_dangerous_rule(world: World, call: Call) -> object:
    """Replace a rule's expression, languages, description and action; status is kept."""
    rule_id, *fields = call.checked()
    expression, mask, description, action = _rule(fields)
    rule = _existing(world, rule_id)
    _unique(world, call, rule_id, expression, mask)
    rule.expression, rule.languages, rule.description, rule.action = (
        expression,
        mask,
        description,
        action,
    )
    rule.modifier, rule.modify_ms = call.username, world.now_ms()
    return rule.render()


def delete_dangerous_rule(world: World, call: Call) -> object:
    """Delete a rule (a missing one too: bk-job answers success)."""
    world.store.remove_rule(*call.checked())
    return None


def _set_status(world: World, call: Call, status: int) -> object:
    rule = _existing(world, *call.checked())
    rule.status, rule.modifier, rule.modify_ms = status, call.username, world.now_ms()
    return {"id": rule.id, "status": rule.status}


def enable_dangerous_rule(world: World, call: Call) -> object:
    """Enable a rule."""
    return _set_status(world, call, 1)


def disable_dangerous_rule(world: World, call: Call) -> object:
    """Disable a rule."""
    return _set_status(world, call, 0)


# -- check_script and the launch check --------------------------------------------------------


def check_script(world: World, call: Call) -> object:
    """Check base64 ``content`` of ``script_language`` against the enabled rules."""
    language, content = call.checked()
    text = decode(content) or ""
    if not text.strip():
        return []
    rows = list(matches(world.store.rules_for(language), language, text))
    rows.sort(key=lambda row: row["line"])
    return [{k: v for k, v in row.items() if k != "action"} for row in rows]


def _launched_script(world: World, call: Call) -> tuple[int, str]:
    """Return the language and text ``fast_execute_script`` would run, checking a script
    named by id as ``checkAndSetScript`` does."""
    params, v2 = call.params, call.flavor is ApiFlavor.ESB_V2
    version_id = params.long("script_id" if v2 else "script_version_id")
    script_id = None if v2 else params.text("script_id")
    if version_id is not None and version_id > 0:
        found = world.store.versions.get(version_id)
    elif script_id:
        script = world.store.scripts.get(script_id)
        found = None if script is None else script.online
    else:
        language = params.long("script_type" if v2 else "script_language") or 1
        return language, decode(params.text("script_content")) or ""
    scope = scope_of(params)
    if found is None or found.scope not in (None, scope):
        raise fail(call, codes.SCRIPT_NOT_EXIST)
    if found.status in (DRAFT, DISABLED):
        zh, en = _STATUS_NAMES[found.status]
        raise fail(call, codes.SCRIPT_NOT_EXECUTABLE, en if call.english else zh)
    return found.script.language, found.content


def fast_execute_script(world: World, call: Call) -> object:
    """``_api.fast_execute_script`` after the script checks and the rules' interception."""
    language, text = _launched_script(world, call)
    found = matches(world.store.rules_for(language), language, text)
    if any(row["action"] == INTERCEPT for row in found):
        raise fail(call, codes.DANGEROUS_SCRIPT_FORBIDDEN)
    return _api.fast_execute_script(world, call)
