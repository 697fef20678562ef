"""Rule: nothing changes process-wide behaviour unless the program calls it here, once.

Opt-in, process-wide tuning for a program that receives many answers; call it yourself.

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
What it saves is in ``docs/performance.md`` ("Tuning").

``freeze_what_is_alive``: Python's cyclic garbage collector walks every container object it
tracks when it runs a full pass, and a full pass holds the event loop for the whole walk. A
poller keeps about 7 such objects per watched job (its record, its tracker state, its request)
and makes none that outlive a poll, so with the default GC settings full passes come only when
the program itself makes many lasting objects: watching a large batch of new jobs (a quarter
more than the objects already old), or its own data. When one comes, it walks everything, and
the longer the more jobs are watched. Frozen objects are left out of every later pass: call it
once the program's watches are registered and polled once (what a pass costs with and without
it is in ``docs/performance.md``, "Tuning"). What it costs: a frozen
object is still freed when its last reference goes, but frozen objects in a reference cycle
are never collected (a client or poller closed later may stay in memory until
``gc.unfreeze()``; a job's state, replaced on every change, holds no cycle), and objects made
after the call (jobs watched later, states replaced by changes) are walked as
before: call it again after registering a large batch.
"""

from __future__ import annotations

import gc
import os

__all__ = ["freeze_what_is_alive", "keep_receive_buffers_on_heap"]

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


def freeze_what_is_alive() -> int:
    """Collect garbage, then move every object alive into the collector's permanent generation.

    Later passes, full ones included, no longer walk them (``gc.freeze()``); the collection
    first keeps unreachable cycles out of it. Call it from the program, after start-up (its
    watches registered): see the module's docstring for what it buys and costs. Undo with
    ``gc.unfreeze()``. Return how many objects are frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
