"""Scripted faults: what to break, for which API and flavor, how many times; no HTTP here.

A ``Fault`` is a frozen description built by its factory methods. ``FaultRules`` holds the
injected rules in order; each request takes the first rule that matches it and still has uses
(with a ``rate`` below 1, a matching request takes it with that chance, from a seeded draw).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from typing import Any

import attrs

from ..config import ApiFlavor

__all__ = ["Fault", "FaultKind", "FaultRule", "FaultRules"]


class FaultKind(enum.Enum):
    """What a fault does to a response."""

    HTTP_STATUS = "http_status"
    RATE_LIMITED = "rate_limited"
    BUSINESS_ERROR = "business_error"
    DELAY = "delay"
    RESET = "reset"
    TRUNCATED = "truncated"
    NOT_JSON = "not_json"
    UNKNOWN_STATUS = "unknown_status"

    @property
    def replaces_handling(self) -> bool:
        """Tell whether the request never reaches the simulated backend."""
        return self in (
            FaultKind.HTTP_STATUS,
            FaultKind.RATE_LIMITED,
            FaultKind.BUSINESS_ERROR,
            FaultKind.NOT_JSON,
        )


@attrs.frozen(eq=False)
class Fault:
    """One way to break a response; build it with the factory class methods."""

    kind: FaultKind
    status: int = 200
    body: bytes | str | Mapping[str, Any] | None = None
    retry_after: float | None = None
    code: int = 0
    message: str = ""
    permission: Mapping[str, Any] | None = None
    seconds: float = 0.0
    job: int | None = None
    step: int | None = None
    host: int | None = None

    @classmethod
    def http_status(cls, status: int, body: bytes | str | Mapping[str, Any] | None = None) -> Fault:
        """Answer with HTTP ``status``: the gateway's error JSON, or the ESB's page for it."""
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        return cls(FaultKind.HTTP_STATUS, status=status, body=body)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> Fault:
        """Refuse as rate limited: gateway HTTP 429 with quota headers, ESB 1306429 at HTTP 200.

        Like bk-job's gateway, the 429 carries only the ``X-Bkapi-RateLimit-*`` headers
        (``-Reset``: ``retry_after`` rounded up, else 1 s); a ``Retry-After`` header is added
        only when ``retry_after`` is given.
        """
        return cls(FaultKind.RATE_LIMITED, retry_after=retry_after)

    @classmethod
    def business_error(
        cls, code: int, message: str = "error", *, permission: Mapping[str, Any] | None = None
    ) -> Fault:
        """Answer HTTP 200 ``result: false`` with this code (and ``permission``, if given)."""
        return cls(FaultKind.BUSINESS_ERROR, code=code, message=message, permission=permission)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` of real time, then answer normally."""
        if seconds < 0:
            raise ValueError("a delay cannot be negative")
        return cls(FaultKind.DELAY, seconds=seconds)

    @classmethod
    def reset(cls) -> Fault:
        """Process the request, send the headers and half the body, then close the connection.

        On a launch the job is created (and started, unless ``start_task=false``) and its
        answer lost: the client sees a ``TransportError`` after bk-job acted, the outcome of
        a launch it cannot know.
        """
        return cls(FaultKind.RESET)

    @classmethod
    def truncated(cls) -> Fault:
        """Process the request and send a complete response whose JSON body is cut in half."""
        return cls(FaultKind.TRUNCATED)

    @classmethod
    def not_json(cls) -> Fault:
        """Answer HTTP 200 with an HTML page instead of JSON."""
        return cls(FaultKind.NOT_JSON)

    @classmethod
    def unknown_status(
        cls, job: int | None = 99, step: int | None = None, host: int | None = None
    ) -> Fault:
        """Process the request, then rewrite the job, step and host status codes in its data."""
        return cls(FaultKind.UNKNOWN_STATUS, job=job, step=step, host=host)


@attrs.define(eq=False)
class FaultRule:
    """An injected fault and where it applies; ``remaining`` counts down (``None``: forever)."""

    fault: Fault
    api: str | None = None
    flavor: ApiFlavor | None = None
    remaining: int | None = 1
    skip: int = 0
    hits: int = 0
    #: The chance that a matching request takes the fault (1: every one).
    rate: float = 1.0

    def matches(self, api: str, flavor: ApiFlavor) -> bool:
        """Tell whether this rule targets ``api`` under ``flavor``."""
        return (self.api is None or self.api == api) and (
            self.flavor is None or self.flavor is flavor
        )

    def cancel(self) -> None:
        """Stop applying this rule."""
        self.remaining = 0


class FaultRules:
    """The injected rules, in order of injection."""

    def __init__(self, seed: int = 0) -> None:
        self.rules: list[FaultRule] = []
        self.rng = random.Random(f"faults:{seed}")

    def add(self, rule: FaultRule) -> FaultRule:
        """Append ``rule`` and return it."""
        self.rules.append(rule)
        return rule

    def take(self, api: str, flavor: ApiFlavor) -> Fault | None:
        """Return the fault for one request, using up one count of its rule."""
        if not self.rules:
            return None
        for rule in self.rules:
            if rule.remaining == 0 or not rule.matches(api, flavor):
                continue
            if rule.skip > 0:
                rule.skip -= 1
                continue
            if rule.rate < 1.0 and self.rng.random() >= rule.rate:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            rule.hits += 1
            return rule.fault
        self.rules = [rule for rule in self.rules if rule.remaining != 0]
        return None

    def clear(self) -> None:
        """Forget every rule."""
        self.rules.clear()
