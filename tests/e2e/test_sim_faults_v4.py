"""The simulator's faults on the gateway v4, through its HTTP server, and what the client makes of
them: each v4 error status its typed error, retried when it is transient (``Retry-After``
honoured), a 403 carrying what to apply for and no secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bkjob_async import (
    ApiError,
    AuthenticationError,
    BkJobClient,
    ConflictError,
    EndpointNotFoundError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    ResponseFormatError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from bkjob_async.testing import BkJobSimulator, Fault, StepPlan
from tests.conftest import APP_SECRET, BK_TOKEN, SECRETS, FakeSleep

from .conftest import SCOPE

MakeClient = Callable[..., BkJobClient]

V4 = "apigw-v4"
STATUS = "get_job_instance_status"
#: What bk-job's v4 puts in a 403's ``error.data`` (``v4_response_protocol.md``), with a
#: secret a careless server echoed into it.
PERMISSION: dict[str, Any] = {
    "system_id": "bk_job",
    "system_name": "作业平台",
    "actions": [
        {
            "id": "access_business",
            "name": "业务访问",
            "related_resource_types": [
                {
                    "type": "biz",
                    "system_id": "bk_cmdb",
                    "instances": [[{"id": "2", "type": "business", "name": APP_SECRET}]],
                }
            ],
        }
    ],
}


def _job(sim: BkJobSimulator) -> int:
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    sim.advance(30)
    return job


def _v4(make_client: MakeClient, **options: Any) -> BkJobClient:
    return make_client(flavor=V4, bk_token=BK_TOKEN, **options)


async def _raw(sim: BkJobSimulator, api: str, query: dict[str, str]) -> tuple[int, Any]:
    """GET ``/api/v4/<api>`` as the gateway's callers send it: the status and the JSON body."""
    auth = {"bk_app_code": "a", "bk_app_secret": "s", "bk_username": "admin"}
    headers = {"X-Bkapi-Authorization": json.dumps(auth)}
    params = {"bk_scope_type": "biz", "bk_scope_id": "2", **query}
    async with aiohttp.ClientSession() as session:
        url = f"{sim.url}/api/v4/{api}"
        async with session.get(url, params=params, headers=headers) as response:
            return response.status, json.loads(await response.read())


def _told(error: ApiError) -> tuple[int | None, str | None, int | None]:
    """An error's HTTP status, v4 code name and bk-job code."""
    return error.http_status, error.code_name, error.code


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert secret[:12] not in text


# --- outages and 5xx -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_an_outage_is_a_server_error_retried_until_it_passes(
    sim: BkJobSimulator, make_client: MakeClient, fake_sleep: FakeSleep, status: int
) -> None:
    job = _job(sim)
    sim.inject(Fault.http_status(status), flavor=V4, api=STATUS, times=3)
    async with _v4(make_client) as client:
        answer = await client.get_job_instance_status(SCOPE, job)
    assert answer.job.job_instance_id == job
    assert sim.request_count(STATUS, V4) == 4
    assert len(fake_sleep.delays) == 3
    sim.inject(Fault.http_status(status), flavor=V4, api=STATUS, times=4)
    async with _v4(make_client) as client:
        with pytest.raises(ServerError) as failed:
            await client.get_job_instance_status(SCOPE, job)
    assert failed.value.http_status == status
    assert sim.request_count(STATUS, V4) == 8


async def test_the_backends_internal_error_is_v4s_500_and_retried(
    sim: BkJobSimulator, make_client: MakeClient
) -> None:
    job = _job(sim)
    sim.inject(Fault.business_error(1240002, "Internal error"), flavor=V4, api=STATUS)
    status, body = await _raw(sim, STATUS, {"job_instance_id": str(job)})
    assert status == 500
    assert body["error"]["code"] == "INTERNAL"
    sim.inject(Fault.business_error(1240002, "Internal error"), flavor=V4, api=STATUS, times=2)
    async with _v4(make_client) as client:
        assert (await client.get_job_instance_status(SCOPE, job)).job.job_instance_id == job
    sim.inject(Fault.business_error(1240002, "Internal error"), flavor=V4, api=STATUS, times=4)
    async with _v4(make_client) as client:
        with pytest.raises(ServerError) as failed:
            await client.get_job_instance_status(SCOPE, job)
    assert _told(failed.value) == (500, "INTERNAL", 1240002)


# --- 401 -----------------------------------------------------------------------------------------


