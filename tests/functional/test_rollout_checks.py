"""``check_rollout``: a rollout as visits over JSON state, one job-list read a visit."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import anyio
import pytest

from bkjob_async import JobStatus
from bkjob_async.polling.rollout_checks import (
    LaunchEnded,
    RolloutCheck,
    check_rollout,
    rollout_state,
)
from bkjob_async.polling.rollouts import Launched, LaunchFailed, LaunchTimedOut

from ..virtual import SCOPE, VirtualBkJob, run_virtual
from .test_rollouts import Quota, script


def visits(
    server: VirtualBkJob, state: dict[str, Any], transport: Any = None, every: float = 5.0
) -> tuple[list[Any], list[RolloutCheck]]:
    """Visit the rollout every ``every`` s until done, storing its state as JSON between."""

    async def main() -> tuple[list[Any], list[RolloutCheck]]:
        events: list[Any] = []
        checks: list[RolloutCheck] = []
        stored = json.dumps(state)
        async with server.client(transport) as client:
            while True:
                found = await check_rollout(client, json.loads(stored), now=sim_now(server))
                stored = json.dumps(found.state)
                events.extend(found.events)
                checks.append(found)
                if found.done:
                    return events, checks
                await anyio.sleep(every)

    return run_virtual(main)


def sim_now(server: VirtualBkJob) -> float:
    return server.sim._world.now_ms() / 1000  # (the simulator's epoch: virtual time)


def test_visits_launch_every_key_once_under_the_cap() -> None:
    server = VirtualBkJob(host_duration=(10, 120), seed=21)
    quota = Quota(server, None)
    state = rollout_state(
        SCOPE, "r", {f"k{i}": script() for i in range(40)}, max_running=8, now=0.0
    )
    events, checks = visits(server, state, quota.transport)
    kinds = Counter(type(e).__name__ for e in events)
    assert kinds["Launched"] == kinds["LaunchEnded"] == 40
    assert quota.peak <= 8
    assert len(server.sim.job_ids()) == 40
    assert all(e.status == JobStatus.SUCCESS for e in events if isinstance(e, LaunchEnded))
    # one job-list read a visit that has jobs out, and never a status read
    assert all(c.requests.get("get_job_instance_list", 0) <= 1 for c in checks)
    assert sum(c.requests.get("get_job_instance_status", 0) for c in checks) == 0


def test_visits_learn_the_quota_and_lose_no_answer() -> None:
    server = VirtualBkJob(host_duration=(10, 60), seed=22)
    quota = Quota(server, 5, drop=0.2, seed=22)
    state = rollout_state(SCOPE, "r", {f"k{i}": script() for i in range(30)}, now=0.0)
    events, checks = visits(server, state, quota.transport)
    names = Counter(server.sim.job(i).name for i in server.sim.job_ids())
    assert len(names) == 30
    assert all(n == 1 for n in names.values())
    assert quota.dropped >= 3
    assert quota.peak <= 5
    assert sorted(e.key for e in events if isinstance(e, Launched)) == sorted(
        f"k{i}" for i in range(30)
    )
    assert all(c.requests.get("get_job_instance_list", 0) <= 1 for c in checks)


def test_a_visit_past_the_deadline_stops_what_runs() -> None:
    server = VirtualBkJob(host_duration=(100, 200), seed=23)
    state = rollout_state(
        SCOPE, "r", {f"k{i}": script() for i in range(4)}, max_running=2, deadline=30, now=0.0
    )
    state["deadline"] = None  # (set below on the simulator's clock)

    async def main() -> list[Any]:
        events: list[Any] = []
        stored = state
        async with server.client() as client:
            stored["deadline"] = sim_now(server) + 30
            while True:
                found = await check_rollout(client, stored, now=sim_now(server))
                stored = json.loads(json.dumps(found.state))
                events.extend(found.events)
                if found.done:
                    return events
                await anyio.sleep(5)

    events = run_virtual(main)
    timed_out = [e for e in events if isinstance(e, LaunchTimedOut)]
    failed = [e for e in events if isinstance(e, LaunchFailed)]
    assert len(timed_out) == 2
    assert len(failed) == 2
    for event in timed_out:
        assert event.terminated
        assert event.snapshot is not None
        assert event.snapshot.finished


def test_a_state_that_is_not_a_rollouts_is_refused() -> None:
    async def main() -> None:
        server = VirtualBkJob()
        async with server.client() as client:
            with pytest.raises(ValueError, match="rollout state"):
                await check_rollout(client, {"kind": "bkjob-check"})

    run_virtual(main)


def test_the_blocking_client_visits_a_rollout_too() -> None:
    from bkjob_async.sync import BkJobClient as SyncClient
    from bkjob_async.sync import check_rollout as check_rollout_blocking
    from bkjob_async.testing import BkJobSimulator

    sim = BkJobSimulator(virtual_clock=True, host_duration=(10, 20))
    state: dict[str, Any] = rollout_state(
        SCOPE, "r", {f"k{i}": script() for i in range(5)}, max_running=2, now=0.0
    )
    credentials = {"app_code": "a", "app_secret": "s", "username": "admin"}
    events: list[Any] = []
    with SyncClient("http://bk-job.test", transport=sim.transport(), **credentials) as client:
        for _ in range(20):
            found = check_rollout_blocking(client, state, now=sim._world.now_ms() / 1000)
            events.extend(found.events)
            state = json.loads(json.dumps(found.state))
            if found.done:
                break
            sim.advance(30)
    assert found.done
    assert Counter(type(e).__name__ for e in events) == {"Launched": 5, "LaunchEnded": 5}
    assert len(sim.job_ids()) == 5
