"""Child processes of the cluster tests (``python -m tests.cluster.procs MODE ...``).

Each prints results as lines on stdout, so the test can SIGSTOP, SIGCONT or SIGKILL it.

- ``hold URL WORKER TTL``: keep a fair share of the leases; print ``held P,P,...`` per round.
- ``fenced URL TTL``: take a lease, print ``ready P TOKEN``, then per line ``go`` on stdin try
  a fenced publish twice: through ``Cluster.publish`` (local deadline first) and straight to
  Redis (as if paused between that check and the send); print both outcomes.
- ``consume URL N``: read N events of watch ``deploys`` as consumer ``doomed``, acknowledge
  none, print ``read ID,ID,...`` and wait to be killed.
- ``rate URL LIMIT SECONDS``: take permits for SECONDS; print one JSON object: ``grants``, the
  grant times (Redis clock, us), ``asks``, its round trips to Redis for permits, and ``free``,
  the seconds it was not told to wait by the budget (the run's, less the waits the budget asked
  for: time a loaded machine takes beyond them counts as free).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bkjob_async.cluster import Cluster, LeaseKeeper, LeaseLostError, RateBudget
from bkjob_async.cluster._commit import Fenced


async def hold(url: str, worker: str, ttl: float) -> None:
    async with Cluster(url, "test", partitions=64, timeout=1.0) as cluster:
        keeper = LeaseKeeper(cluster, worker_id=worker, ttl=ttl)

        def show(result: object) -> None:
            print("held " + ",".join(str(p) for p in sorted(keeper.leases())), flush=True)

        await keeper.run(show)


async def fenced(url: str, ttl: float) -> None:
    async with Cluster(url, "test", partitions=64, timeout=1.0) as cluster:
        keeper = LeaseKeeper(cluster, worker_id="paused", ttl=ttl, max_partitions=1)
        result = await keeper.tick()
        lease = result.gained[0]
        await cluster.publish(lease, "deploys", {"n": 0}, event_id="before")
        print(f"ready {lease.partition} {lease.token}", flush=True)
        loop = asyncio.get_running_loop()
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "go":
            outcomes = []
            try:
                await cluster.publish(lease, "deploys", {"n": 1}, event_id="local")
                outcomes.append("local:published")
            except LeaseLostError as exc:
                outcomes.append(f"local:{exc.reason}")
            remote = Fenced(
                part=lease.partition, state={"s": "x"}, events=(("deploys", "remote", '{"n":2}'),)
            )
            try:
                await cluster.fenced_commit(lease, remote)
                outcomes.append("remote:published")
            except LeaseLostError as exc:
                outcomes.append(f"remote:{exc.reason}")
            print(" ".join(outcomes), flush=True)


async def consume(url: str, n: int) -> None:
    async with Cluster(url, "test", partitions=64, timeout=1.0) as cluster:
        stream = cluster.events("deploys", consumer="doomed", block=0.1)
        ids = [(await stream.__anext__()).event_id for _ in range(n)]
        print("read " + ",".join(ids), flush=True)
        await asyncio.sleep(3600)


async def rate(url: str, limit: float, seconds: float) -> None:
    # Redis's 10 s, as the tests' own clusters (conftest's make_cluster): at 1 s a loaded
    # machine's slow round trip fell back to the local bucket, whose permit has no Redis time.
    async with Cluster(url, "test", partitions=64, timeout=10.0) as cluster:
        told = 0.0  # the waits the budget asked for

        async def sleep(delay: float) -> None:
            nonlocal told
            told += delay
            await asyncio.sleep(delay)

        budget = RateBudget(cluster, limit=limit, sleep=sleep)
        asks = 0
        script = cluster.script

        async def counted(name: str, keys: list[str], args: list[object]) -> object:
            nonlocal asks
            asks += name == "PERMIT"
            return await script(name, keys, args)

        cluster.script = counted  # type: ignore[method-assign]
        grants = []
        began = time.monotonic()
        end = began + seconds
        while time.monotonic() < end:
            permit = await budget.acquire()
            if permit.sent_at is None:
                raise SystemExit("a permit came from the local bucket: Redis did not answer")
            grants.append(permit.sent_at)
        free = time.monotonic() - began - told
        print(json.dumps({"grants": grants, "asks": asks, "free": free}), flush=True)


def main() -> None:
    mode, url, *rest = sys.argv[1:]
    if mode == "hold":
        asyncio.run(hold(url, rest[0], float(rest[1])))
    elif mode == "fenced":
        asyncio.run(fenced(url, float(rest[0])))
    elif mode == "consume":
        asyncio.run(consume(url, int(rest[0])))
    elif mode == "rate":
        asyncio.run(rate(url, float(rest[0]), float(rest[1])))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