async def test_401s_are_authentication_errors_never_retried(
    sim: BkJobSimulator, make_client: MakeClient
) -> None:
    job = _job(sim)
    backend = {"error": {"code": "UNAUTHENTICATED", "message": "user not logged in"}}
    sim.inject(Fault.http_status(401), flavor=V4)  # the gateway's UNAUTHORIZED
    sim.inject(Fault.http_status(401, backend), flavor=V4)  # bk-job's own
    async with _v4(make_client) as client:
        with pytest.raises(AuthenticationError) as gateway:
            await client.get_job_instance_status(SCOPE, job)
        with pytest.raises(AuthenticationError) as job_backend:
            await client.get_job_instance_status(SCOPE, job)
    assert (gateway.value.http_status, gateway.value.code_name) == (401, "UNAUTHORIZED")
    assert (job_backend.value.http_status, job_backend.value.code_name) == (401, "UNAUTHENTICATED")
    assert sim.request_count(STATUS, V4) == 2
    for error in (gateway.value, job_backend.value):
        _assert_clean(f"{error} {error!r}")


async def test_a_wrong_app_secret_on_v4_is_refused_by_the_gateway_without_echoing_it(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with BkJobSimulator(virtual_clock=True, apps={"my-app": "another-secret"}) as sim:
        async with _v4(make_client, base_url=sim.url) as client:
            with pytest.raises(AuthenticationError) as refused:
                await client.get_job_instance_status(SCOPE, 1)
        assert sim.request_count(STATUS, V4) == 1
    _assert_clean(f"{refused.value} {refused.value!r} {caplog.text}")


# --- 403 -----------------------------------------------------------------------------------------


async def test_a_403_carries_what_to_apply_for_and_no_secret(
    sim: BkJobSimulator, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    job = _job(sim)
    denied = Fault.business_error(
        9900403, f"user admin ({BK_TOKEN}) has no permission", permission=PERMISSION
    )
    sim.inject(denied, flavor=V4, api=STATUS)
    status, body = await _raw(sim, STATUS, {"job_instance_id": str(job)})
    assert status == 403
    assert body["error"]["code"] == "NO_PERMISSION"
    assert body["error"]["data"]["actions"][0]["id"] == "access_business"
    sim.inject(denied, flavor=V4, api=STATUS)
    async with _v4(make_client) as client:
        with pytest.raises(PermissionDeniedError) as refused:
            await client.get_job_instance_status(SCOPE, job)
    error = refused.value
    assert (error.http_status, error.code_name) == (403, "NO_PERMISSION")
    assert error.permission is not None
    action = error.permission["actions"][0]
    assert (action["id"], action["name"]) == ("access_business", "业务访问")
    assert action["related_resource_types"][0]["instances"][0][0]["id"] == "2"
    assert sim.request_count(STATUS, V4) == 2  # the raw call, then one try: never retried
    _assert_clean(f"{error} {error!r} {error.permission} {caplog.text}")


async def test_the_gateways_own_403_is_a_permission_error(
    sim: BkJobSimulator, make_client: MakeClient
) -> None:
    sim.inject(Fault.http_status(403), flavor=V4)
    async with _v4(make_client) as client:
        with pytest.raises(PermissionDeniedError) as refused:
            await client.get_job_instance_status(SCOPE, _job(sim))
    assert (refused.value.http_status, refused.value.code_name) == (403, "APP_NO_PERMISSION")


# --- 404 -----------------------------------------------------------------------------------------


async def test_404_is_missing_data_from_bk_job_and_a_missing_api_from_the_gateway(
    sim: BkJobSimulator, make_client: MakeClient
) -> None:
    async with _v4(make_client) as client:
        with pytest.raises(NotFoundError) as missing:
            await client.get_job_instance_status(SCOPE, 987654321)
        sim.inject(Fault.http_status(404), flavor=V4)
        with pytest.raises(EndpointNotFoundError):
            await client.get_job_instance_status(SCOPE, _job(sim))
    assert not isinstance(missing.value, EndpointNotFoundError)
    assert _told(missing.value) == (404, "NOT_FOUND", 1244006)
    assert sim.request_count(STATUS, V4) == 2


# --- 409 -----------------------------------------------------------------------------------------


async def test_409_a_plan_name_taken_and_injected_conflicts(
    sim: BkJobSimulator, make_client: MakeClient
) -> None:
    sim.add_plan(11, [StepPlan(hosts=1)], name="eleven")
    async with _v4(make_client) as client:
        await client.create_job_plan(SCOPE, 100011, "mine")
        with pytest.raises(ConflictError) as taken:
            await client.create_job_plan(SCOPE, 100011, " mine ")
        assert _told(taken.value) == (409, "ALREADY_EXISTS", 1243042)
        sim.inject(Fault.business_error(1243002, "Script name exists"), flavor=V4)
        sim.inject(Fault.http_status(409), flavor=V4)
        for _ in range(2):
            with pytest.raises(ConflictError) as conflict:
                await client.get_job_template_detail(SCOPE, 100011)
            assert conflict.value.http_status == 409
        assert (await client.get_job_template_detail(SCOPE, 100011)).name == "eleven"


# --- 429 -----------------------------------------------------------------------------------------


async def test_429_is_retried_after_the_servers_retry_after(
    sim: BkJobSimulator, make_client: MakeClient, fake_sleep: FakeSleep
) -> None:
    job = _job(sim)
    sim.inject(Fault.rate_limited(retry_after=2.5), flavor=V4, api=STATUS, times=2)
    async with _v4(make_client) as client:
        assert (await client.get_job_instance_status(SCOPE, job)).job.job_instance_id == job
    assert len(fake_sleep.delays) == 2
    assert all(2.5 <= delay <= 2.5 + RetryPolicy().base_delay for delay in fake_sleep.delays)
    sim.inject(Fault.rate_limited(retry_after=7), flavor=V4, api=STATUS, times=4)
    async with _v4(make_client) as client:
        with pytest.raises(RateLimitedError) as limited:
            await client.get_job_instance_status(SCOPE, job)
    assert (limited.value.http_status, limited.value.retry_after) == (429, 7.0)


async def test_429_of_the_gateways_limit_and_of_bk_jobs_quota(
    sim: BkJobSimulator, make_client: MakeClient
) -> None:
    job = _job(sim)
    sim.set_rate_limit(1)
    async with _v4(make_client, retry=RetryPolicy(max_attempts=1)) as client:
        await client.get_job_instance_status(SCOPE, job)
        with pytest.raises(RateLimitedError) as limited:
            await client.get_job_instance_status(SCOPE, job)
        assert limited.value.http_status == 429
        assert limited.value.retry_after is not None
        assert limited.value.retry_after >= 1
        sim.set_rate_limit(None)
        sim.inject(Fault.business_error(1244032, "Too many running jobs"), flavor=V4)
        with pytest.raises(RateLimitedError) as quota:
            await client.get_job_instance_status(SCOPE, job)
    assert _told(quota.value) == (429, "RESOURCE_EXHAUSTED", 1244032)
    assert isinstance(quota.value, QuotaExceededError)
    assert quota.value.quota == "scope"
    assert not isinstance(limited.value, QuotaExceededError)


# --- a body that is neither shape ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault.http_status(200, {"oops": 1}), Fault.not_json(), Fault.truncated()],
    ids=["other-json", "html", "truncated"],
)
async def test_a_body_of_neither_shape_is_a_format_error_retried(
    sim: BkJobSimulator, make_client: MakeClient, fault: Fault
) -> None:
    job = _job(sim)
    sim.inject(fault, flavor=V4, api=STATUS)
    async with _v4(make_client) as client:
        assert (await client.get_job_instance_status(SCOPE, job)).job.job_instance_id == job
        sim.inject(fault, flavor=V4, api=STATUS, times=4)
        with pytest.raises(ResponseFormatError):
            await client.get_job_instance_status(SCOPE, job)
    assert sim.request_count(STATUS, V4) == 6


# --- what a fault targets ------------------------------------------------------------------------


async def test_a_v4_fault_leaves_v3_alone_and_rewrites_v4s_statuses(
    sim: BkJobSimulator, make_client: MakeClient
) -> None:
    job = _job(sim)
    sim.inject(Fault.http_status(503), flavor=V4, times=None)
    async with make_client(flavor="apigw-v3", retry=RetryPolicy(max_attempts=1)) as v3:
        assert (await v3.get_job_instance_status(SCOPE, job)).job.job_instance_id == job
    sim.clear_faults()
    sim.inject(Fault.unknown_status(job=98, step=97, host=96), flavor=V4)
    query = {"job_instance_id": str(job), "return_execute_object_result": "true"}
    status, body = await _raw(sim, STATUS, query)
    assert status == 200
    step = body["data"]["step_instance_list"][0]
    assert (body["data"]["job_instance"]["status"], step["status"]) == (98, 97)
    rows = step["step_execute_object_result_list"]
    assert len(rows) == 2
    assert {row["status"] for row in rows} == {96}


async def test_a_connection_reset_mid_body_on_v4_is_retried(
    sim: BkJobSimulator, make_client: MakeClient
) -> None:
    job = _job(sim)
    sim.inject(Fault.reset(), flavor=V4, api=STATUS, times=2)
    sim.inject(Fault.delay(0.05), flavor=V4, api=STATUS)
    async with _v4(make_client) as client:
        assert (await client.get_job_instance_status(SCOPE, job)).job.job_instance_id == job
        sim.inject(Fault.reset(), flavor=V4, api=STATUS, times=4)
        with pytest.raises(TransportError):
            await client.get_job_instance_status(SCOPE, job)
    assert sim.request_count(STATUS, V4) == 7
