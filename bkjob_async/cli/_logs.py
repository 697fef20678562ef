"""Rule: only the ``bkjob_async`` loggers get the stderr handler, and only while a command runs.

Log records of a long-running command (``worker``) on stderr: UTC time, level, logger, message.

Rule: only the ``bkjob_async`` loggers get the handler, only while the command runs, and it is
removed after; ``--log-format json`` writes one JSON object a line (``time``, ``level``,
``logger``, ``message``). The package's own records never hold a secret (the URL's password
is masked where it is made), so nothing is redacted here.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
from typing import TYPE_CHECKING

from ._runtime import printable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._runtime import Context

__all__ = ["LEVELS", "logging_to_stderr"]

#: ``--log-level`` choices.
LEVELS = ("debug", "info", "warning", "error")


def _time(record: logging.LogRecord) -> str:
    when = _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return printable(text, lines=True)


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class _ToContext(logging.Handler):
    """Write each record to ``ctx.stderr`` as it is at the time (tests swap it)."""

    def __init__(self, ctx: Context, level: int) -> None:
        super().__init__(level)
        self.ctx = ctx

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=self.ctx.stderr, flush=True)
        except Exception:  # pragma: no cover - a closed stderr
            self.handleError(record)


@contextlib.contextmanager
def logging_to_stderr(ctx: Context, level: str = "info", form: str = "text") -> Iterator[None]:
    """Send the package's log records of ``level`` and above to stderr within the block."""
    logger = logging.getLogger("bkjob_async")
    number = getattr(logging, level.upper())
    handler = _ToContext(ctx, number)
    handler.setFormatter(_Json() if form == "json" else _Text())
    if not any(isinstance(h, _ToContext) for h in logger.handlers):
        _saved[:] = [logger.level]  # as it was before the first command (tests run several)
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > number:
        logger.setLevel(number)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        if not any(isinstance(h, _ToContext) for h in logger.handlers):
            logger.setLevel(_saved[0])


#: The level of the ``bkjob_async`` logger before the commands running set theirs.
_saved: list[int] = [logging.NOTSET]
