"""The watch set: submit/cancel, partitions, bad input and an unreachable Redis (real server)."""

from __future__ import annotations

import time
import zlib
from contextlib import contextmanager
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection

from bkjob_async import BkJobError, Scope
from bkjob_async.cluster import (
    Cluster,
    ClusterConfigError,
    ClusterError,
    ClusterUnavailableError,
    Lease,
    NewEvent,
    partition_of,
)

from .redis_server import free_port, sigcont, sigstop

BIZ = Scope.biz(2)


def dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_errors_sit_under_the_package_root():
    assert issubclass(ClusterError, BkJobError)
    assert issubclass(ClusterUnavailableError, ClusterError)
    assert issubclass(ClusterUnavailableError, ConnectionError)
    assert issubclass(ClusterConfigError, ValueError)


def test_partition_is_a_stable_crc32_of_the_job():
    # Pinned: every process, Python version and restart must agree.
    assert partition_of(BIZ, 123, 128) == zlib.crc32(b"biz:2:123") % 128
    assert partition_of(Scope.biz_set(9), 123, 64) == zlib.crc32(b"biz_set:9:123") % 64
    counts = [0] * 64
    for job in range(1, 64_001):
        counts[partition_of(BIZ, job, 64)] += 1
    assert min(counts) > 850
    assert max(counts) < 1150


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"redis_url": "http://x"}, ValueError),
        ({"redis_url": 5}, TypeError),
        ({"name": "a b"}, ValueError),
        ({"name": ""}, ValueError),
        ({"partitions": 63}, ValueError),
        ({"partitions": 257}, ValueError),
        ({"partitions": 64.0}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"stream_maxlen": 0}, ValueError),
    ],
)
def test_bad_settings_raise_at_construction(kwargs, error):
    options = {"redis_url": "redis://127.0.0.1:1/0", **kwargs}
    with pytest.raises(error):
        Cluster(**options)


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:hunter2-secret@127.0.0.1:1/0",
        "redis://:hunter2-secret@127.0.0.1:1/0",
        "rediss://user:hunter2-secret@[::1]:1/0",
        "unix:///run/redis.sock?db=0&password=hunter2-secret",
    ],
)
def test_the_password_never_shows(url):
    cluster = Cluster(url)
    assert "hunter2" not in repr(cluster)
    assert "hunter2" not in cluster.url
    assert "***" in cluster.url


async def test_the_password_is_not_in_connection_errors():
    async with Cluster(f"redis://u:hunter2-secret@127.0.0.1:{free_port()}/0", timeout=0.5) as c:
        with pytest.raises(ClusterUnavailableError) as info:
            await c.jobs("w")
    assert "hunter2" not in str(info.value)
    assert "***" in str(info.value)


def test_a_bad_url_does_not_show_its_password():
    with pytest.raises(ValueError, match="redis://") as info:
        Cluster("http://user:hunter2-secret@host/0")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.submit(BIZ, [1], watch="bad\nwatch"), ValueError),
        (lambda c: c.submit(BIZ, [1], watch=""), ValueError),
        (lambda c: c.submit(BIZ, [1], watch="w" * 201), ValueError),
        (lambda c: c.submit(BIZ, [1], watch=b"w"), TypeError),
        (lambda c: c.submit(BIZ, 5, watch="w"), TypeError),
        (lambda c: c.submit(BIZ, [], watch="w"), ValueError),
        (lambda c: c.submit(BIZ, [0], watch="w"), ValueError),
        (lambda c: c.submit(BIZ, [True], watch="w"), TypeError),
        (lambda c: c.submit("biz:2", [1], watch="w"), TypeError),
        (lambda c: c.cancel(BIZ, ["1"], watch="w"), TypeError),
        (lambda c: c.partition_jobs(64), ValueError),
        (lambda c: c.publish(Lease(0, 1, "w", 1e18), "w", {1, 2}, event_id="e"), TypeError),
        (lambda c: c.publish(Lease(0, 1, "w", 1e18), "w", 1, event_id=""), ValueError),
        (lambda c: c.commit(Lease(0, 1, "w", 1e18), state={"a": 1}), TypeError),
        (lambda c: c.commit(Lease(99, 1, "w", 1e18)), ValueError),
    ],
)
async def test_bad_input_raises_before_any_redis_command(call, error):
    # Nothing listens on this port: reaching Redis would raise ClusterUnavailableError.
    async with Cluster(dead_url(), "t", partitions=64, timeout=0.5) as cluster:
        with pytest.raises(error):
            await call(cluster)


