"""The sans-I/O bk-job protocol: build a request for a flavor, decipher a response; no I/O here.

Takes and returns plain values (``Request``, ``Response``, JSON data, models). Each builder
checks the caller's input (with ``_params``) before a request exists, so bad input fails
before anything is sent; ``decipher`` turns every answer into data or a typed error.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import math
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict, TypeVar

import attrs

from . import _json, errors
from ._converter import Generation, structure
from ._params import (
    MAX_LOG_HOSTS,
    MAX_PAGE_LENGTH,
    HostRef,
    b64,
    b64_bytes,
    check_batch,
    check_count,
    check_length,
    check_operation,
    check_script,
    check_targets,
    check_text,
    check_timeout,
    history_window,
    host_ref,
    host_refs,
    known_code,
    optional_count,
    optional_id,
    rolling,
    step_ids,
    v2_account,
    v2_file_source,
    v2_global_var,
    v2_ip_list,
    v2_only_scalars,
    v2_targets,
    v3_account,
    v3_file_source,
    v3_global_var,
    v3_server,
)
from ._secrets import Redactor
from .config import DEFAULT_SERVER_TZ, ApiFlavor, Credentials, Scope, check_id
from .models import (
    AccountCategory,
    AccountPage,
    ExecutionAccount,
    HostStatus,
    JobOperation,
    JobPlan,
    JobPlanPage,
    JobStatus,
    LaunchMode,
    ScriptLanguage,
    StepOperation,
    TaskType,
)
from .models.requests import (
    Account,
    ConfigFile,
    FileSource,
    GlobalVar,
    RollingConfig,
    Targets,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "MAX_LOG_HOSTS",
    "HistoryFilters",
    "HostRef",
    "PlanFilters",
    "Protocol",
    "Query",
    "Request",
    "Response",
    "body_fingerprint",
    "parse_retry_after",
]

T = TypeVar("T")


def _hidden(_: object) -> str:
    return "<hidden>"


def _size(body: bytes | None) -> str:
    return "None" if body is None else f"<{len(body)} bytes>"


@attrs.frozen
class Request:
    """One HTTP request, ready to send. ``headers`` carry credentials and never show in ``repr``."""

    api: str
    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=_hidden)
    query: Mapping[str, str] | None = None
    #: Shown by size only: a launch's body carries scripts, config files and passwords.
    body: bytes | None = attrs.field(default=None, repr=_size)
    #: Safe to send twice: reads are; operations and launches are not.
    idempotent: bool = True
    #: A total deadline in seconds for this request (a poll's ``poll_timeout``); the client's
    #: ``Timeouts`` (connect, read, total) still apply, and the smallest bound wins.
    timeout: float | None = None
    #: Left to the transport: what it derived from this request once, to send it again as is
    #: (the aiohttp transport keeps the URLs of its latest requests here with the query
    #: encoded: about 24,000 instructions a send otherwise). Set by ``remember`` (``None``
    #: forgets it); never compared or shown.
    prepared: object = attrs.field(default=None, init=False, eq=False, repr=False)
    #: Values this request carries that are secrets (password variables): masked in its errors.
    secrets: tuple[str, ...] = attrs.field(default=(), eq=False, repr=False)

    def remember(self, prepared: object) -> None:
        """Keep what a transport derived from this request (``prepared``) for its next send."""
        object.__setattr__(self, "prepared", prepared)  # (a memo: the request stays the same)


class Query(Mapping[str, str]):
    """A request's query kept small: pairs many requests share, then the request's own one.

    A poll request lives as long as its job is watched. Its scope's parameters and flags are
    one dict shared by every job of the scope, and the job's id is the request's only own
    value, kept as given and spelled when read: 50,000 watched jobs hold no dict each.
    ``common`` is the shared part, ``(pairs, name of the own value, the pairs encoded)``
    (``Query.common``).
    """

    __slots__ = ("_common", "_value")

    def __init__(self, common: tuple[Mapping[str, str], str, str], value: int | str) -> None:
        self._common = common
        self._value = value

    @staticmethod
    def common(pairs: Mapping[str, str], name: str) -> tuple[Mapping[str, str], str, str]:
        """Return the shared part of the queries made of ``pairs`` and an own ``name``."""
        return pairs, name, urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)

    def text(self) -> str:
        """Return the query encoded for a URL: the shared pairs (encoded once), then its own."""
        _, name, encoded = self._common
        value = self._value
        own = str(value) if type(value) is int else urllib.parse.quote(str(value), safe="")
        return f"{encoded}&{name}={own}" if encoded else f"{name}={own}"

    def __getitem__(self, key: str) -> str:
        pairs, name, _ = self._common
        if key == name:
            return _query_value(self._value)
        return pairs[key]

    def __iter__(self) -> Iterator[str]:
        pairs, name, _ = self._common
        yield from pairs
        yield name

    def __len__(self) -> int:
        return len(self._common[0]) + 1

    def __repr__(self) -> str:
        return repr(dict(self))


class HistoryFilters(TypedDict, total=False):
    """The optional filters of the history list (``job_instance_list``), for the callers that
    pass them on (``BkJobClient.iter_job_instances``); every one is ``None`` by default."""

    job_instance_id: int | None
    job_cron_id: int | None
    operator: str | None
    name: str | None
    launch_mode: LaunchMode | int | None
    type: TaskType | int | None
    status: JobStatus | int | None
    ip: str | None


class PlanFilters(TypedDict, total=False):
    """The optional filters of the plan list (``job_plan_list``), for the callers that pass
    them on (``BkJobClient.iter_job_plans``); every one is ``None`` by default."""

    name: str | None
    creator: str | None
    last_modify_user: str | None
    job_template_id: int | None


class Response(NamedTuple):
    """One HTTP response as bytes: whatever the transport, this is what the protocol reads.

    A named tuple, not an attrs class: one is made per request, and a tuple is built in C.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        # Headers and body may echo what was sent, secrets included.
        return f"Response(status={self.status}, headers=<{len(self.headers)}>, body=<{len(self.body)} bytes>)"


