"""The Redis deployments users run, each real: Sentinel (``redis+sentinel://``) and Redis
Cluster (``redis+cluster://``) URLs, their passwords never shown, and workers on a real
3-node Redis Cluster keeping every key of one cluster name in one hash slot."""

from __future__ import annotations

import inspect

import anyio
import pytest

from bkjob_async import BkJobClient, PollPolicy, Scope
from bkjob_async.cluster import Cluster, ClusterError, ClusterUnavailableError, Worker
from bkjob_async.testing import BkJobSimulator, StepPlan

from . import (
    test_cluster_events,
    test_cluster_rate,
    test_cluster_watch_set,
    test_fencing,
    test_leases,
    test_store_contract,
    test_worker,
)
from .chains import check_chains, finished_jobs, stream_events
from .redis_server import free_port

SCOPE = Scope.biz(2)


@pytest.mark.parametrize(
    ("url", "deployment"),
    [
        ("redis+sentinel://u:hunter2-secret@127.0.0.1:1,127.0.0.1:2/svc/3", "sentinel"),
        ("redis+sentinel://:hunter2-secret@[::1]:1/svc", "sentinel"),
        ("rediss+sentinel://h1,h2:26380/svc?sentinel_password=hunter2-secret", "sentinel"),
        ("redis+cluster://u:hunter2-secret@127.0.0.1:1,127.0.0.1:2", "cluster"),
        ("rediss+cluster://:hunter2-secret@h1:7000/0?ssl_cert_reqs=none", "cluster"),
    ],
)
def test_sentinel_and_cluster_urls_are_taken_with_their_passwords_masked(url, deployment):
    cluster = Cluster(url)
    assert cluster.deployment == deployment
    assert "hunter2" not in repr(cluster)
    assert "***" in cluster.url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://u:hunter2-secret@h:1", "names the service"),
        ("redis+sentinel://u:hunter2-secret@h:1/svc/x", "must be a number"),
        ("redis+sentinel://u:hunter2-secret@h:x/svc", "not a number"),
        ("redis+cluster://u:hunter2-secret@h:1/2", "database 0 only"),
        ("redis+cluster://u:hunter2-secret@h:1?password=hunter2-secret&db=1", "unknown option"),
        ("redis+cluster://u:hunter2-secret@h:1?ssl_ca_certs=/x", "need TLS"),
        ("redis+sentinal://u:hunter2-secret@h:1/svc", r"redis\+sentinel://"),
    ],
)
def test_a_bad_sentinel_or_cluster_url_says_why_without_its_password(url, message):
    with pytest.raises(ValueError, match=message) as info:
        Cluster(url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("form", ["sentinel", "cluster"])
async def test_an_unreachable_deployment_is_unavailable_without_its_password(form):
    hosts = f"127.0.0.1:{free_port()}"
    url = f"redis+{form}://u:hunter2-secret@{hosts}" + ("/svc" if form == "sentinel" else "")
    async with Cluster(url, timeout=0.5) as cluster:
        with pytest.raises(ClusterUnavailableError) as info:
            await cluster.jobs("w")
    assert "hunter2" not in str(info.value)
    assert "***" in str(info.value)


async def test_workers_on_a_redis_cluster_keep_every_key_in_one_slot(make_cluster, redis_cluster):
    """Two workers with a shared rate budget and a consumer group with dead letters: every
    script, pipeline and MULTI ran on the cluster (a key of another slot is refused with
    CROSSSLOT), and every key the cluster name made is on one node."""
    policy = PollPolicy(interval=0.2, max_interval=0.4, rate_limit=500)
    async with BkJobSimulator(seed=5, host_duration=(0.3, 1.5)) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=3), StepPlan(hosts=2)]) for _ in range(30)]
        submitter = make_cluster(url=redis_cluster.url)
        assert submitter.deployment == "cluster"
        await submitter.submit(SCOPE, ids, watch="deploys")
        stream = submitter.events("deploys", consumer="c", max_deliveries=3, block=0.1)
        read = []
        async with (
            BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as c1,
            BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as c2,
            Worker(c1, make_cluster(url=redis_cluster.url), policy=policy, worker_id="w1",
                   lease_ttl=3.0) as w1,
            Worker(c2, make_cluster(url=redis_cluster.url), policy=policy, worker_id="w2",
                   lease_ttl=3.0) as w2,
        ):  # fmt: skip
            with anyio.fail_after(60):
                async for event in stream:
                    read.append(event)
                    await stream.ack(event)
                    if len(finished_jobs(read)) >= len(ids):
                        break
            s1, s2 = w1.statistics(), w2.statistics()
        assert s1.partitions + s2.partitions == 64
        assert s1.commits > 0
        assert s2.commits > 0
        assert w1.budget is not None
        events = await stream_events(submitter, "deploys")
        assert check_chains(events, sim, ids) == 30 * 5
        assert await submitter.jobs("deploys") == set()  # ended jobs left the watch
    keys = {port: k for port, k in redis_cluster.keys().items() if k}
    assert len(keys) == 1, keys  # one node holds them all
    (names,) = keys.values()
    assert all(name.startswith("bkjob:{test}:") for name in names)
    assert {"bkjob:{test}:rate", "bkjob:{test}:fence", "bkjob:{test}:events:deploys"} <= set(names)


