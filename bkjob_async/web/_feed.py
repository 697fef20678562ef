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

from .._json import dumps
from ..models import HostStatus
from ..polling.events import (
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
)

if TYPE_CHECKING:
    from ..config import Scope
    from ..models import HostKey
    from ..polling.events import Event

__all__ = ["Entry", "Feed", "entry_of", "host_state", "host_text", "scope_text"]

#: ``(event id, job key text, JSON of the entry)``.
Entry = tuple[str, str, str]


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


def _name(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "name", value))


def entry_of(scope: Scope, event: Event) -> Entry:
    """Return the feed's entry of one event."""
    job = f"{scope_text(scope)}/{event.job_instance_id}"
    body: dict[str, Any] = {
        "id": event.event_id,
        "job": job,
        "at": event.observed_at.isoformat(timespec="milliseconds"),
    }
    if isinstance(event, HostTransition):
        result = event.result
        body.update(
            kind="host",
            step=event.step_instance_id,
            host=host_text(event.host.key),
            label=str(event.host),
            previous=_name(event.previous),
            current=_name(event.current),
            status=int(event.current),
            state=host_state(event.current),
            exit_code=result.exit_code,
            error_code=result.error_code,
        )
    elif isinstance(event, StepTransition):
        body.update(
            kind="step",
            step=event.step_instance_id,
            previous=_name(event.previous),
            current=_name(event.current),
        )
    elif isinstance(event, JobTransition):
        body.update(kind="job", previous=_name(event.previous), current=_name(event.current))
    elif isinstance(event, JobFinished):
        body.update(kind="finished", current=_name(event.status))
    elif isinstance(event, WatchFailed):
        body.update(kind="failed", current=type(event.error).__name__)
    elif isinstance(event, WatchTimedOut):
        body.update(kind="timed_out", current="timed out")
    return event.event_id, job, dumps(body)


class Feed:
    """The latest ``size`` entries, numbered; a stream reads on from a number or an id."""

    def __init__(self, size: int) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
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

    def add(self, entry: Entry) -> None:
        """Add one entry at the end."""
        self._entries.append(entry)
        self.end += 1

    def after(self, event_id: str) -> int | None:
        """Return the number after the entry of ``event_id`` (``None``: not held)."""
        entries = self._entries
        for back in range(len(entries) - 1, -1, -1):
            if entries[back][0] == event_id:
                return self.start + back + 1
        return None

    def last_id(self) -> str:
        """Return the id of the newest entry (``""``: none yet)."""
        return self._entries[-1][0] if self._entries else ""

    def read(self, number: int, limit: int) -> list[Entry]:
        """Return up to ``limit`` entries from ``number`` on (raise if it is no longer held)."""
        start = self.start
        if number < start:
            raise LookupError(number)
        first = number - start
        entries = self._entries
        return [entries[i] for i in range(first, min(len(entries), first + limit))]
