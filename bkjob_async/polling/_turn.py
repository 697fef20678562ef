"""Rule: one turn of the event loop runs at most a budget of the poller's work, counted in polls.

The poller's tasks (its workers, ``_workers``, and the slices of a large watch's joins and
leaves, ``Pace``) share one ``Turn``: each counts its work in it, and once the turn holds its
budget (``TURN_WORK``) waits for the next turn of the loop (``next_turn``, or a checkpoint).
Counted, not timed, so the work a turn holds does not depend on the machine's speed. Nothing
here knows a job: the workers and the poller say what their work weighs.
"""

from __future__ import annotations

import asyncio
import time
import types
from typing import TYPE_CHECKING, TypeVar

import anyio.lowlevel

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence

    from ._reader import Unread

__all__ = [
    "BUDGET",
    "EVENTS_A_POLL",
    "STRIDE",
    "TURN_WORK",
    "Pace",
    "Turn",
    "event_work",
    "fold_work",
    "next_turn",
]


T = TypeVar("T")

#: Seconds a slice runs before the next checkpoint: well below what counts as a loop stall.
BUDGET = 0.002


#: The poller's work in one turn of the event loop, counted in polls: each poll sent counts one,
#: each answer folded one and one more for every 4 KiB of its body (``fold_work``) and for
#: every ``EVENTS_A_POLL`` events it made (``event_work``), each stride of joins or leaves one
#: for every 16 items (``Pace``). Once a turn holds this much, the poller's tasks wait for the
#: next one. Counted, not timed: the work a turn holds does not
#: depend on how fast the machine runs at the moment, nor on a profiler slowing it
#: (``benchmarks/HISTORY.md``, "A turn's budget in work"). 8 polls are about 1 ms of the loop's
#: time, which held a 50,000-job watch's lag p99 under 5 ms.
TURN_WORK = 8


#: Events that weigh one poll in a turn: a moved host's row, its result, its transition and the
#: watch's reader taking it cost about a quarter of an unchanged poll, so an answer where 30
#: hosts moved (a job's first) weighs nine polls, not one: a turn of the loop holds one or two
#: such answers (``benchmarks/HISTORY.md``, "Events in a turn").
EVENTS_A_POLL = 4


#: Items between two looks at the clock (a stride of joins or leaves stays well under ``BUDGET``).
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
        is ``spent`` (its budget, not this one's, and the other tasks' work counted too; a
        stride counts a poll for every 16 items: ``TURN_WORK``)."""
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
        weight = max(1, stride >> 4)  # (a stride's work in polls, on the turn)
        start = clock()
        if turn is not None:
            turn.spent(weight)  # (counts this turn's work from here, if none counted it yet)
        for first in range(0, len(items), stride):
            if first and (clock() - start >= budget if turn is None else turn.spent(weight)):
                self.slices += 1
                await anyio.lowlevel.checkpoint()
                if stop is not None and stop():
                    return False
                start = clock()
                if turn is not None:
                    turn.spent(weight)  # (counts this turn's work from here)
            work(items[first : first + stride])
        return True


class Turn:
    """How much of the poller's work the event loop's current turn has run.

    The first ``spent()`` of a turn opens its count and schedules a callback for the next turn
    (``call_soon``), which closes it; each ``spent()`` while it is open adds the caller's work
    and says whether the turn was full before it. A turn that runs none of the poller's work
    costs nothing.
    """

    __slots__ = ("budget", "counting", "turns", "work")

    def __init__(self, budget: int = TURN_WORK) -> None:
        self.budget = budget
        #: The work counted in this turn so far (polls: ``TURN_WORK``).
        self.work = 0
        #: Turns that ran the poller's work so far (what the tests count).
        self.turns = 0
        #: Whether the poller's work in this turn is being counted (a ``spent()`` came first).
        self.counting = False

    def spent(self, work: int = 1) -> bool:
        """Whether this turn of the loop holds its ``budget`` of the poller's work already
        (the caller then waits for the next turn); if not, count ``work`` more in it."""
        if self.counting:
            if self.work >= self.budget:
                return True
            self.work += work
            return False
        self.counting = True
        self.turns += 1
        self.work = work
        asyncio.get_running_loop().call_soon(self._close)
        return False

    def full(self) -> bool:
        """Whether this turn of the loop holds its ``budget`` of the poller's work already."""
        return self.counting and self.work >= self.budget

    def add(self, work: int) -> None:
        """Count ``work`` more in this turn, if its count is open (a fold that turned out to
        weigh more than its body said: ``event_work``)."""
        if self.counting:
            self.work += work

    def _close(self) -> None:
        self.counting = False


def fold_work(unread: Unread) -> int:
    """The work of folding ``unread``, in polls (``TURN_WORK``): one, and one a 4 KiB of body."""
    return 1 + (len(unread.response.body) >> 12)


def event_work(events: int) -> int:
    """The work of the events an answer made, in polls (``EVENTS_A_POLL``), beyond its fold's."""
    return events // EVENTS_A_POLL


@types.coroutine
def next_turn() -> Generator[None, None, None]:
    """Let the event loop's other callbacks run, then go on in its next turn.

    ``asyncio.sleep(0)`` without its two coroutines, and without anyio's lookup of its
    backend: a worker whose turn is spent waits here before its next poll, under load once
    in a few polls (the poller runs on asyncio only, as aiohttp does). A cancellation is
    delivered here as at any checkpoint.
    """
    yield
