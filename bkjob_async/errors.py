"""Every error this package raises, under one root; messages never carry a secret.

(Secrets of 8 characters or more, in any form a server or a parser may echo; shorter ones on a
best-effort basis: ``bkjob_async._secrets`` states the contract.)

::

    BkJobError
    ├── ApiError                    the server said no: result false, a gateway error status, or
    │   │                           a v4 error body (.code_name: INVALID_ARGUMENT, NO_PERMISSION, ...)
    │   ├── AuthenticationError     bad app code/secret or user identity (gateway 400/401, ESB 1306401,
    │   │                           or any ESB answer saying the app code or secret failed verification)
    │   ├── PermissionDeniedError   no permission (9900403 with .permission, ESB 1306402/3, gateway 403)
    │   ├── NotFoundError           unknown job, step, plan, script or scope: data that does not exist
    │   ├── EndpointNotFoundError   no such API at this URL: a 404/405 that is not bk-job's envelope,
    │   │                           the gateway's API_NOT_FOUND, ESB 1306404 (wrong base URL or flavor)
    │   ├── InvalidRequestError     missing or invalid parameters (1241001/2/7, ESB 1306406, HTTP 400),
    │   │                           targets naming no host (1244001, "Host is empty")
    │   │   ├── OperationNotAllowedError   the instance's state forbids it (1241003, 1241015, 1244015),
    │   │   │                       or a script's, or a dangerous-command rule (1244018, 1244019);
    │   │   │                       v4 FAILED_PRECONDITION
    │   │   └── ConflictError       HTTP 409: the resource exists already, or a concurrent change
    │   ├── RateLimitedError        ESB 1306429, gateway 429, v4 RATELIMIT_EXCEED; .retry_after
    │   │   └── QuotaExceededError  bk-job's running-job quota is full (1244032 scope, 1244033 app,
    │   │                           1244034 system; v4 RESOURCE_EXHAUSTED); .quota; never retried
    │   └── ServerError             5xx, gateway 502/504, Job 1240001/1240002, ESB 1306000/1306201/2
    ├── TransportError              no usable HTTP response
    │   ├── ConnectError            the connection was never made: the request cannot have arrived
    │   ├── TimeoutError            also a builtin ``TimeoutError``
    │   ├── ConnectTimeoutError     both: connecting took too long, nothing was sent
    │   └── CertificateError        TLS: a certificate failed verification or was refused
    ├── ResponseFormatError         not JSON, not bk-job's shape, or about another job
    │   └── ResponseRefusedError    refused unread: over max_body_size, or nested too deep
    ├── UnsupportedOperationError   this API flavor has no such endpoint
    ├── PollingError                the poller could not watch an instance
    │   └── JobFailedError          a wait's job ended outside the caller's ``success=``
    └── StoreError                  a state store is locked, unreadable, corrupt, too new or closed
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BkJobError",
    "CertificateError",
    "ConflictError",
    "ConnectError",
    "ConnectTimeoutError",
    "EndpointNotFoundError",
    "InvalidRequestError",
    "JobFailedError",
    "NotFoundError",
    "OperationNotAllowedError",
    "PermissionDeniedError",
    "PollingError",
    "QuotaExceededError",
    "RateLimitedError",
    "ResponseFormatError",
    "ResponseRefusedError",
    "ServerError",
    "StoreError",
    "TimeoutError",
    "TransportError",
    "UnsupportedOperationError",
]


class BkJobError(Exception):
    """Root of every error raised by ``bkjob_async``."""


class ApiError(BkJobError):
    """The server answered with an error: ``result: false`` (even on HTTP 200) or a gateway error."""

    #: Whether retrying the same read may succeed.
    transient = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        job_request_id: str | None = None,
        permission: Mapping[str, Any] | None = None,
        api: str | None = None,
        code_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.request_id = request_id
        self.job_request_id = job_request_id
        self.permission = permission
        self.api = api
        #: The error's name: the gateway v4's ``error.code`` (``NO_PERMISSION``, ...) or the
        #: gateway's own ``code_name`` (``API_NOT_FOUND``, ...); ``None`` when not given.
        self.code_name = code_name

    def __str__(self) -> str:
        parts = [f"{self.api}: " if self.api else "", self.message or "error"]
        details = [f"code {self.code}"] if self.code is not None else []
        if self.code_name:
            details.insert(0, self.code_name)
        if self.http_status is not None and self.http_status != 200:
            details.append(f"HTTP {self.http_status}")
        if self.job_request_id:
            details.append(f"job_request_id {self.job_request_id}")
        if self.request_id:
            details.append(f"request_id {self.request_id}")
        if details:
            parts.append(f" ({', '.join(details)})")
        return "".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class AuthenticationError(ApiError):
    """The app or the user could not be authenticated."""


class PermissionDeniedError(ApiError):
    """The user or app lacks a permission; ``.permission`` says which when the server sends it."""


class NotFoundError(ApiError):
    """The job, step, plan, script or scope does not exist."""


class EndpointNotFoundError(ApiError):
    """No such API at this URL: a wrong base URL, flavor or method, not missing data.

    A 404 or 405 whose body is not bk-job's JSON envelope (a web server's or a proxy's page),
    the API gateway's ``API_NOT_FOUND`` (1640401) or the ESB's "component not found" (1306404).
    Not a ``NotFoundError``: ``except NotFoundError`` means "that job does not exist".
    """

    #: What its message adds: what to check.
    hint = (
        "no such API at this URL: check base_url and flavor (apigw-v3: the gateway stage URL, "
        "https://bkapi.example.com/api/bk-job/prod; esb-jobv3 and esb-v2: the PaaS URL)"
    )

    def __str__(self) -> str:
        return f"{super().__str__()}; {self.hint}"


class InvalidRequestError(ApiError):
    """The server rejected the parameters."""


class OperationNotAllowedError(InvalidRequestError):
    """The operation does not apply to the instance in its current state."""


class ConflictError(InvalidRequestError):
    """HTTP 409: the resource exists already (v4 ``ALREADY_EXISTS``) or a concurrent change
    won (``ABORTED``). An ``InvalidRequestError``, as v3's "name exists" codes are."""


