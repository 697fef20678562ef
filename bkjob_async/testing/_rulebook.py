"""What the simulated bk-job keeps of dangerous-command rules, and how a rule matches; data only.

``RuleBook`` holds the rules (global, ordered by priority; a rule's languages a bit set, as
bk-job stores them). ``matches`` is ``DangerousRuleScriptChecker``: each rule's expression is
searched in each line, comment and blank lines skipped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["RuleBook", "SimRule", "matches"]


@attrs.define
class SimRule:
    """One rule: ``languages`` a bit set (bit ``n-1`` for language ``n``), as bk-job stores it."""

    id: int
    expression: str
    languages: int
    description: str
    action: int
    status: int
    priority: int
    creator: str
    create_ms: int
    modifier: str
    modify_ms: int

    @property
    def language_list(self) -> list[int]:
        """Return the languages in ascending order (``decodeScriptType``)."""
        return [n + 1 for n in range(8) if self.languages & (1 << n)]

    def render(self) -> dict[str, Any]:
        """Render ``EsbDangerousRuleV3DTO``."""
        return {
            "id": self.id,
            "expression": self.expression,
            "script_language_list": self.language_list,
            "description": self.description,
            "action": self.action,
            "status": self.status,
            "creator": self.creator,
            "create_time": self.create_ms,
            "last_modify_user": self.modifier,
            "last_modify_time": self.modify_ms,
        }


class RuleBook:
    """Every rule, by id; ids ascend from 1."""

    def __init__(self) -> None:
        self.rules: dict[int, SimRule] = {}
        self._next = 1

    def ordered(self) -> list[SimRule]:
        """Return the rules by priority."""
        return sorted(self.rules.values(), key=lambda r: r.priority)

    def add(
        self, expression: str, mask: int, description: str, action: int, who: str, now: int
    ) -> SimRule:
        """Add a disabled rule, last in priority."""
        priority = max((r.priority for r in self.rules.values()), default=0) + 1
        rule = SimRule(
            self._next, expression, mask, description, action, 0, priority, who, now, who, now
        )
        self._next += 1
        self.rules[rule.id] = rule
        return rule

    def remove(self, rule_id: int) -> None:
        """Delete a rule and renumber the others' priorities from 1."""
        self.rules.pop(rule_id, None)
        for index, rule in enumerate(self.ordered()):
            rule.priority = index + 1

    def enabled_for(self, language: int) -> list[SimRule]:
        """Return the enabled rules for ``language``, by priority."""
        bit = 1 << (language - 1) if language > 0 else 0
        return [r for r in self.ordered() if r.status == 1 and r.languages & bit]


_COMMENT = {1: "#", 2: "REM", 3: "#", 4: "#", 5: "#"}


def matches(rules: list[SimRule], language: int, content: str) -> Iterator[dict[str, Any]]:
    """Yield ``EsbCheckScriptV3DTO`` rows (with ``action``) for each rule's match per line."""
    lines = content.split("\n")
    comment = _COMMENT.get(language)
    for rule in rules:
        pattern = re.compile(rule.expression)
        for number, line in enumerate(lines, start=1):
            if not line.strip() or (comment and line.strip().startswith(comment)):
                continue
            found = pattern.search(line)
            if found is not None:
                yield {
                    "line": number,
                    "line_content": line,
                    "match_content": found.group(),
                    "level": 3,
                    "description": rule.description,
                    "action": rule.action,
                }
