"""The command line on ``--flavor apigw-v4``: a script launched in Kubernetes containers, seen in
``status`` and ``logs``; bad container targets refused before any request; a host job on v4 as
on v3."""

from __future__ import annotations

import re

import anyio
import pytest

from bkjob_async import HostStatus, JobStatus, KubeContainerFilter
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

from ..cli_run import FAST, SCOPE, SIM, make_env, run

pytestmark = pytest.mark.sim(**SIM)

V4 = ["--flavor", "apigw-v4"]
CONTAINERS = [
    "--cluster",
    "BCS-K8S-00001",
    "--namespace",
    "prod",
    "--workload",
    "deployment/api",
    "--container",
    "app",
]


async def _ended(sim: BkJobSimulator, job: int) -> None:
    with anyio.fail_after(10):
        while not sim.job(job).status.is_finished:
            await anyio.sleep(0.02)


async def _launch(sim: BkJobSimulator, *extra: str) -> int:
    flavor = [] if "--flavor" in extra else V4
    argv = ["launch", "script", *flavor, *extra, "--content", "echo hi", "--json"]
    result = await run(argv, make_env(sim.url))
    assert result.status == 0, result.err
    job: int = result.lines[0]["job_instance_id"]
    await _ended(sim, job)
    return job


async def test_a_script_launched_in_containers_shows_them_in_status_and_logs(
    sim: BkJobSimulator,
) -> None:
    env = make_env(sim.url)
    job = await _launch(sim, *CONTAINERS)
    assert sim.job(job).status is JobStatus.SUCCESS
    status = await run(["status", str(job), *V4], env)
    assert status.status == 0, status.err
    lines = status.out.splitlines()
    assert lines[0].startswith(f"job {job}  SUCCESS(3)  finished")
    header = 2  # the job, its step, then the table
    assert lines[header].split() == ["container", "name", "node_host", "status", "exit", "time"]
    rows = [line.split() for line in lines[header + 1 :]]
    assert len(rows) == 2  # two containers per named container (the simulator's inventory)
    assert all(row[1] == "app" and row[3] == "SUCCESS(9)" and row[4] == "0" for row in rows)
    assert "host_id" not in status.out
    ids = [int(row[0]) for row in rows]

    as_json = await run(["status", str(job), *V4, "--json"], env)
    step = as_json.lines[0]["steps"][0]
    assert step["hosts"] == []
    assert sorted(c["container"]["id"] for c in step["containers"]) == sorted(ids)
    assert {c["status_name"] for c in step["containers"]} == {"SUCCESS"}

    logs = await run(["logs", str(job), *V4], env)
    assert logs.status == 0, logs.err
    headings = [line for line in logs.out.splitlines() if line.startswith("== ")]
    assert len(headings) == 2
    assert all(f"app (container {i})" in logs.out for i in ids)
    assert all(h.endswith(": SUCCESS(9), exit 0 ==") for h in headings)
    one = await run(["logs", str(job), *V4, "--container", str(ids[1]), "--json"], env)
    assert [line["execute_object"]["container"]["id"] for line in one.lines] == [ids[1]]
    assert one.lines[0]["status_name"] == "SUCCESS"
    none_failed = await run(["logs", str(job), *V4, "--failed"], env)
    assert (none_failed.status, none_failed.out) == (0, "")
    assert "no failed hosts or containers with a log" in none_failed.err


async def test_a_whole_cluster_and_the_table_on_a_terminal(sim: BkJobSimulator) -> None:
    job = await _launch(sim, "--cluster", "BCS-K8S-00002", "--whole-cluster")
    shown = await run(["status", str(job), *V4], make_env(sim.url), tty=True)
    assert shown.status == 0, shown.err
    text = shown.text
    for column in ("container", "name", "node_host", "status", "exit"):
        assert column in text
    assert text.count("SUCCESS(9)") == 2
    assert "main (container " not in text  # a table, not the log headings
    assert "main" in text  # the simulator's container name when no name is filtered


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--namespace", "prod"], "give their --cluster UID too"),
        (["--cluster", "c1"], "say so with --whole-cluster, or narrow it"),
        (["--cluster", "c1", "--whole-cluster", "--pod", "p"], "--whole-cluster runs in every"),
        (["--cluster", "c1", "--pod", "p", "--host-id", "1001"], "cannot run in one job"),
        (["--cluster", "c1", "--workload", "api"], "expected KIND/NAME"),
        (["--cluster", "c1", "--workload", "cronjob/x"], "unknown kind 'cronjob'"),
        (
            ["--cluster", "c1", "--workload", "deployment/a", "--workload", "daemonSet/b"],
            "one kind for all",
        ),
        (["--content", "x"], "or containers: --cluster UID"),  # no target at all
    ],
)
async def test_bad_container_targets_are_refused_before_any_request(
    sim: BkJobSimulator, argv: list[str], says: str
) -> None:
    content = [] if "--content" in argv else ["--content", "uptime"]
    result = await run(["launch", "script", *V4, *argv, *content], make_env(sim.url))
    assert result.status == 2
    assert says in result.err
    assert sim.request_count() == 0


