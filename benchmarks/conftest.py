"""Benchmarks run on asyncio only: aiohttp, and so the client, is asyncio-only."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
