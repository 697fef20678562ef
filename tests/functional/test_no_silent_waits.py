"""No silent waits (issue 49, point 3): a wait for ends tells of jobs that wait for a person,
and of failed jobs with their hosts.

On virtual time against the simulator: a watch filtered to ``JobFinished`` and ``WatchFailed``
(the end-only mode, served by the job list) over jobs that wait for a confirmation and jobs
whose hosts fail. The waiting jobs are said to wait (``JobTransition`` to ``WAITING_USER``,
which no filter drops); the failed ones end with their failed hosts in ``watch.summary()``,
or, where the snapshot has no host rows, through ``failed_hosts``: never an empty report.
"""

from __future__ import annotations

from typing import Any

import anyio

from bkjob_async import (
    BkJobClient,
    HostStatus,
    JobFinished,
    JobStatus,
    JobTransition,
    Poller,
    PollPolicy,
    Scope,
    StepType,
    WatchFailed,
    failed_hosts,
)
from bkjob_async.polling import PERSON_WAITING, waits_for_a_person
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan, loop_time, run_virtual

SCOPE = Scope.biz(2)
POLICY = PollPolicy(interval=1.0, max_interval=5.0)


def _bad(n: int) -> list[HostPlan]:
    return [HostPlan(duration=(5.0, 5.0)), *[HostPlan(HostStatus.FAILED, (5.0, 5.0))] * n]


async def _end_only_watch(census: bool) -> dict[str, Any]:
    sim = BkJobSimulator(virtual_clock=loop_time, host_start_delay=0.0, operation_lag=0.0)
    waiting = [sim.create_job(SCOPE, [StepPlan(StepType.MANUAL_CONFIRM)]) for _ in range(3)]
    failing = [sim.create_job(SCOPE, [StepPlan(hosts=_bad(n + 1))]) for n in range(2)]
    good = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    ids = [*waiting, *failing, good]
    told: list[Any] = []
    client = BkJobClient(
        "http://bkjob.test", app_code="a", app_secret="s", username="u", transport=sim.transport()
    )
    policy = PollPolicy(interval=1.0, max_interval=5.0, census=census)
    async with client, Poller(client, policy=policy) as poller:
        async with poller.watch_jobs(SCOPE, ids, events=(JobFinished, WatchFailed)) as watch:
            with anyio.move_on_after(600):  # the waiting jobs never end: no deadline ends this
                async for event in watch:
                    told.append(event)
                    summary = watch.summary()
                    if len(summary.finished) == 3 and len(summary.waiting) == 3:
                        break
            summary = watch.summary()
            statistics = poller.statistics()
        finished = [e for e in told if isinstance(e, JobFinished)]
        reported = await failed_hosts(client, SCOPE, finished)
    return {
        "told": told,
        "summary": summary,
        "reported": reported,
        "ids": (waiting, failing, good),
        "census_requests": statistics.census_requests,
        "virtual": loop_time(),
    }


def _check(result: dict[str, Any]) -> None:
    waiting, failing, good = result["ids"]
    told, summary = result["told"], result["summary"]
    said_waiting = {e.job_instance_id for e in told if waits_for_a_person(e)}
    assert said_waiting == set(waiting)
    assert all(e.current is JobStatus.WAITING_USER for e in told if isinstance(e, JobTransition))
    assert result["virtual"] < 600  # it ended because all was said, not by the timeout
    assert set(summary.waiting) == set(waiting)
    assert set(summary.finished) == {*failing, good}
    assert set(summary.failed) == set(failing)
    assert summary.statuses == {"FAIL": 2, "SUCCESS": 1, "WAITING_USER": 3}
    # Each failing job has n + 1 failed hosts: 1 and 2, 3 in all, with hosts and steps.
    by_job = {j: [h for h in result["reported"] if h.job_instance_id == j] for j in failing}
    assert [len(by_job[j]) for j in failing] == [1, 2]
    assert all(h.status is HostStatus.FAILED and h.host.bk_host_id for h in result["reported"])
    # The summary lists the same hosts, or names the jobs whose snapshots had none to read.
    listed = {(h.job_instance_id, h.host.key) for h in summary.failed_hosts}
    unread = set(summary.hosts_unread)
    for job in failing:
        hosts = {(job, h.host.key) for h in by_job[job]}
        assert hosts <= listed or job in unread
    assert len(summary.failed_hosts) + len(unread) > 0  # never a silently empty report
    assert summary.to_dict()["failed"] == list(summary.failed)


def test_an_end_only_watch_over_the_job_list_tells_of_waiting_and_failed_jobs() -> None:
    result = run_virtual(_end_only_watch, True)
    assert result["census_requests"] > 0  # the job list stood for the polls
    _check(result)


def test_an_end_only_watch_polling_each_job_tells_the_same() -> None:
    result = run_virtual(_end_only_watch, False)
    assert result["census_requests"] == 0
    _check(result)


def test_the_rule_is_the_same_for_every_filter() -> None:
    event = JobTransition(1, None, JobStatus.RUNNING, JobStatus.WAITING_USER)  # type: ignore[arg-type]
    assert waits_for_a_person(event)
    assert not waits_for_a_person(JobTransition(1, None, None, JobStatus.RUNNING))  # type: ignore[arg-type]
    assert {JobStatus.WAITING_USER, JobStatus.ROLLING_WAITING} == PERSON_WAITING
