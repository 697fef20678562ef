"""The poller's tasks share one turn's budget of the event loop; virtual time.

Spent at every look (a budget of 0 s), each folded answer and each poll waits for a turn of
its own, and the workers wait for room while a batch is held: the watch must see what it sees
with the default budget, event for event (the budget moves work between turns, never drops or
reorders a job's events). What a turn costs is timed in ``benchmarks/test_scale.py``.
"""

from __future__ import annotations

import anyio

from bkjob_async import Poller, PollPolicy, Scope

from ..virtual import VirtualBkJob, run_virtual

SCOPE = Scope.biz(2)
POLICY = PollPolicy(interval=1.0, max_interval=2.0, max_in_flight=32)
JOBS = 120


def _watched(budget: float | None) -> tuple[list[tuple[int, str]], int, int]:
    """Watch ``JOBS`` jobs that end at different times; return each event as (job, kind) in
    the order delivered, the turns that ran the poller's work, and the polls answered."""
    server = VirtualBkJob({i: 3.0 + i % 7 for i in range(JOBS)})
    ids = [server.job(i) for i in range(JOBS)]
    seen: list[tuple[int, str]] = []
    turns = [0]

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            turn = poller._driver.turn
            if budget is not None:
                turn.budget = budget
            with anyio.fail_after(300):
                async with poller.watch_jobs(SCOPE, ids) as watch:
                    async for event in watch:
                        seen.append((event.job_instance_id, type(event).__name__))
            turns[0] = turn.turns

    run_virtual(main)
    return seen, turns[0], sum(server.polls.values())


def test_every_event_comes_as_it_does_when_every_turn_is_spent() -> None:
    default, default_turns, polls = _watched(None)
    spent, turns, spent_polls = _watched(0.0)
    assert len({job for job, _ in default}) == JOBS
    for job in {job for job, _ in default}:  # each job's events, in order, the same
        assert [e for j, e in spent if j == job] == [e for j, e in default if j == job]
    assert sorted(spent) == sorted(default)
    assert spent_polls == polls  # (the same polls, at the same virtual times)
    assert turns > default_turns  # (the budget was felt: the work spread over more turns)
