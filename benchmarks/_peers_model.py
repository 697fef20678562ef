"""The mixes on virtual time: requests per job and transition latency of a schedule, no server.

``python benchmarks/_peers_model.py [REPEATS]`` draws the jobs of the realistic and the bursty
mix (``_peers_mix``) ``REPEATS`` times (20 by default: 360 jobs each, in batches of 18 watched
together, as ``test_peers.py`` watches them), each host's start and end as the simulator draws
them (0-2 s start delay, a run in the plan's span, a step starting when the last host of the
one before ends), with or without people: a share of jobs (``PERSON_SHARES``) waits at a
manual confirmation before one of its steps until a person confirms, 30 s to 10 min later
(``_peers_mix.person_wait``: exactly that share of each batch, rounded, drawn per batch;
``jobs_of`` reads the jobs of a real run's timeline instead). It polls every job by a schedule and counts
what ``test_peers.py`` counts: requests per job (polls until the job's end is seen, and the
job list's reads), p50/p99 latency over host starts and ends and confirmations after the
first 10 s, and the share later than 5 s. Schedules:

- ``fixed 5 s``: the SDK's loop, polling each job every 5 s until its end (through a
  person's wait too); ``fixed 5 s, jitter 10%``: each gap shortened by up to 10%;
- ``engine ...``: ``_decide.decide`` itself, with answers built from the timeline (an unchanged
  body is ``UNCHANGED``), under a ``PollPolicy``; each job first polled when its watch takes it
  on (``_decide.joined_at``: at once, as the driver does, or ``soon`` after its launch when the
  watch is told it was launched then; the loop's first poll comes a phase of its gap later); a
  job that waits for a person is parked on
  the job list (``_census``: one list request a round for the batch, while any job is parked;
  a row that moved has its job polled at once), as a watch of host events is;
- ``oracle``: the engine's defaults, but a step in its quiet stretch (all hosts running, none
  ended) is next polled when its first host ends, and a job waiting for a person when the
  person confirms, which no poller can know: the fewest requests a latency-bound schedule
  could make.

It measures the schedule alone (no machine delay, a list read and the poll it calls for at the
same instant); ``test_peers.py`` measures the real thing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).parent))

from _peers_mix import PERSON_SHARE, burst_plan, job_plan, person_wait

from bkjob_async import PollPolicy, Scope
from bkjob_async._converter import Generation
from bkjob_async._observe import observe_job
from bkjob_async.models import (
    Host,
    HostResult,
    HostStatus,
    JobInstance,
    JobInstanceStatus,
    JobStatus,
)
from bkjob_async.polling._decide import (
    UNCHANGED,
    Answer,
    Health,
    Listed,
    Rules,
    census_round,
    decide,
    joined_at,
    unparked_at,
)
from bkjob_async.polling._jobs import PolledJob

SETTLE = 10.0
JOBS = 18
#: The shares of jobs with a person in them the model runs: none, half, and ``_peers_mix``'s.
PERSON_SHARES = (0.0, PERSON_SHARE / 2, PERSON_SHARE)
MIXES = {"realistic": ("peers", job_plan), "bursty": ("bursts", burst_plan)}
WAITING_USER, CONFIRM = 7, 3  # a job's status while it waits; a manual confirmation's type


class Step(NamedTuple):
    """One step of a drawn job: when it starts and ends, its hosts' ``(start, end)`` (none
    for a confirmation: it ends when the person confirms)."""

    start: float
    end: float
    hosts: list[tuple[float, float]]
    confirm: bool = False


Job = list[Step]
#: A schedule polls a batch of jobs watched together: each job's poll times, and the job
#: list's reads (``[]`` for a schedule without one).
Schedule = Callable[[list[Job], int], tuple[list[list[float]], list[float]]]


def draw(mix: str, repeats: int, persons: float = 0.0) -> list[list[Job]]:
    """Return the mix's batches of ``JOBS`` jobs, ``repeats`` of them, each drawn with its own
    seed; a share ``persons`` of jobs with a person's wait (its own draw in each batch)."""
    name, plan = MIXES[mix]
    batches = []
    for r in range(repeats):
        batch = []
        for index in range(JOBS):
            rng = random.Random(f"model:{r}:{index}")
            script = plan(1, index)
            wait = person_wait(name, 1000 + r, index, persons, len(script), JOBS)
            t, steps = 0.0, []
            for n, step in enumerate(script):
                if wait is not None and n == wait.before:
                    steps.append(Step(t, t + wait.seconds, [], confirm=True))
                    t += wait.seconds
                rows = []
                for host in step.hosts:
                    assert not isinstance(host, int)
                    run = t + rng.uniform(*(host.start_delay or (0.0, 0.0)))
                    rows.append((run, run + rng.uniform(*(host.duration or (1.0, 1.0)))))
                end = max(e for _, e in rows)
                steps.append(Step(t, end, rows))
                t = end
            batch.append(steps)
        batches.append(batch)
    return batches


