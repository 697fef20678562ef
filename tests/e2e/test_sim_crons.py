"""Cron jobs (定时任务) against the simulator over HTTP, on every generation that serves them:
stored, listed, started and paused, changed (which pauses them), deleted; validated as bk-job
validates them, and the client's own checks before anything is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from bkjob_async import (
    BkJobClient,
    CronJob,
    CronPage,
    CronStatus,
    GlobalVar,
    InvalidRequestError,
    NotFoundError,
    OperationNotAllowedError,
    ServerError,
    UnsupportedOperationError,
)
from bkjob_async.testing import BkJobSimulator, PlanVar, StepPlan

from .conftest import ALL_FLAVORS, SCOPE, V3_FLAVORS

pytestmark = pytest.mark.sim(seed=5, virtual_clock=True, host_duration=2.0)
PLAN = 42

MakeClient = Callable[[str], BkJobClient]


@pytest.fixture
def client_for(sim: BkJobSimulator, make_client: Any) -> MakeClient:
    sim.add_plan(
        PLAN,
        [StepPlan(hosts=1)],
        name="deploy",
        variables=[PlanVar("version", "1.0"), PlanVar("token", "t0k3n-t0k3n-t0k3n", type=4)],
    )
    sim.add_plan(43, [StepPlan(hosts=1)], name="other")
    return lambda flavor: make_client(base_url=sim.url, flavor=flavor, username="dave")


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_cron_job_is_stored_listed_started_paused_and_changed(client_for, flavor):
    async with client_for(flavor) as client:
        saved = await client.save_cron(
            SCOPE, job_plan_id=PLAN, name="nightly", expression="0 2 * * *"
        )
        assert isinstance(saved, CronJob)
        assert (saved.name, saved.job_plan_id, saved.expression) == ("nightly", PLAN, "0 2 * * *")
        assert saved.status is CronStatus.PAUSED  # a save pauses it
        assert saved.creator == "dave"
        assert saved.create_time is not None
        assert saved.create_time.tzinfo is not None
        other = await client.save_cron(SCOPE, job_plan_id=43, name="hourly", expression="0 * * * *")
        page = await client.get_cron_list(SCOPE)
        assert isinstance(page, CronPage)
        assert {c.id for c in page.items} == {saved.id, other.id}
        assert page.total == (None if flavor == "esb-v2" else 2)
        assert all(c.status is CronStatus.PAUSED for c in page.items)

        await client.update_cron_status(SCOPE, saved.id, CronStatus.RUNNING)
        running = await client.get_cron_list(SCOPE, status=CronStatus.RUNNING)
        paused = await client.get_cron_list(SCOPE, status=CronStatus.PAUSED)
        assert [c.id for c in running.items] == [saved.id]
        assert running.items[0].is_running
        assert [c.id for c in paused.items] == [other.id]
        by_name = [c async for c in client.iter_crons(SCOPE, name="night", page_size=1)]
        assert [c.id for c in by_name] == [saved.id]
        by_id = await client.get_cron_list(SCOPE, cron_id=other.id)
        assert [c.name for c in by_id.items] == ["hourly"]

        changed = await client.save_cron(SCOPE, cron_id=saved.id, name="nightly-2")
        assert (changed.id, changed.name, changed.expression) == (
            saved.id,
            "nightly-2",
            "0 2 * * *",
        )
        assert changed.status is CronStatus.PAUSED  # changed: paused again, as bk-job does
        await client.update_cron_status(SCOPE, saved.id, CronStatus.RUNNING)
        await client.update_cron_status(SCOPE, saved.id, CronStatus.PAUSED)
        again = await client.get_cron_list(SCOPE, cron_id=saved.id)
        assert again.items[0].status is CronStatus.PAUSED


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_the_detail_has_the_variables_and_a_deleted_cron_is_gone(client_for, flavor):
    async with client_for(flavor) as client:
        saved = await client.save_cron(
            SCOPE,
            job_plan_id=PLAN,
            name="with vars",
            expression="*/5 * * * *",
            global_vars=[
                GlobalVar(name="version", value="2.0"),
                GlobalVar.password("token", "s3cr3t-s3cr3t"),
            ],
            execute_time_zone="UTC",
        )
        detail = await client.get_cron_detail(SCOPE, saved.id)
        assert detail is not None
        assert detail.execute_time_zone == "UTC"
        values = {v.name: v.value for v in detail.global_vars or ()}
        assert values == {"version": "2.0", "token": "s3cr3t-s3cr3t"}
        assert "s3cr3t" not in repr(detail)  # a password never shows
        listed = await client.get_cron_list(SCOPE)
        assert listed.items[0].global_vars is None  # the list leaves them out
        await client.delete_cron(SCOPE, saved.id)
        assert await client.get_cron_detail(SCOPE, saved.id) is None
        with pytest.raises(NotFoundError):
            await client.delete_cron(SCOPE, saved.id)


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_bk_job_refuses_what_it_refuses(client_for, flavor, sim):
    async with client_for(flavor) as client:
        await client.save_cron(SCOPE, job_plan_id=PLAN, name="taken", expression="0 1 * * *")
        with pytest.raises(InvalidRequestError) as taken:
            await client.save_cron(SCOPE, job_plan_id=43, name="taken", expression="0 1 * * *")
        assert taken.value.code == 1245004
        with pytest.raises(NotFoundError) as no_plan:
            await client.save_cron(SCOPE, job_plan_id=999, name="x", expression="0 1 * * *")
        assert no_plan.value.code == 1243009
        with pytest.raises(NotFoundError) as no_cron:
            await client.update_cron_status(SCOPE, 9_999_999, CronStatus.RUNNING)
        assert no_cron.value.code == 1245001
        with pytest.raises(NotFoundError):
            await client.save_cron(SCOPE, cron_id=9_999_999, name="y")


async def test_a_one_off_cron_whose_time_passed_cannot_start(client_for, sim):
    async with client_for("apigw-v3") as client:
        when = dt.datetime.fromtimestamp(sim.now() + 60, dt.timezone.utc)
        once = await client.save_cron(SCOPE, job_plan_id=PLAN, name="once", execute_time=when)
        sim.advance(120)
        with pytest.raises(OperationNotAllowedError) as passed:
            await client.update_cron_status(SCOPE, once.id, CronStatus.RUNNING)
        assert passed.value.code == 1245006


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"job_plan_id": PLAN, "expression": "0 1 * * *"}, ValueError, "needs name"),
        ({"name": "n", "expression": "0 1 * * *"}, ValueError, "needs job_plan_id"),
        ({"job_plan_id": PLAN, "name": "n"}, ValueError, "expression or an execute_time"),
        ({"job_plan_id": PLAN, "name": "n", "expression": "0 0/5 * * ?"}, ValueError, "5-field"),
        ({"job_plan_id": PLAN, "name": "n", "expression": "* * * * * *"}, ValueError, "5-field"),
        ({"job_plan_id": PLAN, "name": "x" * 61, "expression": "0 1 * * *"}, ValueError, "60"),
        ({"cron_id": 5}, ValueError, "at least one"),
        ({"cron_id": 0, "name": "n"}, ValueError, "cron_id"),
        ({"job_plan_id": PLAN, "name": "n", "execute_time": dt.datetime(2030, 1, 1)}, ValueError,
         "timezone-aware"),
    ],
)  # fmt: skip
async def test_the_client_refuses_a_bad_save_before_sending(client_for, sim, kwargs, error, says):
    before = sim.request_count()
    async with client_for("apigw-v3") as client:
        with pytest.raises(error, match=says):
            await client.save_cron(SCOPE, **kwargs)
        with pytest.raises(ValueError, match="both ends"):
            await client.get_cron_list(SCOPE, created_from=dt.datetime.now(dt.timezone.utc))
        with pytest.raises(ValueError, match="RUNNING or PAUSED"):
            await client.update_cron_status(SCOPE, 1, 3)
    assert sim.request_count() == before


async def test_v2_lacks_the_detail_delete_and_the_v3_only_fields(client_for, sim):
    before = sim.request_count()
    async with client_for("esb-v2") as client:
        with pytest.raises(UnsupportedOperationError):
            await client.get_cron_detail(SCOPE, 1)
        with pytest.raises(UnsupportedOperationError):
            await client.delete_cron(SCOPE, 1)
        with pytest.raises(ValueError, match="global_vars"):
            await client.save_cron(
                SCOPE, job_plan_id=PLAN, name="n", expression="0 1 * * *",
                global_vars=[GlobalVar(name="version", value="2")],
            )  # fmt: skip
        now = dt.datetime.now(dt.timezone.utc)
        with pytest.raises(ValueError, match="created_from"):
            await client.get_cron_list(SCOPE, created_from=now, created_to=now)
    assert sim.request_count() == before


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_call_answers_a_cron_list_as_get_cron_list_does(client_for, flavor):
    async with client_for(flavor) as client:
        await client.save_cron(SCOPE, job_plan_id=PLAN, name="c", expression="0 3 * * *")
        params: dict[str, Any] = {**SCOPE.params(client.flavor), "start": 0, "length": 20}
        called = await client.call("get_cron_list", params)
        assert called == await client.get_cron_list(SCOPE)
        key = "cron_status" if flavor == "esb-v2" else "status"
        running = await client.call("get_cron_list", {**params, key: 1})
        assert running.items == ()


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_the_list_puts_running_crons_first_and_ignores_the_time_windows(
    client_for, sim, flavor
):
    async with client_for(flavor) as client:
        first = await client.save_cron(SCOPE, job_plan_id=PLAN, name="a", expression="0 1 * * *")
        sim.advance(60)
        second = await client.save_cron(SCOPE, job_plan_id=43, name="b", expression="0 2 * * *")
        sim.advance(60)
        third = await client.save_cron(SCOPE, job_plan_id=43, name="c", expression="0 3 * * *")
        sim.advance(60)
        await client.update_cron_status(SCOPE, first.id, CronStatus.RUNNING)
        page = await client.get_cron_list(SCOPE)
        # CronJobDAOImpl: is_enable desc, then last_modify_time desc
        assert [c.id for c in page.items] == [first.id, third.id, second.id]
        if flavor == "esb-v2":
            return  # (the client refuses v2's time filters: dates in the server's zone)
        long_ago = dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)
        windows = {"created_from": long_ago, "created_to": long_ago + dt.timedelta(days=1)}
        ignored = await client.get_cron_list(SCOPE, **windows)
        assert [c.id for c in ignored.items] == [first.id, third.id, second.id]
        both = await client.get_cron_list(
            SCOPE, modified_from=long_ago, modified_to=long_ago + dt.timedelta(days=1)
        )
        assert both.total == 3


@pytest.mark.parametrize("flavor", ALL_FLAVORS)
async def test_a_cron_id_the_scope_lacks(client_for, flavor):
    async with client_for(flavor) as client:
        if flavor == "esb-v2":  # bk-job answers [null]: no cron
            page = await client.get_cron_list(SCOPE, cron_id=9_999_999)
            assert (page.items, page.total) == ((), None)
            return
        with pytest.raises(ServerError) as broken:  # bk-job dereferences the missing cron
            await client.get_cron_list(SCOPE, cron_id=9_999_999)
        assert broken.value.code == 1240002
        assert await client.get_cron_detail(SCOPE, 9_999_999) is None


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_changed_variables_name_their_plan_again(client_for, sim, flavor):
    async with client_for(flavor) as client:
        saved = await client.save_cron(SCOPE, job_plan_id=PLAN, name="vars", expression="0 4 * * *")
        version = [GlobalVar(name="version", value="3.0")]
        before = sim.request_count()
        with pytest.raises(ValueError, match="give job_plan_id with global_vars"):
            await client.save_cron(SCOPE, cron_id=saved.id, name="vars 2", global_vars=version)
        assert sim.request_count() == before
        # bk-job looks the variables up under the request's plan id: none, here
        params = {**SCOPE.params(client.flavor), "id": saved.id, "name": "vars 2"}
        with pytest.raises(ServerError):
            await client.call("save_cron", {**params, "global_var_list": [{"name": "version"}]})
        changed = await client.save_cron(
            SCOPE, cron_id=saved.id, job_plan_id=PLAN, global_vars=version
        )
        assert changed.global_vars is not None
        assert {v.name: v.value for v in changed.global_vars} == {"version": "3.0"}
