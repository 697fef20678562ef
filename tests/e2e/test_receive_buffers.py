"""``bkjob_async.tuning.keep_receive_buffers_on_heap``: opt-in, and it works when called.

Under glibc asyncio's 256 KiB receive buffers are ``mmap``-ed afresh per receive (page faults
every time) unless the process raised malloc's threshold; the call does that. The library never
calls it by itself: building a client or starting a simulator leaves malloc as it was.
"""

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


#: A fresh process (the test runner's own malloc state is whatever its imports left): build a
#: client (or start and stop a simulator); receive 500 small answers as asyncio does,
#: ``recv(256 KiB)``, and count the page faults per answer (the control); then opt in and
#: count again. Prints both: one process per hash seed answers both questions.
PROGRAM = """
import resource, socket, sys
import anyio, bkjob_async
from bkjob_async.testing import BkJobSimulator
if sys.argv[1] == "client":
    bkjob_async.BkJobClient("http://127.0.0.1:9", app_code="a", app_secret="s" * 8, username="u")
else:
    async def serve():
        async with BkJobSimulator():
            pass
    anyio.run(serve)
a, b = socket.socketpair()
def faults_per_receive():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(500):
        a.send(b"x" * 2500)
        b.recv(256 * 1024)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 500
control = faults_per_receive()
import bkjob_async.tuning
assert bkjob_async.tuning.keep_receive_buffers_on_heap() is True
print(control, faults_per_receive())
"""


def _faults_per_receive(who: str, seed: int) -> tuple[float, float]:
    """Return the faults per receive before opting in and after, in a process of ``seed``."""
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, who],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": str(seed)},
    )
    control, opted_in = map(float, done.stdout.split())
    return control, opted_in


@pytest.mark.skipif(not _glibc(), reason="about glibc's malloc")
@pytest.mark.parametrize("who", ["client", "simulator"])
def test_opting_in_keeps_receive_buffers_on_the_heap(who: str) -> None:
    # Whether start-up happened to raise glibc's threshold varies with the hash seed (the
    # sizes of the dicts built on import): find seeds where it did not (the control faults on
    # every receive: the client or the simulator did not change malloc), and opt in there.
    runs = (_faults_per_receive(who, seed) for seed in range(16))
    unlucky = (opted_in for control, opted_in in runs if control >= 1)
    faults = list(itertools.islice(unlucky, 3))
    if not faults:
        pytest.skip("this malloc served 256 KiB from its heap at every seed tried")
    assert max(faults) < 0.1, faults  # (the first receive may grow the heap: one fault)


def test_the_library_never_opts_in_by_itself() -> None:
    # Importing the package, building a client (its transport) and running a simulator do
    # not import the tuning module, let alone call it.
    program = """
import sys
import anyio, bkjob_async
from bkjob_async.testing import BkJobSimulator
client = bkjob_async.BkJobClient("http://127.0.0.1:9", app_code="a", app_secret="s" * 8, username="u")
async def serve():
    async with BkJobSimulator():
        pass
anyio.run(serve)
print("bkjob_async.tuning" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_opting_in_is_harmless_anywhere() -> None:
    from bkjob_async import tuning

    assert tuning.keep_receive_buffers_on_heap() is _glibc()
    assert tuning.keep_receive_buffers_on_heap() is _glibc()  # (again: nothing more happens)
