"""The gateway v4's answers: HTTP statuses and ``{"data"}``/``{"error"}`` bodies, table-driven.

Shapes from bk-job (588f99bb): ``EsbV4Response``, ``EsbV4RespError`` (``details`` carries
bk-job's numeric code), ``V4ErrorCodeEnum`` and ``EsbV4ExceptionControllerAdvice`` (the
status each class is sent with), ``v4_response_protocol.md``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bkjob_async import ApiFlavor, Credentials, Scope, errors
from bkjob_async._protocol import Protocol, Response

SECRET = "s3cr3t-app-secret-value"
PERMISSION = {
    "system_id": "bk_job",
    "system_name": "job",
    "actions": [{"id": "access_business", "name": "access_business"}],
}


def protocol() -> Protocol:
    credentials = Credentials("app", SECRET, "admin")
    return Protocol("http://bk.test", flavor=ApiFlavor.APIGW_V4, credentials=credentials)


def v4_error(code: str, message: str, job_code: int | None = None, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if job_code is not None:
        error["details"] = [{"code": str(job_code), "message": message}]
    if data is not None:
        error["data"] = data
    return json.dumps({"error": error, "job_request_id": "jr-1"}).encode()


ERRORS = [
    (400, "INVALID_ARGUMENT", 1241001, errors.InvalidRequestError),
    (400, "OUT_OF_RANGE", None, errors.InvalidRequestError),
    (400, "FAILED_PRECONDITION", 1241015, errors.OperationNotAllowedError),
    (401, "UNAUTHENTICATED", None, errors.AuthenticationError),
    (403, "NO_PERMISSION", None, errors.PermissionDeniedError),
    (403, "IAM_NO_PERMISSION", None, errors.PermissionDeniedError),
    (404, "NOT_FOUND", 1244006, errors.NotFoundError),
    (404, "NOT_FOUND", 1241024, errors.EndpointNotFoundError),
    (406, "MEDIA_TYPE_NOT_ACCEPTABLE", None, errors.InvalidRequestError),
    (409, "ALREADY_EXISTS", 1243002, errors.ConflictError),
    (409, "ABORTED", None, errors.ConflictError),
    (429, "RATELIMIT_EXCEED", None, errors.RateLimitedError),
    (429, "RESOURCE_EXHAUSTED", 1244032, errors.QuotaExceededError),
    (500, "INTERNAL", 1240002, errors.ServerError),
    (500, "UNKNOWN", None, errors.ServerError),
    (501, "NOT_IMPLEMENTED", None, errors.ServerError),
    (418, "SOMETHING_NEW", None, errors.ApiError),  # an unknown code: by its status
    (503, "SOMETHING_NEW", None, errors.ServerError),
]


@pytest.mark.parametrize(("status", "code", "job_code", "cls"), ERRORS)
def test_every_v4_error_maps_to_its_typed_error(
    status: int, code: str, job_code: int | None, cls: type[errors.ApiError]
) -> None:
    proto = protocol()
    request = proto.build("get_job_instance_status", Scope.biz(2), 7)
    body = v4_error(code, f"refused {code}", job_code)
    with pytest.raises(errors.ApiError) as caught:
        proto.decipher(request, Response(status, {"X-Bkapi-Request-Id": "rq-9"}, body))
    exc = caught.value
    assert type(exc) is cls
    assert (exc.http_status, exc.code_name, exc.code) == (status, code, job_code)
    assert (exc.job_request_id, exc.request_id) == ("jr-1", "rq-9")
    assert exc.message == f"refused {code}"
    assert code in str(exc)


def test_a_403_carries_what_to_apply_for_and_no_secret() -> None:
    proto = protocol()
    request = proto.build("get_job_instance_status", Scope.biz(2), 7)
    echoed = {**PERMISSION, "system_name": f"job {SECRET}"}
    body = v4_error("NO_PERMISSION", f"admin has no permission ({SECRET})", data=echoed)
    with pytest.raises(errors.PermissionDeniedError) as caught:
        proto.decipher(request, Response(403, {}, body))
    exc = caught.value
    assert exc.permission is not None
    assert exc.permission["actions"] == PERMISSION["actions"]
    assert SECRET not in str(exc)
    assert SECRET not in repr(exc)
    assert SECRET not in json.dumps(exc.permission)


def test_a_429_honours_retry_after() -> None:
    proto = protocol()
    request = proto.build("get_job_instance_status", Scope.biz(2), 7)
    body = v4_error("RATELIMIT_EXCEED", "too many")
    with pytest.raises(errors.RateLimitedError) as caught:
        proto.decipher(request, Response(429, {"Retry-After": "3"}, body))
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    ("status", "body", "data"),
    [
        (200, b'{"data": {"x": 1}, "job_request_id": "j"}', {"x": 1}),
        (201, b'{"data": [1, 2]}', [1, 2]),
        (200, b'{"data": null}', None),
        (204, b"", None),
        (202, b"  ", None),
    ],
)
def test_any_2xx_is_success(status: int, body: bytes, data: Any) -> None:
    proto = protocol()
    request = proto.build("get_job_instance_status", Scope.biz(2), 7)
    assert proto.decipher(request, Response(status, {}, body)) == data


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (200, b'{"something": 1}', errors.ResponseFormatError),  # neither shape
        (200, b"<html>login</html>", errors.ResponseFormatError),
        (200, b'{"result": false, "code": 1640001, "data": null}', errors.AuthenticationError),
        (502, b"<html>bad gateway</html>", errors.ServerError),
        (404, b"<html>not found</html>", errors.EndpointNotFoundError),
        (400, b'{"error": "flat"}', errors.InvalidRequestError),
    ],
)
def test_a_body_of_neither_shape(status: int, body: bytes, cls: type[Exception]) -> None:
    proto = protocol()
    request = proto.build("get_job_instance_status", Scope.biz(2), 7)
    with pytest.raises(cls):
        proto.decipher(request, Response(status, {}, body))


def test_the_gateways_own_refusal_keeps_its_v3_body_on_a_v4_path() -> None:
    proto = protocol()
    request = proto.build("get_job_instance_status", Scope.biz(2), 7)
    body = b'{"code": 1640401, "code_name": "API_NOT_FOUND", "result": false, "message": "no"}'
    with pytest.raises(errors.EndpointNotFoundError) as caught:
        proto.decipher(request, Response(404, {}, body))
    assert caught.value.code_name == "API_NOT_FOUND"
    limited = b'{"code": 1642903, "code_name": "RATE_LIMIT_RESTRICTION", "result": false}'
    with pytest.raises(errors.RateLimitedError):
        proto.decipher(request, Response(429, {}, limited))


def test_a_v3_answer_on_the_v4_flavor_is_read_as_v3() -> None:
    proto = protocol()  # operate_job_instance has no v4: the gateway's v3 serves it
    request = proto.build("operate_job_instance", Scope.biz(2), 7, 1)
    body = b'{"result": false, "code": 1244006, "message": "no such job"}'
    with pytest.raises(errors.NotFoundError):
        proto.decipher(request, Response(200, {}, body))
    ok = b'{"result": true, "code": 0, "data": {"job_instance_id": 7}}'
    assert proto.decipher(request, Response(200, {}, ok)) == {"job_instance_id": 7}
