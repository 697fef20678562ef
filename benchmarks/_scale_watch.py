"""One large watch's life in its own process: loop stalls while it registers, runs, ends.

``python benchmarks/_scale_watch.py URL IDS_FILE WINDOW [POLICY]``; one JSON line out.

``POLICY`` (``POLICIES``): ``unbounded``, the benchmark's own (``latency=None``, the interval
fixed), or ``fixed``, a fixed interval with the latency bound left at its 5 s
(``PollPolicy(interval=I, max_interval=I, growth=1.0)``, as issue 90 wrote it); ``I`` is the
jobs over ``RATE``.

At the defaults (issue 64): no ``gc.freeze()``, no tuning call (not even
``keep_receive_buffers_on_heap``), Python's collector as it comes. A probe task sleeps 1 ms
over and over and records how late it wakes, per phase: ``register`` (``watch_jobs`` of every
job until each is registered), ``first polls``, ``steady`` (``WINDOW`` seconds once every job
was polled twice), ``close`` (``aclose()``, then a second), then two more watches of the same
jobs, each registered and polled once: ``cancel`` (the task reading it in ``async with`` is
cancelled) and ``leave`` (``break`` out of an inline ``async for``), each until no job is
polled any more, then a second (``leave_took`` is ``None`` if the left watch still holds its
jobs six intervals and a minute later: a watch of jobs the poller remembers, fewer than ``PollPolicy.remember``,
may see no event to leave at). RSS per job is the process's RSS growth from before the client
was made to the end of ``steady``, over the jobs: the client's buffers and everything the watch
holds included, in a fresh process (nothing freed earlier reused); tracked objects per job the
growth of ``gc.get_objects()`` over the same span, each after a full collection.

Between ``steady`` and ``close``, ``beside raw`` (``WINDOW`` seconds, the probe stopped: its
wake-ups cost CPU): ``_loops.py raw-paced`` sends the same requests at the same rate from its
own process on the same core, and each counts its CPU per request over the same window. (The
two together ask the simulator for twice ``RATE``: where it serves less, both get about the
same share, and the ratio compares them at that rate. One after the other, the simulator's
pace moved between the windows by more than the figure compared.)

``reference``: over the watch's phases, ``python _scale_watch.py --reference`` runs the same
1 ms probe alone in a loop of its own on the same core, until its stdin closes. Its wall-clock
lateness is what the machine's load alone does to a loop that runs nothing: the watch's wall
figures less that part are the watch's own (its CPU-clock figures leave the load out already).
"""

from __future__ import annotations

import collections
import gc
import json
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from _harness import StallProbe, pin_client, rss_bytes

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope

SCOPE = Scope.biz(2)
#: Polls per second asked for: the interval is the number of jobs over this (0.4 of a core).
RATE = 2250.0
#: The phases of the watch's own life whose stalls together are issue 64's figures.
WATCH_PHASES = ("register", "first polls", "steady")
#: The types of tracked objects the result lists (the most per job first).
TYPES_SHOWN = 10


def policies(interval: float) -> dict[str, PollPolicy]:
    """The policies a run may take, by name, for one poll of each job every ``interval``."""
    return {
        "unbounded": PollPolicy(latency=None, interval=interval, max_interval=interval, growth=1.0),
        "fixed": PollPolicy(interval=interval, max_interval=interval, growth=1.0),
    }


async def reference() -> None:
    """The probe alone until stdin closes; print its figures (the phase ``alone``)."""
    probe = StallProbe()
    probe.phase("alone")
    async with anyio.create_task_group() as tg:
        tg.start_soon(probe.run)
        await anyio.to_thread.run_sync(sys.stdin.read)
        tg.cancel_scope.cancel()
    print(json.dumps(probe.figures()["alone"]), flush=True)


