"""Rollouts on virtual time: a cap, bk-job's running-job quota, exactly once, deadlines."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import anyio

from bkjob_async import (
    ApiFlavor,
    JobFinished,
    JobStatus,
    Poller,
    PollPolicy,
    TransportError,
    UnsupportedOperationError,
)
from bkjob_async.models.requests import Account, FileSource, Targets
from bkjob_async.polling import Launch
from bkjob_async.polling._decide import census_round
from bkjob_async.polling.rollouts import (
    Launched,
    LaunchFailed,
    LaunchTimedOut,
    RolloutDeadlineError,
    is_quota,
)
from bkjob_async.testing import MockTransport, Request, Response, json_response

from ..virtual import SCOPE, VirtualBkJob, now, run_virtual

LAUNCHES = ("fast_execute_script", "fast_transfer_file", "execute_job_plan")
RUNNING = (JobStatus.BLANK, JobStatus.RUNNING)


def script(text: str = "echo hi", **kwargs: Any) -> Launch:
    return Launch.script(
        targets=Targets(host_ids=[1001]),
        account=Account(alias="root"),
        script_content=text,
        **kwargs,
    )


class Quota:
    """In front of the simulator: bk-job's running-job quota per scope (1244032), counted from
    the simulator's own jobs; and answers of launches dropped after the job was created."""

    def __init__(self, server: VirtualBkJob, limit: int | None, drop: float = 0.0, seed: int = 1):
        self.server, self.limit, self.drop = server, limit, drop
        self.rng = random.Random(seed)
        self.refused = self.dropped = self.launches = self.peak = 0
        self.transport = MockTransport(self._send)
        self._lock = anyio.Lock()  # (bk-job counts and creates in one step)

    def running(self) -> int:
        sim = self.server.sim
        return sum(1 for job_id in sim.job_ids() if sim.job(job_id).status in RUNNING)

    async def _send(self, request: Request) -> Response:
        async with self._lock if request.api in LAUNCHES else _nothing():
            if request.api in LAUNCHES:
                self.launches += 1
                if self.limit is not None and self.running() >= self.limit:
                    self.refused += 1
                    return json_response(
                        {"result": False, "code": 1244032, "message": "quota", "data": None}
                    )
            response = await self.server.transport.send(request)
            if request.api in LAUNCHES:
                self.peak = max(self.peak, self.running())
        if request.api in LAUNCHES and self.rng.random() < self.drop:
            self.dropped += 1
            raise TransportError("connection reset after the request was sent")
        return response


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def names(server: VirtualBkJob) -> Counter[str]:
    sim = server.sim
    return Counter(sim.job(job_id).name for job_id in sim.job_ids())


async def run(
    server: VirtualBkJob,
    launches: dict[str, Launch],
    transport: MockTransport | None = None,
    **rollout: Any,
) -> tuple[list[Any], Any, float]:
    events: list[Any] = []
    async with (
        server.client(transport) as client,
        Poller(client) as poller,
        poller.rollout(SCOPE, key="r1", **rollout) as ro,
    ):
        for key, launch in launches.items():
            assert ro.submit(key, launch)
        events.extend([event async for event in ro])
        return events, ro.statistics(), now()


def by_kind(events: list[Any]) -> Counter[str]:
    return Counter(type(e).__name__ for e in events)


def test_a_rollout_keeps_its_cap_and_launches_every_key_once() -> None:
    server = VirtualBkJob(host_duration=(10, 120), seed=3)
    launches = {f"k{i}": script() for i in range(30)}
    events, stats, _ = run_virtual(lambda: run(server, launches, max_running=5))
    launched = [e for e in events if isinstance(e, Launched)]
    assert sorted(e.key for e in launched) == sorted(launches)
    finished = {e.job_instance_id for e in events if isinstance(e, JobFinished)}
    assert finished == {e.job_instance_id for e in launched}
    assert stats.peak_running == 5
    assert len(server.sim.job_ids()) == 30  # one job a key
    assert all(count == 1 for count in names(server).values())
    assert all("[rollout r1/k" in name for name in names(server))


