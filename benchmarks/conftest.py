"""Benchmarks run on asyncio only: aiohttp, and so the client, is asyncio-only.

Every benchmark process opts in to ``bkjob_async.tuning.keep_receive_buffers_on_heap``, as a
program polling many jobs would: this one here, the loops and the simulator in their ``main``.
"""

import pytest

from bkjob_async.tuning import keep_receive_buffers_on_heap
from tests.cluster.redis_server import RedisServer, find_redis_server

keep_receive_buffers_on_heap()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of the benchmark's own on a free port, persistence off."""
    server = RedisServer(find_redis_server(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