def jobs_of(timeline: dict[str, Any]) -> list[Job]:
    """Return the jobs of a simulator's timeline (``_peers_mix.timeline``, times in epoch ms),
    on one clock in seconds from the first job's start: what the oracle and the loop make of
    the very jobs a real run watched."""
    origin = min(job["start"] for job in timeline.values())
    jobs = []
    for job in timeline.values():
        hosts: dict[int, list[tuple[float, float]]] = {}
        for step, _, started, ended, _ in job["hosts"]:
            hosts.setdefault(step, []).append(
                ((started - origin) / 1000.0, (ended - origin) / 1000.0)
            )
        jobs.append(
            [
                Step(
                    (start - origin) / 1000.0,
                    (end - origin) / 1000.0,
                    hosts.get(step, []),
                    confirm=kind == CONFIRM,
                )
                for step, kind, start, end in job["steps"]
            ]
        )
    return jobs


def body(job: Job, t: float) -> dict[str, Any]:
    """The job's ``get_job_instance_status`` data at ``t`` (v3; host statuses 5, 7, 9)."""
    steps, status = [], 2
    for n, step in enumerate(job):
        hosts = None
        if t >= step.start:
            hosts = [
                {"bk_host_id": 100 + i, "status": 5 if t < run else 7 if t < done else 9}
                for i, (run, done) in enumerate(step.hosts)
            ]
        running = WAITING_USER if step.confirm else 2
        code = 1 if t < step.start else 3 if t >= step.end else running
        if code == WAITING_USER:
            status = WAITING_USER
        steps.append(
            {
                "step_instance_id": n + 1,
                "status": code,
                "execute_count": 0,
                "type": CONFIRM if step.confirm else 1,
                "step_ip_result_list": None if step.confirm else hosts,
            }
        )
    over = t >= job[-1].end
    return {
        "finished": over,
        "job_instance": {"job_instance_id": 7, "status": 3 if over else status, "name": "job"},
        "step_instance_list": steps,
    }


def _host(key: Any, code: int, row: dict[str, Any]) -> HostResult:
    return HostResult(Host(bk_host_id=key), HostStatus(code))


def _known_quiet(job: Job, t: float) -> float | None:
    """When the next change comes, if only an oracle can know it: the running step's first
    host end (all its hosts run, none ended), or the confirmation a job waits for."""
    for step in job:
        if step.start <= t < step.end:
            if step.confirm:
                return step.end
            if all(run <= t < done for run, done in step.hosts):
                return min(done for _, done in step.hosts)
            return None
    return None


def engine(policy: PollPolicy, oracle: bool = False, launched: bool = False) -> Schedule:
    """Poll a batch by ``decide`` under ``policy``, as a watch of host events; return the
    poll times and the job list's reads (``oracle``: see the module's docstring;
    ``launched``: the watch is told its jobs were launched as it began, ``watch_jobs(...,
    launched=True)``)."""
    wall = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
    instance = JobInstance(job_instance_id=7, status=JobStatus.SUCCESS, name="job")
    done = JobInstanceStatus(finished=True, job=instance, steps=())
    round_ = census_round(policy)

    def polls(batch: list[Job], seed0: int) -> tuple[list[list[float]], list[float]]:
        seeds = [seed0 + i for i in range(len(batch))]
        rules = [Rules.of(policy, random.Random(seed), lambda: wall, _host) for seed in seeds]
        jobs = [PolledJob(Scope.biz(2), 7, parks=not oracle) for _ in batch]
        health = [Health.start(policy) for _ in batch]
        last: list[Any] = [None] * len(batch)
        out: list[list[float]] = [[] for _ in batch]
        # A watch takes each job on at its launch and polls it as the driver does (at once).
        since = 0.0 if launched else None
        due = [(joined_at(policy, s, 0.0, -math.inf, None, since), i) for i, s in enumerate(seeds)]
        heapq.heapify(due)
        reads: list[float] = []
        read_at = math.inf  # the job list's next read (none while no job is parked)
        while due or read_at < math.inf:
            if read_at < math.inf and (not due or read_at <= due[0][0]):
                now, read_at = read_at, math.inf
                # (a read is one page here: a lone job whose last host runs is polled itself
                # from now on, as ``_census`` hands it back)
                running = [i for i, j in enumerate(jobs) if j.census and j.parks and j.status == 2]
                if len(running) == 1:
                    i = running[0]
                    at = unparked_at(policy, jobs[i], now, out[i][-1])
                    jobs[i] = jobs[i]._replace(census=False, parks=False)
                    heapq.heappush(due, (at, i))
                    if not any(j.census for j in jobs):
                        continue
                reads.append(now)
                for i, job in enumerate(batch):
                    if jobs[i].census:
                        status = body(job, now)["job_instance"]["status"]
                        jobs[i], health[i], at, _ = decide(
                            rules[i],
                            jobs[i],
                            health[i],
                            Listed(status, out[i][-1] if out[i] else -math.inf),
                            now,
                        )
                        if at is not None:
                            heapq.heappush(due, (at, i))
                if any(j.census for j in jobs):
                    read_at = now + round_
                continue
            now, i = heapq.heappop(due)
            job = batch[i]
            out[i].append(now)
            data = body(job, now)
            outcome: Any = UNCHANGED
            if data != last[i]:
                seen = observe_job(data, Generation.V3, expected_job_instance_id=7)
                outcome = Answer(data, seen, done if seen.finished else None)
            parked = jobs[i].census
            jobs[i], health[i], poll_at, _ = decide(rules[i], jobs[i], health[i], outcome, now)
            last[i] = data
            if data["finished"]:
                continue
            if jobs[i].census:  # parked: the job list reads it at its next round (``_census``)
                if not parked:
                    read_at = min(read_at, now + round_)
                continue
            assert poll_at is not None
            if oracle:
                quiet = _known_quiet(job, now)
                if quiet is not None and quiet > poll_at:
                    poll_at = quiet
            heapq.heappush(due, (poll_at, i))
        return out, reads

    return polls


