"""The poll engine against the simulator: bk-job's histories, operations, faults, and scale.

The simulator runs on its virtual clock; a driver task advances it while the poller polls in
real time, so every history is exact and quick.
"""

from __future__ import annotations

import itertools
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from bkjob_async import (
    BkJobClient,
    HostStatus,
    HostTransition,
    JobFinished,
    JobOperation,
    JobTransition,
    Poller,
    PollPolicy,
    StepOperation,
    StepTransition,
    StepType,
    WatchFailed,
)
from bkjob_async.polling._turn import Turn
from bkjob_async.testing import BkJobSimulator, Fault, HostPlan, RollingMode, StepPlan

from ..scripted import SCOPE, describe
from .conftest import read_to_end, ticking

POLICY = PollPolicy(interval=0.005, max_interval=0.02, max_in_flight=16, poll_timeout=5.0)


@pytest.fixture
async def sim() -> AsyncIterator[BkJobSimulator]:
    # Operations apply 0.5 s (two lockstep ticks) after their answer, as bk-job's queue does:
    # the state in between (job 2, step unchanged) is then always seen exactly once.
    async with BkJobSimulator(
        virtual_clock=True, seed=7, retry_lag=0.5, operation_lag=0.5
    ) as simulator:
        yield simulator


@pytest.fixture(params=["apigw-v3", "esb-jobv3", "esb-v2"])
async def client(request, sim: BkJobSimulator) -> AsyncIterator[BkJobClient]:
    async with BkJobClient(
        sim.url, app_code="app", app_secret="s3cret", username="admin", flavor=request.param
    ) as c:
        yield c


def hosts(*outcomes: int, duration: float = 1.0) -> list[HostPlan]:
    return [
        HostPlan(outcome=o, duration=(duration, duration), start_delay=(0.0, 0.0)) for o in outcomes
    ]


async def follow(
    sim: BkJobSimulator,
    watch,
    react: Callable[[object], object] | None = None,
    *,
    tick: float = 0.25,
) -> list:
    """Read ``watch`` to its end while the virtual clock moves ``tick`` s per 10 ms."""
    # A net for a hung watch, not a speed check: a thousand jobs take 8 s alone, and more than
    # 20 on a machine loaded 15-fold (virtual time moves by wall-clock ticks). 45 s is under the
    # per-test timeout, 60 s.
    return await read_to_end(watch, ticking(sim, tick), react, within=45)


def statuses(events: list) -> list[tuple]:
    out = []
    for e in events:
        if isinstance(e, JobTransition):
            out.append(("job", e.current.name))
        elif isinstance(e, StepTransition):
            out.append(("step", e.step_instance_id, e.execute_count, e.current.name))
        elif isinstance(e, JobFinished):
            out.append(("finished", e.status.name))
    return out


def host_paths(events: list) -> dict:
    paths: dict = defaultdict(list)
    for e in events:
        if isinstance(e, HostTransition):
            paths[(e.step_instance_id, e.host.key)].append((e.execute_count, int(e.current)))
    return dict(paths)


async def test_success_reports_every_host_and_ends_with_the_snapshot(sim, client) -> None:
    job = sim.create_job(SCOPE, [StepPlan(StepType.SCRIPT, hosts=hosts(9, 9, 9))])
    async with Poller(client, policy=POLICY) as poller:
        events = await follow(sim, poller.watch_job(SCOPE, job))
    assert statuses(events)[-3:] == [
        ("step", statuses(events)[-3][1], 0, "SUCCESS"),
        ("job", "SUCCESS"),
        ("finished", "SUCCESS"),
    ]
    paths = host_paths(events)
    assert len(paths) == 3
    assert all(path[-1] == (0, 9) for path in paths.values())
    finished = events[-1]
    assert isinstance(finished, JobFinished)
    assert [h.status for h in finished.snapshot.steps[0].hosts] == [9, 9, 9]


