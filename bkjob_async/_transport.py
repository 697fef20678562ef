"""The transport seam: what a transport must do, and the one request path every request takes.

A transport turns a ``Request`` into a ``Response`` or raises ``TransportError``; it knows
nothing of bk-job, masks nothing and logs nothing. ``send_once`` is the one path every request
takes, whatever the transport (``sender(transport, protocol)`` binds it): it sends once, masks
the secrets a transport error may quote (a garbled response can echo them; see
``bkjob_async._secrets``) with ``protocol.redact``, and logs method, API, status and timing at
DEBUG (``log_sent``), never headers or bodies. ``call`` (the client's retry loop) deciphers on
top of it; the poller deciphers what it must and applies its own failure policy.
``Protocol.decipher`` masks every error it raises, so a caller of these never sees a secret.
Instruments (``BkJobClient(instruments=...)``: metrics) wrap the transport when the client is
made, under this path.
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ._tracing import answer_attributes, api_attributes, tracer
from .errors import (
    BkJobError,
    ConnectError,
    QuotaExceededError,
    RateLimitedError,
    TransportError,
)
from .errors import TimeoutError as CallTimeoutError

if TYPE_CHECKING:
    import random

    from ._protocol import Protocol as BkJobProtocol
    from ._protocol import Request, Response
    from .config import RetryPolicy

__all__ = [
    "Instrument",
    "Sleep",
    "Transport",
    "call",
    "is_retryable",
    "log_sent",
    "masked_error",
    "send_once",
    "sender",
    "wrapped",
]

logger = logging.getLogger("bkjob_async")

Sleep = Callable[[float], Awaitable[Any]]


class Transport(Protocol):
    """Send one request; ``aclose`` frees what the transport owns."""

    async def send(self, request: Request) -> Response:
        """Return the response, or raise ``bkjob_async.TransportError``.

        A transport that caps the size of a body raises ``ResponseFormatError`` beyond it.
        """
        ...

    async def aclose(self) -> None:
        """Release connections the transport owns (never a session it borrowed)."""
        ...


class Instrument(Protocol):
    """What wraps a client's transport when the client is made (``PollerMetrics``, say)."""

    def wrap(self, transport: Transport) -> Transport:
        """Return a transport that passes every request on to ``transport``."""
        ...


def wrapped(transport: Transport, instruments: Iterable[Instrument]) -> Transport:
    """Return ``transport`` wrapped by each of ``instruments`` in turn (the first innermost)."""
    for instrument in instruments:
        if not callable(getattr(instrument, "wrap", None)):
            raise TypeError(
                "instruments= takes objects with a wrap(transport) method (such as "
                f"bkjob_async.metrics.PollerMetrics), not {type(instrument).__name__}"
            )
        transport = instrument.wrap(transport)
    return transport


def is_retryable(exc: BkJobError, idempotent: bool) -> bool:
    """Tell whether sending the request again is safe and may help.

    Reads retry any transient failure. Operations and launches retry only when the request
    provably never reached bk-job: no connection was made, or a rate limiter (ESB or gateway)
    turned it away before anything ran. Nothing retries a full running-job quota
    (``QuotaExceededError``): a slot frees when a running job ends, not after a backoff, so
    the caller decides when to launch again.
    """
    if isinstance(exc, QuotaExceededError):
        return False
    if idempotent:
        return bool(getattr(exc, "transient", False))
    return isinstance(exc, (ConnectError, RateLimitedError))


def masked_error(exc: TransportError, redact: Callable[[str], str]) -> TransportError | None:
    """Return a copy of ``exc`` with its message masked, or ``None`` if nothing in it needs it.

    The copy has no cause and no context: a chained error (aiohttp's, say) quoting response
    bytes would show in a traceback. It is of the same class, or (for a subclass whose
    constructor takes more than a message) of the nearest class of ``bkjob_async.errors``.
    """
    shown = "".join(traceback.format_exception(type(exc), exc, None))
    if redact(shown) == shown:
        return None
    message = redact(str(exc))
    for cls in type(exc).__mro__:
        if issubclass(cls, TransportError):
            try:
                return cls(message)
            except TypeError:
                continue
    return TransportError(message)


def log_sent(request: Request, outcome: str, started: float) -> None:
    """Log one sent request at DEBUG: method, API, outcome and time since ``started``."""
    logger.debug(
        "%s %s -> %s in %.1f ms",
        request.method,
        request.api,
        outcome,
        (time.perf_counter() - started) * 1000,
    )


def sender(
    transport: Transport, protocol: BkJobProtocol
) -> Callable[[Request], Awaitable[Response]]:
    """Return ``send_once`` bound to ``transport`` and ``protocol``: the one way to send."""
    return functools.partial(send_once, transport, protocol)


