"""The execution model through the Python API: host and step progressions, job rules, seeds."""

from __future__ import annotations

import pytest

from bkjob_async.config import Scope
from bkjob_async.models.enums import HostStatus, JobStatus, StepType
from bkjob_async.testing import BkJobSimulator, HostPlan, RollingMode, StepPlan

SCOPE = Scope.biz(2)

H = HostStatus
OK = HostPlan(duration=2.0, start_delay=1.0)
BAD = HostPlan(outcome=H.SCRIPT_NOT_ZERO_EXIT_CODE, duration=3.0, start_delay=1.0)


def test_hosts_go_waiting_running_final_and_the_failed_step_fails_the_job():
    sim = BkJobSimulator(virtual_clock=True)
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[OK, BAD]), StepPlan(hosts=2)])
    seen = []
    for _ in range(5):
        job = sim.job(job_id)
        seen.append((job.status, job.steps[0].status, tuple(job.steps[0].statuses())))
        sim.advance(1.0)
    assert seen == [
        (JobStatus.RUNNING, JobStatus.RUNNING, (H.WAITING, H.WAITING)),
        (JobStatus.RUNNING, JobStatus.RUNNING, (H.RUNNING, H.RUNNING)),
        (JobStatus.RUNNING, JobStatus.RUNNING, (H.RUNNING, H.RUNNING)),
        (JobStatus.RUNNING, JobStatus.RUNNING, (H.SUCCESS, H.RUNNING)),
        (JobStatus.FAIL, JobStatus.FAIL, (H.SUCCESS, H.SCRIPT_NOT_ZERO_EXIT_CODE)),
    ]
    job = sim.job(job_id)
    assert job.steps[1].status is JobStatus.BLANK
    assert job.steps[1].hosts is None
    assert job.end_time == job.create_time + 4000
    assert job.total_time == 4000
    assert job.steps[0].host(job.steps[0].hosts[1].bk_host_id).exit_code == 1


def test_a_successful_job_runs_its_steps_in_order():
    sim = BkJobSimulator(virtual_clock=True, host_duration=1.0, host_start_delay=0.0)
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=3), StepPlan(StepType.FILE, hosts=2)])
    sim.advance(1.0)
    job = sim.job(job_id)
    assert [s.status for s in job.steps] == [JobStatus.SUCCESS, JobStatus.RUNNING]
    assert job.steps[1].start_time == job.steps[0].end_time
    sim.advance(1.0)
    job = sim.job(job_id)
    assert job.status is JobStatus.SUCCESS
    assert job.finished
    assert all(s.statuses() == [H.SUCCESS] * len(s.hosts or ()) for s in job.steps)


def test_an_ignored_error_lets_the_job_continue():
    sim = BkJobSimulator(virtual_clock=True)
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[BAD], ignore_error=True), StepPlan(hosts=[OK])])
    sim.advance(10)
    job = sim.job(job_id)
    assert [s.status for s in job.steps] == [JobStatus.IGNORE_ERROR, JobStatus.SUCCESS]
    assert job.status is JobStatus.SUCCESS


@pytest.mark.parametrize("status", [JobStatus.ABNORMAL_STATE, JobStatus.ABANDONED])
def test_a_step_ending_abnormal_or_abandoned_ends_the_job_with_its_status(status):
    sim = BkJobSimulator(virtual_clock=True)
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[OK], final_status=status), StepPlan()])
    sim.advance(10)
    job = sim.job(job_id)
    assert job.status is status
    assert job.steps[0].status is status
    assert job.steps[1].status is JobStatus.BLANK


def test_a_manual_confirmation_waits_at_7_forever():
    sim = BkJobSimulator(virtual_clock=True)
    job_id = sim.create_job(SCOPE, [StepPlan(StepType.MANUAL_CONFIRM), StepPlan()])
    sim.advance(86_400)
    job = sim.job(job_id)
    assert job.status is JobStatus.WAITING_USER
    assert not job.finished
    assert job.steps[0].status is JobStatus.WAITING_USER
    assert job.steps[0].hosts is None


def test_a_job_created_without_start_stays_blank():
    sim = BkJobSimulator(virtual_clock=True)
    job_id = sim.create_job(SCOPE, [StepPlan()], start=False)
    sim.advance(60)
    job = sim.job(job_id)
    assert job.status is JobStatus.BLANK
    assert job.start_time is None
    assert job.steps[0].status is JobStatus.BLANK


def _history(seed: int) -> list[object]:
    sim = BkJobSimulator(virtual_clock=True, seed=seed, fail_rate=0.3, host_duration=(1, 9))
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=20), StepPlan(hosts=5)]) for _ in range(3)]
    sim.advance(30)
    return [sim.job(job_id) for job_id in ids]


