"""The Redis deployments users run, each real: Sentinel (``redis+sentinel://``) and Redis
Cluster (``redis+cluster://``) URLs, their passwords never shown, and workers on a real
3-node Redis Cluster keeping every key of one cluster name in one hash slot."""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import BkJobClient, PollPolicy, Scope
from bkjob_async.cluster import Cluster, ClusterUnavailableError, Worker
from bkjob_async.testing import BkJobSimulator, StepPlan

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
