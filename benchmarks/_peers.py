"""One contender of the peer benchmarks, run as its own process: what users run today, or the engine.

``python benchmarks/_peers.py CONFIG_JSON`` prints one JSON line of results. Contenders:

- ``sdk-kept``: the official SDK (``bkapi-component-open`` on ``bkapi-client-core``) in a
  thread pool, one client used ``with client:`` so its session keeps connections;
- ``sdk-per-call``: the same, building a client per call as most code does
  (``get_client_by_username`` per call; the SDK closes the session after every call);
- ``naive``: one asyncio task per job, one ``aiohttp`` session, ``json.loads``, fixed interval;
- ``engine``: ``bkjob_async.Poller`` with the given policy; with ``"wait": "completed"`` it
  waits for the jobs' ends with ``as_completed`` instead of watching every event (the census
  benchmark), and with ``"callback": {"port", "token"}`` it also runs a ``CallbackReceiver``
  feeding ``Poller.hint`` there.

All use the ESB ``jobv3`` API (the flavor the SDK speaks), ask for host results (the SDK loop
not with ``"hosts": false``: a wait for job ends) and report a host the first time they see it
in a status. Modes:

- ``poll``/``poll-changed``: poll the jobs back to back and count CPU per request over a window;
  ``poll-changed`` runs against ``simulator(flip=True)``, which moves one host in every answer,
  so every poll reports one transition (the mode only names the comparison);
- ``watch``: follow every job at ``interval`` until each is seen finished (or ``seconds``
  pass), recording each host status and each job end with the ``time.monotonic()`` it was seen;
  with ``"launch"`` (seconds from the start, one per job; the naive loop and the engine) each
  job is followed from its launch on (the family of mixes, ``_peers_family``);
- ``memory``: poll every job once, then report resident memory grown since before the watch.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import heapq
import itertools
import json
import os
import random
import re
import resource
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import aiohttp
from _harness import pin_client, rss_bytes
from bkapi_component.open.client import Client
from requests.adapters import HTTPAdapter

import bkjob_async._json
from bkjob_async import (
    BkJobClient,
    CallbackReceiver,
    HostTransition,
    JobFinished,
    Poller,
    PollPolicy,
    Scope,
    WatchFailed,
)
from bkjob_async.tuning import keep_receive_buffers_on_heap

SCOPE_PARAMS = {"bk_scope_type": "biz", "bk_scope_id": 2}
AUTH = {"bk_app_code": "bench", "bk_app_secret": "secret", "bk_username": "admin"}
ESB_STATUS = "/api/c/compapi/v2/jobv3/get_job_instance_status/"
#: Seconds between two samples of a contender's requests (a config's ``sample_every``): the
#: rate plots of ``test_peers.py`` read them. The engine's sample is ``Poller.statistics()``,
#: about 70 us, which a run that plots no rate need not pay four times a second.
SAMPLE_EVERY = 0.25
# ``aiohttp-alone``'s look for a job's end without decoding the body.
_FINISHED = re.compile(rb'"finished":\s*true')
# Memory mode: once every job was polled, let the last answers land before reading RSS.
SETTLE = 0.5


class Job:
    """What a hand-written loop keeps per job: its id, parameters and last host statuses."""

    __slots__ = ("hosts", "job_id", "params")

    def __init__(self, job_id: int, hosts: bool = True) -> None:
        self.job_id = job_id
        self.params = {**SCOPE_PARAMS, "job_instance_id": job_id, "return_ip_result": hosts}
        self.hosts: dict[tuple[int, int], int] = {}


class Counters:
    """Requests sent and refused, observations made; sampled over time by the runner."""

    def __init__(self) -> None:
        self.sent = self.refused = self.errors = 0
        self.events = 0  # (the engine's, of every kind)
        self.seen: list[tuple[int, int, int, int, float]] = []
        self.finished = 0

    def diff(self, job: Job, data: dict[str, Any]) -> bool:
        """Compare every host with the last poll, record changes; tell whether the job finished.

        The code a user writes around the SDK or ``json.loads`` to follow hosts.
        """
        now = time.monotonic()
        known, seen, job_id = job.hosts, self.seen, job.job_id
        for step in data["step_instance_list"]:
            step_id = step["step_instance_id"]
            for row in step.get("step_ip_result_list") or ():
                key, status = (step_id, row["bk_host_id"]), row["status"]
                if known.get(key) != status:
                    known[key] = status
                    seen.append((job_id, step_id, key[1], status, now))
        if data["finished"]:
            seen.append((job_id, 0, 0, data["job_instance"]["status"], now))
            self.finished += 1
            return True
        return False

    def answer(self, job: Job, body: dict[str, Any]) -> bool:
        """Handle one decoded envelope; a refused or failed call is retried at the next tick."""
        if not body.get("result"):
            if body.get("code") == 1306429:
                self.refused += 1
            else:
                self.errors += 1
            return False
        return self.diff(job, body["data"])


# --- the official SDK in a thread pool -------------------------------------------------------


def _sdk_client(url: str, threads: int) -> Any:
    client = Client(endpoint=url, bk_api_ver="v2")
    client.update_bkapi_authorization(**AUTH)
    if threads:  # a kept session: room in the pool for every thread's connection
        client.session.mount("http://", HTTPAdapter(pool_maxsize=threads))
    return client


class SdkContender:
    """The SDK called from ``threads`` threads, each job polled ``interval`` after its last poll."""

    def __init__(self, url: str, kept: bool, threads: int, counters: Counters) -> None:
        self.url, self.kept, self.threads, self.counters = url, kept, threads, counters
        self.client = _sdk_client(url, threads) if kept else None
        if self.client is not None:
            self.client.__enter__()  # ``with client:``: reuse the session's connections

    def poll(self, job: Job) -> bool:
        client = self.client or _sdk_client(self.url, 0)
        self.counters.sent += 1
        try:
            body = client.jobv3.get_job_instance_status(job.params)
        except Exception:  # the SDK raises on HTTP errors; the loop retries at the next tick
            self.counters.errors += 1
            return False
        return self.counters.answer(job, body)

    def run_back_to_back(self, jobs: list[Job], stop: threading.Event) -> None:
        rotation = itertools.cycle(jobs)

        def loop() -> None:
            while not stop.is_set():
                self.poll(next(rotation))

        workers = [threading.Thread(target=loop, daemon=True) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        stop.wait()
        for worker in workers:
            worker.join()

    def run_watch(
        self, jobs: list[Job], interval: float, phase: float, stop: threading.Event
    ) -> None:
        """A scheduler thread hands due jobs to the pool; a poll re-queues its job."""
        rng, now = random.Random(7), time.monotonic()
        heap = [(now + rng.uniform(0, phase), job.job_id, job) for job in jobs]
        heapq.heapify(heap)
        ready = threading.Condition()
        left = [len(jobs)]

        def poll_and_requeue(job: Job) -> None:
            finished = self.poll(job)
            with ready:
                if finished:
                    left[0] -= 1
                else:
                    heapq.heappush(heap, (time.monotonic() + interval, job.job_id, job))
                ready.notify()

        with ThreadPoolExecutor(self.threads) as pool:
            while left[0] and not stop.is_set():
                with ready:
                    wait = heap[0][0] - time.monotonic() if heap else None
                    if wait is None or wait > 0:
                        # A poll that re-queues its job notifies; look at ``stop`` each second.
                        ready.wait(1.0 if wait is None else min(wait, 1.0))
                        continue
                    job = heapq.heappop(heap)[2]
                pool.submit(poll_and_requeue, job)
            stop.set()


# --- a naive asyncio loop ----------------------------------------------------------------------


async def naive(
    url: str,
    jobs: list[Job],
    interval: float,
    phase: float,
    counters: Counters,
    finished: asyncio.Event,
    *,
    decode: bool = True,
    launch: list[float] | None = None,
) -> None:
    """One task per job: GET, ``json.loads``, compare hosts, sleep ``interval``, again.

    ``launch`` (seconds from the start, one per job) starts each job's task then, as a program
    that launches it there would; its first poll comes a random phase of ``phase`` later, as
    the first poll of a job there from the start.

    ``decode=False`` (contender ``aiohttp-alone``) skips ``json.loads`` and the comparison and
    only looks for the job's end in the body: what the requests themselves cost at this
    schedule, under which no client built on aiohttp goes.
    """
    headers = {"X-Bkapi-Authorization": json.dumps(AUTH)}
    rng = random.Random(7)
    left = [len(jobs)]

    async def follow(session: aiohttp.ClientSession, job: Job, phase: float) -> None:
        await asyncio.sleep(phase)
        params = {k: str(v) for k, v in job.params.items()}
        while True:
            counters.sent += 1
            try:
                async with session.get(url + ESB_STATUS, params=params, headers=headers) as r:
                    raw = await r.read()
                    body = json.loads(raw) if decode else None
            except Exception:
                counters.errors += 1
            else:
                if body is None:
                    if _FINISHED.search(raw):
                        counters.seen.append((job.job_id, 0, 0, -1, time.monotonic()))
                        counters.finished += 1
                        break
                elif counters.answer(job, body):
                    break
            await asyncio.sleep(interval)
        left[0] -= 1
        if not left[0]:
            finished.set()

    async with aiohttp.ClientSession() as session:
        starts = launch or [0.0] * len(jobs)
        tasks = [
            asyncio.create_task(follow(session, job, at + rng.uniform(0, phase)))
            for job, at in zip(jobs, starts, strict=True)
        ]
        try:
            await finished.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


# --- the engine --------------------------------------------------------------------------------


def _engine_client(url: str, policy: PollPolicy) -> BkJobClient:
    keep_receive_buffers_on_heap()  # the README's opt-in (the client once did it by itself)
    return BkJobClient(
        url,
        flavor="esb-jobv3",
        app_code=AUTH["bk_app_code"],
        app_secret=AUTH["bk_app_secret"],
        username=AUTH["bk_username"],
        connection_limit=policy.max_in_flight,
    )


async def engine(
    url: str,
    ids: list[int],
    policy: dict[str, Any],
    counters: Counters,
    poller_out: list[Any],
    launch: list[float] | None = None,
) -> None:
    """Watch every job with ``bkjob_async.Poller``; record host transitions and job ends.

    ``launch`` (seconds from the start, one per job): the jobs launched at one moment are
    watched from then on, on a watch of their own (``watch_jobs(..., launched=True)`` once per
    launch, as a program that launches a batch and watches it says so).
    """
    chosen = PollPolicy(**policy)
    client = _engine_client(url, chosen)
    async with client, Poller(client, policy=chosen) as poller:
        poller_out.append(poller)
        if launch is None:
            await _record(poller.watch_jobs(Scope.biz(2), ids), len(ids), counters)
            return
        batches: dict[float, list[int]] = {}
        for job_id, at in zip(ids, launch, strict=True):
            batches.setdefault(at, []).append(job_id)
        start, watches = time.monotonic(), []
        try:
            for at, batch in sorted(batches.items()):
                await asyncio.sleep(max(0.0, start + at - time.monotonic()))
                watch = poller.watch_jobs(Scope.biz(2), batch, launched=True)
                watches.append(asyncio.create_task(_record(watch, len(batch), counters)))
            await asyncio.gather(*watches)
        finally:
            for task in watches:
                task.cancel()
            await asyncio.gather(*watches, return_exceptions=True)


async def _record(watch: Any, jobs: int, counters: Counters) -> None:
    """Record one watch's host transitions and job ends until its ``jobs`` jobs ended."""
    seen, left = counters.seen, jobs
    async with watch:
        async for event in watch:
            counters.events += 1
            if isinstance(event, HostTransition):
                # ``host_key`` (``bk_host_id`` on v3) reads the row, as the loops above do; the
                # event's ``host`` and ``result`` would structure it (what a consumer that wants
                # the details pays).
                key = event.host_key
                seen.append(
                    (
                        event.job_instance_id,
                        event.step_instance_id,
                        key if isinstance(key, int) else 0,
                        int(event.current),
                        time.monotonic(),
                    )
                )
            elif isinstance(event, (JobFinished, WatchFailed)):
                status = int(event.status) if isinstance(event, JobFinished) else -1
                seen.append((event.job_instance_id, 0, 0, status, time.monotonic()))
                counters.finished += 1
                left -= 1
                if not left:
                    break


