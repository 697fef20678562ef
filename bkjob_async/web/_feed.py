"""The live feed: the latest transitions in order, each numbered, each with its event's id; no I/O.

Rule: an entry is numbered in the order it came and carries the event's own ``event_id`` in
its JSON. Its server-sent event's ``id:`` is a cursor, ``<feed>-<generation>.<number after
it>``: a stream that reconnects with the last cursor it had (``Last-Event-ID``) goes on right
after that entry, nothing lost, nothing twice. A cursor of another feed (the dashboard
restarted: a bk-job event id is the same in every process, a cursor is not), of an earlier
generation (the board started over, or was closed a while and missed events) or too old is
told as such (``None``): the stream says ``reset`` and the page reloads what it shows, never
guessing.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from .. import _json
from ..models import ContainerResult, HostStatus, JobStatus
from ..polling.events import (
    ContainerTransition,
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
    WatchFailed,
    container_event_id,
    host_event_id,
    is_container,
)

if TYPE_CHECKING:
    from ..config import Scope
    from ..models import HostKey
    from ..polling.events import Event

__all__ = [
    "Entry",
    "Feed",
    "Held",
    "entry_of",
    "failed_extra",
    "held_entry",
    "held_id",
    "held_job",
    "host_state",
    "host_text",
    "job_text",
]

#: ``(event id, job key text, JSON of the entry)``.
Entry = tuple[str, str, str]
#: An entry as the feed reads it out: ``(job text, job id, step, execute count, host key,
#: previous status, current status, visit, observed at, extra)`` of a host's or a container's
#: transition (its key ``Container.key``; ``extra``: ``(label, exit code, error code)`` of a
#: failed one, else ``None``); of any other event, ``(job text, job id, None, ..., (event id,
#: JSON))``.
Held = tuple[Any, ...]


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
    known = _NAMED.get(type(value))
    text = None if known is None else known.get(value)
    if text is not None:
        return text
    name = getattr(value, "name", None)
    return f'"{name}"' if name else f'"{int(value)}"'


#: ``_status`` of each status bk-job lists, by its enum (one lookup; an enum's ``name`` is a
#: property, and the two enums' numbers overlap).
_NAMED: dict[type, dict[Any, str]] = {
    kind: {s: f'"{s.name}"' for s in kind} for kind in (JobStatus, HostStatus)
}


def job_text(scope: Scope, job_instance_id: int) -> str:
    """Return ``biz:2/123``: how an entry and a page's filter name a job."""
    return f"{scope.type.value}:{scope.id}/{job_instance_id}"


class _Times:
    """The text of the last ``observed_at`` seen: every event of one poll shares it."""

    __slots__ = ("at", "text")

    def __init__(self) -> None:
        self.at: Any = None
        self.text = ""

    def of(self, at: Any) -> str:
        if at is not self.at:  # (an ISO time's characters need no escaping)
            # ``isoformat(timespec="milliseconds")`` (truncated), in half its time: the
            # fraction's last 3 digits cut, or ``.000`` put in where there is none.
            text = at.isoformat()
            text = text[:23] + text[26:] if at.microsecond else f"{text[:19]}.000{text[19:]}"
            self.at, self.text = at, f'"{text}"'
        return self.text


_TIMES = _Times()


def entry_of(scope: Scope, event: Event) -> Entry:
    """Return the feed's entry of one event: its id, its job, and its JSON.

    A host's (or a container's) transition goes as the feed sends what it holds of one
    (``held_entry``): read from what the poll decoded, its host structured only when it failed.
    """
    job = job_text(scope, event.job_instance_id)
    if isinstance(event, HostTransition | ContainerTransition):
        return held_entry(_held_host(job, event))
    event_id = event.event_id
    head = f'{{"id":{_json.quote(event_id)},"job":"{job}","at":{_TIMES.of(event.observed_at)},'
    if isinstance(event, StepTransition):
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


def failed_extra(event: HostTransition | ContainerTransition) -> tuple[str, Any, Any]:
    """Return ``(label, exit code, error code)`` of a failed host or container (a container
    has no error code)."""
    result = event.result
    if isinstance(result, ContainerResult):
        return str(result.container), result.exit_code, None
    return str(result.host), result.exit_code, result.error_code


def _held_host(job: str, event: HostTransition | ContainerTransition) -> Held:
    """Return what ``Feed.add_host`` keeps of a host's or container's transition, as one tuple."""
    extra = failed_extra(event) if host_state(event.current) == "failed" else None
    key = event.host_key if isinstance(event, HostTransition) else event.container_key
    return (
        job,
        event.job_instance_id,
        event.step_instance_id,
        event.execute_count,
        key,
        event.previous,
        event.current,
        event.visit,
        event.observed_at,
        extra,
    )


