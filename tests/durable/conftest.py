"""Fixtures of the durable tests: each store contract test runs on ``MemoryStore`` and ``SqliteStore``.

The durable watches run against ``scripted`` and ``client`` of ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bkjob_async import MemoryStore, Scope, SqliteStore
from bkjob_async.polling.stores import Store

BIZ = Scope.biz(2)
BIZ_SET = Scope.biz_set(9991001)


def wal_fds(path: Path) -> list[int]:
    """Return this process's file descriptors open on ``path``."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path.resolve()):
                found.append(int(name))
        except OSError:
            continue
    return found


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Return a factory of stores of one kind; each call reopens the same place."""
    memory = MemoryStore()
    path = tmp_path / "state.db"

    def make() -> Store:
        if request.param == "memory":
            return memory
        return SqliteStore(path, flush_interval=0.001)

    return make


@pytest.fixture
async def store(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    async with make_store() as opened:
        yield opened
