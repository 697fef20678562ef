"""Event names renamed since the last release, kept for one release with a ``DeprecationWarning``.

``occurrence`` of ``HostTransition``, ``StepTransition``, ``JobTransition`` and ``JobFinished``
is ``visit`` since event ids are made of visits: ``occurrence_is_visit`` lets such a class take
``occurrence=`` and read ``.occurrence`` as ``visit``, each with a warning. Type checkers see
only ``visit``, so they flag the old name.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, TypeVar

__all__ = ["occurrence_is_visit"]

_E = TypeVar("_E")
_NOT_GIVEN: Any = object()


def _occurrence_renamed(cls_name: str) -> None:
    warnings.warn(
        f"{cls_name}.occurrence is deprecated, and goes in the next minor release: it is now "
        "visit (which arrival at the status in its round the event is, as its event_id says)",
        DeprecationWarning,
        stacklevel=3,
    )


def occurrence_is_visit(cls: type[_E]) -> type[_E]:
    """Let ``cls(..., occurrence=n)`` mean ``visit=n``, and ``.occurrence`` read ``visit``."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, occurrence: Any = _NOT_GIVEN, **kwargs: Any) -> None:
        if occurrence is not _NOT_GIVEN:
            if "visit" in kwargs:
                raise TypeError("give visit, not visit and its old name occurrence")
            _occurrence_renamed(cls.__name__)
            kwargs["visit"] = occurrence
        init(self, *args, **kwargs)

    def occurrence(self: Any) -> int:
        """Deprecated: ``visit``, its name since 0.2 (``occurrence`` goes in the next minor release)."""
        _occurrence_renamed(type(self).__name__)
        return self.visit  # type: ignore[no-any-return]

    setattr(cls, "__init__", __init__)  # noqa: B010 (mypy lets no method be assigned)
    setattr(cls, "occurrence", property(occurrence))  # noqa: B010
    return cls
