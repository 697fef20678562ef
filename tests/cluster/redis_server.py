"""A real ``redis-server`` for tests and benchmarks: 127.0.0.1, a free port, no persistence
(unless a test restarts it with its append-only file: ``restart_keeping_data``).

Never a fake: every cluster guarantee is proven against this process. ``find_redis_server``
skips (or fails, when ``CI=true``) if the binary is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from ..child import Child

INSTALL_HINT = (
    "redis-server not found: `make redis` installs it as root (apt-get install redis-server); "
    "without root, install Redis 6.2+ any other way and put redis-server on PATH"
)


def find_redis_server() -> str:
    """Return the path of ``redis-server``; skip the test if missing, fail if ``CI=true``."""
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{INSTALL_HINT} (CI=true: not skipping)")
        pytest.skip(INSTALL_HINT)
    return path


#: The ports ``free_port`` gave already in this process.
_GIVEN: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago, and never one this process was
    given before: the system may hand out the same port twice in a row, and a sentinel set once
    got one port for two of its three sentinels (the second could not bind it, and the set never
    came up)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _GIVEN:
            if len(_GIVEN) > 10_000:  # (a long session: the oldest are long closed)
                _GIVEN.clear()
            _GIVEN.add(port)
            return port


def sigstop(pid: int) -> None:
    """Freeze a process (it keeps its sockets, answers nothing)."""
    os.kill(pid, signal.SIGSTOP)


def sigcont(pid: int) -> None:
    """Thaw a process frozen by ``sigstop``."""
    os.kill(pid, signal.SIGCONT)


class RedisServer:
    """One ``redis-server`` process in ``directory``; ``url`` stays the same across restarts."""

    def __init__(self, binary: str, directory: Path, *args: str) -> None:
        self.binary = binary
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        #: More options of every start (a replica's ``--replicaof``, a cluster node's).
        self.args = args
        self.process: Child | None = None
        #: Started with ``appendonly yes`` (``restart_keeping_data``); ``reset`` undoes it.
        self.persistent = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None, "redis-server is not running"
        return self.process.pid

    def start(self, *, persistent: bool = False) -> None:
        """Start the server (empty: persistence is off; ``persistent``: from its append-only
        file, every write synced) and wait until it answers PING."""
        self.persistent = persistent
        self.process = Child(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes" if persistent else "no",
                "--appendfsync", "always",
                "--repl-diskless-sync-delay", "0",  # a replica syncs at once, not after 5 s
                "--dir", str(self.directory),
                "--logfile", str(self.directory / "redis.log"),
                "--daemonize", "no",
                *self.args,
            ],
            python=False,
        )  # fmt: skip
        deadline = time.monotonic() + 60  # (generous: ends on the first PONG)
        while time.monotonic() < deadline:
            if not self.process.alive:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.wait()}: {log}")
            if self._pong():
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 60 s")

    def _pong(self) -> bool:
        # Generous: a busy machine is slow to answer, not down (start() retries until 60 s).
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))  # (requirepass)
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server; it is unreachable after. Nothing is persisted, so SIGKILL loses
        nothing and spares the ~0.1 s a graceful shutdown takes."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.stop()

    def thaw(self) -> None:
        """Undo a ``sigstop`` the test may have left (harmless otherwise)."""
        if self.process is not None and self.process.alive:
            self.process.signal(signal.SIGCONT)

    def reset(self) -> None:
        """Make the server as a fresh one is: running, answering, default memory limit, no
        data. A server that is gone or does not answer is started again."""
        self.thaw()
        if self.persistent:  # back to a server without persistence
            self.stop()
            shutil.rmtree(self.directory / "appendonlydir", ignore_errors=True)
        if self.process is not None and self.process.alive and self._pong():
            self.command("CONFIG", "SET", "maxmemory", "0")
            if self.command("FLUSHALL").startswith(b"+OK"):
                return
        self.stop()
        self.start()

    def restart_empty(self) -> None:
        """Stop the server and start it again on the same port, with no data."""
        self.stop()
        self.start()

    def restart_keeping_data(self) -> None:
        """Kill the server (SIGKILL, as a crash) and start it again on the same port from its
        append-only file (``appendonly yes``, ``appendfsync always``): every write it answered
        is back, as on a production Redis with persistence."""
        if not self.persistent:
            self.command("CONFIG", "SET", "appendonly", "yes")  # writes the file from memory
            deadline = time.monotonic() + 30
            while b"aof_rewrite_in_progress:0" not in self.command("INFO", "persistence") or (
                b"aof_rewrite_scheduled:0" not in self.command("INFO", "persistence")
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not write its append-only file in 30 s")
                time.sleep(0.02)
        self.stop()
        self.start(persistent=True)

    def snapshot(self) -> Path:
        """Write the server's data to an RDB file now (``SAVE``); return a copy of it."""
        reply = self.command("SAVE")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"SAVE failed: {reply!r}")
        kept = self.directory / f"snapshot-{time.monotonic_ns()}.rdb"
        (self.directory / "dump.rdb").rename(kept)  # (a later start is empty)
        return kept

    def restart_from(self, snapshot: Path) -> None:
        """Kill the server (SIGKILL, as a crash) and start it again from ``snapshot``: every
        write since is lost, as after a failover to a replica that lagged, or a restart from
        the last RDB snapshot."""
        self.stop()
        dump = self.directory / "dump.rdb"
        shutil.copyfile(snapshot, dump)
        try:
            self.start()
        finally:
            dump.unlink()  # loaded: a later start is empty again

    def command(self, *args: str) -> bytes:
        """Send one command in the inline protocol; return the raw reply (for checks only)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(" ".join(args).encode() + b"\r\n")
            return sock.recv(65536)


def _client(port: int, password: str | None = None) -> redis.Redis:
    """A blocking redis-py client of one server, for the fixtures' setup and checks only."""
    return redis.Redis(
        "127.0.0.1", port, password=password, decode_responses=True, socket_timeout=30
    )


