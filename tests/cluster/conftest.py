"""Fixtures of the cluster tests: a real ``redis-server``, empty for each test, and clusters on it.

Every test here talks to a real Redis (see ``redis_server.py``); none uses a fake. One
``redis-server`` process serves the whole session: each test gets it running, answering and
flushed (a test that froze, stopped or reconfigured it is undone first). Without
``redis-server`` the tests skip, unless ``CI=true``: then they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest

from ..child import Child
from .redis_server import ClusterNodes, RedisServer, SentinelSet, find_redis_server

_D = TypeVar("_D", RedisServer, SentinelSet, ClusterNodes)


def _running(deployment: _D) -> Iterator[_D]:
    """Start ``deployment``, yield it, and stop it after (also when it failed to start)."""
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="session")
def _redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One ``redis-server`` for the session (starting one costs more than most tests here)."""
    yield from _running(RedisServer(find_redis_server(), tmp_path_factory.mktemp("redis")))


@pytest.fixture
def redis_server(_redis_session: RedisServer) -> Iterator[RedisServer]:
    """Return the session's ``RedisServer`` on 127.0.0.1, running, default-configured and
    empty, as if started for this test."""
    _redis_session.reset()
    try:
        yield _redis_session
    finally:
        _redis_session.thaw()


@pytest.fixture
def sentinel_set(tmp_path: Any) -> Iterator[SentinelSet]:
    """Return a running Sentinel deployment (a primary, a replica, three sentinels) of its
    own: a test may fail it over."""
    yield from _running(SentinelSet(find_redis_server(), tmp_path / "sentinel"))


@pytest.fixture
def sentinel_set_with_passwords(tmp_path: Any) -> Iterator[SentinelSet]:
    """Return a running Sentinel deployment whose servers and sentinels need passwords
    (``url`` carries both)."""
    deployment = SentinelSet(
        find_redis_server(),
        tmp_path / "sentinel",
        password="primary-pw-1234",
        sentinel_password="sentinel-pw-5678",
    )
    yield from _running(deployment)


@pytest.fixture(scope="session")
def _cluster_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterNodes]:
    yield from _running(ClusterNodes(find_redis_server(), tmp_path_factory.mktemp("redis-cluster")))


@pytest.fixture
def replicated_cluster(tmp_path: Any) -> Iterator[ClusterNodes]:
    """Return a Redis Cluster of its own, three primaries with a replica each: a test may kill
    a primary (``fail_over``)."""
    yield from _running(
        ClusterNodes(find_redis_server(), tmp_path / "redis-cluster", size=6, replicas=1)
    )


@pytest.fixture
def redis_cluster(_cluster_session: ClusterNodes) -> ClusterNodes:
    """Return the session's 3-node Redis Cluster, empty, as if started for this test."""
    _cluster_session.reset()
    return _cluster_session


@pytest.fixture
async def make_cluster(redis_server: RedisServer) -> AsyncIterator[Callable[..., Any]]:
    """Return a factory of ``Cluster`` objects on ``redis_server`` (each its own connections),
    closed after the test."""
    from bkjob_async.cluster import Cluster

    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        # The test's own reads wait as long as a busy machine needs: a test fails on the
        # product's behaviour, never on Redis answering slowly under load. A test of
        # timeouts passes its own.
        options: dict[str, Any] = {"name": "test", "partitions": 64, "timeout": 10.0}
        options.update(kwargs)
        url = options.pop("url", redis_server.url)
        cluster = Cluster(url, **options)
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            await cluster.aclose()


@pytest.fixture
def child() -> Iterator[Callable[..., Child]]:
    """Return a factory of ``Child`` processes running ``python -m tests.cluster.procs ARGS``
    (each prints its results as stdout lines), all stopped after the test."""
    made: list[Child] = []

    def make(*args: str) -> Child:
        proc = Child(["-m", "tests.cluster.procs", *args])
        made.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in made:
            proc.stop()