async def engine_completed(
    url: str,
    ids: list[int],
    policy: dict[str, Any],
    counters: Counters,
    poller_out: list[Any],
    callback: dict[str, Any] | None = None,
) -> None:
    """Wait for every job's end with ``Poller.as_completed``; record each end as it comes.

    With ``callback`` (``{"port", "token"}``), a ``CallbackReceiver`` on that local port hands
    bk-job's job-end callbacks to ``poller.hint``; it goes in ``poller_out`` after the poller.
    """
    chosen = PollPolicy(**policy)
    client = _engine_client(url, chosen)
    async with client, Poller(client, policy=chosen) as poller, AsyncExitStack() as stack:
        poller_out.append(poller)
        if callback is not None:
            receiver = CallbackReceiver(poller.hint, port=callback["port"], token=callback["token"])
            poller_out.append(await stack.enter_async_context(receiver))
        seen = counters.seen
        async with poller.as_completed(Scope.biz(2), ids) as finished:
            async for snapshot in finished:
                job = snapshot.job
                seen.append((job.job_instance_id, 0, 0, int(job.status), time.monotonic()))
                counters.finished += 1


def _engine_notes(pollers: list[Any]) -> dict[str, Any]:
    """The engine's own counts beyond requests: the census's and the callbacks' (if any)."""
    if not pollers:
        return {}
    stats = pollers[0].statistics()
    notes = {
        "census": stats.census,
        "census_requests": stats.census_requests,
        "hinted_polls": stats.hinted_polls,
    }
    if len(pollers) > 1:
        notes["callbacks_accepted"] = pollers[1].statistics().accepted
    return notes


