"""Waiting for many long jobs to end: the census and callbacks against polling each job (issue 27).

The workload (``_peers_mix.deploy_plan``): ``WATCHED`` deploys launched within a minute that run
10 to 20 minutes (one script step, 10 hosts, each 600-1200 s), waited for with ``as_completed``,
among twice as many deploys of the same scope that nobody watches, so the census's window holds
three times the watched jobs. The simulator runs in another process on a clock ``SPEED`` times
faster than real time (``_simserver.py --speed``), every contender's times divided by the same
factor; all contenders run side by side against it, each its own process on the client core:

- ``sdk-kept``: the official SDK's fixed 5 s loop (a kept session, 16 threads), asking for
  the job's status only;
- ``engine-per-job``: ``as_completed`` with ``PollPolicy(census=False)``, every job polled
  every round (5 s), as before the census;
- ``census``: ``as_completed`` with the defaults: one read of the job list a round (5 s),
  one poll per job when its row says it ended;
- ``census+callbacks``: the same, plus a ``CallbackReceiver`` feeding ``Poller.hint``; the
  watched jobs are created with its ``callback_url`` (a port picked before the simulator
  starts), so the simulator posts to it when each ends.

Load: each per-job contender sends ``WATCHED / 5`` requests per simulator second, ``x SPEED``
per real second (300 jobs at x5: 300 req/s each, 600 on the simulator's core), and the SDK
loop must keep its 5 s rounds under it: that is asserted (its requests per job-hour within 10%
of 720). The run lasts about 21 simulator minutes (the last deploy ends near 1,262 s): about
4.3 minutes of real time at x5, set-up included. x10 halves that and carries the load too, but
every real millisecond of delay (a page read, a poll, a callback's post) counts ``SPEED`` ms of
simulator time, and at x10 the latencies moved with the machine's load past the goals.

Figures per contender: requests per job-hour (the watched jobs' hours, start to end), status
and list requests per job, p50/p99 of the job-end latency (the simulator's clock from a job's
end to its first sighting), job ends never seen, client CPU per job-hour. Goals (issue 27) are
printed as met or NOT MET; the test asserts only what must hold whatever the load: every
watched job seen ended, in its true status, never before it ended, the census on where it
should be, and the SDK loop's rounds at 5 s. ``BENCH_CENSUS_JOBS`` and ``BENCH_CENSUS_SPEED``
change the scale. See the README ("The census").
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest

from bkjob_async import PollPolicy
from bkjob_async.polling._decide import census_round

from ._harness import report
from ._peers_bench import (
    MixServer,
    callback_endpoint,
    deploy_server,
    load,
    run_contenders,
    scratch,
    sightings,
)
from ._peers_mix import DEPLOY_HOST_SECONDS, DEPLOY_LAUNCH, START_DELAY
from .test_peers import _contender, _met

WATCHED = int(os.environ.get("BENCH_CENSUS_JOBS", "300"))
OTHERS = 2 * WATCHED
SPEED = float(os.environ.get("BENCH_CENSUS_SPEED", "5"))
#: Simulator seconds: the SDK loop's interval, the engine's ``latency`` (its census round).
ROUND = 5.0
PAGE = 1000  # jobs per page of the job list
# Simulator seconds a contender may run: the last deploy ends by about 1,262 s.
SECONDS = DEPLOY_LAUNCH[1] + START_DELAY[1] + DEPLOY_HOST_SECONDS[1] + 240.0


def _policy(**extra: Any) -> dict[str, Any]:
    """The default policy with every time divided by ``SPEED``."""
    defaults = PollPolicy()
    assert defaults.latency is not None
    times = ("latency", "interval", "max_interval")
    return {name: getattr(defaults, name) / SPEED for name in times} | extra


def _configs(url: str, ids: list[int], callback: dict[str, Any]) -> list[dict[str, Any]]:
    window = {"seconds": SECONDS / SPEED}
    waits = {"wait": "completed", **window}
    return [
        _contender("sdk-kept", "sdk-kept", url, ids, "watch", interval=ROUND / SPEED, hosts=False, **window),
        _contender("engine-per-job", "engine", url, ids, "watch", policy=_policy(census=False), **waits),
        _contender("census", "engine", url, ids, "watch", policy=_policy(), **waits),
        _contender("census+callbacks", "engine", url, ids, "watch", policy=_policy(), callback=callback, **waits),
    ]  # fmt: skip


def _figures(server: MixServer, result: dict[str, Any]) -> dict[str, Any]:
    seen = sightings(server, result["seen"])
    hours, jobs = seen.job_hours, len(server.job_ids)
    lists = result.get("census_requests", 0)
    status = result["requests"] - lists
    # The census reads the list once a round (``census_round``: the latency less the jitter's
    # share), from the start until the last job is seen.
    last = max((at for *_, at in result["seen"]), default=server.origin)
    span = (server.sim_ms(last) - server.epoch_ms) / 1000.0
    rounds = math.floor(span / census_round(PollPolicy())) + 1
    return {
        "requests_per_job_hour": result["requests"] / hours,
        "status_per_job": status / jobs,
        "list_per_job": lists / jobs,
        "lists_per_round": lists / rounds,
        "p50": seen.p(0.5, seen.job_latencies),
        "p99": seen.p(0.99, seen.job_latencies),
        "max": max(seen.job_latencies, default=math.nan),
        "earliest": min(seen.job_latencies, default=0.0),
        "missed": seen.jobs_missed,
        "wrong": seen.jobs_wrong,
        "cpu_ms_per_job_hour": result["cpu"] * 1000 / hours,
        "finished": result["finished"],
        "errors": result["errors"] + result["refused"],
        "census": result.get("census"),
        "hinted": result.get("hinted_polls", 0),
        "callbacks": result.get("callbacks_accepted", 0),
        "job_hours": hours,
        "span": span,
    }


@pytest.mark.timeout(900)
def test_census_against_polling_each_job() -> None:
    callback, callback_url = callback_endpoint()
    with scratch() as tmp:
        with deploy_server(
            WATCHED, OTHERS, speed=SPEED, tmp=tmp, callback_url=callback_url
        ) as server:
            configs = _configs(server.url, server.job_ids, callback)
            results = run_contenders(configs, tmp, start=server.start_clock)
        rows = {name: _figures(server, result) for name, result in results.items()}
    pages = math.ceil((WATCHED + OTHERS) / PAGE)
    report(_report(rows, pages))
    for name, r in rows.items():
        assert r["finished"] == WATCHED, f"{name} did not see every job end"
        assert r["missed"] == 0, f"{name} never saw some job ends"
        assert r["wrong"] == 0, f"{name} saw a job end in a status not its own"
        assert r["earliest"] > -0.05, f"{name} saw a job end before it happened"
    assert rows["engine-per-job"]["census"] is False
    assert rows["census"]["census"]
    assert rows["census+callbacks"]["census"]
    sdk = rows["sdk-kept"]["requests_per_job_hour"]
    assert abs(sdk / (3600 / ROUND) - 1) <= 0.1, f"the SDK loop's rounds were not 5 s ({sdk:.0f})"


def _report(rows: dict[str, dict[str, Any]], pages: int) -> list[str]:
    hours = rows["census"]["job_hours"]
    lines = [
        f"== waiting for {WATCHED} long deploys (10-20 min) among {OTHERS} others of the scope:"
        f" clock x{SPEED:g}, {hours:.1f} job-hours; latencies in simulator seconds (a real ms"
        f" of delay counts {SPEED:g} ms; load {load():.2f})",
        f"{'contender':17} {'req/job-h':>9} {'status/job':>10} {'list/job':>8} {'lists/round':>11}"
        f" {'p50 s':>6} {'p99 s':>6} {'max s':>6} {'missed':>6} {'CPU ms/job-h':>12} {'hinted':>6}",
    ]
    for name, r in rows.items():
        per_round = f"{r['lists_per_round']:11.2f}" if r["census"] else f"{'-':>11}"
        lines.append(
            f"{name:17} {r['requests_per_job_hour']:9.1f} {r['status_per_job']:10.2f}"
            f" {r['list_per_job']:8.2f} {per_round} {r['p50']:6.2f} {r['p99']:6.2f}"
            f" {r['max']:6.2f} {r['missed']:6d} {r['cpu_ms_per_job_hour']:12.0f} {r['hinted']:6d}"
        )
    sdk, census, both = rows["sdk-kept"], rows["census"], rows["census+callbacks"]
    fewer = sdk["requests_per_job_hour"] / census["requests_per_job_hour"]
    lines += [
        f"SDK loop: {sdk['requests_per_job_hour']:.0f} requests per job-hour (720 at 5 s rounds)",
        f"callbacks accepted by the receiver: {both['callbacks']} of {WATCHED} jobs",
        f"goal, census: status requests per job {census['status_per_job']:.2f} (<= 1.1:"
        f" {_met(census['status_per_job'] <= 1.1)}); list requests per round"
        f" {census['lists_per_round']:.2f} (<= the {pages} page(s) the window of"
        f" {WATCHED + OTHERS} jobs needs: {_met(census['lists_per_round'] <= pages)});"
        f" {fewer:.0f}x fewer requests per job-hour than the SDK loop (>= 100: {_met(fewer >= 100)});"
        f" p99 {census['p99']:.2f} s (<= 5 s: {_met(census['p99'] <= 5.0)});"
        f" misses {census['missed']} (none: {_met(census['missed'] == 0)})",
        f"goal, census + callbacks: p99 {both['p99']:.2f} s (<= 1 s: {_met(both['p99'] <= 1.0)});"
        f" requests per job-hour {both['requests_per_job_hour']:.1f} vs the census's"
        f" {census['requests_per_job_hour']:.1f} (no more:"
        f" {_met(both['requests_per_job_hour'] <= census['requests_per_job_hour'])})",
    ]
    return lines