async def test_ignore_error_continues_to_the_next_step(sim, client) -> None:
    job = sim.create_job(
        SCOPE,
        [StepPlan(StepType.SCRIPT, hosts=hosts(9, 104)), StepPlan(StepType.SCRIPT, hosts=hosts(9))],
    )
    done = []

    async def react(event) -> None:
        if isinstance(event, JobFinished) and not done:
            done.append(event)

    async with Poller(client, policy=POLICY) as poller:
        first = await follow(sim, poller.watch_job(SCOPE, job), react)
        assert statuses(first)[-1] == ("finished", "FAIL")
        step1 = first[-1].snapshot.steps[0].step_instance_id
        await client.operate_step_instance(SCOPE, job, step1, StepOperation.IGNORE_ERROR)
        second = await follow(sim, poller.watch_job(SCOPE, job))
    flow = statuses(second)
    # The answer sets the job running; the step changes when bk-job's queue applies it.
    assert flow[0] == ("job", "RUNNING")
    assert flow.index(("step", step1, 0, "IGNORE_ERROR")) < flow.index(("job", "SUCCESS"))
    assert statuses(second)[-2:] == [("job", "SUCCESS"), ("finished", "SUCCESS")]
    # The first step's hosts did not change again: nothing about them is repeated.
    assert all(step != step1 for step, _ in host_paths(second))


async def test_manual_confirm_waits_then_continues(sim, client) -> None:
    job = sim.create_job(
        SCOPE,
        [StepPlan(StepType.MANUAL_CONFIRM), StepPlan(StepType.SCRIPT, hosts=hosts(9))],
    )
    confirmed = []

    async def react(event) -> None:
        if (
            isinstance(event, JobTransition)
            and event.current.name == "WAITING_USER"
            and not confirmed
        ):
            confirmed.append(event)
            status = await client.get_job_instance_status(SCOPE, job)
            await client.operate_step_instance(
                SCOPE, job, status.steps[0].step_instance_id, StepOperation.CONFIRM_CONTINUE
            )

    async with Poller(client, policy=POLICY) as poller:
        events = await follow(sim, poller.watch_job(SCOPE, job), react)
    flow = statuses(events)
    assert ("job", "WAITING_USER") in flow
    assert ("job", "RUNNING") in flow[flow.index(("job", "WAITING_USER")) :], flow
    assert flow[-1] == ("finished", "SUCCESS")


async def test_terminate_goes_through_stopping(sim, client) -> None:
    job = sim.create_job(SCOPE, [StepPlan(StepType.SCRIPT, hosts=hosts(9, 9, duration=30.0))])
    sent = []

    async def react(event) -> None:
        if isinstance(event, HostTransition) and event.current == HostStatus.RUNNING and not sent:
            sent.append(event)
            await client.operate_job_instance(SCOPE, job, JobOperation.TERMINATE)

    async with Poller(client, policy=POLICY) as poller:
        events = await follow(sim, poller.watch_job(SCOPE, job), react, tick=0.05)
    flow = statuses(events)
    assert flow[-1] == ("finished", "STOP_SUCCESS")
    assert ("job", "STOPPING") in flow  # 10, then 11


async def test_retry_failed_round_reads_failed_waiting_running_success(sim, client) -> None:
    plan = [HostPlan(outcome=9, duration=(1.0, 1.0), start_delay=(0.0, 0.0))]
    plan.append(
        HostPlan(outcome=104, retry_outcomes=(9,), duration=(1.0, 1.0), start_delay=(0.0, 0.0))
    )
    job = sim.create_job(SCOPE, [StepPlan(StepType.SCRIPT, hosts=plan)])
    async with Poller(client, policy=POLICY) as poller:
        first = await follow(sim, poller.watch_job(SCOPE, job))
        step = first[-1].snapshot.steps[0].step_instance_id
        await client.operate_step_instance(SCOPE, job, step, StepOperation.RETRY_FAILED)
        second = await follow(sim, poller.watch_job(SCOPE, job), tick=0.05)
    failed_key = next(k for k, path in host_paths(first).items() if path[-1] == (0, 104))
    retried = host_paths(second)
    assert list(retried) == [failed_key]  # the succeeded host was copied: it says nothing
    assert [status for _, status in retried[failed_key]][-1] == 9
    assert all(count == 1 for count, _ in retried[failed_key])
    assert statuses(second)[0] == ("job", "RUNNING")
    assert statuses(second)[-1] == ("finished", "SUCCESS")


