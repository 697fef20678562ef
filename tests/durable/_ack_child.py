"""A consumer that acks its ``K``-th event and is killed the moment ``ack`` returns.

``python _ack_child.py URL PATH K [JOB_ID ...]`` watches the jobs as the named watch ``ack``
(with ids) or resumes it (without), prints each event id as it receives it, and after the
``K``-th: ``await watch.ack(event)``, prints ``acked``, and SIGKILLs itself.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope, SqliteStore

SCOPE = Scope.biz(2)


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


async def main(url: str, path: str, k: int, ids: list[int]) -> None:
    async with (
        SqliteStore(path) as store,
        BkJobClient(url, app_code="a", app_secret="s", username="u") as client,
        Poller(client, policy=PollPolicy(interval=0.2, max_interval=1.0), store=store) as poller,
    ):
        watch = poller.watch_jobs(SCOPE, ids, name="ack") if ids else await poller.resume("ack")
        seen = 0
        async for event in watch:
            say(event.event_id)
            seen += 1
            if seen == k:
                await watch.ack(event)
                say("acked")
                os.kill(os.getpid(), signal.SIGKILL)
    say("over")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(a) for a in sys.argv[4:]])
