"""``bkjob-async demo --workers 3`` end to end (a private redis-server, three worker processes,
one SIGKILLed), and its message when redis-server is missing."""

from __future__ import annotations

import io

import pytest

from bkjob_async.cli import amain

from .redis_server import find_redis_server


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "host_duration",
    [
        # The demo as shipped has hosts of 2-8 s: about 20 s. ``make test`` runs it with
        # hosts of 1-4 s (the kill still lands while jobs run); the shipped one is ``slow``.
        pytest.param((1.0, 4.0), id="quick-hosts"),
        pytest.param(None, id="as-shipped", marks=pytest.mark.slow),
    ],
)
async def test_the_cluster_demo_kills_a_worker_and_loses_no_transition(monkeypatch, host_duration):
    find_redis_server()  # skip (or fail in CI) without it
    if host_duration is not None:
        import bkjob_async.testing

        class QuickHosts(bkjob_async.testing.BkJobSimulator):
            def __init__(self, **options):
                super().__init__(**{**options, "host_duration": host_duration})

        monkeypatch.setattr(bkjob_async.testing, "BkJobSimulator", QuickHosts)
    out = io.StringIO()
    status = await amain(["demo", "--workers", "3", "--jobs", "30", "--hosts", "4"], stdout=out)
    text = out.getvalue()
    assert status == 0, text
    assert "killed worker-1 (SIGKILL)" in text
    assert "its partitions were taken over in" in text
    assert "no transition lost" in text


async def test_the_cluster_demo_without_redis_server_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    err = io.StringIO()
    status = await amain(["demo", "--workers", "3"], stderr=err)
    assert status == 2
    assert "redis-server is not installed" in err.getvalue()
    assert "without --workers needs no Redis" in err.getvalue()


async def test_a_job_that_never_ends_is_named_with_what_the_cluster_knows(make_cluster):
    """The demo's message on a stall says which job, since when, and where it stands."""
    import datetime as dt

    from bkjob_async import JobStatus
    from bkjob_async.cli._demo import SCOPE, WATCH, _missing
    from bkjob_async.cluster import LeaseKeeper, NewEvent
    from bkjob_async.cluster._entries import encode_entry, wire_of
    from bkjob_async.models import JobInstanceStatus
    from bkjob_async.polling.events import JobFinished, JobTransition

    from .test_entries import RAW, protocol

    cluster = make_cluster()
    await cluster.submit(SCOPE, [1, 2, 3], watch=WATCH)
    keeper = LeaseKeeper(cluster, worker_id="pub", ttl=30)
    await keeper.tick()
    at = dt.datetime.now(dt.timezone.utc)
    snapshot = protocol().parse(RAW, JobInstanceStatus)
    for event in (
        JobTransition(1, at, None, JobStatus(2)),
        JobFinished(1, at, JobStatus(3), snapshot),
        JobTransition(2, at, None, JobStatus(2)),
    ):
        entry = NewEvent(WATCH, event.event_id, encode_entry(event, RAW, wire_of(protocol())))
        await cluster.commit(keeper.lease(0), events=[entry])
    await keeper.release()
    await cluster.cancel(SCOPE, [3], watch=WATCH)
    lines = await _missing(cluster, [1, 2, 3])
    assert len(lines) == 2  # job 1 ended
    assert lines[0].startswith("job 2: last event ")
    assert "s ago (JobTransition); in the job set; partition " in lines[0]
    assert lines[0].endswith(": nobody")
    assert lines[1].startswith("job 3: no event yet; gone from the job set")