async def test_rolling_step_waits_for_the_user_between_batches(sim, client) -> None:
    step_plan = StepPlan(
        StepType.SCRIPT,
        hosts=hosts(9, 9, 9, 9),
        rolling_batch_size=2,
        rolling_mode=RollingMode.MANUAL,
    )
    job = sim.create_job(SCOPE, [step_plan])
    continued = []

    async def react(event) -> None:
        if isinstance(event, StepTransition) and event.current.name == "WAITING_USER":
            continued.append(event)
            await client.operate_step_instance(
                SCOPE, job, event.step_instance_id, StepOperation.ROLLING_CONTINUE
            )

    async with Poller(client, policy=POLICY) as poller:
        events = await follow(sim, poller.watch_job(SCOPE, job), react)
    assert continued
    assert statuses(events)[-1] == ("finished", "SUCCESS")
    assert len(host_paths(events)) == 4


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http_status(503),
        Fault.reset(),
        Fault.rate_limited(0.05),
        Fault.delay(0.2),
        Fault.truncated(),
    ],
    ids=["503", "reset", "429", "slow", "truncated"],
)
async def test_faults_never_lose_a_final_state(sim: BkJobSimulator, fault) -> None:
    jobs = [
        sim.create_job(SCOPE, [StepPlan(StepType.SCRIPT, hosts=hosts(9, 104, 9))])
        for _ in range(20)
    ]
    rule = sim.inject(fault, api="get_job_instance_status", times=12, skip=3)
    finished: dict[int, JobFinished] = {}
    failed: list = []

    async def react(event) -> None:
        if isinstance(event, JobFinished):
            finished[event.job_instance_id] = event
        elif isinstance(event, WatchFailed):
            failed.append(event)

    policy = PollPolicy(interval=0.01, max_interval=0.05, max_in_flight=8, poll_timeout=2.0)
    async with (
        BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as client,
        Poller(client, policy=policy) as poller,
    ):
        events = await follow(sim, poller.watch_jobs(SCOPE, jobs), react, tick=0.05)
    assert not failed
    assert rule.hits == 12  # polling went on through every fault
    assert set(finished) == set(jobs)
    paths = host_paths(events)
    for event in finished.values():
        for host in event.snapshot.steps[0].hosts or ():
            path = paths[(event.snapshot.steps[0].step_instance_id, host.host.key)]
            assert path[-1][1] == int(host.status)  # the last transition is the final status


async def test_a_thousand_jobs_every_host_accounted_for(sim: BkJobSimulator) -> None:
    jobs = [
        sim.create_job(
            SCOPE, [StepPlan(StepType.SCRIPT, hosts=5, duration=(0.5, 3.0), fail_rate=0.1)]
        )
        for _ in range(1000)
    ]
    policy = PollPolicy(interval=0.05, max_interval=0.2, max_in_flight=32)
    async with (
        BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as client,
        Poller(client, policy=policy) as poller,
    ):
        events = await follow(sim, poller.watch_jobs(SCOPE, jobs), tick=0.02)
        stats = poller.statistics()
    finished = {e.job_instance_id: e for e in events if isinstance(e, JobFinished)}
    assert set(finished) == set(jobs)
    assert len({e.event_id for e in events}) == len(events)  # every transition its own id
    paths = host_paths(events)
    seen = set()
    for event in finished.values():
        step = event.snapshot.steps[0]
        for host in step.hosts or ():
            key = (step.step_instance_id, host.host.key)
            seen.add(key)
            assert paths[key][-1][1] == int(host.status)
            assert host.status.is_finished
    assert len(seen) == 5000
    assert set(paths) == seen
    # Per job, the job's end is its last event, and nothing is reported twice.
    last = {}
    for index, event in enumerate(events):
        last[event.job_instance_id] = index
    assert all(isinstance(events[last[j]], JobFinished) for j in jobs)
    for path in paths.values():
        assert all(a != b for a, b in itertools.pairwise(path))
    assert stats.errors == {}


