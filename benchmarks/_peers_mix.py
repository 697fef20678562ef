"""The realistic job mix of the peer benchmarks, as simulator plans; and its timeline, read back.

Each job has 1-3 script steps on the same 10-50 hosts. Its hosts run for ``T/3`` to ``T``
seconds of simulator time, ``T`` log-uniform between 30 s and ``600 / steps`` s, so a host
runs 10 s to 10 min and no job lasts much over 10 min; each host waits 0-2 s before it runs.
3% of jobs fail: one host of their last step ends with a non-zero exit code (104), which fails
the step and the job. Plans depend only on the seed and the job's index, so every simulator
process started with the same seed serves the same population.

The bursty mix (issue 26, point 4: ``burst_plan``) is what rolling deploys look like: the same
jobs (1-3 script steps on 10-50 hosts, 0-2 s start delays, 3% failing), but in each step every
host runs its step's quiet stretch ``Q`` plus up to ``BURST`` s (``Q`` log-uniform between 30 s
and ``600 / steps`` s, drawn per step): a step's hosts all end within a few seconds of each
other, after a stretch in which nothing ends.

Both mixes can have people in them (``persons``: the share of jobs, 0 by default): such a job
has a manual confirmation (bk-job's step type 3) before one of its script steps, drawn at
random (before the first: the job waits from its start), where the job waits at status 7
until a person confirms, ``PERSON_SECONDS`` later (log-uniform, 30 s to 10 min;
``person_wait``). Of a population of ``jobs``, exactly ``round(persons * jobs)`` wait (a
sample drawn by the seed, not a coin per job: the peer benchmarks watch 18 jobs, where coins
made 1 person of 18 on one mix and 4 on the other). Who waits and for how long is drawn apart
from the rest of the job, so a job's script steps are the same with or without people, and
the jobs with people at 10% are among those at 20%. The simulator does not confirm by itself: whoever runs it confirms each, as
``people`` with ``confirm_due`` (the benchmark's server process, ``_simserver``, and the
family's model on virtual time, ``_family_model``).

The census benchmark (issue 27) serves long deploys instead (``deploy_plan``): one script step
on 10 hosts, launched within a minute (the job's hosts start 0-60 s after its creation), each
host running 10 to 20 min.
"""

from __future__ import annotations

import math
import random
from typing import Any, NamedTuple

from bkjob_async import BkJobClient, HostStatus, JobStatus, StepOperation, StepType
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

FAILING_SHARE = 0.03
START_DELAY = (0.0, 2.0)
# The bursty mix: a step's hosts end within this many seconds of their quiet stretch's end.
BURST = 4.0
# The realistic share of jobs that wait for a person, and how long the person takes (log-uniform).
PERSON_SHARE = 0.2
PERSON_SECONDS = (30.0, 600.0)
# Long deploys (the census benchmark): launched within a minute, hosts running 10-20 min.
DEPLOY_HOSTS = 10
DEPLOY_LAUNCH = (0.0, 60.0)
DEPLOY_HOST_SECONDS = (600.0, 1200.0)


class PersonWait(NamedTuple):
    """A job's manual confirmation: before which script step it stands, and how many seconds
    the person takes to confirm once the job waits there."""

    before: int
    seconds: float


def person_wait(
    mix: str, seed: int, index: int, share: float, steps: int, jobs: int
) -> PersonWait | None:
    """Return the confirmation of job ``index`` (of ``steps`` script steps) of ``jobs`` in
    ``mix`` (``"peers"``, ``"bursts"``) if it has one: ``round(share * jobs)`` of them do."""
    order = random.Random(f"persons:{mix}:{seed}:{jobs}").sample(range(jobs), jobs)
    if index not in order[: round(share * jobs)]:
        return None
    rng = random.Random(f"person:{mix}:{seed}:{index}")
    low, high = (math.log(x) for x in PERSON_SECONDS)
    return PersonWait(rng.randrange(steps), math.exp(rng.uniform(low, high)))


def _with_person(
    mix: str, seed: int, index: int, share: float, jobs: int, plan: list[StepPlan]
) -> list[StepPlan]:
    wait = person_wait(mix, seed, index, share, len(plan), jobs) if share else None
    if wait is None:
        return plan
    confirm = StepPlan(StepType.MANUAL_CONFIRM, name="confirm")
    return [*plan[: wait.before], confirm, *plan[wait.before :]]


def job_plan(seed: int, index: int, persons: float = 0.0, jobs: int = 1) -> list[StepPlan]:
    """Return the steps of job ``index`` of the mix (``persons``: the share of its ``jobs``
    with a person)."""
    return _with_person("peers", seed, index, persons, jobs, _job_plan(seed, index))


