"""Rule: a rollout's bookkeeping and its decisions are pure; no I/O, no clock of its own.

What a rollout knows of each key (``Entry``: its launch, phase, job, deadline) and what it
decides from that: which keys to launch now (``Ledger.to_launch``), when a quota refusal holds
launches (``Gate``), how a task name carries a key (``task_name``), and the JSON a store or a
``check_rollout`` caller keeps between runs (``Entry.to_data``/``from_data``). Times are passed
in (``now``: seconds on the caller's clock; ``wall``: seconds since the epoch).

A key's phases: ``queued`` (submitted, nothing sent) -> ``intent`` (stored before the create
is sent) -> ``created`` (bk-job holds the job, not started: ``start_task=false``) ->
``started`` -> ``ended``. A key is never held twice: a key submitted again while held, or
once ended, is not queued again (client-go's workqueue).
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import TYPE_CHECKING, Any

import attrs

from .. import errors
from ..config import ApiFlavor, Scope
from ._launch import Launch

if TYPE_CHECKING:
    import random
    from collections.abc import Iterable, Iterator

__all__ = [
    "EXACT_FLAVORS",
    "Entry",
    "Gate",
    "Ledger",
    "entry_slot",
    "goes_exactly_once",
    "refuse_bad_rollout",
    "task_name",
    "to_send",
]


def refuse_bad_rollout(scope: object, key: object, max_running: object) -> None:
    """Refuse a rollout's ``scope`` (``TypeError``), ``key`` or ``max_running`` (``ValueError``)
    that is not what ``Rollout`` and ``rollout_state`` take."""
    if not isinstance(scope, Scope):
        raise TypeError(f"scope must be a Scope, not {type(scope).__name__}")
    if not isinstance(key, str) or not key or len(key) > 100 or not key.isprintable():
        raise ValueError("a rollout's key is 1-100 printable characters")
    if max_running is not None and (
        not isinstance(max_running, int) or isinstance(max_running, bool) or max_running < 1
    ):
        raise ValueError(f"max_running must be a positive int or None, not {max_running!r}")


#: The flavors with a job list to find a job by its task name: a launch there can go exactly once.
EXACT_FLAVORS = frozenset({ApiFlavor.APIGW_V3, ApiFlavor.ESB_JOBV3, ApiFlavor.APIGW_V4})


def goes_exactly_once(launch: Launch, flavor: ApiFlavor, exactly_once: bool | None) -> bool:
    """Tell whether ``launch`` goes exactly once on ``flavor`` (created unstarted, found again by
    its task name): ``exactly_once`` True, always; False, never; None, where it can.

    :raises UnsupportedOperationError: ``exactly_once`` is True and ``launch`` cannot.
    """
    can = flavor in EXACT_FLAVORS and launch.api != "execute_job_plan"
    if exactly_once and not can:
        why = (
            "execute_job_plan takes no task name to find the job by"
            if launch.api == "execute_job_plan"
            else f"{flavor.value} has no job list to find a job by name"
        )
        raise errors.UnsupportedOperationError(f"no exactly-once launch here: {why}")
    return can and exactly_once is not False


def to_send(
    entry: Entry, rollout: str, flavor: ApiFlavor, exactly_once: bool | None
) -> tuple[Launch, bool]:
    """Return what to send for ``entry`` of ``rollout``, and whether it goes exactly once: then
    named for the key (``entry.name``), to be found again (``goes_exactly_once``)."""
    launch = entry.launch
    exact = goes_exactly_once(launch, flavor, exactly_once)
    if exact:
        entry.name = task_name(launch.task_name, rollout, entry.key)
        launch = launch.with_arguments(task_name=entry.name)
    return launch, exact


#: The phases of a key, in order.
PHASES = ("queued", "intent", "created", "started", "ended")
#: How a rollout's key is marked in its jobs' task names: ``<name> [rollout <key>/<item>]``.
_MARK = " [rollout {rollout}/{key}]"
#: The longest task name bk-job keeps (``task_instance.name`` is a varchar(512)).
MAX_TASK_NAME = 512


def task_name(base: str | None, rollout: str, key: str) -> str:
    """Return the task name that carries ``key`` of ``rollout`` (found again by name).

    :raises ValueError: the name would exceed bk-job's 512 characters.
    """
    name = (base or "rollout") + _MARK.format(rollout=rollout, key=key)
    if len(name) > MAX_TASK_NAME:
        raise ValueError(
            f"the task name carrying key {key!r} would be {len(name)} characters "
            f"(bk-job keeps {MAX_TASK_NAME}): use a shorter key or task_name"
        )
    return name


def entry_slot(key: str) -> int:
    """Return the stable positive id under which a key's entry is stored (62 bits of a hash)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 2) or 1


