"""Rule: TLS and proxy options are checked when given; no I/O but reading the files they name.

TLS and proxy options as users give them, checked and turned into what aiohttp takes; no I/O
beyond reading the certificate files named.

``ssl=`` keeps aiohttp's meanings, plus a path: ``True`` (the default) verifies against the
system's CAs (and ``SSL_CERT_FILE``); an ``ssl.SSLContext`` is used as given; a path (``str``
or ``os.PathLike``) is a CA bundle file, or a directory of hashed CA files, verified against
instead of the system's; ``False`` turns verification off, and only ``False`` itself does (not
``None``, ``0`` or ``""``, which are refused). ``client_cert=`` is a client certificate for
mutual TLS: a PEM file holding the certificate and its key, or a ``(certificate, key)`` pair
of files (requests' ``cert=``). With ``trust_env=True`` and ``ssl=True``, the CA bundle named
by ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` is used, as requests does; aiohttp then also
takes proxies from ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` (and credentials from
``.netrc``). ``proxy=`` is an ``http://`` proxy URL for every request (HTTPS goes through it
with ``CONNECT``); its password is masked like a secret.

Every check happens at construction: a file that is missing or not a certificate raises
``ValueError`` naming the argument, before any request is sent.
"""

from __future__ import annotations

import os
import ssl
import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ClientCert", "SslOption", "check_proxy", "proxy_password", "ssl_option"]

#: What ``ssl=`` takes.
SslOption = ssl.SSLContext | bool | str | os.PathLike[str]
#: What ``client_cert=`` takes.
ClientCert = str | os.PathLike[str] | tuple[str | os.PathLike[str], str | os.PathLike[str]]

_ENV_BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def ssl_option(
    value: object,
    client_cert: object = None,
    *,
    trust_env: bool = False,
    env: Mapping[str, str] | None = None,
) -> ssl.SSLContext | bool:
    """Return what aiohttp's ``ssl=`` takes for these options (the module docstring says how)."""
    env = os.environ if env is None else env
    if isinstance(value, ssl.SSLContext):
        if client_cert is not None:
            raise ValueError(
                "pass client_cert= with ssl=True, False or a CA bundle path; with an SSLContext, "
                "load the certificate into it (context.load_cert_chain)"
            )
        return value
    if value is True:
        bundle = next((env[k] for k in _ENV_BUNDLES if env.get(k)), None) if trust_env else None
        if bundle is None and client_cert is None:
            return True
        context = _verifying(bundle, "REQUESTS_CA_BUNDLE" if bundle else "ssl")
    elif value is False:
        if client_cert is None:
            return False
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(value, (str, os.PathLike)):
        context = _verifying(value, "ssl")
    else:
        raise TypeError(
            f"ssl must be True, False, an ssl.SSLContext or the path of a CA bundle, not {value!r}"
        )
    if client_cert is not None:
        _load_client_cert(context, client_cert)
    return context


def _verifying(path: str | os.PathLike[str] | None, name: str) -> ssl.SSLContext:
    """Return a verifying context trusting the CAs at ``path`` (``None``: the system's)."""
    if path is None:
        return ssl.create_default_context()
    where = os.fspath(path)
    if not where:
        raise ValueError(f"{name}: a CA bundle path cannot be empty")
    try:
        if os.path.isdir(where):
            return ssl.create_default_context(capath=where)
        return ssl.create_default_context(cafile=where)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"{name}: cannot read the CA bundle {where!r}: {_reason(exc)}") from None


def _load_client_cert(context: ssl.SSLContext, value: object) -> None:
    if isinstance(value, tuple) and len(value) == 2:
        cert, key = value
    else:
        cert, key = value, None
    if not isinstance(cert, (str, os.PathLike)) or not (
        key is None or isinstance(key, (str, os.PathLike))
    ):
        raise TypeError(
            "client_cert must be the path of a PEM file (certificate and key) or a "
            f"(certificate, key) pair of paths, not {value!r}"
        )
    try:
        context.load_cert_chain(os.fspath(cert), None if key is None else os.fspath(key))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"client_cert: cannot load the certificate {os.fspath(cert)!r}"
            f"{'' if key is None else ' and key ' + repr(os.fspath(key))}: {_reason(exc)}"
        ) from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)


def check_proxy(value: object) -> str | None:
    """Return ``value`` if it is ``None`` or an ``http://`` proxy URL with a host, else raise."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"proxy must be a str URL or None, not {type(value).__name__}")
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number in 0-65535
    except ValueError:
        raise ValueError("proxy is not a valid URL") from None
    if parts.scheme != "http" or not parts.hostname:
        # aiohttp speaks to a proxy in plain HTTP (and tunnels HTTPS through it with CONNECT).
        raise ValueError("proxy must be an http:// URL with a host, such as http://proxy:3128")
    return value


def proxy_password(proxy: str | None) -> Any:
    """Return the password in ``proxy``'s URL, if any (to mask it like a secret)."""
    if proxy is None:
        return None
    password = urllib.parse.urlsplit(proxy).password
    return urllib.parse.unquote(password) if password else None
