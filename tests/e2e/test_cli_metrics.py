"""Issue 12, point 6: ``bkjob_async.metrics`` for Prometheus, and ``watch --metrics-port``."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import aiohttp
import anyio
import pytest

prometheus_client = pytest.importorskip("prometheus_client")

from bkjob_async import BkJobClient, Poller, PollPolicy, StepType  # noqa: E402
from bkjob_async.cli import amain  # noqa: E402
from bkjob_async.metrics import PollerMetrics  # noqa: E402
from bkjob_async.testing import BkJobSimulator, Fault, StepPlan  # noqa: E402

from ..cli_run import FAST, SCOPE, SIM  # noqa: E402

pytestmark = pytest.mark.sim(**SIM)


def test_the_core_package_never_imports_prometheus() -> None:
    code = (
        "import sys, bkjob_async, bkjob_async.polling, bkjob_async.testing\n"
        "print('prometheus_client' in sys.modules, 'bkjob_async.metrics' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


async def test_poller_figures_reach_prometheus(sim: BkJobSimulator) -> None:
    registry = prometheus_client.CollectorRegistry()
    metrics = PollerMetrics(registry=registry)
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=3)]) for _ in range(2)]
    sim.inject(Fault.http_status(502), api="get_job_instance_status", skip=2, times=1)
    credentials = {"app_code": "a", "app_secret": "s", "username": "admin"}
    policy = PollPolicy(interval=0.02, max_interval=0.1)
    async with (
        BkJobClient(sim.url, instruments=[metrics], **credentials) as client,
        Poller(client, policy=policy) as poller,
    ):
        metrics.track(poller)
        watched: list[float | None] = []

        async def sample() -> None:  # (beside the watch: on a loaded machine one job may end
            while True:  # before its first event reaches the loop below)
                watched.append(registry.get_sample_value("bkjob_poller_jobs_watched"))
                await anyio.sleep(0.002)

        async with poller.watch_jobs(SCOPE, ids) as watch, anyio.create_task_group() as tg:
            tg.start_soon(sample)
            async for event in watch:
                metrics.observe(event)
            tg.cancel_scope.cancel()
        assert max(w or 0 for w in watched) == 2  # while watching
        stats = poller.statistics()
    sample = registry.get_sample_value
    api = {"api": "get_job_instance_status"}
    ok = sample("bkjob_requests_total", {**api, "outcome": "2xx"})
    bad = sample("bkjob_requests_total", {**api, "outcome": "5xx"})
    assert bad == 1
    assert ok + bad == stats.requests
    assert sample("bkjob_request_duration_seconds_count", api) == stats.requests
    assert sample("bkjob_poller_polls_total") == stats.requests
    assert sample("bkjob_poller_errors_total", {"type": "ServerError"}) == 1
    assert sample("bkjob_poller_retries_total") == stats.retries
    assert sample("bkjob_events_total", {"type": "job_finished"}) == 2
    assert sample("bkjob_events_total", {"type": "host_transition"}) >= 6
    assert sample("bkjob_poller_stalled") == 0
    assert sample("bkjob_poller_request_rate") is not None
    text = prometheus_client.generate_latest(registry).decode()
    assert "# HELP bkjob_poller_stalled" in text


async def test_instrument_on_a_live_client_still_counts_and_warns(sim: BkJobSimulator) -> None:
    registry = prometheus_client.CollectorRegistry()
    metrics = PollerMetrics(registry=registry)
    job = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    async with BkJobClient(sim.url, app_code="a", app_secret="s", username="admin") as client:
        with pytest.warns(DeprecationWarning, match=r"instruments=\[metrics\]"):
            metrics.instrument(client)
        await client.get_job_instance_status(SCOPE, job)
    outcome = {"api": "get_job_instance_status", "outcome": "2xx"}
    assert registry.get_sample_value("bkjob_requests_total", outcome) == 1


async def test_watch_serves_metrics_while_it_runs(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=1), StepPlan(StepType.MANUAL_CONFIRM)])
    out, err = io.StringIO(), io.StringIO()
    interrupt = anyio.Event()
    scraped: list[str] = []

    async def scrape() -> None:
        while not (found := re.search(r"metrics at (http://\S+)", err.getvalue())):
            await anyio.sleep(0.02)
        async with aiohttp.ClientSession() as session:
            while True:
                async with session.get(found[1]) as response:
                    body = await response.text()
                if "bkjob_poller_jobs_watched 1.0" in body and 'type="job_transition"' in body:
                    scraped.append(body)
                    break
                await anyio.sleep(0.05)
        interrupt.set()

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(scrape)
            argv = ["watch", str(job), *FAST, "--metrics-port", "0"]
            status = await amain(argv, stdout=out, stderr=err, env=env, interrupt=interrupt)
    assert status == 130
    body = scraped[0]
    assert 'bkjob_requests_total{api="get_job_instance_status",outcome="2xx"}' in body
    assert "bkjob_request_duration_seconds_bucket" in body
    assert 'bkjob_events_total{type="job_transition"}' in body
