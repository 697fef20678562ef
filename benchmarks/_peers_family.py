"""A seeded family of job mixes (issue 64): each seed draws a mix's shape, then its jobs.

``python benchmarks/_peers_family.py [SEEDS [HOST_RUNS]]`` prints each seed's shape and what
its jobs add up to (as many jobs as make ``HOST_RUNS`` host runs, 2,000 by default, 40 to 120:
``jobs_for``). A seed's shape (``shape``) says:

- ``steps``: script steps per job, 1 to a most drawn per seed (1-5);
- ``size`` and ``hosts``: a job's hosts (every step of a job runs on the same ones), drawn
  log-uniform in the size's range: ``small`` 1-10, ``medium`` 10-60, ``large`` 60-400,
  ``mixed`` 1-400 (under the poller's ``group_threshold`` of 500: every host row is read);
- ``durations``: how long a host runs, around a typical run ``typical`` (15 s to 3 min of
  simulator time, log-uniform): ``uniform`` (each step's hosts uniform in ``[T/3, T]``, ``T``
  the step's own, 0.5-1.5x the typical), ``lognormal`` (each step's centre log-normal around
  the typical, each host log-normal around the centre, ``sigma`` 0.3-1.0) or ``bimodal`` (a
  share ``fast`` of hosts ends in 2-20 s, the others take 1-4x the typical); at most
  ``LONGEST``;
- ``launches``: when each job is launched, from the start of the run: ``together`` (all at 0),
  ``bursts`` (2-6 bursts, the first at 0, the others within ``window``, each job in one of
  them) or ``stream`` (one by one, uniform over ``window``; the first at 0); ``window`` is
  1-5 min;
- ``persons``: the share of jobs (0-40%, exactly ``round(share * jobs)``) that wait at a manual
  confirmation before one of their script steps until a person confirms, 30 s to 10 min later
  (``_peers_mix.PERSON_SECONDS``);
- ``failures``: the share of jobs (0-15%) in which one host of one step that does not roll
  ends with a non-zero exit code (104), which fails the step and ends the job;
- ``rolling``: the share of steps (0 on a third of the seeds, else 10-50%) that run their
  hosts in 2-5 rolling batches (bk-job's ``rolling_config``, mode 1: the next batch starts
  once the batch before succeeded).

The categorical choices turn with the seed so that any ten seeds in a row cover each kind of
duration with each kind of launch (``durations`` by ``seed % 3``, ``launches`` by
``seed // 3 % 3``); the rest is drawn from the seed. A job's plan depends only on the seed,
its index and the number of jobs, so every simulator process started with them serves the
same jobs. The simulator creates every job at the start of the run; a job launched at ``L``
has its first script step's hosts wait ``L`` more (``start_delay``), or its person wait ``L``
more when it waits before its first step, and the contenders begin to watch it at ``L``: to
them it is a job launched then (its first step is never a rolling one, whose every batch
would wait ``L``).
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).parent))

from _peers_mix import PERSON_SECONDS, START_DELAY, PersonWait

from bkjob_async import HostStatus, StepType
from bkjob_async.testing import HostPlan, StepPlan

DURATIONS = ("uniform", "lognormal", "bimodal")
LAUNCHES = ("together", "bursts", "stream")
SIZES = {"small": (1, 10), "medium": (10, 60), "large": (60, 400), "mixed": (1, 400)}
#: The longest a host runs (simulator seconds), whatever the draw.
LONGEST = 900.0
#: A typical host run, log-uniform between these (simulator seconds).
TYPICAL = (15.0, 180.0)
#: The longest a job's script steps run, end to end (simulator seconds): a longer draw is
#: shortened to it, every host's run by the same factor.
LIFE = 1200.0
#: Seconds between two rolling batches (the simulator's ``operation_lag``, generously).
BATCH_GAP = 1.0


@dataclass(frozen=True)
class Shape:
    """One seed's mix: the knobs every job of it is drawn with (see the module docstring)."""

    seed: int
    steps: int  # the most script steps a job has
    size: str
    durations: str
    typical: float
    sigma: float  # (lognormal) the spread of hosts around their step's centre
    fast: float  # (bimodal) the share of hosts ending in seconds
    launches: str
    bursts: int
    window: float
    persons: float
    failures: float
    rolling: float

    def describe(self) -> str:
        """One line: the seed's knobs."""
        kind = {
            "uniform": "uniform",
            "lognormal": f"log-normal s={self.sigma:.2f}",
            "bimodal": f"bimodal {self.fast:.0%} fast",
        }[self.durations]
        launch = {
            "together": "together",
            "bursts": f"{self.bursts} bursts in {self.window:.0f} s",
            "stream": f"stream over {self.window:.0f} s",
        }[self.launches]
        low, high = SIZES[self.size]
        return (
            f"seed {self.seed}: 1-{self.steps} steps, {self.size} ({low}-{high} hosts), {kind}"
            f" around {self.typical:.0f} s, launched {launch}, persons {self.persons:.0%},"
            f" failures {self.failures:.0%}, rolling {self.rolling:.0%}"
        )


