"""Run a BkJobSimulator in its own process for benchmarks; print its URL and job ids, serve.

By default jobs run on the virtual clock, which never advances here: every job stays as created
(running, hosts waiting), so every poll after the first is an unchanged poll. With
``--duration MIN MAX`` they run on the real clock, each host taking that many seconds.
Usage: python benchmarks/_simserver.py --jobs N --steps S --hosts H [--duration A B] [--core C]

The peer benchmarks add: ``--mix N`` serves N jobs of the realistic mix (``_peers_mix``)
instead (with ``--bursts``, of the bursty mix: ``_peers_mix.burst_plan``; with ``--family
SEED``, the jobs of that seed's mix of the family, ``_peers_family``, its people included; with
``--persons SHARE``, that share of them waits for a person at a manual confirmation, and this
process confirms each ``_peers_mix.person_wait`` seconds of the clock after it began to wait,
through the simulator's own API, as its operator would); ``--speed F``
runs the clock F times faster than real time (a host planned to run 10 min takes 1/F of
that), standing still until the parent writes ``start S`` on stdin: then it starts S seconds
later and the simulator answers one line ``{"origin": ...}`` (clients
started meanwhile miss nothing); ``--rate-limit R`` limits the server to R requests per second of
real time; ``--timeline PATH`` writes every job's transitions there when the parent closes
stdin; ``--flip`` makes every answer of ``get_job_instance_status`` a changed one: the first
host row's status alternates, answer after answer of each job, between its true status and
success (9; or waiting, 5, if it is 9), so each poll sees one host move, as a real change does
(on every flavor: the gateway's v4 flips its first execute object). The first line also carries ``epoch_ms``, ``origin`` (``time.monotonic()`` at clock
start) and ``speed``, so a client in another process can read the simulator's clock as
``epoch_ms + (time.monotonic() - origin) * 1000 * speed``.

``--deploys N --others K`` (the census benchmark) serves N + K long deploys of one scope
(``_peers_mix.deploy_plan``), the K others created between the N (each watched one followed by
K/N others); the first line lists only the N as ``job_ids``, and the timeline holds only them.
``--callback-url URL`` gives those N that ``callback_url``: the simulator posts to it when each
ends. On a scaled clock the simulator's callback sender would sleep ``speed`` times too long
(it waits simulator seconds as real ones), so a ticker wakes it every 0.1 s of simulator time.

``--status-only`` serves the status read (``get_job_instance_status``) alone: every other
API, the job list included, answers its flavor's 404 (the gateway's ``API_NOT_FOUND``, the
ESB's page), as a gateway that publishes one resource does. The poller has no census there.

``--counts PATH`` writes the requests served, by API, there when the parent closes stdin.

``--stepped`` (with ``--duration``) keeps the virtual clock: it moves only when the parent
writes ``advance S`` on stdin, so jobs progress with the parent's steps, never with how fast
the machine is (the crash tests use it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import anyio

from bkjob_async import Scope, StepType
from bkjob_async.testing import BkJobSimulator, StepPlan
from bkjob_async.tuning import keep_receive_buffers_on_heap

sys.path.insert(0, str(Path(__file__).parent))

from _peers_family import mix_jobs
from _peers_mix import (
    PersonWait,
    burst_plan,
    confirm_due,
    deploy_plan,
    job_plan,
    people,
    person_wait,
    timeline,
)

#: Simulator seconds between two wake-ups of the callback sender on a scaled clock.
CALLBACK_TICK = 0.1


class ScaledClock:
    """The simulator's real clock, ``speed`` times faster, standing still until ``origin``.

    It has the interface of the simulator's ``Clock``.
    """

    virtual = False

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.epoch_ms = int(time.time() * 1000)
        self.origin = float("inf")

    def start(self, seconds_from_now: float) -> None:
        self.origin = time.monotonic() + seconds_from_now

    def now_ms(self) -> int:
        elapsed = max(0.0, time.monotonic() - self.origin)
        return self.epoch_ms + int(elapsed * 1000 * self.speed)

    def advance(self, seconds: float) -> None:
        raise RuntimeError("a scaled clock cannot be advanced")


def _install_clock(sim: BkJobSimulator, speed: float) -> ScaledClock:
    """Replace the simulator's clock (a private attribute: fail loudly if it moves)."""
    world = getattr(sim, "_world", None)
    if world is None or not hasattr(world, "clock"):
        raise RuntimeError("BkJobSimulator internals changed: update _simserver.ScaledClock")
    clock = ScaledClock(speed)
    world.clock = clock
    return clock


