"""Pure: a fenced commit as the ``COMMIT`` script takes it (keys, arguments) and its reply; no I/O.

A commit is fenced by a ``Lease``: Redis applies it only while the lease key is still this
holder's and no newer token was issued for the partition (``_scripts.COMMIT``). Its events are
``NewEvent``s, appended to their watches' streams in the same round trip. A job's commit
(``guard``) is applied only while the job is in its watch, and the one of its end takes it out;
a versioned one only over the version it replaces, so sent twice or late it changes nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import JobGoneError, LeaseLostError
from ._keys import JobRef, check_scope, check_watch, job_member

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ._client import Cluster

__all__ = [
    "MAX_EVENT_ID",
    "Lease",
    "NewEvent",
    "check_event_id",
    "commit_request",
    "dumps",
    "encode_events",
    "guard",
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


def guard(
    job: JobRef | None, watch: str | None, end: bool, version: tuple[str, str] | None = None
) -> tuple[str, str, bool, str, str] | None:
    """Return the job part of a commit request: its member, its watch, whether it ends, the
    version it replaces and its own (``''``: not versioned)."""
    if job is None and watch is None:
        if end or version:
            raise ValueError("end=True and version need the job and its watch")
        return None
    if job is None or watch is None:
        raise ValueError("a job's commit needs both job and watch")
    scope, job_id = job
    replaces, own = version or ("", "")
    if version is not None and (not isinstance(own, str) or not own or own == replaces):
        raise ValueError("a write's version must be a new non-empty str")
    return job_member(check_scope(scope), job_id), check_watch(watch), bool(end), replaces, own


def commit_request(
    cluster: Cluster,
    lease: Lease,
    state: Mapping[str, str],
    delete: Iterable[str],
    events: Iterable[tuple[str, str, str]],
    job: tuple[str, str, bool, str, str] | None = None,
) -> tuple[list[str], list[Any]]:
    """Return the keys and arguments of the ``COMMIT`` script for one fenced write: ``events``
    are ``(watch, event_id, payload as JSON text)``, ``job`` what ``guard`` returns for a job's
    own write."""
    k = cluster.keys
    streams: dict[str, int] = {}
    event_args: list[Any] = []
    for watch, event_id, body in events:
        event_args += [streams.setdefault(k.events(watch), len(streams) + 1), event_id, body]
    delete = tuple(delete)
    keys = [k.lease(lease.partition), k.fence, k.state(lease.partition), *streams]
    args: list[Any] = [lease.value, lease.partition, lease.token, cluster.stream_maxlen]
    args += [len(state), len(delete), len(event_args) // 3]
    if job is None:
        args += ["", "", "0", 0, "", ""]
    else:
        member, watch, end, replaces, own = job
        args += [member, watch, "1" if end else "0", len(keys) + 1, replaces, own]
        keys += [k.part(lease.partition), k.partver, k.watches, k.watch_jobs(watch)]
    for field, value in state.items():
        args += [field, value]
    args += [*delete, *event_args]
    return keys, args


def encode_events(events: Iterable[NewEvent]) -> list[tuple[str, str, str]]:
    """Return ``events`` as ``commit_request`` takes them, each payload as JSON text."""
    encoded = []
    for event in events:
        if not isinstance(event, NewEvent):
            raise TypeError(f"events must be NewEvent, not {type(event).__name__}")
        check_event_id(event.event_id)
        encoded.append((check_watch(event.watch), event.event_id, dumps(event.payload)))
    return encoded


def check_event_id(event_id: object) -> None:
    """Raise unless ``event_id`` is a str of 1 to ``MAX_EVENT_ID`` characters."""
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID:
        raise ValueError(f"an event_id must be a str of 1-{MAX_EVENT_ID} characters")


def read_reply(lease: Lease, reply: Any, version: str = "") -> list[str]:
    """Return the stream ids of an applied commit (none if it was applied before: nothing
    appended again); raise why one was not applied.

    A write's ``version`` made as ``Holdings.version`` makes them (``NONCE.N``, ``N`` counting
    one writer's writes) was applied before if Redis holds it or a later one of the same
    writer: each of a job's writes replaces the one before it, so that one had landed.

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
