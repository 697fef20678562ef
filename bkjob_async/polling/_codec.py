"""The one codec of stored events and tracker states: JSON data, and back, versioned; pure, no I/O.

A stored event keeps everything its ``event_id`` is made of, plus what the consumer reads:
``observed_at``, a host's ``HostResult`` fields (a container's ``ContainerResult``'s), and for ``JobFinished`` the raw answer its
snapshot was parsed from (parsed again on the way back, by the same protocol); a stream's
``WatchFailed`` keeps its error's type and message. A state keeps its hosts' keys and codes as
pairs (a container's key ``["container", id]``), and its visit counts. Each says its format (``"v"``, ``FORMAT``; none: format 1); data of
a newer format is refused with a ``ValueError`` that says so, never misread.

Format 1 (bkjob-async before event ids were made of visits) is read: its events keep the
``event_id`` they were first handed out with (consumers dedupe on it, and acks name it), and its
states, which counted observations instead of visits, are read with no explicit visit counts (as
if every status had been reached once in its round).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from .. import errors
from ..models import (
    Container,
    ContainerResult,
    Host,
    HostKey,
    HostResult,
    HostStatus,
    JobInstanceStatus,
    JobStatus,
)
from ._tracker import Count, JobState, StepState, Visits, pack_codes, pack_keys
from .events import (
    ContainerTransition,
    Event,
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
    WatchFailed,
    _host_place,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from .stores import StoredWatch

__all__ = [
    "FORMAT",
    "STORED",
    "decode_event",
    "encode_event",
    "from_data",
    "open_jobs",
    "to_data",
]

#: The format ``encode_event`` and ``to_data`` write; they read it and every older one.
FORMAT = 2

#: The event classes a named watch commits to its store (the others are about this process).
STORED = (HostTransition, ContainerTransition, StepTransition, JobTransition, JobFinished)


def open_jobs(stored: StoredWatch) -> tuple[int, ...]:
    """Return the jobs a resumed watch follows to their end, in add order: those not finished
    in their stored state, and those whose ``JobFinished`` is still to be delivered."""
    final = {
        e.job[1]
        for e in stored.pending
        if isinstance(e.payload, dict) and e.payload.get("k") == "f"
    }
    return tuple(
        job
        for (_, job), state in stored.jobs.items()
        if job in final or not isinstance(state, dict) or state.get("finished") is not True
    )


def _time(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _times(result: HostResult | ContainerResult) -> list[Any]:
    """Return a result's start, end and total time as JSON data (``_parse_times`` reads them)."""
    total = result.total_time
    return [
        _time(result.start_time),
        _time(result.end_time),
        None if total is None else total.total_seconds(),
    ]


def _parse_times(
    start: str | None, end: str | None, total: float | None
) -> tuple[_dt.datetime | None, _dt.datetime | None, _dt.timedelta | None]:
    return (
        _parse_time(start),
        _parse_time(end),
        None if total is None else _dt.timedelta(seconds=total),
    )


def _parse_time(value: str | None) -> _dt.datetime | None:
    return None if value is None else _dt.datetime.fromisoformat(value)


def _opt(value: int | None) -> int | None:
    return None if value is None else int(value)


def _step_fields(event: HostTransition | ContainerTransition | StepTransition) -> dict[str, Any]:
    """Return what a step's, a host's and a container's transition all write."""
    return {
        "n": event.visit,
        "s": event.step_instance_id,
        "x": event.execute_count,
        "p": _opt(event.previous),
        "c": int(event.current),
    }


