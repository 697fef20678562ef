"""Config pushes, output variables, plans, scripts, accounts and v2's whole-job log, from the
real client against ``BkJobSimulator`` over HTTP, on every flavor bk-job serves each on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bkjob_async import (
    Account,
    AccountCategory,
    AccountType,
    BkJobClient,
    ConfigFile,
    GlobalVar,
    HostStatus,
    JobLaunch,
    JobStatus,
    NotFoundError,
    ScriptVersionStatus,
    StepType,
    Targets,
    UnsupportedOperationError,
    VariableType,
)
from bkjob_async.testing import BkJobSimulator, HostPlan, PlanVar, StepPlan

from .conftest import ALL_FLAVORS, SCOPE, V3_FLAVORS

pytestmark = pytest.mark.sim(seed=5, virtual_clock=True, host_duration=2.0)
IPS = Targets(ips=["0:10.0.0.1", "0:10.0.0.2"])
VARIABLES = [
    PlanVar("version", "1.0", required=True, description="what to deploy"),
    PlanVar("db_password", "hunter2-hunter2", type=4),
    PlanVar("targets", "0:10.0.0.9", type=3),
    PlanVar("build", ""),
]

MakeClient = Callable[[str], BkJobClient]


@pytest.fixture
def client_for(sim: BkJobSimulator, make_client: Any) -> MakeClient:
    return lambda flavor: make_client(base_url=sim.url, flavor=flavor, username="dave")


# --- push_config_file ------------------------------------------------------------------------


async def _push(
    client: BkJobClient,
    targets: Targets,
    path: str = "/tmp",
    files: Sequence[ConfigFile] = (ConfigFile("a", "x"),),
    *,
    account: str = "root",
    task_name: str | None = None,
) -> JobLaunch:
    """Push ``files`` (one small file unless told) into ``path`` on ``targets`` as ``account``."""
    return await client.push_config_file(
        SCOPE, targets=targets, account=Account(alias=account), file_target_path=path,
        files=files, task_name=task_name,
    )  # fmt: skip


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_push_config_file_runs_a_file_step_on_the_hosts(sim, client_for, flavor):
    files = [ConfigFile("app.conf", "port = 80\n"), ConfigFile("blob.bin", b"\x00\xff")]
    async with client_for(flavor) as client:
        launched = await _push(client, IPS, "/etc/app", files, task_name="push app.conf")
        sim.advance(30)
        status = await client.get_job_instance_status(SCOPE, launched.job_instance_id)
    assert launched.job_instance_name == "push app.conf"
    assert launched.step_instance_id is None  # no flavor reports the step
    assert status.job.status is JobStatus.SUCCESS
    (step,) = status.steps
    assert step.type is StepType.FILE
    assert sorted(h.host.ip for h in step.hosts or ()) == ["10.0.0.1", "10.0.0.2"]
    assert sim.job(launched.job_instance_id).name == "push app.conf"


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_push_config_file_default_name_and_host_ids(sim, client_for, flavor):
    targets = IPS if flavor == "esb-v2" else Targets(host_ids=[101, 102])
    async with client_for(flavor) as client:
        launched = await _push(client, targets)
    assert (launched.job_instance_name or "").startswith("API_PUSH_CONFIG_FILE_")


async def test_v2_push_config_file_to_an_unknown_account_is_not_found(sim, client_for):
    async with client_for("esb-v2") as client:
        with pytest.raises(NotFoundError) as caught:
            await _push(client, IPS, account="nobody")
    assert caught.value.code == 1244003


# --- plans and their variables ---------------------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_plan_list_and_detail(sim, client_for, flavor):
    steps = [StepPlan(script_content="echo $1", script_param="v1 --fast"), StepPlan(StepType.FILE)]
    sim.add_plan(7, steps, name="deploy", variables=VARIABLES)
    sim.add_plan(8, [StepPlan()], name="rollback")
    sim.add_plan(9, [StepPlan()], name="elsewhere", scope=SCOPE.biz(99))
    async with client_for(flavor) as client:
        page = await client.get_job_plan_list(SCOPE, length=10)
        named = await client.get_job_plan_list(SCOPE, name="deplo")
        every = [plan async for plan in client.iter_job_plans(SCOPE, page_size=1)]
        plan = await client.get_job_plan_detail(SCOPE, 7)
        with pytest.raises(NotFoundError):
            await client.get_job_plan_detail(SCOPE, 9)
        accounts = await client.get_account_list(SCOPE)
    assert sorted(p.job_plan_id for p in page.items) == [7, 8]
    assert page.total == (None if flavor == "esb-v2" else 2)
    assert [p.name for p in named.items] == ["deploy"]
    assert sorted(p.job_plan_id for p in every) == [7, 8]
    assert page.items[0].steps is None
    assert page.items[0].variables is None
    assert plan.job_plan_id == 7
    assert plan.name == "deploy"
    now = dt.datetime.fromtimestamp(sim.now_ms() / 1000, dt.timezone.utc)
    assert plan.create_time is not None
    assert abs(plan.create_time - now) < dt.timedelta(seconds=2)
    assert [s.type for s in plan.steps or ()] == [StepType.SCRIPT, StepType.FILE]
    script = (plan.steps or ())[0].script
    assert script is not None  # v3 sends it in base64, v2 as stored: the same text here
    assert (script.content, script.param, script.timeout) == ("echo $1", "v1 --fast", 7200)
    assert script.account is not None
    assert script.account.id == accounts.items[0].id  # the scope's first, as a plan's step
    names = {v.name: v for v in plan.variables or ()}
    assert names["version"].value == "1.0"
    assert names["version"].type is VariableType.STRING
    password = names["db_password"]
    assert password.is_secret
    # v3 masks the password's default; v2 sends it as stored. Never in a repr either way.
    assert password.value == ("hunter2-hunter2" if flavor == "esb-v2" else "******")
    assert "hunter2" not in repr(plan)
    assert "hunter2" not in repr(password)
    assert names["targets"].server == Targets(ips=["0:10.0.0.9"])


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_output_variables_after_a_plan_job_ends(sim, client_for, flavor):
    steps = [StepPlan(hosts=[HostPlan(ip="10.0.0.1")]), StepPlan(hosts=[HostPlan(ip="10.0.0.1")])]
    sim.add_plan(7, steps, name="build", variables=VARIABLES, outputs={"build": "b-42"})
    async with client_for(flavor) as client:
        launched = await client.execute_job_plan(
            SCOPE,
            7,
            global_vars=[
                GlobalVar(name="version", value="2.0"),
                GlobalVar.password("db_password", "s3cret-pass"),
            ],
        )
        before = await client.get_job_instance_global_var_value(SCOPE, launched.job_instance_id)
        sim.advance(60)
        after = await client.get_job_instance_global_var_value(SCOPE, launched.job_instance_id)
    assert before.values() == {"version": "2.0", "build": ""}
    assert after.job_instance_id == launched.job_instance_id
    assert len(after.steps) == 2
    first, _last = after.steps
    assert {v.name: v.value for v in first.variables} == {"version": "2.0", "build": ""}
    assert after.values() == {"version": "2.0", "build": "b-42"}
    assert all(v.type is VariableType.STRING for s in after.steps for v in s.variables)


# --- scripts (v3) ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_scripts_and_their_versions(sim, client_for, flavor):
    script_id, (old, new) = sim.add_script(
        SCOPE, "cleanup", [("1.0", "echo one"), ("2.0", "echo two")], language=1
    )
    public_id, (public_version,) = sim.add_script(None, "check disk", "df -h", language=4)
    sim.add_script(SCOPE.biz(99), "not ours", "true")
    async with client_for(flavor) as client:
        page = await client.get_script_list(SCOPE)
        python = await client.get_script_list(SCOPE, script_language=4)
        public = await client.get_script_list(None)
        every = [s async for s in client.iter_scripts(SCOPE, page_size=1)]
        by_id = await client.get_script_version_detail(SCOPE, script_version_id=new)
        by_pair = await client.get_script_version_detail(SCOPE, script_id=script_id, version="1.0")
        public_detail = await client.get_script_version_detail(
            None, script_version_id=public_version
        )
        public_from_scope = await client.get_script_version_detail(
            SCOPE, script_version_id=public_version
        )
        with pytest.raises(NotFoundError):  # 1243001 (bk-job >= 3.8; null data before)
            await client.get_script_version_detail(SCOPE, script_version_id=99_999)
        launched = await client.fast_execute_script(
            SCOPE, targets=IPS, account=Account(alias="root"), script_version_id=new
        )
    assert [(s.script_id, s.online_script_version_id) for s in page.items] == [(script_id, new)]
    assert page.total == 1
    assert python.total == 0
    assert [s.script_id for s in public.items] == [public_id]
    assert [s.script_id for s in every] == [script_id]
    assert by_id is not None
    assert (by_id.content, by_id.status) == (
        "echo two",
        ScriptVersionStatus.ONLINE,
    )
    assert by_pair is not None
    assert (by_pair.script_version_id, by_pair.status) == (
        old,
        ScriptVersionStatus.OFFLINE,
    )
    assert public_detail is not None
    assert public_detail.content == "df -h"
    assert public_from_scope is not None  # checkScriptInApp lets a public script through
    assert public_from_scope.script_id == public_id
    assert launched.job_instance_id in sim.job_ids()


async def test_v2_reads_scripts_by_their_online_version_only(sim, client_for):
    _, (old, new) = sim.add_script(SCOPE, "cleanup", [("1.0", "echo one"), ("2.0", "echo two")])
    async with client_for("esb-v2") as client:
        page = await client.get_script_list(SCOPE)
        detail = await client.get_script_detail(SCOPE, old)
        with pytest.raises(UnsupportedOperationError):
            await client.get_script_version_detail(None, script_version_id=1)
    assert [(s.script_id, s.online_script_version_id, s.version) for s in page.items] == [
        (None, new, "2.0")
    ]
    assert (detail.script_version_id, detail.version) == (old, "1.0")
    assert sim.request_count() == 2


# --- accounts --------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_accounts(sim, client_for, flavor):
    extra = sim.add_account(SCOPE, "deploy", account="deployer")
    async with client_for(flavor) as client:
        page = await client.get_account_list(SCOPE)
        every = [a async for a in client.iter_accounts(SCOPE, page_size=2)]
        if flavor != "esb-v2":
            db = await client.get_account_list(SCOPE, category=AccountCategory.DB)
            by_alias = await client.get_account_list(SCOPE, alias="deploy")
    aliases = sorted(a.alias or "" for a in page.items)
    if flavor == "esb-v2":  # get_os_account: system accounts only, no paging
        assert aliases == ["deploy", "root", "system"]
        assert page.total == 3
    else:
        assert aliases == ["deploy", "mysql", "root", "system"]
        assert [a.type for a in db.items] == [AccountType.MYSQL]
        assert [a.id for a in by_alias.items] == [extra]
        assert by_alias.items[0].account == "deployer"
    assert sorted(a.alias or "" for a in every) == aliases
    root = next(a for a in page.items if a.alias == "root")
    assert root.category is AccountCategory.SYSTEM
    assert root.ref == Account(id=root.id)
    assert root.create_time is not None


# --- v2's whole-job log ----------------------------------------------------------------------


async def test_v2_job_instance_log(sim, client_for):
    failed = HostPlan(outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=3)
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[HostPlan(), failed])])
    sim.advance(30)
    async with client_for("esb-v2") as client:
        (step,) = await client.get_job_instance_log(SCOPE, job_id)
    assert step.finished
    assert step.status is JobStatus.FAIL
    by_status = {h.status: h for h in step.hosts}
    assert set(by_status) == {HostStatus.SUCCESS, HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE}
    bad = by_status[HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE]
    assert bad.exit_code == 3
    assert "exit code 3" in (bad.log_content or "")
    assert bad.total_time is not None
    assert bad.start_time is not None


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_job_instance_log_is_v2_only(sim, client_for, flavor):
    async with client_for(flavor) as client:
        with pytest.raises(UnsupportedOperationError):
            await client.get_job_instance_log(SCOPE, 1)
    assert sim.request_count() == 0
