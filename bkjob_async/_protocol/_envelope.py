"""Rule: every answer becomes its ``data`` or the typed error it stands for; pure, no clock read.

bk-job's envelope: read an answer into its ``data`` or the typed error it stands for.

Pure: bytes and headers in, data or an ``ApiError`` out (spec §5: the codes by class, HTTP
statuses when a code is unknown, ``Retry-After`` and the gateway's rate-limit reset). The
gateway's v4 (``Request.v4``) answers by HTTP status instead: any 2xx with ``{"data": ...}``
(204 without a body), else ``{"error": {"code", "message", "data", "details"}}`` whose
``code`` names the class (bk-job ``V4ErrorCodeEnum``, ``EsbV4ExceptionControllerAdvice``). Secrets
are masked in every message built here (``bkjob_async._secrets``). No clock is read: the
caller passes ``now`` for a ``Retry-After`` given as a date.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import _json, errors
from .._secrets import Redactor

if TYPE_CHECKING:
    from ._request import Request, Response

__all__ = ["Envelope", "parse_retry_after"]

# Error codes by class (spec §5.2-5.4). HTTP status decides when the code is unknown.
_CODE_CLASSES: dict[int, type[errors.ApiError]] = {
    **dict.fromkeys(
        (9900403, 1238001, 1306402, 1306403, 1244016, 1640301, 1640302),
        errors.PermissionDeniedError,
    ),
    **dict.fromkeys((1640001, 1640100, 1640101, 1640102, 1306401), errors.AuthenticationError),
    **dict.fromkeys(
        # + script, plan, script version and account not found (ErrorCode.java)
        (1244006, 1244007, 1244012, 1243051, 1243001, 1243009, 1243047, 1244003),
        errors.NotFoundError,
    ),
    # + cron job not found (ErrorCode.CRON_JOB_NOT_EXIST)
    **dict.fromkeys((1245001,), errors.NotFoundError),
    **dict.fromkeys(
        # + a named parameter with a reason, a reason, missing or invalid (ErrorCode.java);
        # a cron job's name taken in the scope (CRON_JOB_ALREADY_EXIST)
        (1241006, 1241010, 1241012, 1245004),
        errors.InvalidRequestError,
    ),
    # a script that is not the scope's (SCRIPT_NOT_IN_APP)
    1243004: errors.NotFoundError,
    # a script name, a version name, a dangerous rule that exists already
    **dict.fromkeys((1243002, 1243036, 1243056), errors.InvalidRequestError),
    # a referenced script; a disabled, draft or dangerous script launched (ErrorCode.java)
    **dict.fromkeys((1243054, 1244014, 1244018, 1244019), errors.OperationNotAllowedError),
    **dict.fromkeys(
        (1240003, 1241001, 1241002, 1241004, 1241005, 1241007, 1306406, 1306209, 1244020),
        errors.InvalidRequestError,
    ),
    **dict.fromkeys((1244036, 1244021, 1244022), errors.InvalidRequestError),
    # bk-job 2026 (ErrorCode.java): over the rolling batch cap (EXCEED_MAX_ALLOWED_BATCH_SIZE),
    # source-file rolling of a non-server file, an unknown X-Bk-Job-User-Timezone, a callback
    # URL allowed-list base URL that is malformed; one listed already is a conflict
    **dict.fromkeys((1244027, 1244035, 1247005, 1244038), errors.InvalidRequestError),
    1244039: errors.ConflictError,
    # targets that name no host (SERVER_EMPTY, "Host is empty"): v3 ``host_id_list`` rows sent
    # as objects, a topology node or dynamic group with no host, a host variable left empty
    1244001: errors.InvalidRequestError,
    # Credentials, file sources, templates and accounts (ErrorCode.java): not found ...
    **dict.fromkeys((1243048, 1260001, 1260012, 1243026), errors.NotFoundError),
    # ... a name or code taken, a reason given, a DB account without its system account, a
    # file source of another scope ...
    **dict.fromkeys(
        (1241010, 1243007, 1243008, 1243060, 1260015, 1260017), errors.InvalidRequestError
    ),
    # ... and an account a step or a DB account uses (deleting it is refused).
    1243014: errors.OperationNotAllowedError,
    **dict.fromkeys(
        # + a one-off cron job whose time passed cannot start (CRON_JOB_TIME_PASSED)
        (1241003, 1241015, 1244015, 1244025, 1245006),
        errors.OperationNotAllowedError,
    ),
    **dict.fromkeys(
        (1306429, 1642901, 1642902, 1642903, 1642904),
        errors.RateLimitedError,
    ),
    # bk-job's running-job quota, scope / app / system (HTTP 200): not a rate limit (§8.1)
    **dict.fromkeys(errors.QUOTA_CODES, errors.QuotaExceededError),
    **dict.fromkeys(
        (1240001, 1240002, 1306000, 1306201, 1306202, 1650200, 1650201, 1650401),
        errors.ServerError,
    ),
}
# The ESB's AppSecretValidator / app code check: a credentials problem whatever the code.
_CREDENTIALS_REFUSED = re.compile(
    r"APP Secret verification failed|Invalid APP Code \[bk_app_code=", re.IGNORECASE
)
_STATUS_CLASSES: dict[int, type[errors.ApiError]] = {
    400: errors.InvalidRequestError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    405: errors.NotFoundError,
    406: errors.InvalidRequestError,
    409: errors.ConflictError,
    413: errors.InvalidRequestError,
    414: errors.InvalidRequestError,
    415: errors.InvalidRequestError,
    429: errors.RateLimitedError,
}

# The v4 protocol's error.code (bk-job ``V4ErrorCodeEnum``): the class, whatever the status.
_V4_CLASSES: dict[str, type[errors.ApiError]] = {
    "INVALID_ARGUMENT": errors.InvalidRequestError,
    "OUT_OF_RANGE": errors.InvalidRequestError,
    "FAILED_PRECONDITION": errors.OperationNotAllowedError,
    "UNAUTHENTICATED": errors.AuthenticationError,
    "NO_PERMISSION": errors.PermissionDeniedError,
    "IAM_NO_PERMISSION": errors.PermissionDeniedError,
    "NOT_FOUND": errors.NotFoundError,
    "MEDIA_TYPE_NOT_ACCEPTABLE": errors.InvalidRequestError,
    "Unsupported Media Type": errors.InvalidRequestError,
    "ALREADY_EXISTS": errors.ConflictError,
    "ABORTED": errors.ConflictError,
    "RATELIMIT_EXCEED": errors.RateLimitedError,
    # bk-job's running-job quota, its code (1244032...) in ``details`` (EsbV4RespError)
    "RESOURCE_EXHAUSTED": errors.QuotaExceededError,
    "INTERNAL": errors.ServerError,
    "UNKNOWN": errors.ServerError,
    "NOT_IMPLEMENTED": errors.ServerError,
}
#: bk-job's code when no handler has this method and path (``REQUEST_DOES_NOT_HAS_HANDLER``).
_NO_HANDLER = 1241024

#: The gateway's API_NOT_FOUND and the ESB's "component not found": no such API at this URL.
_ENDPOINT_CODES = frozenset({1640401, 1306404})


def endpoint_missing(status: int, code: int | None, envelope: Mapping[str, Any]) -> bool:
    """Tell whether an error answer says the URL or method is wrong rather than the data missing.

    ``envelope`` is the decoded body when it is bk-job's envelope, else empty: a 404 or 405
    without one is a web server's or a proxy's (a wrong base URL or flavor); so are the
    gateway's and the ESB's codes for an API they do not have.
    """
    if code in _ENDPOINT_CODES:
        return True
    return status in (404, 405) and not envelope


#: The longest server message an ``ApiError`` keeps.
_MAX_MESSAGE = 2000


def parse_retry_after(value: str | None, wall: float | None) -> float | None:
    """Read a ``Retry-After`` value: seconds, or an HTTP date less ``wall`` (Unix time now).

    Return ``None`` for no value, one that is neither, one not finite, or a date when ``wall``
    is ``None``; never a negative number. A date's "-0000" zone is UTC. Reads no clock.
    """
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = _http_date(value)
        if when is None or wall is None:
            return None
        seconds = when - wall
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _http_date(value: str) -> float | None:
    """Return an HTTP date as Unix time, ``None`` if ``value`` is not one."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC with no known source zone
        when = when.replace(tzinfo=_dt.timezone.utc)
    return when.timestamp()


