"""Pure: a watch's stream entries as typed events, through the one codec (``polling._codec``); no I/O.

An entry's payload is ``encode_event``'s data (``"v"``: its format) plus, for a
``JobFinished``, the wire dialect and time zone its raw answer is read with (``"g"``,
``"z"``). An entry that
is not such data (written before this format, of a newer one, or whose ``event_id`` is not
the one its data makes) is never misread: reading it raises ``StreamFormatError``.
"""

from __future__ import annotations

import datetime as _dt
import zoneinfo
from typing import TYPE_CHECKING, Any

import attrs

from .. import _json
from .._converter import Generation, structure
from ..polling._codec import STORED, decode_event, encode_event
from ..polling.events import Event, JobFinished, WatchFailed
from ._errors import StreamFormatError

if TYPE_CHECKING:
    from .._protocol import Protocol

__all__ = ["Delivery", "decode_entry", "encode_entry", "kept", "wire_of"]


@attrs.frozen
class Delivery:
    """One entry of a watch's stream, read: its event and where it came from.

    :param event: the event, as the worker's engine saw it.
    :param stream_id: the Redis Stream entry id.
    :param partition: the partition whose lease holder published it.
    :param token: that holder's fencing token.
    :param redelivered: read from a pending list (claimed or after a restart), not new.
    """

    event: Event
    stream_id: str
    partition: int
    token: int
    redelivered: bool = False


def wire_of(protocol: Protocol) -> dict[str, Any]:
    """Return what a reader needs to read ``protocol``'s raw answers: dialect and time zone."""
    tz, zone = protocol.server_tz, getattr(protocol.server_tz, "key", None)
    if not isinstance(zone, str):
        offset = tz.utcoffset(None)
        if offset is None:
            raise ValueError(f"server_tz {tz!r} is neither a zone (key) nor a fixed offset")
        zone = offset.total_seconds()
    return {"g": protocol.generation.value, "z": zone}


def kept(event: Event) -> bool:
    """Whether ``event`` goes to a watch's stream (the others are about one process)."""
    return isinstance(event, (*STORED, WatchFailed))


def encode_entry(event: Event, raw: Any, wire: dict[str, Any]) -> dict[str, Any]:
    """Return the payload of ``event`` in a stream (``raw``: a ``JobFinished``'s answer)."""
    data = encode_event(event, raw)
    return {**data, **wire} if isinstance(event, JobFinished) else data


def decode_entry(
    watch: str, key: str, stream_id: str, fields: dict[str, str], *, redelivered: bool = False
) -> Delivery:
    """Return the event of one entry of stream ``key`` (watch ``watch``).

    :raises StreamFormatError: the entry is not an event of this format.
    """
    try:
        data = _json.loads(fields["p"])
        if not isinstance(data, dict) or "v" not in data:
            raise ValueError("written by an older bkjob-async (its payload has no format)")
        event = _decode(data)
        if event.event_id != fields["id"]:
            raise ValueError(f"its data makes event_id {event.event_id!r}, not {fields['id']!r}")
        return Delivery(event, stream_id, int(fields["part"]), int(fields["tok"]), redelivered)
    except (KeyError, TypeError, ValueError) as exc:  # (ZoneInfoNotFoundError is a KeyError)
        raise StreamFormatError(
            f"watch {watch!r}: entry {stream_id} of stream {key} cannot be read ({exc}); "
            "it is left pending (EventStream.skip acknowledges it)",
            watch=watch,
            stream_id=stream_id,
        ) from None


def _decode(data: dict[str, Any]) -> Event:
    def parse(raw: Any, cls: type[Any]) -> Any:
        """Read a ``JobFinished``'s raw answer as the worker's client did."""
        zone = data["z"]
        offset = None if isinstance(zone, str) else _dt.timedelta(seconds=zone)
        tz = zoneinfo.ZoneInfo(zone) if offset is None else _dt.timezone(offset)
        return structure(raw, cls, Generation(data["g"]), tz)

    return decode_event(data, parse)
