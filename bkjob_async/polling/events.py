"""Rule: events are frozen, in observation order per job, with ids made of what they say.

What a watch yields: frozen events, each naming its job and when the poller saw it.

Per job, events come in observation order; within one observation, host (or container:
``ContainerTransition``, gateway v4) transitions, then step transitions, then the job's; ``JobFinished``, ``WatchFailed`` or ``WatchTimedOut`` is
the last event of its job on a watch.

Every event has an ``event_id``, made of what it says and nothing about who saw it or when:

- a host's transition: job, step, round (``execute_count``), host, the status it reached, and
  ``visit``, which arrival at that status in that round it is (``10001/20001/0/h1002/9``; from the
  second arrival on the visit follows a ``#``: ``.../s/2#2``); a container's has ``c`` and its id;
- a step's: job, step, round, status reached, visit (``10001/20001/0/s/3``);
- the job's (``JobTransition``, ``JobFinished``): job, status reached, ``round`` (the sum of its
  steps' ``execute_count``: a retried job ends anew under a new id) and visit
  (``10001/j/3/r0``, ``10001/finished/3/r0``).

The status it came from (``previous``) is not part of it: a transition derived again from an older
or an empty state (after a restart, a Redis failover or a restored file) has the id the consumer
already has, even where it now reads ``None -> 9`` instead of ``7 -> 9``, and two different
transitions never share one, even a job going ``2 -> 7 -> 2 -> 7``. Dedupe on it. Why a
transition derived again cannot get a new id: the visit counts are kept in the job's state
(``_tracker``); after a rollback they are those of the older state and every arrival seen since is
a real one, so a count can only be lower than the truth, and a lower count names an id that was
already handed out. ``WatchFailed`` and ``WatchTimedOut`` are about this process (not stored):
their ids count the poller's own observations of the job (``occurrence``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import warnings
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

import attrs

from ..errors import BkJobError
from ..models import (
    Container,
    ContainerResult,
    Host,
    HostKey,
    HostResult,
    HostStatus,
    JobInstanceStatus,
    JobStatus,
    StepStatus,
)

if TYPE_CHECKING:
    from ..models.instances import ContainerKey

__all__ = [
    "PERSON_WAITING",
    "ContainerTransition",
    "Event",
    "HostTransition",
    "JobFinished",
    "JobPollFailing",
    "JobPollRecovered",
    "JobTransition",
    "PollingResumed",
    "PollingStalled",
    "StepTransition",
    "WatchFailed",
    "WatchTimedOut",
    "host_event_id",
    "waits_for_a_person",
]


# --- renamed -------------------------------------------------------------------------------------
#
# Event names renamed since the last release, kept for one release with a ``DeprecationWarning``.
#
# ``occurrence`` of ``HostTransition``, ``StepTransition``, ``JobTransition`` and ``JobFinished``
# is ``visit`` since event ids are made of visits: ``occurrence_is_visit`` lets such a class take
# ``occurrence=`` and read ``.occurrence`` as ``visit``, each with a warning. Type checkers see
# only ``visit``, so they flag the old name.


_E = TypeVar("_E")


_NOT_GIVEN: Any = object()


def _occurrence_renamed(cls_name: str) -> None:
    warnings.warn(
        f"{cls_name}.occurrence is deprecated, and goes in the next minor release: it is now "
        "visit (which arrival at the status in its round the event is, as its event_id says)",
        DeprecationWarning,
        stacklevel=3,
    )


def occurrence_is_visit(cls: type[_E]) -> type[_E]:
    """Let ``cls(..., occurrence=n)`` mean ``visit=n``, and ``.occurrence`` read ``visit``."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, occurrence: Any = _NOT_GIVEN, **kwargs: Any) -> None:
        if occurrence is not _NOT_GIVEN:
            if "visit" in kwargs:
                raise TypeError("give visit, not visit and its old name occurrence")
            _occurrence_renamed(cls.__name__)
            kwargs["visit"] = occurrence
        init(self, *args, **kwargs)

    def occurrence(self: Any) -> int:
        """Deprecated: ``visit``, its name since 0.2 (``occurrence`` goes in the next minor release)."""
        _occurrence_renamed(type(self).__name__)
        return self.visit  # type: ignore[no-any-return]

    setattr(cls, "__init__", __init__)  # noqa: B010 (mypy lets no method be assigned)
    setattr(cls, "occurrence", property(occurrence))  # noqa: B010
    return cls


