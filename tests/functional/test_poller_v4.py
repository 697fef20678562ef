"""The poller on ``flavor="apigw-v4"``: hosts as on v3, containers as ``ContainerTransition``.

On virtual time with the simulator: a container job is watched to its end container by
container; a host job yields on v4 the very events (ids and all) it yields on v3.
"""

from __future__ import annotations

from typing import Any

from bkjob_async import (
    ContainerTransition,
    FailedContainer,
    HostStatus,
    HostTransition,
    JobFinished,
    JobStatus,
    KubeContainerFilter,
    Poller,
    PollPolicy,
    failed_containers,
)
from bkjob_async.testing import HostPlan, StepPlan

from ..virtual import SCOPE, VirtualBkJob, run_virtual

POLICY = PollPolicy(latency=1.0, interval=1.0, max_interval=1.0, jitter=0.0)
PODS = KubeContainerFilter(
    cluster_uids=["BCS-K8S-00001"], namespaces=["bkjob"], container_names=["execute", "sidecar"]
)


def container_job(server: VirtualBkJob) -> tuple[int, list[int]]:
    """A job of two steps: four containers succeed, then one of two fails (exit code 3)."""
    ids = server.sim.containers(PODS)
    first = [HostPlan(duration=2.0 + i, bk_host_id=c) for i, c in enumerate(ids)]
    second = [
        HostPlan(duration=1.0, bk_host_id=ids[0]),
        HostPlan(HostStatus.of(104), duration=3.0, exit_code=3, bk_host_id=ids[3]),
    ]
    job = server.sim.create_job(SCOPE, [StepPlan(hosts=first), StepPlan(hosts=second)])
    return job, ids


def watch(server: VirtualBkJob, job: int, flavor: str, **kwargs: Any) -> list[Any]:
    async def main() -> list[Any]:
        async with (
            server.client(flavor=flavor) as client,
            Poller(client, policy=POLICY) as poller,
        ):
            return [e async for e in poller.watch_jobs(SCOPE, [job], **kwargs)]

    return run_virtual(main)


def test_a_container_job_is_watched_to_its_end_container_by_container() -> None:
    server = VirtualBkJob()
    job, ids = container_job(server)
    seen = watch(server, job, "apigw-v4")
    assert not [e for e in seen if isinstance(e, HostTransition)]
    assert len({e.event_id for e in seen}) == len(seen)  # (every transition once)
    moves = [e for e in seen if isinstance(e, ContainerTransition)]
    steps = sorted({e.step_instance_id for e in moves})
    ends = {(e.step_instance_id, e.container.id): e.current for e in moves}
    assert ends == {
        **{(steps[0], c): HostStatus.SUCCESS for c in ids},
        (steps[1], ids[0]): HostStatus.SUCCESS,
        (steps[1], ids[3]): HostStatus.of(104),
    }
    for step, c in ends:
        path = [
            (e.previous, e.current)
            for e in moves
            if (e.step_instance_id, e.container.id) == (step, c)
        ]
        assert path == [(None, HostStatus.RUNNING), (HostStatus.RUNNING, ends[step, c])]
    failed = next(e for e in moves if e.current == 104)
    assert failed.container.id == ids[3]
    assert (failed.result.exit_code, failed.container.name) == (3, "sidecar")
    assert failed.event_id == f"{job}/{steps[1]}/0/c{ids[3]}/104"
    end = seen[-1]
    assert isinstance(end, JobFinished)
    assert end.status is JobStatus.FAIL  # (a failed container fails its step, then the job)
    containers = end.snapshot.step(steps[1]).containers
    assert containers is not None
    assert {r.container.id: r.status for r in containers} == {
        ids[0]: HostStatus.SUCCESS,
        ids[3]: HostStatus.of(104),
    }


def test_a_watch_of_containers_only_and_of_hosts_only() -> None:
    """``events=`` picks the class: host code never meets a container."""
    server = VirtualBkJob()
    job, ids = container_job(server)
    hosts_only = watch(server, job, "apigw-v4", events=(HostTransition, JobFinished))
    assert [type(e) for e in hosts_only] == [JobFinished]
    containers = watch(server, job, "apigw-v4", events=(ContainerTransition,))
    assert {type(e) for e in containers} == {ContainerTransition}
    assert {e.container.id for e in containers} == set(ids)


def host_job(server: VirtualBkJob) -> int:
    ok = HostPlan(duration=2.0, bk_host_id=1001, ip="10.0.0.1")
    fails = HostPlan(HostStatus.of(104), duration=3.0, bk_host_id=1002, ip="10.0.0.2")
    return server.sim.create_job(SCOPE, [StepPlan(hosts=[ok, fails]), StepPlan(hosts=[ok])])


def test_host_code_written_for_v3_gets_the_same_events_on_v4() -> None:
    on_v3, on_v4 = VirtualBkJob(seed=7), VirtualBkJob(seed=7)
    v3 = watch(on_v3, host_job(on_v3), "apigw-v3")
    v4 = watch(on_v4, host_job(on_v4), "apigw-v4")
    assert [e.event_id for e in v4] == [e.event_id for e in v3]
    assert [type(e) for e in v4] == [type(e) for e in v3]

    def hosts(events: list[Any]) -> list[Any]:
        # (v4 sends no error_code, and each simulator's times are its own)
        return [
            (e.host, e.previous, e.result.status, e.result.exit_code, e.result.tag)
            for e in events
            if isinstance(e, HostTransition)
        ]

    assert hosts(v4) == hosts(v3)
    assert len(hosts(v4)) == 4  # (two hosts each to running and an end; the job then fails)


