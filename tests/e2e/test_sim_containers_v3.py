"""A job run in containers, seen through the v2/v3 APIs: what bk-job answers, not hosts.

bk-job's v2 and v3 views read every execute object as a host (bk-job 588f99bb,
``EsbGetJobInstanceStatusV3ResourceImpl``: ``executeObject.getHost().getHostId()``): a container
has no host, so its per-host status fails with 1240002 at HTTP 200 (the ESB advice's catch-all),
and its logs, asked by host id, find nothing. Only v4 reads it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bkjob_async import (
    Account,
    BkJobClient,
    KubeContainerFilter,
    RetryPolicy,
    ServerError,
    Targets,
)
from bkjob_async.testing import BkJobSimulator

from .conftest import GATEWAY, JOBV3, SCOPE, V2, Wire

MakeClient = Callable[..., BkJobClient]

PODS = KubeContainerFilter(["BCS-K8S-00001"], namespaces=["bkjob"], container_names=["app"])


async def _container_job(
    sim: BkJobSimulator, make_client: MakeClient
) -> tuple[int, int, list[int]]:
    """Launch a script in two containers through v4 and run it to its end."""
    async with make_client(flavor="apigw-v4") as client:
        launch = await client.fast_execute_script(
            SCOPE,
            targets=Targets(containers=[PODS]),
            account=Account(alias="root"),
            script_content="echo hello",
        )
        sim.advance(60)
        status = await client.get_job_instance_status(SCOPE, launch.job_instance_id)
    step = status.steps[0]
    assert status.finished
    containers = [result.container.id for result in step.containers or ()]
    assert len(containers) == 2
    return launch.job_instance_id, step.step_instance_id, containers


async def test_v3_cannot_read_a_container_jobs_hosts(
    sim: BkJobSimulator, make_client: MakeClient, wire: Wire
) -> None:
    job, step, containers = await _container_job(sim, make_client)
    for flavor in (GATEWAY, JOBV3):
        failed = await wire.call(
            flavor, "get_job_instance_status", {"job_instance_id": job, "return_ip_result": True}
        )
        assert failed.status == 200
        assert (failed.json["result"], failed.json["code"]) == (False, 1240002)
        steps = await wire.data(
            flavor, "get_job_instance_status", {"job_instance_id": job, "return_ip_result": False}
        )
        assert [s["step_instance_id"] for s in steps["step_instance_list"]] == [step]
        logs = await wire.data(
            flavor,
            "batch_get_job_instance_ip_log",
            {"job_instance_id": job, "step_instance_id": step, "host_id_list": containers},
        )
        assert not logs["script_task_logs"]
        one = await wire.data(
            flavor,
            "get_job_instance_ip_log",
            {"job_instance_id": job, "step_instance_id": step, "bk_host_id": containers[0]},
        )
        assert one["log_content"] is None
    step_status = await wire.call(
        GATEWAY, "get_step_instance_status", {"job_instance_id": job, "step_instance_id": step}
    )
    assert (step_status.json["result"], step_status.json["code"]) == (False, 1240002)
    for api in ("get_job_instance_status", "get_job_instance_log"):
        v2 = await wire.call(V2, api, {"job_instance_id": job})
        assert (v2.json["result"], v2.json["code"]) == (False, 1240002)


async def test_a_v3_client_watching_a_container_job_gets_server_errors_v4_reads_it(
    sim: BkJobSimulator, make_client: MakeClient
) -> None:
    job, _, containers = await _container_job(sim, make_client)
    async with make_client(flavor="apigw-v3", retry=RetryPolicy(max_attempts=2)) as v3:
        with pytest.raises(ServerError) as failed:
            await v3.get_job_instance_status(SCOPE, job)
        assert (failed.value.code, failed.value.http_status) == (1240002, 200)
    async with make_client(flavor="apigw-v4") as v4:
        status = await v4.get_job_instance_status(SCOPE, job)
    assert status.steps[0].hosts == ()
    assert sorted(r.container.id for r in status.steps[0].containers or ()) == sorted(containers)
