"""Rule: the only aiohttp code of the simulator: routing, auth, rate limit, envelopes, faults.

The simulator's HTTP face: routing, auth, rate limit, envelopes and faults, per API flavor.

Rule: the only aiohttp code of the simulator. Three front doors share one simulated Job backend:

* API gateway ``/api/v3/<api>`` (also ``/api/bk-job/<stage>/api/v3/<api>`` and ``.../system/``):
  one method per API (404 ``API_NOT_FOUND`` otherwise), auth from ``X-Bkapi-Authorization``
  only (400 ``INVALID_ARGS``), gateway errors with real statuses and ``X-Bkapi-Error-*``, the
  Job backend's body passed through as Jackson writes it, ``X-Bkapi-Request-Id`` on everything.
* API gateway v4 ``/api/v4/<api>`` (the same stage): the gateway's door as above, and the Job
  backend's v4 answers: HTTP statuses, ``{"data": ...}`` or ``{"error": {"code", "message",
  "details", "data"}}`` (``_api_v4``).
* ESB ``/api/c/compapi/v2/jobv3/<api>/`` and ``/api/c/compapi/v2/job/<api>/``: GET or POST, auth
  from the header or the parameters, its own errors at HTTP 200 (``1306xxx``), an unregistered
  component is the Django 404 page, and the Job body re-encoded by Python with ``request_id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import attrs
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from .._protocol import Request, Response
from ..config import ApiFlavor
from ._api import ApiFailure, Call, Encoded, Endpoint, Params
from ._api_catalog import V2_ENDPOINTS, V3_ENDPOINTS, V4_ENDPOINTS
from ._api_v4 import v4_status
from ._codes import BAD_REQUEST, INTERNAL_ERROR, message
from ._faults import Fault, FaultKind, FaultRules
from ._render import encode_compact, encode_esb
from ._serve import ResetMidBody

if TYPE_CHECKING:
    from ._world import World

__all__ = ["HttpLayer", "InMemory", "Incoming", "RateWindow"]

_log = logging.getLogger("bkjob_async.testing")

_GATEWAY_PATH = re.compile(r"^(?:/api/bk-job/[^/]+)?/api/(v3|v4)/(?:system/)?(\w+)$")
_ESB_PATH = re.compile(r"^/api/c/compapi/v2/(job|jobv3)/(\w+)/?$")
_JSON = "application/json"
_GATEWAY_ERRORS: dict[int, tuple[int, str, str]] = {
    400: (1640001, "INVALID_ARGS", "Parameters error"),
    401: (1640100, "UNAUTHORIZED", "Unauthorized"),
    403: (1640301, "APP_NO_PERMISSION", "App has no permission to the resource"),
    404: (1640401, "API_NOT_FOUND", "API not found"),
    413: (1641301, "BODY_SIZE_LIMIT_EXCEED", "Request body size too large."),
    414: (1641401, "URI_SIZE_LIMIT_EXCEED", "Request uri size too large."),
    429: (1642903, "RATE_LIMIT_RESTRICTION", "API rate limit exceeded by resource strategy"),
    500: (1650001, "INTERNAL_SERVER_ERROR", "Internal Server Error"),
    502: (1650200, "BAD_GATEWAY", "Bad Gateway"),
    503: (1650300, "SERVICE_UNAVAILABLE", "Service Unavailable"),
    504: (1650401, "REQUEST_BACKEND_TIMEOUT", "Request backend service timeout"),
}
_ESB_BAD_HEADER = (
    "Parameters error, request header X-Bkapi-Authorization is not a valid JSON format string"
)
_NOT_JSON_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>BlueKing PaaS</title></head>\n"
    b"<body><p>Please log in.</p></body></html>\n"
)


class Incoming(Protocol):
    """What the HTTP layer reads of a request (``InMemory``)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def query(self) -> Mapping[str, str]: ...
    @property
    def content_type(self) -> str: ...
    async def read(self) -> bytes: ...


@attrs.frozen
class InMemory:
    """A ``Request`` as the HTTP layer reads it: the path alone, headers and query as multidicts."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    query: MultiDictProxy[str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type, as aiohttp reads it (``application/octet-stream`` if none)."""
        value = self.headers.get("Content-Type", "application/octet-stream")
        return value.split(";", 1)[0].strip().lower()

    async def read(self) -> bytes:
        """Return the body."""
        return self.body