#: Tests of the single-Redis suite that take only ``make_cluster`` (and ``caplog``), run again
#: on the Redis Cluster: scripts, pipelines, MULTI and streams as the package uses them. Not
#: those whose leases of 0.3 s leave no room for a cluster client's first read of the slot map
#: on a loaded machine (the fault tests hold fencing to account on the Redis Cluster).
ON_A_REDIS_CLUSTER = [
    (test_cluster_watch_set, "test_submit_and_cancel_keep_the_watch_set"),
    (test_cluster_watch_set, "test_large_submits_are_split_and_all_land"),
    (test_cluster_watch_set, "test_commit_writes_state_and_events_at_once"),
    (test_cluster_watch_set, "test_a_different_partition_count_is_refused"),
    (
        test_cluster_watch_set,
        "test_a_connection_closed_under_a_command_is_unavailable_and_then_used_again",
    ),
    (test_cluster_events, "test_every_group_sees_every_event"),
    (test_cluster_events, "test_a_dead_consumers_events_are_claimed_by_another"),
    (test_cluster_events, "test_many_events_are_acknowledged_in_one_call"),
    (test_cluster_events, "test_an_event_delivered_too_often_goes_to_the_dead_letters"),
    (test_fencing, "test_a_fencing_counter_gone_back_is_set_up_reported_and_outgrown"),
    (test_leases, "test_a_joining_worker_gets_its_share_and_tokens_grow"),
    (test_leases, "test_holders_names_the_live_workers_and_who_holds_each_partition"),
    (test_cluster_rate, "test_a_binding_budget_serves_concurrent_acquirers_a_batch_a_round_trip"),
    (
        test_store_contract,
        "test_a_worker_taking_over_loads_the_last_fenced_state_and_the_old_one_is_refused",
    ),
    (test_worker, "test_a_job_submitted_again_after_its_end_is_followed_again"),
]


@pytest.mark.parametrize(
    ("module", "name"), ON_A_REDIS_CLUSTER, ids=[name[5:] for _, name in ON_A_REDIS_CLUSTER]
)
async def test_the_single_redis_checks_hold_on_a_redis_cluster(
    make_cluster, redis_cluster, caplog, module, name
):
    def on_the_cluster(**kwargs):
        kwargs.setdefault("url", redis_cluster.url)
        return make_cluster(**kwargs)

    check = getattr(module, name)
    given = {"make_cluster": on_the_cluster, "caplog": caplog}
    await check(**{p: given[p] for p in inspect.signature(check).parameters})
    assert sum(1 for keys in redis_cluster.keys().values() if keys) == 1  # one slot's node


async def test_scripts_lost_by_redis_are_loaded_again_for_pipelined_writes(
    make_cluster, redis_server
):
    """A new primary after a failover may lack the scripts (``NOSCRIPT``): flushed mid-run,
    the workers' pipelined writes load them again and every chain lands."""
    policy = PollPolicy(interval=0.2, max_interval=0.4)
    async with BkJobSimulator(seed=6, host_duration=(0.5, 2.0)) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=3)]) for _ in range(20)]
        submitter = make_cluster()
        await submitter.submit(SCOPE, ids, watch="deploys")
        async with (
            BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as client,
            Worker(client, make_cluster(), policy=policy, worker_id="w1", lease_ttl=3.0) as w1,
        ):
            with anyio.fail_after(30):
                while w1.statistics().commits < 5:
                    await anyio.sleep(0.05)
            assert redis_server.command("SCRIPT", "FLUSH").startswith(b"+OK")
            loads = script_loads(redis_server)
            with anyio.fail_after(60):
                while len(finished_jobs(await stream_events(submitter, "deploys"))) < len(ids):
                    await anyio.sleep(0.1)
            assert script_loads(redis_server) > loads  # NOSCRIPT was met, and handled
        assert check_chains(await stream_events(submitter, "deploys"), sim, ids) == 20 * 3


def script_loads(redis_server) -> int:
    stats = redis_server.command("INFO", "commandstats").decode()
    for line in stats.splitlines():
        if line.startswith("cmdstat_script|load:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_a_sentinel_deployment_with_passwords_is_used_and_never_shows_them(
    make_cluster, sentinel_set_with_passwords
):
    deployment = sentinel_set_with_passwords
    cluster = make_cluster(url=deployment.url)
    assert await cluster.submit(SCOPE, [1, 2], watch="w") == 2
    assert await cluster.jobs("w") == {(SCOPE, 1), (SCOPE, 2)}
    for secret in ("primary-pw-1234", "sentinel-pw-5678"):
        assert secret not in repr(cluster)
    wrong = deployment.url.replace("primary-pw-1234", "wrong-pw-0000")
    with pytest.raises(ClusterError) as info:
        await make_cluster(url=wrong, timeout=2.0).jobs("w")
    assert "wrong-pw" not in str(info.value)
    assert "sentinel-pw" not in str(info.value)
    no_sentinel_pw = deployment.url.partition("?")[0].replace("primary-pw-1234", "x")
    with pytest.raises(ClusterUnavailableError, match="AuthenticationError") as info:
        await make_cluster(url=no_sentinel_pw, timeout=2.0).jobs("w")
    assert len(str(info.value)) < 500  # what each sentinel said, not its client's options
