"""The live feed: the latest transitions in order, each under its stable event id; no I/O.

Rule: an entry is numbered in the order it came (``seq``) and named by the event's own
``event_id``, the ``id:`` of its server-sent event. A stream that reconnects with the last id
it had (``Last-Event-ID``) goes on right after that entry: nothing lost, nothing twice. An id
the feed no longer holds (too old, or the board started over) is told as such (``None``): the
stream says ``reset`` and the page reloads what it shows, never guessing.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from .. import _json
from ..models import HostStatus
from ..polling.events import (
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
    WatchFailed,
)

if TYPE_CHECKING:
    from ..config import Scope
    from ..models import HostKey
    from ..polling.events import Event

__all__ = ["Entry", "Feed", "Held", "entry_of", "host_state", "host_text", "scope_text"]

#: ``(event id, job key text, JSON of the entry)``.
Entry = tuple[str, str, str]
#: What the feed holds of an entry: the job's scope and the event.
Held = tuple["Scope", "Event"]


def scope_text(scope: Scope) -> str:
    """Return ``biz:2`` for a scope: how URLs and pages name it."""
    return f"{scope.type.value}:{scope.id}"


def host_text(key: HostKey) -> str:
    """Return a host key as text: its ``bk_host_id``, or ``cloud/ip/ipv6``."""
    if isinstance(key, int):
        return str(key)
    cloud, ip, ipv6 = key
    return f"{'' if cloud is None else cloud}/{ip or ''}/{ipv6 or ''}"


def host_state(status: HostStatus) -> str:
    """Return how a page colours a host: ``waiting``, ``running``, ``succeeded`` or ``failed``."""
    if not status.is_finished:
        return "running" if status is HostStatus.RUNNING else "waiting"
    return "succeeded" if status.is_success else "failed"


def _status(value: Any) -> str:
    """Return a status as a JSON string (its name; its number when bk-job sent an unknown one)."""
    if value is None:
        return "null"
    name = getattr(value, "name", None)
    return f'"{name}"' if name else f'"{int(value)}"'


class _Times:
    """The text of the last ``observed_at`` seen: every event of one poll shares it."""

    __slots__ = ("at", "text")

    def __init__(self) -> None:
        self.at: Any = None
        self.text = ""

    def of(self, at: Any) -> str:
        if at is not self.at:
            self.at, self.text = at, _json.quote(at.isoformat(timespec="milliseconds"))
        return self.text


_TIMES = _Times()


def entry_of(scope: Scope, event: Event) -> Entry:
    """Return the feed's entry of one event: its id, its job, and its JSON.

    Built by hand, on the dashboard's hottest path: a host's transition is read from what the
    poll decoded (``host_key``, ``current``) without structuring its host; the host's address,
    exit code and error code are read (structured) only when the host failed.
    """
    event_id = event.event_id
    job = f"{scope.type.value}:{scope.id}/{event.job_instance_id}"
    head = f'{{"id":{_json.quote(event_id)},"job":"{job}","at":{_TIMES.of(event.observed_at)},'
    if isinstance(event, HostTransition):
        current = event.current
        state = host_state(current)
        tail = ""
        if state == "failed":
            result = event.result
            tail = (
                f',"label":{_json.quote(str(result.host))},"exit_code":{_json.dumps(result.exit_code)}'
                f',"error_code":{_json.dumps(result.error_code)}'
            )
        body = (
            f'{head}"kind":"host","step":{event.step_instance_id},'
            f'"host":{_json.quote(host_text(event.host_key))},"previous":{_status(event.previous)},'
            f'"current":{_status(current)},"status":{int(current)},"state":"{state}"{tail}}}'
        )
    elif isinstance(event, StepTransition):
        body = (
            f'{head}"kind":"step","step":{event.step_instance_id},'
            f'"previous":{_status(event.previous)},"current":{_status(event.current)}}}'
        )
    elif isinstance(event, JobTransition):
        body = (
            f'{head}"kind":"job","previous":{_status(event.previous)},'
            f'"current":{_status(event.current)}}}'
        )
    elif isinstance(event, JobFinished):
        body = f'{head}"kind":"finished","current":{_status(event.status)}}}'
    elif isinstance(event, WatchFailed):
        body = f'{head}"kind":"failed","current":{_json.quote(type(event.error).__name__)}}}'
    else:
        body = f'{head}"kind":"timed_out","current":"timed out"}}'
    return event_id, job, body


class Feed:
    """The latest ``size`` events, numbered; a stream reads on from a number or an id.

    It keeps the events themselves (``(scope, event)``): an entry's JSON is made only when a
    stream sends it (``entry_of``), so what no page asks for costs nothing but its place.
    """

    def __init__(self, size: int) -> None:
        self._entries: deque[Held] = deque(maxlen=size)
        #: Entries ever added since the last restart: the next entry's number.
        self.end = 0
        #: Restarts so far: a stream that read an earlier generation starts over.
        self.generation = 0

    @property
    def start(self) -> int:
        """Return the number of the oldest entry held."""
        return self.end - len(self._entries)

    def restart(self) -> None:
        """Forget every entry: the board starts over (its ids no longer resume)."""
        self._entries.clear()
        self.end = 0
        self.generation += 1

    def add(self, scope: Scope, event: Event) -> None:
        """Add one event at the end."""
        self._entries.append((scope, event))
        self.end += 1

    def after(self, event_id: str) -> int | None:
        """Return the number after the entry of ``event_id`` (``None``: not held)."""
        entries = self._entries
        for back in range(len(entries) - 1, -1, -1):
            if entries[back][1].event_id == event_id:
                return self.start + back + 1
        return None

    def last_id(self) -> str:
        """Return the id of the newest entry (``""``: none yet)."""
        return self._entries[-1][1].event_id if self._entries else ""

    def read(self, number: int, limit: int) -> list[Held]:
        """Return up to ``limit`` entries from ``number`` on (raise if it is no longer held)."""
        start = self.start
        if number < start:
            raise LookupError(number)
        first = number - start
        entries = self._entries
        return [entries[i] for i in range(first, min(len(entries), first + limit))]