class RateLimitedError(ApiError):
    """Too many requests or running jobs; ``.retry_after`` is the server's hint in seconds, if any."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


#: bk-job's running-job quota codes (``ErrorCode.RUNNING_JOB_EXCEED_*_QUOTA_LIMIT``) by quota.
QUOTA_CODES: dict[int, str] = {1244032: "scope", 1244033: "app", 1244034: "system"}


class QuotaExceededError(RateLimitedError):
    """bk-job refused a launch: its running-job quota is full. A slot frees only when a running
    job ends, not with time, so no retry is made blind (``RetryPolicy``) and the poller's rate
    governor ignores it (slower polls free no slot).

    ``quota`` says which: ``"scope"`` (1244032, the business or business set), ``"app"``
    (1244033, the calling app), ``"system"`` (1244034, all of bk-job); ``None`` when the answer
    named none (a v4 ``RESOURCE_EXHAUSTED`` without bk-job's code in its details). ESB and
    gateway v3 send it at HTTP 200, v4 as HTTP 429 ``RESOURCE_EXHAUSTED``. A subclass of
    ``RateLimitedError``: ``except RateLimitedError`` still catches it.
    """

    transient = False

    @property
    def quota(self) -> str | None:
        """Return the full quota: ``"scope"``, ``"app"``, ``"system"``, or ``None`` if unsaid."""
        return QUOTA_CODES.get(self.code) if self.code is not None else None


class ServerError(ApiError):
    """The server or a gateway in front of it failed."""

    transient = True


class TransportError(BkJobError):
    """No usable HTTP response arrived (connection refused or reset, DNS, TLS, timeout)."""

    transient = True


class ConnectError(TransportError):
    """The connection could not be made, so the request never reached the server."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """A connect, read or total timeout expired."""


class ConnectTimeoutError(ConnectError, TimeoutError):
    """Connecting took too long; nothing was sent."""


class CertificateError(TransportError):
    """TLS failed on a certificate: the server's did not verify (unknown CA, wrong host name,
    expired), or the server refused the client certificate (mutual TLS).

    Not transient: trying again cannot help, so reads do not retry it and a watch ends with
    ``WatchFailed`` at once. The message names the host and what failed; fix the CA bundle
    (``ssl=``), the client certificate (``client_cert=``) or the URL.
    """

    transient = False


class ResponseFormatError(BkJobError):
    """The response body is not JSON, or not the shape bk-job sends.

    Also raised for a body larger than the client's ``max_body_size`` (refused unread), and for
    an answer about another job or step than the one asked for.

    Transient: a body cut short or a proxy's error page can pass, so reads retry it.
    """

    transient = True


class ResponseRefusedError(ResponseFormatError):
    """The response body was refused unread: larger than the client's ``max_body_size``, or
    nested deeper than the client reads JSON.

    Not transient: the same request gets the same body, so reads do not retry it, and a poll
    that gets it twice in a row ends that job's watch (``PollPolicy``'s failure budget).
    """

    transient = False


class UnsupportedOperationError(BkJobError):
    """The chosen API flavor has no such endpoint."""


class PollingError(BkJobError):
    """The poller could not give an answer it was asked for.

    Raised by ``Poller.wait_finished`` and ``Poller.as_completed`` when the watch's
    ``PollPolicy.deadline`` passes first or the poller closes before the job ends. Failures of
    bk-job itself (not found, no permission, ...) are raised as their own ``ApiError``
    subclasses instead.
    """


class JobFailedError(PollingError):
    """A job a wait was for ended in a status outside the caller's ``success=``.

    ``.status`` is the job's final ``JobInstanceStatus`` (with its hosts when the wait read
    them): what the wait would have returned.
    """

    def __init__(self, message: str, *, status: Any) -> None:
        super().__init__(message)
        self.status = status


class StoreError(BkJobError):
    """A state store cannot be used: locked, unreadable, corrupt, too new, or closed.

    The message names the file (or store) and what to do; ``.path`` is the file, if any.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path
