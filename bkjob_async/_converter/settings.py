"""The settings family's hooks: a scope's notification policies (v3); no I/O.

Notification policies (``EsbNotifyPolicyV3DTO``). ``register`` adds them to one generation's
converter; every reader here raises only what the converter turns into ``ResponseFormatError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models.settings import NotifyPolicy
from ._readers import Generation, _str, _texts, read_bool

if TYPE_CHECKING:
    from collections.abc import Mapping

    import cattrs

__all__ = ["register"]


def _policy(d: Mapping[str, Any]) -> NotifyPolicy:
    raw = d.get("resource_status_channel_map") or {}
    if not isinstance(raw, dict):
        raise ValueError(f"expected a map of channels, got {type(raw).__name__}")
    channels = {  # (a channel whose Boolean is null says nothing: left out)
        _str(status, None): {
            _str(k, None): read_bool(v) for k, v in (row or {}).items() if v is not None
        }
        for status, row in raw.items()
    }
    return NotifyPolicy(
        _str(d["trigger_type"], None),
        _texts(d.get("resource_type_list")),
        _texts(d.get("role_list")),
        _texts(d.get("extra_observer_list")),
        channels,
    )


def register(c: cattrs.Converter, generation: Generation) -> None:
    """Add this module's hooks to ``generation``'s converter ``c`` (v3 only)."""
    if generation is Generation.V3:
        c.register_structure_hook(NotifyPolicy, lambda d, _: _policy(d))
