"""The large watch's stall sampler (``benchmarks/_harness.StallSampler``) reads its ring while
its timer's signal keeps coming: the read never sees the ring change under it."""

from __future__ import annotations

import sys
import time

import pytest

from benchmarks._harness import StallSampler

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGPROF is POSIX")


def _spin(seconds: float) -> None:
    """Run the thread's CPU clock for ``seconds``: the timer counts CPU, not the wall."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_the_ring_is_read_whole_while_samples_keep_coming() -> None:
    sampler = StallSampler(every=0.0002)
    now = time.thread_time()
    # A full ring makes each read long, so the timer's signals fall inside many of them.
    sampler.ring.extend(
        (now - 1.0 + i * 1e-6, ("filler",)) for i in range(sampler.ring.maxlen or 0)
    )
    sampler.start()
    try:
        _spin(0.05)
        taken = 0
        for _ in range(300):
            samples = sampler.between(now, time.thread_time())
            taken = max(taken, len(samples))
            assert all(t >= 0.0 for t, _ in samples)
    finally:
        sampler.stop()
    assert taken > 0  # (the timer sampled this test's own stack meanwhile)
