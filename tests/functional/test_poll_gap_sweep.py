"""The engine never asks for a poll sooner than its smallest gap, on the family's mixes (virtual time).

``_due.Due`` refuses a poll asked for sooner than ``_decide.min_gap`` after the job's last one
(no hint since): a scheduling bug, put off, counted in ``statistics().refused_polls`` and
logged at WARNING. Here each seed's jobs of ``benchmarks/_peers_family.py`` run on the
simulator on virtual time, their people confirming their waits (``_peers_mix.confirm_due``),
watched by the real ``Poller`` at its defaults (census on; each launch's jobs on a watch of their
own, ``launched=True``, as the family's engine watches them), and the seed draws what else moves
the schedule: watches of some jobs that come and go while they run (some waiting for the end
only, which the job list reads), callbacks' hints, an outage (connections reset, or 502s or
503s), a spell of 429s, a job list that 404s, answers up to 10 ms, 100 ms or 500 ms late (each
drawn), the gateway v3 or v4. Jobs waiting for a person, and jobs whose last host runs, are
left to the job list (parked) as the census does by default. No poll may be refused, and
none is logged as too soon.

A few seeds run by default (about 2.5 s of CPU); the whole sweep (40 seeds, about 95 s) is
``slow`` (``make test-slow``).
"""

from __future__ import annotations

import logging
import random
import statistics
from collections.abc import Mapping
from typing import Any, NamedTuple

import anyio
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from benchmarks._peers_family import Job, jobs_for, mix_jobs
from benchmarks._peers_mix import PersonWait, confirm_due, people
from bkjob_async import (
    BkJobError,
    HostTransition,
    JobFinished,
    JobStatus,
    Poller,
    PollPolicy,
    StepTransition,
    StepType,
)
from bkjob_async.testing import Fault, Request, Response

from ..virtual import SCOPE, VirtualBkJob, now, run_virtual

#: Virtual time: CPU-bound polls, too slow under coverage's tracer.
pytestmark = pytest.mark.untraced

POLICY = PollPolicy()

#: Virtual seconds between two looks of the people (the family's model looks every 0.1 s; a
#: second is as good here, where only the polls' schedule is under test).
TICK = 1.0


class Moves(NamedTuple):
    """What a seed draws besides its jobs: what moves the schedule, and when (virtual s)."""

    #: ``(start, end, fault)``: every request fails so (``None``: no outage).
    outage: tuple[float, float, Fault] | None
    #: ``(start, end, rps)``: bk-job's gateway takes ``rps`` requests a second (429s beyond).
    throttle: tuple[float, float, float] | None
    #: ``(at, job index)``: a callback says the job ended.
    hints: list[tuple[float, int]]
    #: ``(start, end, job index, events)``: a watch of one job, for ``events`` (``None``: all).
    watches: list[tuple[float, float, int, tuple[type, ...] | None]]
    #: The job list answers 404 (the census ends at its first read).
    no_list: bool
    #: The longest an answer takes (virtual s; each drawn up to it): answers that take a while,
    #: and not all alike, interleave a round of the job list with the polls around it.
    latency: float
    #: The client's API: bk-job's gateway v3, or v4 (its job list has no host rows to spare).
    flavor: str


_KINDS: tuple[tuple[type, ...] | None, ...] = (
    (JobFinished,),  # an end-only wait: the job list reads it
    (HostTransition, JobFinished),
    (StepTransition,),
    None,
)


