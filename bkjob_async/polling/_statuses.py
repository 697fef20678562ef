"""bk-job's status rules the engine reads, by name: sets of codes made from the models' enums; pure.

The tracker, the decision and the schedule compare raw status codes (a state keeps plain ints,
``_tracker``), so each rule is a ``frozenset`` of ``int`` built from ``JobStatus`` and
``HostStatus`` members (an ``IntEnum`` member hashes and compares as its code; plain ints
make the membership test one hash and one int comparison). The table below is the theory;
``tests/unit/test_statuses.py`` holds it against the sets, and every known status against
bk-job's own ``finished`` set.

Job and step statuses (bk-job's ``RunStatusEnum``: a step's statuses are the job's):

=====================  ====  =====  ========  ======  =====================================
status                 code  waits  not over  passes  why
=====================  ====  =====  ========  ======  =====================================
BLANK                  1     x      x         x       not started: a person or a cron starts it
RUNNING                2            x         x       moves by itself
SUCCESS                3                      x       an end nothing revives
FAIL                   4                              retried or ignored by an operation
SKIPPED                5                      x       an end nothing revives
IGNORE_ERROR           6                      x       an end nothing revives
WAITING_USER           7     x      x                 a confirmation step waits for a person
TERMINATED             8                      x       an end nothing revives
ABNORMAL_STATE         9                              retried by an operation
STOPPING               10           x                 moves by itself, to STOP_SUCCESS
STOP_SUCCESS           11                             retried by an operation
CONFIRM_TERMINATED     13                             the confirmation is asked again
ABANDONED              14                     x       an end nothing revives
ROLLING_WAITING        15    x      x                 between rolling batches, for a person
=====================  ====  =====  ========  ======  =====================================

- **waits** (``WAITS_FOR_A_PERSON``): the job cannot change without a person; the schedule
  backs off to ``max_interval`` and the job list may stand for its polls (``_decide``,
  ``_census``, ``_decide``).
- **not over** (``NOT_OVER``): a job list row at such a status needs no poll of the job
  itself; any other row (an end, an unknown code) does (``_decide``).
- **passes** (``PASSES``): a job or step reaches it without being counted (``_tracker``): it
  never comes back to it in a round, or only by way of a status that is counted.
  ``ENDS_FOR_GOOD`` are the ends among them (bk-job's irreversible ends).

Hosts (bk-job's ``ExecuteObjectTaskStatusEnum``) wait (5), run (7) and end (any other code),
once a round: ``HOST_RANK`` orders the three, so that a move forward needs no count.
"""

from __future__ import annotations

from ..models import HostStatus, JobStatus
from .events import PERSON_WAITING

__all__ = [
    "ENDS_FOR_GOOD",
    "HOST_ENDED",
    "HOST_PASSED",
    "HOST_RANK",
    "HOST_RUNNING",
    "HOST_WAITING",
    "NOT_OVER",
    "PASSES",
    "STARTING",
    "STEP_RUNNING",
    "WAITS_FOR_A_PERSON",
]


def _codes(*members: JobStatus) -> frozenset[int]:
    """The codes of ``members``, as plain ints."""
    return frozenset(int(member) for member in members)


#: Not started: the first status of a job or step.
STARTING = int(JobStatus.BLANK)
#: A running step (the one whose hosts are at work).
STEP_RUNNING = int(JobStatus.RUNNING)

#: The job cannot change without a person: not started, or the public ``PERSON_WAITING`` (a
#: confirmation, a rolling pause).
WAITS_FOR_A_PERSON = _codes(JobStatus.BLANK, *PERSON_WAITING)
#: Statuses that are not an end: the waits, running, stopping.
NOT_OVER = WAITS_FOR_A_PERSON | _codes(JobStatus.RUNNING, JobStatus.STOPPING)
#: The ends of a job or step that nothing revives (bk-job's irreversible ends).
ENDS_FOR_GOOD = _codes(
    JobStatus.SUCCESS,
    JobStatus.SKIPPED,
    JobStatus.IGNORE_ERROR,
    JobStatus.TERMINATED,
    JobStatus.ABANDONED,
)
#: What a job or step passes through without being counted: waiting to start, running, the
#: ends for good. Reaching any other status (waiting for a person, between rolling batches,
#: stopping, an end an operation revives, an unknown code) starts its explicit count.
PASSES = _codes(JobStatus.BLANK, JobStatus.RUNNING) | ENDS_FOR_GOOD

#: A host's first two statuses in a round; any other code is an end.
HOST_WAITING = int(HostStatus.WAITING)
HOST_RUNNING = int(HostStatus.RUNNING)
#: A host waits, runs, then ends, once a round: its rank on that path (an end: ``HOST_ENDED``).
HOST_RANK = {HOST_WAITING: 0, HOST_RUNNING: 1}
HOST_ENDED = 2
#: What a host's path to each rank passed through, as ``(status, arrivals)`` pairs.
HOST_PASSED: tuple[tuple[tuple[int, int], ...], ...] = (
    (),
    ((HOST_WAITING, 1),),
    ((HOST_WAITING, 1), (HOST_RUNNING, 1)),
)