async def test_containers_off_v4_are_refused_before_any_request(sim: BkJobSimulator) -> None:
    argv = ["launch", "script", "--cluster", "c1", "--pod", "p", "--content", "uptime"]
    for flavor in ("apigw-v3", "esb-jobv3"):
        result = await run([*argv, "--flavor", flavor], make_env(sim.url))
        assert result.status == 2
        assert f"not {flavor}: add --flavor apigw-v4" in result.err
    assert sim.request_count() == 0


async def test_a_host_job_on_apigw_v4_runs_as_on_v3(sim: BkJobSimulator) -> None:
    env = make_env(sim.url)
    outs = {}
    for flavor in ("apigw-v3", "apigw-v4"):
        job = await _launch(sim, "--flavor", flavor, "--host-id", "1001", "--host-id", "1002")
        status = await run(["status", str(job), "--flavor", flavor], env)
        logs = await run(["logs", str(job), "--flavor", flavor, "--host", "1002"], env)
        assert status.status == logs.status == 0
        outs[flavor] = (status.out.splitlines()[2:], logs.out.replace(str(job), "J"))
    (v3_rows, v3_logs), (v4_rows, v4_logs) = outs["apigw-v3"], outs["apigw-v4"]
    assert v4_rows[0].split() == ["host_id", "ip", "cloud", "status", "exit", "time"]
    assert [r.split()[:5] for r in v4_rows] == [r.split()[:5] for r in v3_rows]
    assert [r.split()[0] for r in v4_rows[1:]] == ["1001", "1002"]
    heading = [text.splitlines()[0].split()[5:10] for text in (v3_logs, v4_logs)]
    assert heading[0] == heading[1] == ["host", "0:10.0.0.2", "(host", "1002):", "SUCCESS(9),"]
    assert v4_logs.count("== job J step ") == 1
    assert "started on 10.0.0.2" in v4_logs
    assert sim.request_count("get_job_instance_status", "apigw-v4") >= 2
    assert sim.request_count("fast_execute_script", "apigw-v4") == 1


async def test_launch_watch_follows_each_container_to_its_end(sim: BkJobSimulator) -> None:
    argv = ["launch", "script", *V4, *CONTAINERS, "--content", "echo hi", "--watch", *FAST]
    result = await run(argv, make_env(sim.url))
    assert result.status == 0, result.err
    events = result.lines
    last = {
        e["container"]["id"]: e["current_name"]
        for e in events
        if e["event"] == "container_transition"
    }
    assert len(last) == 2
    assert set(last.values()) == {"SUCCESS"}
    assert not [e for e in events if e["event"] == "host_transition"]
    finished = [e for e in events if e["event"] == "job_finished"]
    assert [e["status_name"] for e in finished] == ["SUCCESS"]


async def test_launch_watch_of_hosts_on_v4_shows_what_v3_shows(sim: BkJobSimulator) -> None:
    ends = {}
    for flavor in ("apigw-v3", "apigw-v4"):
        argv = ["launch", "script", "--flavor", flavor, "--host-id", "1001", "--host-id", "1002"]
        result = await run([*argv, "--content", "echo hi", "--watch", *FAST], make_env(sim.url))
        assert result.status == 0, result.err
        events = result.lines
        ends[flavor] = (
            {
                e["host"]["bk_host_id"]: e["current_name"]
                for e in events
                if e["event"] == "host_transition"
            },
            [e["status_name"] for e in events if e["event"] == "job_finished"],
        )
    assert ends["apigw-v4"] == ends["apigw-v3"] == ({1001: "SUCCESS", 1002: "SUCCESS"}, ["SUCCESS"])