def moves(seed: int, jobs: list[Job]) -> Moves:
    """Return what seed ``seed`` draws besides its jobs (see ``Moves``)."""
    rng = random.Random(f"gap-sweep:{seed}")
    # (while most jobs run: half the time by which half of them can have ended)
    last = max(30.0, 0.5 * statistics.median(job.horizon for job in jobs))
    outage = None
    if rng.random() < 0.5:
        start = rng.uniform(5.0, last)
        fault = rng.choice((Fault.reset(), Fault.http_status(502), Fault.http_status(503)))
        outage = (start, start + rng.uniform(3.0, 90.0), fault)
    throttle = None
    if rng.random() < 0.5:
        start = rng.uniform(5.0, last)
        throttle = (start, start + rng.uniform(5.0, 60.0), rng.uniform(0.5, 5.0))
    hints = sorted(
        (rng.uniform(0.0, last), rng.randrange(len(jobs))) for _ in range(rng.randint(0, 40))
    )
    watches = []
    for _ in range(rng.randint(0, 12)):
        start = rng.uniform(0.0, last)
        watches.append(
            (start, start + rng.uniform(1.0, 120.0), rng.randrange(len(jobs)), rng.choice(_KINDS))
        )
    latency = rng.choice((0.01, 0.1, 0.5))
    no_list = rng.random() < 0.2
    flavor = "apigw-v4" if rng.random() < 0.25 else "apigw-v3"
    return Moves(outage, throttle, hints, watches, no_list, latency, flavor)


class Family(VirtualBkJob):
    """The simulator serving a seed's jobs as the family's model runs them (``seed=1``, its
    default lags), each answer up to ``latency`` late (drawn by ``seed``); with ``no_list``,
    its job list answers 404."""

    def __init__(self, jobs: list[Job], no_list: bool, latency: float, seed: int) -> None:
        super().__init__(seed=1, operation_lag=0.2, host_start_delay=(0.0, 0.5))
        self.no_list, self.longest = no_list, latency
        self.rng = random.Random(f"gap-sweep-latency:{seed}")
        self.job_ids = [self.sim.create_job(SCOPE, job.plan) for job in jobs]

    async def _send(self, request: Request) -> Response:
        if self.no_list and request.api == "get_job_instance_list":
            return Response(404, CIMultiDictProxy(CIMultiDict()), b"not found")
        self.latency = self.rng.uniform(0.0, self.longest)  # (read before its first await)
        return await super()._send(request)


async def _people(server: Family, waits: dict[int, PersonWait]) -> None:
    """Confirm each wait its person's seconds after it began (retried while bk-job fails)."""
    async with people(server.sim) as client:
        while waits:
            await anyio.sleep(TICK)
            before = dict(waits)
            try:
                await confirm_due(server.sim, client, waits, server.sim.now_ms())
            except BkJobError:  # (an outage or a 429: confirmed at the next look)
                for job_id, wait in before.items():
                    if job_id not in waits and _waits(server, job_id):
                        waits[job_id] = wait


def _waits(server: Family, job_id: int) -> bool:
    """Whether the job's confirmation still waits for its person."""
    step = next(s for s in server.sim.job(job_id).steps if s.type is StepType.MANUAL_CONFIRM)
    return step.status == JobStatus.WAITING_USER


async def _watch(poller: Poller, batch: list[int], at: float, ended: set[int]) -> None:
    """Watch one launch's jobs from its time until each has ended."""
    await anyio.sleep(at)
    left = set(batch)
    async with poller.watch_jobs(SCOPE, batch, launched=True) as watch:
        async for event in watch:
            if isinstance(event, JobFinished):
                ended.add(event.job_instance_id)
                left.discard(event.job_instance_id)
                if not left:
                    return


async def _watch_awhile(
    poller: Poller, job: int, start: float, end: float, kinds: tuple[type, ...] | None
) -> None:
    """Watch ``job`` for ``kinds`` from ``start`` until ``end`` or its end (a watch that comes
    and goes beside the launch's)."""
    await anyio.sleep(start)
    with anyio.move_on_after(end - start):
        async with poller.watch_jobs(SCOPE, [job], events=kinds) as watch:
            async for event in watch:
                if isinstance(event, JobFinished):
                    return


async def _hints(poller: Poller, hints: list[tuple[float, int]], ids: list[int]) -> None:
    for at, index in hints:
        await anyio.sleep(max(0.0, at - now()))
        poller.hint(ids[index])


async def _throttle(server: Family, start: float, end: float, rps: float) -> None:
    await anyio.sleep(start)
    server.sim.set_rate_limit(rps)
    await anyio.sleep(end - start)
    server.sim.set_rate_limit(None)


