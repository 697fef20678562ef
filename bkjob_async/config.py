"""Configuration as frozen values, validated when built; nothing here reads the environment.

``Credentials`` never shows a secret in its ``repr``; ``Scope`` knows how each API generation
spells a business or business set; ``Timeouts`` and ``RetryPolicy`` are plain numbers with checks.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
from typing import TYPE_CHECKING, Any, Literal, overload

import attrs

from ._checks import check_int, check_number

if TYPE_CHECKING:
    import random

__all__ = [
    "DEFAULT_SERVER_TZ",
    "MAX_ID",
    "ApiFlavor",
    "Credentials",
    "RetryPolicy",
    "Scope",
    "ScopeType",
    "Timeouts",
]

#: bk-job formats v2 times in the user's timezone, Asia/Shanghai unless a gateway header says otherwise.
DEFAULT_SERVER_TZ = _dt.timezone(_dt.timedelta(hours=8), "UTC+08:00")


class ApiFlavor(str, enum.Enum):
    """The generations of the bk-job HTTP API.

    ``apigw-v4`` is the gateway's fourth generation (``/api/v4/*``: HTTP status codes, execute
    objects that are hosts or Kubernetes containers) where bk-job serves an API on v4, and the
    same gateway's v3 for the APIs v4 lacks: one stage URL serves both.
    """

    APIGW_V3 = "apigw-v3"
    ESB_JOBV3 = "esb-jobv3"
    ESB_V2 = "esb-v2"
    APIGW_V4 = "apigw-v4"

    @classmethod
    def coerce(cls, value: ApiFlavor | str) -> ApiFlavor:
        """Return the flavor named by ``value``, or raise ``ValueError`` listing the valid names."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(repr(f.value) for f in cls)
            raise ValueError(f"unknown API flavor {value!r}; expected one of {names}") from None

    @property
    def is_v3(self) -> bool:
        """Tell whether this flavor speaks the v3 data shapes (scopes, epoch milliseconds)."""
        return self is not ApiFlavor.ESB_V2

    @property
    def is_gateway(self) -> bool:
        """Tell whether this flavor speaks to the API gateway (v3 or v4), not the ESB."""
        return self is ApiFlavor.APIGW_V3 or self is ApiFlavor.APIGW_V4


#: The largest id bk-job can hold (a Java ``long``).
MAX_ID = 2**63 - 1


def check_id(value: object, name: str, maximum: int = MAX_ID) -> int:
    """Return ``value`` if it is an ``int`` (``bool`` excluded) in 1..``maximum``, else raise."""
    value = check_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    if value > maximum:
        bound = "2**63-1 (a Java long)" if maximum == MAX_ID else f"{maximum}"
        raise ValueError(f"{name} must be <= {bound}, got {value}")
    return value


@overload
def check_seconds(value: object, name: str, *, optional: Literal[False] = False) -> float: ...
@overload
def check_seconds(value: object, name: str, *, optional: bool) -> float | None: ...
def check_seconds(value: object, name: str, *, optional: bool = False) -> float | None:
    """Return ``value`` as a float if it is a finite number of seconds > 0 (``None`` if ``optional``)."""
    if value is None and optional:
        return None
    kind = "a number of seconds or None" if optional else "a number of seconds"
    value = check_number(value, name, kind)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be > 0 and finite, got {value!r}")
    return float(value)


class ScopeType(str, enum.Enum):
    """``bk_scope_type``: a business or a business set."""

    BIZ = "biz"
    BIZ_SET = "biz_set"