def _start_reference() -> subprocess.Popen[str]:
    args = [sys.executable, __file__, "--reference"]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _stop_reference(proc: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = proc.communicate(timeout=60)
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def _until(check, limit: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not there after {limit:.0f} s (the machine too loaded?)")
        await anyio.sleep(0.05)


async def _beside_raw(
    url: str, ids_file: str, window: float, requests: Callable[[], int]
) -> dict[str, float]:
    """Run ``_loops.py raw-paced`` at ``RATE`` beside the watch; over its measured window,
    return its CPU per request and the watch's (and each one's rate)."""
    loop = Path(__file__).parent / "_loops.py"
    args = [sys.executable, str(loop), "raw-paced", url, ids_file, str(window), str(RATE)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as raw:
        assert raw.stdout is not None
        line = await anyio.to_thread.run_sync(raw.stdout.readline)
        if line.strip() != "start":
            raise RuntimeError(f"raw-paced did not start: {line!r}")
        n0, c0, w0 = requests(), time.process_time(), time.perf_counter()
        line = await anyio.to_thread.run_sync(raw.stdout.readline)
        n1, c1, w1 = requests(), time.process_time(), time.perf_counter()
    theirs = json.loads(line)
    return {
        "cpu_per_poll": (c1 - c0) / max(1, n1 - n0),
        "rate": (n1 - n0) / (w1 - w0),
        "raw_cpu_per_request": theirs["cpu_per_request"],
        "raw_rate": theirs["rate"],
    }


def _tracked() -> collections.Counter[str]:
    """The objects the collector tracks now, by type (after a collection: the caller's)."""
    return collections.Counter(
        f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
    )


async def main(url: str, ids_file: str, window: float, policy_name: str) -> dict[str, object]:
    every = json.loads(Path(ids_file).read_text())
    ids, spare = every[:-1], every[-1:]  # (the last job is first watched to leave at once)
    jobs = len(ids)
    interval = jobs / RATE
    policy = policies(interval)[policy_name]
    gc.collect()
    rss0, objects0 = rss_bytes(), _tracked()
    probe = StallProbe()
    client = BkJobClient(
        url, app_code="bench", app_secret="secret", username="admin", connection_limit=32
    )
    async with client, Poller(client, policy=policy) as poller:
        stats = poller.statistics

        def watched() -> int:
            return stats().instances_watched

        def polled_since(start: int) -> bool:
            return stats().requests - start >= jobs

        async with anyio.create_task_group() as tg:
            probing = anyio.CancelScope()

            async def run_probe(scope: anyio.CancelScope) -> None:
                with scope:
                    await probe.run()

            tg.start_soon(run_probe, probing)
            await anyio.sleep(0.2)

            # 1. register, run, close.
            alone = _start_reference()
            probe.phase("register")
            watch = poller.watch_jobs(SCOPE, ids)
            events = [0]

            async def drain() -> None:
                async for _ in watch:
                    events[0] += 1

            tg.start_soon(drain)
            await _until(lambda: watched() == jobs, 300)
            probe.phase("first polls")
            # (50,000 first answers to decode: ten minutes more on a loaded machine)
            await _until(lambda: stats().unchanged_polls >= jobs, 8 * interval + 600)
            probe.phase("steady")
            n0, w0 = stats().requests, time.perf_counter()
            await anyio.sleep(window)
            steady_rate = (stats().requests - n0) / (time.perf_counter() - w0)
            probe.phase(None)  # (a full pass forced here holds the loop: not the watch's)
            lone = _stop_reference(alone)
            gc.collect()
            rss1, objects1 = rss_bytes(), _tracked()
            steady = stats()
            requests = steady.requests
            probing.cancel()
            beside = await _beside_raw(url, ids_file, window, lambda: stats().requests)
            probing = anyio.CancelScope()
            tg.start_soon(run_probe, probing)
            await anyio.sleep(0.05)
            probe.phase("close")
            started = time.perf_counter()
            await watch.aclose()
            close_took = time.perf_counter() - started
            await anyio.sleep(1.0)
            probe.phase(None)
            await _until(lambda: watched() == 0, 60)

            # 2. a watch whose reader is cancelled, in ``async with``.
            start = stats().requests
            scope = anyio.CancelScope()

            async def read_until_cancelled() -> None:
                with scope:
                    async with poller.watch_jobs(SCOPE, ids) as held:
                        async for _ in held:
                            pass

            tg.start_soon(read_until_cancelled)
            await _until(lambda: polled_since(start), 6 * interval + 120)
            probe.phase("cancel")
            scope.cancel()
            await _until(lambda: watched() == 0, 60)
            await anyio.sleep(1.0)
            probe.phase(None)

            # 3. a watch left with ``break`` out of an inline ``async for`` at its first event
            # after ``go`` (the last job, added then): dropped, never closed.
            start = stats().requests
            box = [poller.watch_jobs(SCOPE, ids)]
            ref = weakref.ref(box[0])
            go = anyio.Event()

            async def leave() -> None:
                async for _ in box.pop():
                    if go.is_set():
                        break

            tg.start_soon(leave)
            await _until(lambda: polled_since(start), 6 * interval + 120)
            probe.phase("leave")
            go.set()
            left_at = time.perf_counter()
            await ref().add(SCOPE, spare)  # type: ignore[union-attr]
            leave_took: float | None = None
            try:
                await _until(lambda: ref() is None and watched() == 0, 6 * interval + 60)
                leave_took = time.perf_counter() - left_at
            except TimeoutError:  # (reported as such: the figures before it still count)
                pass
            await anyio.sleep(1.0)
            probe.phase(None)
            tg.cancel_scope.cancel()
    return {
        "jobs": jobs,
        "interval": interval,
        "rss_per_job": (rss1 - rss0) / jobs,
        "rss_mb": [rss0 / 2**20, rss1 / 2**20],
        "objects_per_job": (objects1.total() - objects0.total()) / jobs,
        "objects_by_type": {
            name: n / jobs for name, n in (objects1 - objects0).most_common(TYPES_SHOWN)
        },
        "beside_raw": beside,
        "steady_rate": steady_rate,
        "watch": probe.together(WATCH_PHASES),
        "reference": lone,
        "policy": policy_name,
        "requests": requests,
        "errors": steady.errors,
        "census_requests": steady.census_requests,
        "events": events[0],
        "close_took": close_took,
        "leave_took": leave_took,
        "phases": probe.figures(),
        "stalls": probe.stalls,
    }


if __name__ == "__main__":
    pin_client()  # (no tuning call: the defaults)
    if sys.argv[1:] == ["--reference"]:
        anyio.run(reference, backend="asyncio")
        raise SystemExit
    url, ids_file, window = sys.argv[1], sys.argv[2], float(sys.argv[3])
    name = sys.argv[4] if len(sys.argv) > 4 else "unbounded"
    print(json.dumps(anyio.run(main, url, ids_file, window, name, backend="asyncio")))