# --- containers ----------------------------------------------------------------------------------
#
# A container's transition, the event of the gateway v4's container execute objects; pure values.
#
# A job bk-job runs in Kubernetes containers (``flavor="apigw-v4"``, ``Targets(containers=...)``)
# reports each container's status as a host's (``HostStatus``). The poller tracks a container as
# it tracks a host, under its key ``("container", id)`` (``Container.key``, which never equals a
# host's), and hands each change out as a ``ContainerTransition``: an event of its own, not a
# ``HostTransition``, so that code written for hosts (``event.host.bk_host_id``, ``events=
# (HostTransition,)``) never meets a container, and code for containers reads a ``Container``
# (``docs/explanation/execute-objects.md`` says why). Its ``event_id`` is made as a host's, with
# ``c`` and the container's id where a host's has ``h`` and its key:
# ``10001/20001/0/c100123456/9``.


def is_container(key: object) -> TypeGuard[ContainerKey]:
    """Tell whether a tracked key is a container's (``Container.key``), not a host's."""
    return type(key) is tuple and key[0] == "container"


def container_event_id(
    job_instance_id: int,
    step_instance_id: int,
    execute_count: int,
    container_id: int,
    status: int,
    visit: int,
) -> str:
    """Return the ``event_id`` of a container's transition from its parts."""
    shown = "" if visit == 1 else f"#{visit}"
    return f"{job_instance_id}/{step_instance_id}/{execute_count}/c{container_id}/{status}{shown}"


@attrs.frozen
class ContainerTransition:
    """A container's status changed; ``previous`` is ``None`` the first time the poller sees it.

    As a host's: ``previous`` is the container's last status in that step in any round,
    ``visit`` which arrival at ``current`` in this round it is (``events`` says how ids are
    made of it), and the same transition has the same ``event_id`` however often and by
    whichever process it is derived.
    """

    job_instance_id: int
    observed_at: _dt.datetime
    step_instance_id: int
    execute_count: int
    container: Container
    previous: HostStatus | None
    current: HostStatus
    result: ContainerResult
    #: Which arrival of the container at ``current`` in this round this is: 1, 2, ...
    visit: int = attrs.field(default=1, kw_only=True)

    @property
    def container_key(self) -> ContainerKey:
        """The container's identity (``Container.key``)."""
        return self.container.key

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return container_event_id(
            self.job_instance_id,
            self.step_instance_id,
            self.execute_count,
            self.container.id,
            int(self.current),
            self.visit,
        )

    @classmethod
    def of_result(
        cls,
        job_instance_id: int,
        observed_at: _dt.datetime,
        step_instance_id: int,
        execute_count: int,
        code: int,
        result: Any,
        previous: HostStatus | None,
        visit: int,
    ) -> ContainerTransition:
        """Return the transition to status ``code`` that a container's row, structured as
        ``result``, reports."""
        if not isinstance(result, ContainerResult):
            raise TypeError(f"a container's row read as {type(result).__name__}")
        return cls(
            job_instance_id,
            observed_at,
            step_instance_id,
            execute_count,
            result.container,
            previous,
            HostStatus.of(code),
            result,
            visit=visit,
        )


# --- events --------------------------------------------------------------------------------------


#: Job statuses in which only a person moves the job on: a confirmation step waits for its
#: user (7), a rolling run waits between batches (15).
PERSON_WAITING: frozenset[JobStatus] = frozenset(
    {JobStatus.WAITING_USER, JobStatus.ROLLING_WAITING}
)


_UTC = _dt.timezone.utc


def now_utc() -> _dt.datetime:
    """Return the current time, aware, in UTC: every event's ``observed_at``."""
    return _dt.datetime.now(_UTC)


def _visit(visit: int) -> str:
    return "" if visit == 1 else f"#{visit}"


def _host_place(key: HostKey) -> str:
    """Return a host key as an ``event_id`` writes it."""
    if isinstance(key, int):
        return str(key)
    return "|".join("" if part is None else str(part) for part in key)


def host_event_id(
    job_instance_id: int,
    step_instance_id: int,
    execute_count: int,
    key: HostKey,
    status: int,
    visit: int,
) -> str:
    """Return the ``event_id`` of a host's transition from its parts: what a reader that kept
    only plain values of the event (the dashboard's feed) names it by."""
    return (
        f"{job_instance_id}/{step_instance_id}/{execute_count}"
        f"/h{_host_place(key)}/{status}{_visit(visit)}"
    )


