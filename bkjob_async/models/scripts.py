"""Frozen shapes for the script library's lifecycle and ``check_script``; no wire knowledge here.

A script (``Script``) has versions (``ScriptVersion``, in ``catalog``); a version is a draft
until published (online), an older online version goes offline when another is published, and
a disabled version never runs again. ``ScriptVersionState`` is what publishing or disabling
answers; ``ScriptVersionPage`` a page of ``get_script_version_list``. ``ScriptCheckItem`` is
one finding of ``check_script`` (bk-job's ``EsbCheckScriptV3DTO``).
"""

from __future__ import annotations

import attrs

from .catalog import ScriptVersion, ScriptVersionStatus
from .enums import _OpenIntEnum

__all__ = ["ScriptCheckItem", "ScriptCheckLevel", "ScriptVersionPage", "ScriptVersionState"]


@attrs.frozen
class ScriptVersionPage:
    """One page of a script's versions, newest change first; ``total`` counts every version."""

    start: int
    length: int
    total: int
    items: tuple[ScriptVersion, ...]


@attrs.frozen
class ScriptVersionState:
    """A script version's state after ``publish_script_version`` or ``disable_script_version``."""

    script_version_id: int
    script_id: str | None = None
    status: ScriptVersionStatus | None = None


class ScriptCheckLevel(_OpenIntEnum):
    """How grave a ``check_script`` finding is (``ScriptCheckErrorLevelEnum``).

    A dangerous-command rule's match is ``FATAL``; a launch is refused when a matching rule's
    action is to intercept (``DangerousRuleAction.INTERCEPT``).
    """

    WARNING = 1
    ERROR = 2
    FATAL = 3


@attrs.frozen
class ScriptCheckItem:
    """One finding of ``check_script``: the line (from 1), its text, what matched and why."""

    line: int | None = None
    line_content: str | None = None
    match_content: str | None = None
    level: ScriptCheckLevel | None = None
    description: str | None = None
