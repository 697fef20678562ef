"""Redis connections of a cluster: a URL to a redis-py asyncio client; no command sent here.

Three deployments, one URL each (``rediss`` for TLS in every form):

- one Redis: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…``, ``unix://path``;
  redis-py reads the URL (its query options included).
- Sentinel: ``redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]``. The
  hosts are sentinels (port 26379 if left out); the client asks them for the primary of
  ``service`` on every new connection, and a connection to a demoted primary (``READONLY``) is
  dropped, so the client follows a failover. The user and password are the primary's;
  sentinels that need their own give ``?sentinel_username=…&sentinel_password=…``.
- Redis Cluster: ``redis+cluster://[[user]:password@]host:port[,host:port…]`` (port 6379 if
  left out), any nodes of the cluster; database 0 only. redis-py follows ``MOVED``/``ASK`` and
  loads a script again where it is missing (``NOSCRIPT``); it takes no ``EVALSHA`` in a cluster
  pipeline, so pipelined writes send the script's text there (``_writes``). Every key of one
  cluster name shares one hash slot (``_keys``), so every script and ``MULTI`` runs on one
  node.

Sentinel and cluster URLs take these query options: ``ssl_ca_certs``, ``ssl_certfile``,
``ssl_keyfile``, ``ssl_cert_reqs``, ``ssl_check_hostname`` (``rediss`` only), and the sentinel
ones above. ``redact`` masks every password of a URL; no repr or message of this package
shows one.

TLS checks the server's host name on every URL form (``rediss://``, ``rediss+sentinel://``,
``rediss+cluster://``), whatever redis-py's own default (before 6.0 it checked none, so a
server with another host's certificate was given the password): ``ssl_check_hostname=false``
turns it off by name, and ``ssl_cert_reqs=none`` (no verification at all) does too.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any, Protocol

import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from ._keys import Keys

__all__ = ["AnyRedis", "Connection", "Plumbing", "connect", "redact"]

#: What a cluster talks to: one Redis (alone or a Sentinel's primary) or a Redis Cluster.
AnyRedis = aioredis.Redis | RedisCluster

_SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
)

_TLS_OPTIONS = (
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
)
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")


def redact(url: str) -> str:
    """Return ``url`` without its passwords (in the user part, or any ``…password=`` query)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rpartition("@")[2]
        netloc = f"{parts.username or ''}:***@{host}"
    query = "&".join(
        f"{item.partition('=')[0]}=***"
        if item.partition("=")[0].lower().endswith("password")
        else item
        for item in parts.query.split("&")
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


class Connection:
    """A redis-py client for ``url`` (``kind``: ``"redis"``, ``"sentinel"`` or ``"cluster"``),
    and what else must be closed with it (a Sentinel's own connections)."""

    def __init__(self, url: str, timeout: float) -> None:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in _SCHEMES:
            raise ValueError(
                "redis_url must start with redis://, rediss://, unix://, redis+sentinel:// "
                f"or redis+cluster:// (rediss+… for TLS), got {redact(url)!r}"
            )
        self.kind = scheme.partition("+")[2] or "redis"
        self._sentinel: Sentinel | None = None
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
        }
        if self.kind == "redis":
            # Once, at once, and only when the connection broke (a stale pooled connection after
            # a Redis restart), never on a timeout: outages surface within ``timeout``.
            url, checks = _single_tls(url)
            self.redis: AnyRedis = aioredis.Redis.from_url(
                url, **options, **checks, **_retry_once()
            )
        elif self.kind == "sentinel":
            self.redis = self._sentinel_client(url, options)
        else:
            self.redis = _cluster_client(url, options)

    def _sentinel_client(self, url: str, options: dict[str, Any]) -> aioredis.Redis:
        parts, query = _split(url, _TLS_OPTIONS + _SENTINEL_OPTIONS)
        path = [p for p in parts.path.split("/") if p]
        if not 1 <= len(path) <= 2:
            raise ValueError(
                "a sentinel URL names the service: redis+sentinel://HOSTS/SERVICE[/DB]"
            )
        db = _db(path[1]) if len(path) == 2 else 0
        tls = _tls(parts.scheme, query)
        on_sentinels = {
            "username": query.pop("sentinel_username", None),
            "password": query.pop("sentinel_password", None),
            "socket_connect_timeout": options["socket_connect_timeout"],
            "socket_timeout": options["socket_timeout"],
            "decode_responses": True,
            **tls,
            **_retry_once(),
        }
        self._sentinel = Sentinel(  # type: ignore[no-untyped-call]
            _hosts(parts, 26379), sentinel_kwargs=on_sentinels, **options, **_retry_once()
        )
        client: aioredis.Redis = self._sentinel.master_for(
            path[0],
            redis_class=aioredis.Redis,
            db=db,
            username=_unquote(parts.username),
            password=_unquote(parts.password),
            **tls,
        )
        return client

    async def aclose(self) -> None:
        """Close the client's connections (and the sentinels')."""
        try:
            await self.redis.aclose()
        finally:
            if self._sentinel is not None:
                for sentinel in self._sentinel.sentinels:
                    await sentinel.aclose()


