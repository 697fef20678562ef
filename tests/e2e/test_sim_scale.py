"""Benchmark-server duty: thousands of jobs with a hundred hosts each, polls served from cache."""

from __future__ import annotations

import random

from bkjob_async.testing import BkJobSimulator, StepPlan, _api

from .conftest import GATEWAY, JOBV3, SCOPE, Wire


async def test_5000_jobs_of_100_hosts_are_served_and_unchanged_polls_hit_the_cache(wire):
    sim = wire.sim
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=100, duration=(1, 120))]) for _ in range(5000)]
    sim.advance(30)
    sample = random.Random(0).sample(ids, 100)
    first = [await wire.job_status(GATEWAY, job_id) for job_id in sample]
    second = [await wire.job_status(GATEWAY, job_id) for job_id in sample]
    assert first == second
    assert all(len(data["step_instance_list"][0]["step_ip_result_list"]) == 100 for data in first)
    stats = sim.statistics()
    assert (stats.jobs, stats.cache_misses, stats.cache_hits) == (5000, 100, 100)


async def test_a_cached_poll_never_renders(sim, wire, monkeypatch):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=100)])
    rendered = await wire.call(JOBV3, "get_job_instance_status", {"job_instance_id": job_id})

    def refuse(*_: object, **__: object) -> bytes:
        raise AssertionError("rendered an unchanged job again")

    monkeypatch.setattr(_api, "job_status_body", refuse)
    cached = await wire.call(JOBV3, "get_job_instance_status", {"job_instance_id": job_id})
    assert cached.json["data"] == rendered.json["data"]
    assert cached.json["request_id"] != rendered.json["request_id"]
    sim.advance(60)
    changed = await wire.call(JOBV3, "get_job_instance_status", {"job_instance_id": job_id})
    assert (changed.status, changed.json["code"]) == (200, 1240002)  # it did try to render


async def test_a_job_polled_in_every_flavor_keeps_one_body_per_flavor(
    sim: BkJobSimulator, wire: Wire
):
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=3)])
    for flavor in (GATEWAY, JOBV3):
        await wire.job_status(flavor, job_id)
        await wire.job_status(flavor, job_id, hosts=False)
    assert sim.statistics().cache_misses == 4
