"""The store's write path alone, run as its own process: CPU per changed observation.

``python benchmarks/_store_loop.py MODE RATE SECONDS DIR SHAPE`` prints one JSON line:
``{"mode", "cpu_per_observation", "observations", "transactions", "writes"}``. MODE is
``none`` (the loop only builds what the engine would hand over), ``encode`` (builds it and
JSON-encodes the state and event, as ``SqliteStore.commit`` does, and writes nothing),
``memory`` or ``sqlite`` (the same loop writing through ``MemoryStore`` or ``SqliteStore``). Each
observation is what one changed poll of the CPU benchmark makes: a 3-step x 10-host job's
new tracker state, one host-transition event, and the ack of the job's previous event (the
consumer asked for the next one). Observations are spread evenly at RATE per second over
1,000 jobs, so batches are as large as they would be at that poll rate, no larger.

SHAPE is the tracker state's JSON form, which the engine chooses: ``dict`` (nested objects
keyed by step and host id, 486 bytes) or ``list`` (the same facts as nested arrays, 293
bytes; encoding it costs about half as much).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from _harness import pin_client

from bkjob_async import MemoryStore, Scope, SqliteStore
from bkjob_async._json import dumps as _dumps

SCOPE = Scope.biz(2)
JOBS = 1000
WARMUP = 1.0
TICK = 0.002


def tracker_state(job: int, n: int) -> dict:
    """A plausible JSON tracker state: job status, 3 steps of 10 hosts, host key -> status."""
    steps = {}
    for s in range(3):
        hosts = {f"{job * 100 + s * 10 + h}": (3 if (h + n) % 4 else 9) for h in range(10)}
        steps[str(10_000 + job * 3 + s)] = {"status": 2, "execute_count": 0, "hosts": hosts}
    return {"status": 2, "finished": False, "steps": steps}


def compact_state(job: int, n: int) -> list:
    """The same state as arrays: [status, finished, [[step, status, count, [host, code, ...]]]]."""
    steps = []
    for s in range(3):
        hosts = [x for h in range(10) for x in (job * 100 + s * 10 + h, 3 if (h + n) % 4 else 9)]
        steps.append([10_000 + job * 3 + s, 2, 0, hosts])
    return [2, False, steps]


SHAPES = {"dict": tracker_state, "list": compact_state}


def event(job: int, n: int) -> tuple[str, dict]:
    """A host transition as the engine would encode it, with its id."""
    host = job * 100 + n % 10
    payload = {
        "type": "host",
        "job_instance_id": job,
        "observed_at": "2026-11-22T12:00:00.123456+00:00",
        "step_instance_id": 10_000 + job * 3,
        "execute_count": 0,
        "host": {"host_id": host, "ip": f"10.0.{job % 250}.{n % 250}", "bk_cloud_id": 0},
        "previous": 3,
        "current": 9,
        "result": {"status": 9, "tag": "", "exit_code": 0, "error_code": 0, "total_time": 1234},
    }
    return f"{job}:{10_000 + job * 3}:0:{host}:3>9:{n}", payload


async def run(mode: str, rate: float, seconds: float, directory: str, shape: str) -> dict:
    store = (
        SqliteStore(Path(directory) / f"bench-{mode}-{shape}.db")
        if mode == "sqlite"
        else MemoryStore()
    )
    async with store:
        if mode not in ("none", "encode"):
            await store.wait_settled(store.add_jobs("bench", [(SCOPE, j) for j in range(JOBS)]))
            await store.flush()
        count, last_event = 0, [""] * JOBS
        make_state = SHAPES[shape]

        def observe() -> None:
            nonlocal count
            job = count % JOBS
            state, (event_id, payload) = make_state(job, count), event(job, count)
            if mode == "encode":
                _dumps(state), _dumps(payload)
            elif mode != "none":
                store.commit("bench", (SCOPE, job), state, [(event_id, payload)])
                if last_event[job]:
                    store.ack("bench", [last_event[job]])
            last_event[job] = event_id
            count += 1

        start = time.perf_counter()
        measured: tuple[float, int, int] | None = None
        due = 0.0
        while True:
            now = time.perf_counter() - start
            while due <= now:
                observe()
                due += 1 / rate
            if measured is None and now >= WARMUP:
                measured = (time.process_time(), count, store.statistics().transactions)
            if now >= WARMUP + seconds:
                break
            await anyio.sleep(TICK)
        await store.flush()
        assert measured is not None
        cpu = time.process_time() - measured[0]
        stats = store.statistics()
    return {
        "mode": mode,
        "shape": shape,
        "cpu_per_observation": cpu / (count - measured[1]),
        "observations": count - measured[1],
        "transactions": stats.transactions - measured[2],
        "writes": stats.writes,
    }


if __name__ == "__main__":
    pin_client()
    mode_, rate_, seconds_, directory_, shape_ = sys.argv[1:6]
    result = anyio.run(run, mode_, float(rate_), float(seconds_), directory_, shape_)
    print(json.dumps(result), flush=True)
