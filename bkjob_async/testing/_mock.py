"""``MockTransport``: the client, and so the poller, talks to a function in memory; no socket.

Rule: the one module of ``testing`` that touches the client's transport seam, and only its
two data types (``Request``, ``Response``); nothing here knows bk-job. A handler does: yours,
or the simulator's HTTP layer (``in_memory``). ``serve`` puts the same handlers on a socket.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.lowlevel
from multidict import CIMultiDict, CIMultiDictProxy

from .._protocol import Request, Response

__all__ = ["Handler", "MockTransport", "Request", "Response", "in_memory", "json_response"]

#: Answers one request: a ``Response``, or an awaitable of one.
Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport:
    """A transport that answers each request with ``handler(request)``: no socket, no port.

    ::

        def handler(request: Request) -> Response:
            assert request.api == "get_job_instance_status"
            return json_response({"result": True, "code": 0, "data": {...}})

        client = BkJobClient("http://bkjob.test", app_code="a", app_secret="s",
                             username="admin", transport=MockTransport(handler))

    The handler, plain or ``async``, sees the request as the client would send it (``api``,
    ``method``, ``url``, ``query``, ``headers``, ``body``) and returns a ``Response``.
    Raising ``bkjob_async.TransportError`` (or ``ConnectError``, ``TimeoutError``) stands for
    a network failure; the client retries it as it would a real one. Any other exception is
    the handler's own bug and propagates. ``BkJobSimulator.transport()`` is one of these with
    the simulator's whole world behind it; ``serve(handler)`` serves the same handler over
    real HTTP where the wire matters.
    """

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        self._handler = handler
        #: Requests answered so far.
        self.requests = 0

    async def send(self, request: Request) -> Response:
        """Return what the handler answers to ``request``.

        Other tasks run first, as they would while a socket waits: a poller whose jobs are
        always due never starves the rest of the program on a handler that answers at once.
        """
        await anyio.lowlevel.checkpoint()
        self.requests += 1
        answer: Any = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, Response):
            raise TypeError(
                f"a MockTransport handler must return a Response, not {type(answer).__name__}"
            )
        return answer

    async def aclose(self) -> None:
        """Nothing to release: there is no connection."""

    def __repr__(self) -> str:
        return f"MockTransport({self._handler!r}, requests={self.requests})"


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Return a ``Response`` whose body is ``payload`` as JSON (``Content-Type`` set)."""
    all_headers = CIMultiDict({"Content-Type": "application/json", **(headers or {})})
    return Response(status, CIMultiDictProxy(all_headers), json.dumps(payload).encode())


def in_memory(http: Handler) -> MockTransport:
    """Return a ``MockTransport`` that hands each request to the simulator's ``http`` layer
    (``_server.HttpLayer``: a handler)."""
    return MockTransport(http)