async def test_large_steps_are_followed_by_result_groups(sim: BkJobSimulator) -> None:
    job = sim.create_job(
        SCOPE,
        [
            StepPlan(StepType.SCRIPT, hosts=40, duration=(0.5, 2.0), fail_rate=0.2),
            StepPlan(StepType.SCRIPT, hosts=5, duration=(0.5, 1.0)),
        ],
    )
    policy = PollPolicy(interval=0.01, max_interval=0.05, max_in_flight=4, group_threshold=30)
    async with (
        BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as client,
        Poller(client, policy=policy) as poller,
    ):
        first = await follow(sim, poller.watch_job(SCOPE, job), tick=0.05)
        step_one = first[-1].snapshot.steps[0].step_instance_id
        await client.operate_step_instance(SCOPE, job, step_one, StepOperation.RETRY_FAILED)
        second = await follow(sim, poller.watch_job(SCOPE, job), tick=0.05)
    assert sim.request_count(api="get_step_instance_status") > 10
    for events in (first, second):
        finished = events[-1]
        assert isinstance(finished, JobFinished)
        paths = host_paths(events)
        for step in finished.snapshot.steps:
            for host in step.hosts or ():
                key = (step.step_instance_id, host.host.key)
                if events is first:
                    assert paths[key][-1][1] == int(host.status)
                elif key in paths:
                    assert paths[key][-1] == (step.execute_count, int(host.status))
    assert len(host_paths(first)) == 40  # step two never ran: the first step failed
    assert statuses(second)[-1] == ("finished", statuses(second)[-1][1])
    retried = host_paths(second)
    assert retried  # the failed hosts of step one ran again; nothing else repeated
    assert all(
        step == step_one or count == 0 for (step, _), path in retried.items() for count, _ in path
    )


