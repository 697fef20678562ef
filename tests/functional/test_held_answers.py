"""A changed answer held back to be folded with others is folded even while every worker stays
busy with unchanged polls: its watch hears it (``_workers.Workers``; issue 64's third watch)."""

from __future__ import annotations

import asyncio

import anyio

from bkjob_async import JobTransition, Poller, PollPolicy
from bkjob_async._protocol import Request, Response
from bkjob_async.testing import MockTransport, run_virtual
from tests.conftest import local_client

from ..scripted import SCOPE, ScriptedServer, job_body

#: Jobs that stay running: enough, answered slowly enough, to keep every worker busy.
BUSY = 96
NEW = 1000


def test_a_lone_changed_answer_is_folded_while_the_workers_stay_busy() -> None:
    async def main() -> tuple[list[int], int]:
        server = ScriptedServer()
        for job_id in range(1, BUSY + 1):
            server.script(job_id, job_body(job_id, 2, [(10, 2, 0, [2])]))
        server.script(NEW, job_body(NEW, 2, [(10, 2, 0, [2])]))

        async def slow(request: Request) -> Response:
            await asyncio.sleep(0.05)  # (virtual time) every answer takes 50 ms
            return await server(request)

        client = local_client(MockTransport(slow))
        # 96 jobs every 0.1 s ask 960 polls a second; 32 workers at 50 ms a poll serve 640:
        # every worker is always busy, nearly all of their polls unchanged.
        policy = PollPolicy(interval=0.1, max_interval=0.1, growth=1.0, latency=None)
        heard: list[int] = []
        async with client, Poller(client, policy=policy) as poller:
            watch = poller.watch_jobs(SCOPE, range(1, BUSY + 1))
            with anyio.fail_after(60):
                async for event in watch:
                    if isinstance(event, JobTransition):
                        heard.append(event.job_instance_id)
                        if len(heard) == BUSY:
                            break
                await anyio.sleep(2.0)  # every job polled again and again, unchanged
                unchanged = poller.statistics().unchanged_polls
                await watch.add(SCOPE, [NEW])  # its first answer is held back alone
                async for event in watch:
                    if isinstance(event, JobTransition) and event.job_instance_id == NEW:
                        heard.append(NEW)
                        break
            await watch.aclose()
        return heard, unchanged

    heard, unchanged = run_virtual(main)
    assert sorted(heard[:BUSY]) == list(range(1, BUSY + 1))
    assert heard[BUSY:] == [NEW]
    assert unchanged > 2 * BUSY  # the workers were busy with unchanged polls meanwhile
