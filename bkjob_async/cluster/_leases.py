"""Rule: ``LeaseKeeper`` holds a fair share of partitions, each fenced, in one round trip a round.

``LeaseKeeper``: a worker's partition leases with fencing tokens and a fair share.

- One round trip per round (``tick``, the ``TICK`` script): heartbeat, epoch check, renewal of
  every held lease, release of a surplus over the fair share, acquisition of free partitions
  up to it, and the version of each partition held. Each live worker ends up with ``floor``
  or ``ceil`` of ``partitions / live workers`` (a ``max_partitions`` counts for at most
  that), within about two rounds of any change; ``run`` does a round every ``ttl/3``.
- Each acquisition raises the partition's fencing token to Redis ``TIME`` in ms, or one above
  the last token if that is higher: tokens only grow, even when Redis lost its latest writes
  (a failover to a replica that lagged, a restart from an older snapshot, a wipe) and its
  counter went back. A round that finds the counter below a token it held sets it back up and
  logs a WARNING (``TickResult.behind``).
- A worker acts on a lease only until its own deadline: the monotonic time *before* the
  acquiring or renewing command was sent, plus ``ttl``, less ``margin``. Redis cannot expire
  the key before then (unless its clock jumps: choose ``margin`` for the clock error you
  tolerate), so a worker cut off from Redis stops before anyone can take over. A dead or
  stalled worker's leases are taken over within ``ttl + ttl/3``. A paused holder that wakes
  believes its deadline until it looks at its clock: every write is also fenced in Redis.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import secrets
import socket
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import anyio
import attrs
from anyio.abc import AsyncResource

from .._checks import check_number, is_int
from ._commit import Lease
from ._errors import ClusterConfigError, ClusterError
from ._keys import check_name

if TYPE_CHECKING:
    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectSendStream

    from ._connect import Plumbing

__all__ = ["Holders", "LeaseKeeper", "TickResult", "read_holders", "ticks_to"]

log = logging.getLogger("bkjob_async.cluster")


@attrs.frozen
class TickResult:
    """What one lease round changed.

    :param gained: leases newly acquired (a lapsed lease taken again counts as lost, then
        gained, with a new token).
    :param lost: partitions no longer held (expired, taken over, or found gone in Redis).
    :param released: partitions given up to make room for other workers.
    :param held: every lease held after the round.
    :param live: live workers, this one included.
    :param reset: the round found the cluster's data wiped (``Cluster.resets``).
    :param versions: the version of each partition held (``partver``).
    :param now_ms: Redis ``TIME`` in ms during the round: one clock for every worker.
    :param behind: lost partitions whose fencing counter in Redis had gone back below the
        token held here -> by how much (Redis lost writes); the round set it back up.
    :param taken_from: gained partitions last held by a worker no longer live -> its id: a
        takeover (from a dead or stalled worker, or one that left).
    :param handed_from: gained partitions last held by another live worker -> its id: it gave
        them up to even the shares out.
    """

    gained: tuple[Lease, ...]
    lost: tuple[int, ...]
    released: tuple[int, ...]
    held: Mapping[int, Lease]
    live: int
    reset: bool
    versions: Mapping[int, int]
    now_ms: int = 0
    behind: Mapping[int, int] = attrs.field(factory=dict)
    taken_from: Mapping[int, str] = attrs.field(factory=dict)
    handed_from: Mapping[int, str] = attrs.field(factory=dict)


def default_worker_id() -> str:
    """Return ``host-pid-random``: unique per process start."""
    host = "".join(c if c.isalnum() or c in "-_." else "-" for c in socket.gethostname())[:40]
    return f"{host or 'host'}-{secrets.token_hex(4)}"


class LeaseKeeper(AsyncResource):
    """Hold a fair share of ``cluster``'s partitions for one worker.

    :param worker_id: unique among live workers (two keepers with one id would share its
        leases); default: the host name and a random suffix.
    :param ttl: seconds a lease lives in Redis without renewal.
    :param margin: seconds the worker stops acting before ``ttl`` would end (default ttl/10).
    :param max_partitions: hold at most this many (``None``: the fair share).
    """

    def __init__(
        self,
        cluster: Plumbing,
        *,
        worker_id: str | None = None,
        ttl: float = 10.0,
        margin: float | None = None,
        max_partitions: int | None = None,
    ) -> None:
        self.cluster = cluster
        self.worker_id = check_name(worker_id or default_worker_id(), "worker_id")
        check_number(ttl, "ttl")
        if not (math.isfinite(ttl) and ttl >= 0.1):
            raise ValueError(f"ttl must be a finite number >= 0.1 s, got {ttl!r}")
        self.ttl = float(ttl)
        self.margin = self.ttl / 10 if margin is None else float(margin)
        if not 0 <= self.margin < self.ttl:
            raise ValueError(f"margin must be in [0, ttl), got {margin!r}")
        if max_partitions is not None and (not is_int(max_partitions) or max_partitions < 0):
            raise ValueError(f"max_partitions must be an int >= 0 or None, got {max_partitions!r}")
        self.max_partitions = max_partitions
        self.live_workers = 1
        #: Lease rounds that failed (Redis unreachable or refusing), since the start.
        self.failed_rounds = 0
        #: Whether the last lease round reached Redis.
        self.available = True
        #: Leases given up by the last ``release`` (``None``: none done, or it failed).
        self.released: int | None = None
        self._held: dict[int, Lease] = {}
        self._offset = zlib.crc32(self.worker_id.encode()) % cluster.partitions

    def __repr__(self) -> str:
        return f"LeaseKeeper({self.worker_id!r}, held={len(self.leases())})"

    def lease(self, partition: int) -> Lease | None:
        """Return the lease of ``partition`` if held and within its deadline."""
        lease = self._held.get(partition)
        return lease if lease is not None and self.cluster.clock() < lease.deadline else None

    def leases(self) -> dict[int, Lease]:
        """Return every lease held and within its deadline."""
        now = self.cluster.clock()
        return {p: lease for p, lease in self._held.items() if now < lease.deadline}

    async def tick(self) -> TickResult:
        """Do one lease round (one round trip).

        :raises ClusterUnavailableError: nothing changed locally; leases run out at their
            deadlines on their own.
        """
        cluster, k = self.cluster, self.cluster.keys
        keys = [k.members, k.fence, k.epoch, k.config, k.caps, k.partver]
        keys += [k.lease(p) for p in range(cluster.partitions)]
        held = sorted(self._held.items())
        args: list[object] = [
            self.worker_id,
            int(self.ttl * 1000),
            secrets.token_hex(8),
            cluster.partitions,
            -1 if self.max_partitions is None else self.max_partitions,
            self._offset,
            len(held),
        ]
        for part, lease in held:
            args += [part, lease.token]
        sent_at = self.cluster.clock()
        reply = await cluster.script("TICK", keys, args)
        if reply[0] == "config":
            cluster.check_config(reply[1])
            raise ClusterConfigError("unreachable")  # pragma: no cover - check_config raised
        _, epoch, created, live, now_ms, kept, acquired, released, lost, versions, behind = reply[
            :11
        ]
        extra = [*reply[11:13], [], []]  # (a script of before takeovers were named: none)
        taken_from, handed_from = _holders(extra[0]), _holders(extra[1])
        resets = cluster.resets
        cluster.observe(str(epoch), bool(created))
        deadline = sent_at + self.ttl - self.margin
        new = {p: Lease(p, t, self.worker_id, deadline) for p, t in _pairs(kept)}
        gained = tuple(Lease(p, t, self.worker_id, deadline) for p, t in _pairs(acquired))
        new.update((lease.partition, lease) for lease in gained)
        self._held = new
        self.live_workers = int(live)
        back = dict(_pairs(behind))
        if back and not cluster.resets > resets:  # (a wipe is reported as such)
            log.warning(
                "worker %s: the fencing counters of partition(s) %s in Redis went back (by %s) "
                "below tokens this worker held: Redis lost its latest writes (a failover to a "
                "replica that lagged, or a restart from an older snapshot); set back up",
                self.worker_id,
                ", ".join(map(str, back)),
                ", ".join(map(str, back.values())),
            )
        return TickResult(
            gained=gained,
            lost=tuple(int(p) for p in lost),
            released=tuple(int(p) for p in released),
            held=dict(new),
            live=int(live),
            reset=cluster.resets > resets,
            versions=dict(_pairs(versions)),
            now_ms=int(now_ms),
            behind=back,
            taken_from=taken_from,
            handed_from=handed_from,
        )

    async def release(self) -> None:
        """Give every lease up and leave the cluster's live workers (one round trip)."""
        held, self._held = self._held, {}
        cluster = self.cluster
        keys = [cluster.keys.members, cluster.keys.caps] + [cluster.keys.lease(p) for p in held]
        await cluster.script(
            "RELEASE", keys, [self.worker_id, *(lease.token for lease in held.values())]
        )
        self.released = len(held)

    async def run(
        self,
        on_tick: Callable[[TickResult], object] | None = None,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Do a round every ``ttl/3`` until cancelled (``ClusterConfigError`` ends it); while
        Redis fails, retry with jittered backoff (50 ms doubling to ``ttl/3``), logged once."""
        period = self.ttl / 3
        failures = 0
        started = False
        while True:
            try:
                result = await self.tick()
            except ClusterConfigError:
                raise
            except ClusterError as exc:  # unreachable, or refusing writes (OOM, read-only)
                failures += 1
                self.failed_rounds += 1
                self.available = False
                if failures == 1:
                    log.warning("worker %s: lease round failed: %s; retrying", self.worker_id, exc)
                delay = min(period, 0.05 * 2 ** min(failures, 20)) * random.uniform(0.5, 1.0)
            else:
                if failures:
                    log.warning("worker %s: lease rounds succeed again", self.worker_id)
                failures = 0
                self.available = True
                if on_tick is not None:
                    on_tick(result)
                delay = period
            if not started:
                started = True
                task_status.started()
            await anyio.sleep(delay)

    async def aclose(self) -> None:
        """Release the leases held (best effort: they expire after ``ttl`` otherwise)."""
        self.released = 0
        if self._held:
            self.released = None
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.cluster.timeout):
                try:
                    await self.release()
                except ClusterError:
                    log.warning(
                        "worker %s: could not release leases; they expire in %s s",
                        self.worker_id,
                        self.ttl,
                    )


def _holders(flat: list[object]) -> dict[int, str]:
    return {int(str(p)): str(w) for p, w in zip(flat[::2], flat[1::2], strict=True)}


def _pairs(flat: list[object]) -> list[tuple[int, int]]:
    values = [int(str(v)) for v in flat]
    return list(zip(values[::2], values[1::2], strict=True))


def ticks_to(send: MemoryObjectSendStream[TickResult]) -> Callable[[TickResult], None]:
    """Return ``on_tick`` for the lease keeper: hand each round to the worker's follower (a
    round landing once the follower closed its end, the worker leaving, is dropped)."""

    def on_tick(result: TickResult) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            send.send_nowait(result)

    return on_tick


@attrs.frozen
class Holders:
    """Who holds a cluster's partitions, as Redis said at one moment (read only).

    :param live: the workers whose heartbeat has not expired.
    :param leases: each partition asked about -> the worker holding its lease (``None``:
        nobody). A holder missing from ``live`` is silent: stalled or dead, its lease not
        lapsed yet.
    """

    live: frozenset[str]
    leases: Mapping[int, str | None]


async def read_holders(cluster: Plumbing, partitions: Iterable[int]) -> Holders:
    """Return the live workers and who holds each of ``partitions``, in one round trip."""
    parts = sorted(set(partitions))
    async with cluster.guard():
        pipe = cluster.redis.pipeline(transaction=False)
        # TIME of the node holding the cluster's keys (the one its scripts read), also on a
        # Redis Cluster, where a bare TIME goes to any node.
        pipe.eval("return redis.call('TIME')", 1, cluster.keys.members)
        pipe.zrange(cluster.keys.members, 0, -1, withscores=True)
        for part in parts:
            pipe.get(cluster.keys.lease(part))
        replies = await pipe.execute()
    (seconds, micros), members, leases = replies[0], replies[1], replies[2:]
    now = int(seconds) * 1000 + int(micros) // 1000
    live = frozenset(str(worker) for worker, expiry in members if expiry >= now)
    holders = {
        part: None if lease is None else str(lease).rsplit(":", 1)[0]
        for part, lease in zip(parts, leases, strict=True)
    }
    return Holders(live, holders)