def _engine_counts(poller: Any, counters: Counters) -> tuple[int, int, float | None]:
    """Requests sent, refused, and the rate the engine's governor allows now (``None``: none)."""
    if poller is None:
        return counters.sent, counters.refused, None
    stats = poller.statistics()
    return stats.requests, stats.errors.get("RateLimitedError", 0), stats.rate_limit


# --- the runner --------------------------------------------------------------------------------


class Sampler:
    """Read (time, requests, refused, governor's rate or ``None``) every ``SAMPLE_EVERY`` s."""

    def __init__(self, read: Callable[[], tuple[int, int, float | None]]) -> None:
        self.read = read
        self.samples: list[tuple[float, int, int, float | None]] = []

    def sample(self) -> None:
        self.samples.append((time.monotonic(), *self.read()))


class Cpu:
    """This process's CPU time from a starting point: user and system (kernel) seconds."""

    def __init__(self) -> None:
        self.start = resource.getrusage(resource.RUSAGE_SELF)

    def figures(self) -> dict[str, float]:
        now = resource.getrusage(resource.RUSAGE_SELF)
        user, system = now.ru_utime - self.start.ru_utime, now.ru_stime - self.start.ru_stime
        return {"cpu": user + system, "cpu_user": user, "cpu_system": system}


def _settled_rss() -> int:
    gc.collect()
    return rss_bytes()