async def send_once(transport: Transport, protocol: BkJobProtocol, request: Request) -> Response:
    """Send ``request`` once through ``transport``; raise its error with secrets masked.

    The response is returned as is; ``protocol.decipher`` reads it (and masks its errors).
    """
    debug = logger.isEnabledFor(logging.DEBUG)
    started = time.perf_counter() if debug else 0.0
    try:
        response = await transport.send(request)
    except TransportError as exc:
        if debug:
            log_sent(request, type(exc).__name__, started)
        copy = masked_error(exc, protocol.redact)
        if copy is None:
            raise
        error = copy
    else:
        if debug:
            log_sent(request, f"HTTP {response.status}", started)
        return response
    # Raised outside the handler, so the masked copy has no context quoting the original.
    raise error


async def call(
    transport: Transport,
    protocol: BkJobProtocol,
    request: Request,
    *,
    retry: RetryPolicy,
    sleep: Sleep,
    rng: random.Random,
    deadline: float | None = None,
) -> Any:
    """Send ``request`` until it succeeds or fails for good; return the envelope's ``data``.

    ``deadline`` (seconds, ``Timeouts.call``) bounds the whole call on the event loop's clock:
    every attempt and every wait between attempts. An attempt still waiting for its answer
    then is cancelled and the call raises ``bkjob_async.TimeoutError``; a retry whose wait
    would end past it is not made, and the last attempt's error is raised at once.
    With spans on (``_tracing``), one span named ``bkjob <api>`` covers every attempt.
    """
    limit = _Limit(deadline)
    found = tracer()
    if found is None:
        return await _retrying(transport, protocol, request, retry, sleep, rng, None, limit)
    attributes = api_attributes(
        protocol.flavor.value,
        request.method,
        request.scope,
        request.job_instance_id,
        request.step_instance_id,
    )
    with found.start_as_current_span(
        f"bkjob {request.api}",
        kind=_client_kind(),
        attributes=attributes,
        record_exception=False,  # (a message may quote what the server echoed: never kept)
        set_status_on_exception=False,
    ) as span:
        try:
            return await _retrying(transport, protocol, request, retry, sleep, rng, span, limit)
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__name__)
            if isinstance(exc, Exception):
                span.set_status(_error_status())
            raise


async def _retrying(
    transport: Transport,
    protocol: BkJobProtocol,
    request: Request,
    retry: RetryPolicy,
    sleep: Sleep,
    rng: random.Random,
    span: Any,
    limit: _Limit,
) -> Any:
    """The retry loop; with a ``span``, a ``retry`` event each time and ``bkjob.retries``."""
    send = sender(transport, protocol)
    attempt = 1
    try:
        while True:
            try:
                if limit.seconds is None:
                    response = await send(request)
                else:
                    response = await limit.send(send, request, attempt)
                data = protocol.decipher(request, response, now=time.time())
                if span is not None and isinstance(data, dict):  # a launch's new job, say
                    span.set_attributes(answer_attributes(data))
                return data
            except BkJobError as exc:
                if attempt >= retry.max_attempts or not is_retryable(exc, request.idempotent):
                    raise
                delay = retry.delay(attempt, getattr(exc, "retry_after", None), rng=rng)
                if not limit.allows(delay):
                    logger.info(
                        "%s failed (%s: %s); no retry: the call's deadline (%g s) is near",
                        request.api,
                        type(exc).__name__,
                        exc,
                        limit.seconds,
                    )
                    raise
                logger.info(
                    "%s failed (%s: %s); retry %d/%d in %.2f s",
                    request.api,
                    type(exc).__name__,
                    exc,
                    attempt,
                    retry.max_attempts - 1,
                    delay,
                )
                if span is not None:
                    error = type(exc).__name__
                    event = {"bkjob.attempt": attempt, "error.type": error, "bkjob.delay": delay}
                    span.add_event("retry", event)
                await sleep(delay)
                attempt += 1
    finally:
        if span is not None:
            span.set_attribute("bkjob.retries", attempt - 1)


class _Limit:
    """One call's deadline (``Timeouts.call``) on the event loop's clock, from when it was made."""

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.end = 0.0 if seconds is None else anyio.current_time() + seconds

    def allows(self, delay: float) -> bool:
        """Tell whether a retry after ``delay`` seconds would start before the deadline."""
        return self.seconds is None or anyio.current_time() + delay < self.end

    async def send(
        self, send: Callable[[Request], Awaitable[Response]], request: Request, attempt: int
    ) -> Response:
        """Send once within what is left of the deadline, or raise ``TimeoutError``."""
        with anyio.move_on_after(self.end - anyio.current_time()):
            return await send(request)
        # Only the scope's own deadline gets here: a return leaves above, an error propagates.
        raise CallTimeoutError(
            f"{request.api}: no answer within the call's deadline of {self.seconds:g} s "
            f"({attempt} attempt{'s' if attempt > 1 else ''}; Timeouts(call=...) sets it)"
        )


def _client_kind() -> Any:
    from opentelemetry.trace import SpanKind  # type: ignore[import-not-found,unused-ignore]

    return SpanKind.CLIENT


def _error_status() -> Any:
    from opentelemetry.trace import (  # type: ignore[import-not-found,unused-ignore]
        Status,
        StatusCode,
    )

    return Status(StatusCode.ERROR)