def _host_id(event: HostTransition) -> str:
    return host_event_id(
        event.job_instance_id,
        event.step_instance_id,
        event.execute_count,
        event.host_key,
        int(event.current),
        event.visit,
    )


def _step_id(event: StepTransition) -> str:
    return (
        f"{event.job_instance_id}/{event.step_instance_id}/{event.execute_count}"
        f"/s/{int(event.current)}{_visit(event.visit)}"
    )


def _job_id(event: JobTransition) -> str:
    return f"{event.job_instance_id}/j/{int(event.current)}/r{event.round}{_visit(event.visit)}"


def _finished_id(event: JobFinished) -> str:
    return (
        f"{event.job_instance_id}/finished/{int(event.status)}/r{event.round}{_visit(event.visit)}"
    )


def _failed_id(event: WatchFailed) -> str:
    return f"{event.job_instance_id}/failed/{type(event.error).__name__}/{event.occurrence}"


def _timed_out_id(event: WatchTimedOut) -> str:
    return f"{event.job_instance_id}/timedout/{event.occurrence}"


def _stalled_id(event: PollingStalled) -> str:
    return f"{event.job_instance_id}/stalled/{event.since.isoformat()}"


def _resumed_id(event: PollingResumed) -> str:
    return f"{event.job_instance_id}/resumed/{event.since.isoformat()}"


def _failing_id(event: JobPollFailing) -> str:
    return f"{event.job_instance_id}/pollfailing/{event.since.isoformat()}"


def _recovered_id(event: JobPollRecovered) -> str:
    return f"{event.job_instance_id}/pollrecovered/{event.since.isoformat()}"


@occurrence_is_visit
@attrs.frozen
class HostTransition:
    """A host's status changed; ``previous`` is ``None`` the first time the poller sees it.

    ``previous`` is the host's last status in that step in any round, so a retried host reads
    ``11 -> 5 -> 7 -> 9`` with the new ``execute_count``.
    """

    job_instance_id: int
    observed_at: _dt.datetime
    step_instance_id: int
    execute_count: int
    host: Host
    previous: HostStatus | None
    current: HostStatus
    result: HostResult
    #: Which arrival of the host at ``current`` in this round this is: 1, 2, ... (module doc).
    visit: int = attrs.field(default=1, kw_only=True)
    #: The id it was first handed out with, when read from an older stored format (``_codec``).
    _id: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False, alias="_id")

    @property
    def host_key(self) -> HostKey:
        """The host's identity (``Host.key``)."""
        return self.host.key

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return self._id or _host_id(self)


@occurrence_is_visit
@attrs.frozen
class StepTransition:
    """A step's status changed (``previous`` is ``None`` on first sight)."""

    job_instance_id: int
    observed_at: _dt.datetime
    step_instance_id: int
    execute_count: int
    previous: StepStatus | None
    current: StepStatus
    #: Which arrival of the step at ``current`` in this round this is (module doc).
    visit: int = attrs.field(default=1, kw_only=True)
    #: The id it was first handed out with, when read from an older stored format (``_codec``).
    _id: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False, alias="_id")

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return self._id or _step_id(self)


@occurrence_is_visit
@attrs.frozen
class JobTransition:
    """The job's status changed (``previous`` is ``None`` on first sight)."""

    job_instance_id: int
    observed_at: _dt.datetime
    previous: JobStatus | None
    current: JobStatus
    #: The job's round: the sum of its steps' ``execute_count`` (module doc).
    round: int = attrs.field(default=0, kw_only=True)
    #: Which arrival of the job at ``current`` in this round this is (module doc).
    visit: int = attrs.field(default=1, kw_only=True)
    #: The id it was first handed out with, when read from an older stored format (``_codec``).
    _id: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False, alias="_id")

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return self._id or _job_id(self)


@occurrence_is_visit
@attrs.frozen
class JobFinished:
    """The server reports the job finished; ``snapshot`` is its full final status.

    Finished is not always final: operations can revive a failed job; watch it again to follow.
    """

    job_instance_id: int
    observed_at: _dt.datetime
    status: JobStatus
    snapshot: JobInstanceStatus
    #: The job's round: the sum of its steps' ``execute_count`` (module doc).
    round: int = attrs.field(default=0, kw_only=True)
    #: Which arrival of the job at ``status`` in this round this is (module doc).
    visit: int = attrs.field(default=1, kw_only=True)
    #: The id it was first handed out with, when read from an older stored format (``_codec``).
    _id: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False, alias="_id")

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return self._id or _finished_id(self)


