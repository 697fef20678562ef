"""A process writing through ``SqliteStore`` until it is killed: the subject of ``test_crash``.

``python _store_crash_child.py PATH JOBS SEED`` commits observations round-robin over JOBS jobs:
commit ``k`` is job ``k % JOBS`` with state ``{"k": k}`` and one event with id ``str(k)``.
It resumes from what the store holds. On stdout (unbuffered, one line each): ``ready P``
(``P`` commits already durable); ``D k`` once commit ``k`` is settled, before acking its event;
``R k`` for an event found pending at start, before acking it; ``A k`` once that ack is
settled; ``B``/``E`` around every write transaction (from the writer thread). A line ``arm``
on stdin makes the process kill itself with SIGKILL inside a write transaction: at a random
step of SQLite's virtual machine (a progress handler) while a statement of the write runs,
before it commits. A named point, not a moment: the test does not depend on the machine's
speed to land a kill inside a transaction.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bkjob_async import Scope, SqliteStore
from bkjob_async.polling.stores.sqlite._writer import LogWriter

BIZ = Scope.biz(2)
WATCH = "crash"
PAD = "x" * 400


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


_armed = threading.Event()
#: Virtual-machine steps of the writes to run once armed, before the kill.
_steps_left = [0]


def _listen(rng: random.Random) -> None:
    for line in sys.stdin:
        if line.strip() == "arm":
            _steps_left[0] = rng.randint(1, 40)
            _armed.set()


def _step() -> int:
    _steps_left[0] -= 1
    if _steps_left[0] <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return 0


def traced(write):  # type: ignore[no-untyped-def]
    def write_sync(self, segments, *args):  # type: ignore[no-untyped-def]
        say("B")
        conn = self.conn
        if _armed.is_set():  # only inside this write: between B and E
            conn.set_progress_handler(_step, 1)
        try:
            done = write(self, segments, *args)
        finally:
            conn.set_progress_handler(None, 1)
        say("E")
        return done

    return write_sync


LogWriter.write = traced(LogWriter.write)  # type: ignore[method-assign]


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
    threading.Thread(target=_listen, args=(random.Random(sys.argv[3]),), daemon=True).start()
    anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
