"""A large watch joins and leaves the poller in slices, other tasks running between; virtual time.

The slices are counted, not timed (what a slice costs is in ``benchmarks/test_scale.py``): a
``Pace`` whose clock moves a second at each read ends a slice after every stride.
"""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import Poller, PollPolicy
from bkjob_async.polling._turn import Pace

from ..virtual import SCOPE, VirtualBkJob, run_virtual

POLICY = PollPolicy(interval=1.0, max_interval=2.0, max_in_flight=4)
JOBS = 300
STRIDE = 25


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _sliced(poller: Poller) -> Pace:
    """Make ``poller`` attach and detach ``STRIDE`` jobs per slice; return its pace."""
    pace = poller._attachments.pace = Pace(budget=0.5, stride=STRIDE, clock=Ticks())
    return pace


def _server() -> tuple[VirtualBkJob, list[int]]:
    server = VirtualBkJob(dict.fromkeys(range(JOBS), 1e9))  # (none ends while watched)
    return server, [server.job(i) for i in range(JOBS)]


async def _no_more_polls(server: VirtualBkJob) -> None:
    """Check that no job is polled any more (once the polls in flight have come back)."""
    await anyio.sleep(1)
    polls = sum(server.polls.values())
    await anyio.sleep(10)
    assert sum(server.polls.values()) == polls


async def _counts_while(poller: Poller, work) -> list[int]:
    """Run ``work``; return the jobs polled as another task saw them at each of its turns."""
    seen: list[int] = []
    done = anyio.Event()

    async def look() -> None:
        while not done.is_set():
            seen.append(poller.statistics().instances_watched)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(look)
        await anyio.lowlevel.checkpoint()
        try:
            await work()
        finally:
            done.set()
    return seen


def test_a_large_watch_registers_in_slices() -> None:
    server, ids = _server()
    seen: list[int] = []

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            pace = _sliced(poller)
            watch = poller.watch_jobs(SCOPE, ids)

            async def registered() -> None:
                while poller.statistics().instances_watched < JOBS:
                    await anyio.sleep(0)

            seen.extend(await _counts_while(poller, registered))
            assert pace.slices == JOBS // STRIDE - 1
            await watch.aclose()

    run_virtual(main)
    between = sorted({n for n in seen if 0 < n < JOBS})
    assert between == list(range(STRIDE, JOBS, STRIDE))  # every slice, seen by another task


def test_a_large_watch_closes_in_slices_and_leaves_no_job_polled() -> None:
    server, ids = _server()
    seen: list[int] = []

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            watch = poller.watch_jobs(SCOPE, ids)
            while poller.statistics().instances_watched < JOBS:
                await anyio.sleep(0.1)
            await anyio.sleep(3)  # every job polled
            pace = _sliced(poller)
            seen.extend(await _counts_while(poller, watch.aclose))
            assert watch.closed
            assert pace.slices == JOBS // STRIDE - 1
            assert poller.statistics().instances_watched == 0
            await _no_more_polls(server)

    run_virtual(main)
    between = sorted({n for n in seen if 0 < n < JOBS})
    assert between == list(range(STRIDE, JOBS, STRIDE))


@pytest.mark.parametrize("how", ["aclose", "async with"])
def test_a_cancelled_close_still_lets_go_of_every_job(how: str) -> None:
    server, ids = _server()

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            watch = poller.watch_jobs(SCOPE, ids)
            while poller.statistics().instances_watched < JOBS:
                await anyio.sleep(0.1)
            pace = _sliced(poller)
            with anyio.CancelScope() as scope:
                if how == "aclose":
                    scope.cancel()  # cancelled before it begins: it still ends the watch
                    await watch.aclose()
                else:
                    async with watch:
                        scope.cancel()  # leaving the block cancelled closes the watch
                        await anyio.sleep(1)
            assert scope.cancelled_caught
            assert pace.slices == JOBS // STRIDE - 1  # (shielded: it went on in slices)
            assert watch.closed
            assert poller.statistics().instances_watched == 0
            await _no_more_polls(server)

    run_virtual(main)


def test_a_watch_closed_while_registering_stops_registering() -> None:
    server, ids = _server()

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            pace = _sliced(poller)
            watch = poller.watch_jobs(SCOPE, ids)
            while poller.statistics().instances_watched < 2 * STRIDE:
                await anyio.lowlevel.checkpoint()
            await watch.aclose()
            assert poller.statistics().instances_watched == 0
            slices = pace.slices
            await anyio.sleep(10)
            assert poller.statistics().instances_watched == 0
            assert pace.slices == slices  # registration stopped at its next slice
            assert sum(server.polls.values()) <= 2 * STRIDE  # (the first polls of some)

    run_virtual(main)


def test_removing_many_jobs_lets_go_of_them_in_slices() -> None:
    server, ids = _server()

    async def main() -> None:
        async with (
            server.client() as client,
            Poller(client, policy=POLICY) as poller,
            poller.watch_jobs(SCOPE, ids) as watch,
        ):
            while poller.statistics().instances_watched < JOBS:
                await anyio.sleep(0.1)
            pace = _sliced(poller)
            await watch.remove(SCOPE, ids[: JOBS // 2])
            assert pace.slices == JOBS // 2 // STRIDE - 1
            assert poller.statistics().instances_watched == JOBS // 2
            assert watch.jobs == tuple(ids[JOBS // 2 :])

    run_virtual(main)