@attrs.frozen
class _Endpoint:
    """Per-flavor name (``None``: that flavor lacks it), the gateway's method, and whether
    sending it twice is safe (reads are, whatever their method)."""

    apigw: str | None
    jobv3: str | None
    v2: str | None
    apigw_method: str = "GET"
    idempotent: bool = attrs.field(
        default=attrs.Factory(lambda self: self.apigw_method == "GET", takes_self=True)
    )

    def name(self, flavor: ApiFlavor) -> str | None:
        if flavor is ApiFlavor.APIGW_V3:
            return self.apigw
        return self.jobv3 if flavor is ApiFlavor.ESB_JOBV3 else self.v2


def _same(name: str, method: str = "GET") -> _Endpoint:
    return _Endpoint(name, name, name, method)


# Spec §1.1: names and methods per generation.
_ENDPOINTS: dict[str, _Endpoint] = {
    "get_job_instance_status": _same("get_job_instance_status"),
    "get_step_instance_status": _Endpoint(
        "get_step_instance_status", None, "get_step_instance_status"
    ),
    "operate_step_instance": _same("operate_step_instance", "POST"),
    "operate_job_instance": _same("operate_job_instance", "POST"),
    "fast_execute_script": _same("fast_execute_script", "POST"),
    "fast_transfer_file": _Endpoint(
        "fast_transfer_file", "fast_transfer_file", "fast_push_file", "POST"
    ),
    "execute_job_plan": _Endpoint("execute_job_plan", "execute_job_plan", "execute_job", "POST"),
    # v3 only; v2's get_job_instance_log (the whole job at once) is another API.
    "get_job_instance_ip_log": _Endpoint(
        "get_job_instance_ip_log", "get_job_instance_ip_log", None
    ),
    "batch_get_job_instance_ip_log": _Endpoint(
        "batch_get_job_instance_ip_log", "batch_get_job_instance_ip_log", None, "POST", True
    ),
    "get_job_instance_list": _Endpoint("get_job_instance_list", "get_job_instance_list", None),
    # Read from bk-job's resources (EsbPushConfigFile{,V3}Resource, EsbPlanV3Resource,
    # EsbScriptV3Resource, EsbPublicScriptV3Resource, EsbAccountV3Resource,
    # EsbGetJobInstanceGlobalVarValue{,V3}Resource, EsbGetJobInstanceLogResource; v2's
    # EsbGetJobListResource, EsbGetJobDetailResource, EsbGetOSAccountResource) and the
    # gateway's resources.yaml (methods); see docs/reference/endpoints.md.
    "push_config_file": _same("push_config_file", "POST"),
    "get_job_instance_global_var_value": _same("get_job_instance_global_var_value"),
    "get_job_instance_log": _Endpoint(None, None, "get_job_instance_log"),
    "get_job_plan_list": _Endpoint("get_job_plan_list", "get_job_plan_list", "get_job_list"),
    "get_job_plan_detail": _Endpoint(
        "get_job_plan_detail", "get_job_plan_detail", "get_job_detail"
    ),
    "get_account_list": _Endpoint("get_account_list", "get_account_list", "get_os_account"),
    "get_script_list": _Endpoint("get_script_list", "get_script_list", None),
    "get_public_script_list": _Endpoint("get_public_script_list", "get_public_script_list", None),
    "get_script_version_detail": _Endpoint(
        "get_script_version_detail", "get_script_version_detail", None
    ),
    "get_public_script_version_detail": _Endpoint(
        "get_public_script_version_detail", "get_public_script_version_detail", None
    ),
}

# Error codes by class (spec §5.2-5.4). HTTP status decides when the code is unknown.
_CODE_CLASSES: dict[int, type[errors.ApiError]] = {
    **dict.fromkeys(
        (9900403, 1238001, 1306402, 1306403, 1244016, 1640301, 1640302),
        errors.PermissionDeniedError,
    ),
    **dict.fromkeys((1640001, 1640100, 1640101, 1640102, 1306401), errors.AuthenticationError),
    **dict.fromkeys(
        # + script, plan, script version and account not found (ErrorCode.java)
        (1244006, 1244007, 1244012, 1243051, 1306404, 1640401, 1243001, 1243009, 1243047, 1244003),
        errors.NotFoundError,
    ),
    **dict.fromkeys(
        (1240003, 1241001, 1241002, 1241004, 1241005, 1241007, 1306406, 1306209, 1244020),
        errors.InvalidRequestError,
    ),
    **dict.fromkeys((1244036, 1244021, 1244022), errors.InvalidRequestError),
    **dict.fromkeys((1241003, 1241015, 1244015, 1244025), errors.OperationNotAllowedError),
    **dict.fromkeys(
        (1306429, 1642901, 1642902, 1642903, 1642904, 1244032, 1244033, 1244034),
        errors.RateLimitedError,
    ),
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
    413: errors.InvalidRequestError,
    414: errors.InvalidRequestError,
    429: errors.RateLimitedError,
}

