"""A poller killed with SIGKILL at random moments, resumed each time, neither loses nor repeats.

The simulator runs in its own process (``benchmarks/_simserver.py --stepped``: 200 jobs,
hosts taking seconds of a clock that moves only when the test says ``advance``), the poller
in another (``_poller_child.py``, ``SqliteStore``), killed at random moments (a third of them
by itself, inside its next store transaction after the test arms it, before ``COMMIT``), and
resumed from the store each time. The jobs progress with the test's steps, not with the
machine's speed: on a slow or busy machine the kills still land while jobs run, and the
armed ones inside a transaction. Across all runs, after dedupe by ``event_id``: every host's,
step's and job's transitions form one unbroken chain ending in its true final status (read
from the simulator at the end), every job has exactly one ``JobFinished``, and no two ids
name one transition.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import anyio
import pytest

from bkjob_async import BkJobClient, Scope

from ..child import Child

CHILD = Path(__file__).with_name("_poller_child.py")
JOBS = 200
#: Kills in ``make test``; the long form (``slow``) kills twice as often.
KILLS = 6
#: Simulated seconds the clock moves at each step; hosts take 2 to 9 of them.
STEP = 1.0
SCOPE = Scope.biz(2)


def _start_simulator() -> tuple[Child, str, list[int]]:
    sim = Child(
        [
            "benchmarks/_simserver.py",
            *("--jobs", str(JOBS), "--steps", "2", "--hosts", "3", "--duration", "2", "9"),
            "--stepped",
        ]
    )
    info = json.loads(sim.line())
    return sim, info["url"], info["job_ids"]


async def _final_statuses(url: str, ids: list[int]) -> dict:
    truth: dict = {}
    async with BkJobClient(url, app_code="a", app_secret="s", username="u") as client:
        for job_id in ids:
            status = await client.get_job_instance_status(SCOPE, job_id)
            truth[("j", job_id)] = int(status.job.status)
            for step in status.steps:
                truth[("s", job_id, step.step_instance_id)] = int(step.status)
                for host in step.hosts:
                    key = ("h", job_id, step.step_instance_id, host.host.bk_host_id)
                    truth[key] = int(host.status)
    return truth


def _chain_key(record: dict) -> tuple:
    if record["k"] == "h":
        return ("h", record["job"], record["step"], record["host"])
    if record["k"] == "s":
        return ("s", record["job"], record["step"])
    return ("j", record["job"])


def _check(deliveries: list[dict], truth: dict, ids: list[int]) -> None:
    by_id: dict[str, dict] = {}
    unique: list[dict] = []
    for record in deliveries:
        first = by_id.setdefault(record["id"], record)
        assert first == record, f"one id, two events: {first} / {record}"
        if first is record:
            unique.append(record)
    finished = [r["job"] for r in unique if r["k"] == "f"]
    assert sorted(finished) == sorted(ids), "every job has exactly one JobFinished"
    transitions = [r for r in unique if r["k"] in "hsj"]
    described = [(_chain_key(r), r.get("x"), r["p"], r["c"]) for r in transitions]
    assert len(set(described)) == len(described), "two ids describe one transition"
    last: dict[tuple, int | None] = {}
    for record in transitions:
        key = _chain_key(record)
        assert record["p"] == last.get(key), f"broken chain at {record}: last was {last.get(key)}"
        last[key] = record["c"]
    assert last == {k: v for k, v in truth.items() if k in last}
    assert set(last) == set(truth), "a host, step or job never reported"


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "kills_wanted",
    [pytest.param(KILLS, id="short"), pytest.param(2 * KILLS, id="long", marks=pytest.mark.slow)],
)
def test_sigkill_at_random_moments_neither_loses_nor_repeats(
    tmp_path: Path, kills_wanted: int
) -> None:
    rng = random.Random(20261122)
    db = str(tmp_path / "state.db")
    sim, url, ids = _start_simulator()
    deliveries: list[dict] = []
    kills = mid_commit = 0
    started = time.monotonic()
    with sim:
        args = [str(i) for i in ids]
        while kills < kills_wanted:
            inside = kills % 3 == 1  # the child kills itself inside its next transaction
            with Child([str(CHILD), url, db, *args]) as child:
                args = []  # later runs resume
                child.wait_for(lambda line: line == "ready")
                sim.tell(f"advance {STEP}")
                if inside:
                    time.sleep(rng.uniform(0.05, 0.5))
                    child.tell("arm")
                    for _ in range(200):  # jobs move on until the child writes, and dies
                        if not child.alive:
                            break
                        sim.tell(f"advance {STEP / 5}")
                        time.sleep(0.05)
                    child.wait(timeout=60)
                else:
                    time.sleep(rng.uniform(0.1, 1.5))
                    child.kill()
            kills += 1
            trace = [line for line in child.lines if line in ("B", "E")]
            mid_commit += bool(trace) and trace[-1] == "B"
            deliveries += [json.loads(x) for x in child.lines if x.startswith("{")]
            if "over" in child.lines:
                break
        running_at_last_kill = time.monotonic() - started
        sim.tell("advance 60")  # every job ends
        with Child([str(CHILD), url, db]) as child:
            child.wait(timeout=90)
        assert "over" in child.lines or "unknown" in child.lines, child.lines[-5:]
        deliveries += [json.loads(x) for x in child.lines if x.startswith("{")]
        truth = anyio.run(_final_statuses, url, ids)
        sim.finish()
    print(
        f"{kills} kills ({mid_commit} inside a transaction) over {running_at_last_kill:.1f} s;"
        f" {len(deliveries)} deliveries, {len({d['id'] for d in deliveries})} distinct"
    )
    assert kills >= kills_wanted - 2, f"the jobs ended after {kills} kills"
    assert mid_commit >= kills_wanted // 3, f"only {mid_commit} kills landed inside a transaction"
    _check(deliveries, truth, ids)
