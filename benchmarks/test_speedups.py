"""The ``speedups`` extra (issue 40, point 3): orjson against the standard library, beside the
naive loop, in one run.

Three contenders run side by side on the client core, each in its own process, each counting its
own CPU (``_peers.py``): the engine with orjson, the same engine with
``BKJOB_ASYNC_NO_SPEEDUPS=1`` (the standard library's ``json``), and the naive asyncio loop
(one task per job, ``aiohttp``, ``json.loads``, 5 s fixed interval).

- CPU per changed poll (a flipping simulator: every answer differs from the one before), the
  three polling back to back, in rounds whose order turns;
- CPU per job-hour on the realistic mix (``_peers_mix``), the engine at its defaults.

The goal (CPU per job-hour <= 0.8x the naive loop's with speedups) is printed as met or not,
not asserted: it moves with the machine's load. Asserted: orjson is in use in one engine and not
in the other, and every contender saw every job end.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from ._harness import median, report, simulator
from ._peers_bench import load, mix_server, run_contenders, scratch
from .test_peers import DEFAULTS, MIX_SECONDS, SCALE, _contender, _engine_policy, _mix_figures

STDLIB = {"BKJOB_ASYNC_NO_SPEEDUPS": "1"}
CONTENDERS = [
    ("engine-orjson", "engine", {}),
    ("engine-stdlib", "engine", STDLIB),
    ("naive", "naive", {}),
]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("orjson") is None, reason="the speedups extra is not installed"
)


def _line(name: str, value: float, unit: str, naive: float, stdlib: float) -> str:
    return (
        f"{name:14} {value:9.1f} {unit}  {value / naive:5.2f}x the naive loop's,"
        f" {value / stdlib:5.2f}x the stdlib engine's"
    )


@pytest.mark.timeout(900)
def test_cpu_per_changed_poll_with_and_without_speedups() -> None:
    fast = {"interval": 0.001, "max_interval": 0.002, "jitter": 0.0}
    window = {"warmup": 1.0, "seconds": SCALE.window}
    per_request: dict[str, list[float]] = {name: [] for name, _, _ in CONTENDERS}
    with simulator(1000, steps=3, hosts=10, flip=True) as flipping, scratch() as tmp:
        for n in range(max(3, SCALE.rounds)):
            configs = [
                _contender(
                    name,
                    kind,
                    flipping.url,
                    flipping.job_ids,
                    "poll-changed",
                    env=env,
                    **({"policy": fast} if kind == "engine" else {"interval": 0.0}),
                    **window,
                )
                for name, kind, env in CONTENDERS
            ]
            turn = n % len(configs)
            got = run_contenders(configs[turn:] + configs[:turn], tmp)
            for name, result in got.items():
                if name.startswith("engine"):
                    assert result["speedups"] is (name == "engine-orjson")
                assert result["requests"] > 20, f"{name} made too few requests"
                assert result["errors"] == 0, f"{name} had errors"
                per_request[name].append(result["cpu"] / result["requests"])
    us = {name: median(values) * 1e6 for name, values in per_request.items()}
    report(
        [
            f"== CPU per changed poll, speedups or not, side by side (load {load():.2f})",
            *(
                _line(name, us[name], "us", us["naive"], us["engine-stdlib"])
                + " rounds: "
                + " ".join(f"{v * 1e6:.0f}" for v in per_request[name])
                for name in per_request
            ),
        ]
    )


@pytest.mark.timeout(900)
def test_cpu_per_job_hour_on_the_realistic_mix_with_and_without_speedups() -> None:
    speed = SCALE.speed
    with scratch() as tmp, mix_server(SCALE.mix_jobs, speed=speed, tmp=tmp) as server:
        configs = []
        for name, kind, env in CONTENDERS:
            extra: dict[str, Any] = {"seconds": MIX_SECONDS / speed, "env": env}
            if kind == "engine":
                extra["policy"] = _engine_policy(DEFAULTS.latency, speed)
            else:
                extra["interval"] = 5.0 / speed
            configs.append(_contender(name, kind, server.url, server.job_ids, "watch", **extra))
        results = run_contenders(configs, tmp, start=server.start_clock)
    rows = {}
    for name, _, _ in CONTENDERS:
        if name.startswith("engine"):
            assert results[name]["speedups"] is (name == "engine-orjson")
        rows[name] = figures = _mix_figures(server, results[name])
        assert figures["finished"] == len(server.job_ids), f"{name} missed job ends"
        assert figures["missed"] == 0, f"{name} never saw some transitions"
    cpu = {name: row["cpu_ms_per_job_hour"] for name, row in rows.items()}
    goal = cpu["engine-orjson"] / cpu["naive"]
    report(
        [
            f"== realistic mix, {SCALE.mix_jobs} jobs, clock x{speed:g}: CPU per job-hour,"
            f" speedups or not (load {load():.2f})",
            *(
                _line(name, cpu[name], "ms/job-h", cpu["naive"], cpu["engine-stdlib"])
                + f"  ({rows[name]['cpu_us_per_request']:.0f} us/request,"
                f" {rows[name]['requests_per_job']:.1f} requests/job)"
                for name in cpu
            ),
            f"goal: with speedups <= 0.8x the naive loop's CPU per job-hour: {goal:.2f}x,"
            f" {'met' if goal <= 0.8 else 'NOT MET'}",
        ]
    )