def test_a_slot_is_refilled_as_a_job_ends_without_a_request_more() -> None:
    server = VirtualBkJob(host_duration=(10, 120), seed=4)
    quota = Quota(server, None)
    launches = {f"k{i}": script() for i in range(12)}

    async def main() -> list[tuple[float, Any]]:
        seen: list[tuple[float, Any]] = []
        async with (
            server.client(quota.transport) as client,
            Poller(client) as poller,
            poller.rollout(SCOPE, key="r1", max_running=3) as ro,
        ):
            for key, launch in launches.items():
                ro.submit(key, launch)
            async for event in ro:
                seen.append((now(), event))
            assert ro.statistics().lookups == 0
        return seen

    seen = run_virtual(main)
    ends = [at for at, e in seen if isinstance(e, JobFinished)]
    starts = [at for at, e in seen if isinstance(e, Launched)]
    assert len(ends) == len(starts) == 12
    assert quota.peak <= 3
    assert quota.launches == 12
    # after the first three, each launch follows the end of one of ours at once
    for start, end in zip(starts[3:], ends[:9], strict=True):
        assert 0 <= start - end < 0.5


def test_a_quota_refusal_holds_launches_until_one_of_ours_ends() -> None:
    server = VirtualBkJob(host_duration=(10, 120), seed=5)
    quota = Quota(server, 6)
    launches = {f"k{i}": script() for i in range(60)}
    events, stats, _ = run_virtual(lambda: run(server, launches, quota.transport))
    assert by_kind(events)["Launched"] == 60
    assert by_kind(events)["LaunchFailed"] == 0
    assert quota.peak <= 6
    assert len(server.sim.job_ids()) == 60
    # the creates in flight when the quota was learned (4 at most), then a probe a while, each
    # twice as late as the last: not one refusal a slot
    assert 1 <= stats.quota_refusals <= 8
    assert stats.launch_requests == 60 + stats.quota_refusals


def test_a_quota_refusal_with_none_of_ours_running_backs_off() -> None:
    server = VirtualBkJob(host_duration=(10, 120), seed=6)
    quota = Quota(server, 0)

    async def main() -> tuple[int, float]:
        async with (
            server.client(quota.transport) as client,
            Poller(client) as poller,
            poller.rollout(SCOPE, key="r1") as ro,
        ):
            ro.submit("k", script())
            with anyio.move_on_after(300):
                async for _ in ro:
                    pass
            return ro.statistics().quota_refusals, ro.gate.retry_at - now()

    refused, _ = run_virtual(main)
    # backing off 1, 2, 4 ... 30 s, each x0.5-1.5 (unseeded): a handful of tries in 5 minutes,
    # not hundreds. All jitter at 0.5x: refusals at 0, 0.5, 1.5, 3.5, 7.5, 15.5 s, then every
    # 15 s: 24. All at 1.5x: at 0, 1.5, 4.5, 10.5, 22.5, 46.5 s, then every 45 s: 11.
    assert 10 <= refused <= 25


def test_is_quota_tells_the_quota_from_a_rate_limit() -> None:
    from bkjob_async import QuotaExceededError, RateLimitedError

    assert is_quota(QuotaExceededError("quota", code=1244033))
    assert is_quota(QuotaExceededError("v4", code_name="RESOURCE_EXHAUSTED", http_status=429))
    assert not is_quota(RateLimitedError("rate", code=1306429))
    assert not is_quota(RateLimitedError("rate", http_status=429))


def test_on_the_simulators_quota_and_lost_answers_every_key_runs_once() -> None:
    """bk-job's own quota (the simulator's, a slot from creation to end) and 5% of launch
    answers lost after the job was created (``Fault.reset``)."""
    from bkjob_async.testing import Fault, RunningJobQuota

    server = VirtualBkJob(host_duration=(10, 60), seed=14, quota=RunningJobQuota(scope=10))
    server.sim.inject(Fault.reset(), api="fast_execute_script", times=None, rate=0.05)
    launches = {f"k{i}": script() for i in range(100)}
    events, stats, _ = run_virtual(lambda: run(server, launches))
    names_ = names(server)
    assert len(names_) == 100
    assert all(count == 1 for count in names_.values())
    assert server.sim.peak_running(SCOPE) <= 10
    assert server.sim.statistics().quota_refused == stats.quota_refusals
    assert stats.quota_refusals <= 10
    assert stats.lookups >= 1
    assert sorted(e.key for e in events if isinstance(e, Launched)) == sorted(launches)
    assert {server.sim.job(i).status for i in server.sim.job_ids()} == {JobStatus.SUCCESS}


