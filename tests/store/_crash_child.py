"""A process writing through ``SqliteStore`` until it is killed: the subject of ``test_crash``.

``python _crash_child.py PATH JOBS SEED`` commits observations round-robin over JOBS jobs:
commit ``k`` is job ``k % JOBS`` with state ``{"k": k}`` and one event with id ``str(k)``.
It resumes from what the store holds. On stdout (unbuffered, one line each): ``ready P``
(``P`` commits already durable); ``D k`` once commit ``k`` is settled, before acking its event;
``R k`` for an event found pending at start, before acking it; ``A k`` once that ack is
settled; ``B``/``E`` around every write transaction (from the writer thread).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bkjob_async import Scope, SqliteStore

BIZ = Scope.biz(2)
WATCH = "crash"
PAD = "x" * 400


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def traced(write):  # type: ignore[no-untyped-def]
    def write_sync(self, segments, *args):  # type: ignore[no-untyped-def]
        say("B")
        done = write(self, segments, *args)
        say("E")
        return done

    return write_sync


SqliteStore._write_sync = traced(SqliteStore._write_sync)  # type: ignore[method-assign]


async def main(path: str, jobs: int, seed: int) -> None:
    rng = random.Random(seed)
    async with SqliteStore(path, synchronous="full", flush_interval=0.002) as store:
        stored = await store.load(WATCH)
        if stored is None:
            await store.wait_settled(store.add_jobs(WATCH, [(BIZ, j) for j in range(jobs)]))
            stored = await store.load(WATCH)
        assert stored is not None
        states = [s["k"] for s in stored.jobs.values() if s is not None]
        k = max(states, default=-1) + 1
        say(f"ready {k}")
        acks: list[tuple[int, int]] = []
        for event in stored.pending:
            say(f"R {event.event_id}")
            acks.append((store.ack(WATCH, [event.event_id]), int(event.event_id)))
        commits: list[tuple[int, int]] = []
        while True:
            for _ in range(rng.randint(1, 120)):
                ticket = store.commit(
                    WATCH, (BIZ, k % jobs), {"k": k, "pad": PAD}, [(str(k), {"k": k})]
                )
                commits.append((ticket, k))
                k += 1
            await anyio.sleep(rng.choice((0, 0.001, 0.003)))
            while commits and store.settled(commits[0][0]):
                _, done = commits.pop(0)
                say(f"D {done}")
                acks.append((store.ack(WATCH, [str(done)]), done))
            while acks and store.settled(acks[0][0]):
                say(f"A {acks.pop(0)[1]}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
