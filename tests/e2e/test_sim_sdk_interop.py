"""The official SDK (``bkapi-component-open``) against the simulator's ESB jobv3 paths.

The SDK is synchronous (requests), so each call runs in a worker thread. It sends what real
third-party code sends: GET with a query string for reads, POST JSON for the rest, and the
credentials in ``X-Bkapi-Authorization``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from bkapi_client_core.exceptions import HTTPResponseError, JSONResponseError
from bkapi_component.open.client import Client

from bkjob_async.models.enums import HostStatus, JobStatus, StepType
from bkjob_async.testing import BkJobSimulator, Fault, HostPlan, StepPlan

from .conftest import LAG, SCOPE

SCOPE_ARGS = {"bk_scope_type": "biz", "bk_scope_id": "2"}


async def sdk(sim: BkJobSimulator, call: Callable[[Any], Any]) -> Any:
    """Run ``call(client.jobv3)`` in a thread with an SDK client for ``sim``."""

    def run() -> Any:
        with Client(endpoint=sim.url, bk_api_ver="v2") as client:
            client.update_bkapi_authorization(
                bk_app_code="sdk-app", bk_app_secret="sdk-secret", bk_username="carol"
            )
            return call(client.jobv3)

    return await anyio.to_thread.run_sync(run)


async def test_the_sdk_reads_job_status_with_get(sim):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    sim.advance(10)
    reply = await sdk(
        sim,
        lambda api: api.get_job_instance_status(
            {**SCOPE_ARGS, "job_instance_id": job_id, "return_ip_result": True}
        ),
    )
    assert (reply["result"], reply["code"], reply["message"]) == (True, 0, "")
    data = reply["data"]
    assert data["finished"] is True
    assert data["job_instance"]["status"] == 3
    assert [row["status"] for row in data["step_instance_list"][0]["step_ip_result_list"]] == [9, 9]
    assert sim.request_count("get_job_instance_status", flavor="esb-jobv3") == 1


async def test_the_sdk_launches_a_script_and_retries_its_failed_host():
    content = base64.b64encode(b"exit 1").decode()
    params = {
        **SCOPE_ARGS,
        "script_content": content,
        "script_language": 1,
        "account_alias": "root",
        "target_server": {"host_id_list": [1001]},
    }
    async with BkJobSimulator(virtual_clock=True, fail_rate=1.0) as sim:
        launch = await sdk(sim, lambda api: api.fast_execute_script(params))
        job_id, step_id = launch["data"]["job_instance_id"], launch["data"]["step_instance_id"]
        assert sim.job(job_id).operator == "carol"
        sim.advance(10)
        assert sim.job(job_id).status is JobStatus.FAIL
        ids = {**SCOPE_ARGS, "job_instance_id": job_id, "step_instance_id": step_id}
        retry = await sdk(sim, lambda api: api.operate_step_instance({**ids, "operation_code": 8}))
        assert (retry["result"], retry["code"]) == (True, 0)
        assert sim.job(job_id).steps[0].execute_count == 1


async def test_the_sdk_operates_steps_and_jobs(sim):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(outcome=HostStatus.TASK_TIMEOUT)])])
    sim.advance(10)
    step_id = sim.job(job_id).steps[0].step_instance_id
    ids = {**SCOPE_ARGS, "job_instance_id": job_id, "step_instance_id": step_id}
    refused = await sdk(sim, lambda api: api.operate_step_instance({**ids, "operation_code": 6}))
    retried = await sdk(sim, lambda api: api.operate_step_instance({**ids, "operation_code": 2}))
    assert (refused["result"], refused["code"]) == (False, 1241003)
    assert retried["data"] == {
        "job_instance_id": job_id,
        "job_instance_name": None,
        "step_instance_id": step_id,
    }
    assert sim.job(job_id).steps[0].execute_count == 1
    sim.advance(0.5)
    stopped = await sdk(sim, lambda api: api.operate_job_instance({**ids, "operation_code": 1}))
    assert stopped["result"] is True
    sim.advance(LAG)
    assert sim.job(job_id).status is JobStatus.STOPPING


async def test_the_sdk_runs_a_plan_and_reads_history_and_logs(sim):
    sim.add_plan(5, [StepPlan(hosts=2), StepPlan(StepType.FILE, hosts=1)], name="release")
    launch = await sdk(sim, lambda api: api.execute_job_plan({**SCOPE_ARGS, "job_plan_id": 5}))
    job_id = launch["data"]["job_instance_id"]
    sim.advance(30)
    now = sim.now_ms()
    history = await sdk(
        sim,
        lambda api: api.get_job_instance_list(
            {**SCOPE_ARGS, "create_time_start": now - 60_000, "create_time_end": now}
        ),
    )
    assert [item["job_instance_id"] for item in history["data"]["data"]] == [job_id]
    step = sim.job(job_id).steps[0]
    hosts = [h.bk_host_id for h in step.hosts or ()]
    ids = {**SCOPE_ARGS, "job_instance_id": job_id, "step_instance_id": step.step_instance_id}
    one = await sdk(sim, lambda api: api.get_job_instance_ip_log({**ids, "bk_host_id": hosts[0]}))
    many = await sdk(
        sim, lambda api: api.batch_get_job_instance_ip_log({**ids, "host_id_list": hosts})
    )
    assert "finished with status 9" in one["data"]["log_content"]
    assert len(many["data"]["script_task_logs"]) == 2


async def test_the_sdk_has_no_jobv3_step_status_like_the_esb(sim):
    present = await sdk(sim, lambda api: hasattr(api, "get_step_instance_status"))
    assert present is False


async def test_the_sdk_sees_errors_the_way_it_sees_real_ones(sim):
    missing = await sdk(
        sim, lambda api: api.get_job_instance_status({**SCOPE_ARGS, "job_instance_id": 42})
    )
    assert (missing["result"], missing["code"]) == (False, 1244006)
    sim.inject(Fault.rate_limited(), flavor="esb-jobv3")
    limited = await sdk(
        sim, lambda api: api.get_job_instance_status({**SCOPE_ARGS, "job_instance_id": 42})
    )
    assert limited["code"] == 1306429
    sim.inject(Fault.http_status(502))
    with pytest.raises(HTTPResponseError):
        await sdk(
            sim, lambda api: api.get_job_instance_status({**SCOPE_ARGS, "job_instance_id": 42})
        )
    sim.inject(Fault.not_json())
    with pytest.raises(JSONResponseError):
        await sdk(
            sim, lambda api: api.get_job_instance_status({**SCOPE_ARGS, "job_instance_id": 42})
        )