def _start_time(config: dict[str, Any]) -> float:
    """Say we are ready; wait for the common start (a ``time.monotonic()`` reading on stdin)."""
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    late = time.monotonic() - start_at
    if late > 0.1:
        raise RuntimeError(f"{config['name']} got the common start {late:.2f} s late")
    time.sleep(max(0.0, -late))
    return time.monotonic()


async def _warm_up_async(config: dict[str, Any]) -> None:
    """Make the first calls before the clock starts: they import and build things lazily."""
    job = Job(config["ids"][0])
    if config["contender"] in ("naive", "aiohttp-alone"):
        headers = {"X-Bkapi-Authorization": json.dumps(AUTH)}
        params = {k: str(v) for k, v in job.params.items()}
        async with (
            aiohttp.ClientSession() as session,
            session.get(config["url"] + ESB_STATUS, params=params, headers=headers) as r,
        ):
            Counters().answer(job, json.loads(await r.read()))
        return
    counters, pollers = Counters(), []
    task = asyncio.create_task(engine(config["url"], [job.job_id], {}, counters, pollers))
    # Until its first event of any kind (a job waiting for a person has no host to report).
    while not counters.events and not task.done():
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _run_async(config: dict[str, Any], counters: Counters) -> dict[str, Any]:
    """Run the naive loop or the engine under asyncio, sampling and timing the window."""
    ids, mode = config["ids"], config["mode"]
    pollers: list[Any] = []
    sampler = Sampler(lambda: _engine_counts(pollers[0] if pollers else None, counters))
    finished = asyncio.Event()
    interval = config.get("interval", 0.0)
    launch = config.get("launch")  # (real seconds from the start, one per job)
    if config["contender"] in ("naive", "aiohttp-alone"):
        jobs = [Job(i) for i in ids]
        phase = interval
        if mode == "memory":
            interval, phase = 3600.0, 1.0
        decode = config["contender"] == "naive"
        work = naive(
            config["url"], jobs, interval, phase, counters, finished, decode=decode, launch=launch
        )
    elif config.get("wait") == "completed":
        policy, callback = config["policy"], config.get("callback")
        work = engine_completed(config["url"], ids, policy, counters, pollers, callback)
    else:
        policy = dict(config["policy"])
        if mode == "memory":
            policy |= {"interval": 1.0, "max_interval": 3600.0}
        work = engine(config["url"], ids, policy, counters, pollers, launch)
    await _warm_up_async(config)
    rss0 = rss_bytes()
    _start_time(config)
    task = asyncio.create_task(work)
    try:
        result = await _window(config, sampler, task)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return result | {"rss0": rss0} | _engine_notes(pollers)


