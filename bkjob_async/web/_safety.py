"""What keeps the dashboard safe: its headers, and the checks an operation must pass.

Rule: every answer carries a strict Content-Security-Policy (scripts, styles and connections
from the dashboard itself only, no inline code, no frames), ``nosniff`` and no referrer. An
operation (``POST``) is refused unless the dashboard was made with operations allowed, the
request carries the token in the ``X-Dashboard-Token`` header (compared in constant time),
sends JSON, and, when the browser names its origin, comes from the dashboard's own: a page of
another site can neither set that header nor read the answer (CSRF). The token is never
written to a page, a stream or a log.

Before any of it, every request must name one of the dashboard's own hosts (``Host``: its
allow-list, loopback by default, as Django's ``ALLOWED_HOSTS`` and Jupyter's local check: a
page of another name that resolves to this machine, DNS rebinding, is refused), and, with a
login, be logged in: no page, asset or API answers otherwise.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from aiohttp.web import StreamResponse

__all__ = [
    "CSP",
    "LOOPBACK_HOSTS",
    "TOKEN_HEADER",
    "USER",
    "BasicLogin",
    "HeaderLogin",
    "Login",
    "check_hosts",
    "check_operation",
    "check_token",
    "guard",
    "host_allowed",
    "secure_headers",
]

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


# --- who may ask, and by which name -------------------------------------------------------

#: The names a dashboard answers to unless told more: this machine's loopback.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def host_of(header: str) -> str:
    """Return the host name of a ``Host`` header, lower case, without its port or brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        return header.partition(":")[0]
    return header.rstrip(".")


def check_hosts(allowed: Iterable[str]) -> tuple[str, ...]:
    """Return the allow-list as it is matched; raise ``ValueError`` for an empty or bad one."""
    given = list(allowed)
    names = tuple(host_of(h) if h != "*" else "*" for h in given if isinstance(h, str))
    bad = any(not isinstance(h, str) or any(c in h for c in "/@ \t") for h in given)
    if bad or not names or len(names) != len(given) or not all(names):
        raise ValueError(
            "allowed_hosts: give host names (dash.example.com), addresses, '.example.com' "
            "for a domain and its subdomains, or '*' for any"
        )
    return names


def host_allowed(header: str, allowed: tuple[str, ...]) -> bool:
    """Tell whether a request's ``Host`` is one of the allowed names (Django's rules)."""
    host = host_of(header)
    for name in allowed:
        if name == "*" or host == name:
            return True
        if name.startswith(".") and (host == name[1:] or host.endswith(name)):
            return True
    return False


class BasicLogin:
    """HTTP Basic authentication against fixed users (a browser asks once, then remembers).

    ``BasicLogin({"ops": os.environ["BKJOB_DASHBOARD_PASSWORD"]})``. Passwords are compared in
    constant time, never logged. Serve it over TLS (a reverse proxy's), or on loopback: Basic
    sends the password with each request.
    """

    def __init__(self, users: Mapping[str, str], *, realm: str = "bkjob-async dashboard") -> None:
        if not users or any(not u or ":" in u or not p for u, p in users.items()):
            raise ValueError("BasicLogin needs users with a name (no ':') and a password")
        self._users = {u: p.encode() for u, p in users.items()}
        self.realm = realm

    def __repr__(self) -> str:  # (never the passwords)
        return f"BasicLogin(users={sorted(self._users)!r})"

    async def __call__(self, request: web.Request) -> str | None:
        given = request.headers.get("Authorization", "")
        scheme, _, encoded = given.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        # The same work for an unknown user as for a known one.
        expected = self._users.get(user, b"\0" * 32)
        if hmac.compare_digest(password.encode(), expected) and user in self._users:
            return user
        return None

    def challenge(self) -> dict[str, str]:
        """Return the headers of a 401 that makes a browser ask for a name and password."""
        return {"WWW-Authenticate": f'Basic realm="{self.realm}", charset="UTF-8"'}


class HeaderLogin:
    """A user named by a header a reverse proxy sets after its own login (oauth2-proxy's
    ``X-Forwarded-User``, BlueKing PaaS's login in front of an app, nginx ``auth_request``).

    Only requests from ``trusted`` addresses (the proxy's; loopback by default) are believed:
    anyone else could send the header themselves. The proxy must set the header on every
    request and drop one a client sent.
    """

    def __init__(
        self, header: str = "X-Forwarded-User", *, trusted: Iterable[str] = ("127.0.0.1", "::1")
    ) -> None:
        if not header or any(c in header for c in " :\r\n"):
            raise ValueError("HeaderLogin needs a header name, e.g. X-Forwarded-User")
        self.header = header
        self.trusted = frozenset(ipaddress.ip_address(a) for a in trusted)

    def __repr__(self) -> str:
        return f"HeaderLogin({self.header!r}, trusted={sorted(map(str, self.trusted))!r})"

    async def __call__(self, request: web.Request) -> str | None:
        remote = request.remote
        try:
            if remote is None or ipaddress.ip_address(remote) not in self.trusted:
                return None
        except ValueError:
            return None
        user = request.headers.get(self.header, "").strip()
        return user or None


#: What checks a request's login: its user's name, or ``None`` (refused).
Login = Callable[[web.Request], Awaitable["str | None"]]
#: Where a request keeps its user's name (``request[USER]``).
USER: Any
try:
    USER = web.RequestKey("bkjob_user", str)  # type: ignore[attr-defined,unused-ignore]
except AttributeError:  # (aiohttp before 3.12)
    USER = "bkjob_user"


def guard(allowed: tuple[str, ...], login: Login | None) -> Any:
    """Return the middleware that answers only allowed ``Host`` names and logged-in users."""

    warned: set[str] = set()

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if not host_allowed(host, allowed):
            if len(warned) < 100 and host not in warned:  # (once a name: no log flood)
                warned.add(host)
                logger.warning(
                    "a request for host %r was refused: not in allowed_hosts (DNS rebinding, "
                    "or a name to allow)",
                    host[:100],
                )
            raise web.HTTPForbidden(
                text="this dashboard does not answer to that host name: add it to "
                "allowed_hosts (bkjob-async dashboard --allow-host NAME)"
            )
        if login is not None:
            user = await login(request)
            if user is None:
                challenge = getattr(login, "challenge", None)
                headers = challenge() if challenge is not None else None
                raise web.HTTPUnauthorized(text="log in first", headers=headers)
            request[USER] = user
        response: web.StreamResponse = await handler(request)
        return response

    return middleware
