"""The error tree, error messages and which failures a retry may fix."""

from __future__ import annotations

import builtins

import pytest

import bkjob_async
from bkjob_async import (
    ApiError,
    AuthenticationError,
    BkJobError,
    ConnectError,
    ConnectTimeoutError,
    InvalidRequestError,
    NotFoundError,
    OperationNotAllowedError,
    PermissionDeniedError,
    PollingError,
    QuotaExceededError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    StoreError,
    TimeoutError,
    TransportError,
    UnsupportedOperationError,
)
from bkjob_async._transport import is_retryable

TREE = {
    ApiError: BkJobError,
    AuthenticationError: ApiError,
    PermissionDeniedError: ApiError,
    NotFoundError: ApiError,
    InvalidRequestError: ApiError,
    OperationNotAllowedError: InvalidRequestError,
    RateLimitedError: ApiError,
    QuotaExceededError: RateLimitedError,
    ServerError: ApiError,
    TransportError: BkJobError,
    ConnectError: TransportError,
    TimeoutError: TransportError,
    ResponseFormatError: BkJobError,
    UnsupportedOperationError: BkJobError,
    PollingError: BkJobError,
    StoreError: BkJobError,
}


@pytest.mark.parametrize(("cls", "parent"), TREE.items())
def test_tree(cls: type[Exception], parent: type[Exception]) -> None:
    assert cls.__bases__[0] is parent
    assert issubclass(cls, BkJobError)


def test_timeouts_are_builtin_timeouts_too() -> None:
    assert issubclass(TimeoutError, builtins.TimeoutError)
    assert issubclass(ConnectTimeoutError, ConnectError)
    assert issubclass(ConnectTimeoutError, builtins.TimeoutError)
    with pytest.raises(builtins.TimeoutError):
        raise ConnectTimeoutError("slow")
    assert TimeoutError is not builtins.TimeoutError
    assert bkjob_async.TimeoutError is TimeoutError


def test_every_error_is_exported() -> None:
    exported = {getattr(bkjob_async, name) for name in bkjob_async.__all__}
    assert set(TREE) | {BkJobError, ConnectTimeoutError} <= exported


def test_api_error_attributes_and_str() -> None:
    error = NotFoundError(
        "job instance does not exist",
        code=1244006,
        http_status=200,
        request_id="esb-1",
        job_request_id="job-2",
        permission=None,
        api="get_job_instance_status",
    )
    assert (error.code, error.http_status, error.request_id, error.job_request_id) == (
        1244006,
        200,
        "esb-1",
        "job-2",
    )
    assert error.message == "job instance does not exist"
    assert str(error) == (
        "get_job_instance_status: job instance does not exist "
        "(code 1244006, job_request_id job-2, request_id esb-1)"
    )
    assert repr(error) == f"NotFoundError({str(error)!r})"


def test_api_error_str_shows_non_200_status_and_fallback_message() -> None:
    assert str(ServerError("", http_status=502)) == "error (HTTP 502)"
    assert str(ApiError("x")) == "x"


def test_rate_limited_error_keeps_retry_after() -> None:
    error = RateLimitedError("slow down", retry_after=2.5, code=1306429)
    assert error.retry_after == 2.5
    assert error.code == 1306429
    assert RateLimitedError("x").retry_after is None


@pytest.mark.parametrize(
    ("error", "read", "write"),
    [
        (ConnectError("refused"), True, True),
        (ConnectTimeoutError("slow connect"), True, True),
        (TimeoutError("slow read"), True, False),
        (TransportError("reset"), True, False),
        (ServerError("502", http_status=502), True, False),
        (RateLimitedError("429", http_status=429), True, True),
        (RateLimitedError("esb", code=1306429, http_status=200), True, True),
        (QuotaExceededError("quota", code=1244032, http_status=200), False, False),
        (QuotaExceededError("v4", code_name="RESOURCE_EXHAUSTED", http_status=429), False, False),
        (InvalidRequestError("bad"), False, False),
        (PermissionDeniedError("no"), False, False),
        (NotFoundError("no"), False, False),
        (AuthenticationError("no"), False, False),
        (ApiError("?"), False, False),
        (ResponseFormatError("junk"), True, False),
        (UnsupportedOperationError("no"), False, False),
    ],
)
def test_is_retryable(error: BkJobError, read: bool, write: bool) -> None:
    assert is_retryable(error, idempotent=True) is read
    assert is_retryable(error, idempotent=False) is write
