"""The cluster commands of the CLI against a real redis-server: ``submit``, ``watch --redis``
and ``worker`` (with the simulator)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import anyio
import pytest

from bkjob_async import JobStatus, Scope
from bkjob_async.cli import amain
from bkjob_async.cluster import LeaseKeeper, NewEvent
from bkjob_async.cluster._entries import encode_entry
from bkjob_async.polling.events import JobTransition
from bkjob_async.testing import BkJobSimulator, StepPlan

from .chains import finished_jobs, stream_events

SCOPE = Scope.biz(2)
ENV = {"BKJOB_APP_CODE": "app", "BKJOB_APP_SECRET": "s", "BKJOB_USERNAME": "admin"}


def cli_cluster(make_cluster):
    return make_cluster(name="cli", partitions=128)


async def test_submit_and_cancel_change_the_watch(make_cluster, redis_server):
    base = ["--redis", redis_server.url, "--cluster", "cli", "--watch", "deploys"]
    err = io.StringIO()
    status = await amain(
        ["submit", "11", "12", "11", *base, "--scope", "biz:2"], stderr=err, env={}
    )
    assert status == 0
    assert "2 of 2 jobs added to watch 'deploys'" in err.getvalue()
    status = await amain(["submit", "12", "--cancel", *base, "--scope", "biz:2"], env={})
    assert status == 0
    assert await cli_cluster(make_cluster).jobs("deploys") == {(SCOPE, 11)}


async def test_submit_without_redis_or_scope_says_what_to_pass(redis_server):
    err = io.StringIO()
    status = await amain(["submit", "1", "--watch", "w", "--scope", "biz:2"], stderr=err, env={})
    assert status == 2
    assert "--redis" in err.getvalue()
    err = io.StringIO()
    status = await amain(["submit", "1", "--redis", redis_server.url, "--watch", "w"], stderr=err)
    assert status == 2
    assert "--scope" in err.getvalue()


async def test_watch_redis_prints_each_event_once_as_json_lines(make_cluster, redis_server):
    cluster = cli_cluster(make_cluster)
    keeper = LeaseKeeper(cluster, worker_id="pub", ttl=30)
    await keeper.tick()
    lease = keeper.lease(0)
    at = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
    first = JobTransition(5, at, None, JobStatus(2))
    later = JobTransition(5, at, JobStatus(2), JobStatus(3))
    for event in (first, first, later):  # the first one twice: shown once
        entry = NewEvent("deploys", event.event_id, encode_entry(event, None, {}))
        await cluster.commit(lease, events=[entry])
    out, interrupt = io.StringIO(), anyio.Event()
    argv = ["watch", "--redis", redis_server.url, "--cluster", "cli", "--watch", "deploys"]
    async with anyio.create_task_group() as tg:

        async def follow():
            assert await amain(argv, stdout=out, interrupt=interrupt, env={}) == 130  # Ctrl-C

        tg.start_soon(follow)
        with anyio.fail_after(10):
            while out.getvalue().count("\n") < 2:
                await anyio.sleep(0.05)
        await anyio.sleep(0.3)
        interrupt.set()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event_id"] for line in lines] == [first.event_id, later.event_id]
    # The shape of ``watch``'s lines (issue 28), not the stream's own.
    assert lines[0]["event"] == "job_transition"
    assert (lines[0]["job_instance_id"], lines[0]["previous"], lines[0]["current"]) == (5, None, 2)
    assert lines[1]["current_name"] == "SUCCESS"


async def _work_until_ended(cluster, argv, ids) -> io.StringIO:
    """Run ``bkjob worker`` (``argv``) until the stream ``deploys`` holds the ends of ``ids``,
    then interrupt it (it exits 0); return what it logged."""
    err, interrupt = io.StringIO(), anyio.Event()
    async with anyio.create_task_group() as tg:

        async def work():
            assert await amain(argv, stderr=err, interrupt=interrupt, env=ENV) == 0

        tg.start_soon(work)

        async def finished():
            return set(finished_jobs(await stream_events(cluster, "deploys"))) == set(ids)

        with anyio.fail_after(20):
            while not await finished():
                await anyio.sleep(0.1)
        interrupt.set()
    return err


async def test_worker_polls_submitted_jobs_until_interrupted(make_cluster, redis_server):
    cluster = cli_cluster(make_cluster)
    async with BkJobSimulator(seed=2, host_duration=(0.2, 0.8)) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=2)]) for _ in range(5)]
        await cluster.submit(SCOPE, ids, watch="deploys")
        argv = ["worker", "--redis", redis_server.url, "--cluster", "cli", "--url", sim.url]
        # (a status line every 0.1 s: one comes before the jobs end)
        argv += ["--interval", "0.2", "--rate-limit", "50", "--report-every", "0.1"]
        err = await _work_until_ended(cluster, argv, ids)
    assert "joined cluster 'cli'" in err.getvalue()
    # Its status lines (a count is what it held then: its leases, 0.3 s at this interval, may
    # lapse for a moment on a busy machine; how workers share partitions is test_leases'). Each
    # count is spelt for its number: "1 job" when one job was left at that report.
    line = r"INFO bkjob_async.cli.worker: worker \S+: (\d+) partitions?, \d+ jobs?,"
    held = [int(n) for n in re.findall(line, err.getvalue(), re.M)]
    assert held
    assert all(0 <= n <= 128 for n in held)


@pytest.mark.parametrize("deployment", ["sentinel_set", "redis_cluster"])
async def test_worker_and_submit_take_a_sentinel_or_cluster_url(make_cluster, request, deployment):
    url = request.getfixturevalue(deployment).url
    cluster = make_cluster(url=url, name="cli", partitions=128)
    async with BkJobSimulator(seed=3, host_duration=(0.2, 0.8)) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=2)]) for _ in range(4)]
        base = ["--redis", url, "--cluster", "cli"]
        argv = ["submit", *map(str, ids), *base, "--watch", "deploys", "--scope", "biz:2"]
        assert await amain(argv, env={}) == 0
        argv = [
            "worker",
            *base,
            "--url",
            sim.url,
            "--interval",
            "0.2",
            "--report-every",
            "0.1",
        ]  # (before the jobs end)
        err = await _work_until_ended(cluster, argv, ids)
    assert f"joined cluster 'cli' at {url}" in err.getvalue()


async def test_watch_redis_refuses_the_flags_it_would_ignore(redis_server):
    base = ["watch", "--redis", redis_server.url, "--cluster", "cli", "--watch", "deploys"]
    for extra, said in (
        (["--deadline", "60"], "--deadline does not apply to a cluster watch"),
        (["--events", "job_finished", "--max-interval", "5"], "--events, --max-interval do"),
    ):
        err = io.StringIO()
        assert await amain([*base, *extra], stderr=err, env={}) == 2
        assert said in err.getvalue()
