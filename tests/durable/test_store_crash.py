"""SIGKILL a process writing through ``SqliteStore`` at random moments, some mid-transaction.

The child (``_store_crash_child.py``) commits observations round-robin over 200 jobs and acks each
event once its commit is durable. After every kill the store is reopened at once (the lock
died with its holder) and checked: the durable commits are exactly a prefix of the call
order (no partial transaction, nothing reported durable lost), no event exists without its
state, every event the child never acked is still pending, and no acked event came back.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import anyio
import pytest

from bkjob_async import SqliteStore

from ..child import Child
from .conftest import BIZ

CHILD = Path(__file__).with_name("_store_crash_child.py")
JOBS = 200
#: Kills in ``make test``; the long form (``slow``) kills twice as often.
KILLS = 6


def _kill_at_random(child: Child, rng: random.Random, mid_commit: bool) -> None:
    child.wait_for(lambda line: line.startswith("ready"))
    if mid_commit:  # it kills itself in its next write transaction, before the commit
        time.sleep(rng.uniform(0.05, 0.3))
        child.tell("arm")
        child.wait(timeout=60)
    else:
        time.sleep(rng.uniform(0.01, 0.5))
        child.kill()


def _check(path: Path, seen: dict[str, set[int]]) -> int:
    """Reopen the store right after a kill; check it; return the durable prefix length."""

    async def load():  # type: ignore[no-untyped-def]
        async with SqliteStore(path) as store:
            return await store.load("crash")

    stored = anyio.run(load)
    assert stored is not None
    assert list(stored.jobs) == [(BIZ, j) for j in range(JOBS)]
    last = {key[1]: (s["k"] if s is not None else None) for key, s in stored.jobs.items()}
    prefix = max((k for k in last.values() if k is not None), default=-1) + 1
    for job, k in last.items():
        expected = max((i for i in range(job, prefix, JOBS)), default=None)
        assert k == expected, f"job {job}: state {k}, a prefix of {prefix} commits gives {expected}"
    assert prefix > max(seen["D"], default=-1), "a commit reported durable was lost"
    pending = [int(e.event_id) for e in stored.pending]
    assert pending == sorted(pending), "pending events out of commit order"
    assert all(k < prefix for k in pending), "an event is stored without its state"
    assert not set(pending) & seen["A"], "an acknowledged event came back"
    missing = set(range(prefix)) - set(pending) - seen["D"] - seen["R"]
    assert not missing, f"events gone that were never acked: {sorted(missing)[:5]}"
    return prefix


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "kills",
    [pytest.param(KILLS, id="short"), pytest.param(2 * KILLS, id="long", marks=pytest.mark.slow)],
)
def test_sigkill_at_random_moments_loses_nothing_durable(tmp_path: Path, kills: int) -> None:
    rng = random.Random(20261122)
    path = tmp_path / "crash.db"
    seen: dict[str, set[int]] = {"D": set(), "R": set(), "A": set()}
    prefixes, mid_commit_kills = [], 0
    for n in range(kills):
        with Child([str(CHILD), str(path), str(JOBS), str(n)]) as child:
            _kill_at_random(child, rng, mid_commit=n % 2 == 1)
        trace = [line for line in child.lines if line in ("B", "E")]
        mid_commit_kills += bool(trace) and trace[-1] == "B"
        for line in child.lines:
            kind, _, value = line.partition(" ")
            if kind in seen:
                seen[kind].add(int(value))
        prefixes.append(_check(path, seen))
    print("prefixes", prefixes, "mid-commit kills", mid_commit_kills)
    assert prefixes == sorted(prefixes)
    assert prefixes[-1] > 10 * JOBS, f"too little written to prove anything: {prefixes}"
    assert mid_commit_kills >= kills // 2, (
        f"only {mid_commit_kills} kills landed inside a transaction"
    )
