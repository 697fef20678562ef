"""Watches that filter events, take and drop jobs while running, and as_completed; virtual time."""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import (
    HostTransition,
    JobFinished,
    NotFoundError,
    Poller,
    PollerStatistics,
    PollingError,
    PollPolicy,
    Scope,
    StepTransition,
)

from ..virtual import SCOPE, VirtualBkJob, now, run_virtual

POLICY = PollPolicy(interval=1.0, max_interval=2.0, max_in_flight=4)


def test_an_events_filter_keeps_only_those_classes() -> None:
    server = VirtualBkJob({1: 5.0, 2: 8.0})
    ids = [server.job(1), server.job(2)]
    got: list = []

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            async for event in poller.watch_jobs(SCOPE, ids, events=(HostTransition, JobFinished)):
                got.append(event)

    run_virtual(main)
    assert {type(e) for e in got} == {HostTransition, JobFinished}
    assert sorted(e.job_instance_id for e in got if isinstance(e, JobFinished)) == ids


@pytest.mark.parametrize("events", [(), (int,), ("JobFinished",), (PollerStatistics,)])
def test_a_bad_events_filter_is_refused_before_anything_is_sent(events) -> None:
    server = VirtualBkJob({1: 5.0})

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            with pytest.raises(TypeError, match="events must name event classes"):
                poller.watch_jobs(SCOPE, [server.job(1)], events=events)
            await anyio.sleep(2)

    run_virtual(main)
    assert not server.sent


def test_a_running_watch_takes_and_drops_jobs() -> None:
    server = VirtualBkJob({1: 30.0, 2: 1e9, 3: 20.0, 4: 1e9}, hosts=2)  # (polled: not parked)
    one, two, three, four = (server.job(i) for i in (1, 2, 3, 4))
    finished: list[tuple[float, int]] = []
    at_removal: dict[int, int] = {}

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            async with poller.watch_jobs(SCOPE, [one, two]) as watch:
                assert len(watch) == 2
                assert watch.jobs == (one, two)

                async def steer() -> None:
                    await anyio.sleep(5)
                    await watch.add(SCOPE, [three, four, one])  # one is held already
                    assert watch.jobs == (one, two, three, four)
                    assert poller.statistics().instances_watched == 4
                    await anyio.sleep(5)
                    await watch.remove(SCOPE, [two, four])
                    at_removal.update({2: server.polls[two], 4: server.polls[four]})
                    assert len(watch) == 2
                    await anyio.sleep(0)
                    assert poller.statistics().instances_watched == 2

                async with anyio.create_task_group() as tg:
                    tg.start_soon(steer)
                    with anyio.fail_after(100):
                        async for event in watch:
                            if isinstance(event, JobFinished):
                                finished.append((now(), event.job_instance_id))
            assert poller.statistics().instances_watched == 0

    run_virtual(main)
    assert [job for _, job in finished] == [three, one]
    assert at_removal[2] >= 5
    assert at_removal[4] >= 2  # polled while held ...
    assert server.polls[two] <= at_removal[2] + 1  # ... and not after (one may have been out)
    assert server.polls[four] <= at_removal[4] + 1
    assert finished[-1][0] >= 30.0  # the watch went on for 20 s after the removal


def test_taking_jobs_is_checked() -> None:
    server = VirtualBkJob({1: 1e9})

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            watch = poller.watch_jobs(SCOPE, [server.job(1)])
            with pytest.raises(ValueError, match="holds jobs of"):
                await watch.add(Scope.biz(3), [5])
            with pytest.raises(ValueError, match=">= 1"):
                await watch.add(SCOPE, [0])
            with pytest.raises(TypeError):
                await watch.add(SCOPE, "12")
            single = poller.watch_job(SCOPE, server.job(1))
            with pytest.raises(TypeError, match="watch_jobs"):
                await single.add(SCOPE, [2])
            await single.aclose()
            await watch.aclose()
            with pytest.raises(RuntimeError, match="ended"):
                await watch.add(SCOPE, [2])

    run_virtual(main)


def test_as_completed_yields_in_finishing_order() -> None:
    server = VirtualBkJob({1: 40.0, 2: 10.0, 3: 25.0})
    order: list[int] = []

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            async with poller.as_completed(SCOPE, list(server.ids.values())) as finished:
                async for status in finished:
                    order.append(status.job.job_instance_id)
            assert poller.statistics().watches == 0

    run_virtual(main)
    assert order == [server.job(2), server.job(3), server.job(1)]


def test_as_completed_raises_a_jobs_failure() -> None:
    server = VirtualBkJob({1: 10.0})

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            with pytest.raises(NotFoundError):
                async for _ in poller.as_completed(SCOPE, [server.job(1), 404]):
                    pass

    run_virtual(main)


def test_as_completed_raises_at_the_deadline() -> None:
    server = VirtualBkJob({1: 1e9})
    policy = PollPolicy(interval=1.0, max_interval=2.0, deadline=30.0)

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=policy) as poller:
            with pytest.raises(PollingError, match="deadline"):
                async for _ in poller.as_completed(SCOPE, [server.job(1)]):
                    pass

    run_virtual(main)


def test_statistics_count_open_watches() -> None:
    server = VirtualBkJob({1: 5.0, 2: 1e9})

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            first = poller.watch_jobs(SCOPE, [server.job(1)])
            second = poller.watch_jobs(SCOPE, [server.job(2)])
            assert poller.statistics().watches == 2
            async for _ in first:
                pass
            assert poller.statistics().watches == 1
            await second.aclose()
            assert poller.statistics().watches == 0

    run_virtual(main)


def test_step_transitions_can_be_left_out() -> None:
    server = VirtualBkJob({1: 5.0})
    got: list = []

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            kinds = (HostTransition, JobFinished)
            got.extend([e async for e in poller.watch_jobs(SCOPE, [server.job(1)], events=kinds)])

    run_virtual(main)
    assert not any(isinstance(e, StepTransition) for e in got)