def held_job(held: Held) -> tuple[str, int]:
    """Return ``(job text, job id)`` of a held entry."""
    return held[0], held[1]


def held_id(held: Held) -> str:
    """Return the event id of a held entry."""
    _, job_id, step, count, key, _, current, visit, _, extra = held
    if step is None:
        return str(extra[0])
    if is_container(key):
        return container_event_id(job_id, step, count, key[1], int(current), visit)
    return host_event_id(job_id, step, count, key, int(current), visit)


#: ``"previous":...`` and ``"current":...,"status":...,"state":...`` of each host status an
#: entry names: one lookup each (an unknown code's are made as it comes).
_PREVIOUS: dict[HostStatus | None, str] = {
    None: '"previous":null',
    **{s: f'"previous":"{s.name}"' for s in HostStatus},
}
_CURRENT = {
    s: f'"current":"{s.name}","status":{int(s)},"state":"{host_state(s)}"' for s in HostStatus
}


def held_entry(held: Held) -> Entry:
    """Return the entry of a held event, its JSON made now (a stream is sending it)."""
    job, job_id, step, count, key, previous, status, visit, at, extra = held
    if step is None:
        return extra[0], job, extra[1]
    if type(key) is int and extra is None:  # (a host by its bk_host_id: the most, written out)
        before, now = _PREVIOUS.get(previous), _CURRENT.get(status)
        if before is not None and now is not None:
            again = "" if visit == 1 else f"#{visit}"  # (``host_event_id``, written out)
            event_id = f"{job_id}/{step}/{count}/h{key}/{int(status)}{again}"
            body = (
                f'{{"id":"{event_id}","job":"{job}","at":{_TIMES.of(at)},'
                f'"kind":"host","step":{step},"host":"{key}",{before},{now}}}'
            )
            return event_id, job, body
    event_id = held_id(held)
    state = host_state(status)
    tail = ""
    if extra is not None:
        label, exit_code, error_code = extra
        tail = (
            f',"label":{_json.quote(label)},"exit_code":{_json.dumps(exit_code)}'
            f',"error_code":{_json.dumps(error_code)}'
        )
    kind, text = ("container", str(key[1])) if is_container(key) else ("host", host_text(key))
    body = (
        f'{{"id":{_json.quote(event_id)},"job":"{job}","at":{_TIMES.of(at)},'
        f'"kind":"{kind}","step":{step},"{kind}":{_json.quote(text)},'
        f'"previous":{_status(previous)},'
        f'"current":{_status(status)},"status":{int(status)},"state":"{state}"{tail}}}'
    )
    return event_id, job, body


