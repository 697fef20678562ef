"""What a decision asks the driver to do, as values (``_decide.decide`` returns them); no I/O.

Each action is a small frozen value the driver applies: deliver events, say that a job's reads
fail alone or answer again, give up on a job, begin or end an outage, count a retry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import datetime as _dt

    from .. import errors
    from .events import Event, JobFinished, WatchFailed

__all__ = [
    "Action",
    "Deliver",
    "Failing",
    "GiveUp",
    "OutageBegan",
    "OutageEnded",
    "Recovered",
    "Retried",
]


class Deliver(NamedTuple):
    """Hand ``events`` to the job's watches; ``finished``: the job ended so (its watches end)."""

    events: list[Event]
    finished: JobFinished | None
    data: Any
    #: Whether the job's state changed (a named watch commits only then).
    changed: bool


class Failing(NamedTuple):
    """The job's reads fail while bk-job answers others: its watches hear ``JobPollFailing``."""

    since: _dt.datetime
    error: errors.BkJobError
    failures: int


class Recovered(NamedTuple):
    """The failing job answered again: its watches hear ``JobPollRecovered``."""

    since: _dt.datetime
    at: _dt.datetime


class GiveUp(NamedTuple):
    """The job can never be polled again: its watches end with ``failed``."""

    failed: WatchFailed


class OutageBegan(NamedTuple):
    """bk-job is taken to be down: every job stalls (its watches hear ``PollingStalled``), polls
    go one probe at a time."""

    error: errors.BkJobError
    at: _dt.datetime


class OutageEnded(NamedTuple):
    """bk-job answers again: every stalled job resumes (``PollingResumed``), and every job is
    polled again within one interval (``rejoined_at``)."""


class Retried(NamedTuple):
    """A failed poll will be retried (counted in ``statistics().retries``)."""


#: What the driver applies.
Action = Deliver | Failing | Recovered | GiveUp | OutageBegan | OutageEnded | Retried