@attrs.frozen
class WatchFailed:
    """The job could not be watched (not found, no permission, retries exhausted)."""

    job_instance_id: int
    observed_at: _dt.datetime
    error: BkJobError
    #: The number of the poller's observation of the job that saw this (module doc).
    occurrence: int = attrs.field(default=0, kw_only=True)

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return _failed_id(self)


@attrs.frozen
class WatchTimedOut:
    """The watch's deadline passed first; ``snapshot`` is the job's status then, if it could be read."""

    job_instance_id: int
    observed_at: _dt.datetime
    snapshot: JobInstanceStatus | None
    #: The number of the poller's observation of the job that saw this (module doc).
    occurrence: int = attrs.field(default=0, kw_only=True)

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return _timed_out_id(self)


@attrs.frozen
class PollingStalled:
    """bk-job itself cannot be reached: polls fail and are retried one probe at a time.

    Sent once per outage to each watch; the watch goes on, and no job's failure budget is
    spent meanwhile. A watch of many jobs hears it once, naming the first of its jobs (an
    outage stalls them all). ``since`` is when the outage began, ``error`` the failure that
    began it. An outage begins when nothing answers at all (connection refused, 5xx, timeouts
    with no answer to any poll for two seconds), or when most polls fail across jobs; one
    job's failures alone are that job's (``JobPollFailing``), never an outage.
    """

    job_instance_id: int
    observed_at: _dt.datetime
    since: _dt.datetime
    error: BkJobError

    @property
    def event_id(self) -> str:
        """Stable identity of this event (job and ``since``)."""
        return _stalled_id(self)


@attrs.frozen
class PollingResumed:
    """Polls succeed again after a ``PollingStalled``; ``since`` is when the watch stalled.

    Sent once to a watch, when the last of its stalled jobs has an answer again (the job named).
    """

    job_instance_id: int
    observed_at: _dt.datetime
    since: _dt.datetime

    @property
    def event_id(self) -> str:
        """Stable identity of this event (job and ``since``)."""
        return _resumed_id(self)


@attrs.frozen
class JobPollFailing:
    """This job's reads fail while bk-job answers the others; they are being retried.

    Its answer is malformed, its read times out while other reads are answered, or bk-job
    refuses it with an error that may pass. Sent once a spell, at its second failed read in a
    row (``failures``); ``JobPollRecovered`` follows when it answers again, or ``WatchFailed``
    with the last error when its failure budget is spent (``PollPolicy.max_failures``,
    ``max_failing``). ``since`` is when its first failed read of the spell was seen. About
    this process, as ``PollingStalled`` is: never stored.
    """

    job_instance_id: int
    observed_at: _dt.datetime
    since: _dt.datetime
    error: BkJobError
    failures: int

    @property
    def event_id(self) -> str:
        """Stable identity of this event (job and ``since``)."""
        return _failing_id(self)


@attrs.frozen
class JobPollRecovered:
    """This job answers again after a ``JobPollFailing``; ``since`` is that event's."""

    job_instance_id: int
    observed_at: _dt.datetime
    since: _dt.datetime

    @property
    def event_id(self) -> str:
        """Stable identity of this event (job and ``since``)."""
        return _recovered_id(self)


#: Any event a watch yields: match on the classes (``case HostTransition(...)``).
Event = (
    HostTransition
    | ContainerTransition
    | StepTransition
    | JobTransition
    | JobFinished
    | WatchFailed
    | WatchTimedOut
    | PollingStalled
    | PollingResumed
    | JobPollFailing
    | JobPollRecovered
)


TERMINAL_EVENTS = (JobFinished, WatchFailed, WatchTimedOut)


def waits_for_a_person(event: object) -> bool:
    """Tell whether ``event`` says its job now waits for a person (``PERSON_WAITING``).

    The rule of every watch: such a ``JobTransition`` is delivered whatever the watch's
    ``events=`` or step filter, so a wait never goes silent on a job nobody will move.
    """
    return type(event) is JobTransition and event.current in PERSON_WAITING
