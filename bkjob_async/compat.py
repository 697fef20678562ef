"""Rule: the official SDK's dictionaries are sent as given, and answered in its envelope.

The official SDK's shape over the client: its dictionaries in, its envelope out.

``client.compat.jobv3.NAME(params)`` (and ``client.compat.api.NAME``, the gateway SDK's
spelling) takes the dictionary code written for the official SDK passes to
``client.jobv3.NAME(params)``, and ``client.compat.job.NAME`` the ESB v2 group's
(``client.job.NAME``): bk-job's own keys, sent as given. It answers as the SDK does: the
envelope as a ``dict`` (``result``, ``code``, ``message``, ``data``, ``request_id``), with
``result: false`` returned rather than raised; nothing in ``data`` is decoded or typed, and
nothing is base64-encoded (``script_content``, ``script_param`` and config files are sent as
the caller encoded them, as the SDK sends them). What the SDK could not do stays: reads retry
what is transient, every call has the client's deadline, secrets stay out of errors, and a
failure to reach bk-job raises (``TransportError``), as the gateway SDK raises it.

The methods are the endpoint table's rows (``bkjob_async._protocol``), by the name the group
gives them. Before anything is sent, each call:

- takes the identity keys the SDK accepted in the dictionary (``bk_username``, ``bk_token``,
  ``access_token``) as ``client.as_user(...)`` would, and drops the app's own code and secret
  (another app's is refused);
- warns once per client and key (``SdkParameterWarning``) of a key the API does not read
  (bk-nodeman's ``os_type``, or a ``task_name`` given to ``execute_job_plan``): bk-job
  ignores it, and the call goes on;
- warns (once per client, API and key) of a value of the wrong shape that bk-job would read as
  nothing: ``host_id_list`` items that are not host ids (dicts of ``bk_host_id``: bk-job answers
  1244001, "Host is empty"), ``ip_list`` items that are not ``{"bk_cloud_id", "ip"}``.

Sync code has the same in ``bkjob_async.sync.BkJobClient(...).compat``.
"""

from __future__ import annotations

import difflib
import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from . import _json
from ._protocol import TABLE, Api
from ._protocol._keys import SPELLED
from ._protocol._table import V2_NAMES
from ._transport import call
from .config import ApiFlavor
from .errors import ApiError, UnsupportedOperationError

if TYPE_CHECKING:
    import random

    from ._protocol import Protocol as BkJobProtocol
    from ._protocol import Request, Response
    from ._transport import Sleep, Transport
    from .config import RetryPolicy

__all__ = ["Compat", "SdkGroup", "SdkParameterWarning"]

#: An SDK-shaped answer: the envelope, as a dict.
Envelope = dict[str, Any]
#: What a group's call returns: an awaitable of the envelope, or (sync) the envelope.
R = TypeVar("R")


class _Client(Protocol):
    """What this module uses of a ``BkJobClient`` (it sits below ``client``, which imports it)."""

    protocol: BkJobProtocol
    transport: Transport
    retry: RetryPolicy
    call_timeout: float | None
    _sleep: Sleep
    _rng: random.Random
    _root: Any

    def _opened(self) -> None: ...

    def as_user(
        self,
        username: str | None = None,
        *,
        bk_token: str | None = None,
        access_token: str | None = None,
        language: str | None = None,
    ) -> Any: ...


class SdkParameterWarning(UserWarning):
    """A key of an SDK-shaped call that bk-job does not read, or reads as nothing."""


