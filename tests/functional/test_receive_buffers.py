"""The client and the simulator keep asyncio's 256 KiB receive buffers on glibc's heap."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):
        return False


pytestmark = pytest.mark.skipif(not _glibc(), reason="about glibc's malloc")

#: A fresh process (the test runner's own malloc state is whatever its imports left): build a
#: client (or start and stop a simulator), then receive 500 small answers as asyncio does,
#: ``recv(256 KiB)``; print the page faults per answer. ``off``: the same with the heap step
#: disabled, the control.
PROGRAM = """
import itertools, resource, socket, sys
import anyio, bkjob_async
from bkjob_async import _aiohttp
from bkjob_async.testing import BkJobSimulator, _simulator
who, switch = sys.argv[1:3]
if switch == "off":  # (the names the transport and the simulator call)
    _aiohttp.keep_receive_buffers_on_heap = _simulator.keep_receive_buffers_on_heap = lambda: None
if who == "client":
    bkjob_async.BkJobClient("http://127.0.0.1:9", app_code="a", app_secret="s" * 8, username="u")
else:
    async def serve():
        async with BkJobSimulator():
            pass
    anyio.run(serve)
a, b = socket.socketpair()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(500):
    a.send(b"x" * 2500)
    b.recv(256 * 1024)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 500)
"""


def _faults_per_receive(who: str, switch: str, seed: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, who, switch],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": str(seed)},
    )
    return float(done.stdout.strip())


@pytest.mark.parametrize("who", ["client", "simulator"])
def test_receive_buffers_stay_on_the_heap(who: str) -> None:
    # Whether start-up happened to raise glibc's threshold varies with the hash seed (the
    # sizes of the dicts built on import): find seeds where it did not, the default's case.
    unlucky = (seed for seed in range(16) if _faults_per_receive(who, "off", seed) >= 1)
    seeds = list(itertools.islice(unlucky, 3))
    if not seeds:
        pytest.skip("this malloc served 256 KiB from its heap at every seed tried")
    faults = [_faults_per_receive(who, "on", seed) for seed in seeds]
    assert max(faults) < 0.1, faults  # (the first receive may grow the heap: one fault)
