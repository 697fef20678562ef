"""``_turn.Pace``: work in strides, a checkpoint once a slice has run its budget; ``Turn``:
the budget of work one turn of the event loop shares among tasks. Fake clocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import anyio
import pytest

from bkjob_async._protocol import Response
from bkjob_async.polling._reader import Unread
from bkjob_async.polling._turn import EVENTS_A_POLL, Pace, Turn, event_work, fold_work


class Ticks:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.step, self.now = step, 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def _run(pace: Pace, items: Sequence[int], stop=None) -> tuple[bool, list[list[int]], list]:
    """Run ``pace`` over ``items``; return its answer, the strides, and what a task saw between."""
    strides: list[list[int]] = []
    seen: list[int] = []
    done = False

    async def watch_between() -> None:  # runs only when the work lets it (a checkpoint)
        while not done:
            seen.append(sum(map(len, strides)))
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_between)
        await anyio.lowlevel.checkpoint()
        finished = await pace.run(items, lambda chunk: strides.append(list(chunk)), stop)
        done = True
    return finished, strides, seen


@pytest.mark.anyio
async def test_items_go_in_strides_and_a_slice_ends_at_its_budget() -> None:
    # Each read of the clock moves it 1 s: with a budget of 2.5 s a slice takes 3 strides
    # (the clock is read at its start and after each stride).
    pace = Pace(budget=2.5, stride=4, clock=Ticks(1.0))
    finished, strides, seen = await _run(pace, list(range(30)))
    assert finished
    assert [len(s) for s in strides] == [4, 4, 4, 4, 4, 4, 4, 2]
    assert [i for s in strides for i in s] == list(range(30))
    assert pace.slices == 2
    # The other task ran between slices, seeing 12 and 24 items done.
    assert [n for n in seen if 0 < n < 30] == [12, 24]


@pytest.mark.anyio
async def test_work_within_its_budget_takes_no_checkpoint() -> None:
    pace = Pace(budget=10.0, stride=4, clock=Ticks(0.0))
    finished, strides, seen = await _run(pace, list(range(30)))
    assert finished
    assert len(strides) == 8
    assert pace.slices == 0
    assert [n for n in seen if 0 < n < 30] == []


@pytest.mark.anyio
async def test_stop_is_asked_after_each_checkpoint() -> None:
    pace = Pace(budget=0.5, stride=3, clock=Ticks(1.0))  # a checkpoint after every stride
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) == 2

    finished, strides, _ = await _run(pace, list(range(30)), stop)
    assert not finished
    assert [len(s) for s in strides] == [3, 3]
    assert pace.slices == 2


@pytest.mark.anyio
async def test_cancelled_at_a_checkpoint_the_rest_is_not_handed_out() -> None:
    pace = Pace(budget=0.5, stride=5, clock=Ticks(1.0))
    strides: list[list[int]] = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        await pace.run(list(range(20)), lambda chunk: strides.append(list(chunk)))
    assert scope.cancelled_caught
    assert strides == [[0, 1, 2, 3, 4]]  # the first stride ran before the first checkpoint


@pytest.mark.anyio
async def test_no_items_no_work() -> None:
    pace = Pace(budget=0.0, clock=Ticks(1.0))
    assert await pace.run([], lambda chunk: pytest.fail("called"))
    assert pace.slices == 0


def test_a_stride_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="stride"):
        Pace(stride=0)


@pytest.mark.anyio
async def test_a_turn_is_spent_at_its_budget_and_the_next_turn_starts_afresh() -> None:
    turn = Turn(budget=3)
    # Opened with a poll; two more fit; the fourth finds the turn full, and counts nothing.
    assert [turn.spent() for _ in range(4)] == [False, False, False, True]
    assert (turn.work, turn.turns) == (3, 1)
    await anyio.lowlevel.checkpoint()  # the event loop's next turn
    assert turn.spent(2) is False
    assert (turn.work, turn.turns) == (2, 2)
    assert turn.spent(5) is False  # (a turn not full takes work that overfills it)
    assert turn.spent() is True
    await anyio.lowlevel.checkpoint()
    await anyio.lowlevel.checkpoint()  # (a turn with none of the poller's work counts none)
    assert turn.spent() is False
    assert turn.turns == 3


def test_an_answer_folded_counts_a_poll_and_one_more_a_4_kib_of_body() -> None:
    def unread(size: int) -> Unread:
        return Unread(cast("Any", None), Response(200, {}, b"x" * size), None)

    assert [fold_work(unread(n)) for n in (0, 4095, 4096, 40_000)] == [1, 1, 2, 10]


@pytest.mark.anyio
async def test_a_pace_on_a_shared_turn_ends_its_slice_once_the_turn_is_spent() -> None:
    # A stride of 32 counts two polls on the turn, whose budget is 4: two strides a turn,
    # whatever the pace's own budget (the turn's is shared with the poller's other tasks).
    turn = Turn(budget=4)
    pace = Pace(budget=1000.0, stride=32, clock=Ticks(0.0), turn=turn)
    finished, strides, seen = await _run(pace, list(range(160)))
    assert [len(s) for s in strides] == [32] * 5
    assert finished
    assert pace.slices == 2
    assert [n for n in seen if 0 < n < 160] == [64, 128]
    assert turn.turns == 3


@pytest.mark.anyio
async def test_work_added_after_the_fact_fills_the_open_turn_only() -> None:
    turn = Turn(budget=4)
    turn.add(3)  # (no count open: nothing to add to)
    assert (turn.work, turn.turns) == (0, 0)
    assert turn.spent() is False
    turn.add(event_work(32))  # (an answer that moved 32 hosts: eight polls more)
    assert turn.work == 9
    assert turn.spent() is True
    await anyio.lowlevel.checkpoint()
    assert turn.spent() is False
    assert turn.work == 1


def test_events_weigh_a_poll_each_four() -> None:
    assert [event_work(n) for n in (0, 3, 4, 31, 32)] == [0, 0, 1, 7, 8]
    assert event_work(EVENTS_A_POLL) == 1
