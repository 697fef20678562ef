"""A virtual simulator clock that the test drives (``BkJobSimulator(virtual_clock=True)``).

For tests whose client runs elsewhere (child processes, real sockets), where the event loop's
time cannot be virtual: the simulator's hosts progress only while the test lets the clock run,
so where the jobs stand when the test acts does not depend on the machine's speed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from bkjob_async.testing import BkJobSimulator


class SimClock:
    """Drives a ``BkJobSimulator(virtual_clock=True)``: its hosts progress only while the
    clock runs, ``speed`` simulated seconds per real second, so a slow or busy machine changes
    how long a test takes, never where the jobs stand when the test acts (a kill, a freeze)."""

    TICK = 0.05

    def __init__(self, sim: BkJobSimulator, speed: float = 3.0) -> None:
        self.sim = sim
        self.speed = speed
        self.running = False
        self.elapsed = 0.0

    async def _run(self) -> None:
        while True:
            await anyio.sleep(self.TICK)
            if self.running:
                self.sim.advance(self.TICK * self.speed)
                self.elapsed += self.TICK * self.speed

    async def advance_by(self, seconds: float) -> None:
        """Run the clock until it moved ``seconds`` more (simulated), then hold it."""
        target = self.elapsed + seconds
        self.running = True
        try:
            while self.elapsed < target:
                await anyio.sleep(self.TICK)
        finally:
            self.running = False


@asynccontextmanager
async def sim_clock(sim: BkJobSimulator, speed: float = 3.0) -> AsyncIterator[SimClock]:
    """Yield a held ``SimClock`` for ``sim``; ``clock.running = True`` lets it run."""
    clock = SimClock(sim, speed)
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock._run)
        try:
            yield clock
        finally:
            tg.cancel_scope.cancel()
