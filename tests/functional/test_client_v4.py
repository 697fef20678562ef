"""``flavor="apigw-v4"`` on the simulator: v4 where bk-job has it, the gateway's v3 elsewhere.

Code written for v3 (hosts) runs unchanged: the same calls, the same models; v4's errors are
HTTP statuses whose ``error.code`` picks the typed error.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bkjob_async import (
    Account,
    BkJobClient,
    HostStatus,
    InvalidRequestError,
    JobOperation,
    KubeContainerFilter,
    NotFoundError,
    Scope,
    Targets,
    UnsupportedOperationError,
)
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

pytestmark = pytest.mark.anyio

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}


def _client(sim: BkJobSimulator) -> BkJobClient:
    return BkJobClient(
        "http://bkjob.test", flavor="apigw-v4", transport=sim.transport(), **CREDENTIALS
    )


async def test_v3_code_runs_unchanged_on_v4() -> None:
    seen: list[str] = []
    async with BkJobSimulator(virtual_clock=True) as sim:
        transport = sim.transport()
        original = transport.send

        async def recording(request):  # type: ignore[no-untyped-def]
            seen.append(request.url.split("/api/", 1)[1])
            return await original(request)

        transport.send = recording  # type: ignore[method-assign]
        ok = HostPlan(duration=1, bk_host_id=1001, ip="10.0.0.1")
        fails = HostPlan(HostStatus.of(104), duration=1, bk_host_id=1002, ip="10.0.0.2")
        job = sim.create_job(SCOPE, [StepPlan(hosts=[ok, fails])])
        sim.advance(60)
        async with BkJobClient(
            "http://bkjob.test", flavor="apigw-v4", transport=transport, **CREDENTIALS
        ) as client:
            status = await client.get_job_instance_status(SCOPE, job)
            step = status.steps[0]
            assert step.hosts is not None
            assert {h.host.bk_host_id: h.status for h in step.hosts} == {
                1001: HostStatus.SUCCESS,
                1002: HostStatus.of(104),
            }
            assert step.containers == ()
            created = status.job.create_time
            assert created is not None
            page = await client.get_job_instance_list(
                SCOPE,
                created_from=created - dt.timedelta(hours=1),
                created_to=created + dt.timedelta(hours=1),
                length=5,
            )
            assert page.total is None
            every = [
                j.job_instance_id
                async for j in client.iter_job_instances(
                    SCOPE,
                    created_from=created - dt.timedelta(hours=1),
                    created_to=created + dt.timedelta(hours=1),
                )  # page_size 1000 by default: v4 pages 200 at most
            ]
            assert job in every
            assert job in {item.job_instance_id for item in page.items}
            logs = await client.batch_get_job_instance_ip_log(
                SCOPE, job, step.step_instance_id, [1001, 1002]
            )  # v4 lacks it: the gateway's v3 answers
            objects = await client.batch_get_job_instance_execute_object_log(
                SCOPE, job, step.step_instance_id, hosts=[1001, 1002]
            )
            assert {log.host.bk_host_id: log.log_content for log in logs} == {
                log.execute_object.host.bk_host_id: log.log_content  # type: ignore[union-attr]
                for log in objects
            }
            with pytest.raises(NotFoundError) as missing:
                await client.get_job_instance_status(SCOPE, 987654321)
            assert (missing.value.http_status, missing.value.code_name) == (404, "NOT_FOUND")
            assert missing.value.code == 1244006
            launch = await client.fast_execute_script(
                SCOPE,
                targets=Targets(host_ids=[1001]),
                account=Account(alias="root"),
                script_content="echo hi",
            )
            await client.operate_job_instance(SCOPE, launch.job_instance_id, JobOperation.TERMINATE)
    assert "v4/get_job_instance_status" in seen
    assert "v3/batch_get_job_instance_ip_log" in seen
    assert "v4/batch_get_job_instance_execute_object_log" in seen
    assert "v4/fast_execute_script" in seen
    assert "v3/operate_job_instance" in seen


async def test_templates_plans_scopes_and_contexts() -> None:
    async with BkJobSimulator(virtual_clock=True) as sim:
        sim.add_plan(11, [StepPlan(hosts=1), StepPlan(hosts=1)], name="eleven")
        job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(duration=1, bk_host_id=1001)])])
        sim.advance(60)
        async with _client(sim) as client:
            template = await client.get_job_template_detail(SCOPE, 100011)
            assert (template.name, len(template.steps)) == ("eleven", 2)
            plan = await client.create_job_plan(
                SCOPE, 100011, "mine", enable_steps=[template.steps[1].id]
            )
            assert plan.job_template_id == 100011
            detail = await client.get_job_plan_detail(SCOPE, plan.job_plan_id)
            assert detail.name == "mine"
            with pytest.raises(NotFoundError):
                await client.get_job_template_detail(SCOPE, 5)
            scopes = await client.get_user_authorized_scopes()
            assert SCOPE in {s.scope for s in scopes.items}
            status = await client.get_job_instance_status(SCOPE, job)
            step = status.steps[0].step_instance_id
            context = await client.get_script_task_context(SCOPE, job, step, host_id=1001)
            assert context.get("errorLog") is not None
            given = await client.get_script_task_context(
                SCOPE, job, step, host_id=1001, content="my log"
            )
            assert given.get("errorLog") == "my log"


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
async def test_v4_only_apis_are_refused_elsewhere_before_any_request(flavor: str) -> None:
    async with BkJobSimulator(virtual_clock=True) as sim:
        async with BkJobClient(
            "http://bkjob.test", flavor=flavor, transport=sim.transport(), **CREDENTIALS
        ) as client:
            with pytest.raises(UnsupportedOperationError, match="apigw-v4"):
                await client.get_user_authorized_scopes()
            with pytest.raises(UnsupportedOperationError, match="apigw-v4"):
                await client.failed_container_logs(SCOPE, 10001)
        assert sim.request_count() == 0


async def test_a_script_in_containers_runs_to_its_end_container_by_container() -> None:
    pods = KubeContainerFilter(
        ["BCS-K8S-00001"],
        namespaces=["bkjob"],
        workload_kind="deployment",
        workload_names=["bk-job-execute"],
        container_names=["job-execute"],
    )
    async with BkJobSimulator(virtual_clock=True) as sim, _client(sim) as client:
        launch = await client.fast_execute_script(
            SCOPE,
            targets=Targets(containers=[pods]),
            account=Account(alias="root"),
            script_content="echo hello",
        )
        seen: dict[int, list[HostStatus]] = {}
        for _ in range(100):
            status = await client.get_job_instance_status(SCOPE, launch.job_instance_id)
            step = status.steps[0]
            assert step.hosts == ()  # a container job has no hosts
            for result in step.containers or ():
                history = seen.setdefault(result.container.id, [])
                if not history or history[-1] is not result.status:
                    history.append(result.status)
            if status.finished:
                break
            sim.advance(5)
        assert status.finished
        assert len(seen) == 2
        assert all(history[-1] is HostStatus.SUCCESS for history in seen.values())
        names = {r.container.name for r in status.steps[0].containers or ()}
        assert names == {"job-execute"}
        logs = await client.batch_get_job_instance_execute_object_log(
            SCOPE, launch.job_instance_id, step.step_instance_id, container_ids=list(seen)
        )
        assert {log.execute_object.container.id for log in logs} == set(seen)  # type: ignore[union-attr]
        context = await client.get_script_task_context(
            SCOPE, launch.job_instance_id, step.step_instance_id, container_id=next(iter(seen))
        )
        assert context.get("errorLog") is not None


async def test_the_simulator_refuses_what_bk_job_refuses_of_containers() -> None:
    async with BkJobSimulator(virtual_clock=True) as sim, _client(sim) as client:
        cluster_only = {"kube_cluster_filter": {"cluster_uid_list": ["c"]}}
        mixed = {"host_list": [{"bk_host_id": 1001}], "kube_container_filters": [cluster_only]}
        base = {**SCOPE.params(client.flavor), "script_content": "ZWNobw==", "script_language": 1}
        base["account_alias"] = "root"
        for target in (mixed, {"kube_container_filters": [cluster_only]}):
            with pytest.raises(InvalidRequestError) as refused:
                await client.call("fast_execute_script", {**base, "execute_target": target})
            assert (refused.value.http_status, refused.value.code_name) == (
                400,
                "INVALID_ARGUMENT",
            )
