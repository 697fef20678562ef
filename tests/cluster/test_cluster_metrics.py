"""Cluster metrics against a real redis-server: ``worker --metrics-port`` scraped before and
after a takeover, ``watch --redis --metrics-port``, and the Prometheus rule file in
``deploy/prometheus`` checked against what they export (and by ``promtool`` when installed)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import anyio
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bkjob_async import Scope
from bkjob_async.cli import amain
from bkjob_async.testing import BkJobSimulator, StepPlan

from .test_cluster_events import a_lease, publish, take

SCOPE = Scope.biz(2)
ENV = {"BKJOB_APP_CODE": "app", "BKJOB_APP_SECRET": "s", "BKJOB_USERNAME": "admin"}
RULES = Path(__file__).parents[2] / "deploy" / "prometheus"


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of ``url``: (name, labels) -> value."""

    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as answer:  # 127.0.0.1 only
            return str(answer.read().decode())

    text = await anyio.to_thread.run_sync(get)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def metrics_url(err: io.StringIO) -> str:
    with anyio.fail_after(20):
        while not (found := re.search(r"metrics at (http://\S+)", err.getvalue())):
            await anyio.sleep(0.05)
    return found.group(1)


class Running:
    """``bkjob-async ARGV`` run in this process until ``stop``."""

    def __init__(self, tg, argv, env=None) -> None:
        self.err, self.out, self.interrupt = io.StringIO(), io.StringIO(), anyio.Event()
        self.status: int | None = None
        self.done = anyio.Event()

        async def run() -> None:
            self.status = await amain(
                argv, stdout=self.out, stderr=self.err, interrupt=self.interrupt, env=env or {}
            )
            self.done.set()

        tg.start_soon(run)

    async def stop(self) -> int | None:
        self.interrupt.set()
        with anyio.fail_after(20):
            await self.done.wait()
        return self.status


def worker_argv(redis_server, sim, worker_id: str) -> list[str]:
    argv = ["worker", "--redis", redis_server.url, "--cluster", "test", "--url", sim.url]
    argv += ["--worker-id", worker_id, "--interval", "1.0", "--report-every", "0.5"]
    # (leases of 3 s, renewed every second: the default at this interval, 0.6 s, lapses on a
    # loaded machine and moves partitions between the workers before the test moves them)
    argv += ["--lease-ttl", "3"]
    return [*argv, "--metrics-port", "0"]


async def test_a_workers_metrics_show_partitions_moving_and_the_takeover_counted(
    make_cluster, redis_server
):
    cluster = make_cluster(partitions=128)  # the CLI's default partition count
    async with (
        BkJobSimulator(seed=3, host_duration=(30, 60)) as sim,
        anyio.create_task_group() as tg,
    ):
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=2)]) for _ in range(20)]
        await cluster.submit(SCOPE, ids, watch="deploys")
        w1 = Running(tg, worker_argv(redis_server, sim, "w1"), ENV)
        w2 = Running(tg, worker_argv(redis_server, sim, "w2"), ENV)
        url1, url2 = await metrics_url(w1.err), await metrics_url(w2.err)

        async def held(url) -> float | None:  # (None: the worker is not tracked yet)
            return (await scrape(url)).get(("bkjob_cluster_partitions_held", ()))

        with anyio.fail_after(20):
            while (await held(url1), await held(url2)) != (64.0, 64.0):
                await anyio.sleep(0.1)
        before = await scrape(url2)
        assert value(before, "bkjob_cluster_takeovers_total") == 0
        assert value(before, "bkjob_cluster_redis_up") == 1
        assert value(before, "bkjob_cluster_jobs_polled") > 0
        assert await w1.stop() == 0  # leaves, giving its leases up
        with anyio.fail_after(20):
            while await held(url2) != 128.0:
                await anyio.sleep(0.1)
        after = await scrape(url2)
        # 64 on a machine with a core to spare; on a very loaded one the leases (3 s here) can
        # lapse and move between the two before w1 leaves, and the count with them.
        assert 0 < value(after, "bkjob_cluster_takeovers_total") <= 128
        assert value(after, "bkjob_cluster_jobs_polled") == len(ids)
        # The cluster's status, read by the worker too: every partition held, no job unpolled
        # (once the status read comes after w2's lease round: one read may fall between w1's
        # release and w2's take, and show w1's partitions unheld).
        settled = ("bkjob_cluster_workers_live", "bkjob_cluster_partitions_unheld")
        with anyio.fail_after(20):
            while tuple(value(after, name) for name in settled) != (1, 0):
                await anyio.sleep(0.2)
                after = await scrape(url2)
        assert value(after, "bkjob_cluster_jobs_unheld") == 0
        assert value(after, "bkjob_poller_jobs_watched") == len(ids)
        await w2.stop()