def test_the_same_seed_replays_the_same_history_and_another_seed_does_not():
    assert _history(3) == _history(3)
    assert _history(3) != _history(4)


def test_generated_hosts_are_deterministic_and_keyed_by_id():
    sim = BkJobSimulator(virtual_clock=True, seed=11)
    job = sim.job(sim.create_job(SCOPE, [StepPlan(hosts=50)]))
    hosts = job.steps[0].hosts or ()
    assert len({h.bk_host_id for h in hosts}) == 50
    assert all(h.ip.startswith("10.") and h.bk_cloud_id == 0 for h in hosts)


def test_explicit_host_identities_are_kept_including_ipv6_only_hosts():
    sim = BkJobSimulator(virtual_clock=True)
    rows = [
        HostPlan(bk_host_id=42, ip="192.168.1.9", bk_cloud_id=3, tag="db"),
        HostPlan(ip="", ipv6="fd00::9"),
    ]
    job = sim.job(sim.create_job(SCOPE, [StepPlan(hosts=rows)]))
    first, second = job.steps[0].hosts or ()
    assert (first.bk_host_id, first.ip, first.bk_cloud_id, first.tag) == (
        42,
        "192.168.1.9",
        3,
        "db",
    )
    assert (second.ip, second.ipv6) == ("", "fd00::9")


def test_a_rolling_step_runs_batch_after_batch():
    sim = BkJobSimulator(virtual_clock=True, host_duration=1.0, host_start_delay=0.0)
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=5, rolling_batch_size=2)])
    step = sim.job(job_id).steps[0]
    assert [h.batch for h in step.hosts or ()] == [1, 1, 2, 2, 3]
    assert step.statuses() == [H.RUNNING, H.RUNNING, H.WAITING, H.WAITING, H.WAITING]
    sim.advance(1)  # batch 1 done: the step waits at 15 for the next one (§7.10)
    step = sim.job(job_id).steps[0]
    assert step.status is JobStatus.ROLLING_WAITING
    assert step.statuses()[:4] == [H.SUCCESS, H.SUCCESS, H.WAITING, H.WAITING]
    sim.advance(0.2)  # the default operation lag
    assert sim.job(job_id).steps[0].statuses()[:4] == [H.SUCCESS, H.SUCCESS, H.RUNNING, H.RUNNING]
    sim.advance(3)
    assert sim.job(job_id).status is JobStatus.SUCCESS


def test_a_manual_rolling_step_pauses_at_7_between_batches():
    sim = BkJobSimulator(virtual_clock=True, host_duration=1.0, host_start_delay=0.0)
    plan = StepPlan(hosts=4, rolling_batch_size=2, rolling_mode=RollingMode.MANUAL)
    job_id = sim.create_job(SCOPE, [plan])
    sim.advance(5)
    job = sim.job(job_id)
    assert job.status is JobStatus.WAITING_USER
    assert job.steps[0].status is JobStatus.WAITING_USER
    assert job.steps[0].statuses() == [H.SUCCESS, H.SUCCESS, H.WAITING, H.WAITING]


def test_a_failed_batch_fails_a_pause_if_fail_rolling_step():
    sim = BkJobSimulator(virtual_clock=True)
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=[OK, BAD, OK], rolling_batch_size=2)])
    sim.advance(10)
    job = sim.job(job_id)
    assert job.status is JobStatus.FAIL
    assert job.steps[0].statuses() == [H.SUCCESS, H.SCRIPT_NOT_ZERO_EXIT_CODE, H.WAITING]


def test_the_virtual_clock_only_moves_on_advance_and_a_real_one_refuses_it():
    virtual = BkJobSimulator(virtual_clock=True)
    assert virtual.now() == 0.0
    virtual.advance(2.5)
    assert virtual.now() == 2.5
    with pytest.raises(RuntimeError):
        BkJobSimulator().advance(1)


@pytest.mark.parametrize(
    "build",
    [
        lambda: StepPlan(hosts=0),
        lambda: HostPlan(outcome=H.RUNNING),
        lambda: HostPlan(retry_outcomes=(H.WAITING,)),
        lambda: StepPlan(final_status=JobStatus.RUNNING),
        lambda: StepPlan(fail_rate=1.5),
        lambda: StepPlan(duration=(3, 1)),
    ],
)
def test_plans_refuse_impossible_values(build):
    with pytest.raises(ValueError, match=r"must|span|needs"):
        build()


def test_a_job_needs_steps_and_a_manual_step_has_no_hosts():
    sim = BkJobSimulator(virtual_clock=True)
    with pytest.raises(ValueError, match="at least one step"):
        sim.create_job(SCOPE, [])
    assert StepPlan(StepType.MANUAL_CONFIRM, hosts=5).host_count == 0
    assert sim.job(sim.create_job(Scope.biz_set(9991001), [StepPlan()])).scope.id == 9991001