def encode_event(event: Event, raw: Any = None) -> dict[str, Any]:
    """Return ``event`` as JSON data; ``raw`` is the answer a ``JobFinished`` was parsed from."""
    data: dict[str, Any] = {
        "v": FORMAT,
        "j": event.job_instance_id,
        "t": event.observed_at.isoformat(),
    }
    if isinstance(event, HostTransition):
        host, result = event.host, event.result
        data.update(
            k="h",
            **_step_fields(event),
            host=[host.bk_host_id, host.ip, host.bk_cloud_id, host.ipv6, host.bk_agent_id],
            r=[result.tag, result.exit_code, result.error_code, *_times(result)],
        )
    elif isinstance(event, ContainerTransition):
        box, done = event.container, event.result
        data.update(
            k="c",
            **_step_fields(event),
            ct=[box.id, box.container_id, box.name, box.node_host_id],
            r=[done.tag, done.exit_code, *_times(done)],
        )
    elif isinstance(event, StepTransition):
        data.update(k="s", **_step_fields(event))
    elif isinstance(event, JobTransition):
        data.update(
            k="j", n=event.visit, rd=event.round, p=_opt(event.previous), c=int(event.current)
        )
    elif isinstance(event, JobFinished):
        data.update(k="f", n=event.visit, rd=event.round, c=int(event.status), raw=raw)
    elif isinstance(event, WatchFailed):  # (a stream's, never a store's)
        data.update(k="x", o=event.occurrence, e=type(event.error).__name__, m=str(event.error))
    else:
        raise TypeError(f"{type(event).__name__} is not kept in a store")
    return data


def decode_event(data: Any, parse: Callable[[Any, type[Any]], Any]) -> Event:
    """Rebuild an event from ``encode_event`` output (``ValueError`` if it is not such data);
    ``parse(raw, cls)`` reads a ``JobFinished``'s raw answer (``Protocol.parse``)."""
    try:
        return _decode(data, parse)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"not a stored event: {type(exc).__name__}: {exc}") from None


def _check_format(data: dict[str, Any], what: str = "event") -> None:
    """Raise ``ValueError`` for data of a format newer than ``FORMAT`` (none: format 1)."""
    version = data.get("v", 1)
    if not isinstance(version, int) or version > FORMAT:
        raise ValueError(
            f"the {what} is of format {version!r}, written by a newer bkjob-async (this one"
            f" reads up to {FORMAT}); upgrade bkjob-async to read it"
        )


def _decode(data: dict[str, Any], parse: Callable[[Any, type[Any]], Any]) -> Event:
    _check_format(data)
    job, kind = data["j"], data["k"]
    at = _dt.datetime.fromisoformat(data["t"])
    if kind == "x":
        return WatchFailed(
            int(job), at, _error(str(data["e"]), str(data["m"])), occurrence=int(data["o"])
        )
    old = data.get("v", 1) == 1  # (its id counted observations: ``occurrence``)
    marks: dict[str, Any] = {"_id": _format1_id(data)} if old else {"visit": _count(data["n"])}
    if kind in ("j", "f") and not old:
        marks["round"] = _int(data["rd"])
    event: Event
    if kind == "h":
        host_id, ip, cloud, ipv6, agent = data["host"]
        host = Host(bk_host_id=host_id, ip=ip, bk_cloud_id=cloud, ipv6=ipv6, bk_agent_id=agent)
        tag, exit_code, error_code, *times = data["r"]
        current = HostStatus(data["c"])
        result = HostResult(host, current, tag, exit_code, error_code, *_parse_times(*times))
        previous = None if data["p"] is None else HostStatus(data["p"])
        event = HostTransition(
            job, at, data["s"], data["x"], host, previous, current, result, **marks
        )
    elif kind == "c":
        event = _container(job, at, data, marks)
    elif kind == "s":
        was = None if data["p"] is None else JobStatus(data["p"])
        event = StepTransition(job, at, data["s"], data["x"], was, JobStatus(data["c"]), **marks)
    elif kind == "j":
        was = None if data["p"] is None else JobStatus(data["p"])
        event = JobTransition(job, at, was, JobStatus(data["c"]), **marks)
    elif kind == "f":
        snapshot = parse(data["raw"], JobInstanceStatus)
        event = JobFinished(job, at, JobStatus(data["c"]), snapshot, **marks)
    else:
        raise ValueError(f"unknown event kind {kind!r}")
    return event


def _container(job: int, at: _dt.datetime, data: dict[str, Any], marks: Any) -> Event:
    box_id, runtime, name, node = data["ct"]
    tag, exit_code, *times = data["r"]
    current = HostStatus(data["c"])
    box = Container(_int(box_id), runtime, name, node)
    result = ContainerResult(box, current, tag, exit_code, *_parse_times(*times))
    previous = None if data["p"] is None else HostStatus(data["p"])
    return ContainerTransition(
        job, at, data["s"], data["x"], result.container, previous, current, result, **marks
    )


