"""``plans``, ``vars``, ``push-config`` and ``launch`` by script id or with checked plan
variables, run in-process against the simulator; passwords and config contents never printed."""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import JobStatus, StepType
from bkjob_async.testing import BkJobSimulator, HostPlan, PlanVar, StepPlan

from ..cli_run import FAST, SCOPE, SIM, make_env, run

pytestmark = pytest.mark.sim(**SIM)
SECRET = "hunter2-hunter2"
VARIABLES = [
    PlanVar("version", "1.0", required=True),
    PlanVar("db_password", SECRET, type=4),
    PlanVar("build", ""),
]


async def finished(sim: BkJobSimulator, job: int) -> None:
    with anyio.fail_after(10):
        while not sim.job(job).status.is_finished:
            await anyio.sleep(0.02)


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-v2"])
async def test_plans_list_and_show_mask_passwords(sim: BkJobSimulator, flavor) -> None:
    env = make_env(sim.url, BKJOB_FLAVOR=flavor)
    sim.add_plan(7, [StepPlan(), StepPlan(StepType.FILE)], name="deploy", variables=VARIABLES)
    sim.add_plan(8, [StepPlan()], name="rollback")
    listed = await run(["plans"], env)
    assert listed.status == 0, listed.err
    assert "deploy" in listed.out
    assert "rollback" in listed.out
    named = await run(["plans", "--name", "roll", "--json"], env)
    assert [p["job_plan_id"] for p in named.lines] == [8]
    shown = await run(["plans", "7"], env)
    assert shown.status == 0, shown.err
    assert "db_password" in shown.out
    assert "******" in shown.out
    as_json = await run(["plans", "7", "--json"], env)
    (plan,) = as_json.lines
    values = {v["name"]: v["value"] for v in plan["variables"]}
    assert values == {"version": "1.0", "db_password": "******", "build": ""}
    for result in (listed, shown, as_json):
        assert SECRET not in result.out + result.err  # v2 sends it in clear: masked here


async def test_launch_plan_checks_variables_and_vars_shows_outputs(sim: BkJobSimulator, env):
    steps = [StepPlan(hosts=[HostPlan()])]
    sim.add_plan(7, steps, name="build", variables=VARIABLES, outputs={"build": "b-42"})
    before = sim.request_count()
    unknown = await run(["launch", "plan", "7", "--var", "nope=1"], env)
    assert unknown.status == 2
    assert "has no variable 'nope'" in unknown.err
    assert "version, db_password, build" in unknown.err
    assert sim.request_count() == before + 1  # the plan was read; nothing launched
    argv = ["launch", "plan", "7", "--var", "version=2.0", "--var", f"db_password={SECRET}x"]
    launched = await run([*argv, "--watch", *FAST], env)
    assert launched.status == 0, launched.err
    job = launched.lines[0]["job_instance_id"]
    assert SECRET not in launched.out + launched.err
    await finished(sim, job)
    assert sim.job(job).status is JobStatus.SUCCESS
    shown = await run(["vars", str(job)], env)
    assert shown.status == 0, shown.err
    assert "b-42" in shown.out
    assert "2.0" in shown.out
    steps_json = await run(["vars", str(job), "--json"], env)
    assert steps_json.lines[-1]["variables"] == {"version": "2.0", "build": "b-42"}


async def test_vars_of_a_missing_job_is_one_line(sim: BkJobSimulator, env) -> None:
    result = await run(["vars", "999999"], env)
    assert result.status == 2
    assert len(result.err.strip().splitlines()) <= 3
    assert "1244006" in result.err or "not exist" in result.err


async def test_push_config_then_watch(sim: BkJobSimulator, env, tmp_path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text(f"password = {SECRET}\n")
    argv = ["push-config", "--host-id", "1001", "--host-id", "1002", "--dest", "/etc/app/"]
    result = await run([*argv, str(conf), "--watch", *FAST], env)
    assert result.status == 0, result.err
    launched = result.lines[0]
    assert launched["kind"] == "push-config"
    assert launched["files"] == ["app.conf"]
    assert result.lines[-1]["status_name"] == "SUCCESS"
    hosts = sim.job(launched["job_instance_id"]).steps[0].hosts
    assert {h.bk_host_id for h in hosts} == {1001, 1002}
    assert SECRET not in result.out + result.err


async def test_bad_push_config_and_script_launches_send_nothing(
    sim: BkJobSimulator, env, tmp_path
) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text("x")
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    other = tmp_path / "sub"
    other.mkdir()
    (other / "a.conf").write_text("y")
    before = sim.request_count()
    for argv, says in [
        (["push-config", "--dest", "/etc", str(conf)], "no target host"),
        (["push-config", "--host-id", "1", "--dest", "/etc", "/nonexistent/x"], "cannot read"),
        (["push-config", "--host-id", "1", "--dest", "/etc", str(empty)], "empty"),
        (
            ["push-config", "--host-id", "1", "--dest", "/etc", str(conf), str(other / "a.conf")],
            "same name",
        ),
        (
            ["launch", "script", "--host-id", "1", "--content", "x", "--script-id", "abc"],
            "one of them",
        ),
    ]:
        result = await run(argv, env)
        assert result.status == 2, (argv, result.err)
        assert says in result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
    assert sim.request_count() == before


async def test_launch_a_script_by_id_and_by_version(sim: BkJobSimulator, env) -> None:
    script_id, (version,) = sim.add_script(SCOPE, "uptime", "uptime")
    for flag, value in (("--script-id", script_id), ("--script-version-id", str(version))):
        argv = ["launch", "script", "--host-id", "1001", flag, value, "--watch", *FAST]
        result = await run(argv, env)
        assert result.status == 0, result.err
        assert result.lines[-1]["status_name"] == "SUCCESS"
