"""Rule: one visit of a rollout kept as JSON: read the job list once, launch what fits, return.

For callers no process waits in (a bk-sops plugin's or bk-nodeman's ``schedule()``, a Celery
task entered every few seconds): the rollout of ``bkjob_async.polling.rollouts`` as a one-shot
step over JSON state. ``rollout_state(...)`` makes the first state; each visit calls
``await check_rollout(client, state)`` (``bkjob_async.sync.check_rollout`` blocking) and stores
``RolloutCheck.state`` for the next one::

    state = rollout_state(scope, "deploy-42", launches, max_running=50, deadline=3600)
    while True:  # (each pass a schedule() visit)
        found = await check_rollout(client, state)
        state = found.state  # JSON: store it
        for event in found.events: ...  # Launched, LaunchEnded, LaunchFailed, LaunchTimedOut
        if found.done: break

A visit reads bk-job's job list once for every job of the rollout that has not ended (one
page: the jobs' task names carry ``[rollout <key>/``, which the list's ``name`` filter keeps),
not one status read a job. That read also finds a job whose create's answer was lost on an
earlier visit (matched exactly on its name) and a job created and never started (started
now). Then it stops what a passed deadline bounds, and launches what fits under
``max_running`` and what bk-job's quota taught the rollout (``_rollout.Gate``), exactly once
as the rollout does. A key ends with ``LaunchEnded`` (the job's final status, from the list),
``LaunchFailed`` or ``LaunchTimedOut`` (the status read after the stop, hosts included).
Jobs launched without a task name (plans, ESB v2, ``exactly_once=False``) are read by status,
one request each.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import random
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import anyio
import attrs

from .. import errors
from ..config import Scope
from ..models import JobOperation, JobStatus
from ._launch import Launch
from ._rollout import Entry, Gate, Ledger, refuse_bad_rollout, to_send
from .rollouts import (
    Launched,
    LaunchFailed,
    LaunchTimedOut,
    RolloutDeadlineError,
    _ambiguous,
    is_quota,
)

if TYPE_CHECKING:
    from ..client import BkJobClient
    from ..models import JobInstanceStatus

__all__ = ["LaunchEnded", "RolloutCheck", "check_rollout", "rollout_state"]

_KIND = "bkjob-rollout"
#: How far around the rollout's creates the job list is read (clock skew between hosts).
_WINDOW = 3600.0
#: A create whose answer was lost is sent again once the list has not shown it this long.
_SETTLE = 10.0


@attrs.frozen
class LaunchEnded:
    """A key's job ended: its final status as the job list reads it."""

    key: str
    job_instance_id: int
    status: JobStatus


@attrs.frozen
class RolloutCheck:
    """What one visit did: its events, the state to store, and whether every key has ended."""

    events: tuple[Any, ...]
    state: dict[str, Any]
    done: bool
    #: Requests this visit sent, by API.
    requests: dict[str, int]


def rollout_state(
    scope: Scope,
    key: str,
    launches: Mapping[str, Launch] | Iterable[tuple[str, Launch]],
    *,
    max_running: int | None = None,
    deadline: float | None = None,
    exactly_once: bool | None = None,
    on_deadline: Literal["terminate", "leave"] = "terminate",
    now: float | None = None,
) -> dict[str, Any]:
    """Return the first state of a rollout of ``launches`` (key -> ``Launch``), as JSON.

    ``deadline``: seconds from ``now`` (epoch seconds, the machine's clock by default). A key
    given twice is held once (the first). Nothing is sent.
    """
    refuse_bad_rollout(scope, key, max_running)
    if on_deadline not in ("terminate", "leave"):
        raise ValueError("on_deadline is 'terminate' or 'leave'")
    if exactly_once not in (None, True, False):
        raise TypeError("exactly_once must be a bool or None")
    now = time.time() if now is None else now
    items = launches.items() if isinstance(launches, Mapping) else launches
    ledger = Ledger()
    for item, launch in items:
        if not isinstance(launch, Launch):
            raise TypeError(f"key {item!r}: a launch must be a Launch")
        ledger.submit(Entry(item, launch))
    return {
        "kind": _KIND,
        "key": key,
        "scope": [scope.type.value, scope.id],
        "max_running": max_running,
        "deadline": None if deadline is None else now + deadline,
        "exactly_once": exactly_once,
        "on_deadline": on_deadline,
        "gate": attrs.asdict(Gate(limit=max_running)),
        "entries": [e.to_data() for e in ledger.entries.values()],
        "stopping": [],
    }