async def test_watch_redis_serves_the_clusters_metrics_and_its_consumers(
    make_cluster, redis_server
):
    cluster = make_cluster(name="cli", partitions=128)
    lease = await a_lease(cluster)
    await publish(cluster, lease, 10)
    slow = cluster.events("deploys", consumer="s", group="slow", count=4, block=0.1)
    await take(slow, 4)
    argv = ["watch", "--redis", redis_server.url, "--cluster", "cli", "--watch", "deploys"]
    async with anyio.create_task_group() as tg:
        watch = Running(tg, [*argv, "--json", "--metrics-port", "0"])
        url = await metrics_url(watch.err)
        with anyio.fail_after(20):
            while ("bkjob_cluster_group_lag", (("group", "cli"), ("watch", "deploys"))) not in (
                samples := await scrape(url)
            ) or value(samples, "bkjob_cluster_group_lag", watch="deploys", group="cli"):
                await anyio.sleep(0.2)
        with anyio.fail_after(20):
            while watch.out.getvalue().count("\n") < 10:  # each shown once
                await anyio.sleep(0.05)
        assert value(samples, "bkjob_cluster_group_lag", watch="deploys", group="slow") == 6
        assert value(samples, "bkjob_cluster_group_pending", watch="deploys", group="slow") == 4
        assert value(samples, "bkjob_cluster_stream_length", watch="deploys") == 10
        assert value(samples, "bkjob_cluster_stream_maxlen", watch="deploys") == 100_000
        assert value(samples, "bkjob_cluster_consumer_outages_total") == 0
        assert value(samples, "bkjob_cluster_redis_up") == 1
        assert await watch.stop() == 130


def rule_metric_names(rules: dict) -> set[str]:
    """Return every metric name the rules' expressions use."""
    words = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            words |= set(re.findall(r"\bbkjob_[a-z_]+\b", rule["expr"]))
    return words


async def test_the_alert_rules_use_only_exported_metrics(make_cluster, redis_server):
    rules = yaml.safe_load((RULES / "bkjob-cluster-rules.yml").read_text())
    names = rule_metric_names(rules)
    assert len(names) >= 9
    cluster = make_cluster(partitions=128)
    lease = await a_lease(cluster)
    await publish(cluster, lease, 3)
    await cluster.redis.xadd(cluster.keys.dead("deploys"), {"id": "x", "group": "g"})
    stream = cluster.events("deploys", consumer="c", group="g", block=0.1)
    await take(stream, 1)
    async with BkJobSimulator(seed=3) as sim, anyio.create_task_group() as tg:
        worker = Running(tg, worker_argv(redis_server, sim, "w1"), ENV)
        url = await metrics_url(worker.err)
        exported: set[str] = set()
        with anyio.fail_after(20):
            while "bkjob_cluster_group_lag" not in exported:
                await anyio.sleep(0.2)
                exported = {name for name, _ in await scrape(url)}
        await worker.stop()
    assert names <= exported, f"rules use metrics nobody exports: {names - exported}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_the_alert_rules_pass_promtool():
    for command in (
        ["promtool", "check", "rules", "bkjob-cluster-rules.yml"],
        ["promtool", "test", "rules", "bkjob-cluster-rules.test.yml"],
    ):
        done = subprocess.run(command, cwd=RULES, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