class _Identity:
    __slots__ = ("app_code", "username")

    def __init__(self, app_code: str, username: str) -> None:
        self.app_code, self.username = app_code, username


class _Refusal(Exception):
    """A front-door refusal that never reaches the Job backend."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@attrs.frozen
class _Door:
    """How a front door (the API gateway, the ESB) refuses an app or user: its own words, and
    which of a missing app code and a missing secret it names first."""

    no_code: str
    no_secret: str
    secret_first: bool
    #: ``{app_code}`` stands for the app code.
    unknown_app: str
    wrong_secret: str
    no_user: str
    #: Where it reads the username, in order (``bk_token`` alone acts as ``admin``).
    usernames: tuple[str, ...]


_GATEWAY = _Door(
    no_code="app code cannot be empty",
    no_secret="please provide bk_app_secret or bk_signature to verify app",
    secret_first=False,
    unknown_app="app not found",
    wrong_secret="bk_app_code or bk_app_secret is incorrect",
    no_user=(
        "user authentication failed, please provide a valid user identity, "
        "such as bk_username, bk_token, access_token"
    ),
    usernames=("bk_username",),
)
_ESB = _Door(
    no_code="APP Code [bk_app_code] cannot be empty",
    no_secret=(
        "Signature [bk_signature] and APP Secret [bk_app_secret] cannot be empty at the same time"
    ),
    secret_first=True,
    unknown_app=(
        "Invalid APP Code [bk_app_code={app_code}], "
        "please confirm if the APP Code has been registered"
    ),
    wrong_secret=(
        "APP Secret verification failed, pelase confirm if the APP Secret and "
        "APP Code [bk_app_code={app_code}] match"
    ),
    no_user=(
        "User authentication failed, please provide a valid user identity, "
        "such as bk_token, bk_username"
    ),
    usernames=("bk_username", "username"),
)


class RateWindow:
    """A fixed window counter like the gateway's ``bk-rate-limit`` (on ``clock``'s seconds)."""

    def __init__(self, rps: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(1, round(rps))
        self.period = self.limit / rps
        self.clock = clock
        self.start, self.used = clock(), 0

    def take(self) -> tuple[bool, int, float]:
        """Count one request; return (allowed, remaining, seconds until the window resets)."""
        now = self.clock()
        if now - self.start >= self.period:
            self.start, self.used = now, 0
        reset = self.start + self.period - now
        if self.used >= self.limit:
            return False, 0, reset
        self.used += 1
        return True, self.limit - self.used, reset


class _Envelopes:
    """bk-job's answers around a result or an error, as each flavor writes them, with fresh
    request ids (``ids``: seeded, so a run's ids repeat)."""

    def __init__(self, ids: random.Random) -> None:
        self._ids = ids

    def _hex(self) -> str:
        return f"{self._ids.getrandbits(128):032x}"

    def job_ok(self, flavor: ApiFlavor, result: object) -> bytes:
        if isinstance(result, Encoded):
            data = result.data
        else:
            data = encode_compact(result) if flavor.is_gateway else encode_esb(result)
        job_id = self._hex().encode()
        if flavor is ApiFlavor.APIGW_V4:  # EsbV4Response: NON_NULL, data then job_request_id
            return b'{"data":%s,"job_request_id":"%s"}' % (data, job_id)
        if flavor is ApiFlavor.APIGW_V3:
            return b'{"code":0,"result":true,"job_request_id":"%s","data":%s}' % (job_id, data)
        esb_id = self._hex().encode()
        return (
            b'{"code": 0, "result": true, "job_request_id": "%s", "data": %s, '
            b'"request_id": "%s", "message": ""}' % (job_id, data, esb_id)
        )

    def job_error(
        self,
        flavor: ApiFlavor,
        code: int,
        message: str,
        permission: Mapping[str, Any] | None = None,
    ) -> bytes:
        if flavor is ApiFlavor.APIGW_V4:  # EsbV4RespError: bk-job's code in its details
            error: dict[str, Any] = {"code": v4_status(code)[1], "message": message}
            if permission is not None:
                error["code"], error["data"] = "NO_PERMISSION", dict(permission)
            else:
                error["details"] = [{"code": str(code), "message": message}]
            return encode_compact({"error": error, "job_request_id": self._hex()})
        envelope: dict[str, Any] = {
            "code": code,
            "result": False,
            "job_request_id": self._hex(),
            "message": message,
        }
        if permission is not None:
            envelope["permission"] = dict(permission)
        if flavor is ApiFlavor.APIGW_V3:
            return encode_compact(envelope)
        envelope["request_id"] = self._hex()
        envelope["data"] = None
        return encode_esb(envelope)

    def esb_error(self, code: int, message: str, *, with_id: bool = True) -> web.Response:
        envelope: dict[str, Any] = {"result": False, "code": code, "data": None, "message": message}
        if with_id:
            envelope["request_id"] = self._hex()
        return web.Response(body=encode_esb(envelope), headers={"Content-Type": _JSON})

    def gateway_error(
        self, status: int, reason: str | None = None, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        code, code_name, message = _GATEWAY_ERRORS.get(
            status, (1650070, "UNKNOWN_ERROR", "unknown error")
        )
        if reason:
            message = f'{message} [reason="{reason}"]'
        body = {
            "code_name": code_name,
            "message": message,
            "result": False,
            "data": None,
            "code": code,
        }
        all_headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Bkapi-Error-Code": str(code),
            "X-Bkapi-Error-Message": message,
            **_gateway_ids(),
            **(headers or {}),
        }
        return web.Response(status=status, body=encode_compact(body), headers=all_headers)


class HttpLayer:
    """Serve the three flavors of the bk-job API over one ``World``: a ``MockTransport``
    handler (``Request`` in, ``Response`` out), in memory or over HTTP with ``serve``."""

    def __init__(
        self, world: World, faults: FaultRules, *, apps: Mapping[str, str] | None, seed: int
    ) -> None:
        self.world, self.faults, self.apps = world, faults, apps
        self.counts: Counter[tuple[str, ApiFlavor]] = Counter()
        self.faults_served: Counter[FaultKind] = Counter()
        self.rate_limited = 0
        self.window: RateWindow | None = None
        #: Add ``Retry-After`` to the gateway's 429 (the real gateway does not, §7.11).
        self.retry_after = False
        self._envelopes = _Envelopes(random.Random(f"ids:{seed}"))
        self._job_ok = self._envelopes.job_ok
        self._job_error = self._envelopes.job_error
        self._esb_error = self._envelopes.esb_error
        self._gateway_error = self._envelopes.gateway_error
        self._identities: dict[str, _Identity | str] = {}

    # -- entry ----------------------------------------------------------------------------------

    async def __call__(self, request: Request) -> Response:
        """Answer ``request`` as bk-job would; a ``reset`` fault raises ``ResetMidBody``."""
        headers = request.headers
        if not isinstance(headers, CIMultiDictProxy):
            headers = CIMultiDictProxy(CIMultiDict(headers))
        incoming = InMemory(
            request.method,
            urlsplit(request.url).path,
            headers,
            MultiDictProxy(MultiDict(request.query or {})),
            request.body or b"",
        )
        answer = await self.handle(incoming)
        assert isinstance(answer, web.Response)
        body = answer.body
        assert isinstance(body, bytes)
        return Response(answer.status, CIMultiDictProxy(CIMultiDict(answer.headers)), body)

    async def handle(self, request: Incoming) -> web.StreamResponse:
        """Route one request to its flavor, or answer the flavor's 404."""
        path = request.path
        match = _GATEWAY_PATH.match(path)
        if match:
            v4 = match[1] == "v4"
            endpoint = (V4_ENDPOINTS if v4 else V3_ENDPOINTS).get(match[2])
            if endpoint is None or endpoint.gateway_method != request.method:
                return self._gateway_error(404)
            flavor = ApiFlavor.APIGW_V4 if v4 else ApiFlavor.APIGW_V3
            return await self._serve(request, flavor, match[2], endpoint)
        match = _ESB_PATH.match(path)
        if match:
            flavor = ApiFlavor.ESB_JOBV3 if match[1] == "jobv3" else ApiFlavor.ESB_V2
            table = V3_ENDPOINTS if flavor is ApiFlavor.ESB_JOBV3 else V2_ENDPOINTS
            endpoint = table.get(match[2])
            usable = endpoint is not None and (flavor is ApiFlavor.ESB_V2 or endpoint.jobv3)
            if endpoint is not None and usable and request.method in ("GET", "POST"):
                return await self._serve(request, flavor, match[2], endpoint)
        if path.startswith("/api/c/"):
            return _esb_not_found()
        return self._gateway_error(404)

    async def _serve(
        self, request: Incoming, flavor: ApiFlavor, api: str, endpoint: Endpoint
    ) -> web.StreamResponse:
        self.counts[(api, flavor)] += 1
        fault = self.faults.take(api, flavor)
        if fault is not None:
            self.faults_served[fault.kind] += 1
            if fault.kind is FaultKind.DELAY:
                await asyncio.sleep(fault.seconds)
            elif fault.kind.replaces_handling:
                return self._fault_response(fault, flavor, api, request)
        try:
            values, readable = await _read_params(request, flavor)
            identity = self._identity(request, flavor, values)
            extra_headers = self._rate_limit(flavor, api, identity)
        except _Refusal as refusal:
            return refusal.response
        english = request.headers.get("Blueking-Language", "").lower().startswith("en")
        call = Call(
            flavor,
            api,
            Params(values, strict=flavor.is_gateway and request.method == "GET"),
            english,
            identity.username,
            identity.app_code,
        )
        status, body = self._backend(endpoint, call, readable, fault)
        return self._send(flavor, body, fault, extra_headers, status)

    def _backend(
        self, endpoint: Endpoint, call: Call, readable: bool, fault: Fault | None
    ) -> tuple[int, bytes]:
        flavor = call.flavor
        try:
            if not readable:
                raise ApiFailure(BAD_REQUEST)
            result = endpoint.handler(self.world, call)
        except ApiFailure as failure:
            text = failure.text(call.english)
            return _error_status(flavor, failure.code), self._job_error(flavor, failure.code, text)
        except Exception:  # like bk-job's catch-all advice: 1240002 at HTTP 200 (v4: 500)
            _log.exception("simulated backend failed on %s", call.api)
            text = message(INTERNAL_ERROR, call.english)
            return _error_status(flavor, INTERNAL_ERROR), self._job_error(
                flavor, INTERNAL_ERROR, text
            )
        if fault is not None and fault.kind is FaultKind.UNKNOWN_STATUS:
            result = _rewrite_statuses(result, fault)
        return 200, self._job_ok(flavor, result)

    def _send(
        self,
        flavor: ApiFlavor,
        body: bytes,
        fault: Fault | None,
        extra_headers: dict[str, str],
        status: int = 200,
    ) -> web.Response:
        headers = {"Content-Type": _JSON, **extra_headers}
        if flavor.is_gateway:
            headers.update(_gateway_ids())
        if fault is not None and fault.kind is FaultKind.TRUNCATED:
            body = body[: len(body) // 2]
        if fault is not None and fault.kind is FaultKind.RESET:
            whole = Response(200, CIMultiDictProxy(CIMultiDict(headers)), body)
            message = f"{flavor.value}: the connection was reset mid-body"
            raise ResetMidBody(message, whole, len(body) // 2)
        return web.Response(status=status, body=body, headers=headers)

    # -- auth and quotas ------------------------------------------------------------------------

    def _identity(
        self, request: Incoming, flavor: ApiFlavor, values: Mapping[str, Any]
    ) -> _Identity:
        raw = request.headers.get("X-Bkapi-Authorization")
        if flavor.is_gateway:
            found = self._identities.get(raw or "")
            if found is None:
                found = self._gateway_identity(raw)
                if len(self._identities) < 4096:
                    self._identities[raw or ""] = found
            if isinstance(found, str):
                raise _Refusal(self._gateway_error(400, found))
            return found
        if raw is not None:
            try:
                auth = json.loads(raw)
            except ValueError:
                auth = None
            if not isinstance(auth, dict):
                raise _Refusal(self._esb_error(1306406, _ESB_BAD_HEADER, with_id=False))
        else:
            keys = ("bk_app_code", "bk_app_secret", "app_code", "app_secret", "bk_token")
            auth = {key: values[key] for key in (*keys, "bk_username", "username") if key in values}
        found = self._esb_identity(auth)
        if isinstance(found, str):
            raise _Refusal(self._esb_error(1306000, found))
        return found

    def _gateway_identity(self, raw: str | None) -> _Identity | str:
        """Check the header like ``bk-auth-verify``/``bk-auth-validate``; a str is the reason."""
        try:
            auth = json.loads(raw) if raw else {}
        except ValueError:
            auth = None
        if not isinstance(auth, dict):
            return "request header X-Bkapi-Authorization is not a valid JSON"
        return self._check_identity(auth, _GATEWAY)

    def _esb_identity(self, auth: Mapping[str, Any]) -> _Identity | str:
        """Check like the ESB's ``AppAuthValidator`` and ``UserAuthValidator``."""
        return self._check_identity(auth, _ESB)

    def _check_identity(self, auth: Mapping[str, Any], door: _Door) -> _Identity | str:
        """Check an authorization in ``door``'s order; a str is the reason, in its words."""
        if auth.get("access_token"):
            return _Identity(str(auth.get("bk_app_code") or "token-app"), "admin")
        app_code, secret = _app_secret(auth)
        missing = [(not app_code, door.no_code), (not secret, door.no_secret)]
        for absent, reason in reversed(missing) if door.secret_first else missing:
            if absent:
                return reason
        if self.apps is not None and app_code not in self.apps:
            return door.unknown_app.format(app_code=app_code)
        if self.apps is not None and self.apps[app_code] != secret:
            return door.wrong_secret.format(app_code=app_code)
        username = next((auth[key] for key in door.usernames if auth.get(key)), None)
        username = username or ("admin" if auth.get("bk_token") else None)
        return _Identity(app_code, str(username)) if username else door.no_user

    def _rate_limit(self, flavor: ApiFlavor, api: str, identity: _Identity) -> dict[str, str]:
        window = self.window
        if window is None:
            return {}
        allowed, remaining, reset = window.take()
        headers = {}
        if flavor.is_gateway:
            headers = {
                "X-Bkapi-RateLimit-Limit": str(window.limit),
                "X-Bkapi-RateLimit-Remaining": str(remaining),
                "X-Bkapi-RateLimit-Reset": str(max(1, math.ceil(reset))),
                "X-Bkapi-RateLimit-Plugin": "bk-resource-rate-limit",
            }
        if allowed:
            return headers
        self.rate_limited += 1
        if flavor.is_gateway:
            if self.retry_after:
                headers["Retry-After"] = str(max(1, math.ceil(reset)))
            raise _Refusal(self._gateway_error(429, headers=headers))
        rule = f"{window.limit}/{window.period:g}second"
        raise _Refusal(
            self._esb_error(1306429, _esb_rate_message(identity.app_code, flavor, api, rule))
        )

    # -- faults ---------------------------------------------------------------------------------

    def _fault_response(
        self, fault: Fault, flavor: ApiFlavor, api: str, request: Incoming
    ) -> web.Response:
        gateway = flavor.is_gateway
        if fault.kind is FaultKind.NOT_JSON:
            return web.Response(
                body=_NOT_JSON_PAGE, headers={"Content-Type": "text/html; charset=utf-8"}
            )
        if fault.kind is FaultKind.BUSINESS_ERROR:
            if not gateway and 1306000 <= fault.code < 1307000:
                return self._esb_error(fault.code, fault.message)
            body = self._job_error(flavor, fault.code, fault.message, fault.permission)
            headers = {"Content-Type": _JSON, **(_gateway_ids() if gateway else {})}
            status = _error_status(flavor, fault.code)
            if fault.permission is not None and flavor is ApiFlavor.APIGW_V4:
                status = 403
            return web.Response(status=status, body=body, headers=headers)
        if fault.kind is FaultKind.RATE_LIMITED:
            self.rate_limited += 1
            if not gateway:
                app = request.headers.get("X-Bkapi-Authorization", "")
                message = _esb_rate_message(_app_of(app), flavor, api, "1/1second")
                return self._esb_error(1306429, message)
            wait = 1.0 if fault.retry_after is None else fault.retry_after
            quota = {
                "X-Bkapi-RateLimit-Limit": "1",
                "X-Bkapi-RateLimit-Remaining": "0",
                "X-Bkapi-RateLimit-Reset": str(max(1, math.ceil(wait))),
                "X-Bkapi-RateLimit-Plugin": "bk-resource-rate-limit",
            }
            if fault.retry_after is not None:
                quota["Retry-After"] = f"{fault.retry_after:g}"
            return self._gateway_error(429, headers=quota)
        return self._http_status(fault, gateway)

    def _http_status(self, fault: Fault, gateway: bool) -> web.Response:
        if fault.body is not None:
            body = fault.body
            if isinstance(body, Mapping):
                return web.Response(
                    status=fault.status, body=encode_compact(body), headers={"Content-Type": _JSON}
                )
            raw = body.encode() if isinstance(body, str) else body
            return web.Response(
                status=fault.status, body=raw, headers={"Content-Type": "text/plain"}
            )
        if gateway:
            return self._gateway_error(fault.status)
        if fault.status == 500:
            page = {
                "result": False,
                "data": None,
                "message": "Request is abnormal, please contact the component developer",
            }
            return web.Response(status=500, body=encode_esb(page), headers={"Content-Type": _JSON})
        if fault.status == 404:
            return _esb_not_found()
        return web.Response(
            status=fault.status,
            body=_nginx_page(fault.status),
            headers={"Content-Type": "text/html"},
        )


async def _read_params(request: Incoming, flavor: ApiFlavor) -> tuple[dict[str, Any], bool]:
    """Return the request parameters, and whether the Job backend could parse them."""
    if request.method == "GET":
        values: dict[str, Any] = {}
        for key, value in request.query.items():
            values.setdefault(key, value)
        return values, True
    raw = await request.read()
    if not raw.strip():
        return {}, not flavor.is_gateway
    if not flavor.is_gateway and request.content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode(errors="replace"))), True
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}, False
    return (parsed, True) if isinstance(parsed, dict) else ({}, False)