def _retry_after(headers: Mapping[str, str], now: float | None) -> float | None:
    """Read ``Retry-After``, else ``X-Bkapi-RateLimit-Reset`` (seconds, or HTTP dates).

    A date is read against ``now`` (Unix time), else against the response's own ``Date``.
    """
    if now is None:
        date = headers.get("Date")
        now = None if date is None else _http_date(date)
    for name in ("Retry-After", "X-Bkapi-RateLimit-Reset"):
        seconds = parse_retry_after(headers.get(name), now)
        if seconds is not None:
            return seconds
    return None


class Envelope:
    """Read answers for one identity: its ``redactor`` masks what the errors quote."""

    __slots__ = ("redactor",)

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def decipher(self, request: Request, response: Response, *, now: float | None = None) -> Any:
        """Return the envelope's ``data``, or raise the typed error the response stands for.

        ``now`` (Unix time, the caller's clock) reads a ``Retry-After`` given as a date; without
        it the response's ``Date`` header does. Nothing here reads a clock.
        """
        try:
            envelope = _json.loads(response.body)
        except _json.TooDeep:
            if response.status < 400:
                raise _too_deep(request, response) from None
            envelope = None
        except (ValueError, RecursionError):
            envelope = None
        if request.v4 and (isinstance(envelope, dict) or not response.body.strip()):
            return self._v4(request, response, envelope, now)
        if not isinstance(envelope, dict) or not ("result" in envelope or "code" in envelope):
            return self._not_an_envelope(request, response, now)
        result, code = envelope.get("result"), envelope.get("code")
        if result is True and code in (0, "0", "00", None) and 200 <= response.status < 300:
            return envelope.get("data")
        raise self._api_error(request, response, envelope, now)

    def _v4(
        self, request: Request, response: Response, body: dict[str, Any] | None, now: float | None
    ) -> Any:
        """Read a v4 answer: 2xx is success (``data``; a 204 or an empty body is ``None``)."""
        error = None if body is None else body.get("error")
        if isinstance(error, Mapping):
            raise self._v4_error(request, response, body or {}, error, now)
        refused = body is not None and (body.get("result") is False or response.status >= 400)
        if refused and body is not None and ("result" in body or "code" in body):
            # The gateway's own refusal (auth, rate limit, no such resource) in its own body,
            # even at 200 (a ``bk-status-rewrite`` plugin).
            raise self._api_error(request, response, body, now)
        if 200 <= response.status < 300:
            if body is None:
                return None
            if "data" in body:
                return body["data"]
        return self._not_an_envelope(request, response, now)

    def _v4_error(
        self,
        request: Request,
        response: Response,
        body: Mapping[str, Any],
        error: Mapping[str, Any],
        now: float | None,
    ) -> errors.ApiError:
        """The error of a v4 ``{"error": {...}}`` body: the class by ``code``, else by status."""
        name = error.get("code")
        name = name if isinstance(name, str) else None
        details = error.get("details")
        first = details[0] if isinstance(details, list) and details else None
        job_code = _int_or_none(first.get("code")) if isinstance(first, Mapping) else None
        cls = _V4_CLASSES.get(name or "") or _STATUS_CLASSES.get(response.status)
        if response.status in (404, 405) and (job_code == _NO_HANDLER or name is None):
            cls = errors.EndpointNotFoundError
        if cls is None:
            cls = errors.ServerError if response.status >= 500 else errors.ApiError
        message = error.get("message") or ""
        data = error.get("data")
        envelope = {
            "code": job_code,
            "message": message if isinstance(message, str) else str(message),
            "job_request_id": body.get("job_request_id"),
            "permission": data if cls is errors.PermissionDeniedError else None,
        }
        return self._api_error(request, response, envelope, now, cls=cls, code_name=name)

    def _not_an_envelope(self, request: Request, response: Response, now: float | None) -> Any:
        if response.status >= 400:
            raise self._api_error(request, response, {}, now)
        kind = "not JSON" if response.body[:1] not in (b"{", b"[") else "not a bk-job envelope"
        raise errors.ResponseFormatError(
            f"{request.api}: HTTP {response.status} response is {kind}: {self.excerpt(response.body)}"
        )

    def _api_error(
        self,
        request: Request,
        response: Response,
        envelope: Mapping[str, Any],
        now: float | None,
        *,
        cls: type[errors.ApiError] | None = None,
        code_name: str | None = None,
    ) -> errors.ApiError:
        headers = response.headers
        code = _int_or_none(envelope.get("code", headers.get("X-Bkapi-Error-Code")))
        if code_name is None:
            found = envelope.get("code_name")
            code_name = found if isinstance(found, str) else None
        message = envelope.get("message") or headers.get("X-Bkapi-Error-Message") or ""
        if not isinstance(message, str):
            message = str(message)
        if len(message) > _MAX_MESSAGE:
            # Cut before masking: what is left of a secret cut here is 8+ characters (masked)
            # or fewer than 8 (unrecognisable); and masking a huge message would cost time.
            message = message[:_MAX_MESSAGE] + "..."
        if not envelope and not message:
            message = f"HTTP {response.status}: {self.excerpt(response.body)}"
        if cls is None:
            cls = (
                errors.EndpointNotFoundError
                if endpoint_missing(response.status, code, envelope)
                else _CODE_CLASSES.get(code or 0) or _STATUS_CLASSES.get(response.status)
            )
            if _CREDENTIALS_REFUSED.search(message):  # the ESB's app check, any code (§7.16)
                cls = errors.AuthenticationError
        if cls is None:
            cls = errors.ServerError if response.status >= 500 else errors.ApiError
        permission = envelope.get("permission")
        kwargs: dict[str, Any] = {
            "code": code,
            "http_status": response.status,
            "request_id": self._str_or_none(
                envelope.get("request_id") or headers.get("X-Bkapi-Request-Id")
            ),
            "job_request_id": self._str_or_none(envelope.get("job_request_id")),
            "permission": self.redactor.data(permission)
            if isinstance(permission, Mapping)
            else None,
            "api": request.api,
            "code_name": None if code_name is None else self.redactor(code_name[:100]),
        }
        if issubclass(cls, errors.RateLimitedError):
            kwargs["retry_after"] = _retry_after(headers, now)
        message = self.redactor(message)
        if request.secrets:
            message = Redactor(request.secrets)(message)
        return cls(message, **kwargs)

    def excerpt(self, body: bytes, limit: int = 200) -> str:
        """Return the start of ``body``, masked, quoted, for a message."""
        # Mask before cutting, so that a cut cannot leave the start of a secret unmasked; a
        # secret the first cut splits keeps its first 8 characters within it, and so is masked.
        text = self.redactor(body[: 8 * limit].decode("utf-8", "replace")).strip()
        return repr(text[:limit] + ("..." if len(text) > limit else ""))

    def _str_or_none(self, value: Any) -> str | None:
        return None if value is None else self.redactor(str(value))


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _too_deep(request: Request, response: Response) -> errors.ResponseRefusedError:
    """The error of an answer nested past ``_json.MAX_DEPTH``: refused before anything reads it."""
    return errors.ResponseRefusedError(
        f"{request.api}: HTTP {response.status} response nests arrays or objects deeper than "
        f"{_json.MAX_DEPTH} levels ({len(response.body):,} bytes); refused unread"
    )
