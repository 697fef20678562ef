"""Frozen shapes for bk-job's dangerous-command rules (高危语句规则); no wire knowledge here.

A rule is a regular expression checked line by line against the scripts of the languages it
names (comment and blank lines skipped). An enabled rule's match shows in ``check_script``;
when its action is ``INTERCEPT`` a launch of a matching script is refused (bk-job's 1244019).
A new rule starts disabled. Rules are global (per tenant), not per scope.
"""

from __future__ import annotations

import datetime as _dt

import attrs

from .enums import _OpenIntEnum

__all__ = ["DangerousRule", "DangerousRuleAction", "DangerousRuleState", "DangerousRuleStatus"]


class DangerousRuleAction(_OpenIntEnum):
    """What bk-job does with a script that matches (``HighRiskGrammarActionEnum``)."""

    SCAN = 1
    INTERCEPT = 2


class DangerousRuleStatus(_OpenIntEnum):
    """Whether a rule is checked (``EnableStatusEnum``)."""

    DISABLED = 0
    ENABLED = 1


@attrs.frozen
class DangerousRule:
    """One dangerous-command rule (``EsbDangerousRuleV3DTO``).

    ``script_languages`` are ``ScriptLanguage`` codes (1 shell ... 6 SQL).
    """

    id: int
    expression: str | None = None
    script_languages: tuple[int, ...] = ()
    description: str | None = None
    action: DangerousRuleAction | None = None
    status: DangerousRuleStatus | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    last_modify_user: str | None = None
    last_modify_time: _dt.datetime | None = None

    @property
    def enabled(self) -> bool:
        """Tell whether the rule is checked."""
        return self.status is DangerousRuleStatus.ENABLED


@attrs.frozen
class DangerousRuleState:
    """A rule's status after ``enable_dangerous_rule`` or ``disable_dangerous_rule``."""

    id: int
    status: DangerousRuleStatus | None = None