class Feed:
    """The latest ``size`` events, numbered; a stream reads on from a number or an id.

    It keeps plain values of each event in a ring of columns (``Held`` order), not the event:
    adding one allocates nothing the garbage collector counts or walks (an event kept whole
    holds its host's row; a tuple a host is one allocation more an event, each a step to the
    next collection). A host's transition's JSON is made only when a stream sends it
    (``held_entry``), once however many streams send it (``texts``), so what no page asks
    for costs nothing but its place.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a feed holds at least one entry")
        self.size = size
        #: This feed's own name: a cursor of another process's feed is never taken for one of it.
        self.boot = secrets.token_hex(4)
        self._restart()
        #: Entries ever added since the last restart: the next entry's number.
        self.end = 0
        #: Restarts so far: a stream that read an earlier generation starts over.
        self.generation = 0

    def _restart(self) -> None:
        size = self.size
        self._job: list[Any] = [None] * size
        self._job_id: list[Any] = [None] * size
        self._step: list[Any] = [None] * size
        self._count: list[Any] = [None] * size
        self._key: list[Any] = [None] * size
        self._previous: list[Any] = [None] * size
        self._current: list[Any] = [None] * size
        self._visit: list[Any] = [None] * size
        self._at: list[Any] = [None] * size
        self._extra: list[Any] = [None] * size
        #: Each entry's JSON once a stream made it (``texts``): made once for every stream.
        self._text: list[str | None] = [None] * size

    @property
    def start(self) -> int:
        """Return the number of the oldest entry held."""
        return max(0, self.end - self.size)

    def restart(self) -> None:
        """Forget every entry: the board starts over (its ids no longer resume)."""
        self._restart()
        self.end = 0
        self.generation += 1

    def add_host(self, job: str, event: HostTransition | ContainerTransition, failed: bool) -> None:
        """Add a host's (or a container's) transition at the end (``failed``: it failed; its
        address, exit code and error code are read now, structuring its row, as for no other
        host)."""
        end = self.end
        i = end % self.size
        self._job[i] = job
        self._job_id[i] = event.job_instance_id
        self._step[i] = event.step_instance_id
        self._count[i] = event.execute_count
        if isinstance(event, HostTransition):
            self._key[i] = event.host_key
        else:
            self._key[i] = event.container_key
        self._previous[i] = event.previous
        self._current[i] = event.current
        self._visit[i] = event.visit
        self._at[i] = event.observed_at
        self._extra[i] = failed_extra(event) if failed else None
        self._text[i] = None
        self.end = end + 1

    def add(self, job: str, scope: Scope, event: Event) -> None:
        """Add any other event at the end: its id and its JSON, made now (a few a job)."""
        event_id, _, body = entry_of(scope, event)
        i = self.end % self.size
        self._job[i], self._job_id[i], self._step[i] = job, event.job_instance_id, None
        self._key[i] = self._previous[i] = self._current[i] = self._at[i] = None
        self._extra[i] = (event_id, body)
        self._text[i] = body
        self.end += 1

    def _held(self, number: int) -> Held:
        i = number % self.size
        return (
            self._job[i],
            self._job_id[i],
            self._step[i],
            self._count[i],
            self._key[i],
            self._previous[i],
            self._current[i],
            self._visit[i],
            self._at[i],
            self._extra[i],
        )

    def cursor(self, number: int) -> str:
        """Return the cursor a stream resumes from to read entry ``number`` next."""
        return f"{self.boot}-{self.generation}.{number}"

    def number_of(self, cursor: str) -> int | None:
        """Return the number a ``cursor`` resumes from (``None``: not one of this feed's now)."""
        head, _, tail = cursor.rpartition(".")
        if head != f"{self.boot}-{self.generation}" or not tail.isdigit():
            return None
        number = int(tail)
        return number if self.start <= number <= self.end else None

    def forget_cursors(self) -> None:
        """Keep the entries, but resume no stream across this point (events were missed)."""
        self.generation += 1

    def note(self, job: str, note_id: str, body: str) -> None:
        """Add an entry of the dashboard's own (``body``: its JSON), e.g. a gap."""
        i = self.end % self.size
        self._job[i], self._job_id[i], self._step[i] = job, 0, None
        self._key[i] = self._previous[i] = self._current[i] = self._at[i] = None
        self._extra[i] = (note_id, body)
        self._text[i] = body
        self.end += 1

    def last_id(self) -> str:
        """Return the event id of the newest entry (``""``: none yet)."""
        return held_id(self._held(self.end - 1)) if self.end else ""

    def read(self, number: int, limit: int) -> list[Held]:
        """Return up to ``limit`` entries from ``number`` on (raise if it is no longer held)."""
        if number < self.start:
            raise LookupError(number)
        return [self._held(n) for n in range(number, min(self.end, number + limit))]

    def texts(self, number: int, limit: int) -> list[tuple[str, str]]:
        """Return up to ``limit`` entries from ``number`` on as ``(job text, JSON)``; an
        entry's JSON is made by the first stream that sends it, and kept for the others
        (raise if ``number`` is no longer held)."""
        if number < self.start:
            raise LookupError(number)
        found = []
        size, jobs, text, keys, extras = self.size, self._job, self._text, self._key, self._extra
        ids, steps, counts, visits = self._job_id, self._step, self._count, self._visit
        previous, current, ats, times = self._previous, self._current, self._at, _TIMES.of
        for n in range(number, min(self.end, number + limit)):
            i = n % size
            body = text[i]
            if body is None:
                key, step = keys[i], steps[i]
                if type(key) is int and extras[i] is None and step is not None:
                    # (``held_entry`` of a host by its bk_host_id, the most, written out)
                    before, status = _PREVIOUS.get(previous[i]), current[i]
                    now = _CURRENT.get(status)
                    if before is not None and now is not None:
                        visit = visits[i]
                        again = "" if visit == 1 else f"#{visit}"
                        body = (
                            f'{{"id":"{ids[i]}/{step}/{counts[i]}/h{key}/{int(status)}{again}",'
                            f'"job":"{jobs[i]}","at":{times(ats[i])},"kind":"host",'
                            f'"step":{step},"host":"{key}",{before},{now}}}'
                        )
                if body is None:
                    body = held_entry(self._held(n))[2]
                text[i] = body
            found.append((jobs[i], body))
        return found
