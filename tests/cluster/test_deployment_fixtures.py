"""The Sentinel and Redis Cluster fixtures are what they say: real processes, real roles."""

from __future__ import annotations

import redis


def test_the_sentinel_set_fails_over_to_its_replica(sentinel_set):
    assert sentinel_set.primary_port() == sentinel_set.primary.port
    sentinel_set.kill_primary()
    sentinel_set.wait_failover()
    assert sentinel_set.primary_port() == sentinel_set.replica.port


def test_the_cluster_spreads_slots_over_three_primaries(redis_cluster):
    for node in redis_cluster.nodes:
        client = redis.Redis("127.0.0.1", node.port, decode_responses=True)
        assert client.execute_command("CLUSTER INFO")["cluster_state"] == "ok"
    client = redis.RedisCluster("127.0.0.1", redis_cluster.nodes[0].port, decode_responses=True)
    for key in ("a", "b", "c", "d", "e", "f", "g", "h"):
        client.set(key, "1")
    counts = {port: len(keys) for port, keys in redis_cluster.keys().items()}
    client.close()
    assert sum(counts.values()) == 8
    assert sum(1 for n in counts.values() if n) >= 2  # keys do spread: it is a real cluster