def test_the_v4_gateways_quota_holds_launches_too() -> None:
    from bkjob_async.testing import RunningJobQuota

    server = VirtualBkJob(host_duration=(10, 60), seed=15, quota=RunningJobQuota(scope=3))
    client = server.client(flavor=ApiFlavor.APIGW_V4)

    async def main() -> Any:
        async with client, Poller(client) as poller, poller.rollout(SCOPE, key="r") as ro:
            for i in range(12):
                ro.submit(f"k{i}", script())
            events = [e async for e in ro]
            return events, ro.statistics()

    events, stats = run_virtual(main)
    assert by_kind(events)["Launched"] == 12
    assert server.sim.peak_running(SCOPE) <= 3
    assert 1 <= stats.quota_refusals <= 6
    assert len(server.sim.job_ids()) == 12


def test_lost_answers_launch_no_key_twice() -> None:
    server = VirtualBkJob(host_duration=(10, 60), seed=7)
    quota = Quota(server, 8, drop=0.3, seed=7)
    launches = {f"k{i}": script() for i in range(40)}
    events, stats, _ = run_virtual(lambda: run(server, launches, quota.transport))
    assert quota.dropped >= 5
    assert sorted(e.key for e in events if isinstance(e, Launched)) == sorted(launches)
    assert len(server.sim.job_ids()) == 40
    assert all(count == 1 for count in names(server).values())
    assert stats.lookups >= quota.dropped - quota.refused
    assert all(server.sim.job(i).status == JobStatus.SUCCESS for i in server.sim.job_ids())


def test_a_key_whose_name_has_like_wildcards_is_found_exactly() -> None:
    server = VirtualBkJob(host_duration=(10, 60), seed=8)
    quota = Quota(server, None, drop=1.0, seed=8)  # every create's answer is lost
    launches = {"a_1": script(), "a%1": script(), "ab1": script()}
    events, stats, _ = run_virtual(lambda: run(server, launches, quota.transport))
    assert sorted(e.key for e in events if isinstance(e, Launched)) == sorted(launches)
    assert len(server.sim.job_ids()) == 3
    assert stats.lookups == 3


def test_an_invalid_launch_fails_its_key_alone_before_any_request() -> None:
    server = VirtualBkJob(host_duration=(10, 60), seed=9)
    quota = Quota(server, None)
    launches = {"good": script(), "long": script(task_name="x" * 500), "also": script()}
    events, _, _ = run_virtual(lambda: run(server, launches, quota.transport))
    failed = [e for e in events if isinstance(e, LaunchFailed)]
    assert [e.key for e in failed] == ["long"]
    assert isinstance(failed[0].error, ValueError)
    assert quota.launches == 2


def test_a_flavor_that_cannot_send_a_launch_fails_that_key() -> None:
    server = VirtualBkJob(host_duration=(10, 60), seed=9)
    transfer = Launch.file_transfer(
        targets=Targets(host_ids=[1001]),
        account=Account(alias="root"),
        file_target_path="/tmp",
        file_sources=[FileSource(files=["/a"], server=Targets(host_ids=[1002]))],
    )
    client = server.client(flavor=ApiFlavor.APIGW_V4)

    async def main() -> list[Any]:
        async with client, Poller(client) as poller, poller.rollout(SCOPE, key="r") as ro:
            ro.submit("file", transfer)
            ro.submit("script", script())
            return [e async for e in ro]

    events = run_virtual(main)
    failed = [e for e in events if isinstance(e, LaunchFailed)]
    assert [(e.key, type(e.error)) for e in failed] == [("file", UnsupportedOperationError)]
    assert [e.key for e in events if isinstance(e, Launched)] == ["script"]


def test_exactly_once_refuses_plans_with_a_clear_error() -> None:
    server = VirtualBkJob(host_duration=(10, 60), seed=9)

    async def main() -> list[Any]:
        async with (
            server.client() as client,
            Poller(client) as poller,
            poller.rollout(SCOPE, key="r", exactly_once=True) as ro,
        ):
            ro.submit("plan", Launch.job_plan(1))
            return [e async for e in ro]

    (event,) = run_virtual(main)
    assert isinstance(event, LaunchFailed)
    assert isinstance(event.error, UnsupportedOperationError)
    assert "task name" in str(event.error)
    assert server.sim.job_ids() == []


