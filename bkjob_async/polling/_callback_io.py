"""What the callback receiver needs around aiohttp: its token masked in aiohttp's logs, a body
read within a bound, a path prefix checked; no policy of its own (``callbacks`` has it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .._secrets import Redactor

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["clean_prefix", "mask_in_aiohttp_logs", "read_bounded"]

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
