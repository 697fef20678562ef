"""The simulator plays bk-job's rolling modes: expressions, staggered batches, source-file batches."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest

from bkjob_async import Account, RollingConfig, Targets
from bkjob_async.models.enums import HostStatus, JobStatus
from bkjob_async.testing import BkJobSimulator
from bkjob_async.testing._rolling import file_source_batches

from .conftest import GATEWAY, JOBV3, SCOPE

H = HostStatus
SCRIPT = base64.b64encode(b"echo hello").decode()


def staggered(
    expression: str, fixed_ms: int, random_ms: tuple[int, int] = (0, 0)
) -> dict[str, Any]:
    """A staggered rolling config (execution mode 2): batches by ``expression``, each started
    ``fixed_ms`` plus a random wait within ``random_ms`` after the one before."""
    return {
        "expression": expression,
        "execution_mode": 2,
        "batch_start_wait_fixed_ms": fixed_ms,
        "batch_start_wait_random_min_ms": random_ms[0],
        "batch_start_wait_random_max_ms": random_ms[1],
    }


STAGGER_BY_ONE = staggered("1", 0)


def script(hosts: int, rolling: dict[str, Any]) -> dict[str, Any]:
    return {
        "script_content": SCRIPT,
        "script_language": 1,
        "account_alias": "root",
        "target_server": {"host_id_list": list(range(1001, 1001 + hosts))},
        "rolling_config": rolling,
    }


def transfer(groups: list[tuple[int, int]], rolling: dict[str, Any]) -> dict[str, Any]:
    sources = [
        {
            "file_list": [f"/data/{g}/{f}" for f in range(files)],
            "account": {"alias": "root"},
            "server": {"host_id_list": list(range(2001 + 10 * g, 2001 + 10 * g + hosts))},
        }
        for g, (hosts, files) in enumerate(groups)
    ]
    return {
        "file_target_path": "/tmp/",
        "file_source_list": sources,
        "account_alias": "root",
        "target_server": {"host_id_list": [1001, 1002]},
        "rolling_config": rolling,
    }


@pytest.mark.parametrize("flavor", [GATEWAY, JOBV3])
async def test_an_expression_is_cut_into_batches_as_bk_job_cuts_it(sim, wire, flavor):
    data = await wire.data(flavor, "fast_execute_script", script(7, {"expression": "1 +1"}))
    hosts = sim.job(data["job_instance_id"]).steps[0].hosts or ()
    assert [h.batch for h in hosts] == [1, 2, 2, 3, 3, 3, 4]


@pytest.mark.sim(virtual_clock=True, host_duration=5.0, host_start_delay=0.0, seed=3)
async def test_a_staggered_step_starts_each_batch_a_wait_after_the_last_without_pausing(sim, wire):
    data = await wire.data(GATEWAY, "fast_execute_script", script(6, staggered("2", 1000)))
    seen = []
    for _ in range(9):
        step = sim.job(data["job_instance_id"]).steps[0]
        seen.append((step.status, tuple(step.statuses())))
        sim.advance(1.0)
    R, W, S = H.RUNNING, H.WAITING, H.SUCCESS
    assert seen == [
        (JobStatus.RUNNING, (R, R, W, W, W, W)),
        (JobStatus.RUNNING, (R, R, R, R, W, W)),  # batch 2 starts while batch 1 runs
        (JobStatus.RUNNING, (R, R, R, R, R, R)),
        (JobStatus.RUNNING, (R, R, R, R, R, R)),
        (JobStatus.RUNNING, (R, R, R, R, R, R)),
        (JobStatus.RUNNING, (S, S, R, R, R, R)),
        (JobStatus.RUNNING, (S, S, S, S, R, R)),
        (JobStatus.SUCCESS, (S, S, S, S, S, S)),  # never at 15 between batches
        (JobStatus.SUCCESS, (S, S, S, S, S, S)),
    ]


@pytest.mark.sim(virtual_clock=True, host_duration=1.0, host_start_delay=0.0, seed=3)
async def test_a_staggered_random_wait_stays_within_its_bounds(sim, wire):
    config = staggered("1", 1000, (200, 700))
    data = await wire.data(GATEWAY, "fast_execute_script", script(5, config))
    sim.advance(30)
    hosts = sim.job(data["job_instance_id"]).steps[0].hosts or ()
    starts = [h.start_time for h in hosts]
    assert all(s is not None for s in starts)
    gaps = [b - a for a, b in itertools.pairwise(starts)]  # type: ignore[operator]
    assert all(1200 <= gap <= 1700 for gap in gaps), gaps


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (script(502, {"expression": "1"}), 1244027),
        (script(201, STAGGER_BY_ONE), 1241012),  # the staggered cap is 200
        (transfer([(1, 1)], {"type": 2, "execution_mode": 2, "file_source": {}}), 1241012),
        (
            {
                **transfer([(1, 1)], {"type": 2, "file_source": {}}),
                "file_source_list": [{"file_list": ["a"], "file_type": 3, "file_source_id": 4}],
            },
            1244035,
        ),
        (script(3, staggered("5", 0, (9, 8))), 1241012),  # a random wait's bounds reversed
        (script(3, {"expression": "5", "execution_mode": 2}), 1240003),
        (script(3, {"expression": "0%"}), 1240003),
    ],
)
async def test_a_rolling_config_bk_job_refuses_is_refused(wire, params, code):
    api = "fast_transfer_file" if "file_source_list" in params else "fast_execute_script"
    reply = (await wire.call(GATEWAY, api, params)).json
    assert reply["code"] == code, reply


def test_source_files_are_batched_as_bk_job_documents():
    # _generic_rolling_config.md.j2's three examples
    assert file_source_batches([(3, 2)], 1, 1) == 6
    assert file_source_batches([(3, 3), (1, 1)], 2, 2) == 5
    assert file_source_batches([(3, 3), (1, 1)], 4, 4) == 1
    assert file_source_batches([(1, 1), (1, 1), (1, 1)], 2, None) == 2


@pytest.mark.sim(virtual_clock=True, host_duration=1.0, host_start_delay=0.0, operation_lag=0.5)
async def test_a_source_file_rolling_transfer_sends_to_every_target_once_per_batch(sim, wire):
    rolling = {"type": 2, "file_source": {"max_file_num_of_single_execute_object": 1}}
    data = await wire.data(GATEWAY, "fast_transfer_file", transfer([(1, 3)], rolling))
    seen = []
    for _ in range(8):
        step = sim.job(data["job_instance_id"]).steps[0]
        seen.append((step.status, tuple(step.statuses())))
        sim.advance(0.5)
    R, S = H.RUNNING, H.SUCCESS
    wait = JobStatus.ROLLING_WAITING
    assert seen == [
        (JobStatus.RUNNING, (R, R)),  # batch 1 of 3: one file to both targets
        (JobStatus.RUNNING, (R, R)),
        (wait, (S, S)),
        (JobStatus.RUNNING, (R, R)),  # batch 2
        (JobStatus.RUNNING, (R, R)),
        (wait, (S, S)),
        (JobStatus.RUNNING, (R, R)),  # batch 3
        (JobStatus.RUNNING, (R, R)),
    ]
    sim.advance(1)
    assert sim.job(data["job_instance_id"]).status is JobStatus.SUCCESS


async def test_the_client_launches_a_staggered_job_the_simulator_plays(
    sim: BkJobSimulator, make_client: Any
) -> None:
    async with make_client() as client:
        launch = await client.fast_execute_script(
            SCOPE,
            targets=Targets(host_ids=range(1001, 1007)),
            account=Account(alias="root"),
            script_content="echo hi",
            rolling_config=RollingConfig.staggered("3", fixed_ms=500),
        )
    step = sim.job(launch.job_instance_id).steps[0]
    assert [h.batch for h in step.hosts or ()] == [1, 1, 1, 2, 2, 2]
    assert step.statuses()[3:] == [H.WAITING] * 3
    sim.advance(1.1)  # batch 2 dispatched at 0.5 s, its hosts run from 1.0 s, batch 1's still do
    assert sim.job(launch.job_instance_id).steps[0].statuses() == [H.RUNNING] * 6
