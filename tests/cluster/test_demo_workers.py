"""``bkjob-async demo --workers 3`` end to end (a private redis-server, three worker processes,
one SIGKILLed), and its message when redis-server is missing."""

from __future__ import annotations

import io

import pytest

from bkjob_async.cli import amain

from .redis_server import find_redis_server


@pytest.mark.timeout(180)
async def test_the_cluster_demo_kills_a_worker_and_loses_no_transition():
    find_redis_server()  # skip (or fail in CI) without it
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
