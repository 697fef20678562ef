"""The simulator's running-job quota, start-later launches, timeouts, host plans and lost answers.

As bk-job does it (``TaskExecuteServiceImpl``, ``RunningJobResourceQuotaManager`` and its Lua
check, ``JobListener``, ``ScriptResultHandleTask``): a job takes its slot when it is created
(``start_task=false`` too) and frees it when it ends; the system's limit is checked first, then
the scope's, then the app's. All on virtual time, in memory.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import pytest

from bkjob_async import (
    Account,
    BkJobClient,
    HostStatus,
    JobOperation,
    JobStatus,
    OperationNotAllowedError,
    QuotaExceededError,
    RateLimitedError,
    Scope,
    StepOperation,
    Targets,
    TransportError,
)
from bkjob_async.errors import ConnectError
from bkjob_async.testing import (
    BkJobSimulator,
    Fault,
    HostPlan,
    RunningJobQuota,
    StepPlan,
    loop_time,
    run_virtual,
)

T = TypeVar("T")
BIZ, OTHER = Scope.biz(2), Scope.biz(3)
FLAVORS = ["esb-v2", "esb-jobv3", "apigw-v3", "apigw-v4"]


def simulator(**kwargs: Any) -> BkJobSimulator:
    kwargs.setdefault("host_duration", 10.0)
    return BkJobSimulator(
        virtual_clock=loop_time, host_start_delay=0.0, operation_lag=0.0, **kwargs
    )


def client(sim: BkJobSimulator, flavor: str = "apigw-v3", app: str = "app") -> BkJobClient:
    return BkJobClient(
        "http://bk.test",
        app_code=app,
        app_secret="s3cr3t-app-secret-value",
        username="admin",
        flavor=flavor,
        transport=sim.transport(),
    )


async def launch(
    bk: BkJobClient,
    scope: Scope = BIZ,
    *,
    hosts: tuple[int, ...] = (1001,),
    **kwargs: Any,
) -> int:
    targets = (
        Targets(ips=[f"0:10.0.0.{h % 250}" for h in hosts])
        if bk.flavor.value == "esb-v2"
        else Targets(host_ids=list(hosts))
    )
    done = await bk.fast_execute_script(
        scope, targets=targets, account=Account(alias="root"), script_content="echo", **kwargs
    )
    return done.job_instance_id


def run(main: Callable[[], Awaitable[T]]) -> T:
    return run_virtual(main)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_full_scope_refuses_launches_until_a_job_ends(flavor: str) -> None:
    sim = simulator(quota=RunningJobQuota(scope=2))

    async def main() -> None:
        async with client(sim, flavor) as bk:
            await launch(bk)
            await anyio.sleep(4)
            await launch(bk)
            assert sim.running_jobs(BIZ) == 2
            with pytest.raises(QuotaExceededError) as refused:
                await launch(bk)
            assert refused.value.quota == "scope"
            assert refused.value.http_status == (429 if flavor == "apigw-v4" else 200)
            await launch(bk, OTHER)  # another scope has its own slots
            await anyio.sleep(6.5)  # the first job ended (10 s): its slot is free
            assert sim.running_jobs(BIZ) == 1
            await launch(bk)

    run(main)
    assert sim.request_count("fast_execute_script") == 5  # the refusal was not resent
    assert sim.statistics().quota_refused == 1
    assert (sim.peak_running(BIZ), sim.peak_running(OTHER), sim.peak_running()) == (2, 1, 3)


def test_the_system_is_checked_first_then_the_scope_then_the_app() -> None:
    sim = simulator(quota=RunningJobQuota(scope=2, app=1, system=3))
    sim.create_job(OTHER, [StepPlan()])  # no app: counts for its scope and the system

    async def main() -> list[str | None]:
        found: list[str | None] = []
        async with client(sim, app="app") as bk, client(sim, app="other") as other:
            await launch(bk)
            for caller in (bk, other, other, other):
                try:
                    await launch(caller)
                except QuotaExceededError as exc:
                    found.append(exc.quota)
                else:
                    found.append(None)
        return found

    # app 1/1 -> refused for the app; other app: scope 1/2 ok; scope 2/2 -> scope; then the
    # system (3 running: 2 here, 1 in OTHER) is full before the scope is checked.
    assert run(main) == ["app", None, "system", "system"]
    assert sim.running_jobs() == 3


def test_a_job_created_not_started_holds_its_slot_until_started_and_ended() -> None:
    sim = simulator(quota=RunningJobQuota(scope=1))

    async def main() -> None:
        async with client(sim) as bk:
            job = await launch(bk, start_task=False)
            await anyio.sleep(30)
            assert sim.job(job).status is JobStatus.BLANK  # bk-job's 1: created, not started
            assert sim.running_jobs(BIZ) == 1
            with pytest.raises(QuotaExceededError):
                await launch(bk)
            await bk.operate_job_instance(BIZ, job, JobOperation.START)  # no quota check
            assert sim.job(job).status is JobStatus.RUNNING
            with pytest.raises(OperationNotAllowedError) as again:
                await bk.operate_job_instance(BIZ, job, JobOperation.START)
            assert again.value.code == 1241015
            await anyio.sleep(10)
            assert sim.job(job).status is JobStatus.SUCCESS
            assert sim.running_jobs(BIZ) == 0
            await launch(bk)

    run(main)


def test_any_end_frees_the_slot_and_a_revived_job_takes_it_again_unchecked() -> None:
    sim = simulator(quota=RunningJobQuota(scope=1), stop_delay=1.0)
    sim.plan_hosts(HostPlan(bk_host_id=1002, outcome=HostStatus.SCRIPT_FAILED, duration=2.0))

    async def main() -> None:
        async with client(sim) as bk:
            failing = await launch(bk, hosts=(1002,))
            await anyio.sleep(2.5)
            assert sim.job(failing).status is JobStatus.FAIL
            stopped = await launch(bk)  # the failed job's slot is free
            await bk.operate_job_instance(BIZ, stopped, JobOperation.TERMINATE)
            await anyio.sleep(1.5)
            assert sim.job(stopped).status is JobStatus.STOP_SUCCESS
            assert sim.running_jobs(BIZ) == 0
            step = sim.job(failing).steps[0].step_instance_id
            await launch(bk)
            await bk.operate_step_instance(BIZ, failing, step, StepOperation.RETRY_ALL)
            assert sim.running_jobs(BIZ) == 2  # re-added as bk-job does, over the quota

    run(main)
    assert sim.peak_running(BIZ) == 2


@pytest.mark.parametrize("flavor", ["esb-v2", "apigw-v3", "apigw-v4"])
def test_a_script_timeout_ends_a_host_with_102_and_fails_the_job(flavor: str) -> None:
    sim = simulator()
    sim.plan_hosts(
        HostPlan(bk_host_id=1001, ip="10.0.0.1", duration=30.0),
        HostPlan(bk_host_id=1003, ip="10.0.0.3", duration=3.0),
    )

    async def main() -> None:
        async with client(sim, flavor) as bk:
            slow = await launch(bk, hosts=(1001,), script_timeout=5)
            quick = await launch(bk, hosts=(1003,), script_timeout=5)
            await anyio.sleep(6)
        host = sim.job(slow).steps[0].hosts
        assert host is not None
        assert host[0].status is HostStatus.SCRIPT_TIMEOUT
        assert host[0].end_time is not None
        assert host[0].start_time is not None
        assert host[0].end_time - host[0].start_time == 5000
        assert (sim.job(slow).status, sim.job(slow).steps[0].status) == (JobStatus.FAIL,) * 2
        assert sim.job(quick).status is JobStatus.SUCCESS

    run(main)


def test_host_plans_say_which_host_ends_how_and_when() -> None:
    sim = simulator()
    sim.plan_hosts(
        HostPlan(bk_host_id=1001, outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, duration=30.0),
        HostPlan(bk_host_id=1002, duration=5.0, exit_code=0),
    )

    async def main() -> None:
        async with client(sim) as bk:
            job = await launch(bk, hosts=(1001, 1002, 1003))
            await anyio.sleep(31)
        hosts = {h.bk_host_id: h for h in sim.job(job).steps[0].hosts or ()}
        assert hosts[1001].status is HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE
        assert hosts[1001].exit_code == 1
        assert hosts[1002].status is HostStatus.SUCCESS
        assert hosts[1003].status is HostStatus.SUCCESS  # no plan: the defaults (10 s)
        took = {k: (h.end_time or 0) - (h.start_time or 0) for k, h in hosts.items()}
        assert took == {1001: 30000, 1002: 5000, 1003: 10000}
        assert sim.job(job).status is JobStatus.FAIL

    run(main)
    with pytest.raises(ValueError, match="names its host"):
        sim.plan_hosts(HostPlan(duration=1.0))


@pytest.mark.parametrize("flavor", FLAVORS[1:])  # (v2 launches cannot start later)
def test_a_lost_answer_leaves_the_job_created(flavor: str) -> None:
    sim = simulator()

    async def main() -> None:
        async with client(sim, flavor) as bk:
            sim.inject(Fault.reset(), api="fast_execute_script")
            with pytest.raises(TransportError) as lost:
                await launch(bk, task_name="key-1", start_task=False)
            assert not isinstance(lost.value, ConnectError)  # sent: the outcome is unknown

    run(main)
    assert sim.request_count("fast_execute_script") == 1  # not resent
    (job,) = sim.job_ids()
    assert sim.job(job).name == "key-1"
    assert sim.job(job).status is JobStatus.BLANK


def test_a_fault_rate_loses_a_share_of_answers_repeatably() -> None:
    def lost(seed: int) -> tuple[int, int]:
        sim = simulator(seed=seed)

        async def main() -> int:
            sim.inject(Fault.reset(), api="fast_execute_script", times=None, rate=0.25)
            failed = 0
            async with client(sim) as bk:
                for _ in range(200):
                    try:
                        await launch(bk)
                    except TransportError:
                        failed += 1
            return failed

        return run(main), len(sim.job_ids())

    failed, jobs = lost(1)
    assert jobs == 200  # every launch created its job, answered or not
    assert 30 <= failed <= 70
    assert lost(1) == (failed, jobs)
    with pytest.raises(ValueError, match="rate"):
        simulator().inject(Fault.reset(), rate=0.0)


def test_a_quota_refusal_is_a_rate_limit_to_old_callers() -> None:
    sim = simulator(quota=RunningJobQuota(system=1))

    async def main() -> None:
        async with client(sim, "esb-jobv3") as bk:
            await launch(bk)
            with pytest.raises(RateLimitedError) as refused:
                await launch(bk)
            assert refused.value.code == 1244034

    run(main)


@pytest.mark.parametrize("flavor", ["esb-jobv3", "apigw-v3", "apigw-v4"])
def test_the_name_filter_is_sql_like(flavor: str) -> None:
    sim = simulator()
    names = ["deploy_a%1", "deployXa-1", "DEPLOY_A%1-retry", "other", "dep%loy"]

    async def main() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        async with client(sim, flavor) as bk:
            for name in names:
                await launch(bk, task_name=name)
            now = _dt.datetime.fromtimestamp(sim.now_ms() / 1000, _dt.timezone.utc)
            window = {"created_from": now - _dt.timedelta(hours=1), "created_to": now}
            for query in ("deploy_a%1", "other", "p%l", "_", "zz"):
                page = await bk.get_job_instance_list(BIZ, name=query, length=100, **window)
                found[query] = sorted(item.name for item in page.items)
        return found

    found = run(main)
    assert found["deploy_a%1"] == sorted(["deploy_a%1", "deployXa-1", "DEPLOY_A%1-retry"])
    assert found["other"] == ["other"]
    assert found["p%l"] == sorted(["deploy_a%1", "deployXa-1", "DEPLOY_A%1-retry", "dep%loy"])
    assert found["_"] == sorted(names)
    assert found["zz"] == []
