"""The engine against what users run today: the official SDK in threads, and a naive asyncio loop.

Issue 13. Every contender (``_peers.py``) is fed the same jobs by a simulator in another process
(on the other core), and all contenders of a comparison run at the same time, each in its own
process on the client core, each counting its own CPU: the VM's +-15% drift hits them alike.

- CPU per poll, unchanged and changed, as ratios to the engine, the engine and one contender
  side by side (goals: the SDK with a kept session costs >= 5.5x the engine unchanged, >= 3x
  changed);
- the realistic mix (``_peers_mix``) on a simulator clock ``speed`` times faster than real
  time, every interval divided by the same factor: requests per job, client CPU per job-hour
  watched, p50/p99 latency from the simulator's clock to the sighting; plus the trade-off curve;
- the bursty mix (``_peers_mix.burst_plan``: a step's hosts end within seconds of each other
  after a quiet stretch, as in rolling deploys), the same figures, the engine's latency bound
  at 2, 5 and 10 s against the fixed loops at 2, 5 and 10 s;
- the same mix under a server limit, in real time, keeping the issue's budget per job (200
  req/s for 2,000 jobs): goodput and missed transitions;
- memory per watched job.

Every goal (those above, and issue 26's on the mix for the engine's defaults: p99 <= the SDK's
5 s loop's, requests per job <= 0.8x the SDK's, p50 <= half the SDK's, CPU per job-hour <= 0.8x
the naive loop's) is printed as met or not, not asserted:
the per-poll ratios move with the machine's load. The tests assert what must hold whatever the
load: every contender saw every change and job end, no change before it happened, the SDK
costs more per poll than the engine, no contender beat the server's limit; and issue 53's goal
on both mixes (a fifth of their jobs waiting for a person, ``PERSON_SHARE``): the defaults make
at most the requests of the hand-written 5 s loop (``naive``) with p50 and p99 no later than its,
the oracle's requests on the run's own jobs printed beside (``_peers_model``). See the README.
``BENCH_PEERS_SMOKE=1`` runs every contender briefly (about a minute and a half) and writes its
plots to a temporary directory (or to ``BENCH_PEERS_OUT``) instead of ``benchmarks/plots``.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bkjob_async import PollPolicy

from ._harness import median, report, simulator
from ._peers_bench import (
    MixServer,
    Sightings,
    load,
    mix_server,
    mix_servers,
    run_contenders,
    scratch,
    sightings,
)
from ._peers_mix import PERSON_SHARE
from ._peers_model import fixed, jobs_of, measure, oracle
from ._peers_plots import PLOTS, draw

SMOKE = os.environ.get("BENCH_PEERS_SMOKE") == "1"


@dataclass(frozen=True)
class Scale:
    rounds: int  # per-poll comparisons
    window: float  # seconds measured per round
    mix_jobs: int
    speed: float  # the mix's clock runs this many times faster than real time
    burst_speed: float  # the bursty mix's (slower: its bursts load the machine at once)
    rate_jobs: int
    rate_limit: float
    rate_window: float  # seconds of real time
    memory_jobs: int


# 18 jobs on a clock 20x faster: 360 jobs' worth of requests per second of real time; the rate
# limit keeps the issue's budget per job (200 req/s for 2,000 jobs: 0.1 req/s per job).
FULL = Scale(3, 2.5, 18, 20.0, 10.0, 600, 60.0, 25.0, 1000)
QUICK = Scale(1, 1.5, 8, 60.0, 60.0, 200, 20.0, 10.0, 200)
SCALE = QUICK if SMOKE else FULL
OUT = Path(os.environ.get("BENCH_PEERS_OUT") or (tempfile.mkdtemp() if SMOKE else PLOTS))
RESULTS = OUT / "peers-results.json"

DEFAULTS = PollPolicy()
TUNED = (1.0, 5.0)  # interval, max_interval of the engine tuned for latency
# Transitions of the first seconds (every contender's first sweep over every job, all starting
# at once on one core) are not counted in latencies; see the README.
SETTLE = 10.0
# The longest job of the mix runs a little over 10 min of simulator time, plus up to 10 min
# waiting for a person; leave room (every contender stops once it saw every job end).
MIX_SECONDS = 1400.0
THREADS = 16


def _save(key: str, value: Any) -> None:
    """Merge one test's figures into the results file and redraw every plot it allows."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[key] = value
    results["machine"] = _machine()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    for path in draw(results, OUT):
        print(f"plot: {path}")