async def test_failed_containers_in_status_and_logs(sim: BkJobSimulator) -> None:
    pods = KubeContainerFilter(["BCS-K8S-00001"], container_names=["app"])
    good, bad = sim.containers(pods)
    fails = HostPlan(HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, bk_host_id=bad)
    job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(bk_host_id=good), fails])])
    await _ended(sim, job)
    env = make_env(sim.url)
    status = await run(["status", str(job), *V4, "--failed"], env)
    assert status.status == 1  # the job failed
    rows = [line.split() for line in status.out.splitlines()[3:]]
    assert [(int(r[0]), r[1], r[3], r[4]) for r in rows] == [
        (bad, "app", "SCRIPT_NOT_ZERO_EXIT_CODE(104)", "1")
    ]
    logs = await run(["logs", str(job), *V4, "--failed", "--json"], env)
    assert logs.status == 0, logs.err
    assert [line["execute_object"]["container"]["id"] for line in logs.lines] == [bad]
    assert logs.lines[0]["exit_code"] == 1
    by_name = await run(["logs", str(job), *V4, "--container", "app"], env)
    assert by_name.out.count("== job ") == 2


async def test_reading_a_container_job_on_v3_says_to_use_v4(sim: BkJobSimulator) -> None:
    ids = sim.containers(KubeContainerFilter(["BCS-K8S-00001"], container_names=["app"]))
    job = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(bk_host_id=i) for i in ids])])
    await _ended(sim, job)
    env = make_env(sim.url)
    for argv in (["status", str(job)], ["logs", str(job)]):
        result = await run([*argv, "--flavor", "apigw-v3"], env)
        assert result.status == 2
        assert "code 1240002" in result.err
        assert "only the gateway v4 can, with --flavor apigw-v4" in result.err
    assert (await run(["status", str(job), *V4], env)).status == 0


async def test_watch_lines_count_containers_not_hosts(sim: BkJobSimulator) -> None:
    """``watch`` and ``launch --watch`` on a container job: the progress line, the summary and
    its hints name containers (the commands that read them with the flavor that can)."""
    pods = KubeContainerFilter(["BCS-K8S-00001"], container_names=["app", "sidecar"])
    ids = sim.containers(pods)
    fails = HostPlan(HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=2, bk_host_id=ids[3])
    plans = [HostPlan(duration=0.3, bk_host_id=i) for i in ids[:3]]
    job = sim.create_job(SCOPE, [StepPlan(hosts=[*plans, fails])])
    env = make_env(sim.url)
    piped = await run(["watch", str(job), *V4, *FAST], env)
    assert piped.status == 1  # the job failed
    plain = await run(["watch", str(job), *V4, *FAST], {**env, "TERM": "dumb"}, tty=True)
    assert plain.status == 1
    progress = [line for line in plain.out.splitlines() if line.startswith("[")]
    assert "] containers 4/4 100% | jobs: " in progress[-1], plain.out
    for summary in (piped.err, plain.out):
        assert re.search(r"(?m)^  containers by final status +count$", summary), summary
        assert re.search(r"(?m)^  SCRIPT_NOT_ZERO_EXIT_CODE \(104\) +1$", summary)
        assert (
            f"job {job}: FAIL (step {sim.job(job).steps[0].step_instance_id}: 1 failed "
            "container)" in summary
        )
        assert "host" not in summary.replace("node_host", "")
        logs = re.search(r"their logs: (bkjob-async logs .+)$", summary, re.M)
        assert logs is not None
        assert logs[1].endswith("--failed --flavor apigw-v4")
    hint = await run([*logs[1].split()[1:], "--json"], env)  # the hint, as printed, reads them
    assert [line["execute_object"]["container"]["id"] for line in hint.lines] == [ids[3]]
    live = await run(["watch", str(job), *V4, *FAST], env, tty=True)
    text = live.text  # (the first frame, before any answer, knows nothing: "Hosts 0/0")
    assert "│ Containers  " in text
    assert "│ Container status " in text
    assert "Containers by final status" in text
    assert "Hosts by final status" not in text
    events = ["--json", "--events", "container_transition,job_finished"]
    told = await run(["watch", str(job), *V4, *FAST, *events], env)
    summary = told.lines[-1]
    assert (summary["event"], summary["hosts"], summary["containers"]) == ("summary", 4, 4)
    launched = await run(["launch", "script", *V4, *CONTAINERS, "--content", "true", "--watch",
                          *FAST], {**env, "TERM": "dumb"}, tty=True)  # fmt: skip
    assert launched.status == 0, launched.err
    assert "] containers 2/2 100% | jobs: " in launched.out
    assert "host" not in launched.out.replace("node_host", "")