def _job_plan(seed: int, index: int) -> list[StepPlan]:
    rng = random.Random(f"peers:{seed}:{index}")
    steps, hosts = rng.randint(1, 3), rng.randint(10, 50)
    longest = math.exp(rng.uniform(math.log(30.0), math.log(600.0 / steps)))
    fails = rng.random() < FAILING_SHARE
    failing_host = rng.randrange(hosts)
    plan = []
    for step in range(steps):
        rows = tuple(
            HostPlan(
                outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE
                if fails and step == steps - 1 and n == failing_host
                else HostStatus.SUCCESS,
                duration=(longest / 3, longest),
                start_delay=START_DELAY,
            )
            for n in range(hosts)
        )
        plan.append(StepPlan(StepType.SCRIPT, hosts=rows))
    return plan


def burst_plan(seed: int, index: int, persons: float = 0.0, jobs: int = 1) -> list[StepPlan]:
    """Return the steps of job ``index`` of the bursty mix: each step's hosts run its quiet
    stretch plus up to ``BURST`` s, so they end together (``persons``, ``jobs``: as in
    ``job_plan``)."""
    return _with_person("bursts", seed, index, persons, jobs, _burst_plan(seed, index))


def _burst_plan(seed: int, index: int) -> list[StepPlan]:
    rng = random.Random(f"bursts:{seed}:{index}")
    steps, hosts = rng.randint(1, 3), rng.randint(10, 50)
    fails = rng.random() < FAILING_SHARE
    failing_host = rng.randrange(hosts)
    plan = []
    for step in range(steps):
        quiet = math.exp(rng.uniform(math.log(30.0), math.log(600.0 / steps)))
        rows = tuple(
            HostPlan(
                outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE
                if fails and step == steps - 1 and n == failing_host
                else HostStatus.SUCCESS,
                duration=(quiet, quiet + BURST),
                start_delay=START_DELAY,
            )
            for n in range(hosts)
        )
        plan.append(StepPlan(StepType.SCRIPT, hosts=rows))
    return plan


def deploy_plan(seed: int, index: int) -> list[StepPlan]:
    """Return the one step of deploy ``index``: its hosts start together within the first
    minute (0-2 s apart, as in the mix), each runs 10-20 min; 3% fail on one host."""
    rng = random.Random(f"deploy:{seed}:{index}")
    launch = rng.uniform(*DEPLOY_LAUNCH)
    failing_host = rng.randrange(DEPLOY_HOSTS) if rng.random() < FAILING_SHARE else None
    rows = tuple(
        HostPlan(
            outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE
            if n == failing_host
            else HostStatus.SUCCESS,
            duration=DEPLOY_HOST_SECONDS,
            start_delay=(launch, launch + START_DELAY[1]),
        )
        for n in range(DEPLOY_HOSTS)
    )
    return [StepPlan(StepType.SCRIPT, hosts=rows)]


def people(sim: BkJobSimulator) -> BkJobClient:
    """Return the client the people confirm with: the simulator's API in memory, so their
    operations are no requests a contender's server counts."""
    return BkJobClient(
        "http://bkjob.invalid",
        app_code="people",
        app_secret="people-secret",
        username="admin",
        transport=sim.transport(),
    )


async def confirm_due(
    sim: BkJobSimulator, client: BkJobClient, waits: dict[int, PersonWait], now_ms: float
) -> None:
    """Confirm the step of each job in ``waits`` that has waited its person's seconds by
    ``now_ms`` (the simulator's clock), and take it out of ``waits``."""
    for job_id, wait in list(waits.items()):
        view = sim.job(job_id)
        step = next(s for s in view.steps if s.type is StepType.MANUAL_CONFIRM)
        if step.status != JobStatus.WAITING_USER or step.start_time is None:
            continue
        if now_ms >= step.start_time + wait.seconds * 1000:
            del waits[job_id]
            await client.operate_step_instance(
                view.scope, job_id, step.step_instance_id, StepOperation.CONFIRM_CONTINUE
            )


def timeline(sim: BkJobSimulator, job_ids: list[int] | None = None) -> dict[str, Any]:
    """Return every job's transitions on the simulator's clock (epoch ms), for the latency count.

    ``hosts`` rows are ``[step, bk_host_id, started, ended, final status]`` (``None`` where the
    host never got there); ``steps`` rows ``[step, type, started, ended]`` in order (a manual
    confirmation's end is when it was confirmed); ``end`` and ``status`` are the job's end and
    final status. Only ``job_ids`` if given (the watched ones).
    """
    jobs = {}
    for job_id in sim.job_ids() if job_ids is None else job_ids:
        view = sim.job(job_id)
        rows = [
            [step.step_instance_id, h.bk_host_id, h.start_time, h.end_time, int(h.status)]
            for step in view.steps
            for h in step.hosts or ()
        ]
        jobs[str(job_id)] = {
            "start": view.start_time,
            "end": view.end_time,
            "status": int(view.status),
            "hosts": rows,
            "steps": [
                [step.step_instance_id, int(step.type), step.start_time, step.end_time]
                for step in view.steps
            ],
        }
    return jobs