async def test_a_grouped_answer_that_moved_many_hosts_weighs_more_in_its_turn(
    sim: BkJobSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large step read by result groups is decoded in the worker, not held for the fold: the
    # events it made count in the turn's work there too (``_turn.event_work``).
    job = sim.create_job(SCOPE, [StepPlan(StepType.SCRIPT, hosts=64, duration=(0.5, 0.5))])
    policy = PollPolicy(interval=0.01, max_interval=0.05, max_in_flight=4, group_threshold=30)
    added: list[tuple[str, int]] = []
    async with (
        BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as client,
        Poller(client, policy=policy) as poller,
    ):
        add = Turn.add

        def spy(turn: Turn, work: int) -> None:
            added.append((sys._getframe(1).f_code.co_name, work))
            add(turn, work)

        monkeypatch.setattr(Turn, "add", spy)
        events = await follow(sim, poller.watch_job(SCOPE, job), tick=0.05)
    assert isinstance(events[-1], JobFinished)
    assert sim.request_count(api="get_step_instance_status") > 0
    assert any(caller == "_worker" and work >= 1 for caller, work in added), added


async def test_grouped_polling_sees_every_transition_on_a_big_step(sim: BkJobSimulator) -> None:
    job = sim.create_job(
        SCOPE, [StepPlan(StepType.SCRIPT, hosts=600, duration=(1.0, 20.0), fail_rate=0.1)]
    )
    policy = PollPolicy(interval=0.01, max_interval=0.05, max_in_flight=4)  # default threshold 500
    async with (
        BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as client,
        Poller(client, policy=policy) as poller,
    ):
        events = await follow(sim, poller.watch_job(SCOPE, job), tick=0.2)
    snapshot = events[-1].snapshot
    paths = host_paths(events)
    assert len(paths) == 600
    for host in snapshot.steps[0].hosts:
        path = [status for _, status in paths[(snapshot.steps[0].step_instance_id, host.host.key)]]
        assert path[-1] == int(host.status)
        assert 7 in path or path[0] == int(host.status)  # seen running unless first seen done
    assert sim.request_count(api="get_step_instance_status") > 0


# -- exact sequences: the virtual clock moves only after the poller has looked twice ---------


async def lockstep(sim: BkJobSimulator, watch, react=None, tick: float = 0.25) -> list:
    """Read ``watch`` to its end, advancing the clock ``tick`` s only after two more polls.

    Every state the simulator passes through is then observed exactly once, so the whole
    sequence of events is deterministic.
    """

    async def clock() -> None:
        while True:
            seen = sim.request_count(api="get_job_instance_status")
            while sim.request_count(api="get_job_instance_status") < seen + 2:
                await anyio.sleep(0.001)
            sim.advance(tick)

    return await read_to_end(watch, clock, react, within=45)  # (a net for a hung watch, as above)


def exact(events: list, first_steps: list[int]) -> list[tuple]:
    """Events with steps numbered 1.. in plan order and hosts h0.. in order of first sight."""
    steps = {step_id: n for n, step_id in enumerate(first_steps, 1)}
    hosts: dict = {}
    out = []
    for e in events:
        kind = describe(e)
        if isinstance(e, HostTransition):
            name = hosts.setdefault(e.host.key, f"h{len(hosts)}")
            out.append(("host", steps[e.step_instance_id], e.execute_count, name, *kind[4:]))
        elif isinstance(e, StepTransition):
            out.append(("step", steps[e.step_instance_id], *kind[2:]))
        else:
            out.append(kind)
    return out


STRICT = PollPolicy(interval=0.002, max_interval=0.004, jitter=0.0, max_in_flight=2)


async def _exact_run(sim, plan, react_factory=None, *, watches: int = 1) -> list[list[tuple]]:
    job = sim.create_job(SCOPE, plan)
    steps = [s.step_instance_id for s in sim.job(job).steps]
    runs = []
    async with (
        BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as client,
        Poller(client, policy=STRICT) as poller,
    ):
        react = react_factory(client, job) if react_factory else None
        for _ in range(watches):
            runs.append(exact(await lockstep(sim, poller.watch_job(SCOPE, job), react), steps))
    return runs


async def test_exact_manual_confirm(sim: BkJobSimulator) -> None:
    def confirm(client, job):
        async def react(event) -> None:
            if isinstance(event, JobTransition) and event.current.name == "WAITING_USER":
                status = await client.get_job_instance_status(SCOPE, job)
                step = status.steps[0].step_instance_id
                await client.operate_step_instance(SCOPE, job, step, StepOperation.CONFIRM_CONTINUE)

        return react

    (run,) = await _exact_run(
        sim, [StepPlan(StepType.MANUAL_CONFIRM), StepPlan(StepType.SCRIPT, hosts=hosts(9))], confirm
    )
    assert run == [
        ("step", 1, 0, None, 7),
        ("step", 2, 0, None, 1),
        ("job", None, 7),
        ("job", 7, 2),  # the answer to the confirmation; the step follows later (§7.9)
        ("host", 2, 0, "h0", None, 7),
        ("step", 1, 0, 7, 3),
        ("step", 2, 0, 1, 2),
        ("host", 2, 0, "h0", 7, 9),
        ("step", 2, 0, 2, 3),
        ("job", 2, 3),
        ("finished", 3),
    ]


async def test_exact_terminate(sim: BkJobSimulator) -> None:
    def terminate(client, job):
        sent = []

        async def react(event) -> None:
            if (
                isinstance(event, HostTransition)
                and event.current == HostStatus.RUNNING
                and not sent
            ):
                sent.append(event)
                await client.operate_job_instance(SCOPE, job, JobOperation.TERMINATE)

        return react

    (run,) = await _exact_run(
        sim, [StepPlan(StepType.SCRIPT, hosts=hosts(9, duration=30.0))], terminate
    )
    assert run == [
        ("host", 1, 0, "h0", None, 7),
        ("step", 1, 0, None, 2),
        ("job", None, 2),
        ("step", 1, 0, 2, 10),
        ("job", 2, 10),
        ("host", 1, 0, "h0", 7, 403),
        ("step", 1, 0, 10, 11),
        ("job", 10, 11),
        ("finished", 11),
    ]


async def test_exact_rolling_pause(sim: BkJobSimulator) -> None:
    def resume(client, job):
        async def react(event) -> None:
            if isinstance(event, StepTransition) and event.current.name == "WAITING_USER":
                await client.operate_step_instance(
                    SCOPE, job, event.step_instance_id, StepOperation.ROLLING_CONTINUE
                )

        return react

    plan = [
        StepPlan(
            StepType.SCRIPT,
            hosts=hosts(9, 9),
            rolling_batch_size=1,
            rolling_mode=RollingMode.MANUAL,
        )
    ]
    (run,) = await _exact_run(sim, plan, resume)
    assert run == [
        ("host", 1, 0, "h0", None, 7),
        ("host", 1, 0, "h1", None, 5),
        ("step", 1, 0, None, 2),
        ("job", None, 2),
        ("host", 1, 0, "h0", 7, 9),
        ("step", 1, 0, 2, 7),
        ("job", 2, 7),
        ("job", 7, 2),  # the answer to rolling-continue; the batch starts later (§7.9)
        ("host", 1, 0, "h1", 5, 7),
        ("step", 1, 0, 7, 2),
        ("host", 1, 0, "h1", 7, 9),
        ("step", 1, 0, 2, 3),
        ("job", 2, 3),
        ("finished", 3),
    ]


async def test_exact_ignore_error_then_watch_again(sim: BkJobSimulator) -> None:
    def ignore(client, job):
        async def react(event) -> None:
            if isinstance(event, JobFinished) and event.status.name == "FAIL":
                step = event.snapshot.steps[0].step_instance_id
                await client.operate_step_instance(SCOPE, job, step, StepOperation.IGNORE_ERROR)

        return react

    plan = [
        StepPlan(StepType.SCRIPT, hosts=hosts(9, 104)),
        StepPlan(StepType.SCRIPT, hosts=hosts(9)),
    ]
    failed, resumed = await _exact_run(sim, plan, ignore, watches=2)
    assert failed == [
        ("host", 1, 0, "h0", None, 7),
        ("host", 1, 0, "h1", None, 7),
        ("step", 1, 0, None, 2),
        ("step", 2, 0, None, 1),
        ("job", None, 2),
        ("host", 1, 0, "h0", 7, 9),
        ("host", 1, 0, "h1", 7, 104),
        ("step", 1, 0, 2, 4),
        ("job", 2, 4),
        ("finished", 4),
    ]
    # Watching again continues from what the poller knew: only what changed since. The
    # answer set the job running; later step one's status moves to 6 as step two starts, and
    # its hosts say nothing.
    assert resumed == [
        ("job", 4, 2),
        ("host", 2, 0, "h0", None, 7),
        ("step", 1, 0, 4, 6),
        ("step", 2, 0, 1, 2),
        ("host", 2, 0, "h0", 7, 9),
        ("step", 2, 0, 2, 3),
        ("job", 2, 3),
        ("finished", 3),
    ]


async def test_grouped_polling_leaves_manual_confirm_steps_alone(sim: BkJobSimulator) -> None:
    # A job polled by result groups (a step above group_threshold) that then waits for a user:
    # bk-job refuses get_step_instance_status for a manual-confirm step (1241003), so the
    # poller must not ask for its rows, or the watch fails while it waits.
    job = sim.create_job(
        SCOPE,
        [
            StepPlan(StepType.SCRIPT, hosts=40, duration=(0.5, 1.0)),
            StepPlan(StepType.MANUAL_CONFIRM),
            StepPlan(StepType.SCRIPT, hosts=3, duration=(0.5, 1.0)),
        ],
    )
    policy = PollPolicy(interval=0.01, max_interval=0.05, max_in_flight=4, group_threshold=30)
    async with (
        BkJobClient(sim.url, app_code="app", app_secret="s", username="admin") as client,
        Poller(client, policy=policy) as poller,
    ):

        async def react(event) -> None:
            if isinstance(event, JobTransition) and event.current.name == "WAITING_USER":
                status = await client.get_job_instance_status(SCOPE, job)
                step = status.steps[1].step_instance_id
                await client.operate_step_instance(SCOPE, job, step, StepOperation.CONFIRM_CONTINUE)

        events = await follow(sim, poller.watch_job(SCOPE, job), react, tick=0.05)
        stats = poller.statistics()
    flow = statuses(events)
    assert ("job", "WAITING_USER") in flow
    assert flow[-1] == ("finished", "SUCCESS")
    assert sim.request_count(api="get_step_instance_status") > 0  # grouped polling was used
    assert stats.errors == {}
    assert len(host_paths(events)) == 43
