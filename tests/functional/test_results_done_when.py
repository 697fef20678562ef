"""Issue 87's "done when", measured by counting requests on the simulator (virtual time).

The other figures have their tests beside the code they measure:
``test_check_jobs.py::test_a_thousand_jobs_cost_one_list_read_a_visit_until_some_end`` (1,000
jobs: one job-list read a visit while none ended) and
``test_results.py::test_a_wait_with_hosts_ends_with_every_hosts_row_and_no_extra_request``.
"""

from __future__ import annotations

import math
from typing import Any

import anyio

from bkjob_async import BkJobClient, Poller, Scope
from bkjob_async.markers import extract
from bkjob_async.models import Host, HostStatus
from bkjob_async.polling import add_jobs, check_jobs
from bkjob_async.testing import (
    BkJobSimulator,
    Fault,
    HostPlan,
    StepPlan,
    loop_time,
    run_virtual,
)

from ..peer_readings import bk_sops

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}


def _printed(job: int, step: int, host: Host) -> str:
    n = host.bk_host_id or 0
    return "\n".join(
        [
            f"<SOPS_VAR>id:{n}</SOPS_VAR>",
            "&lt;SOPS_VAR&gt;id:escaped&lt;/SOPS_VAR&gt;" if n % 3 == 0 else "plain line",
            "<SOPS_VAR>multi:line one",
            "line two</SOPS_VAR>",
            *(f"progress {k}" for k in range(6)),
            f"<SOPS_VAR>last:{n % 7}</SOPS_VAR>",
        ]
    )


def test_a_2000_host_job_every_log_at_a_deadline_in_4_requests_plus_retries() -> None:
    async def main() -> tuple[Any, ...]:
        sim = BkJobSimulator(virtual_clock=loop_time, seed=5)
        sim.set_log_output(_printed)
        hosts = [HostPlan(duration=900 if n % 20 == 0 else 1 + n % 7) for n in range(2000)]
        job = sim.create_job(SCOPE, [StepPlan(hosts=hosts)])
        async with (
            BkJobClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS) as client,
            Poller(client) as poller,
        ):
            with anyio.move_on_after(300):  # the deadline: 100 hosts still run
                await poller.wait_finished(SCOPE, job, with_hosts=True)
            status = await client.get_job_instance_status(SCOPE, job)
            sim.inject(Fault.http_status(503), api="batch_get_job_instance_ip_log", times=2)
            before = sim.request_count("batch_get_job_instance_ip_log")
            logs = await client.host_logs(SCOPE, job, status=status, running=True)
            spent = sim.request_count("batch_get_job_instance_ip_log") - before
        return status, logs, spent

    status, logs, spent = run_virtual(main)
    assert spent == math.ceil(2000 / 500) + 2  # 4 requests, plus the 2 retried
    running = {r.host.key for r in status.steps[0].hosts or () if r.status is HostStatus.RUNNING}
    assert len(running) == 100
    ((_, rows),) = logs.items()
    assert len({row.host.key for row in rows}) == 2000  # the running hosts included
    values = extract(logs)
    for row in rows:
        assert values[row.host] == bk_sops(row.log_content or "")
        done = row.host.key not in running
        assert ("last" in values[row.host]) is done  # a running host's log is its text so far
    assert {v["id"] for v in values.values()} >= {"escaped"}


def test_a_dropped_callback_costs_at_most_one_check_interval() -> None:
    interval = 10.0

    async def main() -> tuple[float, int, int]:
        sim = BkJobSimulator(virtual_clock=loop_time)
        sim.set_callback_whitelist(lambda url: False)  # every callback dropped
        jobs = [sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=23)])])] + [
            sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=3600)])]) for _ in range(999)
        ]
        state: Any = add_jobs(None, SCOPE, jobs)
        async with BkJobClient(
            "http://bk-job.test", transport=sim.transport(), **CREDENTIALS
        ) as client:
            visits = 0
            while True:  # a schedule() re-entered every ``interval`` seconds
                await anyio.sleep(interval)
                visits += 1
                found = await check_jobs(client, SCOPE, state)
                state = found.state
                if found.ended:
                    return loop_time(), visits, sim.request_count("get_job_instance_list")

    seen_at, visits, list_reads = run_virtual(main)
    assert 23 <= seen_at <= 23 + interval  # the end is seen at the first visit after it
    assert list_reads == visits  # one job-list read a visit, for 1,000 jobs
