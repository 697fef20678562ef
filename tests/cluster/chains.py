"""Check a watch's stream after dedupe by ``event_id``: unbroken host chains ending in the true
final status, and exactly one ``JobFinished`` per job."""

from __future__ import annotations

import json
from collections import Counter


async def stream_events(cluster, watch):
    """Return the watch's events in stream order, deduplicated by ``event_id`` (first kept)."""
    seen: set[str] = set()
    events = []
    entries = await cluster.redis.xrange(cluster.keys.events(watch))
    for _, fields in entries:
        if fields["id"] in seen:
            continue
        seen.add(fields["id"])
        events.append((fields["id"], json.loads(fields["p"])))
    return events


def check_chains(events, simulator, job_ids):
    """Assert the guarantees; return ``(host chains checked, duplicates of finished)``."""
    last: dict[tuple[int, int, str], int | None] = {}
    finished = Counter()
    for _, payload in events:
        if payload["type"] == "host":
            key = (payload["job"], payload["step"], str(payload["host"]))
            assert payload["prev"] == last.get(key), (key, payload, last.get(key))
            last[key] = payload["cur"]
        elif payload["type"] == "finished":
            finished[payload["job"]] += 1
    assert finished == Counter(dict.fromkeys(job_ids, 1)), "one JobFinished per job"
    hosts = 0
    for job_id in job_ids:
        view = simulator.job(job_id)
        for step in view.steps:
            for host in step.hosts or ():
                key = (job_id, step.step_instance_id, str(host.bk_host_id))
                assert last.get(key) == int(host.status), (key, last.get(key), host.status)
                hosts += 1
    return hosts