def test_the_cli_writes_a_containers_transition_as_a_line_and_as_json() -> None:
    from bkjob_async.cli._format import describe_event, event_to_dict, short_event

    server = VirtualBkJob()
    job, ids = container_job(server)
    failed = next(
        e
        for e in watch(server, job, "apigw-v4")
        if isinstance(e, ContainerTransition) and e.current == 104
    )
    assert f"sidecar (container {ids[3]})" in describe_event(failed)
    assert describe_event(failed).endswith("exit 3")
    assert "sidecar RUNNING → SCRIPT_NOT_ZERO_EXIT_CODE exit 3" in short_event(failed)
    line = event_to_dict(failed)
    assert (line["event"], line["event_id"]) == ("container_transition", failed.event_id)
    assert line["container"]["id"] == ids[3]
    assert line["result"]["exit_code"] == 3


def test_the_logs_of_failed_containers_after_a_watch_50_a_request() -> None:
    """A watch's ``JobFinished`` names the failed containers; ``failed_container_logs`` reads
    their logs without reading the job again, 50 containers a request (v4's limit). A snapshot
    without containers (a watch of ends only reads the job list) makes it read the job."""
    server = VirtualBkJob()
    names = [f"c{i}" for i in range(30)]  # (two containers a name: 60)
    ids = server.sim.containers(KubeContainerFilter(["BCS-K8S-00001"], container_names=names))
    bad = HostStatus.of(104)
    plans = [HostPlan(bad, duration=1.0, exit_code=3, bk_host_id=c) for c in ids[:55]]
    plans += [HostPlan(duration=1.0, bk_host_id=c) for c in ids[55:]]
    job = server.sim.create_job(SCOPE, [StepPlan(hosts=plans), StepPlan(hosts=plans[55:])])
    sim = server.sim

    async def main() -> tuple[list[Any], list[tuple[int, int]], list[dict[int, Any]]]:
        async with server.client(flavor="apigw-v4") as client:
            async with Poller(client, policy=POLICY) as poller:
                seen = [e async for e in poller.watch_jobs(SCOPE, [job])]
                ends = [e async for e in poller.watch_jobs(SCOPE, [job], events=(JobFinished,))]
            found, counts = [], []
            for end in (seen[-1], ends[-1]):
                assert isinstance(end, JobFinished)
                before = (
                    sim.request_count("get_job_instance_status"),
                    sim.request_count("batch_get_job_instance_execute_object_log"),
                )
                found.append(await client.failed_container_logs(SCOPE, job, status=end.snapshot))
                counts.append(
                    (
                        sim.request_count("get_job_instance_status") - before[0],
                        sim.request_count("batch_get_job_instance_execute_object_log") - before[1],
                    )
                )
            found.append(await client.failed_container_logs(SCOPE, job))
            assert await client.failed_host_logs(SCOPE, job, status=seen[-1].snapshot) == {}
            return seen, counts, found

    seen, counts, found = run_virtual(main)
    assert counts == [(0, 2), (1, 2)]  # 50 + 5 containers; the job read for the bare snapshot
    step = seen[-1].snapshot.steps[0].step_instance_id
    assert found[0] == found[1] == found[2]
    assert list(found[0]) == [step]  # the step with failed containers only
    logs = found[0][step]
    assert [log.execute_object.container.id for log in logs] == ids[:55]
    failed = {
        e.container.id for e in seen if isinstance(e, ContainerTransition) and e.current == bad
    }
    assert failed == set(ids[:55])
    assert all("status 104, exit code 3" in (log.log_content or "") for log in logs)


def test_a_watchs_summary_lists_the_failed_containers_never_silently_none() -> None:
    """``watch.summary()`` lists a container job's failed containers apart from hosts; a wait
    for ends only has no rows (``hosts_unread``), and ``failed_containers`` reads the job."""
    server = VirtualBkJob()
    job, ids = container_job(server)

    async def main() -> tuple[Any, Any, tuple[FailedContainer, ...]]:
        async with (
            server.client(flavor="apigw-v4") as client,
            Poller(client, policy=POLICY) as poller,
        ):
            async with poller.watch_jobs(SCOPE, [job]) as watch:
                seen = [e async for e in watch]
                full = watch.summary()
            async with poller.watch_jobs(SCOPE, [job], events=(JobFinished,)) as watch:
                ends = [e async for e in watch]
                bare = watch.summary()
            return full, bare, await failed_containers(client, SCOPE, [*seen[-1:], *ends])

    full, bare, read = run_virtual(main)
    step = full.failed_containers[0].step_instance_id
    failed = FailedContainer(job, step, full.failed_containers[0].container, HostStatus.of(104), 3)
    assert full.failed_containers == (failed,)
    assert failed.container.id == ids[3]
    assert (full.failed, full.failed_hosts, full.hosts_unread) == ((job,), (), ())
    assert full.to_dict()["failed_containers"] == [failed.to_dict()]
    assert failed.to_dict()["container"]["name"] == "sidecar"
    assert (bare.failed_containers, bare.hosts_unread) == ((), (job,))  # said, not left out
    assert read == (failed, failed)  # from the snapshot, and from the job read again