def _error_status(flavor: ApiFlavor, code: int) -> int:
    """The HTTP status of a Job backend refusal: 200 but on the gateway v4."""
    return v4_status(code)[0] if flavor is ApiFlavor.APIGW_V4 else 200


def _gateway_ids() -> dict[str, str]:
    request_id = uuid.uuid4()
    return {"X-Bkapi-Request-Id": str(request_id), "X-Request-Id": request_id.hex}


def _esb_not_found() -> web.Response:
    body = {"result": False, "data": None, "message": "The content does not exist"}
    return web.Response(status=404, body=encode_esb(body), headers={"Content-Type": _JSON})


def _nginx_page(status: int) -> bytes:
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
    title = f"{status} {reason.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def _esb_rate_message(app_code: str, flavor: ApiFlavor, api: str, rule: str) -> str:
    system = "jobv3" if flavor is ApiFlavor.ESB_JOBV3 else "job"
    return (
        f"Access frequency limit, Access frequency of APP [{app_code}] to component "
        f"[/v2/{system}/{api}/] exceeds the limit; the frequency limit is [{rule}], "
        "please try again later"
    )


def _app_secret(auth: Mapping[str, Any]) -> tuple[str, str]:
    """Return the app code and secret of an authorization, each under either spelling."""
    app_code = str(auth.get("bk_app_code") or auth.get("app_code") or "")
    return app_code, str(auth.get("bk_app_secret") or auth.get("app_secret") or "")