def _machine() -> str:
    import platform

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def _contender(name: str, kind: str, url: str, ids: list[int], mode: str, **extra: Any) -> dict:
    return {
        "name": name,
        "contender": kind,
        "url": url,
        "ids": list(ids),
        "mode": mode,
        "threads": THREADS,
        **extra,
    }


def _engine_policy(setting: tuple[float, ...] | float, speed: float) -> dict[str, Any]:
    """A setting in simulator seconds, as a policy: a number is the latency bound (the
    defaults otherwise, ``latency`` as ``interval`` too); a tuple ``(interval, max_interval[,
    growth[, jitter]])`` is the unbound schedule (``latency=None``) that grows while unchanged."""
    if not isinstance(setting, tuple):
        scale = setting / DEFAULTS.interval  # the defaults' shape, with this latency
        return {
            "latency": setting / speed,
            "interval": DEFAULTS.interval * scale / speed,
            "max_interval": DEFAULTS.max_interval * scale / speed,
        }
    interval, max_interval, *rest = setting
    policy: dict[str, Any] = {
        "latency": None,
        "interval": interval / speed,
        "max_interval": max_interval / speed,
    }
    for name, value in zip(("growth", "jitter"), rest, strict=False):
        policy[name] = value
    return policy


# --- CPU per poll ------------------------------------------------------------------------------

PER_POLL = ("sdk-kept", "sdk-per-call", "naive")


def _per_poll_pair(url: str, ids: list[int], mode: str, name: str, order: int, tmp: Path) -> dict:
    """Run the engine and one contender side by side, back to back against frozen jobs."""
    fast = {"interval": 0.001, "max_interval": 0.002, "jitter": 0.0}
    window = {"warmup": 1.0, "seconds": SCALE.window}
    pair = [
        _contender("engine", "engine", url, ids, mode, policy=fast, **window),
        _contender(name, name, url, ids, mode, interval=0.0, **window),
    ]
    return run_contenders(pair[::-1] if order % 2 else pair, tmp)


@pytest.mark.timeout(900)
def test_cpu_per_poll_against_the_sdk() -> None:
    per_request: dict[str, dict[str, list[tuple[float, float]]]] = {"poll": {}, "poll-changed": {}}
    with (
        simulator(1000, steps=3, hosts=10) as sim,
        simulator(1000, steps=3, hosts=10, flip=True) as flipping,
        scratch() as tmp,
    ):
        urls = {"poll": sim.url, "poll-changed": flipping.url}
        for n in range(SCALE.rounds):
            for mode in per_request:
                for contender in PER_POLL:
                    got = _per_poll_pair(urls[mode], sim.job_ids, mode, contender, n, tmp)
                    for name, result in got.items():
                        assert result["requests"] > 20, f"{name} made too few requests"
                        assert result["errors"] == 0, f"{name} had errors"
                        cost = (result["cpu"], result["cpu_user"])
                        key = f"engine vs {contender}" if name == "engine" else name
                        per_request[mode].setdefault(key, []).append(
                            (cost[0] / result["requests"], cost[1] / result["requests"])
                        )
    figures: dict[str, Any] = {}
    lines = [
        f"== CPU per poll: the engine and each contender side by side ({SCALE.rounds} rounds;"
        f" load {load():.2f})"
    ]
    for mode, label in (("poll", "unchanged"), ("poll-changed", "changed")):
        for name in PER_POLL:
            pairs = list(
                zip(per_request[mode][name], per_request[mode][f"engine vs {name}"], strict=True)
            )
            ratios = [c[0] / e[0] for c, e in pairs]
            user = median([c[1] / e[1] for c, e in pairs])
            theirs, engine = median([c[0] for c, _ in pairs]), median([e[0] for _, e in pairs])
            figures[f"{name} {label}"] = {
                "us": theirs * 1e6,
                "engine_us": engine * 1e6,
                "ratio": median(ratios),
                "rounds": ratios,
                "user_ratio": user,
            }
            lines.append(
                f"{label:9} {name:13} {theirs * 1e6:6.1f} us, engine {engine * 1e6:6.1f} us:"
                f" {median(ratios):.2f}x (user time only {user:.2f}x); rounds: "
                + " ".join(f"{r:.2f}" for r in ratios)
            )
    for label, goal in (("unchanged", 5.5), ("changed", 3.0)):
        ratio = figures[f"sdk-kept {label}"]["ratio"]
        verdict = "met" if ratio >= goal else "NOT MET"
        lines.append(
            f"goal: SDK (kept session) >= {goal}x the engine {label}: {ratio:.2f}x, {verdict}"
        )
    report(lines)
    _save("per_poll", figures)
    # The goals are reported above; the assertion is that the SDK costs more per poll at all.
    assert figures["sdk-kept unchanged"]["ratio"] > 1.0
    assert figures["sdk-kept changed"]["ratio"] > 1.0


