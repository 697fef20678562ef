"""``Protocol``: one server, flavor and identity; build requests by the table, read answers.

Pure and reusable: takes and returns plain values (``Request``, ``Response``, JSON data,
models). A typed request is spelled by its row (``_api.Api``), which checks the caller's
input before a request exists; an API the table lacks is sent as the caller says
(``Protocol.raw``). ``decipher`` turns every answer into data or a typed error (``_envelope``).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import re
from typing import TYPE_CHECKING, Any, TypeVar

from .. import errors
from .._converter import Generation, structure
from .._params import check_text
from .._secrets import Redactor
from ..config import DEFAULT_SERVER_TZ, ApiFlavor, Credentials
from ._api import GET, Api, Batches, Binding, Params
from ._envelope import Envelope
from ._request import Request, check_base_url, query_value, trace_fields
from ._table import TABLE

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = ["CREDENTIAL_PARAMS", "Protocol"]

T = TypeVar("T")

#: Parameters that carry credentials: the client sends them in a header, never as parameters.
CREDENTIAL_PARAMS = frozenset(
    {"bk_app_code", "app_code", "bk_app_secret", "app_secret", "bk_token", "access_token"}
    | {"bk_username", "username"}
)
_API_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")


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
        secrets: Iterable[str] = (),
        user_timezone: str | None = None,
    ) -> None:
        self.flavor = ApiFlavor.coerce(flavor)
        self.generation = Generation.V3 if self.flavor.is_v3 else Generation.V2
        if not isinstance(server_tz, _dt.tzinfo):
            raise TypeError(
                "server_tz must be a datetime.tzinfo such as zoneinfo.ZoneInfo('Asia/Shanghai'), "
                f"not {type(server_tz).__name__}"
            )
        self.server_tz = server_tz
        self._base = check_base_url(base_url).rstrip("/")
        self._tenant = None if tenant_id is None else _header_text(tenant_id, "tenant_id")
        #: The ``X-Bk-Job-User-Timezone`` sent (an IANA zone name; ``None``: none, bk-job then
        #: writes times in Asia/Shanghai).
        self.user_timezone = (
            None if user_timezone is None else _header_text(user_timezone, "user_timezone")
        )
        self._extra = tuple(s for s in secrets if s)
        self._set_identity(credentials, language)
        self._urls: dict[str, str] = {}

    def _set_identity(self, credentials: Credentials, language: str | None) -> None:
        """Make the headers, and the masking, of ``credentials`` speaking ``language``."""
        #: The identity every request carries (secrets masked in its ``repr``).
        self.credentials = credentials
        #: The ``Blueking-Language`` sent (``None``: none).
        self.language = None if language is None else _header_text(language, "language")
        known = (credentials.app_secret, credentials.bk_token, credentials.access_token)
        secrets = frozenset(s for s in (*known, *self._extra) if s)
        if secrets != getattr(self, "_secrets", None):
            #: Masks this identity's secrets, and ``secrets`` (a proxy's password, say: see
            #: ``bkjob_async._secrets``).
            self.redactor = Redactor(secrets)
            self._secrets = secrets
            self._envelope = Envelope(self.redactor)
            self.decipher = self._envelope.decipher
        headers = {
            "X-Bkapi-Authorization": json.dumps(credentials.header_value(), separators=(",", ":")),
            "Accept": "application/json",
        }
        if self._tenant is not None:
            headers["X-Bk-Tenant-Id"] = self._tenant
        username = credentials.username
        if username is not None and username.isascii() and username.isprintable():
            # bk-job's gateway takes the user of an app-level (``/system/``) API from this
            # header (``JobCommonHeaders.KEY_BK_USERNAME``); a user API ignores it.
            headers["X-Bk-Username"] = username
        if self.user_timezone is not None:
            # the zone bk-job writes times in (``JobCommonInterceptor.addTimeZone``)
            headers["X-Bk-Job-User-Timezone"] = self.user_timezone
        if self.language is not None:
            # bk-job localises messages by this header: "en", "zh-cn" (its default) or "all".
            headers["Blueking-Language"] = self.language
        #: The headers of a GET, and of a request with a JSON body.
        self.headers = headers
        self.post_headers = {**headers, "Content-Type": "application/json"}

    def with_identity(self, credentials: Credentials, *, language: str | None) -> Protocol:
        """Return this protocol for another identity and language, sharing the rest.

        The copy shares the server, flavor, zone and URLs; only the headers (and, for other
        secrets, the masking) are its own. Cheap: made for one call if need be.
        """
        if not isinstance(credentials, Credentials):
            raise TypeError(f"credentials must be Credentials, not {type(credentials).__name__}")
        view = copy.copy(self)
        view._set_identity(credentials, language)
        return view

    def __repr__(self) -> str:
        return f"Protocol({self._base!r}, flavor={self.flavor.value!r})"

    # --- building -------------------------------------------------------------------------

    def url(self, name: str, *, v4: bool = False) -> str:
        """Return the URL of the API this flavor calls ``name`` (``v4``: on the gateway's v4);
        one string per API, shared."""
        key = f"v4/{name}" if v4 else name
        url = self._urls.get(key)
        if url is None:
            if v4:
                url = f"{self._base}/api/v4/{name}"
            elif self.flavor.is_gateway:
                url = f"{self._base}/api/v3/{name}"
            else:
                group = "jobv3" if self.flavor is ApiFlavor.ESB_JOBV3 else "job"
                url = f"{self._base}/api/c/compapi/v2/{group}/{name}/"
            self._urls[key] = url
        return url

    def row(self, api: Api[..., T] | str) -> Api[..., T]:
        """Return the row of ``api`` (a row, or bk-job's name for it).

        :raises ValueError: an API the table lacks (``BkJobClient.call`` sends those).
        """
        if isinstance(api, Api):
            return api
        row = TABLE.get(api)
        if row is None:
            raise ValueError(f"unknown bk-job API {api!r}; expected one of {', '.join(TABLE)}")
        return row

    def binding(self, api: Api[..., T] | str) -> Binding[T]:
        """Return how this flavor serves ``api``.

        :raises ValueError: an API the table lacks.
        :raises UnsupportedOperationError: this flavor lacks it (on ``apigw-v4``: v4 and the
            gateway's v3 both lack it).
        """
        row = self.row(api)
        binding = row.bindings.get(self.flavor)
        if binding is None and self.flavor is ApiFlavor.APIGW_V4:
            # The gateway serves v3 beside v4 at the same stage: an API v4 lacks is sent as v3.
            binding = row.bindings.get(ApiFlavor.APIGW_V3)
        if binding is None:
            others = " or ".join(repr(f.value) for f in row.bindings)
            raise errors.UnsupportedOperationError(
                f"{row.name} does not exist on the {self.flavor.value!r} API; use flavor {others}"
            )
        return binding

    def spell(self, api: Api[..., T] | str, /, *args: Any, **kwargs: Any) -> Params | Batches:
        """Check the arguments of a typed call of ``api``; return bk-job's parameters for it."""
        return self.binding(api).spell(*args, **kwargs)

    def build(self, api: Api[..., T] | str, /, *args: Any, **kwargs: Any) -> Request:
        """Return the request of a typed call of ``api`` (one that needs a single request)."""
        params = self.spell(api, *args, **kwargs)
        if isinstance(params, Batches):
            if len(params) != 1:
                raise ValueError(f"this call of {self.row(api).name} takes {len(params)} requests")
            params = params[0]
        return self.request(api, params)

    def builds(self, api: Api[..., T] | str, /, *args: Any, **kwargs: Any) -> tuple[Request, ...]:
        """Return every request of a typed call of ``api``, in order (none, for an empty batch)."""
        params = self.spell(api, *args, **kwargs)
        batches = params if isinstance(params, Batches) else (params,)
        return tuple(self.request(api, p) for p in batches)

    def request(
        self,
        api: Api[..., T] | str,
        params: Mapping[str, Any],
        *,
        flavor: ApiFlavor | None = None,
    ) -> Request:
        """Return the request that sends ``params`` (bk-job's names) to ``api`` as its row says.

        ``flavor`` picks another binding of the row than this flavor's (the gateway's v3 from an
        ``apigw-v4`` protocol, say): sent to this server with this identity.
        """
        row = self.row(api)
        binding = self.binding(row) if flavor is None else row.bindings.get(flavor)
        if binding is None:
            raise errors.UnsupportedOperationError(
                f"{row.name} does not exist on the {flavor.value!r} API"  # type: ignore[union-attr]
            )
        return self._request(row.name, binding, params, row.read)

    def raw(
        self,
        name: str,
        params: Mapping[str, Any],
        *,
        method: str = "POST",
        idempotent: bool = False,
    ) -> Request:
        """Return a request for an API the table lacks: ``name`` sent with ``method``.

        On ``apigw-v4`` it goes to the gateway's v3: every v4 API has a row.
        """
        if not isinstance(name, str) or not _API_NAME.fullmatch(name):
            raise ValueError(f"a bk-job API name is lower case letters, digits and _, not {name!r}")
        if method not in ("GET", "POST"):
            raise ValueError(f"method must be 'GET' or 'POST', not {method!r}")
        return self._request(name, Binding(name, method, _unspelled, _unread), params, idempotent)

    def _request(
        self, api: str, binding: Binding[Any], params: Mapping[str, Any], read: bool
    ) -> Request:
        url = self.url(binding.name, v4=binding.v4)
        traced = trace_fields(params)
        if binding.v4:
            traced["v4"] = True
        secrets = getattr(params, "secrets", ())
        if binding.method == GET:
            query = {k: query_value(v) for k, v in params.items() if v is not None}
            return Request(
                api,
                GET,
                url,
                self.headers,
                query=query,
                idempotent=read,
                secrets=secrets,
                **traced,
            )
        body = json.dumps({k: v for k, v in params.items() if v is not None}).encode()
        return Request(
            api,
            "POST",
            url,
            self.post_headers,
            body=body,
            idempotent=read,
            secrets=secrets,
            **traced,
        )

    # --- reading --------------------------------------------------------------------------

    def answer(self, api: Api[..., T] | str, data: Any, sent: Mapping[str, Any]) -> T:
        """Read ``data``, the answer to ``sent``, as ``api``'s row says (its typed answer)."""
        return self.binding(api).read(self.parse, data, sent)

    def answers(
        self, api: Api[..., T] | str, data: Sequence[Any], sent: Sequence[Mapping[str, Any]]
    ) -> T:
        """Read the answers of a call's batches and join them (tuples, concatenated)."""
        read = self.binding(api).read
        joined: list[Any] = []
        for one, params in zip(data, sent, strict=True):
            joined += read(self.parse, one, params)  # type: ignore[arg-type]
        return tuple(joined)  # type: ignore[return-value]

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret of these credentials masked (``_secrets`` says how)."""
        return self.redactor(text)

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


def _unspelled(*args: Any, **kwargs: Any) -> Params:
    raise TypeError("an API outside the table has no spelling: send its parameters as they are")


def _unread(parse: Any, data: Any, sent: Mapping[str, Any], /) -> Any:
    return data


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