class Job(NamedTuple):
    """One job of a mix: when it is launched, its steps as the simulator takes them, its
    person's wait (if any), and the latest it can end (simulator seconds from the start)."""

    launch: float
    plan: list[StepPlan]
    person: PersonWait | None
    horizon: float


def shape(seed: int) -> Shape:
    """Return the mix of ``seed``."""
    rng = random.Random(f"family:{seed}")
    return Shape(
        seed=seed,
        steps=rng.randint(1, 5),
        size=rng.choice(sorted(SIZES)),
        durations=DURATIONS[seed % 3],
        typical=_log_uniform(rng, *TYPICAL),
        sigma=rng.uniform(0.3, 1.0),
        fast=rng.uniform(0.5, 0.9),
        launches=LAUNCHES[seed // 3 % 3],
        bursts=rng.randint(2, 6),
        window=rng.uniform(60.0, 300.0),
        persons=0.0 if rng.random() < 1 / 3 else rng.uniform(0.05, 0.4),
        failures=rng.uniform(0.0, 0.15),
        rolling=0.0 if rng.random() < 1 / 3 else rng.uniform(0.1, 0.5),
    )


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def launches(mix: Shape, jobs: int) -> list[float]:
    """Return when each of ``jobs`` jobs is launched (simulator seconds from the start)."""
    rng = random.Random(f"family-launch:{mix.seed}:{jobs}")
    if mix.launches == "together":
        return [0.0] * jobs
    if mix.launches == "bursts":
        times = [0.0, *sorted(rng.uniform(0.0, mix.window) for _ in range(mix.bursts - 1))]
        return [0.0] + [rng.choice(times) for _ in range(jobs - 1)]
    return [0.0] + [rng.uniform(0.0, mix.window) for _ in range(jobs - 1)]


def _persons(mix: Shape, jobs: int) -> set[int]:
    order = random.Random(f"family-persons:{mix.seed}:{jobs}").sample(range(jobs), jobs)
    return set(order[: round(mix.persons * jobs)])


def _durations(mix: Shape, rng: random.Random, hosts: int) -> list[float]:
    """Return each host's run in one step (simulator seconds)."""
    typical = mix.typical
    if mix.durations == "uniform":
        longest = typical * rng.uniform(0.5, 1.5)
        runs = [rng.uniform(longest / 3, longest) for _ in range(hosts)]
    elif mix.durations == "lognormal":
        centre = typical * rng.lognormvariate(0.0, 0.5)
        runs = [centre * rng.lognormvariate(0.0, mix.sigma) for _ in range(hosts)]
    else:
        runs = [
            rng.uniform(2.0, 20.0) if rng.random() < mix.fast else typical * rng.uniform(1.0, 4.0)
            for _ in range(hosts)
        ]
    return [min(LONGEST, max(1.0, run)) for run in runs]


def _step_life(runs: list[float], batch: int | None) -> float:
    """Return the longest a step of these runs lasts (in batches of ``batch`` hosts if set)."""
    chunks = [runs[k : k + batch] for k in range(0, len(runs), batch)] if batch else [runs]
    return sum(max(chunk) + START_DELAY[1] + BATCH_GAP for chunk in chunks)


def job(mix: Shape, index: int, jobs: int) -> Job:
    """Return job ``index`` of ``jobs`` of the mix."""
    rng = random.Random(f"family-job:{mix.seed}:{index}")
    launch = launches(mix, jobs)[index]
    steps = rng.randint(1, mix.steps)
    hosts = max(1, round(_log_uniform(rng, SIZES[mix.size][0], SIZES[mix.size][1] + 1) - 0.5))
    rolls = [hosts > 1 and step > 0 and rng.random() < mix.rolling for step in range(steps)]
    fails = rng.random() < mix.failures
    solid = [step for step in range(steps) if not rolls[step]]  # (step 0 always)
    failing = (rng.choice(solid), rng.randrange(hosts)) if fails else None
    drawn = [_durations(mix, rng, hosts) for _ in range(steps)]
    sizes = [math.ceil(hosts / rng.randint(2, min(5, hosts))) if roll else None for roll in rolls]
    life = sum(_step_life(runs, size) for runs, size in zip(drawn, sizes, strict=True))
    if life > LIFE:
        drawn = [[max(1.0, run * LIFE / life) for run in runs] for runs in drawn]
    plan, horizon = [], launch
    for step, (runs, size) in enumerate(zip(drawn, sizes, strict=True)):
        delay = START_DELAY if step or not launch else (launch, launch + START_DELAY[1])
        rows = tuple(
            HostPlan(
                outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE
                if failing == (step, n)
                else HostStatus.SUCCESS,
                duration=run,
                start_delay=delay,
            )
            for n, run in enumerate(runs)
        )
        plan.append(StepPlan(StepType.SCRIPT, hosts=rows, rolling_batch_size=size))
        horizon += _step_life(runs, size)
    person = None
    if index in _persons(mix, jobs):
        prng = random.Random(f"family-person:{mix.seed}:{index}")
        before, wait = prng.randrange(steps), _log_uniform(prng, *PERSON_SECONDS)
        # Waiting before the first step from the run's start, a job launched later waits the
        # launch more: it is as if it began to wait when launched.
        person = PersonWait(before, wait + (launch if before == 0 else 0.0))
        confirm = StepPlan(StepType.MANUAL_CONFIRM, name="confirm")
        plan = [*plan[:before], confirm, *plan[before:]]
        horizon += wait + BATCH_GAP
    return Job(launch, plan, person, horizon)


def jobs_for(seed: int, host_runs: int, low: int, high: int) -> int:
    """Return how many jobs of the mix of ``seed`` make at least ``host_runs`` host runs (each
    host of each script step: two changes each), at least ``low`` and at most ``high``: small
    jobs' mixes get more jobs, so that every seed's percentiles rest on as many changes."""
    mix, total = shape(seed), 0
    for index in range(high):
        # (a job's steps and hosts depend on its index alone, not on how many jobs there are)
        total += sum(
            len(step.hosts) for step in job(mix, index, high).plan if isinstance(step.hosts, tuple)
        )
        if total >= host_runs and index + 1 >= low:
            return index + 1
    return high


def mix_jobs(seed: int, jobs: int) -> list[Job]:
    """Return every job of the mix of ``seed`` with ``jobs`` jobs."""
    mix = shape(seed)
    return [job(mix, index, jobs) for index in range(jobs)]


def _summary(seed: int, jobs: int) -> str:
    drawn = mix_jobs(seed, jobs)
    hosts = [len(step.hosts) for j in drawn for step in j.plan if isinstance(step.hosts, tuple)]
    return (
        f"  {jobs} jobs, {len(hosts)} script steps, {sum(hosts)} host runs;"
        f" {sum(j.person is not None for j in drawn)} wait for a person; last launch"
        f" {max(j.launch for j in drawn):.0f} s; the last end by {max(j.horizon for j in drawn):.0f} s"
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    for seed_ in range(count):
        print(shape(seed_).describe())
        print(_summary(seed_, jobs_for(seed_, runs, 40, 120)))