def oracle(policy: PollPolicy) -> Schedule:
    """The engine under ``policy``, knowing when each change comes (the module's docstring)."""
    return engine(policy, oracle=True)


def fixed(gap: float, jitter: float = 0.0) -> Schedule:
    def polls(batch: list[Job], seed0: int) -> tuple[list[list[float]], list[float]]:
        out = []
        for seed, job in enumerate(batch, start=seed0):
            rng = random.Random(seed)
            now, times, end = gap * (seed * 0.618 % 1.0), [], job[-1].end
            while True:
                times.append(now)
                if now >= end:
                    break
                now += gap * (1.0 - jitter * rng.random())
            out.append(times)
        return out, []

    return polls


def measure(
    batches: list[list[Job]], schedule: Schedule, settle: list[float] | None = None
) -> dict[str, float]:
    """Requests per job, p50/p99 latency and the share later than 5 s of ``schedule``.

    Changes before ``SETTLE`` are left out, on each job's own clock; ``settle`` (one a job, in
    the order of the batches) says where each job's changes start to count instead: a family's
    job launched at ``at`` s of its run has ``SETTLE - at``, as the real run counts changes
    after the first ``SETTLE`` s of the run, not of each job (its hosts' starts at its launch
    count).
    """
    latencies, requests, count = [], 0, 0
    for b, batch in enumerate(batches):
        polls, reads = schedule(batch, b * len(batch))
        requests += len(reads)
        for times, job in zip(polls, batch, strict=True):
            since = SETTLE if settle is None else settle[count]
            count += 1
            requests += len(times)
            changes = [step.end for step in job if step.confirm]
            changes += [when for step in job for host in step.hosts for when in host]
            for when in changes:
                if when >= since:
                    latencies.append(times[bisect.bisect_left(times, when)] - when)
    latencies.sort()
    seen = len(latencies)
    return {
        "requests_per_job": requests / count,
        "p50": latencies[seen // 2],
        "p99": latencies[int(0.99 * seen)],
        "late_share": sum(1 for x in latencies if x > 5.0) / seen,
    }


#: The loop every figure is a ratio to, and the schedules measured beside it.
LOOP = "fixed 5 s (the SDK's loop)"
SCHEDULES: dict[str, Schedule] = {
    LOOP: fixed(5.0),
    "fixed 5 s, jitter 10%": fixed(5.0, 0.1),
    "engine, defaults": engine(PollPolicy()),
    "engine, latency=4": engine(PollPolicy(latency=4.0, interval=4.0)),
    "engine, 5 s fixed (latency=None, growth 1)": engine(
        PollPolicy(latency=None, interval=5.0, max_interval=5.0, growth=1.0)
    ),
    "oracle (knows when each change comes)": oracle(PollPolicy()),
}


def run(repeats: int, schedules: dict[str, Schedule] | None = None) -> dict[str, Any]:
    """Every schedule on both mixes, without and with people: ``{(mix, share): {name: figures}}``."""
    results: dict[Any, dict[str, dict[str, float]]] = {}
    for mix in MIXES:
        for share in PERSON_SHARES:
            batches = draw(mix, repeats, share)
            rows = {name: measure(batches, s) for name, s in (schedules or SCHEDULES).items()}
            results[(mix, share)] = rows
    return results


def table(results: dict[Any, dict[str, dict[str, float]]], repeats: int) -> list[str]:
    """The figures, each with its ratio to the loop's in the same run."""
    lines = []
    for (mix, share), rows in results.items():
        loop = rows[LOOP]
        lines.append(
            f"== {mix} mix, {share:.0%} of jobs wait for a person: {repeats * JOBS} jobs,"
            f" schedule alone (virtual time); (x: ratio to the loop's)"
        )
        lines.append(f"{'schedule':42} {'req/job':>14} {'p50 s':>13} {'p99 s':>13} {'> 5 s':>6}")
        for name, r in rows.items():
            ratios = [r[k] / loop[k] for k in ("requests_per_job", "p50", "p99")]
            lines.append(
                f"{name:42} {r['requests_per_job']:6.1f} {ratios[0]:5.2f}x"
                f" {r['p50']:5.2f} {ratios[1]:5.2f}x {r['p99']:5.2f} {ratios[2]:5.2f}x"
                f" {r['late_share']:6.1%}"
            )
    return lines


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    print("\n".join(table(run(count), count)))
