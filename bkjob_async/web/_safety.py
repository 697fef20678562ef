"""What keeps the dashboard safe: its headers, and the checks an operation must pass.

Rule: every answer carries a strict Content-Security-Policy (scripts, styles and connections
from the dashboard itself only, no inline code, no frames), ``nosniff`` and no referrer. An
operation (``POST``) is refused unless the dashboard was made with operations allowed, the
request carries the token in the ``X-Dashboard-Token`` header (compared in constant time),
sends JSON, and, when the browser names its origin, comes from the dashboard's own: a page of
another site can neither set that header nor read the answer (CSRF). The token is never
written to a page, a stream or a log.
"""

from __future__ import annotations

import hmac
import logging
import urllib.parse
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from aiohttp.web import StreamResponse

__all__ = ["CSP", "TOKEN_HEADER", "check_operation", "check_token", "secure_headers"]

logger = logging.getLogger("bkjob_async.web")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
TOKEN_HEADER = "X-Dashboard-Token"
#: Shorter tokens are refused: a token guards operations on production jobs.
MIN_TOKEN = 16


def check_token(allow_operations: bool, token: str | None) -> None:
    """Raise ``ValueError`` for operations without a usable token, or a token without them."""
    if not allow_operations:
        if token is not None:
            raise ValueError("a token is for allow_operations=True; without it none is read")
        return
    if not isinstance(token, str) or len(token) < MIN_TOKEN:
        raise ValueError(f"allow_operations=True needs a token of at least {MIN_TOKEN} characters")


async def secure_headers(request: web.Request, response: StreamResponse) -> None:
    """Add the dashboard's security headers to an answer (``on_response_prepare``)."""
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "no-store")


def check_operation(request: web.Request, token: str | None) -> None:
    """Raise the HTTP error an operation request deserves, or return if it may go."""
    if token is None:
        raise web.HTTPForbidden(
            text="read-only dashboard: operations need --allow-operations and a token"
        )
    given = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        logger.warning("an operation was refused: no or wrong token (from %s)", request.remote)
        raise web.HTTPUnauthorized(text="the token is missing or wrong")
    origin = request.headers.get("Origin")
    # The host alone: behind a proxy that ends TLS the scheme seen here is not the browser's.
    if origin is not None and urllib.parse.urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(text="cross-origin operations are refused")
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send the operation as application/json")