def test_a_key_is_never_held_twice() -> None:
    server = VirtualBkJob(host_duration=(10, 60), seed=10)

    async def main() -> tuple[list[bool], list[Any]]:
        async with (
            server.client() as client,
            Poller(client) as poller,
            poller.rollout(SCOPE, key="r") as ro,
        ):
            said = [ro.submit("k", script()), ro.submit("k", script("other"))]
            events = [e async for e in ro]
            said.append(ro.submit("k", script()))  # ended: not again either
            events += [e async for e in ro]
            return said, events

    said, events = run_virtual(main)
    assert said == [True, False, False]
    assert by_kind(events)["Launched"] == 1
    assert len(server.sim.job_ids()) == 1


def test_a_deadline_stops_running_jobs_and_fails_keys_not_launched() -> None:
    server = VirtualBkJob(host_duration=(20, 200), seed=11, hosts=1)
    hosts = Targets(host_ids=list(range(1001, 1011)))
    launch = Launch.script(targets=hosts, account=Account(alias="root"), script_content="x")
    launches = {f"k{i}": launch for i in range(4)}
    events, _, ended_at = run_virtual(lambda: run(server, launches, max_running=2, deadline=60))
    timed_out = [e for e in events if isinstance(e, LaunchTimedOut)]
    failed = [e for e in events if isinstance(e, LaunchFailed)]
    assert len(timed_out) + len(failed) + by_kind(events)["JobFinished"] >= 4
    assert timed_out, "some job ran past the deadline"
    assert all(isinstance(e.error, RolloutDeadlineError) for e in failed)
    for event in timed_out:
        assert event.terminated
        assert event.snapshot is not None
        view = server.sim.job(event.job_instance_id)
        assert view.status in (JobStatus.TERMINATED, JobStatus.STOP_SUCCESS, JobStatus.SUCCESS)
        told = {h.host.bk_host_id: h.status for s in event.snapshot.steps for h in s.hosts}
        truth = {h.bk_host_id: h.status for s in view.steps for h in s.hosts}
        assert told == truth  # read after the stop: hosts that finished count as finished
    assert ended_at < 60 + 130


def test_a_deadline_may_leave_jobs_running() -> None:
    server = VirtualBkJob(host_duration=(100, 200), seed=12)

    async def main() -> list[Any]:
        async with (
            server.client() as client,
            Poller(client) as poller,
            poller.rollout(SCOPE, key="r", on_deadline="leave") as ro,
        ):
            ro.submit("k", script(), deadline=30)
            return [e async for e in ro]

    events = run_virtual(main)
    (timed_out,) = [e for e in events if isinstance(e, LaunchTimedOut)]
    assert not timed_out.terminated
    assert timed_out.snapshot is not None
    assert timed_out.snapshot.job.status == JobStatus.RUNNING
    assert server.sim.request_count("operate_job_instance") == 1  # the START alone


def test_a_rollout_of_ends_only_leaves_its_jobs_to_the_job_list() -> None:
    server = VirtualBkJob(host_duration=(5, 20), seed=13)
    launches = {f"k{i}": script() for i in range(10)}
    events, _, _ = run_virtual(lambda: run(server, launches, max_running=5, events=(JobFinished,)))
    assert by_kind(events) == {"Launched": 10, "JobFinished": 10}
    # one status read a job (its final snapshot); the list follows them while they run
    assert server.sim.request_count("get_job_instance_status") <= 10
    assert server.sim.request_count("get_job_instance_list") >= 1


def test_refills_read_the_job_list_once_a_round_not_once_a_launch() -> None:
    # Each refill launches a job whose row would only say that it runs: the census reads it
    # at its next round, with the others, not soon after each launch (about twice a round).
    server = VirtualBkJob(host_duration=(5, 20), seed=21)
    launches = {f"k{i}": script() for i in range(40)}
    events, _, ended = run_virtual(
        lambda: run(server, launches, max_running=5, events=(JobFinished,))
    )
    assert by_kind(events) == {"Launched": 40, "JobFinished": 40}
    rounds = ended / census_round(PollPolicy())
    assert rounds > 10
    assert server.sim.request_count("get_job_instance_list") <= rounds + 2
