"""The transport seam: what a transport must do, and the one retry loop every call goes through.

A transport turns a ``Request`` into a ``Response`` or raises ``TransportError``; it knows
nothing of bk-job. ``call`` adds deciphering and retries; it logs method, API, status and timing,
never headers or bodies (they may carry secrets).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from .errors import BkJobError, ConnectError, RateLimitedError, TransportError

if TYPE_CHECKING:
    import random

    from ._protocol import Protocol as BkJobProtocol
    from ._protocol import Request, Response
    from .config import RetryPolicy

__all__ = ["Sleep", "Transport", "call", "is_retryable"]

logger = logging.getLogger("bkjob_async")

Sleep = Callable[[float], Awaitable[Any]]


class Transport(Protocol):
    """Send one request; ``aclose`` frees what the transport owns."""

    async def send(self, request: Request) -> Response:
        """Return the response, or raise ``bkjob_async.TransportError``."""
        ...

    async def aclose(self) -> None:
        """Release connections the transport owns (never a session it borrowed)."""
        ...


def is_retryable(exc: BkJobError, idempotent: bool) -> bool:
    """Tell whether sending the request again is safe and may help.

    Reads retry any transient failure. Operations and launches retry only when the request
    provably never reached bk-job: no connection was made, or a rate limiter (ESB, gateway or
    Job's quota) turned it away before anything ran.
    """
    if idempotent:
        return bool(getattr(exc, "transient", False))
    return isinstance(exc, (ConnectError, RateLimitedError))


async def call(
    transport: Transport,
    protocol: BkJobProtocol,
    request: Request,
    *,
    retry: RetryPolicy,
    sleep: Sleep,
    rng: random.Random,
) -> Any:
    """Send ``request`` until it succeeds or fails for good; return the envelope's ``data``."""
    attempt = 1
    while True:
        started = time.perf_counter()
        try:
            try:
                response = await transport.send(request)
            except TransportError as exc:
                # A garbled response can quote what the server echoed, secrets included.
                message = protocol.redact(str(exc))
                if message == str(exc):
                    raise
                raise type(exc)(message) from None
            logger.debug(
                "%s %s -> HTTP %d in %.1f ms",
                request.method,
                request.api,
                response.status,
                (time.perf_counter() - started) * 1000,
            )
            return protocol.decipher(request, response)
        except BkJobError as exc:
            if attempt >= retry.max_attempts or not is_retryable(exc, request.idempotent):
                raise
            delay = retry.delay(attempt, getattr(exc, "retry_after", None), rng=rng)
            logger.info(
                "%s failed (%s: %s); retry %d/%d in %.2f s",
                request.api,
                type(exc).__name__,
                exc,
                attempt,
                retry.max_attempts - 1,
                delay,
            )
            await sleep(delay)
            attempt += 1
