"""Benchmarks run on asyncio only: aiohttp, and so the client, is asyncio-only.

Every benchmark process opts in to ``bkjob_async.tuning.keep_receive_buffers_on_heap``, as a
program polling many jobs would: this one here, the loops and the simulator in their ``main``.
"""

import pytest

from bkjob_async.tuning import keep_receive_buffers_on_heap

keep_receive_buffers_on_heap()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
