"""Rule: a bk-job callback is only a hint that a job ended, handed to a sink as it arrives.

Receive bk-job's job-end callbacks: a hint that a job ended, handed to a sink as it arrives.

Every launch takes a ``callback_url``; when the job ends, bk-job POSTs to it the JSON
``{"job_instance_id": ..., "status": ..., "step_instances": [{"step_instance_id": ...,
"status": ...}]}``, and, when the answer is not HTTP 200, the same JSON text once more labelled
``application/x-www-form-urlencoded``. Nothing more: a URL its egress whitelist refuses gets
nothing, and a callback lost twice is lost. So a callback is a hint that makes an end visible
sooner, never the truth: whoever receives it reads the job's status to know.

``CallbackReceiver`` answers those posts and hands each accepted one to a sink, a plain
function ``sink(callback)`` (``Callback``: the job, its status, its steps' statuses). Run it
either way:

- mounted in your own aiohttp application: ``receiver.add_routes(app, prefix="/bkjob")``
  adds ``POST /bkjob/callback/<token>``; say where bk-job reaches your app with
  ``base_url=``;
- or on a small server of its own: ``async with CallbackReceiver(sink, host=..., port=...)``.

``receiver.callback_url`` is the URL to pass as a launch's ``callback_url``. It carries an
unguessable token (``secrets.token_urlsafe``): a request without it is answered 404 before its
body is read, and the sink never sees it. The token is a secret like ``app_secret``: it never
appears in a log record, repr or message of this package, and ``add_routes`` masks it in
aiohttp's access and server logs (``aiohttp.access``, ``aiohttp.server``, ``aiohttp.web``).
A body that is not such a JSON object is 400, one over ``max_body`` bytes 413, a method other
than POST 405, a body not received within ``timeout`` seconds 408; a sink that raises makes
the answer 500 (bk-job then posts once more). On its own server a connection whose request
line and headers take longer than ``timeout`` is closed, as is one idle that long after an
answer (as nginx's 60 s ``client_header_timeout``, ``client_body_timeout`` and
``keepalive_timeout``): slow clients cannot hold connections open. Mounted in an app, the headers are that server's business.
``receiver.statistics()`` counts each outcome.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from typing import TYPE_CHECKING, Any

import anyio.abc
import attrs

from .. import _json
from .._checks import check_int, check_number, is_int
from .._secrets import Redactor
from ..errors import BkJobError
from ..models.enums import JobStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp import web
    from aiohttp.web_protocol import RequestHandler

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_TIMEOUT",
    "Callback",
    "CallbackBindError",
    "CallbackReceiver",
    "CallbackStatistics",
]


# --- callback_io ---------------------------------------------------------------------------------
#
# What the callback receiver needs around aiohttp: its token masked in aiohttp's logs, a body
# read within a bound, a path prefix checked; no policy of its own (``callbacks`` has it).


#: The aiohttp loggers that may quote a request line (and so the token) in a mounted app.
_AIOHTTP_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web")


class _TokenFilter(logging.Filter):
    """Mask the tokens of live receivers in the records of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__("bkjob_async.callbacks")
        self.tokens: dict[int, str] = {}
        self._redactor = Redactor(())

    def update(self) -> None:
        self._redactor = Redactor(self.tokens.values())

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.tokens:
            return True
        message = record.getMessage()
        masked = self._redactor(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_FILTER = _TokenFilter()


def mask_in_aiohttp_logs(owner: int, token: str | None) -> None:
    """Add (``token``) or remove (``None``) one receiver's token from the aiohttp log filter."""
    if token is None:
        _FILTER.tokens.pop(owner, None)
    else:
        _FILTER.tokens[owner] = token
    _FILTER.update()
    for name in _AIOHTTP_LOGGERS:
        log = logging.getLogger(name)
        if _FILTER.tokens and _FILTER not in log.filters:
            log.addFilter(_FILTER)
        elif not _FILTER.tokens:
            log.removeFilter(_FILTER)


async def read_bounded(request: web.Request, limit: int) -> bytes | None:
    """Return the body, or ``None`` once it is known to exceed ``limit`` bytes."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None


def clean_prefix(prefix: str) -> str:
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    if "{" in prefix or "}" in prefix:
        raise ValueError("the prefix cannot hold '{' or '}'")
    return prefix


# --- callbacks -----------------------------------------------------------------------------------


logger = logging.getLogger("bkjob_async.polling.callbacks")


#: The largest callback body accepted, in bytes (a job with a thousand steps fits in 64 KiB).
DEFAULT_MAX_BODY = 64 * 1024


#: Seconds a callback's headers, and then its body, may take to arrive (nginx's defaults).
DEFAULT_TIMEOUT = 60.0


_INT_MAX = (1 << 63) - 1


_CODE_MAX = (1 << 31) - 1


@attrs.frozen
class Callback:
    """One job-end callback as bk-job sends it: the job, its status, and each step's status.

    ``step_instances`` holds ``(step_instance_id, status)`` pairs in the order bk-job sent them.
    A status code the package does not know parses to a pseudo-member that keeps its value.
    """

    job_instance_id: int
    status: JobStatus
    step_instances: tuple[tuple[int, JobStatus], ...] = ()

    @classmethod
    def parse(cls, body: bytes | str) -> Callback:
        """Return the callback in a body bk-job posted, or raise ``ValueError``.

        The body is the JSON object whatever its content type says (bk-job's second post labels
        the same JSON text form-urlencoded). ``step_instances`` may be missing or null (no
        steps); the key the documentation names, ``step_instance_list``, is read as well.
        """
        try:
            data = _json.loads(body)
        except _json.TooDeep as exc:
            raise ValueError(str(exc)) from None
        except (ValueError, RecursionError):
            raise ValueError("the body is not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("the body is not a JSON object")
        job_id = _integer(data, "job_instance_id", 1, _INT_MAX)
        status = JobStatus.of(_integer(data, "status", 0, _CODE_MAX))
        rows = data.get("step_instances", data.get("step_instance_list"))
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            raise ValueError("step_instances is not a list")
        steps = []
        for row in rows:
            if not isinstance(row, dict):
                raise ValueError("a step_instances row is not an object")
            step_id = _integer(row, "step_instance_id", 1, _INT_MAX)
            steps.append((step_id, JobStatus.of(_integer(row, "status", 0, _CODE_MAX))))
        return cls(job_id, status, tuple(steps))


def _integer(data: dict[str, Any], key: str, low: int, high: int) -> int:
    value = data.get(key)
    if not is_int(value) or not low <= value <= high:
        raise ValueError(f"{key} is missing or not an integer in [{low}, {high}]")
    return value


@attrs.frozen
class CallbackStatistics:
    """A snapshot of what a ``CallbackReceiver`` answered, by outcome.

    ``accepted``: handed to the sink (200). ``refused_token``: a wrong or missing token (404,
    body not read). ``malformed``: not a callback (400). ``too_large``: over ``max_body`` (413).
    ``wrong_method``: right token, not POST (405). ``sink_errors``: the sink raised (500).
    ``timed_out``: the headers (connection closed) or the body (408) came too slowly.
    """

    accepted: int = 0
    refused_token: int = 0
    malformed: int = 0
    too_large: int = 0
    wrong_method: int = 0
    sink_errors: int = 0
    timed_out: int = 0


class CallbackBindError(BkJobError, OSError):
    """The receiver cannot listen on its host and port (in use, not permitted, no such address).

    An ``OSError`` too: ``errno`` is the one the bind failed with.
    """


class CallbackReceiver(anyio.abc.AsyncResource):
    """Answer bk-job's job-end callbacks and hand each accepted one to ``sink``.

    Mounted: ``receiver.add_routes(app, prefix="/bkjob")`` on your ``web.Application`` (give
    ``base_url``, where bk-job reaches that app, for ``callback_url``). On its own server:
    ``async with CallbackReceiver(sink, host="0.0.0.0", port=8080, base_url=...)``; with the
    default ``host="127.0.0.1"`` and ``port=0`` it listens on a free local port and
    ``callback_url`` names it. A port that cannot be bound raises ``CallbackBindError``.

    ``sink(callback)`` runs in the request's handler: keep it quick and non-blocking (note the
    job, wake a task). A callback is a hint; the sink sees replays and strays too (each
    accepted post is handed over), so it should treat one as "look at this job now".

    :param sink: called with each accepted ``Callback``
    :param host: the address the receiver's own server listens on
    :param port: its port (0: a free one)
    :param base_url: the scheme, host and port bk-job reaches the receiver at, e.g.
        ``"http://10.0.0.5:8080"`` (default: the address its own server listens on)
    :param prefix: the path under which ``/callback/<token>`` is served
    :param max_body: the largest body accepted, in bytes (413 beyond)
    :param token: the secret path segment (default: ``secrets.token_urlsafe(32)``); give one
        only to keep a URL valid across restarts, and make it long and random
    :param timeout: seconds the headers (own server), then the body, may take to arrive
    """

    def __init__(
        self,
        sink: Callable[[Callback], None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        base_url: str | None = None,
        prefix: str = "/bkjob",
        max_body: int = DEFAULT_MAX_BODY,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if check_int(max_body, "max_body") < 1:
            raise ValueError("max_body must be >= 1")
        if not (check_number(timeout, "timeout") > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout}")
        check_int(port, "port")
        if token is not None and (len(token) < 16 or "/" in token):
            raise ValueError("a token needs 16 characters or more and no '/'")
        self._sink = sink
        self._host, self._port = host, port
        self._base_url = base_url.rstrip("/") if base_url else None
        self._prefix = clean_prefix(prefix)
        self._max_body = max_body
        self._timeout = float(timeout)
        #: The connections of the own server whose request reached the handler, until their
        #: check (``_watch``): a connection is in it ``timeout`` seconds at most.
        self._begun: set[RequestHandler] = set()
        self._server: asyncio.AbstractServer | None = None
        self._token = token or secrets.token_urlsafe(32)
        self._redact = Redactor([self._token])
        self._runner: web.AppRunner | None = None
        self._bound: int | None = None
        self._mounted = False
        self._counts: dict[str, int] = dict.fromkeys(attrs.fields_dict(CallbackStatistics), 0)

    # -- where ---------------------------------------------------------------------------------

    @property
    def callback_url(self) -> str:
        """Return the URL to give a launch as ``callback_url`` (it holds the secret token)."""
        return f"{self._base()}{self._prefix}/callback/{self._token}"

    @property
    def path(self) -> str:
        """Return the path the receiver serves, with the token masked (for logs and docs)."""
        return f"{self._prefix}/callback/***"

    def _base(self) -> str:
        if self._base_url is not None:
            return self._base_url
        if self._bound is None:
            raise RuntimeError(
                "the receiver has no URL yet: start it (async with), or pass base_url= "
                "(where bk-job reaches the app it is mounted on)"
            )
        if self._host in ("", "0.0.0.0", "::"):
            raise RuntimeError(
                f"the receiver listens on every address ({self._host or '*'}): pass base_url= "
                "to say which one bk-job reaches"
            )
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._bound}"

    def __repr__(self) -> str:
        where = "not started" if self._bound is None else f"port {self._bound}"
        if self._mounted:
            where = "mounted" if self._bound is None else f"{where}, mounted"
        return f"<CallbackReceiver {self.path} ({where}) accepted={self._counts['accepted']}>"

    # -- mounting ------------------------------------------------------------------------------

    def add_routes(self, app: web.Application, prefix: str | None = None) -> None:
        """Serve ``POST {prefix}/callback/<token>`` in ``app`` (prefix: the constructor's).

        Requests under ``{prefix}/callback`` with another token are answered 404 and counted
        in ``refused_token``. Also masks the token in aiohttp's loggers while the receiver
        lives (until ``aclose``).
        """
        if prefix is not None:
            self._prefix = clean_prefix(prefix)
        self._route(app)
        self._mounted = True

    def _route(self, app: web.Application) -> None:
        app.router.add_route("*", f"{self._prefix}/callback", self._handle)
        app.router.add_route("*", f"{self._prefix}/callback/{{token:.*}}", self._handle)
        mask_in_aiohttp_logs(id(self), self._token)

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> CallbackReceiver:
        await self.start()
        return self

    async def start(self) -> None:
        """Start the receiver's own server on ``host``:``port``; raise ``CallbackBindError``.

        The server has no task of its own: aiohttp serves each request in its handler.
        """
        if self._runner is not None:
            raise RuntimeError("the receiver is already started")
        from aiohttp import web  # (here: the poller's process needs no server)

        app = web.Application(client_max_size=self._max_body + 1)
        self._route(app)
        # After each answer, aiohttp closes a kept-alive connection idle for ``keepalive_timeout``
        # (a next request's headers still incomplete included); ``_watch`` bounds the first.
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=0.5,
            keepalive_timeout=self._timeout,
        )
        await runner.setup()
        server = runner.server
        assert server is not None
        try:
            self._server = await asyncio.get_running_loop().create_server(
                lambda: self._watch(server()), self._host, self._port
            )
        except OSError as error:
            await runner.cleanup()
            mask_in_aiohttp_logs(id(self), None)
            reason = error.strerror or str(error)
            raise CallbackBindError(
                error.errno,
                f"cannot listen for bk-job callbacks on {self._host}:{self._port}: {reason}",
            ) from None
        self._runner = runner
        self._bound = int(self._server.sockets[0].getsockname()[1])

    def _watch(self, handler: RequestHandler) -> RequestHandler:
        """Close the connection of ``handler`` if no request reaches ``_handle`` in time."""
        asyncio.get_running_loop().call_later(self._timeout, self._expire, handler)
        return handler

    def _expire(self, handler: RequestHandler) -> None:
        transport = handler.transport
        if handler in self._begun or transport is None or transport.is_closing():
            self._begun.discard(handler)
            return
        self._counts["timed_out"] += 1
        logger.debug("a callback connection sent no complete request in time: closed")
        handler.force_close()
        transport.abort()

    async def aclose(self) -> None:
        """Stop the receiver's own server, if it runs, and stop masking its token in logs.

        A mounted receiver keeps answering in its app; its token is no longer masked there.
        """
        runner, self._runner = self._runner, None
        server, self._server = self._server, None
        try:
            if server is not None:
                server.close()
            if runner is not None:
                await runner.cleanup()
        finally:
            mask_in_aiohttp_logs(id(self), None)

    # -- answering -----------------------------------------------------------------------------

    def statistics(self) -> CallbackStatistics:
        """Return a snapshot of the counts of each outcome so far."""
        return CallbackStatistics(**self._counts)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._server is not None:
            self._begun.add(request.protocol)
        return await self._answer(request)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        given = request.match_info.get("token", "")
        if not secrets.compare_digest(given.encode(), self._token.encode()):
            self._counts["refused_token"] += 1
            raise web.HTTPNotFound()
        if request.method != "POST":
            self._counts["wrong_method"] += 1
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        with anyio.move_on_after(self._timeout) as waited:
            body = await read_bounded(request, self._max_body)
        if waited.cancelled_caught:
            self._counts["timed_out"] += 1
            response = web.Response(status=408, text="408: Request Timeout")
            response.force_close()
            return response
        if body is None:
            self._counts["too_large"] += 1
            return web.Response(status=413, text="413: Request Entity Too Large")
        try:
            callback = Callback.parse(body)
        except ValueError as error:
            self._counts["malformed"] += 1
            logger.debug("a malformed bk-job callback: %s", error)
            return web.Response(status=400, text=f"400: Bad Request ({error})")
        try:
            self._sink(callback)
        except Exception as error:
            self._counts["sink_errors"] += 1
            logger.warning(
                "the callback sink failed on job %d: %s",
                callback.job_instance_id,
                self._redact(f"{type(error).__name__}: {error}"),
            )
            return web.Response(status=500, text="500: Internal Server Error")
        self._counts["accepted"] += 1
        return web.Response(text="ok")
