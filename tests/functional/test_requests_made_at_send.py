"""A job's poll request made at each send (the records past the first ``KEPT_REQUESTS`` slots,
issue 64): the same requests, answers and events as a request kept by its record.

On virtual time against the simulator, one watch of jobs whose hosts run, fail and wait for a
person, with every record keeping its request (the default for so few jobs) and with none
keeping one (``KEPT_REQUESTS`` 0); and the end-only wait served by the job list, which switches
its jobs' polls to no host rows (``Reader.with_hosts``) on records that keep no request.
"""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest

from bkjob_async import (
    BkJobClient,
    HostStatus,
    HostTransition,
    Poller,
    PollPolicy,
    Scope,
)
from bkjob_async._protocol import Request, Response
from bkjob_async.polling import _jobs
from bkjob_async.polling._reader import PollRequests
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan, loop_time, run_virtual

from .test_no_silent_waits import _check, _end_only_watch

SCOPE = Scope.biz(2)


async def _watch() -> dict[str, Any]:
    sim = BkJobSimulator(virtual_clock=loop_time, host_start_delay=0.0, operation_lag=0.0)
    plans = [
        [StepPlan(hosts=[HostPlan(duration=(3.0 + i, 3.0 + i)) for i in range(3)])],
        [StepPlan(hosts=[HostPlan(HostStatus.FAILED, (4.0, 4.0)), HostPlan(duration=(2.0, 2.0))])],
        [StepPlan(hosts=2), StepPlan(hosts=[HostPlan(duration=(6.0, 6.0))] * 2)],
    ]
    ids = [sim.create_job(SCOPE, plan) for plan in plans]
    transport = sim.transport()
    sent: list[tuple[str | None, str | None]] = []
    original = transport.send

    async def send(request: Request) -> Response:
        query = request.query or {}
        sent.append((query.get("job_instance_id"), query.get("return_ip_result")))
        return await original(request)

    transport.send = send  # type: ignore[method-assign]
    client = BkJobClient(
        "http://bkjob.test", app_code="a", app_secret="s", username="u", transport=transport
    )
    told: list[tuple[Any, ...]] = []
    policy = PollPolicy(interval=1.0, max_interval=2.0)
    async with (
        client,
        Poller(client, policy=policy, rng=random.Random(7)) as p,
        p.watch_jobs(SCOPE, ids) as watch,
    ):
        kept: list[bool] = []  # (read while the jobs are watched: a released job keeps none)
        with anyio.fail_after(300):
            async for event in watch:
                kept = kept or [w.request is not None for w in p._driver.registry.jobs.values()]
                key = (
                    getattr(event, "host_key", None) if isinstance(event, HostTransition) else None
                )
                told.append(
                    (
                        type(event).__name__,
                        event.job_instance_id,
                        key,
                        getattr(event, "previous", None),
                        getattr(event, "current", None),
                        getattr(event, "event_id", None),
                    )
                )
                if len(watch.summary().finished) == len(ids):
                    break
    return {"told": told, "sent": sent, "kept": kept}


def test_a_request_made_at_each_send_polls_and_tells_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = run_virtual(_watch)
    monkeypatch.setattr(_jobs, "KEPT_REQUESTS", 0)
    made = run_virtual(_watch)
    assert len(kept["kept"]) == len(made["kept"]) == 3
    assert all(kept["kept"])
    assert not any(made["kept"])
    assert made["sent"] == kept["sent"]
    assert made["told"] == kept["told"]
    assert any(name == "JobFinished" for name, *_ in made["told"])
    polls = [flag for job, flag in made["sent"] if job is not None]  # (not the job list's)
    assert set(polls) == {"true"}  # host rows asked for


def test_an_end_only_wait_reads_no_host_rows_on_requests_made_at_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_jobs, "KEPT_REQUESTS", 0)
    made: list[bool] = []
    job = PollRequests.job

    def recorded(self: PollRequests, *args: Any, with_hosts: bool = True, **kwargs: Any) -> Request:
        made.append(with_hosts)
        return job(self, *args, with_hosts=with_hosts, **kwargs)

    monkeypatch.setattr(PollRequests, "job", recorded)
    _check(run_virtual(_end_only_watch, True))
    assert False in made  # (polls made at their send, without host rows)
