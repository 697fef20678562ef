"""Pure: names, validation and key layout of one cluster in Redis; no I/O here.

Every key of cluster ``NAME`` starts with ``bkjob:{NAME}:``. The braces are a Redis Cluster hash
tag, so all keys of one cluster live in one slot and every Lua script may touch any of them.

===============================  ======  ====================================================
key                              type    holds
===============================  ======  ====================================================
``epoch``                        string  a random nonce; missing means Redis was wiped
``config``                       hash    ``partitions``: fixed when the cluster is first used
``watches``                      set     watch names
``watch:W:jobs``                 set     job members ``TYPE:SCOPE:JOB`` of watch ``W``
``part:P``                       set     ``TYPE:SCOPE:JOB:W`` for every job of partition ``P``
``partver``                      hash    ``P`` -> a counter bumped on each change of ``part:P``
``events:W``                     stream  events of watch ``W`` (fields ``id``, ``p``, ``part``,
                                         ``tok``), read through consumer groups
``dead:W``                       stream  events of ``W`` a group gave up on (``max_deliveries``)
``members``                      zset    worker id -> expiry of its heartbeat (server ms)
``caps``                         hash    worker id -> its ``max_partitions``, if it has one
``lease:P``                      string  ``WORKER:TOKEN`` with a TTL: who holds partition ``P``
``fence``                        hash    ``P`` -> highest fencing token issued for ``P``;
                                         ``h:P`` -> the worker it was issued to
``state:P``                      hash    fenced state of partition ``P``, of each job ``J``
                                         (``TYPE:SCOPE:JOB``) in watch ``W``: ``s:J:W`` its
                                         tracker state, ``v:J:W`` its version (``COMMIT``),
                                         ``e:J:W\\nEVENT_ID`` a pending event ``[seq, payload]``
``named``                        set     watch names a ``RedisStore`` created (even empty)
``rate``                         hash    the shared rate budget (GCRA and throttle state)
===============================  ======  ====================================================
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

from .._checks import check_watch
from ..config import Scope, ScopeType, check_id

__all__ = [
    "MAX_PARTITIONS",
    "MIN_PARTITIONS",
    "JobRef",
    "Keys",
    "check_name",
    "check_watch",
    "job_ids",
    "job_member",
    "parse_job_member",
    "parse_partition_member",
    "parse_pending_field",
    "partition_member",
    "partition_of",
    "pending_field",
    "state_field",
    "version_field",
]

MIN_PARTITIONS = 64
MAX_PARTITIONS = 256

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")

#: ``(scope, job_instance_id)``: one job as the cluster knows it.
JobRef = tuple[Scope, int]


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is a valid cluster, group, consumer or worker name, else raise."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{what} must be 1-100 characters of letters, digits, '_', '.' or '-', got {value!r}"
        )
    return value


def job_ids(ids: object) -> tuple[int, ...]:
    """Return the job instance ids of ``ids`` (an iterable of positive ints), deduplicated."""
    if isinstance(ids, (int, str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"ids must be an iterable of job instance ids, not {type(ids).__name__}")
    checked = tuple(dict.fromkeys(check_id(i, "job instance id") for i in ids))
    if not checked:
        raise ValueError("ids must name at least one job instance")
    return checked


def job_member(scope: Scope, job_id: int) -> str:
    """Return the stable text of one job: ``biz:2:123``."""
    return f"{scope.type.value}:{scope.id}:{job_id}"


def partition_member(scope: Scope, job_id: int, watch: str) -> str:
    """Return the member of a partition set: ``biz:2:123:WATCH`` (the watch may hold ``:``)."""
    return f"{job_member(scope, job_id)}:{watch}"


def parse_partition_member(text: str) -> tuple[JobRef, str]:
    """Return ``((scope, job id), watch)`` from ``partition_member``'s text."""
    kind, scope_id, job_id, watch = text.split(":", 3)
    return (Scope(ScopeType(kind), int(scope_id)), int(job_id)), watch


def parse_job_member(text: str) -> JobRef:
    """Return ``(scope, job id)`` from ``job_member``'s text."""
    kind, scope_id, job_id = text.split(":", 2)
    return Scope(ScopeType(kind), int(scope_id)), int(job_id)


def state_field(job: JobRef, watch: str) -> str:
    """Return the ``state:P`` field of a job's tracker state in ``watch``."""
    return "s:" + partition_member(job[0], job[1], watch)


def version_field(job: JobRef, watch: str) -> str:
    """Return the ``state:P`` field of the version of a job's tracker state in ``watch``."""
    return "v:" + partition_member(job[0], job[1], watch)


def pending_field(job: JobRef, watch: str, event_id: str) -> str:
    """Return the ``state:P`` field of a pending event; a watch name has no newline, so the
    first one ends the job's part (what ``SUBMIT`` deletes a removed job's events by)."""
    return f"e:{partition_member(job[0], job[1], watch)}\n{event_id}"


def parse_pending_field(field: str) -> tuple[JobRef, str, str]:
    """Return ``(job, watch, event_id)`` of a ``pending_field``."""
    member, event_id = field[2:].split("\n", 1)
    job, watch = parse_partition_member(member)
    return job, watch, event_id


def partition_of(scope: Scope, job_id: int, partitions: int) -> int:
    """Return the partition of a job: CRC-32 of its member text, modulo ``partitions``.

    The same in every process, Python version and restart (unlike ``hash()`` of a str).
    """
    return zlib.crc32(job_member(scope, job_id).encode()) % partitions


class Keys:
    """The key names of one cluster (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.prefix = f"bkjob:{{{name}}}:"
        self.epoch = self.prefix + "epoch"
        self.config = self.prefix + "config"
        self.watches = self.prefix + "watches"
        self.partver = self.prefix + "partver"
        self.members = self.prefix + "members"
        self.caps = self.prefix + "caps"
        self.fence = self.prefix + "fence"
        self.rate = self.prefix + "rate"
        self.named = self.prefix + "named"

    def watch_jobs(self, watch: str) -> str:
        return f"{self.prefix}watch:{watch}:jobs"

    def part(self, partition: int) -> str:
        return f"{self.prefix}part:{partition}"

    def events(self, watch: str) -> str:
        return f"{self.prefix}events:{watch}"

    def dead(self, watch: str) -> str:
        return f"{self.prefix}dead:{watch}"

    def lease(self, partition: int) -> str:
        return f"{self.prefix}lease:{partition}"

    def state(self, partition: int) -> str:
        return f"{self.prefix}state:{partition}"