async def _window(
    config: dict[str, Any], sampler: Sampler, task: asyncio.Task[Any]
) -> dict[str, Any]:
    """Wait as the mode says while sampling; return CPU and requests over the measured part."""
    mode, n = config["mode"], len(config["ids"])
    profile = _profiler()
    start, cpu = time.monotonic(), Cpu()
    if mode.startswith("poll"):
        await asyncio.sleep(config["warmup"])
        cpu, sent0 = Cpu(), sampler.read()[0]
        await asyncio.sleep(config["seconds"])
        sent = sampler.read()[0] - sent0
        _raise_if_failed(config, task)
        return {**cpu.figures(), "requests": sent, "wall": config["seconds"]}
    deadline = start + config["seconds"]
    every = config.get("sample_every", SAMPLE_EVERY)
    while time.monotonic() < deadline and not task.done():
        sampler.sample()
        if mode == "memory" and sampler.read()[0] >= n:
            await asyncio.sleep(SETTLE)
            return {"rss_watching": _settled_rss()}
        # (until the next sample, or the contender's end: the window ends with it)
        await asyncio.wait({task}, timeout=max(0.0, min(every, deadline - time.monotonic())))
    sampler.sample()
    figures, wall = cpu.figures(), time.monotonic() - start
    if profile is not None:
        profile.disable()
        profile.dump_stats(f"{os.environ['BENCH_CPROFILE']}-{config['name']}")
    _raise_if_failed(config, task)
    sent, refused, _ = sampler.read()
    return {
        **figures,
        "wall": wall,
        "requests": sent,
        "refused": refused,
        "samples": sampler.samples,
    }


