"""The poller's one durable path (``Poller(journal=...)``): seed, record, and delivery after settle."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from bkjob_async import HostTransition, JobFinished, MemoryStore, Poller, PollPolicy, Scope
from bkjob_async.polling._tracker import JobState

from ..virtual import SCOPE, VirtualBkJob, run_virtual

POLICY = PollPolicy(latency=1.0, interval=1.0, max_interval=1.0, jitter=0.0)


class RecordingJournal:
    """Record every change; settle a ticket only when the test says so (``hold``)."""

    keeps_all = True

    def __init__(self, seeds: dict[int, JobState] | None = None, *, hold: bool = False) -> None:
        self.seeds = dict(seeds or {})
        self.hold = hold
        self.records: list[tuple[int, list[str], str | None]] = []
        self.done = 0
        self._moved = anyio.Event()

    def seed(self, scope: Scope, job_id: int) -> JobState | None:
        return self.seeds.pop(job_id, None)

    def record(self, job: Any, events: Any, last: Any, watches: Any, raw: object) -> int:
        last_name = None if last is None else type(last).__name__
        self.records.append((job.job_instance_id, [type(e).__name__ for e in events], last_name))
        if not self.hold:
            self.done = len(self.records)
        return len(self.records)

    def settle_all(self) -> None:
        self.done = len(self.records)
        self._moved.set()
        self._moved = anyio.Event()

    def settled(self, ticket: int) -> bool:
        return ticket <= self.done

    async def wait_settled(self, ticket: int) -> None:
        while not self.settled(ticket):
            await self._moved.wait()


def test_follow_records_every_change_until_the_job_ends_or_unfollow() -> None:
    """``follow``: changes reach the journal; the job leaves when it ends, or on ``unfollow``."""
    server = VirtualBkJob({1: 5.0, 2: 1e9, 3: 1e9})
    one, two, three = (server.job(i) for i in (1, 2, 3))
    journal = RecordingJournal()

    async def main() -> tuple[int, frozenset[int], int, int]:
        async with (
            server.client() as client,
            Poller(client, policy=POLICY, journal=journal) as poller,
        ):
            for job in (one, two, three, two):  # following twice is following once
                poller.follow(SCOPE, job)
            await anyio.sleep(10)
            watched = poller.statistics().instances_watched
            poller.unfollow(SCOPE, three)
            polls_of_3 = server.polls[three]
            await anyio.sleep(10)
            return watched, poller.following(SCOPE), polls_of_3, server.polls[three]

    watched, following, polls_of_3, later = run_virtual(main)
    assert any(job == one and last == "JobFinished" for job, _, last in journal.records)
    assert any("HostTransition" in names for _, names, _ in journal.records)
    assert watched == 2  # job 1 left when it ended
    assert following == {two}
    assert later == polls_of_3  # not polled after unfollow
    assert 9 <= server.polls[two] <= 21  # one poll a second, no more


def test_a_watch_hands_out_nothing_before_the_journal_settles_it() -> None:
    """Delivered means durable: with an outside journal, every watch waits for its ticket."""
    server = VirtualBkJob({1: 3.0})
    journal = RecordingJournal(hold=True)

    async def main() -> tuple[int, int, list[str]]:
        seen: list[str] = []
        async with (
            server.client() as client,
            Poller(client, policy=POLICY, journal=journal) as poller,
            poller.watch_jobs(SCOPE, [server.job(1)]) as watch,
        ):
            with anyio.move_on_after(10):
                async for event in watch:
                    seen.append(type(event).__name__)
            held = len(seen)
            recorded = len(journal.records)
            journal.settle_all()
            with anyio.fail_after(10):
                async for event in watch:
                    seen.append(type(event).__name__)
            return held, recorded, seen

    held, recorded, seen = run_virtual(main)
    assert held == 0  # nothing left before the journal said it was written
    assert recorded >= 2  # the job's changes and its end were recorded meanwhile
    assert seen[-1] == "JobFinished"
    assert "HostTransition" in seen


def test_a_seeded_job_continues_from_its_seed() -> None:
    """A job new to the poller starts from the journal's seed: no ``previous=None`` again."""
    server = VirtualBkJob({1: 4.0})

    async def first_events(journal: RecordingJournal) -> list[Any]:
        async with (
            server.client() as client,
            Poller(client, policy=POLICY, journal=journal) as poller,
            poller.watch_jobs(
                SCOPE, [server.job(1)], events=[HostTransition, JobFinished]
            ) as watch,
        ):
            return [event async for event in watch]

    async def main() -> tuple[list[Any], list[Any]]:
        captured: dict[int, JobState] = {}

        class Capturing(RecordingJournal):
            def record(self, job: Any, events: Any, last: Any, watches: Any, raw: object) -> int:
                if last is None:
                    captured.setdefault(job.job_instance_id, job.state)
                return super().record(job, events, last, watches, raw)

        fresh = await first_events(Capturing())
        resumed = await first_events(RecordingJournal(seeds=captured))
        return fresh, resumed

    fresh, resumed = run_virtual(main)
    hosts = [e for e in fresh if isinstance(e, HostTransition)]
    assert hosts
    assert hosts[0].previous is None
    again = [e for e in resumed if isinstance(e, HostTransition)]
    assert again
    assert all(e.previous is not None for e in again)  # continued from the seed
    assert isinstance(resumed[-1], JobFinished)


def test_a_poller_with_a_journal_that_keeps_all_polls_each_job_for_every_change() -> None:
    """A journal that keeps every change (the cluster's): no census stands for polls."""
    server = VirtualBkJob({1: 12.0})
    jobs = [server.job(1)]
    journal = RecordingJournal()

    async def main() -> bool:
        async with (
            server.client() as client,
            Poller(client, policy=POLICY, journal=journal) as poller,
            poller.as_completed(SCOPE, jobs) as finished,
        ):
            async for _ in finished:
                pass
            return poller.statistics().census

    assert run_virtual(main) is False
    assert any("HostTransition" in names for _, names, _ in journal.records)
    assert server.lists == 0


def test_a_store_and_a_journal_are_refused_together() -> None:
    async def main() -> None:
        server = VirtualBkJob()
        async with server.client() as client:
            with pytest.raises(ValueError, match="one journal"):
                Poller(client, store=MemoryStore(), journal=RecordingJournal())

    run_virtual(main)
