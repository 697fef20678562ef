"""Work over many items on the event loop in slices of a time budget, a checkpoint between two.

A watch of 50,000 jobs joins and leaves the poller job by job: done at once, that holds the
event loop for a fifth of a second. ``Pace.run`` hands the items to the work ``stride`` at a
time and, once a slice has run ``budget`` seconds, lets the other tasks run (a checkpoint)
before the next stride. The clock is the wall clock, not the thread's CPU time: a slice whose
process was preempted ends sooner, as the event loop saw it stall. No policy and no I/O here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

import anyio.lowlevel

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Pace"]

T = TypeVar("T")

#: Seconds a slice runs before the next checkpoint: well below the 20 ms a stall may last.
BUDGET = 0.002
#: Items between two looks at the clock (a stride of joins or leaves takes well under 1 ms).
STRIDE = 64


class Pace:
    """How long a slice of work may hold the event loop, and how often the clock is read."""

    __slots__ = ("budget", "clock", "slices", "stride")

    def __init__(
        self,
        budget: float = BUDGET,
        stride: int = STRIDE,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride!r}")
        self.budget = budget
        self.stride = stride
        self.clock = clock
        #: Checkpoints taken between slices so far (what the tests count).
        self.slices = 0

    async def run(
        self,
        items: Sequence[T],
        work: Callable[[Sequence[T]], object],
        stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Call ``work`` on ``items``, ``stride`` at a time, with a checkpoint whenever a slice
        has run ``budget`` seconds; ``stop`` is asked after each checkpoint (true: stop there).

        Return whether every item was handed to ``work``. Cancellation reaches the caller at a
        checkpoint, with the items after it not handed out: a caller that must finish shields.
        """
        clock, budget, stride = self.clock, self.budget, self.stride
        start = clock()
        for first in range(0, len(items), stride):
            if first and clock() - start >= budget:
                self.slices += 1
                await anyio.lowlevel.checkpoint()
                if stop is not None and stop():
                    return False
                start = clock()
            work(items[first : first + stride])
        return True