@attrs.frozen
class Scope:
    """Where a job lives: ``Scope.biz(2)`` or ``Scope.biz_set(9991001)``."""

    type: ScopeType = attrs.field(converter=ScopeType)
    id: int = attrs.field()

    @id.validator
    def _check_id(self, _: attrs.Attribute[int], value: int) -> None:
        check_id(value, "scope id")

    @classmethod
    def biz(cls, bk_biz_id: int) -> Scope:
        """Return the scope of one business."""
        return cls(ScopeType.BIZ, bk_biz_id)

    @classmethod
    def biz_set(cls, bk_biz_set_id: int) -> Scope:
        """Return the scope of one business set (v3 APIs only)."""
        return cls(ScopeType.BIZ_SET, bk_biz_set_id)

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse ``"biz:2"``, ``"biz_set:9991001"`` or a bare business id ``"2"``.

        The id is ASCII digits only (as bk-job reads it): no sign, no ``_``, no other script's
        digits, which ``int()`` would take.
        """
        kind, sep, number = text.strip().rpartition(":")
        try:
            if not (number.isascii() and number.isdigit()):
                raise ValueError(number)
            return cls(ScopeType(kind) if sep else ScopeType.BIZ, int(number))
        except ValueError:
            raise ValueError(
                f"invalid scope {text!r}; expected 'biz:<id>' or 'biz_set:<id>'"
            ) from None

    def params(self, flavor: ApiFlavor) -> dict[str, Any]:
        """Return the scope parameters as ``flavor`` spells them."""
        if flavor.is_v3:
            return {"bk_scope_type": self.type.value, "bk_scope_id": str(self.id)}
        if self.type is not ScopeType.BIZ:
            raise ValueError(
                "the ESB v2 API has no business sets; use flavor 'esb-jobv3' or 'apigw-v3'"
            )
        return {"bk_biz_id": self.id}

    def __str__(self) -> str:
        return f"{self.type.value}:{self.id}"


def check_scope(value: object) -> Scope:
    """Return ``value`` if it is a ``Scope``; raise ``TypeError`` otherwise."""
    if not isinstance(value, Scope):
        raise TypeError(f"scope must be a Scope (Scope.biz(id)), not {type(value).__name__}")
    return value


def _secret_repr(value: str | None) -> str:
    return "None" if value is None else "'***'"


def _optional_text(name: str) -> Any:
    def check(_: object, __: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError(f"{name} must be a non-empty str or None")

    return check


def _required_text(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{attribute.name} must be a non-empty str")


@attrs.frozen
class Credentials:
    """An app's credentials and one user identity; secrets never appear in ``repr``."""

    app_code: str = attrs.field(validator=_required_text)
    app_secret: str = attrs.field(validator=_required_text, repr=_secret_repr)
    username: str | None = attrs.field(default=None, validator=_optional_text("username"))
    bk_token: str | None = attrs.field(
        default=None, validator=_optional_text("bk_token"), repr=_secret_repr
    )
    access_token: str | None = attrs.field(
        default=None, validator=_optional_text("access_token"), repr=_secret_repr
    )

    def __attrs_post_init__(self) -> None:
        if self.username is None and self.bk_token is None and self.access_token is None:
            raise ValueError("no user identity: pass one of username, bk_token or access_token")

    def header_value(self) -> dict[str, str]:
        """Return the ``X-Bkapi-Authorization`` object (contains secrets: never log it)."""
        auth = {"bk_app_code": self.app_code, "bk_app_secret": self.app_secret}
        if self.access_token is not None:
            auth["access_token"] = self.access_token
        if self.bk_token is not None:
            auth["bk_token"] = self.bk_token
        if self.username is not None:
            auth["bk_username"] = self.username
        return auth


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_seconds(value, attribute.name, optional=True)


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    check_seconds(value, attribute.name)


@attrs.frozen
class Timeouts:
    """Limits in seconds: per attempt ``connect`` (incl. pool wait), ``read`` (between bytes) and
    ``total``; and ``call``, one deadline for a whole client call, every retry and wait included.

    ``call`` (30 s) is what a caller waits at most: a web worker is killed at 30 s by default
    (gunicorn's ``--timeout``), so a call from a view or a task ends before that with
    ``bkjob_async.TimeoutError`` (or the last attempt's error) rather than after 4 attempts of a
    full read timeout. ``None`` lifts it (a batch script). The per-attempt limits stay above
    the 60 s after which bk-job's gateway gives up on its backend, so that a raised ``call``
    can wait that long for one slow answer. The poller does not use ``call``: each poll has its
    own bound (``PollPolicy.poll_timeout``) and a failed poll is retried on the next round.
    """

    connect: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    read: float | None = attrs.field(default=65.0, validator=_positive_or_none)
    total: float | None = attrs.field(default=70.0, validator=_positive_or_none)
    call: float | None = attrs.field(default=30.0, validator=_positive_or_none, kw_only=True)


MAX_ATTEMPTS = 1000


@attrs.frozen
class RetryPolicy:
    """How read calls retry transient failures: capped, fully jittered exponential backoff.

    The delay before retry ``n`` (1-based) is ``uniform(0, min(max_delay, base_delay * 2**(n-1)))``;
    a server's ``Retry-After`` raises it to at least that many seconds, clamped to ``max_retry_after``.
    ``max_attempts`` counts the first try (1 to 1000): 1 disables retries. A full running-job
    quota (``QuotaExceededError``) is never retried: a slot frees when a job ends, not in time.
    """

    max_attempts: int = attrs.field(default=4)
    base_delay: float = attrs.field(default=0.2, validator=_positive)
    max_delay: float = attrs.field(default=10.0, validator=_positive)
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        check_id(value, "max_attempts", MAX_ATTEMPTS)

    def delay(self, retry: int, retry_after: float | None = None, *, rng: random.Random) -> float:
        """Return the seconds to wait before retry number ``retry`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * 2.0 ** min(retry - 1, 60))
        backoff = rng.uniform(0.0, cap)
        if retry_after is None:
            return backoff
        return min(max(retry_after, 0.0), self.max_retry_after) + rng.uniform(0.0, self.base_delay)
