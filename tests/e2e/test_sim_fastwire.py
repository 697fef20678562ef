"""The hand-assembled job status body is byte for byte what the DTO dicts encode to."""

from __future__ import annotations

import pytest

from bkjob_async.models.enums import HostStatus, StepType
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan
from bkjob_async.testing._fastwire import job_status_body
from bkjob_async.testing._render import encode_compact, encode_esb, job_status_v2, job_status_v3

from .conftest import GATEWAY, SCOPE

H = HostStatus
ROWS = [
    HostPlan(tag="部署", duration=1),
    HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=7, duration=(2, 4)),
    HostPlan(outcome=H.TASK_TIMEOUT, start_delay=3),
    HostPlan(ip="", ipv6="fd00::1", bk_cloud_id=2, duration=60),
    HostPlan(outcome=H.AGENT_ERROR, tag='quote " and \\ backslash'),
]


def _same_bytes(sim: BkJobSimulator, job_id: int) -> None:
    world = sim._world
    job, now = world.job(job_id), world.now_ms()
    for esb, encode in ((False, encode_compact), (True, encode_esb)):
        for hosts in (True, False):
            fast = job_status_body(job, now, v2=False, with_hosts=hosts, esb=esb, tz=world.tz)
            assert fast == encode(job_status_v3(job, now, hosts))
    fast = job_status_body(job, now, v2=True, with_hosts=True, esb=True, tz=world.tz)
    assert fast == encode_esb(job_status_v2(job, now, world.tz))


@pytest.mark.parametrize("seconds", [0, 0.5, 1.2, 3.5, 10, 70])
async def test_every_row_state_renders_identically(sim, wire, seconds):
    plans = [StepPlan(hosts=ROWS), StepPlan(StepType.MANUAL_CONFIRM), StepPlan(hosts=3)]
    job_id = sim.create_job(SCOPE, plans)
    sim.advance(seconds)
    _same_bytes(sim, job_id)


async def test_killed_retried_and_lagging_rounds_render_identically(sim, wire):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=ROWS)])
    sim.advance(1.5)
    (await wire.operate_job(GATEWAY, job_id, 1)).ok()
    _same_bytes(sim, job_id)
    sim.advance(2)
    _same_bytes(sim, job_id)
    step_id = sim.job(job_id).steps[0].step_instance_id
    (await wire.operate(GATEWAY, job_id, step_id, 2)).ok()
    _same_bytes(sim, job_id)  # the retry lag: no rows for the new round
    sim.advance(0.6)
    _same_bytes(sim, job_id)