def sweep(seed: int, jobs: int) -> dict[str, Any]:
    """Run ``jobs`` jobs of seed ``seed``'s mix with its ``moves`` to their ends; return the
    poller's statistics and what ended."""
    drawn = mix_jobs(seed, jobs)
    drawn_moves = moves(seed, drawn)
    server = Family(drawn, drawn_moves.no_list, drawn_moves.latency, seed)
    ids = server.job_ids
    waits = {i: job.person for i, job in zip(ids, drawn, strict=True) if job.person}
    batches: dict[float, list[int]] = {}
    for job_id, job in zip(ids, drawn, strict=True):
        batches.setdefault(job.launch, []).append(job_id)
    ended: set[int] = set()

    async def main() -> dict[str, Any]:
        async with (
            server.client(rng=random.Random(seed), flavor=drawn_moves.flavor) as client,
            Poller(client, policy=POLICY, rng=random.Random(seed)) as poller,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(_people, server, waits)
            if drawn_moves.outage is not None:
                tg.start_soon(server.outage, *drawn_moves.outage)
            if drawn_moves.throttle is not None:
                tg.start_soon(_throttle, server, *drawn_moves.throttle)
            tg.start_soon(_hints, poller, drawn_moves.hints, ids)
            for start, end, index, kinds in drawn_moves.watches:
                tg.start_soon(_watch_awhile, poller, ids[index], start, end, kinds)
            async with anyio.create_task_group() as watches:
                for at, batch in sorted(batches.items()):
                    watches.start_soon(_watch, poller, batch, at, ended)
            tg.cancel_scope.cancel()  # (every job ended: the rest is beside them)
            stats = poller.statistics()
        return {
            "refused": stats.refused_polls,
            "requests": stats.requests,
            "lists": stats.census_requests,
            "throttled": len(server.refused),
            "failed": len(server.failed),
            "time": now(),
        }

    out = run_virtual(main)
    out["ended"], out["jobs"], out["moves"] = len(ended), len(ids), drawn_moves
    return out


def _check(seed: int, jobs: int, caplog: pytest.LogCaptureFixture) -> Mapping[str, Any]:
    with caplog.at_level(logging.WARNING, logger="bkjob_async.polling"):
        out = sweep(seed, jobs)
    assert out["ended"] == out["jobs"]  # (the run got to every job's end)
    too_soon = [r.getMessage() for r in caplog.records if "sooner than the policy" in r.message]
    assert (out["refused"], too_soon) == (0, []), (seed, out["moves"])
    return out


#: The default suite's seeds, with how many jobs each (about 2.5 s of CPU): three that find a row
#: of the job list asking for a poll at once (``Listed`` before it carried the job's send time:
#: 11 with 30 jobs, 14 and 27 with the family's count; an outage and 429s among them), 39 (429s
#: on the gateway v4; it found that row too before the job table's rework of d4f400f-c3c703c),
#: and 7, whose job list 404s.
QUICK = ((7, 30), (11, 30), (14, 40), (27, 120), (39, 120))

#: The sweep: every seed of 40, with the family benchmark's count of jobs (``jobs_for``: 40 to
#: 120), but those the default suite runs (about 95 s of CPU).
SWEEP = [seed for seed in range(40) if (seed, jobs_for(seed, 2000, 40, 120)) not in QUICK]


@pytest.mark.parametrize(("seed", "jobs"), QUICK)
def test_no_poll_is_refused_on_a_seed_of_the_family(
    seed: int, jobs: int, caplog: pytest.LogCaptureFixture
) -> None:
    _check(seed, jobs, caplog)


@pytest.mark.slow
@pytest.mark.timeout(240)  # (the longest, seed 4 on the gateway v4: about 11 s of CPU)
@pytest.mark.parametrize("seed", SWEEP)
def test_no_poll_is_refused_on_the_family_sweep(
    seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    _check(seed, jobs_for(seed, 2000, 40, 120), caplog)
