"""The pure protocol's set-up the unit tests share: a ``Protocol`` per flavor on one base URL,
the scope they send, and what a request carries."""

from __future__ import annotations

import json
from typing import Any

from bkjob_async import Credentials, Scope
from bkjob_async._protocol import Protocol, Request
from tests.conftest import APP_SECRET

BASE = "https://bk.example.com/prefix/"
BIZ = Scope.biz(2)
#: How a v3 request spells ``BIZ``.
V3_SCOPE = {"bk_scope_type": "biz", "bk_scope_id": "2"}


def protocol(flavor: str = "apigw-v3", **kwargs: Any) -> Protocol:
    """Return the protocol of ``flavor`` on ``BASE`` (app ``my-app``, user ``admin``, unless
    ``credentials`` say otherwise); ``kwargs``: ``Protocol``'s other options."""
    credentials = kwargs.pop("credentials", None) or Credentials(
        "my-app", APP_SECRET, username="admin"
    )
    return Protocol(BASE, flavor=flavor, credentials=credentials, **kwargs)


def body(request: Request) -> dict[str, Any]:
    """Return a request's JSON body."""
    assert request.body is not None
    data: dict[str, Any] = json.loads(request.body)
    return data


def sent(request: Request) -> dict[str, Any]:
    """Return the parameters wherever the flavor puts them (query strings stay strings)."""
    return dict(request.query or {}) if request.method == "GET" else body(request)
