"""Opt-in, process-wide tuning for a program that receives many answers; call it yourself.

Nothing in ``bkjob_async`` changes process-wide behaviour on import or when a client, a poller
or a simulator is built: what is worth doing for the whole process is a call here, made once
by the program (its ``main``), never by a library::

    import bkjob_async.tuning

    bkjob_async.tuning.keep_receive_buffers_on_heap()

``keep_receive_buffers_on_heap``: asyncio receives every response (and every request a server
reads) into a new 256 KiB buffer. Under glibc's default malloc settings each such buffer may be
a fresh ``mmap``, with page faults, an ``mremap`` and a ``munmap`` per receive, unless the
process happened to free a larger block first (what start-up frees varies with the hash seed).
This call frees one such block on purpose, so that later receive buffers come from the heap.
``benchmarks/README.md`` ("The receive buffer") has what it saves.
"""

from __future__ import annotations

import os

__all__ = ["keep_receive_buffers_on_heap"]

#: asyncio's receive size (``selector_events``), with room for the bytes object around it.
_RECEIVE_BLOCK = 512 * 1024
_done = False


def keep_receive_buffers_on_heap() -> bool:
    """Under glibc, once per process: free one block larger than asyncio's receive buffer.

    glibc serves blocks above its mmap threshold (128 KiB) with ``mmap``, and raises the
    threshold to the size of any such block freed (``mallopt(3)``, "dynamic mmap threshold"):
    this is that, done once, so later receive buffers come from the heap and its pages are
    reused. It changes no setting (a threshold set with ``mallopt`` or ``MALLOC_*`` variables
    disables the adjustment, and this then does nothing); the heap may keep up to twice the
    block (1 MiB) free before returning memory to the system. Safe to call more than once and
    elsewhere than glibc (it then does nothing). Return whether the process runs on glibc.
    """
    global _done
    try:
        glibc = bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):
        glibc = False
    if glibc and not _done:
        _done = True
        block = bytes(_RECEIVE_BLOCK)
        del block
    return glibc
