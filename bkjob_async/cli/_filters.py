"""Rule: a filter narrows what is shown, never what the command needs to end and to judge.

``watch --events/--status`` as the poller's filter and a predicate, and the summary as JSON.

Rule: a filter narrows what is shown, never what the command needs to end and to judge: job
ends and outages always reach it (an end-only ``--events`` lets the poller read the job list
instead of each job), and a job that comes to wait for a person is always shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..polling import events
from ..polling.events import waits_for_a_person
from ._jsonl import EVENT_NAMES

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from ..polling import WatchSummary
    from ._tally import Summary

__all__ = ["poller_kinds", "shown_events", "summary_object"]

#: What the command needs whatever is shown: each job's end, outages, and jobs failing alone.
_NEEDED = frozenset(
    {
        events.JobFinished,
        events.WatchFailed,
        events.WatchTimedOut,
        events.PollingStalled,
        events.PollingResumed,
        events.JobPollFailing,
        events.JobPollRecovered,
    }
)


def poller_kinds(args: argparse.Namespace) -> frozenset[type] | None:
    """Return the event classes to ask the poller for (``None``: every event)."""
    names: frozenset[str] | None = getattr(args, "events", None)
    if not names:
        return None
    return _NEEDED | {cls for cls, name in EVENT_NAMES.items() if name in names}


def shown_events(args: argparse.Namespace) -> Callable[[events.Event], bool] | None:
    """Return which events to show, or ``None`` for all."""
    names: frozenset[str] | None = getattr(args, "events", None)
    statuses: frozenset[str] | None = getattr(args, "status", None)
    if not names and not statuses:
        return None

    def shows(event: events.Event) -> bool:
        if waits_for_a_person(event):
            return True
        if names and EVENT_NAMES[type(event)] not in names:
            return False
        status = getattr(event, "current", None) or getattr(event, "status", None)
        return not statuses or status is None or status.name in statuses

    return shows


def summary_object(summary: Summary, told: WatchSummary | None) -> dict[str, Any]:
    """Return the final summary as one JSON object: every job and host, nothing cut."""
    ids = [record.job_instance_id for record in summary.failed_jobs]
    return {
        "event": "summary",
        "title": summary.title,
        "elapsed": round(summary.elapsed, 3),
        "interrupted": summary.interrupted,
        "jobs": summary.jobs,
        "jobs_by_outcome": dict(summary.jobs_by_outcome),
        "failed_jobs": ids,
        "waiting_jobs": [record.job_instance_id for record in summary.waiting_jobs],
        "timed_out_jobs": [record.job_instance_id for record in summary.timed_out_jobs],
        "hosts": summary.hosts,
        "containers": summary.containers,
        "hosts_by_status": dict(summary.hosts_by_status),
        "hosts_unfinished": summary.hosts_unfinished,
        "polls": summary.polls,
        "unchanged_polls": summary.unchanged_polls,
        "retries": summary.retries,
        "errors": dict(summary.errors),
        "events": summary.events,
        "watch": None if told is None else told.to_dict(),
    }
