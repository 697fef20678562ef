"""``polling._launch``: a launch as a value, one constructor per launch API, checked when built,
JSON both ways."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from bkjob_async import ApiFlavor, BkJobClient, Scope, UnsupportedOperationError
from bkjob_async.models.requests import Account, FileSource, GlobalVar, RollingConfig, Targets
from bkjob_async.polling import Launch

HOSTS = Targets(host_ids=[1001, 1002])
ROOT = Account(alias="root")


def _round_trip(launch: Launch) -> Launch:
    return Launch.from_json(json.loads(json.dumps(launch.to_json())))


LAUNCHES = [
    Launch.script(targets=HOSTS, account=ROOT, script_content="echo hi"),
    Launch.script(
        targets=Targets(ips=["0:10.0.0.1"]),
        account=Account(id=3),
        script_version_id=7,
        script_language=2,
        script_param="-x secret-value",
        is_param_sensitive=True,
        script_timeout=600,
        task_name="deploy",
        callback_url="https://app.example/cb",
        rolling_config=RollingConfig("10%", mode=2),
    ),
    Launch.file_transfer(
        targets=HOSTS,
        account=ROOT,
        file_target_path="/data",
        file_sources=[FileSource(files=["/src/a"], server=Targets(host_ids=[5]), account=ROOT)],
        file_target_name="b",
        transfer_mode=2,
        transfer_timeout=60,
        download_speed_limit=10,
        upload_speed_limit=20,
    ),
    Launch.job_plan(
        42, global_vars=[GlobalVar(name="v", value="1"), GlobalVar(id=3, value="pw", secret=True)]
    ),
]


@pytest.mark.parametrize("launch", LAUNCHES, ids=lambda launch: launch.api)
def test_a_launch_reads_back_from_its_json(launch: Launch) -> None:
    back = _round_trip(launch)
    assert back == launch
    assert dict(back.arguments) == dict(launch.arguments)
    assert hash(back) == hash(launch)


def test_a_launch_spells_what_the_client_would_send() -> None:
    launch = LAUNCHES[1]
    params = launch.spell_args(Scope.biz(2), ApiFlavor.APIGW_V3)
    assert params["script_version_id"] == 7
    assert params["timeout"] == 600
    assert params["task_name"] == "deploy"
    assert params["rolling_config"] == {"expression": "10%", "mode": 2}


def test_launches_differ_by_their_arguments() -> None:
    one = Launch.script(targets=HOSTS, account=ROOT, script_content="echo 1")
    assert one != Launch.script(targets=HOSTS, account=ROOT, script_content="echo 2")
    assert one.with_arguments(script_content="echo 2") == Launch.script(
        targets=HOSTS, account=ROOT, script_content="echo 2"
    )


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: Launch.script(targets=Targets(), account=ROOT, script_content="x"), ValueError),
        (lambda: Launch.script(targets=HOSTS, account=ROOT), ValueError),
        (
            lambda: Launch.script(targets=HOSTS, account=ROOT, script_content="x", script_id="a"),
            ValueError,
        ),
        (
            lambda: Launch.script(
                targets=HOSTS, account=ROOT, script_content="x", script_timeout=0
            ),
            ValueError,
        ),
        (
            lambda: Launch.script(
                targets=HOSTS, account=ROOT, script_content="x", script_language=9
            ),
            ValueError,
        ),
        (lambda: Launch.job_plan(0), ValueError),
        (lambda: Launch.job_plan(1, global_vars=["v=1"]), TypeError),  # type: ignore[list-item]
        (
            lambda: Launch.file_transfer(
                targets=HOSTS,
                account=ROOT,
                file_target_path="rel",
                file_sources=[FileSource(files=["/a"])],
            ),
            ValueError,
        ),
        (
            lambda: Launch.file_transfer(
                targets=HOSTS, account=ROOT, file_target_path="/d", file_sources=[]
            ),
            TypeError,
        ),
        (lambda: Launch("fast_execute_sql", {}), ValueError),
        (lambda: Launch("execute_job_plan", {"job_plan_id": 1, "start_task": False}), TypeError),
    ],
)
def test_a_bad_launch_is_refused_when_built(build: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        build()  # type: ignore[operator]


def test_a_flavor_refuses_what_it_cannot_send() -> None:
    by_id = Launch.script(targets=HOSTS, account=ROOT, script_id="abc")
    with pytest.raises(ValueError, match="script_id"):  # v2's script_id is a version's
        by_id.spell_args(Scope.biz(2), ApiFlavor.ESB_V2)
    transfer = LAUNCHES[2]
    with pytest.raises(UnsupportedOperationError):
        transfer.spell_args(Scope.biz(2), ApiFlavor.APIGW_V4)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"api": "fast_execute_script"},
        {"api": "nope", "arguments": {}},
        {"api": "fast_execute_script", "arguments": {"targets": {"host_ids": "x"}}},
    ],
)
def test_json_that_is_no_launch_is_a_value_error(data: object) -> None:
    with pytest.raises(ValueError, match="launch's"):
        Launch.from_json(data)


def test_the_repr_shows_no_argument_value() -> None:
    text = repr(LAUNCHES[1]) + repr(LAUNCHES[3])
    assert "secret-value" not in text
    assert "'pw'" not in text
    assert "fast_execute_script" in text


@pytest.mark.parametrize(
    ("constructor", "api"),
    [
        (Launch.script, "fast_execute_script"),
        (Launch.file_transfer, "fast_transfer_file"),
        (Launch.job_plan, "execute_job_plan"),
    ],
)
def test_a_constructor_takes_its_rows_keywords_and_defaults(constructor: Any, api: str) -> None:
    # The client's method (the row's parameters) but the scope and start_task, the rollout's.
    method = inspect.signature(getattr(BkJobClient, api)).parameters
    theirs = {n: p.default for n, p in method.items() if n not in ("self", "scope", "start_task")}
    ours = {n: p.default for n, p in inspect.signature(constructor).parameters.items()}
    assert ours == theirs
    with pytest.raises(TypeError, match="start_task"):
        Launch(api, {"start_task": False})
