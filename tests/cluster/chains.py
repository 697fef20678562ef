"""Check a watch's stream after dedupe by ``event_id``: unbroken host chains ending in the true
final status, and exactly one ``JobFinished`` per job."""

from __future__ import annotations

from collections import Counter

from bkjob_async.cluster import read_history
from bkjob_async.polling.events import HostTransition, JobFinished


async def stream_events(cluster, watch):
    """Return the watch's events (typed) in stream order, deduplicated by ``event_id`` (first
    kept)."""
    seen: set[str] = set()
    events = []
    for delivery in await read_history(cluster, watch):
        if delivery.event.event_id not in seen:
            seen.add(delivery.event.event_id)
            events.append(delivery.event)
    return events


def finished_jobs(events):
    """Return the jobs of the ``JobFinished`` events, in order."""
    return [e.job_instance_id for e in events if isinstance(e, JobFinished)]


def check_chains(events, simulator, job_ids):
    """Assert the guarantees; return how many host chains were checked."""
    last: dict[tuple[int, int, int | None], int | None] = {}
    for event in events:
        if isinstance(event, HostTransition):
            key = (event.job_instance_id, event.step_instance_id, event.host.bk_host_id)
            previous = None if event.previous is None else int(event.previous)
            assert previous == last.get(key), (key, event, last.get(key))
            last[key] = int(event.current)
    assert Counter(finished_jobs(events)) == Counter(dict.fromkeys(job_ids, 1)), (
        "one JobFinished per job"
    )
    hosts = 0
    for job_id in job_ids:
        view = simulator.job(job_id)
        for step in view.steps:
            for host in step.hosts or ():
                key = (job_id, step.step_instance_id, host.bk_host_id)
                assert last.get(key) == int(host.status), (key, last.get(key), host.status)
                hosts += 1
    return hosts
