"""The mixes on virtual time: requests per job and transition latency of a schedule, no server.

``python benchmarks/_peers_model.py [REPEATS]`` draws the jobs of the realistic and the bursty
mix (``_peers_mix``) ``REPEATS`` times (20 by default: 360 jobs each), each host's start and
end as the simulator draws them (0-2 s start delay, a run in the plan's span, a step starting
when the last host of the one before ends), and polls every job by a schedule, counting what
``test_peers.py`` counts: requests per job (polls until the job's end is seen), p50/p99 latency
over host starts after the first 10 s and host ends, and the share later than 5 s. Schedules:

- ``fixed 5 s``: the SDK's loop; ``fixed 5 s, jitter 10%``: the same, each gap shortened by up
  to 10%;
- ``engine ...``: ``_decide.decide`` itself, with answers built from the timeline (an unchanged
  body is ``UNCHANGED``), under a ``PollPolicy``;
- ``oracle``: the engine's defaults, but a step in its quiet stretch (all hosts running, none
  ended) is next polled when its first host ends, which no poller can know: the fewest
  requests a latency-bound schedule could make.

It measures the schedule alone (no machine delay); ``test_peers.py`` measures the real thing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _peers_mix import burst_plan, job_plan

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
from bkjob_async.polling._decide import UNCHANGED, Answer, Health, Rules, decide
from bkjob_async.polling._jobs import PolledJob
from bkjob_async.polling._schedule import first_delay

SETTLE = 10.0
JOBS = 18
#: A job: per step ``(start, end, [(host start, host end), ...])``, seconds.
Job = list[tuple[float, float, list[tuple[float, float]]]]


def draw(plan: Callable[[int, int], Any], repeats: int) -> list[Job]:
    """Return the mix's jobs ``repeats`` times over, each drawn with its own seed."""
    jobs = []
    for r in range(repeats):
        for index in range(JOBS):
            rng = random.Random(f"model:{r}:{index}")
            t, steps = 0.0, []
            for step in plan(1, index):
                rows = []
                for host in step.hosts:
                    run = t + rng.uniform(*host.start_delay)
                    rows.append((run, run + rng.uniform(*host.duration)))
                end = max(e for _, e in rows)
                steps.append((t, end, rows))
                t = end
            jobs.append(steps)
    return jobs


def body(job: Job, t: float) -> dict[str, Any]:
    """The job's ``get_job_instance_status`` data at ``t`` (v3; host statuses 5, 7, 9)."""
    steps = []
    for n, (start, end, rows) in enumerate(job):
        hosts = None
        if t >= start:
            hosts = [
                {"bk_host_id": 100 + i, "status": 5 if t < run else 7 if t < done else 9}
                for i, (run, done) in enumerate(rows)
            ]
        status = 1 if t < start else 3 if t >= end else 2
        steps.append(
            {
                "step_instance_id": n + 1,
                "status": status,
                "execute_count": 0,
                "type": 1,
                "step_ip_result_list": hosts,
            }
        )
    over = t >= job[-1][1]
    return {
        "finished": over,
        "job_instance": {"job_instance_id": 7, "status": 3 if over else 2, "name": "job"},
        "step_instance_list": steps,
    }


def _host(key: Any, code: int, row: dict[str, Any]) -> HostResult:
    return HostResult(Host(bk_host_id=key), HostStatus(code))


def _quiet_until(job: Job, t: float) -> float | None:
    """When the running step's first host ends, if none has yet and all have started."""
    for start, end, rows in job:
        if start <= t < end:
            if all(run <= t < done for run, done in rows):
                return min(done for _, done in rows)
            return None
    return None


def engine(policy: PollPolicy, oracle: bool = False) -> Callable[[Job, int], list[float]]:
    """Poll a job by ``decide`` under ``policy``; return the poll times."""
    wall = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
    instance = JobInstance(job_instance_id=7, status=JobStatus.SUCCESS, name="job")
    done = JobInstanceStatus(finished=True, job=instance, steps=())

    def polls(job: Job, seed: int) -> list[float]:
        rules = Rules.of(policy, random.Random(seed), lambda: wall, _host)
        state, health = PolledJob(Scope.biz(2), 7), Health.start(policy)
        now, last, out = first_delay(policy, seed), None, []
        while True:
            out.append(now)
            data = body(job, now)
            outcome: Any = UNCHANGED
            if data != last:
                seen = observe_job(data, Generation.V3, expected_job_instance_id=7)
                outcome = Answer(data, seen, done if seen.finished else None)
            state, health, poll_at, _ = decide(rules, state, health, outcome, now)
            last = data
            if poll_at is None or data["finished"]:
                return out
            if oracle:
                quiet = _quiet_until(job, now)
                if quiet is not None and quiet > poll_at:
                    poll_at = quiet
            now = poll_at

    return polls


def fixed(gap: float, jitter: float = 0.0) -> Callable[[Job, int], list[float]]:
    def polls(job: Job, seed: int) -> list[float]:
        rng = random.Random(seed)
        now, out, end = gap * (seed * 0.618 % 1.0), [], job[-1][1]
        while True:
            out.append(now)
            if now >= end:
                return out
            now += gap * (1.0 - jitter * rng.random())

    return polls


def measure(jobs: list[Job], schedule: Callable[[Job, int], list[float]]) -> dict[str, float]:
    latencies, requests = [], 0
    for seed, job in enumerate(jobs):
        polls = schedule(job, seed)
        requests += len(polls)
        for _, _, rows in job:
            for run, done in rows:
                for when in (run, done):
                    if when >= SETTLE:
                        latencies.append(polls[bisect.bisect_left(polls, when)] - when)
    latencies.sort()
    count = len(latencies)
    return {
        "requests_per_job": requests / len(jobs),
        "p50": latencies[count // 2],
        "p99": latencies[int(0.99 * count)],
        "late_share": sum(1 for x in latencies if x > 5.0) / count,
    }


SCHEDULES = {
    "fixed 5 s (the SDK's loop)": fixed(5.0),
    "fixed 5 s, jitter 10%": fixed(5.0, 0.1),
    "engine, defaults": engine(PollPolicy()),
    "engine, defaults, jitter 3%": engine(PollPolicy(jitter=0.03)),
    "engine, latency=4": engine(PollPolicy(latency=4.0, interval=4.0)),
    "engine, 5 s fixed (latency=None, growth 1)": engine(
        PollPolicy(latency=None, interval=5.0, max_interval=5.0, growth=1.0)
    ),
    "oracle (knows each step's first end)": engine(PollPolicy(), oracle=True),
}


def main(repeats: int) -> None:
    for name, plan in (("realistic mix", job_plan), ("bursty mix", burst_plan)):
        jobs = draw(plan, repeats)
        print(f"== {name}: {len(jobs)} jobs, schedule alone (virtual time)")
        print(f"{'schedule':44} {'req/job':>8} {'p50 s':>6} {'p99 s':>6} {'> 5 s':>6}")
        for label, schedule in SCHEDULES.items():
            r = measure(jobs, schedule)
            print(
                f"{label:44} {r['requests_per_job']:8.1f} {r['p50']:6.2f} {r['p99']:6.2f}"
                f" {r['late_share']:6.1%}"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