# --- the realistic mix ----------------------------------------------------------------------------


def _mix_phase(
    group: list[tuple[str, str, Any]], tmp: Path, *, bursts: bool = False
) -> tuple[MixServer, dict]:
    """Run one group of contenders over the mix (``bursts``: the bursty one); return the
    server (timeline) and results."""
    speed = SCALE.burst_speed if bursts else SCALE.speed
    workload = ["--mix", str(SCALE.mix_jobs), "--persons", str(PERSON_SHARE)]
    if bursts:
        workload.append("--bursts")
    with mix_server(SCALE.mix_jobs, speed=speed, tmp=tmp, workload=workload) as server:
        configs = []
        for name, kind, setting in group:
            extra: dict[str, Any] = {"seconds": MIX_SECONDS / speed}
            if kind == "engine":
                extra["policy"] = _engine_policy(setting, speed)
            else:
                extra["interval"] = setting / speed
            configs.append(_contender(name, kind, server.url, server.job_ids, "watch", **extra))
        results = run_contenders(configs, tmp, start=server.start_clock)
    return server, results


def _mix_figures(server: MixServer, result: dict) -> dict[str, Any]:
    seen: Sightings = sightings(server, result["seen"], since=SETTLE)
    everything = sightings(server, result["seen"])
    return {
        "requests_per_job": result["requests"] / len(server.job_ids),
        "cpu_ms_per_job_hour": result["cpu"] * 1000 / everything.job_hours,
        "cpu_us_per_request": result["cpu"] * 1e6 / result["requests"],
        # (the kernel's share: sockets and wake-ups; 0.04-0.16 on the quick family's seeds)
        "cpu_system_share": result["cpu_system"] / result["cpu"] if result["cpu"] else 0.0,
        "job_hours": everything.job_hours,
        "p50": seen.p(0.5),
        "p99": seen.p(0.99),
        "max": max(seen.latencies, default=float("nan")),
        "job_p99": seen.p(0.99, seen.job_latencies),
        "skipped": seen.skipped,
        "missed": everything.missed,
        "transitions": seen.transitions,
        "finished": result["finished"],
        "earliest": min(everything.latencies, default=0.0),
    }


def _request_floor(server: MixServer, every: float = 5.0) -> dict[str, float]:
    """The fewest requests per job that see every host end within ``every`` s, not knowing when.

    Hosts of a step end at independent random times in ``[T/3, T]``: a poller that does not
    know the draw must poll at least every ``every`` s from the step's first host end to its
    last (here taken from the timeline, which is generous: the real window of uncertainty is
    wider), and may idle elsewhere. One poll per step more for its start. Against it, a fixed
    loop polls every ``every`` s for the job's whole life.
    """
    floor = fixed = windows = lives = 0.0
    for job in server.timeline.values():
        steps: dict[int, list[float]] = {}
        for step, _, _, ended, _ in job["hosts"]:
            if ended is not None:
                steps.setdefault(step, []).append(ended / 1000.0)
        window = sum(max(ends) - min(ends) for ends in steps.values())
        life = (job["end"] - job["start"]) / 1000.0
        floor += window / every + len(steps) + 1
        fixed += life / every + 1
        windows, lives = windows + window, lives + life
    jobs = len(server.timeline)
    return {
        "floor_per_job": floor / jobs,
        "fixed_per_job": fixed / jobs,
        "end_window_share": windows / lives,
    }


