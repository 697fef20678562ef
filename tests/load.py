"""A deadline that measures a promise holds it on a quiet machine and scales under load.

"The first frame within 2 s" is promised on a machine with a core to spare; a test that runs
beside other work (xdist workers, a CPU hog, other builds) gets a share of a core, and the
same program takes longer by that share. ``slowdown()`` measures the share now: it spins for a
few milliseconds of this thread's CPU time and divides the wall time that took by it (1.0: a
core to spare; 3.0: a third of a core). ``deadline(promise, slowdown)`` is the promise times
that factor, never less than the promise: on a quiet machine a test still fails on a broken
promise, and under load it fails only when the program itself is slower.
"""

from __future__ import annotations

import time

#: The CPU time each sample spins for: long enough to span a few scheduler slices.
SAMPLE_CPU_SECONDS = 0.05


def slowdown(cpu_seconds: float = SAMPLE_CPU_SECONDS) -> float:
    """Return how many wall seconds a CPU second takes this thread now (at least 1.0)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    while time.thread_time() - cpu < cpu_seconds:
        pass
    return max(1.0, (time.perf_counter() - wall) / cpu_seconds)


def deadline(promise: float, *samples: float) -> float:
    """Return ``promise`` scaled by the largest ``slowdown()`` sample taken around the
    measured span (before and after it: the load may change while it runs)."""
    return promise * max((1.0, *samples))
