"""The aiohttp transport: the only module that imports aiohttp, and where its errors are mapped.

It borrows a caller's ``ClientSession`` (and never closes it) or creates one and owns it. It
maps aiohttp's errors to ``TransportError`` (keeping aiohttp's as the cause, without its
credential header) and refuses a body larger than ``max_body_size`` unread; masking and logging
are ``_transport.send_once``'s, the one path every request takes (an aiohttp parser error can
quote response bytes, and so an echoed secret: the proxy's password is among the secrets the
client's protocol masks). It changes nothing process-wide: ``bkjob_async.tuning`` has what a
program may opt into.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from typing import TYPE_CHECKING

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import errors
from ._protocol import KeptQuery, Request, Response
from ._tls import ClientCert, SslOption, check_proxy, ssl_option

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .config import Timeouts

__all__ = ["DEFAULT_KEPT_URLS", "DEFAULT_MAX_BODY_SIZE", "AiohttpTransport"]

#: The largest response body read by default: 64 MiB.
DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024
#: How many requests keep the URL derived for them by default (``AiohttpTransport``).
DEFAULT_KEPT_URLS = 1024
#: How many URLs without their queries the transport keeps to derive poll URLs from.
_BASES = 64


def _url(request: Request, base: URL | None = None) -> URL:
    """Return the URL ``request`` goes to, query included, as aiohttp's ``params=`` builds it.

    A ``KeptQuery`` (a poll's) gives its text, the scope's part of it encoded once. ``base``:
    ``URL(request.url)``, parsed already (``AiohttpTransport._keep``).
    """
    try:
        url = URL(request.url) if base is None else base
        query: object = request.query
        if isinstance(query, KeptQuery):
            return url.extend_query(query.text())
        return url.extend_query(request.query) if query else url
    except ValueError as exc:  # (aiohttp's own error for a URL it cannot read)
        raise aiohttp.InvalidUrlClientError(request.url) from exc


class AiohttpTransport:
    """Send requests over one aiohttp session with explicit timeouts."""

    def __init__(
        self,
        *,
        timeouts: Timeouts,
        session: aiohttp.ClientSession | None = None,
        limit: int = 100,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        kept_urls: int = DEFAULT_KEPT_URLS,
        ssl: SslOption = True,
        client_cert: ClientCert | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(
                f"session must be an aiohttp.ClientSession, not {type(session).__name__}"
            )
        # aiohttp's ``connect`` covers waiting for a pooled connection plus connecting, as
        # ``Timeouts.connect`` promises (``sock_connect`` would let a starved pool wait forever).
        self._timeout = aiohttp.ClientTimeout(
            total=timeouts.total, connect=timeouts.connect, sock_read=timeouts.read
        )
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        if session is not None and (
            ssl is not True or client_cert is not None or proxy is not None or trust_env
        ):
            raise ValueError(
                "ssl=, client_cert=, proxy= and trust_env= configure the session the client "
                "creates: with session=, configure that session instead"
            )
        if not isinstance(trust_env, bool):
            raise TypeError(f"trust_env must be a bool, not {type(trust_env).__name__}")
        self._ssl = ssl_option(ssl, client_cert, trust_env=trust_env)
        self._proxy = check_proxy(proxy)
        self._trust_env = trust_env
        self._session = session
        self._owns_session = session is None
        self._limit = limit
        self._max_body = max_body_size
        #: Weak references to the queries alive whose request's URL is kept on them
        #: (``KeptQuery.prepared``), by the reference's id: at most ``kept_urls``.
        self._kept: dict[int, weakref.ref[KeptQuery]] = {}
        self._kept_urls = kept_urls
        #: The URLs poll requests go to, without their queries (``_keep``), by text.
        self._bases: dict[str, URL] = {}
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl),
            timeout=self._timeout,
            trust_env=self._trust_env,
        )
        return self._session

    async def send(self, request: Request) -> Response:
        """Send ``request``; map every aiohttp or socket error to a ``TransportError``."""
        if self._closed:
            # A retry after aclose() must not open a new session that nobody would close.
            raise RuntimeError("the transport is closed: its BkJobClient was closed")
        session = self._session or self._open()
        try:
            # Awaited and released by hand rather than ``async with``, as aiohttp documents:
            # the same release, without its five coroutines per request.
            query: object = request.query
            url = query.prepared if isinstance(query, KeptQuery) else None
            if not isinstance(url, URL):  # (a poll's request is sent again and again)
                url = self._keep(request)
            response = await session.request(
                request.method,
                url,
                data=request.body,
                headers=request.headers,
                timeout=self._timeout
                if request.timeout is None
                else self._timeouts.get(request.timeout) or self._total(request.timeout),
                allow_redirects=False,
                proxy=self._proxy,
            )
            try:
                length = response.content_length
                if (
                    length is not None
                    and length <= self._max_body
                    and "Content-Encoding" not in response.headers
                ):
                    body = await response.read()  # aiohttp reads exactly Content-Length bytes
                else:
                    body = await self._capped(request, response, length)
            finally:
                response.release()
            return Response(response.status, response.headers, body)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise _mapped(request, exc) from _bare(exc)

    def _keep(self, request: Request) -> URL:
        """Derive ``request``'s URL; keep it on its query if that is a ``KeptQuery`` (a poll's)
        and fewer than ``kept_urls`` are kept.

        A kept URL spares the next send of the request what yarl does to encode the query and
        work out the parts aiohttp reads, and costs the memory of the URL and of those parts
        (``benchmarks/HISTORY.md``, "Scale without pauses"). That memory is bounded for the
        transport, not paid per request: the first ``kept_urls`` poll requests alive keep theirs
        (a poll's request lives as long as its job is watched; a request that goes frees its
        place), and the URL of any other is derived at each send and dropped after it. None is
        ever taken back: a URL kept for a while then dropped would outlive the collector's
        young generations for nothing, and with more polled jobs than places every one would.
        """
        query: object = request.query
        if not isinstance(query, KeptQuery):
            return _url(request)
        # (the few URLs polls go to, parsed once: a poll's own URL is derived from its base)
        base = self._bases.get(request.url)
        if base is None:
            url = _url(request)  # (raises for a URL aiohttp cannot read)
            if len(self._bases) < _BASES:
                self._bases[request.url] = URL(request.url)
        else:
            url = _url(request, base)
        kept = self._kept
        if len(kept) < self._kept_urls:
            query.prepared = url
            ref = weakref.ref(query, self._gone)
            kept[id(ref)] = ref
        return url

    def _gone(self, ref: weakref.ref[KeptQuery]) -> None:
        """A request that kept its URL is gone: its place is free."""
        self._kept.pop(id(ref), None)

    async def _capped(
        self, request: Request, response: aiohttp.ClientResponse, length: int | None
    ) -> bytes:
        """Read a body of unknown (or compressed) size, refusing it once it passes the cap."""
        limit = self._max_body
        if length is not None and length > limit:
            raise _too_large(request, limit)
        chunks = []
        total = 0
        async for chunk in response.content.iter_any():
            total += len(chunk)
            if total > limit:
                raise _too_large(request, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _total(self, seconds: float) -> aiohttp.ClientTimeout:
        """Return the timeout of a request with its own deadline (a poll, say).

        The request is bounded by its deadline and by the client's ``Timeouts``, whichever is
        smaller: ``total`` is the smaller of the two; ``read`` (between bytes) and ``connect``
        are armed only when smaller than that total, since otherwise the total fires first (so
        a poll does not pay aiohttp's re-armed read timer for nothing). Such requests come from
        the poller, which never has more in flight than the pool has connections, so connecting
        is bounded where a socket is opened (``sock_connect``), not around every acquisition of
        a pooled one.
        """
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            base = self._timeout
            total = seconds if base.total is None else min(seconds, base.total)
            read, connect = base.sock_read, base.connect
            timeout = aiohttp.ClientTimeout(
                total=total,
                sock_connect=connect if connect is not None and connect < total else None,
                sock_read=read if read is not None and read < total else None,
            )
            self._timeouts[seconds] = timeout
        return timeout

    async def aclose(self) -> None:
        """Close the session if this transport created it; sending afterwards is an error."""
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _too_large(request: Request, limit: int) -> errors.ResponseRefusedError:
    return errors.ResponseRefusedError(
        f"{request.api}: the response body is larger than max_body_size ({limit:,} bytes); "
        "refused without reading it"
    )


def _certificate_failure(exc: BaseException) -> str | None:
    """Say what failed if ``exc`` is TLS failing on a certificate (ours or the server's)."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, aiohttp.ClientConnectorCertificateError):
            error = error.certificate_error
        if isinstance(error, ssl.SSLCertVerificationError):
            why = getattr(error, "verify_message", None) or error.reason or error
            return f"the server's certificate did not verify ({why})"
        reason = getattr(error, "reason", None)
        if isinstance(error, ssl.SSLError) and reason and "CERTIFICATE" in str(reason):
            return f"the server refused the client certificate ({reason})"
        error = getattr(error, "os_error", None) or error.__cause__ or error.__context__
    return None


def _bare(exc: BaseException) -> BaseException:
    """Return aiohttp's ``exc`` fit to keep as a cause: no credential header, no frames.

    Its ``request_info`` (and the same in its ``args``) would hold the request's headers, the
    ``X-Bkapi-Authorization`` one in clear, and its traceback's frames the headers as locals.
    """
    info = getattr(exc, "request_info", None)
    if isinstance(info, aiohttp.RequestInfo):
        masked = aiohttp.RequestInfo(
            info.url, info.method, _masked_headers(info.headers), info.real_url
        )
        exc.args = tuple(masked if arg is info else arg for arg in exc.args)
        exc.request_info = masked  # type: ignore[attr-defined]
    return exc.with_traceback(None)


def _masked_headers(headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(
        CIMultiDict(
            (k, "***" if k.lower() in _CREDENTIAL_HEADERS else v) for k, v in headers.items()
        )
    )


#: Request headers that carry credentials (never kept on an error).
_CREDENTIAL_HEADERS = frozenset({"x-bkapi-authorization", "authorization", "cookie"})


def _mapped(request: Request, exc: BaseException) -> errors.TransportError:
    """Return the ``TransportError`` that stands for an aiohttp or socket error."""
    where = f"{request.api}: {request.method} {request.url}"
    certificate = _certificate_failure(exc)
    if certificate is not None:
        host = URL(request.url).host
        return errors.CertificateError(f"{where}: TLS with {host}: {certificate}")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return errors.ConnectTimeoutError(f"{where}: connect timed out")
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return errors.TimeoutError(f"{where}: timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return errors.ConnectError(f"{where}: cannot connect: {exc.os_error}")
    return errors.TransportError(f"{where}: {type(exc).__name__}: {exc}")
