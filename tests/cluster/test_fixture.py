"""The Redis fixture itself: a missing redis-server skips, except in CI, where it fails."""

from __future__ import annotations

import pytest

from .redis_server import find_redis_server


def test_a_missing_redis_server_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make redis"):
        find_redis_server()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        find_redis_server()


def test_the_server_is_real_and_private(redis_server):
    info = redis_server.command("INFO", "server").decode()
    assert "redis_version:" in info
    assert f"tcp_port:{redis_server.port}" in info
    persistence = redis_server.command("CONFIG", "GET", "save").decode()
    assert "save" in persistence
    assert redis_server.command("CONFIG", "GET", "appendonly").decode().endswith("no\r\n")