#: The keys by which the SDK's dictionaries name the caller, as ``as_user`` takes them.
_IDENTITY = {"bk_username": "username", "username": "username"} | {
    "bk_token": "bk_token",
    "access_token": "access_token",
}
_APP_CODE = ("bk_app_code", "app_code")
_APP_SECRET = ("bk_app_secret", "app_secret")
#: The scope's keys each generation reads (v3 reads the deprecated ``bk_biz_id`` too).
_SCOPE_V3 = frozenset({"bk_scope_type", "bk_scope_id"})
#: Which keys each group's APIs are spoken with, by the client's flavor.
_V3_WIRES = {
    ApiFlavor.APIGW_V3: ApiFlavor.APIGW_V3,
    ApiFlavor.APIGW_V4: ApiFlavor.APIGW_V3,
    ApiFlavor.ESB_JOBV3: ApiFlavor.ESB_JOBV3,
}
#: Who remembers which warnings a client was given (one set for a client and its views).
_TOLD: weakref.WeakKeyDictionary[object, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


def reads(api: Api[..., Any], flavor: ApiFlavor) -> frozenset[str]:
    """Return the top-level keys bk-job reads in a request to ``api`` on ``flavor``.

    What the client's spelling may send (``_protocol._keys``), and what bk-job reads beside
    it: v3's deprecated ``bk_biz_id`` where it reads a scope, v2's ``ip_list`` where it reads
    ``target_server`` (bk-nodeman's way to name hosts).
    """
    keys = SPELLED[api.name][flavor.value]
    if keys & _SCOPE_V3:
        keys |= {"bk_biz_id"}
    if flavor is ApiFlavor.ESB_V2 and "target_server" in keys:
        keys |= {"ip_list"}
    return keys


def _rows(group: str) -> dict[str, Api[..., Any]]:
    """Return a group's APIs by the name the group calls them."""
    if group == "job":
        v2 = {n: a for n, a in TABLE.items() if ApiFlavor.ESB_V2 in a.bindings}
        return {a.bindings[ApiFlavor.ESB_V2].name: a for a in v2.values()} | dict(V2_NAMES)
    return {
        n: a
        for n, a in TABLE.items()
        if ApiFlavor.ESB_JOBV3 in a.bindings or ApiFlavor.APIGW_V3 in a.bindings
    }


class SdkGroup(Generic[R]):
    """One of the SDK's groups of a client (``jobv3``, ``api``, ``job``): its APIs as
    attributes, each ``group.NAME(params=None, /, **more)`` returning what ``run`` makes of
    the prepared request (the client's: an awaitable of the envelope; see
    ``bkjob_async.compat``)."""

    def __init__(self, client: Any, group: str, run: Callable[[Any, Request], R]) -> None:
        self._client, self._group, self._run = client, group, run
        self._rows = _rows(group)

    def __repr__(self) -> str:
        return f"<SDK group {self._group!r} of {self._client!r}>"

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._rows})

    def __getattr__(self, name: str) -> Callable[..., R]:
        if name.startswith("_"):
            raise AttributeError(name)
        row = self._rows.get(name)
        if row is None:
            near = difflib.get_close_matches(name, self._rows, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise AttributeError(f"the SDK's {self._group} group has no API {name!r}{hint}")
        client, group, run = self._client, self._group, self._run

        def method(params: Mapping[str, Any] | None = None, /, **more: Any) -> R:
            sender, request = prepare(client, group, row, params, more)
            return run(sender, request)

        method.__name__ = method.__qualname__ = name
        method.__doc__ = f"Call {row.name} with the SDK's dictionary; return its envelope."
        return method


class Compat(Generic[R]):
    """The official SDK's groups over a client: ``jobv3`` and ``api`` (bk-job's v3 names, on
    ``apigw-v3``, ``apigw-v4`` and ``esb-jobv3``) and ``job`` (the ESB v2 names, on
    ``esb-v2``). ``client.compat`` makes one."""

    def __init__(self, client: Any, run: Callable[[Any, Request], R]) -> None:
        self.jobv3 = SdkGroup(client, "jobv3", run)
        self.api = SdkGroup(client, "api", run)
        self.job = SdkGroup(client, "job", run)

    def __repr__(self) -> str:
        return f"<Compat of {self.jobv3._client!r}>"


def prepare(
    client: Any,
    group: str,
    row: Api[..., Any],
    params: Mapping[str, Any] | None,
    more: Mapping[str, Any],
    *,
    stacklevel: int = 1,
) -> tuple[Any, Request]:
    """Check an SDK-shaped call and build its request; return the client (or view) to send it.

    ``client`` is a ``BkJobClient``, async or sync (``protocol``, ``as_user``, ``_root``).
    Warnings (``SdkParameterWarning``) name the line ``stacklevel`` frames above the caller.
    """
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(
            f"params must be a dict of bk-job's parameters, not {type(params).__name__}"
        )
    sent = {**(params or {}), **more}
    if any(not isinstance(key, str) for key in sent):
        raise TypeError("parameter names are str")
    flavor = _flavor(client.protocol.flavor, group, row)
    sender = _identity(client, sent)
    told = _TOLD.setdefault(client._root, set())
    keys = reads(row, flavor)
    for key in sent:
        if key not in keys and (row.name, key) not in told:
            told.add((row.name, key))
            warnings.warn(
                f"{row.name} on {flavor.value} does not read {key!r}: bk-job ignores it "
                "(sent as given)",
                SdkParameterWarning,
                stacklevel=stacklevel + 2,
            )
    for key, problem in _misshapen(sent):
        if (row.name, f"shape:{key}") not in told:
            told.add((row.name, f"shape:{key}"))
            warnings.warn(
                f"{row.name}: {problem} (sent as given)",
                SdkParameterWarning,
                stacklevel=stacklevel + 2,
            )
    return sender, sender.protocol.request(row, sent, flavor=flavor)


async def send(client: _Client, request: Request) -> Envelope:
    """Send a prepared SDK-shaped request with the client's retries and deadline; return the
    envelope (``result: false`` included); raise what is not an answer of bk-job's."""
    client._opened()
    try:
        return await call(  # type: ignore[no-any-return]
            client.transport,
            _Whole(client.protocol),  # type: ignore[arg-type]
            request,
            retry=client.retry,
            sleep=client._sleep,
            rng=client._rng,
            deadline=client.call_timeout,
        )
    except ApiError as error:
        envelope: Envelope = {
            "result": False,
            "code": error.code,
            "message": error.message,
            "data": None,
            "request_id": error.request_id,
        }
        if error.job_request_id is not None:
            envelope["job_request_id"] = error.job_request_id
        if error.permission is not None:
            envelope["permission"] = dict(error.permission)
        return envelope


class _Whole:
    """A protocol whose ``decipher`` answers the whole envelope (its errors raised as ever)."""

    def __init__(self, protocol: BkJobProtocol) -> None:
        self._protocol = protocol
        self.flavor = protocol.flavor
        self.redact = protocol.redact

    def decipher(
        self, request: Request, response: Response, *, now: float | None = None
    ) -> Envelope:
        self._protocol.decipher(request, response, now=now)  # (raises what is not success)
        envelope: Envelope = dict(_json.loads(response.body))
        envelope.setdefault("message", "")
        if envelope.get("request_id") is None:
            envelope["request_id"] = response.headers.get("X-Bkapi-Request-Id")
        return envelope


def _flavor(flavor: ApiFlavor, group: str, row: Api[..., Any]) -> ApiFlavor:
    """Return the wire of ``row`` a group's call is sent on by a client of ``flavor``."""
    if group == "job":
        if flavor is not ApiFlavor.ESB_V2:
            raise UnsupportedOperationError(
                f"compat.job speaks the ESB v2 names, and this client speaks {flavor.value!r}: "
                "use compat.jobv3 (or a client with flavor='esb-v2')"
            )
        return flavor
    wire = _V3_WIRES.get(flavor)
    if wire is None:
        raise UnsupportedOperationError(
            f"compat.{group} speaks bk-job's v3, and this client speaks {flavor.value!r}: use "
            "compat.job (or a client with flavor='esb-jobv3' or 'apigw-v3')"
        )
    if wire not in row.bindings:
        raise UnsupportedOperationError(f"{row.name} does not exist on the {wire.value!r} API")
    return wire


def _identity(client: _Client, sent: dict[str, Any]) -> _Client:
    """Take the SDK's credential keys out of ``sent``; return the client that acts as them."""
    credentials = client.protocol.credentials
    for keys, mine in ((_APP_CODE, credentials.app_code), (_APP_SECRET, credentials.app_secret)):
        for key in keys:
            if key in sent and sent.pop(key) != mine:
                raise ValueError(
                    f"{key} names another app than this client's: make a client for that app"
                )
    who = {_IDENTITY[k]: sent.pop(k) for k in list(sent) if k in _IDENTITY}
    return client.as_user(**who) if who else client


def _misshapen(sent: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the keys, anywhere in ``sent``, whose values bk-job would read as nothing."""
    found: list[tuple[str, str]] = []
    pending: list[Any] = [sent]
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending += value
        if not isinstance(value, Mapping):
            continue
        for key, inner in value.items():
            if key == "host_id_list" and isinstance(inner, list):
                wrong = [i for i in inner if not isinstance(i, int) or isinstance(i, bool)]
                if wrong:
                    found.append((key, _NOT_IDS.format(type(wrong[0]).__name__)))
            elif key == "ip_list" and isinstance(inner, list):
                if not all(isinstance(i, Mapping) and "ip" in i for i in inner):
                    found.append((key, _NOT_IPS))
            else:
                pending.append(inner)
    return found


_NOT_IDS = (
    "host_id_list takes host ids (ints), not {}s: bk-job reads none of them "
    "(1244001, Host is empty)"
)
_NOT_IPS = 'ip_list takes {"bk_cloud_id": ..., "ip": ...} objects: bk-job reads no other'
