"""Rule: the one aiohttp server of ``testing``; it knows nothing of bk-job beyond its paths.

``serve(handler)``: any ``MockTransport`` handler over real HTTP, on 127.0.0.1 port 0 by default.

Rule: the one aiohttp server of ``testing`` (the simulator is served by it too). An incoming
request becomes the ``Request`` the client would have handed ``MockTransport``; the handler's
``Response`` goes back as it is (status, headers, body bytes); a ``TransportError`` from the
handler drops the connection. Nothing here knows bk-job beyond where its paths name the API.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from typing import TYPE_CHECKING, Any

import anyio.abc
from aiohttp import web
from multidict import CIMultiDict

from .._protocol import Request, Response
from ..errors import TransportError

if TYPE_CHECKING:
    from ssl import SSLContext
    from types import TracebackType

    from ._mock import Handler

__all__ = ["HandlerServer", "ResetMidBody", "api_of", "request_of", "serve"]

_log = logging.getLogger("bkjob_async.testing")

_API_PATH = re.compile(
    r"^(?:/api/bk-job/[^/]+)?/api/v3/(?:system/)?(\w+)$|^/api/c/compapi/v2/jobv3?/(\w+)/?$"
)
#: Headers aiohttp writes itself from the body it sends.
_FRAMING = frozenset({"content-length", "transfer-encoding"})


class ResetMidBody(TransportError):
    """The connection drops after the headers of ``response`` and ``sent`` bytes of its body.

    Raised by a handler: ``serve`` sends that much and closes the socket (the client sees a
    body cut short); ``MockTransport`` hands it to the client as the ``TransportError`` it is.
    """

    def __init__(self, message: str, response: Response, sent: int) -> None:
        super().__init__(message)
        self.response, self.sent = response, sent


def api_of(path: str) -> str:
    """Return the API name in a URL path: the client's ``Request.api`` on the gateway and
    jobv3 paths, ESB v2's own name on v2 (``fast_push_file``, ``execute_job``); a path that
    names no bk-job API gives its last segment."""
    match = _API_PATH.match(path)
    if match is None:
        return path.rstrip("/").rsplit("/", 1)[-1]
    return match[1] or match[2]


async def request_of(incoming: web.BaseRequest) -> Request:
    """Return the ``Request`` a client handed its transport to send ``incoming``."""
    body = await incoming.read()
    return Request(
        api_of(incoming.path),
        incoming.method,
        str(incoming.url.with_query(None)),
        incoming.headers,
        query=dict(incoming.query) if incoming.query_string else None,
        body=body or None,
    )


class HandlerServer(anyio.abc.AsyncResource):
    """Serve ``handler`` over HTTP: ``async with serve(handler) as server: ... server.url``.

    Each request is turned into a ``Request`` (``api`` from the path, ``method``, ``url``
    without the query, ``query``, every received header, ``body``; ``idempotent`` and
    ``timeout`` keep their defaults, the wire does not carry them) and answered with the
    handler's ``Response``, byte for byte (aiohttp adds ``Content-Length``, ``Date`` and
    ``Server``). A handler raising ``TransportError`` drops the connection without an answer
    (``ResetMidBody``: after part of one). Any other exception is the handler's own bug: the
    client gets a 500 (``text/plain``, naming the exception type), the error is logged and
    kept in ``errors``, and leaving the ``async with`` block raises the first one unless the
    block raised itself.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_timeout: float = 0.5,
        ssl: SSLContext | None = None,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        self.handler = handler
        self._host, self._port, self._shutdown = host, port, shutdown_timeout
        self._ssl = ssl
        self._runner: web.AppRunner | None = None
        self._bound: int | None = None
        #: The handler's own errors (not ``TransportError``), in order.
        self.errors: list[Exception] = []
        #: Requests received so far.
        self.requests = 0

    async def __aenter__(self) -> HandlerServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.aclose()
        if exc_type is None and self.errors:
            raise self.errors[0]

    async def start(self) -> None:
        """Start listening; a server starts once."""
        if self._runner is not None:
            raise RuntimeError("the server is already started")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=self._shutdown
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port, ssl_context=self._ssl).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound = int(runner.addresses[0][1])

    async def aclose(self) -> None:
        """Stop listening and close every connection (handlers still running are cancelled)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._bound is None:
            raise RuntimeError("the server is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{'http' if self._ssl is None else 'https'}://{host}:{self._bound}"

    async def _serve(self, incoming: web.Request) -> web.StreamResponse:
        self.requests += 1
        request = await request_of(incoming)
        try:
            answer: Any = self.handler(request)
            if inspect.isawaitable(answer):
                answer = await answer
            if not isinstance(answer, Response):
                raise TypeError(f"a handler must return a Response, not {type(answer).__name__}")
        except ResetMidBody as reset:
            return await _reset(incoming, reset.response, reset.sent)
        except TransportError:
            return await _drop(incoming)
        except Exception as error:
            _log.exception("the handler of %s failed on %s", self.url, request.api)
            self.errors.append(error)
            return web.Response(status=500, text=f"the handler failed: {type(error).__name__}")
        headers = CIMultiDict(
            (k, v) for k, v in answer.headers.items() if k.lower() not in _FRAMING
        )
        return web.Response(status=answer.status, body=answer.body, headers=headers)

    def __repr__(self) -> str:
        where = self.url if self._bound is not None else "not started"
        return f"HandlerServer({self.handler!r}, {where})"


def serve(
    handler: Handler, *, host: str = "127.0.0.1", port: int = 0, shutdown_timeout: float = 0.5
) -> HandlerServer:
    """Return a server for ``handler``; ``async with`` starts it and stops it (``HandlerServer``).

    ``shutdown_timeout`` is how long closing waits for handlers still running before it
    cancels them.
    """
    return HandlerServer(handler, host=host, port=port, shutdown_timeout=shutdown_timeout)


async def _drop(incoming: web.BaseRequest) -> web.StreamResponse:
    """Close the connection without an answer."""
    if incoming.transport is not None:
        incoming.transport.close()
    await asyncio.sleep(0)
    return web.Response()


async def _reset(incoming: web.BaseRequest, answer: Response, sent: int) -> web.StreamResponse:
    """Send the headers of ``answer`` and ``sent`` bytes of its body, then drop the connection."""
    headers = CIMultiDict((k, v) for k, v in answer.headers.items() if k.lower() not in _FRAMING)
    response = web.StreamResponse(status=answer.status, headers=headers)
    response.content_length = len(answer.body)
    await response.prepare(incoming)
    await response.write(answer.body[:sent])
    if incoming.transport is not None:
        incoming.transport.close()
    return response