# Per-request ids that change on every response even when the data does not.
# A literal quote inside a JSON string is escaped, so this only matches a key.
_VOLATILE_KEY = b'request_id"'
# The value after a key found with bytes.find: matched in place, never searched for.
_VOLATILE_VALUE = re.compile(rb'request_id"\s*:\s*(?:"[^"]*"|null)')


_BITS = (1 << 60) - 1  # (``body_fingerprint``)


def body_fingerprint(body: bytes, known: tuple[int, ...] = ()) -> tuple[int, tuple[int, ...]]:
    """Return a hash of ``body`` without the values of ``job_request_id``/``request_id``.

    Those ids change on every response, the rest only when the answer does: equal hashes mean
    the same answer. The hash keeps 60 bits, so the int a watched job keeps of it takes 32
    bytes, not 48. Returned with the offsets of the ids cut out: pass them as ``known`` with
    the next body of the same job, and when the ids are still there (as in an unchanged answer)
    the body is not searched at all. An id elsewhere is then left in and makes the body look
    changed, as does an id cut short (an escaped quote in it): a cut too few only makes a body
    look changed, never the reverse. Runs on every poll, so it only uses ``bytes.find`` and a
    regex *match* at the places found (a regex *search* would try every quote of the body).
    """
    kept = []
    start = 0
    for found in known:
        value = _VOLATILE_VALUE.match(body, found)
        if value is None or found < start:
            break
        kept.append(body[start:found])
        start = value.end()
    else:
        if known:
            kept.append(body[start:])
            return hash(b"".join(kept)) & _BITS, known
    found = body.find(_VOLATILE_KEY)
    if found < 0:
        return hash(body) & _BITS, ()
    kept.clear()
    start = 0
    cuts = []
    while found >= 0:
        value = _VOLATILE_VALUE.match(body, found)
        if value is None:
            break
        cuts.append(found)
        kept.append(body[start:found])
        start = value.end()
        found = body.find(_VOLATILE_KEY, start)
    kept.append(body[start:])
    return hash(b"".join(kept)) & _BITS, _shared_cuts(tuple(cuts))


#: Places of request ids seen, each tuple kept once (``_shared_cuts``).
_CUTS: dict[tuple[int, ...], tuple[int, ...]] = {}
_MAX_CUTS = 4096


def _shared_cuts(cuts: tuple[int, ...]) -> tuple[int, ...]:
    """Return the one kept tuple equal to ``cuts``: every watched job remembers the places of
    its last answer's ids, and on the gateway those places are the same in every answer
    (``job_request_id`` comes before ``data``), so all jobs hold one tuple, not one each."""
    shared = _CUTS.get(cuts)
    if shared is None:
        if len(_CUTS) >= _MAX_CUTS:
            _CUTS.clear()
        shared = _CUTS[cuts] = cuts
    return shared


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


