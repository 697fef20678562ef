"""Pure: a fenced write (``Fenced``) as the ``COMMIT`` script takes it, and its reply; no I/O.

What Redis applies of a write, and when, is ``_scripts.COMMIT``'s rule (a valid lease; a job
still in its watch; a version that replaces the stored one, so a write sent twice lands once).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from ..config import check_scope
from ._errors import JobGoneError, LeaseLostError
from ._holdings import Member
from ._keys import JobRef, check_watch, job_member

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ._connect import Plumbing

__all__ = [
    "MAX_EVENT_ID",
    "Fenced",
    "Lease",
    "NewEvent",
    "check_event_id",
    "checked_write",
    "commit_request",
    "dumps",
    "read_reply",
]

MAX_EVENT_ID = 512


@attrs.frozen
class Lease:
    """A partition held by a worker: valid for writes until ``deadline`` (its own monotonic
    clock: the time before the acquiring or renewing command was sent, plus TTL, less a margin).
    """

    partition: int
    token: int
    holder: str
    deadline: float

    @property
    def value(self) -> str:
        """Return the lease key's value in Redis."""
        return f"{self.holder}:{self.token}"


@attrs.frozen
class NewEvent:
    """An event to append: ``payload`` is any JSON value; ``event_id`` is its identity."""

    watch: str
    event_id: str
    payload: Any


def dumps(value: Any) -> str:
    """Return ``value`` as compact JSON text; raise ``ValueError`` (``nan``) or ``TypeError``
    if it is not a JSON value."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"not a JSON value: {exc}") from None


@attrs.define(eq=False, kw_only=True)
class Fenced:
    """One fenced write in the queue: fields of partition ``part``'s state set and deleted,
    events appended (``commit_request``); with ``member``, a write of ``job`` in ``watch``
    (``end``: its last) made while the job was held as ``member``, replacing its stored
    ``version[0]`` by ``version[1]``. ``settled``: its outcome is known (applied, or refused
    before sending): never sent again."""

    part: int
    state: dict[str, str] = attrs.field(factory=dict)
    delete: tuple[str, ...] = ()
    events: tuple[tuple[str, str, str], ...] = ()
    job: JobRef | None = None
    watch: str | None = None
    end: bool = False
    member: Member | None = None
    version: tuple[str, str] | None = None
    settled: bool = attrs.field(default=False, init=False)


def commit_request(cluster: Plumbing, lease: Lease, write: Fenced) -> tuple[list[str], list[Any]]:
    """Return the keys and arguments of the ``COMMIT`` script for ``write`` under ``lease``."""
    k = cluster.keys
    streams: dict[str, int] = {}
    event_args: list[Any] = []
    for watch, event_id, body in write.events:
        event_args += [streams.setdefault(k.events(watch), len(streams) + 1), event_id, body]
    keys = [k.lease(lease.partition), k.fence, k.state(lease.partition), *streams]
    args: list[Any] = [lease.value, lease.partition, lease.token, cluster.stream_maxlen]
    args += [len(write.state), len(write.delete), len(event_args) // 3]
    if write.job is None or write.watch is None:
        args += ["", "", "0", 0, "", ""]
    else:
        replaces, own = write.version or ("", "")
        member, end = job_member(*write.job), "1" if write.end else "0"
        args += [member, write.watch, end, len(keys) + 1, replaces, own]
        keys += [k.part(lease.partition), k.partver, k.watches, k.watch_jobs(write.watch)]
    for field, value in write.state.items():
        args += [field, value]
    args += [*write.delete, *event_args]
    return keys, args


def checked_write(
    partition: int,
    state: Mapping[str, str] | None,
    delete: Iterable[str],
    events: Iterable[NewEvent],
    job: JobRef | None,
    watch: str | None,
    end: bool,
    version: tuple[str, str] | None,
) -> Fenced:
    """Return a write of partition ``partition`` made of ``Cluster.commit``'s arguments,
    checked, its events encoded."""
    state, delete = dict(state or {}), tuple(delete)
    if not all(isinstance(f, str) and isinstance(v, str) for f, v in state.items()):
        raise TypeError("state must map str fields to str values")
    if not all(isinstance(field, str) for field in delete):
        raise TypeError("delete must hold str fields")
    if (job is None) != (watch is None) or (job is None and (end or version)):
        raise ValueError("a job's commit needs both job and watch (as end and version do)")
    if job is not None:
        check_scope(job[0])
        check_watch(watch)
    if version is not None and (not isinstance(version[1], str) or version[1] in ("", version[0])):
        raise ValueError("a write's version must be a new non-empty str")
    encoded = []
    for event in events:
        if not isinstance(event, NewEvent):
            raise TypeError(f"events must be NewEvent, not {type(event).__name__}")
        check_event_id(event.event_id)
        encoded.append((check_watch(event.watch), event.event_id, dumps(event.payload)))
    return Fenced(
        part=partition,
        state=state,
        delete=delete,
        events=tuple(encoded),
        job=job,
        watch=watch,
        end=bool(end),
        version=version,
    )


def check_event_id(event_id: object) -> None:
    """Raise unless ``event_id`` is a str of 1 to ``MAX_EVENT_ID`` characters."""
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID:
        raise ValueError(f"an event_id must be a str of 1-{MAX_EVENT_ID} characters")


def read_reply(lease: Lease, reply: Any, version: str = "") -> list[str]:
    """Return the stream ids of an applied commit (none if it was applied before: nothing
    appended again); raise why one was not applied. A write's ``version`` (``NONCE.N``,
    ``Holdings.version``) was applied before if Redis holds it or a later one of its writer.

    :raises LeaseLostError: the lease is not this holder's, or a newer token exists.
    :raises JobGoneError: the job is not in its watch (cancelled, or its end written), or
        its stored version is not the one the write replaces (``reason`` ``"stale"``).
    """
    if int(reply[0]) in (1, 3):
        return [str(i) for i in reply[1:]]
    if int(reply[0]) == 2:
        reason = str(reply[1])
        if reason == "stale" and _later(str(reply[2]), version):
            return []
        what = "is no longer in its watch" if reason == "gone" else "was written since"
        raise JobGoneError(
            f"partition {lease.partition}: the job {what}; not writing",
            partition=lease.partition,
            reason=reason,
            stored=str(reply[2]) if reason == "stale" else "",
        )
    reason, detail = str(reply[1]), str(reply[2])
    raise LeaseLostError(
        f"partition {lease.partition}: write with token {lease.token} refused ({reason}; "
        f"Redis has {detail or 'no lease'!s})",
        partition=lease.partition,
        token=lease.token,
        reason=reason,
    )


def _later(stored: str, version: str) -> bool:
    """Whether ``stored`` is ``version`` or a later version of the same writer."""
    nonce, _, n = version.rpartition(".")
    other, _, m = stored.rpartition(".")
    return bool(nonce) and nonce == other and m.isdigit() and n.isdigit() and int(m) >= int(n)
