"""The poll engine: watch many jobs at once and read per-host transitions as async iterators."""

from ._engine import Completed, Poller, PollerStatistics, Watch
from ._schedule import PollPolicy
from .events import (
    Event,
    HostTransition,
    JobFinished,
    JobTransition,
    PollingResumed,
    PollingStalled,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
)

__all__ = [
    "Completed",
    "Event",
    "HostTransition",
    "JobFinished",
    "JobTransition",
    "PollPolicy",
    "Poller",
    "PollerStatistics",
    "PollingResumed",
    "PollingStalled",
    "StepTransition",
    "Watch",
    "WatchFailed",
    "WatchTimedOut",
]
