"""Requests and responses as values, and the URLs they go to; no I/O here.

A ``Request`` is frozen and carries what the transport's spans report of it (the scope, job
and step it concerns), read from its parameters once when it is built: nothing later decodes
its body again. ``KeptQuery`` is the one kind of query a transport may keep derived state on
(a poll's, sent again and again: ``bkjob_async.polling._reader``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, NamedTuple

import attrs

__all__ = [
    "KeptQuery",
    "Request",
    "Response",
    "check_base_url",
    "query_value",
    "trace_fields",
]


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
    #: Values this request carries that are secrets (password variables): masked in its errors.
    secrets: tuple[str, ...] = attrs.field(default=(), eq=False, repr=False)
    #: The scope it concerns (``"biz:2"``, ``"biz_set:9"``), for spans; ``None``: none named.
    scope: str | None = attrs.field(default=None, eq=False, repr=False)
    #: The job and step it concerns, for spans (``None``: not named, or not a number).
    job_instance_id: int | None = attrs.field(default=None, eq=False, repr=False)
    step_instance_id: int | None = attrs.field(default=None, eq=False, repr=False)
    #: Answered by the gateway's v4 protocol (HTTP statuses, ``{"data"}``/``{"error"}``).
    v4: bool = attrs.field(default=False, repr=False)


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


class KeptQuery:
    """A query sent again and again, that encodes itself (``text``) and keeps what a transport
    derived from its request (``prepared``: the aiohttp transport's URL), so a resend costs
    neither. Mutable on purpose, unlike the frozen ``Request`` that carries it.

    A plain class, not a ``Mapping``: the transport asks ``isinstance(query, KeptQuery)`` on
    every send, which against an abstract class costs ten times as much. A subclass is a
    ``Mapping`` too (``polling._reader.Query``).
    """

    __slots__ = ("__weakref__", "prepared")

    def __init__(self) -> None:
        #: Left to the transport; ``None`` until it keeps something here.
        self.prepared: object = None

    def text(self) -> str:
        """Return the query encoded for a URL."""
        raise NotImplementedError


_SCOPE_TYPES = {"1": "biz", "3": "biz_set", "biz": "biz", "biz_set": "biz_set"}


def trace_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the ``Request`` fields spans read: the scope, job and step ``params`` name."""
    fields: dict[str, Any] = {}
    kind, scope_id = params.get("bk_scope_type"), params.get("bk_scope_id")
    if scope_id is None and params.get("bk_biz_id") is not None:
        kind, scope_id = "biz", params.get("bk_biz_id")
    if scope_id is not None:
        fields["scope"] = f"{_SCOPE_TYPES.get(str(kind), 'biz')}:{_int_text(scope_id)}"
    for key in ("job_instance_id", "step_instance_id"):
        value = params.get(key)
        if value is not None:
            fields[key] = _int_or_none(value)
    return fields


def _int_text(value: Any) -> str:
    found = _int_or_none(value)
    return "?" if found is None else str(found)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if isinstance(value, bool) else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def query_value(value: Any) -> str:
    """Spell one query parameter: booleans as ``true``/``false``, the rest as ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_base_url(base_url: object) -> str:
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
