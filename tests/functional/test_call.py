"""``BkJobClient.call``: any bk-job API by its own name and parameters.

An API of the endpoint table goes as its row says and answers what its typed method answers;
any other goes with the method asked for, answers ``data`` as decoded, and is retried only
when the caller says it is idempotent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bkjob_async import (
    ApiFlavor,
    BkJobClient,
    JobInstanceStatus,
    JobPlanPage,
    RetryPolicy,
    Scope,
    ServerError,
    UnsupportedOperationError,
)
from bkjob_async.testing import (
    BkJobSimulator,
    MockTransport,
    Request,
    Response,
    StepPlan,
    json_response,
)
from tests.conftest import local_client

pytestmark = pytest.mark.anyio

SCOPE = Scope.biz(2)
FLAVORS = list(ApiFlavor)


async def _no_sleep(_: float) -> None:
    return None


def _client(handler: Any, flavor: ApiFlavor = ApiFlavor.APIGW_V3, **kwargs: Any) -> BkJobClient:
    transport = MockTransport(handler)
    return local_client(transport, "http://bkjob.test", flavor=flavor, sleep=_no_sleep, **kwargs)


def _sent(request: Request) -> dict[str, Any]:
    if request.query is not None:
        return dict(request.query)
    return json.loads(request.body or b"{}")


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.value)
async def test_a_known_api_answers_what_its_typed_method_answers(flavor: ApiFlavor) -> None:
    async with BkJobSimulator(virtual_clock=True) as sim:
        sim.add_plan(11, [StepPlan(hosts=1)], name="p")
        job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
        sim.advance(60)
        async with local_client(sim.transport(), flavor=flavor) as client:
            params = {**SCOPE.params(flavor), "job_instance_id": job}
            if flavor is ApiFlavor.APIGW_V4:  # bk-job's v4 name (its /api/v4/ API)
                params["return_execute_object_result"] = True
            elif flavor.is_v3:
                params["return_ip_result"] = True
            typed = await client.get_job_instance_status(SCOPE, job)
            called = await client.call("get_job_instance_status", params)
            assert isinstance(called, JobInstanceStatus)
            assert called == typed
            plans = await client.call("get_job_plan_list", {**SCOPE.params(flavor), "length": 5})
            assert isinstance(plans, JobPlanPage)
            assert plans == await client.get_job_plan_list(SCOPE, length=5)


@pytest.mark.parametrize(
    ("flavor", "method", "url", "where"),
    [
        (ApiFlavor.APIGW_V3, "GET", "http://bkjob.test/api/v3/get_job_plan_list", "query"),
        (
            ApiFlavor.ESB_JOBV3,
            "POST",
            "http://bkjob.test/api/c/compapi/v2/jobv3/get_job_plan_list/",
            "body",
        ),
        (ApiFlavor.ESB_V2, "POST", "http://bkjob.test/api/c/compapi/v2/job/get_job_list/", "body"),
    ],
)
async def test_a_known_api_goes_with_the_rows_method_and_name(
    flavor: ApiFlavor, method: str, url: str, where: str
) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        page = [] if flavor is ApiFlavor.ESB_V2 else {"data": [], "total": 0}  # v2: a bare list
        return json_response({"result": True, "code": 0, "data": page})

    params = {**SCOPE.params(flavor), "name": "deploy", "start": 0, "length": 5}
    async with _client(handler, flavor) as client:
        await client.call("get_job_plan_list", params)
    (request,) = seen
    assert (request.method, request.url) == (method, url)
    got = _sent(request)
    if where == "query":
        assert request.body is None
        assert got == {k: str(v) for k, v in params.items()}
    else:
        assert request.query is None
        assert got == params
    assert request.idempotent


async def test_v2_takes_the_v2_name_too_and_the_v3_name_elsewhere_is_unknown() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return json_response({"result": True, "code": 0, "data": {"job_instance_id": 5}})

    async with _client(handler, ApiFlavor.ESB_V2) as client:
        launched = await client.call("fast_push_file", {"bk_biz_id": 2})
    assert seen[0].url.endswith("/job/fast_push_file/")
    assert seen[0].api == "fast_transfer_file"
    assert launched.job_instance_id == 5  # typed: the row's answer
    async with _client(handler, ApiFlavor.APIGW_V3) as client:
        raw = await client.call("fast_push_file", {"bk_biz_id": 2})
    assert raw == {"job_instance_id": 5}  # not a gateway API: sent as is, data as is
    assert seen[1].url.endswith("/api/v3/fast_push_file")
    assert seen[1].method == "POST"


async def test_an_unknown_api_goes_with_the_method_asked_and_answers_data_as_is() -> None:
    seen: list[Request] = []
    data = {"anything": [1, {"nested": None}], "n": 3}

    def handler(request: Request) -> Response:
        seen.append(request)
        return json_response({"result": True, "code": 0, "data": data})

    async with _client(handler) as client:
        got = await client.call("get_cron_list_v9", {"bk_scope_type": "biz", "x": [1, 2]})
        assert got == data
        got = await client.call("get_thing", {"flag": True, "n": 1}, method="get")
        assert got == data
    post, get = seen
    assert (post.method, json.loads(post.body or b"")) == (
        "POST",
        {"bk_scope_type": "biz", "x": [1, 2]},
    )
    assert not post.idempotent
    assert (get.method, dict(get.query or {}), get.body) == (
        "GET",
        {"flag": "true", "n": "1"},
        None,
    )
    assert not get.idempotent  # retried only when the caller says so


@pytest.mark.parametrize(("idempotent", "attempts"), [(None, 1), (False, 1), (True, 3)])
async def test_an_unknown_api_is_retried_only_when_said_idempotent(
    idempotent: bool | None, attempts: int
) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(502, {}, b"bad gateway")

    async with _client(handler, retry=RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(ServerError):
            await client.call("do_something", {}, idempotent=idempotent)
    assert len(seen) == attempts


async def test_a_known_write_is_never_retried_unless_the_caller_says_so() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(502, {}, b"bad gateway")

    params = {**SCOPE.params(ApiFlavor.APIGW_V3), "job_instance_id": 1, "operation_code": 1}
    async with _client(handler, retry=RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(ServerError):
            await client.call("operate_job_instance", params)
        assert len(seen) == 1
        with pytest.raises(ServerError):
            await client.call("operate_job_instance", params, idempotent=True)
        assert len(seen) == 4


@pytest.mark.parametrize(
    ("api", "params", "kwargs", "error", "says"),
    [
        ("get_job_plan_list", {"bk_app_secret": "x"}, {}, ValueError, "credential"),
        ("x", {"access_token": "x"}, {}, ValueError, "credential"),
        ("get_job_plan_list", {}, {"method": "POST"}, ValueError, "sent with GET"),
        ("../admin", {}, {}, ValueError, "API name"),
        ("get_thing", {}, {"method": "PUT"}, ValueError, "GET' or 'POST"),
        ("get_thing", [("a", 1)], {}, TypeError, "mapping"),
        ("get_thing", {1: 2}, {}, TypeError, "names are str"),
        ("get_job_instance_log", {}, {}, UnsupportedOperationError, "esb-v2"),
    ],
)
async def test_bad_input_is_refused_before_anything_is_sent(
    api: str, params: Any, kwargs: dict[str, Any], error: type[Exception], says: str
) -> None:
    def handler(request: Request) -> Response:
        raise AssertionError("nothing is sent")

    async with _client(handler) as client:
        with pytest.raises(error, match=says) as info:
            await client.call(api, params, **kwargs)
    assert "s3cret" not in str(info.value)
