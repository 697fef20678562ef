"""One measured client loop, run as its own process: raw aiohttp or the engine, CPU per request.

``python benchmarks/_loops.py MODE URL IDS_FILE SECONDS [RATE]`` prints one JSON line:
``{"mode", "cpu_per_request", "requests", "unchanged"}``. MODE is ``raw`` (GET + read),
``raw-paced`` (GET + read at ``RATE`` requests a second, without the opt-in tuning call: the
comparator of ``_scale_watch.py``, which reads its ``start`` line),
``raw-json`` (GET + read + json.loads), ``engine`` or ``engine-changed`` (the poller, the same
code: against the plain simulator every poll after the first is unchanged; against
``simulator(flip=True)`` every answer moves one host, so every poll is a changed one, and
``engine-changed`` reports ``events`` too). Nothing is patched: the engine measured is the one
users run.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

import aiohttp
import anyio

sys.path.insert(0, str(Path(__file__).parent))

from _harness import pin_client

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope
from bkjob_async.polling._reader import PollRequests
from bkjob_async.tuning import keep_receive_buffers_on_heap

if os.environ.get("BENCH_OTEL_SPANS") == "1":  # spans on (test_tracing_cost.py): the SDK, kept
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    _provider = TracerProvider()
    _provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(_provider)

CONCURRENCY = 32
WARMUP = 1.5
SCOPE = Scope.biz(2)


def _client(url: str) -> BkJobClient:
    return BkJobClient(
        url, app_code="bench", app_secret="secret", username="admin", connection_limit=CONCURRENCY
    )


async def _measure(count, seconds: float) -> tuple[float, int]:
    await anyio.sleep(WARMUP)
    n0, c0 = count(), time.process_time()
    await anyio.sleep(seconds)
    n1, c1 = count(), time.process_time()
    return (c1 - c0) / max(1, n1 - n0), n1 - n0


async def raw(url: str, ids: list[int], seconds: float, parse: bool) -> dict:
    """Plain aiohttp sending the very requests the client builds."""
    async with _client(url) as client:
        polls = PollRequests(client.protocol)  # the poller's own requests
        requests = [polls.job(SCOPE, i, with_hosts=True) for i in ids]
    done = [0]
    rotation = itertools.cycle(requests)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def loop() -> None:
            while True:
                request = next(rotation)
                async with session.get(
                    request.url, params=request.query, headers=request.headers
                ) as r:
                    body = await r.read()
                if parse:
                    json.loads(body)
                done[0] += 1

        async with anyio.create_task_group() as tg:
            for _ in range(CONCURRENCY):
                tg.start_soon(loop)
            cpu, requests_made = await _measure(lambda: done[0], seconds)
            tg.cancel_scope.cancel()
    return {"cpu_per_request": cpu, "requests": requests_made, "unchanged": 0, "events": 0}


async def raw_paced(url: str, ids: list[int], seconds: float, rate: float) -> dict:
    """Plain aiohttp sending the poller's requests at ``rate`` a second, ``CONCURRENCY`` at
    most at once, GET + read: what a watch of unchanged jobs polled at that rate is compared
    with (``_scale_watch.py``). Prints ``start`` when its measured window begins."""
    async with _client(url) as client:
        polls = PollRequests(client.protocol)
        requests = [polls.job(SCOPE, i, with_hosts=True) for i in ids]
    done, slots, began = [0], itertools.count(), time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def loop() -> None:
            while True:
                slot = next(slots)
                await anyio.sleep(max(0.0, began + slot / rate - time.monotonic()))
                request = requests[slot % len(requests)]
                async with session.get(
                    request.url, params=request.query, headers=request.headers
                ) as r:
                    await r.read()
                done[0] += 1

        async with anyio.create_task_group() as tg:
            for _ in range(CONCURRENCY):
                tg.start_soon(loop)
            await anyio.sleep(WARMUP)
            print("start", flush=True)
            n0, c0, w0 = done[0], time.process_time(), time.perf_counter()
            await anyio.sleep(seconds)
            n1, c1, w1 = done[0], time.process_time(), time.perf_counter()
            tg.cancel_scope.cancel()
    return {
        "cpu_per_request": (c1 - c0) / max(1, n1 - n0),
        "requests": n1 - n0,
        "rate": (n1 - n0) / (w1 - w0),
        "unchanged": 0,
        "events": 0,
    }


async def engine(url: str, ids: list[int], seconds: float) -> dict:
    """The poller watching every job back to back (1-2 ms intervals), events drained."""
    policy = PollPolicy(interval=0.001, max_interval=0.002, jitter=0.0, max_in_flight=CONCURRENCY)
    async with _client(url) as client, Poller(client, policy=policy) as poller:
        watch = poller.watch_jobs(SCOPE, ids)

        async def drain() -> None:
            async for _ in watch:
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            while poller._requests < 2 * len(ids):  # every job's first (decoded) poll is done
                await anyio.sleep(0.05)
            marks: list[tuple[int, int]] = []  # at the start and the end of the window

            def count() -> int:
                statistics = poller.statistics()
                marks.append((statistics.unchanged_polls, statistics.events_observed))
                return poller._requests

            cpu, requests_made = await _measure(count, seconds)
            tg.cancel_scope.cancel()
    return {
        "cpu_per_request": cpu,
        "requests": requests_made,
        "unchanged": marks[-1][0] - marks[0][0],
        "events": marks[-1][1] - marks[0][1],
    }


async def main(mode: str, url: str, ids: list[int], seconds: float, rate: float) -> None:
    if mode == "raw-paced":
        result = await raw_paced(url, ids, seconds, rate)
    elif mode in ("raw", "raw-json"):
        result = await raw(url, ids, seconds, parse=mode == "raw-json")
    else:
        result = await engine(url, ids, seconds)
    print(json.dumps({"mode": mode, **result}), flush=True)


if __name__ == "__main__":
    pin_client()
    mode_, url_, ids_file, seconds_ = sys.argv[1:5]
    rate_ = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    if mode_ != "raw-paced":  # (at the defaults, as the large watch it is compared with)
        keep_receive_buffers_on_heap()  # the opt-in a program polling many jobs makes (README)
    ids_ = json.loads(Path(ids_file).read_text())
    anyio.run(main, mode_, url_, ids_, float(seconds_), rate_, backend="asyncio")