async def _create_deploys(sim: BkJobSimulator, args: argparse.Namespace) -> list[int]:
    """Create the watched deploys and the others between them; return the watched ones' ids."""
    watched, total = args.deploys, args.deploys + args.others
    marks = {index * total // watched for index in range(watched)}
    ids: list[int] = []
    for index in range(total):
        url = args.callback_url if index in marks else None
        job_id = sim.create_job(Scope.biz(2), deploy_plan(1, index), callback_url=url)
        if index in marks:
            ids.append(job_id)
        if index % 1000 == 999:
            await anyio.sleep(0)
    return ids


async def _tick_callbacks(sim: BkJobSimulator, speed: float) -> None:
    """Wake the callback sender often enough for a clock ``speed`` times faster (internals)."""
    sender = getattr(sim, "_callbacks", None)
    if sender is None or not hasattr(sender, "wake"):
        raise RuntimeError("BkJobSimulator internals changed: update _simserver._tick_callbacks")
    while True:
        await anyio.sleep(CALLBACK_TICK / speed)
        sender.wake()


async def _create(
    sim: BkJobSimulator, args: argparse.Namespace, waits: dict[int, PersonWait]
) -> list[int]:
    """Create the jobs; put the mix's person-waits in ``waits`` (by job id)."""
    if args.deploys is not None:
        return await _create_deploys(sim, args)
    if args.family is not None:
        return await _create_family(sim, args, waits)
    ids: list[int] = []
    count = args.mix if args.mix is not None else args.jobs
    plan = [StepPlan(StepType.SCRIPT, hosts=args.hosts) for _ in range(args.steps)]
    mix, mixed = ("bursts", burst_plan) if args.bursts else ("peers", job_plan)
    for start in range(0, count, 1000):
        for index in range(start, min(count, start + 1000)):
            steps = mixed(1, index, args.persons, count) if args.mix is not None else plan
            ids.append(sim.create_job(Scope.biz(2), steps))
            scripts = sum(1 for step in steps if step.type is not StepType.MANUAL_CONFIRM)
            if args.mix is not None and args.persons:
                wait = person_wait(mix, 1, index, args.persons, scripts, count)
                if wait is not None:
                    waits[ids[-1]] = wait
        await anyio.sleep(0)
    return ids


async def _create_family(
    sim: BkJobSimulator, args: argparse.Namespace, waits: dict[int, PersonWait]
) -> list[int]:
    """Create the ``--mix`` jobs of the family's seed ``--family`` (``_peers_family``)."""
    ids: list[int] = []
    for job in mix_jobs(args.family, args.mix):
        ids.append(sim.create_job(Scope.biz(2), job.plan))
        if job.person is not None:
            waits[ids[-1]] = job.person
        await anyio.sleep(0)
    return ids


async def _confirm(sim: BkJobSimulator, clock: ScaledClock, waits: dict[int, PersonWait]) -> None:
    """Be the people: confirm each waiting job's step its wait's seconds after it began,
    looking every ``CALLBACK_TICK`` of the clock (the operation goes through the simulator's
    API in memory, so it is no request the contenders' server counts)."""
    async with people(sim) as client:
        while waits:
            await anyio.sleep(CALLBACK_TICK / clock.speed)
            await confirm_due(sim, client, waits, clock.now_ms())


#: The status the first host of a job reports on every other answer with ``--flip``.
_FLIPPED = b"9"


def _install_flip() -> None:
    """Wrap ``get_job_instance_status`` (internals: fail loudly if they move) to flip a host.

    The wrapper goes into the tables the server routes by (``_api_catalog``'s, merged from
    ``_api``'s at import): one put into ``_api``'s own tables would never be called.
    """
    from bkjob_async.testing import _api, _api_catalog, _server

    tables = (_api_catalog.V3_ENDPOINTS, _api_catalog.V2_ENDPOINTS)
    if _server.V3_ENDPOINTS is not tables[0] or _server.V2_ENDPOINTS is not tables[1]:
        raise RuntimeError("the simulator routes by other tables: update _install_flip")
    original = tables[0]["get_job_instance_status"].handler
    answers: dict[object, int] = {}

    def flipped(world: object, call: _api.Call) -> object:
        encoded = original(world, call)  # type: ignore[arg-type]
        if not isinstance(encoded, _api.Encoded):
            raise RuntimeError("the simulator's job status changed shape: update _install_flip")
        job = call.params.long("job_instance_id")  # (the handler checked it)
        answers[job] = count = answers.get(job, 0) + 1
        body = encoded.data
        row = body.find(b'"bk_host_id"')
        if row < 0:  # (the ESB's v2 rows: ``ip`` and ``bk_cloud_id``, no host id)
            row = body.find(b'"step_ip_status": [{')
        if row < 0 or count % 2 == 0:
            return encoded
        start = body.index(b'"status":', row) + len(b'"status":')
        while body[start : start + 1] == b" ":  # the ESB's encoder spells ": "
            start += 1
        end = start
        while body[end : end + 1].isdigit():
            end += 1
        if end == start:
            raise RuntimeError("the simulator's host rows changed shape: update _install_flip")
        flipped = _FLIPPED if body[start:end] != _FLIPPED else b"5"
        return _api.Encoded(body[:start] + flipped + body[end:])

    for table in tables:
        table["get_job_instance_status"] = _api.Endpoint(
            flipped, table["get_job_instance_status"].gateway_method
        )
    _install_flip_v4()


def _install_flip_v4() -> None:
    """The same flip on the gateway's v4 status, whose answer is a mapping, not encoded bytes."""
    from bkjob_async.testing import _api, _api_catalog, _server

    table = _api_catalog.V4_ENDPOINTS
    if _server.V4_ENDPOINTS is not table:
        raise RuntimeError("the simulator routes v4 by another table: update _install_flip_v4")
    original = table["get_job_instance_status"].handler
    answers: dict[object, int] = {}

    def flipped(world: object, call: _api.Call) -> object:
        data = original(world, call)  # type: ignore[arg-type]
        job = call.params.long("job_instance_id")  # (the handler checked it)
        answers[job] = count = answers.get(job, 0) + 1
        rows = [
            row
            for step in data.get("step_instance_list") or ()  # type: ignore[attr-defined]
            for row in step.get("step_execute_object_result_list") or ()
        ]
        if not rows or count % 2 == 0:
            return data
        first = rows[0]
        first["status"] = 5 if first["status"] == int(_FLIPPED) else int(_FLIPPED)
        return data

    table["get_job_instance_status"] = _api.Endpoint(
        flipped, table["get_job_instance_status"].gateway_method
    )


#: The one API ``--status-only`` serves.
STATUS_API = "get_job_instance_status"


def _install_status_only() -> None:
    """Take every API but ``STATUS_API`` out of the routing tables (internals: fail loudly
    if they move), so the server answers each the 404 it gives an API it does not know."""
    from bkjob_async.testing import _api_catalog, _server

    tables = (_api_catalog.V3_ENDPOINTS, _api_catalog.V2_ENDPOINTS, _api_catalog.V4_ENDPOINTS)
    routed = (_server.V3_ENDPOINTS, _server.V2_ENDPOINTS, _server.V4_ENDPOINTS)
    if any(a is not b for a, b in zip(tables, routed, strict=True)):
        raise RuntimeError("the simulator routes by other tables: update _install_status_only")
    for table in tables:
        if STATUS_API not in table:
            raise RuntimeError(f"no {STATUS_API} route: update _install_status_only")
        for api in [name for name in table if name != STATUS_API]:
            del table[api]


async def main(args: argparse.Namespace) -> None:
    real = (args.duration is not None and not args.stepped) or args.speed is not None
    timing = {}
    if args.duration is not None:
        timing = {"host_duration": tuple(args.duration), "host_start_delay": (0.0, 1.0)}
    if args.flip:
        _install_flip()
    if args.status_only:
        _install_status_only()
    async with BkJobSimulator(virtual_clock=not real, seed=1, **timing) as sim:
        clock = _install_clock(sim, args.speed) if args.speed is not None else None
        if args.rate_limit is not None:
            sim.set_rate_limit(args.rate_limit)
        waits: dict[int, PersonWait] = {}
        ids = await _create(sim, args, waits)
        info = {"url": sim.url, "job_ids": ids}
        if clock is not None:
            info |= {"epoch_ms": clock.epoch_ms, "speed": clock.speed}
        print(json.dumps(info), flush=True)
        async with anyio.create_task_group() as tasks:
            if clock is not None and args.callback_url is not None:
                tasks.start_soon(_tick_callbacks, sim, clock.speed)
            if waits:
                if clock is None:
                    raise SystemExit("--persons needs --speed (a clock that runs)")
                tasks.start_soon(_confirm, sim, clock, waits)
            while line := await anyio.to_thread.run_sync(sys.stdin.readline):  # until EOF
                if clock is not None and line.startswith("start "):
                    clock.start(float(line.split()[1]))
                    print(json.dumps({"origin": clock.origin}), flush=True)
                elif args.stepped and line.startswith("advance "):
                    sim.advance(float(line.split()[1]))
            tasks.cancel_scope.cancel()
        if args.timeline is not None:
            watched = ids if args.deploys is not None else None
            Path(args.timeline).write_text(json.dumps(timeline(sim, watched)))
        if args.counts is not None:  # requests served, by API (every flavor together)
            counts: dict[str, int] = {}
            for (api, _), n in sim.statistics().requests_by_api.items():
                counts[api] = counts.get(api, 0) + n
            Path(args.counts).write_text(json.dumps(counts))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--core", type=int, default=None)
    parser.add_argument("--duration", type=float, nargs=2, default=None)
    parser.add_argument("--mix", type=int, default=None)
    parser.add_argument("--bursts", action="store_true")
    parser.add_argument("--family", type=int, default=None)
    parser.add_argument("--persons", type=float, default=0.0)
    parser.add_argument("--speed", type=float, default=None)
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--timeline", default=None)
    parser.add_argument("--flip", action="store_true")
    parser.add_argument("--stepped", action="store_true")
    parser.add_argument("--deploys", type=int, default=None)
    parser.add_argument("--others", type=int, default=0)
    parser.add_argument("--callback-url", default=None)
    parser.add_argument("--counts", default=None)
    parser.add_argument("--status-only", action="store_true")
    arguments = parser.parse_args()
    if arguments.core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {arguments.core})
    keep_receive_buffers_on_heap()  # (the server receives every request as a client does)
    anyio.run(main, arguments)
