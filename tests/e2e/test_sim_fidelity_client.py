"""The real client against the simulator on all three flavors, for each point of issue 9.

What the client must refuse is refused before anything is sent (``sim.request_count() == 0``);
what the server decides arrives as the typed error; and after an operation the tests wait for
the step to change, polling as a real caller must, never assuming it changed with the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import pytest

from bkjob_async import (
    Account,
    AuthenticationError,
    BkJobClient,
    FileSource,
    GlobalVar,
    InvalidRequestError,
    JobOperation,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    StepOperation,
    Targets,
    UnsupportedOperationError,
)
from bkjob_async.models.enums import HostStatus, JobStatus, StepType
from bkjob_async.testing import BkJobSimulator, Fault, HostPlan, StepPlan

from .conftest import ALL_FLAVORS, GATEWAY, JOBV3, SCOPE, V2, V3_FLAVORS

H = HostStatus
ROOT = Account(alias="root")
T = TypeVar("T")
#: The only app the strict simulators accept.
SIM_APP = {"app_code": "sim-app", "app_secret": "sim-secret"}


async def wait_until(
    sim: BkJobSimulator, fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool]
) -> T:
    """Poll ``fetch`` until ``done``, letting 50 ms of simulated time pass between polls."""
    with anyio.fail_after(5):
        while True:
            value = await fetch()
            if done(value):
                return value
            sim.advance(0.05)


async def run_script(client: BkJobClient, targets: Targets, **options: Any) -> int:
    launch = await client.fast_execute_script(
        SCOPE, targets=targets, account=ROOT, script_content="echo hi", **options
    )
    return launch.job_instance_id


def host_ids(sim: BkJobSimulator, job_id: int) -> list[int | None]:
    return sorted(h.bk_host_id for h in sim.job(job_id).steps[0].hosts or ())


# -- point 1: v3 targets ----------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3_FLAVORS)
@pytest.mark.parametrize(
    "launch",
    [
        lambda c, t: c.fast_execute_script(SCOPE, targets=t, account=ROOT, script_content="ls"),
        lambda c, t: c.fast_transfer_file(
            SCOPE, targets=Targets(host_ids=[1001]), account=ROOT, file_target_path="/tmp/",
            file_sources=[FileSource(["/a"], server=t)],
        ),
        lambda c, t: c.execute_job_plan(SCOPE, 1, global_vars=[GlobalVar(name="h", server=t)]),
    ],
    ids=["target_server", "file source server", "host variable"],
)  # fmt: skip
async def test_v3_host_ids_with_ips_are_refused_before_sending(sim, make_client, flavor, launch):
    async with make_client(flavor=flavor) as client:
        with pytest.raises(ValueError, match="ignores ip_list when host_id_list is non-empty"):
            await launch(client, Targets(host_ids=[1001], ips=["10.0.0.9"]))
    assert sim.request_count() == 0


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_ipv6_ips_are_refused_before_sending(sim, make_client, flavor):
    async with make_client(flavor=flavor) as client:
        with pytest.raises(ValueError, match="IPv6") as caught:
            await run_script(client, Targets(ips=["fd00::1"]))
    assert "host id" in str(caught.value)
    assert sim.request_count() == 0


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_v3_runs_on_exactly_the_hosts_named(sim, make_client, flavor):
    async with make_client(flavor=flavor) as client:
        by_id = await run_script(client, Targets(host_ids=[1001, 1002]))
        by_ip = await run_script(client, Targets(ips=["10.0.0.3", (0, "10.0.0.4")]))
    assert host_ids(sim, by_id) == [1001, 1002]
    assert host_ids(sim, by_ip) == [1003, 1004]


# -- point 2: v2 targets ----------------------------------------------------------------------


async def test_v2_host_ids_are_refused_naming_the_alternatives(sim, make_client):
    async with make_client(flavor=V2) as client:
        with pytest.raises(ValueError, match="cannot target hosts by host id") as caught:
            await run_script(client, Targets(host_ids=[1001]))
    assert "ips=" in str(caught.value)
    assert "esb-jobv3" in str(caught.value)
    assert sim.request_count() == 0


async def test_every_kind_of_target_reaches_the_server_on_every_flavor(sim, make_client):
    targets = Targets(ips=["10.0.0.5"], dynamic_group_ids=["db"], topo_nodes=[("module", 42)])
    ran = {}
    for flavor in ALL_FLAVORS:
        async with make_client(flavor=flavor) as client:
            ran[flavor] = host_ids(sim, await run_script(client, targets))
    assert len(ran[V2]) == 7  # the ip, 3 hosts of the group and 3 of the module
    assert ran[V2] == ran[GATEWAY] == ran[JOBV3]


# -- point 3: timeouts ------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_timeouts_up_to_72_hours(sim, make_client, flavor):
    targets = Targets(ips=["10.0.0.1"])
    async with make_client(flavor=flavor) as client:
        job_id = await run_script(client, targets, script_timeout=259200)
        with pytest.raises(ValueError, match="259200"):
            await run_script(client, targets, script_timeout=259201)
        with pytest.raises(ValueError, match="259200"):
            await client.fast_transfer_file(
                SCOPE, targets=targets, account=ROOT, file_target_path="/tmp/",
                file_sources=[FileSource(["/a"], server=targets)], transfer_timeout=259201,
            )  # fmt: skip
    assert sim.job(job_id).status is JobStatus.RUNNING
    assert sim.request_count() == 1


# -- point 4: v2 step status is partial -------------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_step_status_says_what_it_does_not_know(sim, make_client, flavor):
    rows = [HostPlan(), HostPlan(), HostPlan(outcome=H.TASK_TIMEOUT), HostPlan(tag="t")]
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=rows)])
    sim.advance(10)
    step_id = sim.job(job_id).steps[0].step_instance_id
    async with make_client(flavor=flavor) as client:
        if flavor is JOBV3:
            with pytest.raises(UnsupportedOperationError):
                await client.get_step_instance_status(SCOPE, job_id, step_id)
            return
        result = await client.get_step_instance_status(SCOPE, job_id, step_id)
    sizes = [g.host_size for g in result.groups]
    if flavor is V2:  # bk-job lists the first group only (§7.5)
        assert sizes == [2, None, None]
        assert result.partial
        assert result.step.hosts is None
        assert [g.complete for g in result.groups] == [True, False, False]
    else:
        assert sizes == [2, 1, 1]
        assert not result.partial
        assert len(result.step.hosts or ()) == 4


# -- point 5: rolling steps and batch ---------------------------------------------------------


async def test_gateway_step_status_reads_every_batch_unless_asked(sim, make_client):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=6, rolling_batch_size=2)])
    sim.advance(2.5 + 0.2 + 0.1)  # batch 2 started
    step_id = sim.job(job_id).steps[0].step_instance_id
    async with make_client(flavor=GATEWAY) as client:
        every = await client.get_step_instance_status(SCOPE, job_id, step_id)
        first = await client.get_step_instance_status(SCOPE, job_id, step_id, batch=1)
        with pytest.raises(ValueError, match="numbered from 1"):
            await client.get_step_instance_status(SCOPE, job_id, step_id, batch=0)
    assert len(every.step.hosts or ()) == 6
    assert [h.status for h in first.step.hosts or ()] == [H.SUCCESS, H.SUCCESS]


async def test_v2_step_status_counts_every_batch(sim, make_client):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=6, rolling_batch_size=2)])
    sim.advance(2.5 + 0.2 + 0.1)
    step_id = sim.job(job_id).steps[0].step_instance_id
    async with make_client(flavor=V2) as client:
        result = await client.get_step_instance_status(SCOPE, job_id, step_id)
        with pytest.raises(ValueError, match="no filters"):
            await client.get_step_instance_status(SCOPE, job_id, step_id, batch=1)
    assert [(g.status, g.host_size) for g in result.groups] == [(H.WAITING, 4), (H.SUCCESS, None)]


# -- point 6: ESB credentials -----------------------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
@pytest.mark.parametrize(
    "wrong", [{"app_secret": "not-the-secret"}, {"app_code": "no-such-app"}], ids=["secret", "app"]
)
async def test_wrong_credentials_are_an_authentication_error_sent_once(make_client, flavor, wrong):
    async with BkJobSimulator(apps={"sim-app": "sim-secret"}) as strict:
        async with make_client(
            flavor=flavor, base_url=strict.url, **{**SIM_APP, **wrong}
        ) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.get_job_instance_status(SCOPE, 1)
        assert strict.request_count() == 1  # never retried
    assert "not-the-secret" not in str(caught.value)


# -- point 7: v2 fast_push_file ---------------------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_file_launch_reports_its_step_except_on_v2(sim, make_client, flavor):
    targets = Targets(ips=["10.0.0.1"])
    async with make_client(flavor=flavor) as client:
        launch = await client.fast_transfer_file(
            SCOPE, targets=targets, account=ROOT, file_target_path="/tmp/",
            file_sources=[FileSource(["/a"], server=targets)],
        )  # fmt: skip
    step_id = sim.job(launch.job_instance_id).steps[0].step_instance_id
    assert launch.step_instance_id == (None if flavor is V2 else step_id)


# -- point 9: operations are asynchronous -----------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_after_confirming_the_caller_waits_for_the_step(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(StepType.MANUAL_CONFIRM), StepPlan(hosts=1)])
    step_id = sim.job(job_id).steps[0].step_instance_id
    async with make_client(flavor=flavor) as client:
        await client.operate_step_instance(SCOPE, job_id, step_id, StepOperation.CONFIRM_CONTINUE)
        now = await client.get_job_instance_status(SCOPE, job_id)
        assert (now.job.status, now.steps[0].status) == (JobStatus.RUNNING, JobStatus.WAITING_USER)
        later = await wait_until(
            sim,
            lambda: client.get_job_instance_status(SCOPE, job_id),
            lambda s: s.steps[0].status is not JobStatus.WAITING_USER,
        )
    assert [s.status for s in later.steps] == [JobStatus.SUCCESS, JobStatus.RUNNING]


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_after_terminating_the_caller_waits_for_the_stop(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=2, duration=60)])
    sim.advance(1)
    async with make_client(flavor=flavor) as client:
        await client.operate_job_instance(SCOPE, job_id, JobOperation.TERMINATE)
        now = await client.get_job_instance_status(SCOPE, job_id)
        assert now.job.status is JobStatus.RUNNING  # the stop event is still queued
        stopped = await wait_until(
            sim, lambda: client.get_job_instance_status(SCOPE, job_id), lambda s: s.finished
        )
    assert stopped.job.status is JobStatus.STOP_SUCCESS
    assert {h.status for h in stopped.steps[0].hosts or ()} == {H.GSE_TASK_TERMINATE_SUCCESS}


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_after_ignoring_an_error_the_job_runs_before_the_step_changes(
    sim, make_client, flavor
):
    bad = HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE)
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[bad]), StepPlan(hosts=1)])
    sim.advance(10)
    step_id = sim.job(job_id).steps[0].step_instance_id
    async with make_client(flavor=flavor) as client:
        await client.operate_step_instance(SCOPE, job_id, step_id, StepOperation.IGNORE_ERROR)
        now = await client.get_job_instance_status(SCOPE, job_id)
        assert (now.finished, now.steps[0].status) == (False, JobStatus.FAIL)
        later = await wait_until(
            sim,
            lambda: client.get_job_instance_status(SCOPE, job_id),
            lambda s: s.steps[0].status is JobStatus.IGNORE_ERROR,
        )
    assert later.steps[1].status is JobStatus.RUNNING


# -- point 10: rolling steps report 15 --------------------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_rolling_step_between_batches_is_rolling_waiting(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=4, rolling_batch_size=2)])
    sim.advance(2.5)
    async with make_client(flavor=flavor) as client:
        status = await client.get_job_instance_status(SCOPE, job_id)
    assert status.steps[0].status is JobStatus.ROLLING_WAITING
    assert not status.finished


# -- point 11: gateway 429 --------------------------------------------------------------------


async def test_a_429_without_retry_after_is_read_from_the_reset_header(sim, make_client):
    sim.inject(Fault.rate_limited(retry_after=3))
    sim.inject(Fault.rate_limited())
    async with make_client(flavor=GATEWAY, retry=RetryPolicy(max_attempts=1)) as client:
        for expected in (3.0, 1.0):
            with pytest.raises(RateLimitedError) as caught:
                await client.get_job_instance_status(SCOPE, 1)
            assert caught.value.retry_after == expected


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_rate_limit_is_waited_out_on_every_flavor(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan()])
    sim.inject(Fault.rate_limited(), times=2)
    async with make_client(flavor=flavor) as client:
        status = await client.get_job_instance_status(SCOPE, job_id)
    assert status.job.job_instance_id == job_id
    assert sim.request_count() == 3


# -- point 12: validations, confirm users, logs -----------------------------------------------


async def _transfer_refused(
    client: BkJobClient, match: str, path: str, callback_url: str | None = None
) -> None:
    """A transfer from and to 10.0.0.1 into ``path`` is refused by a ``ValueError`` that says
    ``match``."""
    targets = Targets(ips=["10.0.0.1"])
    sources = [FileSource(["/a"], server=targets)]
    with pytest.raises(ValueError, match=match):
        await client.fast_transfer_file(
            SCOPE, targets=targets, account=ROOT, file_target_path=path, file_sources=sources,
            callback_url=callback_url,
        )  # fmt: skip


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_callback_with_user_info_is_refused_before_sending(sim, make_client, flavor):
    async with make_client(flavor=flavor) as client:
        await _transfer_refused(client, "no user info", "/tmp/", "https://u:p@cb.example.com/")
    assert sim.request_count() == 0  # the simulator refuses it too (test_sim_fidelity_wire)
    assert sim.job_ids() == []


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_relative_path_is_refused_before_it_is_sent(sim, make_client, flavor):
    async with make_client(flavor=flavor) as client:
        await _transfer_refused(client, "file_target_path must be an absolute path", "tmp/")
        # (bk-job's own refusal names the field too: 1241007 file_target_path)
        params = {**SCOPE.params(client.flavor), "file_target_path": "tmp/"}
        with pytest.raises(InvalidRequestError, match=r"file_target_path") as caught:
            await client.call("fast_push_file" if flavor == "esb-v2" else "fast_transfer_file",
                              {**params, **_sources(flavor)})  # fmt: skip
    assert caught.value.code == 1241007
    assert sim.request_count() == 1
    assert sim.job_ids() == []


def _sources(flavor: str) -> dict[str, object]:
    host = {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
    if flavor == "esb-v2":
        return {"file_source": [{"files": ["/a"], "account": "root", **host}], "account": "root",
                **host}  # fmt: skip
    return {
        "file_source_list": [{"file_list": ["/a"], "account": {"alias": "root"}, "server": host}],
        "account_alias": "root",
        "target_server": host,
    }


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_confirm_users_bind_only_with_confirm_roles(sim, make_client, flavor):
    open_plan = StepPlan(StepType.MANUAL_CONFIRM, confirm_users=("bob",))
    closed_plan = StepPlan(StepType.MANUAL_CONFIRM, confirm_users=("bob",), confirm_roles=("OPS",))
    open_job, closed_job = sim.create_job(SCOPE, [open_plan]), sim.create_job(SCOPE, [closed_plan])
    confirm = StepOperation.CONFIRM_CONTINUE
    async with make_client(flavor=flavor, username="alice") as client:
        await client.operate_step_instance(
            SCOPE, open_job, sim.job(open_job).steps[0].step_instance_id, confirm
        )
        with pytest.raises(PermissionDeniedError) as caught:
            await client.operate_step_instance(
                SCOPE, closed_job, sim.job(closed_job).steps[0].step_instance_id, confirm
            )
    assert caught.value.code == 1244016


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_logs_as_bk_job_shapes_them(sim, make_client, flavor):
    waiting = sim.create_job(SCOPE, [StepPlan(hosts=1, start_delay=60)])
    files = sim.create_job(
        SCOPE, [StepPlan(StepType.FILE, hosts=[HostPlan(), HostPlan(start_delay=60)])]
    )
    sim.advance(10)
    script_step, file_step = sim.job(waiting).steps[0], sim.job(files).steps[0]
    file_hosts = [h.bk_host_id for h in file_step.hosts or ()]
    async with make_client(flavor=flavor) as client:
        blank = await client.get_job_instance_ip_log(
            SCOPE, waiting, script_step.step_instance_id, script_step.hosts[0].bk_host_id
        )
        one = await client.get_job_instance_ip_log(
            SCOPE, files, file_step.step_instance_id, file_hosts[0]
        )
        both = await client.batch_get_job_instance_ip_log(
            SCOPE, files, file_step.step_instance_id, file_hosts
        )
    assert blank.log_content is None
    assert [int(row.mode) for row in one.file_logs or ()] == [1, 0]  # download, then upload
    assert both[0].host.bk_host_id == file_hosts[0]
    # A host with no file log yet comes back from bk-job as a row of nulls: left out.
    assert len(both) == 1


# -- point 13: file hosts fail with file statuses ---------------------------------------------


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_failed_file_hosts_report_a_file_status(sim, make_client, flavor):
    job_id = sim.create_job(SCOPE, [StepPlan(StepType.FILE, hosts=2, fail_rate=1.0)])
    sim.advance(10)
    async with make_client(flavor=flavor) as client:
        status = await client.get_job_instance_status(SCOPE, job_id)
    assert [h.status for h in status.steps[0].hosts or ()] == [H.COPYFILE_FAILED] * 2
    assert status.job.status is JobStatus.FAIL
