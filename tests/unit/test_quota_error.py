"""bk-job's running-job quota is not a rate limit (issue 86): its own error, never resent.

The quota (``RunningJobQuotaLimitExceedException``: 1244032 scope, 1244033 app, 1244034
system) is sent at HTTP 200 by the ESB and gateway v3, as HTTP 429 ``RESOURCE_EXHAUSTED`` with
the code in ``error.details`` by v4 (``EsbV4ExceptionControllerAdvice``, ``EsbV4RespError``);
v4's ``RATELIMIT_EXCEED`` and the gateway's and ESB's rate limits stay ``RateLimitedError``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bkjob_async import (
    Account,
    ApiFlavor,
    Credentials,
    JobFinished,
    Poller,
    PollPolicy,
    QuotaExceededError,
    RateLimitedError,
    RetryPolicy,
    Targets,
    errors,
)
from bkjob_async._protocol import Protocol, Response
from bkjob_async._transport import is_retryable
from bkjob_async.polling._decide import Kind, classify
from bkjob_async.testing import BkJobSimulator, Fault, loop_time, run_virtual
from tests.conftest import local_client

from ..virtual import SCOPE, VirtualBkJob

QUOTAS = [(1244032, "scope"), (1244033, "app"), (1244034, "system")]


def protocol(flavor: str) -> Protocol:
    credentials = Credentials("app", "s3cr3t-app-secret-value", "admin")
    return Protocol("http://bk.test", flavor=ApiFlavor.coerce(flavor), credentials=credentials)


def decipher(flavor: str, status: int, body: dict[str, Any]) -> errors.ApiError:
    proto = protocol(flavor)
    request = proto.build("get_job_instance_status", SCOPE, 7)
    with pytest.raises(errors.ApiError) as caught:
        proto.decipher(request, Response(status, {}, json.dumps(body).encode()))
    return caught.value


@pytest.mark.parametrize("flavor", ["esb-v2", "esb-jobv3", "apigw-v3"])
@pytest.mark.parametrize(("code", "quota"), QUOTAS)
def test_the_quota_codes_at_http_200_say_which_quota(flavor: str, code: int, quota: str) -> None:
    envelope = {"result": False, "code": code, "message": "running jobs exceed", "data": None}
    exc = decipher(flavor, 200, envelope)
    assert type(exc) is QuotaExceededError
    assert (exc.quota, exc.code, exc.http_status) == (quota, code, 200)


@pytest.mark.parametrize(("code", "quota"), [*QUOTAS, (None, None)])
def test_v4_resource_exhausted_is_the_quota_with_its_code_in_the_details(
    code: int | None, quota: str | None
) -> None:
    error: dict[str, Any] = {"code": "RESOURCE_EXHAUSTED", "message": "quota"}
    if code is not None:
        error["details"] = [{"code": str(code), "message": "quota"}]
    exc = decipher("apigw-v4", 429, {"error": error, "job_request_id": "j"})
    assert type(exc) is QuotaExceededError
    assert (exc.quota, exc.code, exc.code_name, exc.http_status) == (
        quota,
        code,
        "RESOURCE_EXHAUSTED",
        429,
    )


@pytest.mark.parametrize(
    ("flavor", "status", "body"),
    [
        ("apigw-v4", 429, {"error": {"code": "RATELIMIT_EXCEED", "message": "slow"}}),
        ("apigw-v3", 429, {"code": 1642903, "code_name": "RATE_LIMIT_RESTRICTION"}),
        ("esb-jobv3", 200, {"result": False, "code": 1306429, "message": "rate"}),
    ],
    ids=["v4-ratelimit-exceed", "gateway-429", "esb-1306429"],
)
def test_rate_limits_stay_plain_rate_limits(flavor: str, status: int, body: Any) -> None:
    exc = decipher(flavor, status, {"result": False, **body} if status == 429 else body)
    assert type(exc) is RateLimitedError
    assert classify(exc) is Kind.THROTTLED
    assert is_retryable(exc, idempotent=False)


def test_old_except_clauses_still_catch_it_and_nothing_retries_it() -> None:
    exc = decipher("esb-jobv3", 200, {"result": False, "code": 1244033, "message": "app"})
    with pytest.raises(RateLimitedError) as caught:  # as callers wrote it before
        raise exc
    assert caught.value is exc
    assert isinstance(exc, errors.ApiError)
    assert issubclass(QuotaExceededError, RateLimitedError)
    assert not is_retryable(exc, idempotent=True)
    assert not is_retryable(exc, idempotent=False)
    assert not exc.transient
    assert classify(exc) is Kind.QUOTA
    assert QuotaExceededError("x").quota is None
    assert QuotaExceededError("x", code=1244034).quota == "system"


async def _launch(sim: BkJobSimulator, flavor: str) -> BaseException:
    v2 = flavor == "esb-v2"
    client = local_client(sim.transport(), flavor=flavor, retry=RetryPolicy(max_attempts=4))
    async with client:
        try:
            await client.fast_execute_script(
                SCOPE,
                targets=Targets(ips=["0:10.0.0.1"]) if v2 else Targets(host_ids=[1001]),
                account=Account(alias="root"),
                script_content="echo hi",
            )
        except errors.BkJobError as exc:
            return exc
    raise AssertionError("the launch was not refused")


@pytest.mark.parametrize("flavor", ["esb-v2", "esb-jobv3", "apigw-v3", "apigw-v4"])
def test_a_launch_refused_for_quota_is_sent_once_a_rate_limited_one_again(flavor: str) -> None:
    async def main() -> tuple[BaseException, int, BaseException, int]:
        sim = BkJobSimulator(virtual_clock=loop_time)
        sim.inject(Fault.business_error(1244032, "too many running jobs"), times=4)
        quota = await _launch(sim, flavor)
        quota_sent = sim.request_count("fast_execute_script")
        sim.clear_faults()
        sim.inject(Fault.rate_limited(), api="fast_execute_script", times=4)
        limited = await _launch(sim, flavor)
        return quota, quota_sent, limited, sim.request_count("fast_execute_script") - quota_sent

    quota, quota_sent, limited, limited_sent = run_virtual(main)
    assert type(quota) is QuotaExceededError
    assert quota.quota == "scope"
    assert quota_sent == 1  # never resent blind: no slot frees with time
    assert type(limited) is RateLimitedError
    assert limited_sent == 4  # a rate limit turned it away before anything ran: resent


@pytest.mark.parametrize(
    ("fault", "governed"),
    [(Fault.business_error(1244032, "quota"), False), (Fault.rate_limited(), True)],
    ids=["quota", "rate-limit"],
)
def test_the_rate_governor_ignores_a_quota_answer(fault: Fault, governed: bool) -> None:
    server = VirtualBkJob({1: 20.0})

    async def main() -> tuple[float | None, dict[str, int], list[object]]:
        policy = PollPolicy(interval=1.0, max_interval=2.0, jitter=0.0)
        client = server.client(retry=RetryPolicy(max_attempts=1))
        async with client, Poller(client, policy=policy) as poller:
            server.sim.inject(fault, api="get_job_instance_status", times=3, skip=2)
            events = [event async for event in poller.watch_jobs(SCOPE, [server.job(1)])]
            stats = poller.statistics()
        return stats.rate_limit, stats.errors, events

    rate_limit, failed, events = run_virtual(main)
    assert isinstance(events[-1], JobFinished)
    assert failed == {"RateLimitedError" if governed else "QuotaExceededError": 3}
    assert (rate_limit is not None) is governed  # slower polls free no running-job slot
