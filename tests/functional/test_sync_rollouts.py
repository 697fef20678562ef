"""``bkjob_async.sync``'s rollout: the async rollout for Celery and Django, against the simulator.

The simulator is served on 127.0.0.1 from a loop thread of its own; the rollout runs in the sync
facade's loop thread and the test submits and iterates from its own thread, as a Celery task
does: a cap, bk-job's running-job quota refusing launches, a launch whose answer is lost, and a
rollout stopped and opened again on a SQLite store, each key launched once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal

from bkjob_async import JobFinished, JobStatus, PollPolicy, Scope, SqliteStore
from bkjob_async.models.requests import Account, Targets
from bkjob_async.polling import Launch, Launched, LaunchFailed
from bkjob_async.sync import BkJobClient, Poller, Rollout
from bkjob_async.testing import BkJobSimulator, Fault, RunningJobQuota

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}
QUICK = PollPolicy(interval=0.05, max_interval=0.1)
LAUNCH = Launch.script(
    targets=Targets(host_ids=[1001]), account=Account(alias="root"), script_content="echo"
)


class Served:
    """A simulator on 127.0.0.1, run by a loop in a thread of its own."""

    def __init__(self, portal: Any, sim: BkJobSimulator) -> None:
        self.portal, self.sim, self.url = portal, sim, sim.url

    def names(self) -> Counter[str]:
        def read() -> Counter[str]:
            sim = self.sim
            return Counter(sim.job(i).name for i in sim.job_ids())

        found: Counter[str] = self.portal.call(read)
        return found

    def statuses(self) -> set[JobStatus]:
        def read() -> set[JobStatus]:
            return {self.sim.job(i).status for i in self.sim.job_ids()}

        found: set[JobStatus] = self.portal.call(read)
        return found


def served_with(**options: Any) -> Iterator[Served]:
    with start_blocking_portal() as portal:
        sim = BkJobSimulator(host_duration=(0.05, 0.2), host_start_delay=0.0, **options)
        portal.call(sim.__aenter__)
        try:
            yield Served(portal, sim)
        finally:
            portal.call(sim.__aexit__, None, None, None)


@pytest.fixture
def served() -> Iterator[Served]:
    yield from served_with()


@pytest.fixture
def quota() -> Iterator[Served]:
    yield from served_with(quota=RunningJobQuota(scope=2))


def test_a_sync_rollout_keeps_its_cap_and_launches_each_key_once(served: Served) -> None:
    keys = [f"host-{i}" for i in range(8)]
    with (
        BkJobClient(served.url, **CREDENTIALS) as client,
        Poller(client, policy=QUICK) as poller,
        poller.rollout(SCOPE, key="deploy", max_running=3, timeout=30) as rollout,
    ):
        assert isinstance(rollout, Rollout)
        assert all(rollout.submit(key, LAUNCH) for key in keys)
        assert rollout.submit(keys[0], LAUNCH) is False  # a key is never held twice
        events = list(rollout)
        stats = rollout.statistics()
    launched = {e.key: e.job_instance_id for e in events if isinstance(e, Launched)}
    assert sorted(launched) == keys
    finished = {e.job_instance_id for e in events if isinstance(e, JobFinished)}
    assert finished == set(launched.values())
    assert stats.launched == 8
    assert stats.ended == 8
    assert 1 <= stats.peak_running <= 3
    names = served.names()
    assert sorted(names) == sorted(f"rollout [rollout deploy/{k}]" for k in keys)
    assert set(names.values()) == {1}


def test_a_quota_refusal_holds_launches_until_a_job_ends(quota: Served) -> None:
    keys = [f"k{i}" for i in range(6)]
    with (
        BkJobClient(quota.url, **CREDENTIALS) as client,
        Poller(client, policy=QUICK) as poller,
        poller.rollout(SCOPE, key="q", timeout=30) as rollout,
    ):
        for key in keys:
            rollout.submit(key, LAUNCH)
        events = list(rollout)
        stats = rollout.statistics()
    assert sorted(e.key for e in events if isinstance(e, Launched)) == keys
    assert not [e for e in events if isinstance(e, LaunchFailed)]
    assert stats.quota_refusals >= 1  # (no cap of its own: bk-job's quota of 2 refused some)
    peak = quota.portal.call(lambda: quota.sim.peak_running(SCOPE))
    assert peak <= 2
    assert set(quota.names().values()) == {1}


def test_bad_arguments_are_refused_in_the_calling_thread(served: Served) -> None:
    with BkJobClient(served.url, **CREDENTIALS) as client, Poller(client, policy=QUICK) as poller:
        with pytest.raises(ValueError, match="max_running"):
            poller.rollout(SCOPE, key="r", max_running=0)
        rollout = poller.rollout(SCOPE, key="r", timeout=0.05)
        with pytest.raises(RuntimeError, match=r"inside 'with poller\.rollout"):
            rollout.submit("a", LAUNCH)
        with rollout:
            with pytest.raises(TypeError, match="must be a Launch"):
                rollout.submit("a", "echo")  # type: ignore[arg-type]
            assert list(rollout) == []  # nothing submitted: it has ended
            with pytest.raises(RuntimeError, match="entered only once"):
                rollout.__enter__()
        with pytest.raises(RuntimeError, match="closed"):
            rollout.submit("a", LAUNCH)
    assert served.names() == Counter()


def test_each_event_waits_at_most_timeout_and_the_rollout_goes_on(served: Served) -> None:
    slow = Launch.script(
        targets=Targets(host_ids=[1001]),
        account=Account(alias="root"),
        script_content="sleep",
    )
    with BkJobClient(served.url, **CREDENTIALS) as client, Poller(client, policy=QUICK) as poller:
        served.portal.call(lambda: served.sim.inject(Fault.delay(1.0), api="fast_execute_script"))
        with poller.rollout(SCOPE, key="t", timeout=0.2) as rollout:
            rollout.submit("a", slow)
            with pytest.raises(TimeoutError):
                next(rollout)
            rollout.timeout = 30
            kinds = [type(e).__name__ for e in rollout]
    assert kinds[0] == "Launched"
    assert kinds[-1] == "JobFinished"


def test_closing_the_poller_stops_an_open_rollout(served: Served) -> None:
    client = BkJobClient(served.url, **CREDENTIALS)
    poller = Poller(client, policy=QUICK)
    rollout = poller.rollout(SCOPE, key="c", max_running=1)
    rollout.__enter__()
    rollout.submit("a", LAUNCH)
    poller.close()  # (the rollout's task in the loop thread ends with it: nothing hangs)
    with pytest.raises(RuntimeError, match="closed"):
        next(rollout)
    client.close()


def test_exactly_once_on_a_sqlite_store_across_a_lost_answer_and_a_restart(
    served: Served, tmp_path: Path
) -> None:
    keys = [f"host-{i}" for i in range(6)]
    path = tmp_path / "rollouts.db"
    # The first create's answer is lost after bk-job made the job: found by its name, started.
    served.portal.call(lambda: served.sim.inject(Fault.reset(), api="fast_execute_script"))
    told: Counter[str] = Counter()
    with BkJobClient(served.url, **CREDENTIALS) as client:
        with (
            Poller(client, policy=QUICK, store=SqliteStore(path)) as poller,
            poller.rollout(SCOPE, key="deploy", max_running=2, timeout=30) as rollout,
        ):
            for key in keys:
                rollout.submit(key, LAUNCH)
            for event in rollout:  # stopped after two launches: the rest waits in the file
                if isinstance(event, Launched):
                    told[event.key] += 1
                    if sum(told.values()) == 2:
                        break
            first = rollout.statistics()
        with (
            Poller(client, policy=QUICK, store=SqliteStore(path)) as poller,
            poller.rollout(SCOPE, key="deploy", max_running=2, timeout=30) as rollout,
        ):
            for key in keys:  # submitted again, as a restarted task does
                rollout.submit(key, LAUNCH)
            for event in rollout:
                if isinstance(event, Launched):
                    told[event.key] += 1
            second = rollout.statistics()
    # The lost answer was looked up by name (after the restart, if the stop came first).
    assert first.lookups + second.lookups >= 1
    names = served.names()
    assert sorted(names) == sorted(f"rollout [rollout deploy/{k}]" for k in keys)
    assert set(names.values()) == {1}  # no key launched twice
    assert served.statuses() == {JobStatus.SUCCESS}  # none created and never started
    assert set(told) == set(keys)


def test_the_sync_rollout_has_the_async_ones_parameters() -> None:
    import inspect

    from bkjob_async import Poller as AsyncPoller

    mine = dict(inspect.signature(Poller.rollout).parameters)
    assert mine.pop("timeout").default is None
    theirs = inspect.signature(AsyncPoller.rollout).parameters
    assert list(mine) == list(theirs)
    assert all(mine[n].default == theirs[n].default for n in theirs)
