"""Input checks shared by the package: ``bool`` is never an int or a number here.

Each check returns the value it accepts and raises with the caller's name for it, so the
messages stay those the callers have always given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeGuard, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterable

T = TypeVar("T")

#: The longest watch name, in characters (a single process's named watches and the cluster's).
MAX_WATCH_NAME = 200


def is_int(value: object) -> TypeGuard[int]:
    """Tell whether ``value`` is an ``int`` and not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """Tell whether ``value`` is an ``int`` or a ``float`` and not a ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int(value: object, name: str, kind: str = "an int") -> int:
    """Return ``value`` if it is an int; raise ``TypeError: <name> must be <kind>, not <type>``."""
    if not is_int(value):
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__}")
    return value


def check_number(value: object, name: str, kind: str = "a number") -> int | float:
    """Return ``value`` if it is a number; raise ``TypeError: <name> must be <kind>, not <type>``."""
    if not is_number(value):
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__}")
    return value


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` if it is a bool; raise ``TypeError: <name> must be a bool, not <type>``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def check_many(values: Iterable[T], name: str) -> tuple[T, ...]:
    """Return ``values`` as a tuple; a lone ``str`` is refused, not split into characters."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence, not a single {type(values).__name__}")
    return tuple(values)


def check_watch(value: object) -> str:
    """Return ``value`` if it is a valid watch name (1-200 printable characters), else raise."""
    if not isinstance(value, str):
        raise TypeError(f"a watch name must be a str, not {type(value).__name__}")
    if not value or len(value) > MAX_WATCH_NAME or not value.isprintable():
        raise ValueError(
            f"invalid watch name {value!r}: use 1-{MAX_WATCH_NAME} printable characters"
        )
    return value