MAIN = [
    ("sdk-kept", "sdk-kept", 5.0),
    ("sdk-per-call", "sdk-per-call", 5.0),
    ("naive", "naive", 5.0),
    ("engine", "engine", DEFAULTS.latency),
    ("engine-tuned", "engine", TUNED),
]
CURVE = [
    ("naive-1", "naive", 1.0),
    ("naive-2", "naive", 2.0),
    ("naive-10", "naive", 10.0),
    ("engine-latency-2", "engine", 2.0),
    ("engine-latency-10", "engine", 10.0),
    ("engine-0.5-2.5", "engine", (0.5, 2.5)),
    ("engine-2-60", "engine", (2.0, 60.0)),
]
# Can any policy match the SDK's p99 with fewer requests? The engine near the SDK's 5 s: fixed
# (growth 1, no jitter), or backing off from 2.5 s / 4 s to 5 s / 7.5 s; the SDK and the naive
# loop run beside them again, so their CPU per job-hour is compared in the same phase.
SEARCH = [
    ("sdk-kept-again", "sdk-kept", 5.0),
    ("engine-5-fixed", "engine", (5.0, 5.0, 1.0, 0.0)),
    ("engine-2.5-5", "engine", (2.5, 5.0)),
    ("engine-4-7.5", "engine", (4.0, 7.5)),
    ("engine-4.5-5-slow", "engine", (4.5, 5.0, 1.1, 0.0)),
    # The naive loop, and without ``json.loads`` or comparing: the requests' own cost at 5 s.
    ("naive-again", "naive", 5.0),
    ("aiohttp-alone", "aiohttp-alone", 5.0),
]


def _setting(kind: str, setting: Any) -> tuple[str, str]:
    if kind != "engine":
        return "naive", f"{setting:g} s"
    if not isinstance(setting, tuple):
        return "engine-latency", f"latency {setting:g} s"
    interval, max_interval, *rest = setting
    if rest and rest[0] == 1.0:
        return "engine-fixed", f"{interval:g} s fixed"
    growth = f", x{rest[0]:g}" if rest else ""
    return "engine", f"{interval:g} / {max_interval:g} s{growth}"


def _run_mix(
    groups: tuple[list[tuple[str, str, Any]], ...], *, bursts: bool = False
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], dict[str, float], list[Any]]:
    """Run each group as a phase; return every contender's figures, the curve, the floor,
    and the jobs of the first phase as the model reads them (``_peers_model.jobs_of``)."""
    contenders: dict[str, dict[str, Any]] = {}
    curve = []
    floor: dict[str, float] = {}
    jobs: list[Any] = []
    with scratch() as tmp:
        for group in groups:
            server, results = _mix_phase(group, tmp, bursts=bursts)
            floor = _request_floor(server)
            jobs = jobs or jobs_of(server.timeline)
            for name, kind, setting in group:
                figures = _mix_figures(server, results[name])
                assert figures["finished"] == len(server.job_ids), f"{name} missed job ends"
                if kind != "aiohttp-alone":  # (it reads no host, only each job's end)
                    assert figures["missed"] == 0, f"{name} never saw some transitions"
                    assert figures["earliest"] > -0.05, f"{name} saw a change before it happened"
                if kind in ("naive", "engine") and not name.endswith("-again"):
                    family, label = _setting(kind, setting)
                    curve.append({"family": family, "setting": label, **figures})
                contenders[name] = figures
    return contenders, curve, floor, jobs


def _floor_line(floor: dict[str, float]) -> str:
    return (
        f"floor: a poller that sees every host end within 5 s without knowing when needs"
        f" >= {floor['floor_per_job']:.1f} requests per job (a fixed 5 s loop:"
        f" {floor['fixed_per_job']:.1f}; hosts end during {floor['end_window_share']:.0%}"
        f" of a job's life)"
    )


@pytest.mark.timeout(900)
def test_realistic_mix() -> None:
    contenders, curve, floor, jobs = _run_mix((MAIN, CURVE, SEARCH))
    mix = {
        "jobs": SCALE.mix_jobs,
        "speed": SCALE.speed,
        "settle": SETTLE,
        "contenders": {name: contenders[name] for name, *_ in MAIN},
        "search": {name: contenders[name] for name, *_ in SEARCH},
        "curve": curve,
        "floor": floor,
    }
    _save("mix", mix)
    report(
        [
            *_mix_report("realistic mix", contenders, SCALE.speed),
            *_goals(contenders, "engine", "sdk-kept", "naive"),
            _same_schedule(contenders),
            _floor_line(floor),
            *_loop_goal(contenders, jobs),
        ]
    )
    _assert_loop_goal(contenders)