@attrs.define
class Entry:
    """One key of a rollout: its launch, where it stands, and its job once there is one."""

    key: str
    launch: Launch
    phase: str = "queued"
    #: The job bk-job created for it (``None`` before, or while the create's answer is unknown).
    job: int | None = None
    #: The task name carrying the key (exactly-once launches), ``None`` otherwise.
    name: str | None = None
    #: When (epoch seconds) the create was first sent: the job list's window starts here.
    sent_at: float | None = None
    #: The launch's own deadline (epoch seconds), if any.
    deadline: float | None = None
    #: How it ended: ``finished``, ``failed``, ``timed_out`` (``None`` until it has).
    outcome: str | None = None

    def to_data(self) -> dict[str, Any]:
        """Return the entry as a JSON value."""
        return {
            "key": self.key,
            "launch": self.launch.to_json(),
            "phase": self.phase,
            "job": self.job,
            "name": self.name,
            "sent_at": self.sent_at,
            "deadline": self.deadline,
            "outcome": self.outcome,
        }

    @classmethod
    def from_data(cls, data: Any) -> Entry:
        """Read an entry back from ``to_data``'s value; raise ``ValueError`` if it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("key"), str):
            raise ValueError("a rollout entry is an object with a 'key'")
        phase = data.get("phase")
        if phase not in PHASES:
            raise ValueError(f"a rollout entry's phase is one of {PHASES}, not {phase!r}")
        job = data.get("job")
        if job is not None and (not isinstance(job, int) or isinstance(job, bool) or job < 1):
            raise ValueError(f"a rollout entry's job is a positive id, not {job!r}")
        return cls(
            data["key"],
            Launch.from_json(data.get("launch")),
            phase,
            job,
            data.get("name"),
            _seconds(data.get("sent_at")),
            _seconds(data.get("deadline")),
            data.get("outcome"),
        )


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"a time in a rollout entry is a number, not {value!r}")
    return float(value)


class Ledger:
    """Every key of one rollout, in submission order, and the queue of those not yet sent."""

    __slots__ = ("entries", "queue")

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.entries: dict[str, Entry] = {}
        self.queue: deque[str] = deque()
        for entry in entries:
            self.entries[entry.key] = entry
            if entry.phase == "queued":
                self.queue.append(entry.key)

    def submit(self, entry: Entry) -> bool:
        """Queue a new key; return ``False`` (and change nothing) if the key is known."""
        if entry.key in self.entries:
            return False
        self.entries[entry.key] = entry
        self.queue.append(entry.key)
        return True

    def sending(self) -> int:
        """How many keys are being created (sent, no job known yet)."""
        return sum(1 for e in self.entries.values() if e.phase == "intent")

    def jobs(self) -> int:
        """How many keys have a job that has not ended."""
        return sum(1 for e in self.entries.values() if e.phase in ("created", "started"))

    def running(self) -> int:
        """How many keys hold a job slot or may: sent and not ended."""
        return sum(1 for e in self.entries.values() if e.phase in ("intent", "created", "started"))

    def open(self) -> int:
        """How many keys have not ended."""
        return sum(1 for e in self.entries.values() if e.phase != "ended")

    def in_phase(self, *phases: str) -> Iterator[Entry]:
        return (e for e in self.entries.values() if e.phase in phases)

    def by_job(self, job: int) -> Entry | None:
        for entry in self.entries.values():
            if entry.job == job:
                return entry
        return None

    def to_launch(self, room: int) -> list[Entry]:
        """Take up to ``room`` queued keys, oldest first (they are ``intent`` from here)."""
        taken: list[Entry] = []
        while self.queue and len(taken) < room:
            entry = self.entries[self.queue.popleft()]
            entry.phase = "intent"
            taken.append(entry)
        return taken

    def requeue(self, entry: Entry) -> None:
        """Put a key refused by the quota back at the head of the queue (nothing was created)."""
        entry.phase, entry.job, entry.sent_at = "queued", None, None
        self.queue.appendleft(entry.key)

    def end(self, entry: Entry, outcome: str) -> None:
        entry.phase, entry.outcome = "ended", outcome
        if entry.key in self.queue:
            self.queue.remove(entry.key)


@attrs.define
class Gate:
    """When a rollout may launch: its own cap, and what bk-job's running-job quota taught it.

    A quota refusal while some of the rollout's jobs run holds launches until one of them ends
    (``held``); the slot it frees is the one to use, and what ran at the refusal is the quota's
    share this rollout has (``learned``): no more run at once until a while passes without a
    refusal (``probe_after``), when one more is tried; each probe refused doubles the while
    (up to ``MAX_PROBE``). A refusal while none of its own run backs off with jitter
    (``retry_at``): the quota is someone else's, no end of ours frees it. At most ``sending``
    creates are unanswered at once, so that a quota learned late costs a few refusals, not one
    a launch in flight.
    """

    #: The caller's cap (``max_running``; ``None``: bk-job's quota is the cap).
    limit: int | None = None
    #: The most running at once the quota took (``None``: never refused).
    learned: int | None = None
    #: Held until one of our jobs ends.
    held: bool = False
    #: Backing off until then (the caller's clock), after a refusal with none of ours running.
    retry_at: float = 0.0
    #: Refusals in a row with none of ours running (the backoff's exponent).
    idle_refusals: int = 0
    #: When the last refusal (or probe) came (the caller's clock).
    refused_at: float = -1e18
    #: Refusals so far.
    refusals: int = 0
    #: How long without a refusal before one more than ``learned`` is tried.
    probe_after: float = 60.0
    #: Creates sent and not yet answered, at most.
    sending: int = 4
    #: One more than ``learned`` is being tried.
    probing: bool = False

    def room(self, running: int, sending: int, now: float) -> int:
        """How many more may be launched now, with ``running`` of ours sent and not ended, of
        which ``sending`` are not answered yet."""
        if self.held or now < self.retry_at:
            return 0
        if self.learned is not None and not self.probing and now >= self.probe_at():
            self.learned += 1  # (a while without refusal: the quota may have room again)
            self.probing = True
        caps = [c for c in (self.limit, self.learned) if c is not None]
        free = self.sending - sending
        if caps:
            free = min(free, min(caps) - running)
        return max(0, free)

    def probe_at(self) -> float:
        """When one more than ``learned`` is tried (the caller's clock)."""
        return self.refused_at + self.probe_after

    def refused(self, jobs: int, now: float, rng: random.Random) -> None:
        """Record a quota refusal with ``jobs`` of ours created and not ended."""
        self.refusals += 1
        self.refused_at = now
        if self.probing:  # the quota had no more room: try again twice as late
            self.probing = False
            self.probe_after = min(MAX_PROBE, self.probe_after * 2)
        if jobs > 0:
            self.held = True
            self.learned = jobs if self.learned is None else min(self.learned, jobs)
            self.idle_refusals = 0
        else:
            self.idle_refusals += 1
            base = min(30.0, 1.0 * 2 ** min(self.idle_refusals - 1, 5))
            self.retry_at = now + base * (0.5 + rng.random())  # (jitter: 0.5x .. 1.5x)

    def created(self, jobs: int) -> None:
        """A create was answered with a job: ``jobs`` of ours are created and not ended."""
        self.probing = False
        if self.learned is not None:
            self.learned = max(self.learned, jobs)  # (the quota took that many)

    def ended(self) -> None:
        """One of our jobs ended: its slot is free again."""
        self.held = False


#: The longest while between two probes of a quota that keeps refusing them.
MAX_PROBE = 960.0
