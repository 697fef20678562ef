"""A model's ``repr`` with one secret field masked; pure, for the models' own ``__repr__``."""

from __future__ import annotations

import attrs

#: What a secret value reads as in a ``repr``.
MASKED = "'******'"


def masked_repr(model: attrs.AttrsInstance, secret: str, hide: bool) -> str:
    """Return ``model``'s ``repr`` as attrs writes it, with field ``secret`` shown as
    ``MASKED`` when ``hide`` and it has a value."""
    fields = []
    for field in attrs.fields(type(model)):
        value = getattr(model, field.name)
        masked = field.name == secret and hide and value
        fields.append(f"{field.name}={MASKED if masked else repr(value)}")
    return f"{type(model).__name__}({', '.join(fields)})"