# The bursty mix: the engine's latency bound at 2, 5 (the defaults) and 10 s against the fixed
# loops at the same intervals, and the SDK's 5 s loop.
BURSTS = [
    ("sdk-kept", "sdk-kept", 5.0),
    ("naive", "naive", 5.0),
    ("engine", "engine", DEFAULTS.latency),
    ("naive-2", "naive", 2.0),
    ("engine-latency-2", "engine", 2.0),
    ("naive-10", "naive", 10.0),
    ("engine-latency-10", "engine", 10.0),
]


@pytest.mark.timeout(900)
def test_bursty_mix() -> None:
    contenders, curve, floor, jobs = _run_mix((BURSTS,), bursts=True)
    mix = {
        "jobs": SCALE.mix_jobs,
        "speed": SCALE.burst_speed,
        "settle": SETTLE,
        "contenders": {name: contenders[name] for name, *_ in BURSTS},
        "curve": curve,
        "floor": floor,
    }
    _save("bursts", mix)
    report(
        [
            *_mix_report("bursty mix (a step's hosts end together)", contenders, SCALE.burst_speed),
            *_goals(contenders, "engine", "sdk-kept", "naive"),
            _floor_line(floor),
            *_loop_goal(contenders, jobs),
        ]
    )
    _assert_loop_goal(contenders)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


#: Issue 53's goal is against the hand-written aiohttp loop polling every 5 s.
LOOP = "naive"


def _loop_goal(rows: dict[str, dict[str, Any]], jobs: list[Any]) -> list[str]:
    """Issue 53's goal for the defaults against the 5 s loops run beside them, and how close
    the defaults come to the oracle (``_peers_model``: the fewest requests a schedule within
    the bound could make, knowing when each change comes) on this run's very jobs."""
    engine = rows["engine"]
    lines = []
    for name in (LOOP, "sdk-kept"):
        loop = rows[name]
        ratios = [engine[k] / loop[k] for k in ("requests_per_job", "p50", "p99")]
        lines.append(
            f"goal (issue 53), engine vs {name}: requests {ratios[0]:.3f}x, p50 {ratios[1]:.2f}x,"
            f" p99 {ratios[2]:.3f}x (all <= 1.0: {_met(max(ratios) <= 1.0)})"
        )
    model = {
        name: measure([jobs], schedule)["requests_per_job"]
        for name, schedule in (("loop", fixed(5.0)), ("oracle", oracle(DEFAULTS)))
    }
    real = engine["requests_per_job"] / rows[LOOP]["requests_per_job"]
    close = model["oracle"] / model["loop"]
    lines.append(
        f"oracle on this run's jobs (virtual time): {close:.2f}x the 5 s loop's requests;"
        f" the engine's {real:.2f}x is {real / close:.2f}x the oracle's"
    )
    return lines


#: Above this load average per core the goal is printed, not asserted: the machine's
#: scheduling then moves latencies by tenths of a simulator second (a 20x clock makes 10 ms of
#: waiting for a core 0.2 s), and a loop that sleeps after each answer stretches its own gaps
#: by as much (fewer requests, later changes), while the engine keeps its gaps from send to send.
LOADED = 2.0


def _assert_loop_goal(rows: dict[str, dict[str, Any]]) -> None:
    """Issue 53's goal for the defaults against the hand-written 5 s loop, on a machine not
    overloaded (``LOADED``)."""
    busy = load() / (os.cpu_count() or 1)
    if busy > LOADED:
        report([f"goal (issue 53) not asserted: load {busy:.1f} a core (> {LOADED:g})"])
        return
    engine, loop = rows["engine"], rows[LOOP]
    assert engine["requests_per_job"] <= loop["requests_per_job"], "more requests than the loop"
    assert engine["p50"] <= loop["p50"], "a later median than the loop's"
    assert engine["p99"] <= loop["p99"], "a later p99 than the loop's"


