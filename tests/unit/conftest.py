"""The unit layer is pure: a test here that binds or connects an IP socket fails at once.

A test that needs a server belongs in ``tests/e2e`` (or in ``tests/functional`` on
``MockTransport``), so that this folder stays fast and never waits on the machine.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

NETWORK = (socket.AF_INET, socket.AF_INET6)


def _refusing(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: socket.socket, *args: Any) -> Any:
        if self.family in NETWORK:
            raise AssertionError(f"a unit test may not {name} a socket: move it to tests/e2e")
        return real(self, *args)

    return call


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse ``bind`` and ``connect`` on IP sockets for the test's duration."""
    for name in ("bind", "connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _refusing(name, getattr(socket.socket, name)))
