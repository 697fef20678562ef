"""Check a watch's stream after dedupe by ``event_id``: unbroken host chains ending in the true
final status, and exactly one ``JobFinished`` per job. A container (``ContainerTransition``, the
gateway v4) is checked as a host: the simulator runs it as one, under its id."""

from __future__ import annotations

from collections import Counter

from bkjob_async.cluster import read_history
from bkjob_async.cluster._events import unique_events
from bkjob_async.polling.events import (
    ContainerTransition,
    HostTransition,
    JobFinished,
    JobTransition,
    StepTransition,
)


def object_id(event):
    """Return the id the simulator runs a transition's host or container under (``None``: the
    event is neither's)."""
    if isinstance(event, HostTransition):
        return event.host.bk_host_id
    if isinstance(event, ContainerTransition):
        return event.container.id
    return None


async def stream_events(cluster, watch):
    """Return the watch's events (typed) in stream order, deduplicated by ``event_id`` (first
    kept)."""
    return unique_events(delivery.event for delivery in await read_history(cluster, watch))


def finished_jobs(events):
    """Return the jobs of the ``JobFinished`` events, in order."""
    return [e.job_instance_id for e in events if isinstance(e, JobFinished)]


def check_chains(events, simulator, job_ids):
    """Assert the guarantees; return how many host chains were checked."""
    last: dict[tuple[int, int, int | None], int | None] = {}
    for event in events:
        if isinstance(event, (HostTransition, ContainerTransition)):
            key = (event.job_instance_id, event.step_instance_id, object_id(event))
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


def _rank(status: int) -> int:
    """A host's progress in its round: waiting, running, then any end."""
    return {5: 0, 7: 1}.get(status, 2)


def consumer_view(events, simulator, job_ids):
    """Check what a consumer that dedupes by ``event_id`` saw of ``events`` (in the order it
    read them, repeats included), as promised after Redis lost writes: no status reached
    again under a new id, no step back, a chain only broken by a merge (from ``None``, or from
    a status passed before: the holder went on from no state, or an older one),
    one ``JobFinished`` per job, every host ending in its true status. Return the figures:
    events read, repeats dropped by dedupe, merges; raise ``AssertionError`` with every
    violation otherwise."""
    kept = unique_events(events)
    last: dict[tuple, int] = {}
    reached: dict[tuple, set[int]] = {}
    merges, problems = 0, []
    for event in kept:
        if isinstance(event, (HostTransition, ContainerTransition)):
            key = (event.job_instance_id, event.step_instance_id, event.execute_count)
            key += (object_id(event),)
            rank = _rank
        elif isinstance(event, StepTransition):
            key, rank = (event.job_instance_id, event.step_instance_id, event.execute_count), int
        elif isinstance(event, JobTransition):
            key, rank = (event.job_instance_id,), int
        else:
            continue
        current, previous = int(event.current), event.previous
        previous = None if previous is None else int(previous)
        if current in reached.get(key, ()):
            problems.append(
                f"reached again under a new id: {event.event_id} ({previous}->{current})"
            )
        elif key in last and rank is _rank and rank(current) < rank(last[key]):
            problems.append(f"a step back: {event.event_id} ({last[key]} then {current})")
        if previous != last.get(key):
            if previous is None or previous in reached.get(key, ()):
                merges += 1  # derived again from no state, or an older one
            else:
                problems.append(
                    f"a broken chain: {event.event_id} ({previous}->{current}, "
                    f"last seen {last.get(key)})"
                )
        reached.setdefault(key, set()).add(current)
        last[key] = current
    finished = Counter(finished_jobs(kept))
    problems += [f"job {j}: {finished[j]} JobFinished" for j in job_ids if finished[j] != 1]
    for job_id in job_ids:
        for step in simulator.job(job_id).steps:
            for host in step.hosts or ():
                key = (job_id, step.step_instance_id, step.execute_count, host.bk_host_id)
                if last.get(key) != int(host.status):
                    problems.append(f"host {key}: last seen {last.get(key)}, is {host.status}")
    assert not problems, f"{len(problems)} violation(s):\n" + "\n".join(problems[:40])
    return {"read": len(events), "dropped": len(events) - len(kept), "merges": merges}
