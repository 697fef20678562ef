"""The poll engine: watch many jobs at once and read per-host transitions as async iterators."""

from ._durable import open_jobs
from ._engine import Completed, Poller, PollerStatistics, Watch
from ._schedule import PollPolicy
from ._sqlite import SqliteStore
from ._store import MemoryStore, Store, StoreStatistics, UnknownWatchError
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
    "MemoryStore",
    "PollPolicy",
    "Poller",
    "PollerStatistics",
    "PollingResumed",
    "PollingStalled",
    "SqliteStore",
    "StepTransition",
    "Store",
    "StoreStatistics",
    "UnknownWatchError",
    "Watch",
    "WatchFailed",
    "WatchTimedOut",
    "open_jobs",
]
