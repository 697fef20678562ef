"""Rule: a span carries only the fields listed here, and nothing happens without a provider.

OpenTelemetry spans, when the ``otel`` extra is installed and a tracer provider is set.

Layer: the bottom (imports only ``_version``). ``opentelemetry-api`` is imported on first use, guarded: without it, or with no
tracer provider set (the API's proxy or no-op provider), ``tracer()`` is ``None`` and callers do
nothing else: no span, no attribute, no clock read.

Rule: a span carries only what is listed here: the API's name, the flavor, the scope, job and
step ids, the method, retries, ``error.type`` (an exception's class name). Never a message, a
URL, a header or a body: they can quote secrets (``bkjob_async._secrets``).

- ``api_span(...)``: one span per API call (``bkjob <api_name>``), covering its retries, current
  while it runs, so aiohttp's own spans (when the user instruments aiohttp) are its children;
- ``PollRounds``: the poller's short spans, one per round (``bkjob poll round``): the polls
  between two moments the workers found nothing due, cut at ``ROUND_SECONDS``; attributes
  ``bkjob.polls``, ``bkjob.changed``, ``bkjob.failed``. Never one span for a whole watch.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ROUND_SECONDS",
    "PollRounds",
    "answer_attributes",
    "api_attributes",
    "poll_rounds",
    "tracer",
]

#: The longest a poll round's span lasts: a busy poller (never idle) cuts one this often.
ROUND_SECONDS = 1.0
_ROUND_NS = int(ROUND_SECONDS * 1e9)
_NAME = "bkjob_async"

_api: Any = None  # the ``opentelemetry.trace`` module, once imported; False: not installed
_tracers: dict[int, tuple[Any, Any]] = {}  # id(provider) -> (provider, tracer)


def _trace_api() -> Any:
    global _api
    if _api is None:
        try:
            from opentelemetry import trace  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            _api = False
        else:
            _api = trace
    return _api


def tracer() -> Any:
    """Return this package's tracer, or ``None``: no ``opentelemetry-api``, or no provider set."""
    trace = _api if _api is not None else _trace_api()
    if trace is False:
        return None
    provider = trace.get_tracer_provider()
    found = _tracers.get(id(provider))
    if found is not None and found[0] is provider:
        return found[1]
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None

    made = provider.get_tracer(_NAME, __version__)
    _tracers[id(provider)] = (provider, made)
    return made


def api_attributes(
    flavor: str,
    method: str,
    scope: str | None,
    job_instance_id: int | None,
    step_instance_id: int | None,
) -> dict[str, Any]:
    """Return a call's span attributes: the flavor, the method, and the scope, job and step the
    request concerns (``Request`` carries them from when it was built)."""
    attributes: dict[str, Any] = {"bkjob.flavor": flavor, "http.request.method": method}
    if scope is not None:
        attributes["bkjob.scope"] = scope
    if job_instance_id is not None:
        attributes["bkjob.job_instance_id"] = job_instance_id
    if step_instance_id is not None:
        attributes["bkjob.step_instance_id"] = step_instance_id
    return attributes


def answer_attributes(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the job and step ids an answer's ``data`` names at its top level (a launch's)."""
    attributes: dict[str, Any] = {}
    for key in ("job_instance_id", "step_instance_id"):
        value = data.get(key)
        if value is not None:
            attributes[f"bkjob.{key}"] = _int_or_text(value)
    return attributes


def _int_or_text(value: Any) -> int | str:
    try:
        return int(value)
    except (TypeError, ValueError):
        return "?"


class PollRounds:
    """Count a poller's polls and close a short span per round (see the module docstring)."""

    __slots__ = ("_first", "_last", "changed", "failed", "polls", "tracer")

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer
        self.polls = self.changed = self.failed = 0
        self._first = self._last = 0

    def note(self, *, changed: bool = False, failed: bool = False) -> None:
        """Count one poll (``changed``: its answer differed; ``failed``: it raised)."""
        now = time.time_ns()
        if not self.polls:
            self._first = now
        self.polls += 1
        self.changed += changed
        self.failed += failed
        self._last = now
        if now - self._first >= _ROUND_NS:
            self.end()

    def end(self) -> None:
        """Close the round's span, if it counted any poll (the workers found nothing due)."""
        if not self.polls:
            return
        attributes = {"bkjob.polls": self.polls, "bkjob.changed": self.changed}
        attributes["bkjob.failed"] = self.failed
        span = self.tracer.start_span(
            "bkjob poll round", start_time=self._first, attributes=attributes
        )
        span.end(end_time=self._last)
        self.polls = self.changed = self.failed = 0


def poll_rounds() -> PollRounds | None:
    """Return a poller's round counter, or ``None`` when spans are off (checked once, at start)."""
    found = tracer()
    return None if found is None else PollRounds(found)