def _retry_once() -> dict[str, Any]:
    return {
        "retry": Retry(NoBackoff(), 1, supported_errors=(rexc.ConnectionError,)),
        "retry_on_error": [rexc.ConnectionError],  # redis-py 5 retries only these
    }


def _cluster_client(url: str, options: dict[str, Any]) -> RedisCluster:
    parts, query = _split(url, _TLS_OPTIONS)
    if parts.path.strip("/") not in ("", "0"):
        raise ValueError("a Redis Cluster has database 0 only: redis+cluster://HOSTS[/0]")
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in _hosts(parts, 6379)],
        username=_unquote(parts.username),
        password=_unquote(parts.password),
        # One retry at once on a broken connection (topology read again); MOVED and ASK are
        # followed apart from it.
        retry=Retry(NoBackoff(), 1),
        **options,
        **_tls(parts.scheme, query),
    )


def _split(url: str, allowed: tuple[str, ...]) -> tuple[urllib.parse.SplitResult, dict[str, str]]:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} in a {parts.scheme} URL; "
            f"known: {', '.join(allowed)}"
        )
    return parts, query


def _hosts(parts: urllib.parse.SplitResult, default_port: int) -> list[tuple[str, int]]:
    """Return the ``host:port`` pairs of a URL's comma-separated host list."""
    found = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        host, port = item, ""
        if item.startswith("["):  # [IPv6]:port
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":")
        elif ":" in item:
            host, _, port = item.rpartition(":")
        if not host:
            raise ValueError(f"a {parts.scheme} URL lists an empty host")
        if port and not port.isdigit():
            raise ValueError(f"a {parts.scheme} URL has a port that is not a number: {port!r}")
        found.append((host, int(port) if port else default_port))
    return found


def _tls(scheme: str, query: dict[str, str]) -> dict[str, Any]:
    given: dict[str, Any] = {k: query.pop(k) for k in _TLS_OPTIONS if k in query}
    if not scheme.startswith("rediss"):
        if given:
            raise ValueError(f"{', '.join(given)} need TLS: rediss+… instead of redis+…")
        return {}
    given["ssl_check_hostname"] = _check_hostname(given)
    return {"ssl": True, **given}


def _check_hostname(options: dict[str, Any]) -> bool:
    """Return whether TLS checks the host name: yes unless turned off by name (or with all
    verification, ``ssl_cert_reqs=none``); pops ``ssl_check_hostname`` from ``options``."""
    verify = str(options.get("ssl_cert_reqs", "required")).lower() != "none"
    text = options.pop("ssl_check_hostname", None)
    if text is None:
        return verify
    flag = str(text).lower()
    if flag not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"ssl_check_hostname must be true or false, got {text!r}")
    check = flag in ("true", "1", "yes")
    if check and not verify:
        raise ValueError("ssl_check_hostname=true needs verification: drop ssl_cert_reqs=none")
    return check


def _single_tls(url: str) -> tuple[str, dict[str, Any]]:
    """Return a ``rediss://`` URL without ``ssl_check_hostname`` and the check as an option.

    Passed as an option, not left to redis-py's URL parser: redis-py before 6.0 checks no
    host name by default, and an option in the URL would override this one.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "rediss":
        return url, {}
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    options: dict[str, Any] = dict(pairs)
    check = _check_hostname(options)
    query = urllib.parse.urlencode([(k, v) for k, v in pairs if k != "ssl_check_hostname"])
    return urllib.parse.urlunsplit(parts._replace(query=query)), {"ssl_check_hostname": check}


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"the database of a sentinel URL must be a number, got {text!r}")
    return int(text)


def _unquote(text: str | None) -> str | None:
    return None if text is None else urllib.parse.unquote(text)


def connect(url: str, timeout: float) -> Connection:
    """Return a ``Connection`` for ``url`` (nothing is sent yet); raise ``ValueError`` for a
    malformed URL, with its password masked."""
    try:
        return Connection(url, timeout)
    except ValueError as exc:
        message = str(exc)
        if redact(url) not in message:
            message = f"invalid redis_url {redact(url)!r}: {message}"
        raise ValueError(message.replace(url, redact(url))) from None


class Plumbing(Protocol):
    """What a cluster's parts (leases, commits, streams, health) read of it: ``Cluster`` is one.

    Its Redis, its keys and settings, and how a command is run (``guard``, ``script``); typed
    so, the parts import nothing of the ``Cluster`` that imports them.
    """

    name: str
    partitions: int
    stream_maxlen: int
    timeout: float
    keys: Keys
    clock: Callable[[], float]
    resets: int
    redis: AnyRedis

    def guard(self) -> AbstractAsyncContextManager[None]: ...

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any: ...

    def check_config(self, partitions: object) -> None: ...

    def observe(self, epoch: str, created: bool) -> None: ...