def _format1_id(data: dict[str, Any]) -> str:
    """Return the ``event_id`` a format-1 event was handed out with (it counted observations)."""
    job, kind, occurrence = data["j"], data["k"], data["o"]
    change = f"{_status(data.get('p'))}-{_status(data['c'])}"
    if kind == "h":
        host_id, ip, cloud, ipv6, _ = data["host"]
        key: HostKey = host_id if host_id is not None else (cloud, ip, ipv6)
        return f"{job}/{data['s']}/{data['x']}/h{_host_place(key)}/{change}/{occurrence}"
    if kind == "s":
        return f"{job}/{data['s']}/{data['x']}/s/{change}/{occurrence}"
    if kind == "j":
        return f"{job}/j/{change}/{occurrence}"
    return f"{job}/finished/{data['c']}/{occurrence}"


def _status(value: Any) -> str:
    return "none" if value is None else str(int(value))


def _error(name: str, message: str) -> errors.BkJobError:
    """Return an error of type ``name`` (a ``BkJobError`` made anew if there is none)."""
    known = getattr(errors, name, None)
    cls = known if isinstance(known, type) and issubclass(known, errors.BkJobError) else None
    try:
        error = cls(message) if cls is not None else None
    except TypeError:  # (it needs more than a message)
        error = None
    return error if error is not None else type(name, (errors.BkJobError,), {})(message)


def to_data(state: JobState) -> dict[str, Any]:
    """Return a tracker state as JSON-able data (lists, ints, strings, ``None``), versioned."""
    return {
        "v": FORMAT,
        "status": state.status,
        "finished": state.finished,
        "seq": state.seq,
        "visits": [
            [_entity_data(who), at, [list(pair) for pair in counts]]
            for who, at, counts in state.visits
        ],
        "steps": [
            [
                step.step_instance_id,
                step.status,
                step.execute_count,
                [[_key_data(k), c] for k, c in zip(step.keys, step.codes, strict=True)],
            ]
            for step in state.steps
        ],
    }


def from_data(data: Any) -> JobState:
    """Rebuild a state from ``to_data`` output; raise ``ValueError`` if it is not such data."""
    try:
        _check_format(data, "state")
        steps: dict[int, StepState] = {}  # (one step or host twice: the last wins)
        for step_id, status, execute_count, hosts in data["steps"]:
            codes = {_key(k): _int(c) for k, c in hosts}
            steps[_int(step_id)] = StepState(
                _int(step_id),
                _int_or_none(status),
                _int(execute_count),
                pack_keys(list(codes)),
                pack_codes(list(codes.values())),
            )
        finished = data["finished"]
        if not isinstance(finished, bool):
            raise TypeError("finished must be a bool")
        return JobState(
            _int_or_none(data["status"]),
            finished,
            tuple(steps.values()),
            _int(data.get("seq", 0)),
            _visits(data.get("visits", ())),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a saved job state: {type(exc).__name__}: {exc}") from None


def _entity_data(who: Any) -> Any:
    if who is None or isinstance(who, int):
        return who  # the job, or a step
    step, key = who
    return [step, None if key is None else _key_data(key)]  # a host, or a round's mark


def _visits(data: Any) -> Visits:
    visits = []
    for who, at, counts in data:
        entity = (
            who
            if who is None or type(who) is int
            else (_int_or_none(who[0]), None if who[1] is None else _key(who[1]))
        )
        visits.append(
            Count(entity, _int(at), tuple((_int(status), _count(n)) for status, n in counts))
        )
    return tuple(visits)


def _count(value: Any) -> int:
    if type(value) is not int or value < 1:
        raise TypeError(f"expected a count >= 1, got {value!r}")
    return value


def _key_data(key: HostKey) -> Any:
    return key if isinstance(key, int) else list(key)


def _key(value: Any) -> HostKey:
    if isinstance(value, list) and len(value) == 3:
        return (value[0], value[1], value[2])  # (bk_cloud_id, ip, ipv6)
    if isinstance(value, list) and len(value) == 2 and value[0] == "container":
        return ("container", _int(value[1]))  # type: ignore[return-value]  # (a container)
    return _int(value)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an int, got {value!r}")
    return value


def _int_or_none(value: Any) -> int | None:
    return None if value is None else _int(value)
