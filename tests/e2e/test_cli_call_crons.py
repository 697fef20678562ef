"""``bkjob-async call`` (any API by name, key=value with JSON values, JSON out) and ``crons``
(list, pause, resume), run in-process against the simulator."""

from __future__ import annotations

import json

import pytest

from bkjob_async.testing import BkJobSimulator, PlanVar, StepPlan

from ..cli_run import SIM, make_env, run

pytestmark = pytest.mark.sim(**SIM)
SECRET = "hunter2-hunter2"


def _plan(sim: BkJobSimulator) -> None:
    sim.add_plan(7, [StepPlan()], name="deploy", variables=[PlanVar("pw", SECRET, type=4)])


def _saving(sim: BkJobSimulator, flavor: str) -> tuple[dict[str, str], tuple[str, str, str]]:
    """Add plan 7; return the CLI's environment for ``flavor`` and ``save_cron``'s three names
    there (the plan's id, the cron's name, its expression)."""
    _plan(sim)
    if flavor == "esb-v2":
        return make_env(sim.url, BKJOB_FLAVOR=flavor), ("bk_job_id", "cron_name", "cron_expression")
    return make_env(sim.url, BKJOB_FLAVOR=flavor), ("job_plan_id", "name", "expression")


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
async def test_call_sends_bk_jobs_names_and_prints_the_typed_answer(sim, flavor) -> None:
    env, names = _saving(sim, flavor)
    pairs = [f"{names[0]}=7", f"{names[1]}=nightly", f"{names[2]}=0 2 * * *"]
    saved = await run(["call", "save_cron", *pairs], env)
    assert saved.status == 0, saved.err
    cron = json.loads(saved.out)
    assert (cron["name"], cron["job_plan_id"], cron["status"]) == ("nightly", 7, 2)
    assert cron["status_name"] == "PAUSED"
    listed = await run(["call", "get_cron_list", "length=5", "--compact"], env)
    assert listed.status == 0, listed.err
    assert len(listed.out.strip().splitlines()) == 1
    page = json.loads(listed.out)
    assert [c["id"] for c in page["items"]] == [cron["id"]]


async def test_call_takes_json_values_and_prints_an_unknown_apis_data(sim, env) -> None:
    _plan(sim)
    detail = await run(["call", "get_job_plan_detail", "job_plan_id=7"], env)
    assert detail.status == 0, detail.err
    assert SECRET not in detail.out
    shown = json.loads(detail.out)
    assert shown["variables"][0]["value"] == "******"
    unknown = await run(["call", "get_no_such_thing", "a=[1,2]", "--method", "GET"], env)
    assert unknown.status == 2  # the simulator answers 404 as the gateway does
    assert "get_no_such_thing" in unknown.err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["call", "get_cron_list", "length"], "expected key=value"),
        (["call", "get_cron_list", "a=1", "a=2"], "given twice"),
        (["call", "get_cron_list", "bk_app_secret=x"], "credential"),
        (["call", "Bad/Name"], "API name"),
        (["call", "get_cron_list", "--method", "POST"], "sent with GET"),
        (["crons", "pause"], "needs a CRON_ID"),
        (["crons", "list", "5"], "takes no CRON_ID"),
    ],
)
async def test_bad_input_is_one_line_and_status_2_before_any_request(sim, env, argv, says):
    before = sim.request_count()
    result = await run(argv, env)
    assert result.status == 2
    assert says in result.err
    assert "Traceback" not in result.err
    assert sim.request_count() == before


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-v2"])
async def test_crons_lists_pauses_and_resumes(sim, flavor) -> None:
    env, names = _saving(sim, flavor)
    for name in ("nightly", "hourly"):
        made = await run(["call", "save_cron", f"{names[0]}=7", f"{names[1]}={name}",
                          f"{names[2]}=0 * * * *"], env)  # fmt: skip
        assert made.status == 0, made.err
    listed = await run(["crons"], env)
    assert listed.status == 0, listed.err
    assert "nightly" in listed.out
    assert "paused" in listed.out
    rows = (await run(["crons", "--json"], env)).lines
    nightly = next(r["id"] for r in rows if r["name"] == "nightly")
    resumed = await run(["crons", "resume", str(nightly)], env)
    assert resumed.status == 0, resumed.err
    assert f"cron {nightly} running" in resumed.out
    running = await run(["crons", "--status", "running", "--json"], env)
    assert [r["id"] for r in running.lines] == [nightly]
    paused = await run(["crons", "pause", str(nightly), "--json"], env)
    assert paused.lines == [{"id": nightly, "status": "paused"}]
    assert (await run(["crons", "--status", "running"], env)).err.startswith("no cron job")
    missing = await run(["crons", "resume", "99999999"], env)
    assert missing.status == 2
    assert "does not exist" in missing.err
