"""The poll engine: watch many jobs at once and read per-host transitions as async iterators.

**Durable watches** (``Poller(client, store=...)``; the default store is a ``MemoryStore``).
``poller.watch_jobs(scope, ids, name="deploys")`` creates the named watch ``deploys`` in the
store, or extends it if the store holds it already (its jobs are watched too). The store is
read in the background before the first poll (``watch_jobs`` stays synchronous; a store that
cannot be read raises its error from the first ``__anext__``). ``await poller.resume("deploys")``
reopens it after a restart and raises ``UnknownWatchError`` if the store has no such watch.
The caller opens and closes a store it passes in; the poller opens and closes only its own.

Delivery on a named watch is *at least once*, and exactly this:

- An event is *delivered* when the consumer asks for the next one (``__anext__``), or at
  ``await watch.ack(event)``, which returns once the ack is durable (asking for the next one
  acks lazily: the write is queued, not waited for). Leaving the watch early (``aclose``,
  ``break``) does not deliver the event handed out last.
- After a restart, ``resume`` hands out first every event that was committed and not delivered,
  in the order it was first handed out, with the same ``event_id`` and content (a
  ``HostTransition``'s ``result`` and a ``JobFinished``'s ``snapshot`` included). At most, that
  is the events a consumer received since its last ack: per job, a suffix of what it saw.
- Then every job that had not finished is polled again from its stored state: the first event
  of each host, step and job continues from the last status the store holds (a host that went
  7 -> 8 -> 9 while nothing ran yields one ``7 -> 9``), so each chain stays unbroken.
- A consumer dedupes by ``event_id``: remember the ids since your last ack (or all of them)
  and skip one you have seen. An id names one transition: the same transition delivered again
  has the same id, two different transitions never share one.
- Events about this process (``PollingStalled``/``PollingResumed``,
  ``JobPollFailing``/``JobPollRecovered``, ``WatchFailed``, ``WatchTimedOut``) are not stored:
  they are said again if they still hold.
- A named watch never coalesces its buffer (``buffer_size`` does not apply): every event it
  hands out is the one stored.
- Once every job has ended and every event was delivered (the iteration stops), the watch is
  dropped from the store; ``resume`` of it then raises ``UnknownWatchError``.

**Commit order.** For each poll that changed a job of a named watch, the engine computes the
new state and events, writes both in one transaction (``store.commit``), and hands the events
out only once that write is durable (``settled``); the ack follows delivery. This refines
"deliver, then store": had an event been handed out before it was durable, a crash could show
a consumer ``7 -> 8`` and, after ``resume`` from the older stored ``7``, ``7 -> 9``: a broken
chain. Waiting costs a few milliseconds of latency with ``SqliteStore`` and nothing with
``MemoryStore``. A poll that changed nothing writes nothing.

**Store faults.** A store that cannot be used is refused at ``open`` (``StoreError``). A write
that fails while running (disk full, I/O error) does not stop the watch: events are delivered
from memory, the store logs one ERROR, ``poller.statistics().store.healthy`` is ``False``
with ``.error``, and writes resume by themselves; a crash in that window can lose what was
not written.
"""

from ._codec import open_jobs
from ._launch import Launch
from ._policy import PollPolicy
from ._summary import FailedContainer, FailedHost, WatchSummary, failed_containers, failed_hosts
from ._tap import JobSeen, StepSeen, Tap
from .callbacks import Callback, CallbackBindError, CallbackReceiver, CallbackStatistics
from .checks import Check, EndedJob, JobChecks, add_jobs, check, check_job, check_jobs
from .events import (
    PERSON_WAITING,
    ContainerTransition,
    Event,
    HostTransition,
    JobFinished,
    JobPollFailing,
    JobPollRecovered,
    JobTransition,
    PollingResumed,
    PollingStalled,
    StepTransition,
    WatchFailed,
    WatchTimedOut,
    waits_for_a_person,
)
from .logs import LogText, follow_logs
from .poller import Completed, Poller, PollerStatistics, Watch
from .rollout_checks import LaunchEnded, RolloutCheck, check_rollout, rollout_state
from .rollouts import (
    Launched,
    LaunchFailed,
    LaunchTimedOut,
    Rollout,
    RolloutDeadlineError,
    RolloutStatistics,
)
from .stores import Store, StoreStatistics, UnknownWatchError
from .stores.memory import MemoryStore
from .stores.sqlite import SqliteStore

__all__ = [
    "PERSON_WAITING",
    "Callback",
    "CallbackBindError",
    "CallbackReceiver",
    "CallbackStatistics",
    "Check",
    "Completed",
    "ContainerTransition",
    "EndedJob",
    "Event",
    "FailedContainer",
    "FailedHost",
    "HostTransition",
    "JobChecks",
    "JobFinished",
    "JobPollFailing",
    "JobPollRecovered",
    "JobSeen",
    "JobTransition",
    "Launch",
    "LaunchEnded",
    "LaunchFailed",
    "LaunchTimedOut",
    "Launched",
    "LogText",
    "MemoryStore",
    "PollPolicy",
    "Poller",
    "PollerStatistics",
    "PollingResumed",
    "PollingStalled",
    "Rollout",
    "RolloutCheck",
    "RolloutDeadlineError",
    "RolloutStatistics",
    "SqliteStore",
    "StepSeen",
    "StepTransition",
    "Store",
    "StoreStatistics",
    "Tap",
    "UnknownWatchError",
    "Watch",
    "WatchFailed",
    "WatchSummary",
    "WatchTimedOut",
    "add_jobs",
    "check",
    "check_job",
    "check_jobs",
    "check_rollout",
    "failed_containers",
    "failed_hosts",
    "follow_logs",
    "open_jobs",
    "rollout_state",
    "waits_for_a_person",
]