def _app_of(raw: str) -> str:
    try:
        auth = json.loads(raw) if raw else {}
    except ValueError:
        return ""
    return str(auth.get("bk_app_code", "")) if isinstance(auth, dict) else ""


def _rewrite_statuses(result: object, fault: Fault) -> object:
    data = json.loads(result.data) if isinstance(result, Encoded) else result
    _rewrite(data, fault)
    return data


def _rewrite(node: Any, fault: Fault) -> None:
    """Replace status codes in a job or step status ``data`` (v2 or v3 shape), in place."""
    if isinstance(node, list):
        for item in node:
            _rewrite(item, fault)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "job_instance" and fault.job is not None and isinstance(value, dict):
            value["status"] = fault.job
        elif key in ("step_instance_list", "step_instances") and isinstance(value, list):
            for step in value:
                if fault.step is not None:
                    step["status"] = fault.step
                _rewrite_hosts(step, fault.host)
        elif key == "step_instance_detail" and fault.step is not None and isinstance(value, dict):
            value["status"] = fault.step
        elif key == "blocks":
            _rewrite(value, fault)
    if "step_result_group_list" in node or "step_instance_analyse_result" in node:
        if fault.step is not None and "step_instance_id" in node:
            node["status"] = fault.step
        _rewrite_hosts(node, fault.host)


def _rewrite_hosts(step: dict[str, Any], host: int | None) -> None:
    if host is None:
        return
    for key in ("step_ip_result_list", "step_ip_status", "step_execute_object_result_list"):
        for row in step.get(key) or ():
            row["status"] = host
    for group in step.get("step_result_group_list") or ():
        group["result_type"] = host
        for row in group.get("host_result_list") or ():
            row["status"] = host
    for group in step.get("step_instance_analyse_result") or ():
        group["result_type"] = host
