"""``await watch.ack(event)`` returns only once the ack is on disk (issue 25).

A consumer acks an event and is SIGKILLed the moment ``ack`` returns, at many points of a
stream; ``resume`` then never hands out that event, nor any event it had received before.
The simulator's clock is virtual and runs (``SimClock``) only while someone waits for events:
the hosts take 3 to 30 simulated seconds, a fraction of that in real time.
"""

from __future__ import annotations

import random
import signal
import sys
from pathlib import Path

import anyio
import pytest

from bkjob_async import BkJobClient, Poller, Scope, SqliteStore
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..sim_clock import sim_clock

CHILD = Path(__file__).with_name("_ack_child.py")
SCOPE = Scope.biz(2)


@pytest.mark.timeout(180)
async def test_an_acked_event_is_never_handed_out_again_after_a_kill(tmp_path: Path) -> None:
    rng = random.Random(25)
    db = str(tmp_path / "ack.db")
    sim = BkJobSimulator(seed=9, host_duration=(3.0, 30.0), virtual_clock=True)
    async with sim, sim_clock(sim, speed=6.0) as clock:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=8), StepPlan(hosts=8)]) for _ in range(6)]
        args = [str(i) for i in ids]
        for run in range(8):
            k = rng.randint(1, 40)
            clock.running = True
            with anyio.fail_after(60):
                done = await anyio.run_process(
                    [sys.executable, str(CHILD), sim.url, db, str(k), *args], check=False
                )
            clock.running = False
            args = []  # later runs resume
            lines = done.stdout.decode().splitlines()
            assert done.returncode == -signal.SIGKILL, (run, k, lines[-3:], done.stderr[-500:])
            assert lines[-1] == "acked"
            received = lines[:-1]
            assert len(received) == k
            async with (
                SqliteStore(db) as store,
                BkJobClient(sim.url, app_code="a", app_secret="s", username="u") as client,
                Poller(client, store=store) as poller,
            ):
                watch = await poller.resume("ack")
                clock.running = True
                with anyio.fail_after(30):
                    first = await watch.__anext__()  # not acked: the next run gets it again
                clock.running = False
                await watch.aclose()
            assert first.event_id not in received, (run, k, first.event_id)
