"""A rollout killed at random points and opened again on its SQLite store: every key ends
exactly once (no duplicate job, no key lost, no job created and never started).

Each run lasts a seeded random while of virtual time and is then cancelled at whatever it was
doing: between storing an intent and sending its create, with a create at bk-job whose answer
never came back (the transport holds half its latency after the simulator answered), between
the create and the START. Beside that, 5% of launch answers are dropped after bk-job created
the job. The next run opens the same rollout on the same file and submits every key again.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import anyio
import pytest

from bkjob_async import JobStatus, Poller, SqliteStore, TransportError
from bkjob_async.models.requests import Account, Targets
from bkjob_async.polling import Launch, Launched
from bkjob_async.testing import MockTransport, Request, Response
from tests.virtual import SCOPE, VirtualBkJob, run_virtual

LAUNCHES = ("fast_execute_script", "fast_transfer_file", "execute_job_plan")
KEYS = [f"host-{i}" for i in range(30)]
LAUNCH = Launch.script(
    targets=Targets(host_ids=[1001]), account=Account(alias="root"), script_content="echo"
)


class Wire:
    """The simulator behind a wire of ``latency`` seconds each way; drops ``drop`` of the
    launches' answers after bk-job created the job."""

    def __init__(self, server: VirtualBkJob, rng: random.Random, drop: float) -> None:
        self.server, self.rng, self.drop = server, rng, drop
        self.transport = MockTransport(self._send)
        self.dropped = 0

    async def _send(self, request: Request) -> Response:
        await anyio.sleep(0.05)
        response = await self.server.sim.transport().send(request)
        await anyio.sleep(0.05)  # (a crash here: bk-job holds the job, nobody heard of it)
        if request.api in LAUNCHES and self.rng.random() < self.drop:
            self.dropped += 1
            raise TransportError("the answer was lost")
        return response


def restarts(
    path: Path, seed: int, runs: int, keys: list[str] = KEYS, most: float = 12.0
) -> tuple[VirtualBkJob, Counter[str], int, int]:
    """Run the rollout of ``keys`` until it ends, killed after up to ``most`` seconds each
    run (``runs`` runs at most); return the simulator, the keys told launched, the runs
    killed and the answers dropped."""
    rng = random.Random(seed)
    server = VirtualBkJob(host_duration=(5, 40), seed=seed)
    wire = Wire(server, rng, drop=0.05)
    launched: Counter[str] = Counter()

    async def one_run(last: bool) -> bool:
        async with (
            SqliteStore(path) as store,
            server.client(wire.transport) as client,
            Poller(client, store=store) as poller,
            poller.rollout(SCOPE, key="deploy", max_running=8) as ro,
        ):
            for key in keys:
                ro.submit(key, LAUNCH)
            with anyio.move_on_after(math_inf if last else rng.uniform(0.0, most)):
                async for event in ro:
                    if isinstance(event, Launched):
                        launched[event.key] += 1
                return True
            return False

    async def main() -> int:
        for run in range(runs):
            if await one_run(last=run == runs - 1):
                return run
        raise AssertionError("the last run did not end")

    killed = run_virtual(main)
    return server, launched, killed, wire.dropped


math_inf = float("inf")


def check(server: VirtualBkJob, launched: Counter[str], keys: list[str] = KEYS) -> None:
    sim = server.sim
    names = Counter(sim.job(i).name for i in sim.job_ids())
    assert all(count == 1 for count in names.values()), "a key was launched twice"
    assert sorted(names) == sorted(f"rollout [rollout deploy/{k}]" for k in keys), "a key lost"
    statuses = {sim.job(i).status for i in sim.job_ids()}
    assert statuses == {JobStatus.SUCCESS}, "a job was created and never started"
    assert set(launched) == set(keys)  # (told again after a restart: at least once)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_rollout_killed_and_reopened_launches_every_key_once(tmp_path: Path, seed: int) -> None:
    server, launched, runs, _ = restarts(tmp_path / "state.db", seed, runs=25)
    check(server, launched)
    assert runs >= 3  # (killed a few times before it could end)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_hundred_restarts(tmp_path: Path) -> None:
    keys = [f"host-{i}" for i in range(150)]
    server, launched, runs, dropped = restarts(tmp_path / "state.db", 86, 1000, keys, most=2.0)
    check(server, launched, keys)
    print(
        f"\n{len(keys)} keys: {runs} runs killed, {dropped} launch answers dropped, "
        f"{len(server.sim.job_ids())} jobs, each key once"
    )
    assert runs >= 200
    assert dropped >= 1
