"""Events and statuses as JSON objects: every field, enums as ints plus names, ISO 8601 times.

Rule: pure conversion, no I/O. A field holding an enum ``status`` is written as ``"status": 9``
and ``"status_name": "SUCCESS"``; every time, whatever the API generation sent, in one form:
UTC, ISO 8601 with milliseconds, ``"2025-01-01T08:00:02.000+00:00"`` (``json_time``; Python's
``datetime.fromisoformat`` reads it on every supported version); durations (``total_time``) as
float seconds; errors as their type, message and the server's details.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import ApiError, BkJobError, RateLimitedError
from ..models import enums as _enums
from ..polling import events

__all__ = [
    "EVENT_NAMES",
    "dumps",
    "error_to_dict",
    "event_to_dict",
    "job_launched",
    "json_time",
    "to_json",
]


def json_time(value: _dt.datetime) -> str:
    """Return an aware time as UTC ISO 8601 with milliseconds (naive times are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds")


#: The ``"event"`` field of each event type.
EVENT_NAMES: dict[type, str] = {
    events.HostTransition: "host_transition",
    events.ContainerTransition: "container_transition",
    events.StepTransition: "step_transition",
    events.JobTransition: "job_transition",
    events.JobFinished: "job_finished",
    events.WatchFailed: "watch_failed",
    events.WatchTimedOut: "watch_timed_out",
    events.PollingStalled: "polling_stalled",
    events.PollingResumed: "polling_resumed",
    events.JobPollFailing: "job_poll_failing",
    events.JobPollRecovered: "job_poll_recovered",
}


def error_to_dict(exc: BaseException) -> dict[str, Any]:
    """Return an error as ``{"type", "message", ...}`` with bk-job's code, ids and permission."""
    out: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ApiError):
        out.update(
            api=exc.api,
            code=exc.code,
            http_status=exc.http_status,
            request_id=exc.request_id,
            job_request_id=exc.job_request_id,
            permission=to_json(exc.permission),
        )
    if isinstance(exc, RateLimitedError):
        out["retry_after"] = exc.retry_after
    return out


def to_json(value: Any) -> Any:
    """Return ``value`` as plain JSON data (attrs objects become objects, field by field)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value if not isinstance(value, int) else int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, _dt.datetime):
        return json_time(value)
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, BkJobError):
        return error_to_dict(value)
    if attrs.has(type(value)):
        return _attrs_to_dict(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    return str(value)


def _attrs_to_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in attrs.fields(type(obj)):
        if field.name.startswith("_"):  # (private: a lazy event's row)
            continue
        value = getattr(obj, field.name)
        out[field.name] = to_json(value)
        if isinstance(value, enum.IntEnum) or _is_enum_field(field):
            out[f"{field.name}_name"] = value.name if isinstance(value, enum.Enum) else None
    return out


def _is_enum_field(field: attrs.Attribute[Any]) -> bool:
    """Tell whether a field is declared as an (optional) enum, so ``None`` gets a name too.

    The declared type is a string until something (the converter) resolves it to a type.
    """
    declared: object = field.type
    if isinstance(declared, str):
        return declared.split(" ", 1)[0] in _ENUM_NAMES
    candidates = typing.get_args(declared) or (declared,)
    return any(isinstance(c, type) and issubclass(c, enum.Enum) for c in candidates)


_ENUM_NAMES = frozenset(
    name
    for name, value in vars(_enums).items()
    if isinstance(value, type) and issubclass(value, enum.Enum)
)


def event_to_dict(event: events.Event) -> dict[str, Any]:
    """Return one watch event as a JSON object: ``"event"`` names its type, ``"event_id"``
    is the id to dedupe redeliveries by."""
    return {"event": EVENT_NAMES[type(event)], "event_id": event.event_id, **_attrs_to_dict(event)}


def dumps(obj: Any) -> str:
    """Encode one JSON line: compact, UTF-8 text kept as is."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def job_launched(launched: Any, kind: str, **more: Any) -> str:
    """Return the ``job_launched`` line of a launch (``launch``, ``push-config``): its job's id
    and name, the kind of launch, and ``more``."""
    return dumps(
        {
            "event": "job_launched",
            "job_instance_id": launched.job_instance_id,
            "job_instance_name": launched.job_instance_name,
            "kind": kind,
            **more,
        }
    )