def _wait(what: str, ready: Callable[[], bool], timeout: float = 120.0) -> None:
    """Return once ``ready()`` (the servers' own signal: polled every 50 ms); generous, as a
    loaded machine only makes it later."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout} s")
        time.sleep(0.05)


class SentinelSet:
    """A Sentinel deployment on 127.0.0.1, no persistence: a primary, one replica of it and
    three sentinels (quorum 2, ``down-after-milliseconds`` 1000), every one a real
    ``redis-server`` process. ``url`` is its ``redis+sentinel://`` URL."""

    SERVICE = "mymaster"

    def __init__(
        self,
        binary: str,
        directory: Path,
        *,
        password: str | None = None,
        sentinel_password: str | None = None,
    ) -> None:
        self.binary = binary
        self.directory = directory
        #: Of the primary and the replica (``requirepass``), and of the sentinels.
        self.password, self.sentinel_password = password, sentinel_password
        auth = ("--requirepass", password, "--masterauth", password) if password else ()
        self.primary = RedisServer(binary, directory / "primary", *auth)
        self.replica = RedisServer(binary, directory / "replica", *auth)
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[Child] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        user = f":{self.password}@" if self.password else ""
        query = f"?sentinel_password={self.sentinel_password}" if self.sentinel_password else ""
        return f"redis+sentinel://{user}{hosts}/{self.SERVICE}/0{query}"

    def start(self) -> None:
        """Start the primary, the replica (in sync before a sentinel starts, so every
        sentinel knows it at once) and the sentinels; return once each sentinel knows the
        primary, the replica and the two other sentinels."""
        self.primary.start()
        self.replica.args += ("--replicaof", "127.0.0.1", str(self.primary.port))
        self.replica.start()
        replica = _client(self.replica.port, self.password)
        _wait(
            "the replica did not sync with the primary",
            lambda: replica.info("replication").get("master_link_status") == "up",
        )
        # Each sentinel is told its own id, the replica and the other sentinels, as a
        # sentinel's rewritten file records them: none waits for the others' hello messages
        # (one each 2 s on the primary's channel) to know them.
        ids = {port: os.urandom(20).hex() for port in self.sentinel_ports}
        for port in self.sentinel_ports:
            where = self.directory / f"sentinel-{port}"
            where.mkdir(parents=True, exist_ok=True)
            conf = where / "sentinel.conf"  # a sentinel rewrites its file: one each
            others = "".join(
                f"sentinel known-sentinel {self.SERVICE} 127.0.0.1 {other} {ids[other]}\n"
                for other in self.sentinel_ports
                if other != port
            )
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {where}\n"
                f"logfile {where / 'sentinel.log'}\n"
                f"sentinel myid {ids[port]}\n"
                f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
                f"sentinel failover-timeout {self.SERVICE} 10000\n"
                f"sentinel known-replica {self.SERVICE} 127.0.0.1 {self.replica.port}\n"
                f"{others}"
            )
            if self.password:
                conf.write_text(
                    conf.read_text() + f"sentinel auth-pass {self.SERVICE} {self.password}\n"
                )
            if self.sentinel_password:
                conf.write_text(
                    conf.read_text() + f"requirepass {self.sentinel_password}\n"
                    f"sentinel sentinel-pass {self.sentinel_password}\n"
                )
            self.sentinels.append(Child([self.binary, str(conf), "--sentinel"], python=False))
        for port in self.sentinel_ports:
            sentinel = _client(port, self.sentinel_password)

            def known(sentinel: redis.Redis = sentinel) -> bool:
                # Linked to the primary, the replica (read: its INFO says it is in sync)
                # and the two other sentinels: ready to vote and to promote the replica.
                master = sentinel.sentinel_master(self.SERVICE)
                replicas = sentinel.sentinel_slaves(self.SERVICE)
                others = sentinel.sentinel_sentinels(self.SERVICE)
                linked = [master, *replicas, *others]
                return bool(
                    len(replicas) >= 1
                    and len(others) >= 2
                    and not any(i["is_disconnected"] or i["is_sdown"] for i in linked)
                    and all(r.get("master-link-status") == "ok" for r in replicas)
                )

            _wait(f"sentinel {port} did not learn the deployment", known)

    def primary_port(self) -> int | None:
        """Return the port of the primary a majority of the sentinels names now."""
        named = []
        for port in self.sentinel_ports:
            try:
                sentinel = _client(port, self.sentinel_password)
                host = sentinel.sentinel_get_master_addr_by_name(self.SERVICE)
            except (redis.RedisError, OSError):
                continue
            if host:
                named.append(int(host[1]))
        best = max(set(named), key=named.count, default=None)
        return best if best is not None and named.count(best) >= 2 else None

    def kill_primary(self) -> None:
        """SIGKILL the primary (a crash): the sentinels fail over to the replica."""
        self.primary.stop()

    def wait_failover(self, timeout: float = 90.0) -> None:
        """Return once the sentinels name the replica as the primary and it accepts writes."""
        _wait(
            "the sentinels did not fail over to the replica",
            lambda: (
                self.primary_port() == self.replica.port
                and _client(self.replica.port, self.password).info("replication")["role"]
                == "master"
            ),
            timeout,
        )

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.stop()
        self.primary.stop()