def _mix_report(title: str, rows: dict[str, dict[str, Any]], speed: float) -> list[str]:
    lines = [
        f"== {title}: {SCALE.mix_jobs} jobs, clock x{speed:g}, latencies in simulator"
        f" seconds after the first {SETTLE:g} s (load {load():.2f})",
        f"{'contender':18} {'req/job':>8} {'CPU ms/job-h':>13} {'us/req':>7} {'p50 s':>6}"
        f" {'p99 s':>6} {'job p99':>8} {'skipped':>8} {'transitions':>12}",
    ]
    for name, r in rows.items():
        lines.append(
            f"{name:18} {r['requests_per_job']:8.1f} {r['cpu_ms_per_job_hour']:13.0f}"
            f" {r['cpu_us_per_request']:7.0f} {r['p50']:6.2f} {r['p99']:6.2f} {r['job_p99']:8.2f}"
            f" {r['skipped']:8d} {r['transitions']:12d}"
        )
    return lines


def _goals(rows: dict[str, dict[str, Any]], name: str, sdk: str, naive: str) -> list[str]:
    """Issue 26's goals for ``name`` against the SDK's and the naive loop's run beside it."""
    r, s, n = rows[name], rows[sdk], rows[naive]
    requests = r["requests_per_job"] / s["requests_per_job"]
    p50 = r["p50"] / s["p50"]
    cpu = r["cpu_ms_per_job_hour"] / n["cpu_ms_per_job_hour"]
    return [
        f"goals, {name}: p99 {r['p99']:.2f} s vs {sdk}'s {s['p99']:.2f} s"
        f" ({_met(r['p99'] <= s['p99'])}); requests {requests:.2f}x the SDK's (<= 0.8:"
        f" {_met(requests <= 0.8)}); p50 {p50:.2f}x the SDK's (<= 0.5: {_met(p50 <= 0.5)});"
        f" CPU per job-hour {cpu:.2f}x the naive loop's (<= 0.8: {_met(cpu <= 0.8)})"
    ]


def _same_schedule(rows: dict[str, dict[str, Any]]) -> str:
    """CPU per request at one schedule (5 s fixed), in one phase: the engine, the naive loop,
    and the requests alone. Where the requests alone cost more than 0.8x the naive loop's CPU, that
    goal asks a client to spend less than aiohttp itself does."""
    engine, naive, alone = (
        rows[n]["cpu_us_per_request"] for n in ("engine-5-fixed", "naive-again", "aiohttp-alone")
    )
    return (
        f"same schedule (5 s fixed), CPU per request: engine {engine:.0f} us"
        f" ({engine / naive:.2f}x the naive loop's {naive:.0f} us); the requests alone (aiohttp,"
        f" no decoding) {alone:.0f} us ({alone / naive:.2f}x)"
    )


# --- under a rate limit -----------------------------------------------------------------------------


def _per_second(
    samples: list[list[Any]], origin: float, seconds: float, *, answered: bool
) -> list[list[float]]:
    """Requests per second in 1 s bins from the clock's start: answered ones, or all sent.

    The counters were sampled every quarter second; values at bin edges are interpolated.
    """
    times = [s[0] - origin for s in samples]
    counts = [s[1] - s[2] if answered else s[1] for s in samples]

    def at(t: float) -> float:
        for k in range(1, len(times)):
            if times[k] >= t:
                span = times[k] - times[k - 1]
                share = (t - times[k - 1]) / span if span > 0 else 1.0
                return counts[k - 1] + share * (counts[k] - counts[k - 1])
        return counts[-1] if counts else 0.0

    return [[second + 0.5, at(second + 1) - at(second)] for second in range(int(seconds))]


def _governor(allowed: list[list[float]], after: float = 5.0) -> str:
    """Say what the governor's rate did once the first sweep was over: range, mean, cuts."""
    rates = [rate for t, rate in allowed if t > after]
    if not rates:
        return "no limit set"
    cuts = sum(1 for a, b in itertools.pairwise(rates) if b < 0.85 * a)
    return (
        f"governor after {after:g} s: {min(rates):.0f}-{max(rates):.0f} req/s,"
        f" mean {statistics.fmean(rates):.1f}, {cuts} cuts"
    )


def _allowed(samples: list[list[Any]], origin: float) -> list[list[float]]:
    """The rate the engine's governor allowed at each sample (none while it set no limit)."""
    return [[s[0] - origin, s[3]] for s in samples if len(s) > 3 and s[3] is not None]


RATE = [
    ("sdk-kept", "sdk-kept", 5.0),
    ("sdk-per-call", "sdk-per-call", 5.0),
    ("naive", "naive", 5.0),
    ("engine", "engine", DEFAULTS.latency),
    ("engine-tuned", "engine", TUNED),
]


