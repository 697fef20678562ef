"""The poller's tasks share one turn's budget of work of the event loop; virtual time.

Spent at every look (a budget of 0), each folded answer and each poll waits for a turn of its
own, and the workers wait for room while a batch is held: the watch must see what it sees when
no turn is ever spent, event for event (the budget moves work between turns, never drops or
reorders a job's events), and so must a watch whose turns are spent now and then; each makes
the same polls. Nothing here depends on chance: the policy has no jitter (its draws come from
an unseeded generator, in the order jobs are decided, which the budget changes) and the budget
counts work, not time (a budget of real time is spent or not as the machine's load has it;
before, a loaded CI run once saw one poll more on one side). What a turn costs is timed in
``benchmarks/test_scale.py``.
"""

from __future__ import annotations

import functools
from contextlib import AsyncExitStack
from typing import Any

import anyio

from bkjob_async import Poller, PollPolicy

from ..virtual import SCOPE, VirtualBkJob, run_virtual

POLICY = PollPolicy(interval=1.0, max_interval=2.0, max_in_flight=32, jitter=0.0)
JOBS = 120


#: A budget no turn ever reaches.
NEVER = 1 << 60


def _watched(budget: int) -> tuple[list[tuple[int, str]], int, int]:
    """Watch ``JOBS`` jobs that end at different times, with turns of ``budget`` polls' work;
    return each event as (job, kind) in the order delivered, the turns that ran the poller's
    work, and the polls answered."""
    server = VirtualBkJob({i: 3.0 + i % 7 for i in range(JOBS)})
    ids = [server.job(i) for i in range(JOBS)]
    seen: list[tuple[int, str]] = []
    turns = [0]

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            turn = poller._driver.turn
            turn.budget = budget
            with anyio.fail_after(300):
                async with poller.watch_jobs(SCOPE, ids) as watch:
                    async for event in watch:
                        seen.append((event.job_instance_id, type(event).__name__))
            turns[0] = turn.turns

    run_virtual(main)
    return seen, turns[0], sum(server.polls.values())


@functools.cache
def _extreme(budget: int) -> tuple[list[tuple[int, str]], int, int]:
    """``_watched`` with no turn ever spent (``NEVER``) or every one (0), run once each."""
    return _watched(budget)


def _same(watched: tuple[list[tuple[int, str]], int, int], never: tuple[Any, ...]) -> None:
    """Check that ``watched`` saw each job's events in the order ``never`` did, and polled
    as often (the same polls, at the same virtual times)."""
    events, _, polls = watched
    for job in {job for job, _ in never[0]}:  # each job's events, in order, the same
        assert [e for j, e in events if j == job] == [e for j, e in never[0] if j == job]
    assert sorted(events) == sorted(never[0])
    assert polls == never[2]


def test_every_event_comes_as_it_does_when_every_turn_is_spent() -> None:
    never, spent = _extreme(NEVER), _extreme(0)
    assert len({job for job, _ in never[0]}) == JOBS
    _same(spent, never)
    assert spent[1] > never[1]  # (the budget was felt: the work spread over more turns)


def test_turns_spent_now_and_then_move_work_never_events() -> None:
    spent = _watched(5)  # (a turn is spent at its sixth poll or folded answer)
    _same(spent, _extreme(NEVER))
    assert _extreme(NEVER)[1] < spent[1] < _extreme(0)[1]  # (spent now and then: between)


def test_unchanged_answers_at_a_quiet_time_count_no_turn() -> None:
    # Jobs that run for long and answer the same every poll, each at its own time: a worker
    # that finds no poll due parks, and opens no count of the turn (whose end would cost the
    # event loop a turn more for each such answer). Counting each answer's turn, as before,
    # makes the turns as many as the polls.
    server = VirtualBkJob(dict.fromkeys(range(4), 1000.0), hosts=2)  # (polled: not parked)
    ids = [server.job(i) for i in range(4)]
    counted = [0, 0]

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            turn = poller._driver.turn
            async with AsyncExitStack() as stack:
                for job_id in ids:  # (a watch each, a quarter of a second apart: out of step)
                    await stack.enter_async_context(poller.watch_jobs(SCOPE, [job_id]))
                    await anyio.sleep(0.25)
                await anyio.sleep(5.0)  # (the jobs' first changes: started, running)
                before, polls = turn.turns, sum(server.polls.values())
                await anyio.sleep(60.0)  # (about 30 unchanged answers a job: every 2 s)
                counted[:] = [turn.turns - before, sum(server.polls.values()) - polls]

    run_virtual(main)
    turns, polls = counted
    assert polls >= 4 * 25
    assert turns < polls / 10, (turns, polls)


def _first_answers(monkeypatch: Any, weigh_events: bool) -> tuple[list[tuple[int, str]], int]:
    """Watch 40 jobs of 32 hosts each from their start (every first answer: 32 hosts moved);
    return the events and the turns that ran the poller's work."""
    if not weigh_events:
        monkeypatch.setattr("bkjob_async.polling._workers.EVENTS_A_POLL", NEVER)
    server = VirtualBkJob(dict.fromkeys(range(40), 5.0), hosts=32)
    ids = [server.job(i) for i in range(40)]
    seen: list[tuple[int, str]] = []
    turns = [0]

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            with anyio.fail_after(300):
                async with poller.watch_jobs(SCOPE, ids) as watch:
                    async for event in watch:
                        seen.append((event.job_instance_id, type(event).__name__))
            turns[0] = poller._driver.turn.turns

    run_virtual(main)
    return seen, turns[0]


def test_an_answer_that_moved_many_hosts_weighs_more_in_its_turn(monkeypatch: Any) -> None:
    # A job's first answer moves each of its hosts: 32 host transitions (a row structured and
    # an event each) weigh eight polls more than the answer's fold alone, so the same answers
    # spread over more turns of the loop, each holding less; what is seen is the same.
    weighed, unweighed = _first_answers(monkeypatch, True), None
    with monkeypatch.context() as patched:
        unweighed = _first_answers(patched, False)
    assert sorted(weighed[0]) == sorted(unweighed[0])
    assert sum(kind == "HostTransition" for _, kind in weighed[0]) >= 40 * 32
    assert weighed[1] > unweighed[1], (weighed[1], unweighed[1])
