"""Process-wide malloc settling for asyncio's receive buffers; no I/O, no bk-job.

asyncio receives every response (and every request a server reads) into a new 256 KiB buffer.
Under glibc's default malloc settings that is a fresh ``mmap``, two page faults, an ``mremap``
and a ``munmap`` per receive, about 13 us of CPU each time, unless the process happened to
free a larger block first (what start-up frees varies with the hash seed).
``keep_receive_buffers_on_heap`` frees one such block on purpose; the client's transport and
the simulator's server call it.
"""

from __future__ import annotations

import os

__all__ = ["keep_receive_buffers_on_heap"]

#: asyncio's receive size (``selector_events``), with room for the bytes object around it.
_RECEIVE_BLOCK = 512 * 1024
_done = False


def keep_receive_buffers_on_heap() -> None:
    """Once per process under glibc: free one block larger than asyncio's receive buffer.

    glibc serves blocks above its mmap threshold (128 KiB) with ``mmap``, and raises the
    threshold to the size of any such block freed (``mallopt(3)``, "dynamic mmap threshold"):
    this is that, done once, so later receive buffers come from the heap and its pages are
    reused. It changes no setting (a threshold set with ``mallopt`` or ``MALLOC_*`` variables
    disables the adjustment, and this then does nothing); the heap may keep up to twice the
    block (1 MiB) free before returning memory to the system.
    """
    global _done
    if _done:
        return
    _done = True
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        glibc = None
    if glibc:
        block = bytes(_RECEIVE_BLOCK)
        del block
