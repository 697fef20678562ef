"""Work on the event loop in slices of a time budget, a checkpoint between two.

A watch of 50,000 jobs joins and leaves the poller job by job: done at once, that holds the
event loop for a fifth of a second. ``Pace.run`` hands the items to the work ``stride`` at a
time and, once a slice has run ``budget`` seconds, lets the other tasks run (a checkpoint)
before the next stride.

The poller's tasks share one ``Turn``: how long their work has held the event loop's current
turn (the callbacks it runs between two looks for I/O). Each task alone stays short, but when
32 answers land at once, 32 tasks run in the same turn: past the turn's budget, each waits for
the next turn (``Turn.spent``), so no turn holds the loop much longer than the budget however
many answers came. The clocks are the wall clock, not the thread's CPU time: a slice whose
process was preempted ends sooner, as the event loop saw it stall. No policy and no I/O here.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, TypeVar

import anyio.lowlevel

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Pace", "Turn"]

T = TypeVar("T")

#: Seconds a slice runs before the next checkpoint: well below the 20 ms a stall may last.
BUDGET = 0.002
#: Seconds of the poller's work in one turn of the event loop, after which its tasks wait for
#: the next turn: with the callbacks that read the answers' bytes (not counted), a turn stays
#: well under the 20 ms a stall may last.
TURN_BUDGET = 0.002
#: Items between two looks at the clock (a stride of joins or leaves takes well under 1 ms).
STRIDE = 16


class Pace:
    """How long a slice of work may hold the event loop, and how often the clock is read."""

    __slots__ = ("budget", "clock", "slices", "stride", "turn")

    def __init__(
        self,
        budget: float = BUDGET,
        stride: int = STRIDE,
        clock: Callable[[], float] = time.perf_counter,
        turn: Turn | None = None,
    ) -> None:
        """``turn``: the loop's turn shared with other tasks; a slice then ends once the turn
        is ``spent`` (its budget, not this one's, and the other tasks' work counted too)."""
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride!r}")
        self.budget = budget
        self.stride = stride
        self.clock = clock
        self.turn = turn
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
        clock, budget, stride, turn = self.clock, self.budget, self.stride, self.turn
        start = clock()
        if turn is not None:
            turn.spent()  # (counts this turn's work from here, if none counted it yet)
        for first in range(0, len(items), stride):
            if first and (clock() - start >= budget if turn is None else turn.spent()):
                self.slices += 1
                await anyio.lowlevel.checkpoint()
                if stop is not None and stop():
                    return False
                start = clock()
                if turn is not None:
                    turn.spent()  # (counts this turn's work from here)
            work(items[first : first + stride])
        return True


class Turn:
    """How long the poller's work has held the event loop's current turn.

    The first ``spent()`` of a turn notes the time and schedules a callback for the next turn
    (``call_soon``), which marks that turn new; each later ``spent()`` compares. A turn that
    runs none of the poller's work costs nothing.
    """

    __slots__ = ("_open", "budget", "clock", "start", "turns")

    def __init__(
        self, budget: float = TURN_BUDGET, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.budget = budget
        self.clock = clock
        #: When the poller's work in this turn began (on ``clock``).
        self.start = 0.0
        #: Turns that ran the poller's work so far (what the tests count).
        self.turns = 0
        self._open = False

    def spent(self) -> bool:
        """Whether the poller's work has run ``budget`` seconds in this turn of the loop."""
        if self._open:
            return self.clock() - self.start >= self.budget
        self._open = True
        self.turns += 1
        self.start = self.clock()
        asyncio.get_running_loop().call_soon(self._close)
        return False

    def _close(self) -> None:
        self._open = False