def test_bad_event_stream_arguments_raise_at_once():
    cluster = Cluster(dead_url(), "t")
    with pytest.raises(ValueError, match="consumer"):
        cluster.events("w", consumer="c 1")
    with pytest.raises(ValueError, match="claim_idle"):
        cluster.events("w", consumer="c1", claim_idle=0)
    with pytest.raises(ValueError, match="block"):
        cluster.events("w", consumer="c1", block=cluster.timeout)
    with pytest.raises(TypeError):
        cluster.events("w", consumer="c1", count=1.5)
    with pytest.raises(ValueError, match="max_deliveries"):
        cluster.events("w", consumer="c1", max_deliveries=0)


async def watch_names(cluster):
    """The watches holding jobs, as Redis has them."""
    return {str(m) for m in await cluster.redis.smembers(cluster.keys.watches)}


async def partition_versions(cluster):
    """Each partition's version in Redis (0: never changed)."""
    raw = await cluster.redis.hgetall(cluster.keys.partver)
    return [int(raw.get(str(p), 0)) for p in range(cluster.partitions)]


async def test_submit_and_cancel_keep_the_watch_set(make_cluster):
    cluster = make_cluster()
    assert await cluster.submit(BIZ, [1, 2, 3, 3], watch="deploys") == 3
    assert await cluster.submit(BIZ, [3, 4], watch="deploys") == 1
    assert await cluster.submit(BIZ, [1], watch="other") == 1
    assert await cluster.jobs("deploys") == {(BIZ, 1), (BIZ, 2), (BIZ, 3), (BIZ, 4)}
    assert await watch_names(cluster) == {"deploys", "other"}
    # Another process (another connection) sees the same set.
    other = make_cluster()
    part = other.partition(BIZ, 1)
    assert (await other.partition_jobs(part))[(BIZ, 1)] == frozenset({"deploys", "other"})
    assert await cluster.cancel(BIZ, [1, 2, 99], watch="deploys") == 2
    assert await other.jobs("deploys") == {(BIZ, 3), (BIZ, 4)}
    assert (await other.partition_jobs(part))[(BIZ, 1)] == frozenset({"other"})
    assert await cluster.cancel(BIZ, [1], watch="other") == 1
    assert await watch_names(cluster) == {"deploys"}


async def test_watch_names_are_those_of_single_process_watches(make_cluster):
    cluster = make_cluster()
    name = "nightly deploys: batch {7}"
    await cluster.submit(BIZ, [5], watch=name)
    assert await watch_names(cluster) == {name}
    assert await cluster.jobs(name) == {(BIZ, 5)}
    part = cluster.partition(BIZ, 5)
    assert (await cluster.partition_jobs(part))[(BIZ, 5)] == frozenset({name})


async def test_partition_versions_change_only_with_the_partition(make_cluster):
    cluster = make_cluster()
    assert await partition_versions(cluster) == [0] * 64
    await cluster.submit(BIZ, [10], watch="w")
    part = cluster.partition(BIZ, 10)
    versions = await partition_versions(cluster)
    assert versions[part] == 1
    assert sum(versions) == 1
    await cluster.submit(BIZ, [10], watch="w")  # no change: no bump
    assert await partition_versions(cluster) == versions
    await cluster.cancel(BIZ, [10], watch="w")
    assert (await partition_versions(cluster))[part] == 2


async def test_large_submits_are_split_and_all_land(make_cluster):
    cluster = make_cluster()
    assert await cluster.submit(BIZ, range(1, 25_001), watch="big") == 25_000
    assert len(await cluster.jobs("big")) == 25_000
    total = sum([len(await cluster.partition_jobs(p)) for p in range(64)])
    assert total == 25_000


async def test_a_different_partition_count_is_refused(make_cluster):
    await make_cluster(partitions=64).submit(BIZ, [1], watch="w")
    with pytest.raises(ClusterConfigError, match="64 partitions"):
        await make_cluster(partitions=128).submit(BIZ, [1], watch="w")


