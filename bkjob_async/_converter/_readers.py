"""Rule: the wire's scalars are read here, one way for every reader; no I/O, no converter here.

The wire's scalars and shapes, read one way for every reader: the converter, its family
modules and the poller's fast path; no I/O, no converter here.

Layer: models (imports only ``_checks`` and ``models``). Messages name the type of a bad value,
never the value (it may be an echoed secret, and the poller logs them).
"""

from __future__ import annotations

import datetime as _dt
import enum
import re
from typing import TYPE_CHECKING, Any, TypeVar

from .._checks import is_int, is_number
from ..models.requests import Targets

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    import cattrs

__all__ = [
    "INT32",
    "LONG",
    "Generation",
    "read_bool",
    "read_code",
    "read_epoch_ms",
    "read_int",
    "read_rows",
]

T = TypeVar("T")
_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)


class Generation(enum.Enum):
    """Wire dialects: v3 (ESB jobv3 and the API gateway) and v2 (ESB ``job``)."""

    V2 = "v2"
    V3 = "v3"


# --- scalar hooks shared by both generations (and by ``_observe``) ---------------------------

#: Integers are Java ``long`` values: -LONG <= n < LONG. Status codes are Java ``int``s.
LONG = 2**63
INT32 = 2**31
_DIGITS = re.compile(r"-?[0-9]+")
_SMALL = 2**30 - 1


def read_bool(value: Any, _: object = None) -> bool:
    """Read a JSON boolean, ``0``/``1`` (as any integer spelling) or ``"true"``/``"false"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif isinstance(value, (int, float)) and read_int(value) in (0, 1):
        return bool(value)
    raise ValueError(f"not a boolean: a {type(value).__name__}")


def read_int(value: Any, _: object = None) -> int:
    """Read an integer: a JSON integer, an integral float (``3.0``) or ASCII digits (``"3"``)."""
    if type(value) is int and value <= _SMALL and value >= -_SMALL:
        return value  # the common case, first and cheapest
    if is_int(value):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _DIGITS.fullmatch(value)
    ):
        number = int(value)
    else:
        raise ValueError(f"not an integer: a {type(value).__name__}")
    if not -LONG <= number < LONG:
        raise ValueError("integer out of range (a Java long)")
    return number


def read_code(value: Any, _: object = None) -> int:
    """Read a status or other code: an integer that fits a Java ``int``."""
    code = read_int(value)
    if not -INT32 <= code < INT32:
        raise ValueError("code out of range (a Java int)")
    return code


_bool = read_bool
_int = read_int


def _str(value: Any, _: object) -> str:
    if isinstance(value, str):
        return value
    if is_number(value):
        return str(value)
    raise ValueError(f"not a string: a {type(value).__name__}")


def _open_enum(value: Any, cls: type[T]) -> T:
    return cls(read_code(value))  # type: ignore[call-arg]


def _epoch_ms(value: Any) -> _dt.datetime:
    """Read epoch milliseconds as a UTC ``datetime``."""
    if not is_number(value):
        raise ValueError(f"not epoch milliseconds: a {type(value).__name__}")
    return _EPOCH + _dt.timedelta(milliseconds=value)


read_epoch_ms = _epoch_ms


# v2 times: "2018-03-15 12:56:35", "2018-03-15 12:56:35 +0800" (old docs), ISO 8601 variants.
_V2_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)\s*(Z|[+-]\d{2}:?\d{2})?"
)


def _offset(text: str) -> _dt.tzinfo:
    if text == "Z":
        return _UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _datetime_hook(server_tz: _dt.tzinfo) -> Callable[[Any, object], _dt.datetime]:
    """Read epoch ms, or a v2 time string; one without an offset is in ``server_tz``."""

    def structure(value: Any, _: object) -> _dt.datetime:
        if not isinstance(value, str):
            return _epoch_ms(value)
        match = _V2_TIME.fullmatch(value.strip())
        if match is None:
            raise ValueError("not a bk-job time: a str of another format")
        date, time, offset = match.groups()
        parsed = _dt.datetime.fromisoformat(f"{date} {time}")
        return parsed.replace(tzinfo=_offset(offset) if offset else server_tz)

    return structure


def _ms_duration(value: Any, _: object) -> _dt.timedelta:
    if not is_number(value):
        raise ValueError(f"not a duration in ms: a {type(value).__name__}")
    return _dt.timedelta(milliseconds=value)


def _seconds_duration(value: Any, _: object) -> _dt.timedelta:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError("not a duration in seconds: a str of another format") from None
    if not is_number(value):
        raise ValueError(f"not a duration in seconds: a {type(value).__name__}")
    return _dt.timedelta(seconds=value)


# --- shape hooks ----------------------------------------------------------------------------


def read_rows(value: Any) -> Iterable[Mapping[str, Any]]:
    """Return a list of JSON objects, treating ``null`` as empty."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    return value