class _Visit:
    """One visit: the state read back, the client, the events and requests so far."""

    def __init__(self, client: BkJobClient, state: Mapping[str, Any], now: float) -> None:
        if not isinstance(state, Mapping) or state.get("kind") != _KIND:
            raise ValueError("state is not a rollout state (rollout_state's, as stored)")
        self.client, self.now = client, now
        self.key: str = state["key"]
        scope_type, scope_id = state["scope"]
        self.scope = Scope(scope_type, scope_id)
        self.deadline: float | None = state.get("deadline")
        self.exactly_once: bool | None = state.get("exactly_once")
        self.on_deadline: str = state.get("on_deadline", "terminate")
        entries = state["entries"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValueError("a rollout state's entries are a list of objects")
        # Only the keys sent and not ended are read into entries: the rest stay as stored
        # (a queued key is read when it is launched), so a visit costs what runs, not all.
        self.ended = [e for e in entries if e.get("phase") == "ended"]
        self.rest = deque(e for e in entries if e.get("phase") == "queued")
        self.ledger = Ledger(
            Entry.from_data(e) for e in entries if e.get("phase") not in ("ended", "queued")
        )
        self.gate = Gate(**state["gate"])
        self.stopping: set[str] = set(state.get("stopping", ()))
        self.events: list[Any] = []
        self.requests: dict[str, int] = {}
        self.rng = random.Random()

    def count(self, api: str) -> None:
        self.requests[api] = self.requests.get(api, 0) + 1

    def state(self) -> dict[str, Any]:
        return {
            "kind": _KIND,
            "key": self.key,
            "scope": [self.scope.type.value, self.scope.id],
            "max_running": self.gate.limit,
            "deadline": self.deadline,
            "exactly_once": self.exactly_once,
            "on_deadline": self.on_deadline,
            "gate": attrs.asdict(self.gate),
            "entries": [
                *self.ended,
                *(e.to_data() for e in self.ledger.entries.values()),
                *self.rest,
            ],
            "stopping": sorted(self.stopping),
        }

    def fail(self, entry: Entry, exc: BaseException) -> None:
        self.events.append(LaunchFailed(entry.key, exc))
        self.ledger.end(entry, "failed")


async def check_rollout(
    client: BkJobClient, state: Mapping[str, Any], *, now: float | None = None
) -> RolloutCheck:
    """Visit a rollout kept as JSON ``state`` once (module docstring); return what it did.

    ``now``: epoch seconds (the machine's clock by default).
    :raises ValueError: ``state`` is not a rollout state.
    """
    visit = _Visit(client, state, time.time() if now is None else now)
    await _read(visit)
    await _deadlines(visit)
    await _launch(visit)
    done = visit.ledger.open() == 0 and not visit.rest
    return RolloutCheck(tuple(visit.events), visit.state(), done, visit.requests)


# --- the read -------------------------------------------------------------------------------------


async def _read(visit: _Visit) -> None:
    """Read the job list once for the rollout's jobs; settle what it says of each."""
    named = [e for e in visit.ledger.in_phase("intent", "created", "started") if e.name]
    if named:
        since = min((e.sent_at or visit.now) for e in named)
        found: dict[str, tuple[int, JobStatus]] = {}
        visit.count("get_job_instance_list")
        async for job in visit.client.iter_job_instances(
            visit.scope,
            created_from=_at(since - _WINDOW),
            created_to=_at(visit.now + _WINDOW),
            name=f"[rollout {visit.key}/",
        ):
            if job.name is not None:
                found[job.name] = (job.job_instance_id, job.status)
        for entry in named:
            hit = found.get(entry.name or "")
            if hit is not None and (entry.job is None or entry.job == hit[0]):
                await _seen(visit, entry, *hit)
            elif entry.phase == "intent" and visit.now - (entry.sent_at or 0.0) >= _SETTLE:
                visit.ledger.requeue(entry)  # (never created: bk-job has no such name)
    for entry in list(visit.ledger.in_phase("started")):
        if entry.name is None and entry.job is not None:  # (no name to find it by)
            visit.count("get_job_instance_status")
            status = await visit.client.get_job_instance_status(
                visit.scope, entry.job, with_hosts=False
            )
            await _seen(visit, entry, entry.job, status.job.status)


async def _seen(visit: _Visit, entry: Entry, job: int, status: JobStatus) -> None:
    """Settle a key from its job's status in the list."""
    told = entry.phase == "started"
    entry.job = job
    if status == JobStatus.BLANK:  # created, never started
        entry.phase = "created"
        await _start(visit, entry)
        return
    entry.phase = "started"
    if not told:
        visit.events.append(Launched(entry.key, job))
    if status.is_finished:
        if entry.key in visit.stopping:
            visit.stopping.discard(entry.key)
            snapshot = await _status(visit, job)
            visit.events.append(LaunchTimedOut(entry.key, job, snapshot, True))
            visit.ledger.end(entry, "timed_out")
        else:
            visit.events.append(LaunchEnded(entry.key, job, status))
            visit.ledger.end(entry, "finished")
        visit.gate.ended()


async def _status(visit: _Visit, job: int) -> JobInstanceStatus | None:
    visit.count("get_job_instance_status")
    try:
        return await visit.client.get_job_instance_status(visit.scope, job)
    except errors.BkJobError:
        return None


def _at(epoch: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)


# --- deadlines ------------------------------------------------------------------------------------


def _deadline_of(visit: _Visit, entry: Entry) -> float | None:
    dues = [d for d in (visit.deadline, entry.deadline) if d is not None]
    return min(dues) if dues else None


async def _deadlines(visit: _Visit) -> None:
    if visit.deadline is not None and visit.now >= visit.deadline:
        while visit.rest:  # (queued keys never read: failed as they are stored)
            raw = dict(visit.rest.popleft(), phase="ended", outcome="failed")
            error = RolloutDeadlineError(f"key {raw['key']!r}: deadline passed")
            visit.events.append(LaunchFailed(raw["key"], error))
            visit.ended.append(raw)
    for entry in list(visit.ledger.in_phase("queued", "started")):
        due = _deadline_of(visit, entry)
        if due is None or visit.now < due or entry.key in visit.stopping:
            continue
        if entry.phase == "queued":
            visit.fail(entry, RolloutDeadlineError(f"key {entry.key!r}: deadline passed"))
            continue
        assert entry.job is not None
        if visit.on_deadline == "leave":
            snapshot = await _status(visit, entry.job)
            visit.events.append(LaunchTimedOut(entry.key, entry.job, snapshot, False))
            visit.ledger.end(entry, "timed_out")
            visit.gate.ended()
            continue
        visit.count("operate_job_instance")
        with contextlib.suppress(errors.BkJobError):  # (ended meanwhile: the next read says)
            await visit.client.operate_job_instance(visit.scope, entry.job, JobOperation.TERMINATE)
        visit.stopping.add(entry.key)


# --- launches -------------------------------------------------------------------------------------


async def _launch(visit: _Visit) -> None:
    """Launch what fits now, a few at once."""
    ledger, gate = visit.ledger, visit.gate
    while True:
        room = gate.room(ledger.running(), ledger.sending(), visit.now)
        while visit.rest and len(ledger.queue) < room:
            ledger.submit(Entry.from_data(visit.rest.popleft()))
        batch = ledger.to_launch(room)
        if not batch:
            return
        async with anyio.create_task_group() as tg:
            for entry in batch:
                tg.start_soon(_one, visit, entry)
        if gate.held or gate.retry_at > visit.now:
            return


async def _one(visit: _Visit, entry: Entry) -> None:
    try:
        entry.launch.spell(visit.client.protocol, visit.scope)
        launch, exact = to_send(entry, visit.key, visit.client.flavor, visit.exactly_once)
    except (errors.BkJobError, ValueError, TypeError) as exc:
        visit.fail(entry, exc)
        return
    entry.sent_at = visit.now
    visit.count(launch.api)
    try:
        answer = await launch.send(visit.client, visit.scope, start_task=not exact)
    except errors.BkJobError as exc:
        if is_quota(exc):
            visit.gate.refused(visit.ledger.jobs(), visit.now, visit.rng)
            visit.ledger.requeue(entry)
        elif isinstance(exc, (errors.ConnectError, errors.RateLimitedError)):
            visit.ledger.requeue(entry)
            visit.gate.retry_at = max(visit.gate.retry_at, visit.now + 1.0)
        elif not (_ambiguous(exc) and exact):
            visit.fail(entry, exc)
        # (else: lost; the next visit's list read finds it, or sends it again)
        return
    entry.job = answer.job_instance_id
    visit.gate.created(visit.ledger.jobs())
    if exact:
        entry.phase = "created"
        await _start(visit, entry)
    else:
        entry.phase = "started"
        visit.events.append(Launched(entry.key, entry.job))


async def _start(visit: _Visit, entry: Entry) -> None:
    """Start a created job; one whose START was lost is started on a later visit."""
    assert entry.job is not None
    visit.count("operate_job_instance")
    try:
        await visit.client.operate_job_instance(visit.scope, entry.job, JobOperation.START)
    except errors.OperationNotAllowedError:
        pass  # (started already)
    except errors.BkJobError as exc:
        if _ambiguous(exc) or isinstance(exc, (errors.ConnectError, errors.RateLimitedError)):
            return  # (still ``created``: the next visit's read tells)
        visit.fail(entry, exc)
        return
    entry.phase = "started"
    visit.events.append(Launched(entry.key, entry.job))
