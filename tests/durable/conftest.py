"""Fixtures of the durable-watch tests: the scripted server of the poll-engine tests."""

from __future__ import annotations

from tests.polling.conftest import client, scripted

__all__ = ["client", "scripted"]