def _profiler() -> cProfile.Profile | None:
    """``BENCH_CPROFILE=PREFIX``: profile the measured window (cProfile), into PREFIX-NAME."""
    if not os.environ.get("BENCH_CPROFILE"):
        return None
    profile = cProfile.Profile()
    profile.enable()
    return profile


def _raise_if_failed(config: dict[str, Any], task: asyncio.Task[Any]) -> None:
    """A contender that died must fail the run, not report the requests it never made."""
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise RuntimeError(f"{config['name']} failed") from task.exception()


def _run_sdk(config: dict[str, Any], counters: Counters) -> dict[str, Any]:
    ids, mode = config["ids"], config["mode"]
    contender = SdkContender(
        config["url"], config["contender"] == "sdk-kept", config["threads"], counters
    )
    jobs, stop = [Job(i, config.get("hosts", True)) for i in ids], threading.Event()
    sampler = Sampler(lambda: (counters.sent, counters.refused, None))
    if mode.startswith("poll"):
        thread = threading.Thread(target=contender.run_back_to_back, args=(jobs, stop))
    else:
        interval = 3600.0 if mode == "memory" else config["interval"]
        phase = 1.0 if mode == "memory" else interval
        thread = threading.Thread(target=contender.run_watch, args=(jobs, interval, phase, stop))
    warm_up = Counters()
    contender.counters = warm_up  # first calls import and build lazily: not in the figures
    contender.poll(Job(ids[0]))
    contender.counters = counters
    rss0 = rss_bytes()
    start = _start_time(config)
    cpu = Cpu()
    thread.start()
    try:
        if mode.startswith("poll"):
            time.sleep(config["warmup"])
            cpu, sent0 = Cpu(), counters.sent
            time.sleep(config["seconds"])
            return {
                **cpu.figures(),
                "requests": counters.sent - sent0,
                "wall": config["seconds"],
                "rss0": rss0,
            }
        deadline = start + config["seconds"]
        while time.monotonic() < deadline and not stop.is_set():
            sampler.sample()
            if mode == "memory" and counters.sent >= len(ids):
                time.sleep(SETTLE)
                return {"rss_watching": _settled_rss(), "rss0": rss0}
            time.sleep(SAMPLE_EVERY)
        sampler.sample()
        return {
            **cpu.figures(),
            "wall": time.monotonic() - start,
            "requests": counters.sent,
            "samples": sampler.samples,
            "rss0": rss0,
        }
    finally:
        stop.set()
        thread.join()


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Run one contender as ``config`` says; return its figures."""
    counters = Counters()
    if config["contender"].startswith("sdk"):
        result = _run_sdk(config, counters)
    else:
        result = asyncio.run(_run_async(config, counters))
    gc.collect()
    result |= {
        "name": config["name"],
        "rss1": rss_bytes(),
        # The engine counts its own refusals (``statistics().errors``), the others in ``counters``.
        "refused": result.pop("refused", counters.refused),
        "errors": counters.errors,
        "finished": counters.finished,
        "speedups": bkjob_async._json.speedups(),  # orjson or the stdlib (issue 40)
    }
    if config.get("seen_file"):
        Path(config["seen_file"]).write_text(json.dumps(counters.seen))
    return result


if __name__ == "__main__":
    pin_client()
    settings = json.loads(sys.argv[1])
    settings["ids"] = json.loads(Path(settings.pop("ids_file")).read_text())
    print(json.dumps(run(settings)), flush=True)