_rows = read_rows


def _optional(value: Any, hook: Callable[[Any, object], T]) -> T | None:
    return None if value is None else hook(value, None)


def _text(value: Any) -> str | None:
    """Read an optional string."""
    return _optional(value, _str)


def _texts(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"expected a list of str, got {type(value).__name__}")
    return tuple(_str(v, None) for v in value)


def _number(value: Any) -> int | None:
    """Read an optional integer."""
    return None if value is None else read_int(value)


def _times(c: cattrs.Converter) -> Callable[[Any], _dt.datetime | None]:
    """Return the reader of an optional time as ``c``'s generation writes times."""
    time = c.get_structure_hook(_dt.datetime)

    def when(value: Any) -> _dt.datetime | None:
        return None if value is None else time(value, _dt.datetime)

    return when


def _audit(
    d: Mapping[str, Any], when: Callable[[Any], _dt.datetime | None]
) -> tuple[str | None, _dt.datetime | None, str | None, _dt.datetime | None]:
    """Read who made a row and when, and who changed it last and when, in the models' order
    (``creator``, ``create_time``, ``last_modify_user``, ``last_modify_time``)."""
    return (
        _text(d.get("creator")),
        when(d.get("create_time")),
        _text(d.get("last_modify_user")),
        when(d.get("last_modify_time")),
    )


#: Below this an epoch number is seconds, at or above it milliseconds (1e11 s is year 5138).
_SECONDS_BELOW = 10**11


def _epoch_seconds(value: Any) -> _dt.datetime:
    """Read a plan's time: bk-job stores plans' times in epoch **seconds** (``TaskPlanDAOImpl``
    writes ``currentTimeSeconds``; v2 formats them ``ChronoUnit.SECONDS``) although the gateway
    doc's example shows milliseconds; a value too large for seconds is read as milliseconds."""
    if not is_number(value):
        raise ValueError(f"not an epoch time: a {type(value).__name__}")
    if abs(value) >= _SECONDS_BELOW:
        return _epoch_ms(value)
    return _EPOCH + _dt.timedelta(seconds=value)


def _targets(d: Any) -> Targets | None:
    """Read a v3 ``server`` (``EsbServerV3DTO``) or v2 ``ip_list``/``custom_query_id`` rows."""
    if not isinstance(d, dict):
        return None
    ids = [_int(i, None) for i in _rows(d.get("host_id_list"))]
    ips = []
    for row in _rows(d.get("ip_list")):
        cloud, host_id = row.get("bk_cloud_id"), row.get("bk_host_id")
        if row.get("ip") and (cloud is not None or host_id is None):
            # (a null cloud area beside no host id: bk-job's default area, 0)
            ips.append((0 if cloud is None else _int(cloud, None), _str(row["ip"], None)))
        elif host_id is not None:
            ids.append(_int(host_id, None))
    groups = [
        _str(g["id"] if isinstance(g, dict) else g, None)
        for g in _rows(d.get("dynamic_group_list") or d.get("custom_query_id"))
    ]
    nodes = [
        (_str(n["node_type"], None), _int(n["id"], None)) for n in _rows(d.get("topo_node_list"))
    ]
    targets = Targets(host_ids=ids, ips=ips, dynamic_group_ids=groups, topo_nodes=nodes)
    return targets if targets else None


def _page(cls: Any, item: Callable[[Any], Any]) -> Callable[[Any, object], Any]:
    """Read ``EsbPageDataV3``: ``{start, length, total, data}`` (``data`` may be null)."""

    def page(d: Mapping[str, Any], _: object) -> Any:
        return cls(
            _int(d.get("start") or 0, None),
            _int(d.get("length") or 0, None),
            _int(d.get("total") or 0, None),
            tuple([item(row) for row in _rows(d.get("data"))]),
        )

    return page


def _epoch_time(value: Any) -> _dt.datetime | None:
    """Read an optional epoch time as ``_epoch_seconds`` does (seconds, or milliseconds)."""
    return None if value is None else _epoch_seconds(value)


def _utc_text(value: Any) -> _dt.datetime:
    """Read a v2 time string that bk-job formats in UTC (not the server's zone)."""
    return _datetime_hook(_UTC)(value, None)