class Protocol:
    """Build requests and read responses for one server, flavor and identity; pure and reusable."""

    def __init__(
        self,
        base_url: str,
        *,
        flavor: ApiFlavor | str,
        credentials: Credentials,
        server_tz: _dt.tzinfo = DEFAULT_SERVER_TZ,
        tenant_id: str | None = None,
        language: str | None = None,
    ) -> None:
        self.flavor = ApiFlavor.coerce(flavor)
        self.generation = Generation.V3 if self.flavor.is_v3 else Generation.V2
        if not isinstance(server_tz, _dt.tzinfo):
            raise TypeError(
                "server_tz must be a datetime.tzinfo such as zoneinfo.ZoneInfo('Asia/Shanghai'), "
                f"not {type(server_tz).__name__}"
            )
        self.server_tz = server_tz
        self._base = _check_base_url(base_url).rstrip("/")
        #: Masks this identity's secrets (see ``bkjob_async._secrets``).
        self.redactor = Redactor(
            s for s in (credentials.app_secret, credentials.bk_token, credentials.access_token) if s
        )
        headers = {
            "X-Bkapi-Authorization": json.dumps(credentials.header_value(), separators=(",", ":")),
            "Accept": "application/json",
        }
        if tenant_id is not None:
            headers["X-Bk-Tenant-Id"] = _header_text(tenant_id, "tenant_id")
        if language is not None:
            # bk-job localises messages by this header: "en", "zh-cn" (its default) or "all".
            headers["Blueking-Language"] = _header_text(language, "language")
        self._headers = headers
        self._post_headers = {**headers, "Content-Type": "application/json"}
        self._urls: dict[str, str] = {}
        #: The shared part of each scope's poll query (``job_instance_status``, ``Query``).
        self._shared_queries: dict[tuple[Scope, bool], tuple[Mapping[str, str], str, str]] = {}

    def __repr__(self) -> str:
        return f"Protocol({self._base!r}, flavor={self.flavor.value!r})"

    # --- building -------------------------------------------------------------------------

    def url(self, api: str) -> str:
        """Return the URL of ``api`` (a name this flavor knows) for this flavor.

        One string per API, shared by every request to it.
        """
        url = self._urls.get(api)
        if url is None:
            if self.flavor is ApiFlavor.APIGW_V3:
                url = f"{self._base}/api/v3/{api}"
            else:
                group = "jobv3" if self.flavor is ApiFlavor.ESB_JOBV3 else "job"
                url = f"{self._base}/api/c/compapi/v2/{group}/{api}/"
            self._urls[api] = url
        return url

    def request(self, api: str, params: Mapping[str, Any]) -> Request:
        """Build the request for endpoint ``api`` with ``params`` as this flavor sends them."""
        endpoint = self._endpoint(api)
        url = self.url(endpoint.name(self.flavor) or api)
        if self.flavor is ApiFlavor.APIGW_V3 and endpoint.apigw_method == "GET":
            query = {k: _query_value(v) for k, v in params.items() if v is not None}
            return Request(api, "GET", url, self._headers, query=query)
        body = json.dumps({k: v for k, v in params.items() if v is not None}).encode()
        return Request(
            api, "POST", url, self._post_headers, body=body, idempotent=endpoint.idempotent
        )

    def _endpoint(self, api: str) -> _Endpoint:
        """Return the endpoint ``api``; raise if this flavor lacks it."""
        endpoint = _ENDPOINTS.get(api)
        if endpoint is None:
            raise ValueError(f"unknown bk-job API {api!r}; expected one of {', '.join(_ENDPOINTS)}")
        if endpoint.name(self.flavor) is None:
            others = " or ".join(repr(f.value) for f in ApiFlavor if endpoint.name(f) is not None)
            raise errors.UnsupportedOperationError(
                f"{api} does not exist on the {self.flavor.value!r} API; use flavor {others}"
            )
        return endpoint

    def _scoped(self, scope: Scope, **params: Any) -> dict[str, Any]:
        if not isinstance(scope, Scope):
            raise TypeError(f"scope must be a Scope (Scope.biz(id)), not {type(scope).__name__}")
        return {**scope.params(self.flavor), **params}

    def job_instance_status(
        self, scope: Scope, job_instance_id: int, *, with_hosts: bool = True
    ) -> Request:
        """Build ``get_job_instance_status``.

        On the gateway (a GET) the query is a ``Query``: the scope's parameters and
        ``return_ip_result`` shared by every request of the scope, the job's id its own.
        """
        job_id = check_id(job_instance_id, "job_instance_id")
        if self.flavor is not ApiFlavor.APIGW_V3:
            params = self._scoped(scope, job_instance_id=job_id)
            if self.flavor.is_v3:
                params["return_ip_result"] = bool(with_hosts)
            return self.request("get_job_instance_status", params)
        common = self._shared_queries.get((scope, bool(with_hosts)))
        if common is None:
            params = self._scoped(scope, return_ip_result=bool(with_hosts))
            common = Query.common(
                {k: _query_value(v) for k, v in params.items()}, "job_instance_id"
            )
            self._shared_queries[(scope, bool(with_hosts))] = common
        return Request(
            "get_job_instance_status",
            "GET",
            self.url("get_job_instance_status"),
            self._headers,
            query=Query(common, job_id),
        )

    def step_instance_status(
        self,
        scope: Scope,
        job_instance_id: int,
        step_instance_id: int,
        *,
        execute_count: int | None = None,
        batch: int | None = None,
        max_host_num_per_group: int | None = None,
        status: HostStatus | int | None = None,
        tag: str | None = None,
    ) -> Request:
        """Build ``get_step_instance_status`` (ids at the top level: 3.x ignores v2's ``params``)."""
        params = self._scoped(
            scope,
            job_instance_id=check_id(job_instance_id, "job_instance_id"),
            step_instance_id=check_id(step_instance_id, "step_instance_id"),
        )
        filters = {
            "execute_count": None
            if execute_count is None
            else check_count(execute_count, "execute_count"),
            # §7.6: an omitted batch is the latest one only; 0 asks for every batch.
            "batch": (0 if self.flavor.is_v3 else None) if batch is None else check_batch(batch),
            "max_host_num_per_group": None
            if max_host_num_per_group is None
            else check_count(max_host_num_per_group, "max_host_num_per_group", 1),
            "status": None if status is None else int(check_count(status, "status")),
            "tag": None if tag is None else check_text(tag, "tag"),
        }
        given = {k: v for k, v in filters.items() if v is not None}
        if given and not self.flavor.is_v3:
            raise ValueError(f"the ESB v2 step status API has no filters: {', '.join(given)}")
        return self.request("get_step_instance_status", {**params, **given})

    def operate_step(
        self,
        scope: Scope,
        job_instance_id: int,
        step_instance_id: int,
        operation: StepOperation | int,
    ) -> Request:
        """Build ``operate_step_instance``."""
        return self.request(
            "operate_step_instance",
            self._scoped(
                scope,
                job_instance_id=check_id(job_instance_id, "job_instance_id"),
                step_instance_id=check_id(step_instance_id, "step_instance_id"),
                operation_code=int(check_operation(operation, StepOperation)),
            ),
        )

    def operate_job(
        self, scope: Scope, job_instance_id: int, operation: JobOperation | int
    ) -> Request:
        """Build ``operate_job_instance``."""
        return self.request(
            "operate_job_instance",
            self._scoped(
                scope,
                job_instance_id=check_id(job_instance_id, "job_instance_id"),
                operation_code=int(check_operation(operation, JobOperation)),
            ),
        )

    def fast_execute_script(
        self,
        scope: Scope,
        *,
        targets: Targets,
        account: Account,
        script_content: str | None = None,
        script_id: str | None = None,
        script_version_id: int | None = None,
        script_language: ScriptLanguage | int = ScriptLanguage.SHELL,
        script_param: str | None = None,
        is_param_sensitive: bool = False,
        script_timeout: int | None = None,
        task_name: str | None = None,
        callback_url: str | None = None,
        rolling_config: RollingConfig | None = None,
        start_task: bool = True,
    ) -> Request:
        """Build ``fast_execute_script``; script text and parameters are base64-encoded here."""
        sources = [s for s in (script_content, script_id, script_version_id) if s is not None]
        if len(sources) != 1:
            raise ValueError("pass exactly one of script_content, script_id or script_version_id")
        if script_content is not None and not isinstance(script_content, str):
            raise TypeError("script_content must be a str (the client base64-encodes it)")
        if script_id is not None:
            check_text(script_id, "script_id")
        if script_version_id is not None:
            check_id(script_version_id, "script_version_id")
        language = ScriptLanguage(script_language)
        common = {
            "task_name": task_name,
            "script_content": None if script_content is None else b64(check_script(script_content)),
            "script_param": None
            if script_param is None
            else b64(check_text(script_param, "script_param")),
            "is_param_sensitive": 1 if is_param_sensitive else 0,
        }
        timeout = check_timeout(script_timeout)
        if not self.flavor.is_v3:
            v2_only_scalars(
                script_id=script_id, rolling_config=rolling_config, start_task=not start_task
            )
            return _sensitive(
                script_param if is_param_sensitive else None,
                self.request(
                    "fast_execute_script",
                    self._scoped(
                        scope,
                        **common,
                        **v2_targets(check_targets(targets)),
                        script_id=script_version_id,
                        script_type=int(language),
                        script_timeout=timeout,
                        account=v2_account(account),
                        bk_callback_url=callback_url,
                    ),
                ),
            )
        return _sensitive(
            script_param if is_param_sensitive else None,
            self.request(
                "fast_execute_script",
                self._scoped(
                    scope,
                    **common,
                    **v3_account(account),
                    script_id=script_id,
                    script_version_id=script_version_id,
                    script_language=int(language),
                    timeout=timeout,
                    target_server=v3_server(check_targets(targets)),
                    callback_url=callback_url,
                    rolling_config=rolling(rolling_config),
                    start_task=bool(start_task),
                ),
            ),
        )

    def fast_transfer_file(
        self,
        scope: Scope,
        *,
        targets: Targets,
        account: Account,
        file_target_path: str,
        file_sources: list[FileSource] | tuple[FileSource, ...],
        file_target_name: str | None = None,
        task_name: str | None = None,
        transfer_timeout: int | None = None,
        transfer_mode: int | None = None,
        download_speed_limit: int | None = None,
        upload_speed_limit: int | None = None,
        callback_url: str | None = None,
        rolling_config: RollingConfig | None = None,
        start_task: bool = True,
    ) -> Request:
        """Build ``fast_transfer_file`` (v2: ``fast_push_file``)."""
        check_text(file_target_path, "file_target_path")
        sources = tuple(file_sources)
        if not sources or not all(isinstance(s, FileSource) for s in sources):
            raise TypeError("file_sources must be a non-empty sequence of FileSource")
        if transfer_mode not in (None, 1, 2):
            raise ValueError("transfer_mode must be 1 (strict) or 2 (force)")
        common = {
            "task_name": task_name,
            "file_target_path": file_target_path,
            "timeout": check_timeout(transfer_timeout),
            "download_speed_limit": optional_count(download_speed_limit, "download_speed_limit"),
            "upload_speed_limit": optional_count(upload_speed_limit, "upload_speed_limit"),
        }
        if not self.flavor.is_v3:
            v2_only_scalars(
                file_target_name=file_target_name,
                transfer_mode=transfer_mode,
                rolling_config=rolling_config,
                start_task=not start_task,
            )
            return self.request(
                "fast_transfer_file",
                self._scoped(
                    scope,
                    **common,
                    **v2_targets(check_targets(targets)),
                    file_source=[v2_file_source(s) for s in sources],
                    account=v2_account(account),
                    bk_callback_url=callback_url,
                ),
            )
        return self.request(
            "fast_transfer_file",
            self._scoped(
                scope,
                **common,
                **v3_account(account),
                file_source_list=[v3_file_source(s) for s in sources],
                file_target_name=file_target_name,
                target_server=v3_server(check_targets(targets)),
                transfer_mode=transfer_mode,
                callback_url=callback_url,
                rolling_config=rolling(rolling_config),
                start_task=bool(start_task),
            ),
        )

    def execute_job_plan(
        self,
        scope: Scope,
        job_plan_id: int,
        *,
        global_vars: list[GlobalVar] | tuple[GlobalVar, ...] = (),
        callback_url: str | None = None,
        start_task: bool = True,
    ) -> Request:
        """Build ``execute_job_plan`` (v2: ``execute_job`` with ``bk_job_id``)."""
        plan = check_id(job_plan_id, "job_plan_id")
        variables = tuple(global_vars)
        if not all(isinstance(v, GlobalVar) for v in variables):
            raise TypeError("global_vars must be GlobalVar values")
        if not self.flavor.is_v3:
            v2_only_scalars(start_task=not start_task)
            request = self.request(
                "execute_job_plan",
                self._scoped(
                    scope,
                    bk_job_id=plan,
                    global_vars=[v2_global_var(v) for v in variables] or None,
                    bk_callback_url=callback_url,
                ),
            )
        else:
            request = self.request(
                "execute_job_plan",
                self._scoped(
                    scope,
                    job_plan_id=plan,
                    global_var_list=[v3_global_var(v) for v in variables] or None,
                    callback_url=callback_url,
                    start_task=bool(start_task),
                ),
            )
        secrets = tuple(v.value for v in variables if v.secret and v.value)
        return attrs.evolve(request, secrets=secrets) if secrets else request

    def ip_log(
        self, scope: Scope, job_instance_id: int, step_instance_id: int, host: HostRef
    ) -> Request:
        """Build ``get_job_instance_ip_log`` for one host of a step's current round."""
        return self.request(
            "get_job_instance_ip_log",
            self._scoped(scope, **step_ids(job_instance_id, step_instance_id), **host_ref(host)),
        )

    def batch_ip_log(
        self, scope: Scope, job_instance_id: int, step_instance_id: int, hosts: Sequence[HostRef]
    ) -> Request:
        """Build ``batch_get_job_instance_ip_log`` for 1 to 500 hosts.

        Host ids travel in ``host_id_list`` and ``(cloud, ip)`` pairs in ``ip_list``. bk-job
        reads only ``host_id_list`` when both are given, so a mix travels in ``ip_list``, whose
        rows may name a ``bk_host_id`` (``ExecuteObjectCompositeKeyUtils.fromEsbHostParams``).
        """
        refs = [host_ref(host) for host in host_refs(hosts)]
        if not refs or len(refs) > MAX_LOG_HOSTS:
            raise ValueError(f"give 1 to {MAX_LOG_HOSTS} hosts per request, not {len(refs)}")
        if all("bk_host_id" in ref for ref in refs):
            lists: dict[str, Any] = {"host_id_list": [ref["bk_host_id"] for ref in refs]}
        else:
            lists = {"ip_list": refs}
        return self.request(
            "batch_get_job_instance_ip_log",
            self._scoped(scope, **step_ids(job_instance_id, step_instance_id), **lists),
        )

    def batch_ip_logs(
        self, scope: Scope, job_instance_id: int, step_instance_id: int, hosts: Sequence[HostRef]
    ) -> tuple[Request, ...]:
        """Build one ``batch_ip_log`` per 500 hosts, in order; none for no hosts."""
        refs = host_refs(hosts)
        self._scoped(scope, **step_ids(job_instance_id, step_instance_id))
        self._endpoint("batch_get_job_instance_ip_log")
        return tuple(
            self.batch_ip_log(scope, job_instance_id, step_instance_id, refs[i : i + MAX_LOG_HOSTS])
            for i in range(0, len(refs), MAX_LOG_HOSTS)
        )

    def job_instance_list(
        self,
        scope: Scope,
        *,
        created_from: _dt.datetime,
        created_to: _dt.datetime,
        job_instance_id: int | None = None,
        job_cron_id: int | None = None,
        operator: str | None = None,
        name: str | None = None,
        launch_mode: LaunchMode | int | None = None,
        type: TaskType | int | None = None,
        status: JobStatus | int | None = None,
        ip: str | None = None,
        start: int = 0,
        length: int = 20,
    ) -> Request:
        """Build ``get_job_instance_list`` for jobs created in an aware window of up to 30 days."""
        begin, end = history_window(created_from, created_to)
        filters = {
            "job_instance_id": optional_id(job_instance_id, "job_instance_id"),
            "job_cron_id": optional_id(job_cron_id, "job_cron_id"),
            "operator": None if operator is None else check_text(operator, "operator"),
            "name": None if name is None else check_text(name, "name"),
            "launch_mode": known_code(launch_mode, LaunchMode, "launch_mode"),
            "type": known_code(type, TaskType, "type"),
            "status": known_code(status, JobStatus, "status"),
            "ip": None if ip is None else check_text(ip, "ip"),
            "start": check_count(start, "start"),
            "length": check_length(length, 1000),
        }
        return self.request(
            "get_job_instance_list",
            self._scoped(scope, create_time_start=begin, create_time_end=end, **filters),
        )

    # --- config files, variable values, plans, scripts, accounts ---------------------------

    def push_config_file(
        self,
        scope: Scope,
        *,
        targets: Targets,
        account: Account,
        file_target_path: str,
        files: Sequence[ConfigFile],
        task_name: str | None = None,
        callback_url: str | None = None,
    ) -> Request:
        """Build ``push_config_file``: write ``files`` into ``file_target_path`` on ``targets``.

        Contents travel base64-encoded. v3 reads ``target_server`` and the account by id or
        alias; v2 reads the top-level ``ip_list`` alone (``EsbPushConfigFileResourceImpl``), an
        account alias, and no ``callback_url``.
        """
        check_text(file_target_path, "file_target_path")
        configs = tuple(files)
        if not configs or not all(isinstance(f, ConfigFile) for f in configs):
            raise TypeError("files must be a non-empty sequence of ConfigFile")
        names = [f.name for f in configs]
        if len(set(names)) != len(names):
            raise ValueError(
                "two config files have the same name: the second would overwrite the first"
            )
        file_list = [{"file_name": f.name, "content": b64_bytes(f.data)} for f in configs]
        check_targets(targets)
        if not self.flavor.is_v3:
            v2_only_scalars(callback_url=callback_url)
            params = self._scoped(
                scope,
                task_name=task_name,
                file_target_path=file_target_path,
                account=v2_account(account),
                ip_list=v2_ip_list(targets),
                file_list=file_list,
            )
        else:
            params = self._scoped(
                scope,
                task_name=task_name,
                file_target_path=file_target_path,
                **v3_account(account),
                target_server=v3_server(targets),
                file_list=file_list,
                callback_url=callback_url,
            )
        return self.request("push_config_file", params)

    def global_var_values(self, scope: Scope, job_instance_id: int) -> Request:
        """Build ``get_job_instance_global_var_value``: a job's string variables per step."""
        job_id = check_id(job_instance_id, "job_instance_id")
        return self.request(
            "get_job_instance_global_var_value", self._scoped(scope, job_instance_id=job_id)
        )

    def job_instance_log(self, scope: Scope, job_instance_id: int) -> Request:
        """Build v2's ``get_job_instance_log``: every step of a job with each host's log."""
        job_id = check_id(job_instance_id, "job_instance_id")
        return self.request("get_job_instance_log", self._scoped(scope, job_instance_id=job_id))

    def job_plan_list(
        self,
        scope: Scope,
        *,
        name: str | None = None,
        creator: str | None = None,
        last_modify_user: str | None = None,
        job_template_id: int | None = None,
        start: int = 0,
        length: int = 20,
    ) -> Request:
        """Build ``get_job_plan_list`` (v2 ``get_job_list``): one page of a scope's plans.

        ``length`` is 1..1000 (the gateway's documented bound); v2 has no template filter.
        """
        filters = _texts(name=name, creator=creator, last_modify_user=last_modify_user)
        template = optional_id(job_template_id, "job_template_id")
        if not self.flavor.is_v3:
            v2_only_scalars(job_template_id=template)
        params = self._scoped(
            scope,
            **filters,
            job_template_id=template,
            start=check_count(start, "start"),
            length=check_length(length, MAX_PAGE_LENGTH),
        )
        return self.request("get_job_plan_list", params)

    def job_plan_detail(self, scope: Scope, job_plan_id: int) -> Request:
        """Build ``get_job_plan_detail`` (v2 ``get_job_detail`` with ``bk_job_id``)."""
        plan = check_id(job_plan_id, "job_plan_id")
        key = "job_plan_id" if self.flavor.is_v3 else "bk_job_id"
        return self.request("get_job_plan_detail", self._scoped(scope, **{key: plan}))

    def plan_page(self, data: Any, start: int, length: int) -> JobPlanPage:
        """Read a plan list answer: a page on v3, a bare list on v2 (no total) that is made a
        page here, with the ``start`` and ``length`` asked."""
        if self.flavor.is_v3:
            return self.parse(data, JobPlanPage)
        items = self.parse(data, tuple[JobPlan, ...])
        return JobPlanPage(start, length, None, items)

    def script_list(
        self,
        scope: Scope | None,
        *,
        name: str | None = None,
        script_language: ScriptLanguage | int | None = None,
        start: int = 0,
        length: int = 20,
    ) -> Request:
        """Build ``get_script_list`` for a scope, or (``scope=None``) ``get_public_script_list``.

        Lists the scripts that have an online version; ``length`` is 1..1000.
        """
        language = None if script_language is None else int(ScriptLanguage(script_language))
        params = {
            **_texts(name=name),
            "script_language": language,
            "start": check_count(start, "start"),
            "length": check_length(length, MAX_PAGE_LENGTH),
        }
        if scope is None:
            return self.request("get_public_script_list", params)
        return self.request("get_script_list", self._scoped(scope, **params))

    def script_version_detail(
        self,
        scope: Scope | None,
        *,
        script_version_id: int | None = None,
        script_id: str | None = None,
        version: str | None = None,
    ) -> Request:
        """Build ``get_script_version_detail`` (``scope=None``: the public library's).

        Name the version by ``script_version_id``, or by ``script_id`` and ``version`` together
        (bk-job ignores the pair when the id is given, so both are refused here).
        """
        if script_version_id is not None:
            if script_id is not None or version is not None:
                raise ValueError(
                    "give script_version_id, or script_id and version: bk-job ignores the "
                    "others when script_version_id is given"
                )
            params: dict[str, Any] = {"id": check_id(script_version_id, "script_version_id")}
        elif script_id is None or version is None:
            raise ValueError("give script_version_id, or script_id and version")
        else:
            params = {
                "script_id": check_text(script_id, "script_id"),
                "version": check_text(version, "version"),
            }
        if scope is None:
            return self.request("get_public_script_version_detail", params)
        return self.request("get_script_version_detail", self._scoped(scope, **params))

    def account_list(
        self,
        scope: Scope,
        *,
        category: AccountCategory | int | None = None,
        account: str | None = None,
        alias: str | None = None,
        start: int = 0,
        length: int = 20,
    ) -> Request:
        """Build ``get_account_list``; ``length`` is 1..1000 (bk-job cuts a longer page).

        v2's ``get_os_account`` has no filter and no paging: it answers every system account
        in one page whatever ``length``; a filter or a ``start`` past 0 is refused there.
        """
        filters = {
            "category": known_code(category, AccountCategory, "category"),
            **_texts(account=account, alias=alias),
        }
        start, length = check_count(start, "start"), check_length(length, MAX_PAGE_LENGTH)
        if not self.flavor.is_v3:
            v2_only_scalars(**filters, start=start)
            return self.request("get_account_list", self._scoped(scope))
        return self.request(
            "get_account_list", self._scoped(scope, **filters, start=start, length=length)
        )

    def account_page(self, data: Any) -> AccountPage:
        """Read an account list answer: a page on v3, v2's bare list made one page."""
        if self.flavor.is_v3:
            return self.parse(data, AccountPage)
        items = self.parse(data, tuple[ExecutionAccount, ...])
        return AccountPage(0, len(items), len(items), items)

    # --- reading --------------------------------------------------------------------------

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
        if not isinstance(envelope, dict) or not ("result" in envelope or "code" in envelope):
            return self._not_an_envelope(request, response, now)
        result, code = envelope.get("result"), envelope.get("code")
        if result is True and code in (0, "0", "00", None) and 200 <= response.status < 300:
            return envelope.get("data")
        raise self._api_error(request, response, envelope, now)

    def _not_an_envelope(self, request: Request, response: Response, now: float | None) -> Any:
        if response.status >= 400:
            raise self._api_error(request, response, {}, now)
        kind = "not JSON" if response.body[:1] not in (b"{", b"[") else "not a bk-job envelope"
        raise errors.ResponseFormatError(
            f"{request.api}: HTTP {response.status} response is {kind}: {self._excerpt(response.body)}"
        )

    def _api_error(
        self, request: Request, response: Response, envelope: Mapping[str, Any], now: float | None
    ) -> errors.ApiError:
        headers = response.headers
        code = _int_or_none(envelope.get("code", headers.get("X-Bkapi-Error-Code")))
        message = envelope.get("message") or headers.get("X-Bkapi-Error-Message") or ""
        if not isinstance(message, str):
            message = str(message)
        if len(message) > _MAX_MESSAGE:
            # Cut before masking: what is left of a secret cut here is 8+ characters (masked)
            # or fewer than 8 (unrecognisable); and masking a huge message would cost time.
            message = message[:_MAX_MESSAGE] + "..."
        if not envelope and not message:
            message = f"HTTP {response.status}: {self._excerpt(response.body)}"
        cls = _CODE_CLASSES.get(code or 0) or _STATUS_CLASSES.get(response.status)
        if _CREDENTIALS_REFUSED.search(message):  # the ESB's app check, whatever its code (§7.16)
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
        }
        if cls is errors.RateLimitedError:
            kwargs["retry_after"] = _retry_after(headers, now)
        message = self.redact(message)
        if request.secrets:
            message = Redactor(request.secrets)(message)
        return cls(message, **kwargs)

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret of these credentials masked (``_secrets`` says how)."""
        return self.redactor(text)

    def _excerpt(self, body: bytes, limit: int = 200) -> str:
        # Mask before cutting, so that a cut cannot leave the start of a secret unmasked; a
        # secret the first cut splits keeps its first 8 characters within it, and so is masked.
        text = self.redact(body[: 8 * limit].decode("utf-8", "replace")).strip()
        return repr(text[:limit] + ("..." if len(text) > limit else ""))

    def _str_or_none(self, value: Any) -> str | None:
        return None if value is None else self.redact(str(value))

    def parse(self, data: Any, cls: type[T]) -> T:
        """Structure ``data`` into ``cls`` as this flavor's generation writes it."""
        try:
            return structure(data, cls, self.generation, self.server_tz)
        except errors.ResponseFormatError as exc:
            message = self.redact(str(exc))
            if message == str(exc):
                raise
            # The cause's message quotes the secret the server echoed: drop the chain.
            raise errors.ResponseFormatError(message) from None


