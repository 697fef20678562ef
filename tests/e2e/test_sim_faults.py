"""Fault injection: each fault per flavor, targeting by API, flavor, count and skip, rate limits."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from bkjob_async.models.enums import JobStatus
from bkjob_async.testing import BkJobSimulator, Fault, FaultKind, StepPlan

from .conftest import ALL_FLAVORS, GATEWAY, JOBV3, LAG, SCOPE, V2, Wire

STATUS = "get_job_instance_status"


async def _status(wire: Wire, flavor, job_id: int, **extra):
    return await wire.call(flavor, STATUS, {"job_instance_id": job_id, **extra})


@pytest.mark.parametrize(
    ("status", "code", "name"),
    [(500, 1650001, "INTERNAL_SERVER_ERROR"), (502, 1650200, "BAD_GATEWAY"),
     (503, 1650300, "SERVICE_UNAVAILABLE"), (504, 1650401, "REQUEST_BACKEND_TIMEOUT")],
)  # fmt: skip
async def test_gateway_5xx_carry_the_gateway_error_body_and_headers(sim, wire, status, code, name):
    sim.inject(Fault.http_status(status))
    reply = await _status(wire, GATEWAY, 1)
    assert reply.status == status
    assert reply.headers["X-Bkapi-Error-Code"] == str(code)
    assert (reply.json["code"], reply.json["code_name"], reply.json["result"]) == (
        code,
        name,
        False,
    )


@pytest.mark.parametrize("flavor", [JOBV3, V2])
async def test_esb_5xx_are_its_pages(sim, wire, flavor):
    sim.inject(Fault.http_status(500))
    sim.inject(Fault.http_status(502))
    server_error, bad_gateway = await _status(wire, flavor, 1), await _status(wire, flavor, 1)
    assert server_error.status == 500
    assert (
        server_error.json["message"]
        == "Request is abnormal, please contact the component developer"
    )
    assert bad_gateway.status == 502
    assert bad_gateway.headers["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in bad_gateway.body


async def test_a_fault_body_replaces_the_default(sim, wire):
    sim.inject(Fault.http_status(503, {"oops": 1}))
    sim.inject(Fault.http_status(500, "plain text"))
    first, second = await _status(wire, GATEWAY, 1), await _status(wire, GATEWAY, 1)
    assert (first.status, first.json) == (503, {"oops": 1})
    assert (second.status, second.body) == (500, b"plain text")


async def test_gateway_rate_limited_fault(sim, wire):
    sim.inject(Fault.rate_limited(retry_after=2.5))
    reply = await _status(wire, GATEWAY, 1)
    assert reply.status == 429
    assert reply.json == {
        "code_name": "RATE_LIMIT_RESTRICTION",
        "message": "API rate limit exceeded by resource strategy",
        "result": False,
        "data": None,
        "code": 1642903,
    }
    headers = reply.headers
    assert headers["Retry-After"] == "2.5"
    assert headers["X-Bkapi-Error-Code"] == "1642903"
    assert (headers["X-Bkapi-RateLimit-Remaining"], headers["X-Bkapi-RateLimit-Reset"]) == (
        "0",
        "3",
    )
    assert headers["X-Bkapi-RateLimit-Plugin"] == "bk-resource-rate-limit"
    assert headers["X-Bkapi-RateLimit-Limit"] == "1"


@pytest.mark.parametrize("flavor", [JOBV3, V2])
async def test_esb_rate_limited_fault_is_1306429_at_http_200(sim, wire, flavor):
    sim.inject(Fault.rate_limited())
    reply = await _status(wire, flavor, 1)
    assert (reply.status, reply.json["result"], reply.json["code"]) == (200, False, 1306429)
    assert "Access frequency limit" in reply.json["message"]
    assert reply.json["request_id"]


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_business_errors_and_permission(sim, wire, flavor):
    permission = {"system_id": "bk_job", "system_name": "Job", "actions": []}
    sim.inject(Fault.business_error(9900403, "no permission", permission=permission))
    reply = await _status(wire, flavor, 1)
    assert reply.status == 200
    assert (reply.json["code"], reply.json["message"]) == (9900403, "no permission")
    assert reply.json["permission"] == permission


async def test_an_esb_business_error_code_takes_the_esb_shape(sim, wire):
    sim.inject(Fault.business_error(1306402, "User permission is insufficient"), flavor="esb-jobv3")
    reply = await _status(wire, JOBV3, 1)
    assert list(reply.json) == ["result", "code", "data", "message", "request_id"]


async def test_delay_waits_real_time_then_answers(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan()])
    sim.inject(Fault.delay(0.2))
    started = time.monotonic()
    reply = await _status(wire, GATEWAY, job_id)
    assert time.monotonic() - started >= 0.2
    assert reply.data["job_instance"]["job_instance_id"] == job_id


async def test_reset_drops_the_connection_after_the_backend_acted(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1, duration=60)])
    sim.inject(Fault.reset(), api="operate_job_instance")
    with pytest.raises(aiohttp.ClientPayloadError):
        await wire.operate_job(GATEWAY, job_id, 1)
    sim.advance(LAG)
    assert sim.job(job_id).status is JobStatus.STOPPING  # the terminate went through
    assert (await _status(wire, GATEWAY, job_id)).data["job_instance"]["status"] == 10


async def test_truncated_bodies_are_complete_responses_of_broken_json(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan()])
    sim.inject(Fault.truncated())
    reply = await _status(wire, GATEWAY, job_id)
    assert reply.status == 200
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.body)


async def test_not_json_is_an_html_page_and_never_reaches_the_backend(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1, duration=60)])
    sim.inject(Fault.not_json())
    reply = await wire.operate_job(GATEWAY, job_id, 1)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert sim.job(job_id).status is JobStatus.RUNNING


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_unknown_status_codes_are_written_into_job_status(sim, wire, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    sim.inject(Fault.unknown_status(job=99, step=12, host=600))
    data = (await _status(wire, flavor, job_id, return_ip_result=True)).data
    steps = (
        [b["step_instances"][0] for b in data["blocks"]]
        if flavor is V2
        else data["step_instance_list"]
    )
    rows = steps[0].get("step_ip_result_list") or steps[0]["step_ip_status"]
    assert data["job_instance"]["status"] == 99
    assert [s["status"] for s in steps] == [12]
    assert {row["status"] for row in rows} == {600}
    plain = (await _status(wire, flavor, job_id)).data  # the cache was not polluted
    assert plain["job_instance"]["status"] == 2


async def test_unknown_status_codes_are_written_into_step_status(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    step_id = sim.job(job_id).steps[0].step_instance_id
    sim.inject(Fault.unknown_status(job=None, step=16, host=700))
    params = {"job_instance_id": job_id, "step_instance_id": step_id}
    data = await wire.data(GATEWAY, "get_step_instance_status", params)
    assert data["status"] == 16
    assert [g["result_type"] for g in data["step_result_group_list"]] == [700]
    assert {r["status"] for r in data["step_result_group_list"][0]["host_result_list"]} == {700}


async def test_faults_target_an_api_a_flavor_a_count_and_a_skip(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan()])
    rule = sim.inject(Fault.http_status(503), api=STATUS, flavor="apigw-v3", times=2, skip=1)
    other_api = await wire.call(
        GATEWAY, "get_job_instance_list", {"create_time_start": 1, "create_time_end": 2}
    )
    other_flavor = await _status(wire, JOBV3, job_id)
    statuses = [(await _status(wire, GATEWAY, job_id)).status for _ in range(4)]
    assert other_api.status == other_flavor.status == 200
    assert statuses == [200, 503, 503, 200]
    assert (rule.hits, rule.remaining) == (2, 0)
    assert sim.statistics().faults_served == {FaultKind.HTTP_STATUS: 2}


async def test_endless_faults_until_cancelled_or_cleared(sim, wire):
    rule = sim.inject(Fault.http_status(502), times=None)
    assert [(await _status(wire, GATEWAY, 1)).status for _ in range(3)] == [502] * 3
    rule.cancel()
    assert (await _status(wire, GATEWAY, 1)).status == 200
    sim.inject(Fault.http_status(502), times=None)
    sim.clear_faults()
    assert (await _status(wire, GATEWAY, 1)).status == 200


async def test_a_configured_rate_limit_refuses_excess_requests(sim, wire):
    sim.set_rate_limit(0.5)  # one request per two seconds of real time
    allowed = await _status(wire, GATEWAY, 1)
    refused = await _status(wire, GATEWAY, 1)
    esb = await _status(wire, JOBV3, 1)
    assert allowed.status == 200
    assert allowed.headers["X-Bkapi-RateLimit-Remaining"] == "0"
    assert refused.status == 429
    assert "Retry-After" not in refused.headers  # bk-job's gateway sends none (§7.11)
    assert int(refused.headers["X-Bkapi-RateLimit-Reset"]) >= 1
    assert (esb.status, esb.json["code"]) == (200, 1306429)
    assert sim.statistics().rate_limited == 2
    sim.set_rate_limit(0.5, retry_after=True)
    await _status(wire, GATEWAY, 1)
    hinted = await _status(wire, GATEWAY, 1)
    assert (hinted.status, int(hinted.headers["Retry-After"]) >= 1) == (429, True)
    sim.set_rate_limit(None)
    assert (await _status(wire, GATEWAY, 1)).status == 200


async def test_request_counts_by_api_and_flavor(sim, wire):
    await _status(wire, GATEWAY, 1)
    await _status(wire, V2, 1)
    await wire.call(
        GATEWAY, "get_step_instance_status", {"job_instance_id": 1, "step_instance_id": 1}
    )
    assert sim.request_count() == 3
    assert sim.request_count(STATUS) == 2
    assert sim.request_count(STATUS, flavor="esb-v2") == 1
    assert sim.request_count(flavor=GATEWAY) == 2


def test_faults_refuse_nonsense():
    with pytest.raises(ValueError, match="HTTP status"):
        Fault.http_status(99)
    with pytest.raises(ValueError, match="negative"):
        Fault.delay(-1)


async def test_inject_refuses_a_zero_count(sim):
    with pytest.raises(ValueError, match="times"):
        sim.inject(Fault.reset(), times=0)


async def test_closing_the_simulator_does_not_wait_for_a_delayed_request():
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with BkJobSimulator() as sim:
            sim.inject(Fault.delay(30))
            pending = asyncio.ensure_future(
                session.get(sim.url + "/api/v3/get_job_instance_status")
            )
            await asyncio.sleep(0.2)
        assert time.monotonic() - started < 5
        with pytest.raises(aiohttp.ClientError):
            await pending
