"""One-shot checks (``bkjob_async.polling.checks``): a poller's events, a visit at a time.

The answers a poller read while it watched a job, replayed one visit each through ``check``
with the state stored as JSON between visits, give the poller's own events: the same classes,
ids, statuses and host results, in the same order. A retry's round and a second arrival show
in the ids; a state is refused for another job or when it is not one; ``check_job`` makes the
one request, and the blocking client has it too.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from bkjob_async import (
    BkJobClient,
    HostTransition,
    JobFinished,
    JobInstanceStatus,
    JobTransition,
    Poller,
    Scope,
    StepTransition,
    from_json,
    to_json,
)
from bkjob_async.models import HostStatus, JobStatus
from bkjob_async.polling import Check, check, check_job
from bkjob_async.sync import BkJobClient as SyncClient
from bkjob_async.sync import check_job as check_job_blocking
from bkjob_async.testing import (
    BkJobSimulator,
    HostPlan,
    Request,
    Response,
    StepPlan,
    loop_time,
    run_virtual,
)

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}
TRANSITIONS = (HostTransition, StepTransition, JobTransition, JobFinished)
FAILS = HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE


class Recording:
    """A transport in front of another that keeps every status answer it passed on."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seen = inner, []

    async def send(self, request: Request) -> Response:
        response = await self.inner.send(request)
        if request.api == "get_job_instance_status" and response.status == 200:
            self.seen.append((request, response))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def described(events: list[Any]) -> list[tuple[Any, ...]]:
    out = []
    for e in events:
        if isinstance(e, HostTransition):
            out.append(("host", e.event_id, e.previous, e.current, e.result))
        elif isinstance(e, JobFinished):
            out.append(("finished", e.event_id, e.status, e.snapshot))
        else:
            out.append((type(e).__name__, e.event_id, e.previous, e.current))
    return out


def test_a_visit_per_answer_gives_the_pollers_events() -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        sim = BkJobSimulator(virtual_clock=loop_time, seed=3)
        steps = [
            StepPlan(hosts=[HostPlan(duration=d) for d in (2, 9, 30)]),
            StepPlan(hosts=[HostPlan(duration=4), HostPlan(duration=12, outcome=FAILS)]),
        ]
        job = sim.create_job(SCOPE, steps)
        wire = Recording(sim.transport())
        async with BkJobClient("http://bk-job.test", transport=wire, **CREDENTIALS) as client:
            async with Poller(client) as poller:
                watched = [e async for e in poller.watch_jobs(SCOPE, [job])]
            visits, state = [], None
            for request, response in wire.seen:
                data = client.protocol.decipher(request, response)
                status = client.protocol.parse(data, JobInstanceStatus)
                found = check(state, status)
                state = json.loads(json.dumps(found.state))  # (stored between visits)
                visits += found.events
        return [e for e in watched if isinstance(e, TRANSITIONS)], visits

    watched, visits = run_virtual(main)
    assert len(watched) >= 12
    assert described(visits) == described(watched)
    assert isinstance(visits[-1], JobFinished)
    assert visits[-1].status is JobStatus.FAIL


def status(
    job: int, hosts: list[int], *, count: int = 0, job_status: int = 2, step_status: int = 2
) -> JobInstanceStatus:
    """A v3 status of one step whose hosts have the given codes."""
    done = job_status in (3, 4)
    return from_json(
        JobInstanceStatus,
        {
            "finished": done,
            "job": {"job_instance_id": job, "status": job_status},
            "steps": [
                {
                    "step_instance_id": 70,
                    "status": step_status,
                    "execute_count": count,
                    "hosts": [
                        {"host": {"bk_host_id": 100 + n}, "status": code}
                        for n, code in enumerate(hosts)
                    ],
                }
            ],
        },
    )


AT = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def test_a_retry_shows_in_the_ids_and_the_first_visit_has_no_previous() -> None:
    seen: list[Any] = []
    state = None
    for answer in (
        status(7, [7, 7]),
        status(7, [9, 104], job_status=4, step_status=4),
        status(7, [9, 7], count=1),  # the failed host retried: round 1
        status(7, [9, 9], count=1, job_status=3, step_status=3),
    ):
        found = check(state, answer, observed_at=AT)
        assert isinstance(found, Check)
        assert found.finished is answer.finished
        state = found.state
        seen.append([e.event_id for e in found.events])
    first, failed, retried, ended = seen
    assert first == ["7/70/0/h100/7", "7/70/0/h101/7", "7/70/0/s/2", "7/j/2/r0"]
    assert failed == [
        "7/70/0/h100/9",
        "7/70/0/h101/104",
        "7/70/0/s/4",
        "7/j/4/r0",
        "7/finished/4/r0",
    ]
    assert retried[:2] == ["7/70/1/h101/7", "7/70/1/s/2"]
    assert ended[-1] == "7/finished/3/r1"
    again = check(state, status(7, [9, 9], count=1, job_status=3, step_status=3))
    assert again.events == ()  # (reported already: the same state, no second JobFinished)


def test_a_state_is_the_jobs_own_and_json_ready() -> None:
    found = check(None, status(7, [7]), observed_at=AT)
    assert json.loads(json.dumps(found.state)) == found.state
    with pytest.raises(ValueError, match="job 7's, and the status job 8's"):
        check(found.state, status(8, [7]))
    with pytest.raises(ValueError, match="not a stored check state"):
        check({"hosts": []}, status(7, [7]))
    with pytest.raises(ValueError, match="not a saved job state"):
        check({**found.state, "tracker": {"v": 2}}, status(7, [7]))
    with pytest.raises(TypeError, match="JobInstanceStatus"):
        check(None, to_json(status(7, [7])))  # type: ignore[arg-type]


async def test_check_job_makes_one_request() -> None:
    async with BkJobSimulator(virtual_clock=True) as sim:
        job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=2)])])
        async with BkJobClient(
            "http://bk-job.test", transport=sim.transport(), **CREDENTIALS
        ) as client:
            first = await check_job(client, SCOPE, job)
            sim.advance(30)
            second = await check_job(client, SCOPE, job, first.state)
        assert sim.request_count("get_job_instance_status") == 2
    assert not first.finished
    assert second.finished
    assert [type(e).__name__ for e in second.events][-1] == "JobFinished"


def test_the_blocking_client_checks_too() -> None:
    sim = BkJobSimulator(virtual_clock=True)
    job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=2)])])
    with SyncClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS) as client:
        found = check_job_blocking(client, SCOPE, job)
        sim.advance(30)
        done = check_job_blocking(client, SCOPE, job, json.loads(json.dumps(found.state)))
    assert done.finished
    assert isinstance(done.events[-1], JobFinished)