def _sensitive(param: str | None, request: Request) -> Request:
    """Return ``request`` with ``param`` (a sensitive script parameter) among its secrets."""
    return request if not param else attrs.evolve(request, secrets=(*request.secrets, param))


def _header_text(value: object, name: str) -> str:
    """Return ``value`` if it can be an HTTP header's value as is (visible ASCII), else raise.

    Checked at construction: a CR or LF would otherwise fail every request later, in aiohttp.
    """
    text = check_text(value, name)
    if not (text.isascii() and text.isprintable()):
        raise ValueError(
            f"{name} must be printable ASCII (it is sent as an HTTP header), got {text!r}"
        )
    return text


def _too_deep(request: Request, response: Response) -> errors.ResponseFormatError:
    """The error of an answer nested past ``_json.MAX_DEPTH``: refused before anything reads it."""
    return errors.ResponseFormatError(
        f"{request.api}: HTTP {response.status} response nests arrays or objects deeper than "
        f"{_json.MAX_DEPTH} levels ({len(response.body):,} bytes); refused unread"
    )


# --- helpers that spell request values -----------------------------------------------------


def _texts(**values: str | None) -> dict[str, str | None]:
    """Return optional text filters, each checked (``None`` or a non-empty str)."""
    return {k: None if v is None else check_text(v, k) for k, v in values.items()}


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_base_url(base_url: object) -> str:
    """Return ``base_url`` if it is a plain http(s) URL; never echo one that carries a password."""
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str, not {type(base_url).__name__}")
    try:
        parts = urllib.parse.urlsplit(base_url)
    except ValueError:  # a bracketed host that is not an IPv6 address, say
        raise ValueError("base_url is not a valid URL") from None
    if "@" in parts.netloc or ("@" in base_url and not parts.netloc):
        raise ValueError(
            "base_url must not carry a user name or password (user:password@host): bk-job "
            "authenticates with app_code/app_secret and the user identity"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if parts.query or parts.fragment or any(c.isspace() or ord(c) < 32 for c in base_url):
        raise ValueError(
            "base_url must have no query, fragment, space or control character "
            "(the client appends the API path to it)"
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in 0-65535
    except ValueError:
        raise ValueError(f"base_url has an invalid port: {base_url!r}") from None
    return base_url


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError, OverflowError):
        return None