@pytest.mark.timeout(900)
def test_under_a_rate_limit() -> None:
    limit, window = SCALE.rate_limit, SCALE.rate_window
    grace = min(10.0, window / 2)
    rows: dict[str, dict[str, Any]] = {}
    with scratch() as tmp:
        with mix_servers(
            len(RATE), SCALE.rate_jobs, speed=1.0, rate_limit=limit, tmp=tmp
        ) as servers:
            configs = []
            for (name, kind, setting), server in zip(RATE, servers, strict=True):
                extra: dict[str, Any] = {"seconds": window}
                if kind == "engine":
                    extra["policy"] = _engine_policy(setting, 1.0)
                else:
                    extra["interval"] = setting
                configs.append(_contender(name, kind, server.url, server.job_ids, "watch", **extra))

            def start() -> dict[str, float]:
                return {
                    name: server.start_clock()
                    for (name, _, _), server in zip(RATE, servers, strict=True)
                }

            results = run_contenders(configs, tmp, start=start)
        for (name, _, _), server in zip(RATE, servers, strict=True):
            result = results[name]
            seen = sightings(server, result["seen"], until=window - grace)
            answered = result["requests"] - result["refused"] - result["errors"]
            rows[name] = {
                "offered_per_s": result["requests"] / result["wall"],
                "goodput_per_s": answered / result["wall"],
                "refused_share": result["refused"] / max(1, result["requests"]),
                "missed": seen.missed,
                "skipped": seen.skipped,
                "transitions": seen.transitions,
                "p50": seen.p(0.5),
                "p99": seen.p(0.99),
                "goodput_series": _per_second(
                    result["samples"], server.origin, window, answered=True
                ),
                "offered_series": _per_second(
                    result["samples"], server.origin, window, answered=False
                ),
                "allowed_series": _allowed(result["samples"], server.origin),
            }
            assert answered / result["wall"] <= limit * 1.1, f"{name} beat the limit?"
    _save(
        "rate_limit",
        {
            "limit": limit,
            "jobs": SCALE.rate_jobs,
            "window": window,
            "grace": grace,
            "contenders": rows,
        },
    )
    lines = [
        f"== under a server limit of {limit:g} req/s: {SCALE.rate_jobs} jobs of the mix, real time,"
        f" {window:g} s; transitions of the first {window - grace:g} s (load {load():.2f})",
        f"{'contender':15} {'offered/s':>10} {'goodput/s':>10} {'refused':>8} {'missed':>7}"
        f" {'skipped':>8} {'of':>7} {'p50 s':>6} {'p99 s':>6}",
    ]
    for name, r in rows.items():
        lines.append(
            f"{name:15} {r['offered_per_s']:10.1f} {r['goodput_per_s']:10.1f}"
            f" {r['refused_share']:8.0%} {r['missed']:7d} {r['skipped']:8d} {r['transitions']:7d}"
            f" {r['p50']:6.2f} {r['p99']:6.2f}"
        )
    lines += [
        f"{name}: {_governor(r['allowed_series'])}" for name, r in rows.items() if "engine" in name
    ]
    report(lines)


# --- memory -----------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_memory_per_watched_job() -> None:
    jobs = SCALE.memory_jobs
    with scratch() as tmp, mix_server(jobs, speed=None, tmp=tmp) as server:
        configs = [
            _contender(name, kind, server.url, server.job_ids, "memory", seconds=120.0, **extra)
            for name, kind, extra in (
                ("sdk-kept", "sdk-kept", {}),
                ("sdk-per-call", "sdk-per-call", {}),
                ("naive", "naive", {"interval": 5.0}),
                ("engine", "engine", {"policy": {}}),
            )
        ]
        results = run_contenders(configs, tmp)
    per_job = {name: (r["rss_watching"] - r["rss0"]) / jobs for name, r in results.items()}
    _save("memory", {"jobs": jobs, "bytes_per_job": per_job})
    report(
        [
            f"== memory per watched job: {jobs} jobs of the mix (10-50 hosts, 1-3 steps), each polled once"
        ]
        + [f"{name:15} {value:8,.0f} bytes" for name, value in per_job.items()]
    )
    assert all(value > 0 for value in per_job.values())