async def test_submit_to_an_unreachable_redis_raises_the_typed_error():
    async with Cluster(dead_url(), "t", timeout=0.5) as cluster:
        started = time.monotonic()
        with pytest.raises(ClusterUnavailableError, match="unavailable"):
            await cluster.submit(BIZ, [1], watch="w")
        assert time.monotonic() - started < 2


async def test_a_frozen_redis_times_out_then_recovers(make_cluster, redis_server):
    cluster = make_cluster(timeout=0.3)
    await cluster.submit(BIZ, [1], watch="w")
    sigstop(redis_server.pid)
    try:
        with pytest.raises(ClusterUnavailableError):
            await cluster.submit(BIZ, [2], watch="w")
        with pytest.raises(ClusterUnavailableError):
            await cluster.jobs("w")
    finally:
        sigcont(redis_server.pid)
    # Back: the same Cluster object works again, and nothing acknowledged was lost.
    await cluster.submit(BIZ, [3], watch="w")
    jobs = await cluster.jobs("w")
    assert {(BIZ, 1), (BIZ, 3)} <= jobs


@contextmanager
def a_connection_closed_under_the_next_command():
    """Disconnect the connection of the next command sent just before its bytes go out, as a
    Redis Cluster client's failover handling does to every connection, busy ones too. redis-py
    (to 8.1 at least) then fails with ``AttributeError: 'NoneType' object has no attribute
    'writelines'`` (its issues 3546 and 4287), which a failover test met."""
    original = AbstractConnection._send_packed_command
    closed: list[AbstractConnection] = []

    async def send(self: AbstractConnection, command: Any) -> None:
        if not closed:
            closed.append(self)
            await self.disconnect()
        await original(self, command)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AbstractConnection, "_send_packed_command", send)
        yield closed


async def test_a_connection_closed_under_a_command_is_unavailable_and_then_used_again(
    make_cluster,
):
    cluster = make_cluster()
    await cluster.submit(BIZ, [1], watch="w")
    with a_connection_closed_under_the_next_command() as closed:
        with pytest.raises(ClusterUnavailableError, match="closed during a command") as info:
            await cluster.submit(BIZ, [2], watch="w")
        assert closed  # the race did happen, in redis-py's own connection
    assert isinstance(info.value.__cause__, AttributeError)
    await cluster.submit(BIZ, [3], watch="w")
    assert {(BIZ, 1), (BIZ, 3)} <= await cluster.jobs("w")


async def test_our_own_attribute_errors_are_not_taken_for_redis_being_away(make_cluster):
    cluster = make_cluster()
    writer = None

    async def with_a_bug() -> None:
        async with cluster.guard():
            await cluster.jobs("w")
            writer.writelines([b""])  # type: ignore[attr-defined]  # ours: shown as it is

    with pytest.raises(AttributeError, match="NoneType"):
        await with_a_bug()


async def test_a_closed_cluster_refuses_work(make_cluster):
    cluster = make_cluster()
    await cluster.aclose()
    with pytest.raises(ClusterError, match="closed"):
        await cluster.jobs("w")


async def test_commit_writes_state_and_events_at_once(make_cluster):
    from bkjob_async.cluster import LeaseKeeper

    cluster = make_cluster()
    keeper = LeaseKeeper(cluster, worker_id="w1", ttl=5, max_partitions=1)
    (lease,) = (await keeper.tick()).gained
    ids = await cluster.commit(
        lease,
        state={"job:1": "running", "job:2": "done"},
        events=[NewEvent("a", "e1", {"k": 1}), NewEvent("b", "e2", None)],
    )
    assert len(ids) == 2
    await cluster.commit(lease, delete=["job:2"])
    assert await cluster.read_state(lease.partition) == {"job:1": "running"}


def test_the_core_never_imports_redis_or_the_cluster():
    import subprocess
    import sys

    code = (
        "import sys, bkjob_async, bkjob_async.polling, bkjob_async.testing, bkjob_async.cli; "
        "print(sorted(m for m in sys.modules if m == 'redis' or m.startswith(('redis.', "
        "'bkjob_async.cluster'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_redis_py_the_import_says_what_to_install():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['redis'] = None\n"
        "try:\n    import bkjob_async.cluster\nexcept ImportError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'bkjob-async[redis]'" in out.stdout