class ClusterNodes:
    """A Redis Cluster on 127.0.0.1, no persistence: primaries sharing the 16384 slots, each a
    real ``redis-server --cluster-enabled yes``, and ``replicas`` replicas of each
    (``redis-cli --cluster create``). ``url`` is its ``redis+cluster://`` URL.

    A node is failed when it has not answered the others for the node timeout: 2 s where a
    test kills a primary and waits for its replica to take over (``replicas``), 15 s where
    nothing fails over, so that a node starved of CPU on a loaded machine does not mark the
    cluster failed while it starts or while a test uses it."""

    def __init__(self, binary: str, directory: Path, size: int = 3, replicas: int = 0) -> None:
        #: Replicas of each primary (``redis-cli --cluster create --cluster-replicas``).
        self.replicas = replicas
        self.nodes = [RedisServer(binary, directory / f"node{i}") for i in range(size)]
        #: Each node's cluster bus port: not its port + 10000, which may be taken.
        self.bus_ports = [free_port() for _ in self.nodes]
        timeout = "2000" if replicas else "15000"
        for node, bus in zip(self.nodes, self.bus_ports, strict=True):
            node.args = (
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", timeout,
                "--cluster-port", str(bus),
            )  # fmt: skip

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> None:
        """Start the nodes and return once every node says the cluster is ok (``CLUSTER
        INFO``: its own signal) and knows every other, and every replica is in sync."""
        for node in self.nodes:
            node.start()
        if self.replicas:
            self._create_with_replicas()
        else:  # (redis-cli would poll the nodes once a second: 3 to 5 s on its own)
            share = 16384 // len(self.nodes)
            for i, node in enumerate(self.nodes):
                last = 16383 if i == len(self.nodes) - 1 else (i + 1) * share - 1
                _client(node.port).execute_command("CLUSTER ADDSLOTS", *range(i * share, last + 1))
            first = _client(self.nodes[0].port)
            for node, bus in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                first.execute_command("CLUSTER MEET", "127.0.0.1", node.port, bus)
        for node in self.nodes:
            client = _client(node.port)

            def ok(client: redis.Redis = client) -> bool:
                info = client.execute_command("CLUSTER INFO")
                return bool(
                    info["cluster_state"] == "ok"
                    and int(info["cluster_known_nodes"]) == len(self.nodes)
                )

            _wait(f"node {node.port} did not see the cluster ready", ok)
        for node in self.nodes:  # a replica still syncing could not take over: wait for it

            def synced(port: int = node.port) -> bool:
                info = _client(port).info("replication")
                return bool(info["role"] == "master" or info.get("master_link_status") == "up")

            _wait(f"replica {node.port} did not sync", synced)

    def _create_with_replicas(self) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.skip("a Redis Cluster with replicas is made with redis-cli (redis-tools)")
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [
                *(cli, "--cluster", "create", *addresses, "--cluster-yes"),
                *("--cluster-replicas", str(self.replicas)),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def primary_of(self, key: str) -> RedisServer:
        """Return the node serving ``key``'s slot now (as a live node's slot map says)."""
        live = next(n for n in self.nodes if n.process is not None)
        client = _client(live.port)
        slot = int(client.execute_command("CLUSTER KEYSLOT", key))
        for start, end, primary, *_ in client.execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(primary[1]))
        raise LookupError(f"no node serves slot {slot}")

    def kill_primary_of(self, key: str) -> RedisServer:
        """SIGKILL the primary serving ``key`` (gone when this returns); return it."""
        old = self.primary_of(key)
        old.stop()
        return old

    def wait_promoted(self, key: str, old: RedisServer, timeout: float = 90.0) -> RedisServer:
        """Return the replica that serves ``key`` instead of ``old``, once the cluster promoted
        it and every live node says the cluster is ok again."""

        def promoted() -> bool:
            new = self.primary_of(key)
            states = [
                _client(n.port).execute_command("CLUSTER INFO")["cluster_state"]
                for n in self.nodes
                if n.process is not None
            ]
            return new is not old and all(state == "ok" for state in states)

        _wait("the cluster did not promote a replica", promoted, timeout)
        return self.primary_of(key)

    def keys(self) -> dict[int, list[str]]:
        """Return every node's keys, by port."""
        return {n.port: sorted(_client(n.port).keys("*")) for n in self.nodes}

    def reset(self) -> None:
        """Empty every node (the slots stay where they are)."""
        for node in self.nodes:
            if _client(node.port).info("replication")["role"] == "master":
                _client(node.port).flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
