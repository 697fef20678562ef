"""``get_job_instance_list`` at bk-job's scale: 30,000 jobs in a scope, 1,000 a page.

The list is newest first; a job created while a client pages shifts every later page by one,
so a reader sees some jobs twice and none lost. The window (<= 30 days), ``start``/``length``
(1..1000) and the filters behave as bk-job's ``EsbGetJobInstanceListV3Resource``.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time

import pytest

from bkjob_async import ApiFlavor, BkJobClient, JobStatus, Scope
from bkjob_async.testing import BkJobSimulator, StepPlan
from bkjob_async.testing._api import ApiFailure, Call, Params, get_job_instance_list

from ..conftest import Clients

SCOPE = Scope.biz(2)
OTHER = Scope.biz(3)
CREDENTIALS = {"app_code": "a", "app_secret": "secret-for-tests", "username": "admin"}
JOBS = 30_000
UTC = _dt.timezone.utc


def window(sim: BkJobSimulator, back_days: float = 1.0) -> dict[str, _dt.datetime]:
    now = _dt.datetime.fromtimestamp(sim.now_ms() / 1000, UTC)
    return {
        "created_from": now - _dt.timedelta(days=back_days),
        "created_to": now + _dt.timedelta(seconds=1),
    }


@pytest.fixture(scope="module")
def big() -> BkJobSimulator:
    """30,000 jobs in one scope over a day (virtual clock), 1,000 in another; one in 3 fails."""
    sim = BkJobSimulator(virtual_clock=True, host_duration=60.0, host_start_delay=0.0)
    fails = StepPlan(hosts=1, fail_rate=1.0)
    ok = StepPlan(hosts=1)
    for index in range(JOBS):
        sim.create_job(SCOPE, [fails if index % 3 == 0 else ok], operator=f"u{index % 7}")
        if index % 30 == 0:
            sim.create_job(OTHER, [ok])
        sim.advance(2.0)
    sim.advance(120.0)  # every job has ended
    return sim


@pytest.fixture
def client(big: BkJobSimulator, make_client: Clients) -> BkJobClient:
    return make_client(transport=big.transport(), **CREDENTIALS)


def traced_slower() -> float:
    """How many times slower this code runs now: 3 under coverage's tracer (``make coverage``
    traces the ``untraced`` tests too: 14 s for 10 s's work at a load of 10), else 1."""
    return 3.0 if sys.gettrace() is not None else 1.0


@pytest.mark.untraced  # (a wall-clock budget: coverage's tracing triples the CPU)
async def test_paging_30000_jobs_reads_each_once_newest_first_and_fast(
    big: BkJobSimulator, client: BkJobClient
) -> None:
    began = time.perf_counter()
    seen: list[int] = []
    totals = set()
    start = 0
    while True:
        page = await client.get_job_instance_list(SCOPE, **window(big), start=start, length=1000)
        totals.add(page.total)
        seen += [item.job_instance_id for item in page.items]
        start += 1000
        if start >= page.total:
            break
    elapsed = time.perf_counter() - began
    ids = [job for job in big.job_ids() if big.job(job).scope == SCOPE]
    assert totals == {JOBS}
    assert seen == sorted(ids, reverse=True)
    # 30 pages: their cost is their own length (no scan of the scope per page).
    assert elapsed < 10.0 * traced_slower(), elapsed


async def test_a_status_filter_scans_the_window_within_budget(
    big: BkJobSimulator, client: BkJobClient
) -> None:
    began = time.perf_counter()
    found = [
        item.job_instance_id
        async for item in client.iter_job_instances(SCOPE, **window(big), status=JobStatus.FAIL)
    ]
    elapsed = time.perf_counter() - began
    assert len(found) == JOBS // 3
    assert all(big.job(job).status is JobStatus.FAIL for job in found[:50])
    assert elapsed < 15.0, elapsed  # 10 pages, each a scan of 30,000 jobs


async def test_the_window_is_a_creation_range(big: BkJobSimulator, client: BkJobClient) -> None:
    now = _dt.datetime.fromtimestamp(big.now_ms() / 1000, UTC)
    last_hour = await client.get_job_instance_list(
        SCOPE,
        created_from=now - _dt.timedelta(hours=1),
        created_to=now,
        length=1000,
    )
    # A job every 2 s, the last created 122 s ago: 1,740 in the hour before it.
    assert 1700 <= last_hour.total <= 1800
    assert all(now - _dt.timedelta(hours=1) <= item.create_time <= now for item in last_hour.items)
    older = await client.get_job_instance_list(
        SCOPE,
        created_from=now - _dt.timedelta(days=29),
        created_to=now - _dt.timedelta(days=2),
    )
    assert older.total == 0
    assert older.items == ()


async def test_filters_combine(big: BkJobSimulator, client: BkJobClient) -> None:
    page = await client.get_job_instance_list(
        SCOPE, **window(big), operator="u3", status=JobStatus.SUCCESS, length=1000
    )
    expected = [i for i in range(JOBS) if i % 7 == 3 and i % 3 != 0]
    assert page.total == len(expected)
    assert all(item.operator == "u3" for item in page.items)
    one = page.items[5].job_instance_id
    single = await client.get_job_instance_list(SCOPE, **window(big), job_instance_id=one)
    assert [item.job_instance_id for item in single.items] == [one]
    assert single.total == 1
    elsewhere = await client.get_job_instance_list(OTHER, **window(big), job_instance_id=one)
    assert elsewhere.total == 0
    cron = await client.get_job_instance_list(SCOPE, **window(big), job_cron_id=1)
    assert cron.total == 0  # the simulator runs no cron job


def list_request(sim: BkJobSimulator, **values: object) -> object:
    """Call the simulated backend directly, past the client's own checks."""
    now = sim.now_ms()
    params = {
        "bk_scope_type": "biz",
        "bk_scope_id": "2",
        "create_time_start": now - 86_400_000,
        "create_time_end": now + 1,
        **values,
    }
    call = Call(
        ApiFlavor.ESB_JOBV3, "get_job_instance_list", Params(params, strict=False), True, "admin"
    )
    try:
        return get_job_instance_list(sim._world, call)
    except ApiFailure as failure:
        return failure.code


def test_the_limits_are_bk_jobs(big: BkJobSimulator) -> None:
    now = big.now_ms()
    day = 86_400_000
    assert list_request(big, create_time_start=now - 30 * day, create_time_end=now) != 1241002
    assert list_request(big, create_time_start=now - 30 * day - 1, create_time_end=now) == 1241002
    assert list_request(big, create_time_start=None) == 1241007
    assert list_request(big, create_time_end=0) == 1241007
    assert list_request(big, length=1001) == 1241002
    assert list_request(big, start=-1) == 1241002
    assert list_request(big, type=3) == 1241002
    page = list_request(big, length=1000)
    assert isinstance(page, dict)
    assert (page["start"], page["length"], page["total"], len(page["data"])) == (
        0,
        1000,
        JOBS,
        1000,
    )
    default = list_request(big)
    assert isinstance(default, dict)
    assert len(default["data"]) == 20  # length defaults to 20
    past = list_request(big, start=JOBS, length=1000)
    assert isinstance(past, dict)
    assert (past["total"], past["data"]) == (JOBS, None)


async def test_paging_while_jobs_are_inserted_loses_none(make_client: Clients) -> None:
    """Newest first: each job created between two pages pushes the rest down one place."""
    sim = BkJobSimulator(virtual_clock=True, host_duration=1.0, host_start_delay=0.0)
    first = [sim.create_job(SCOPE, [StepPlan(hosts=1)]) for _ in range(2500)]
    inserted: list[int] = []
    async with make_client(transport=sim.transport(), **CREDENTIALS) as c:
        seen: list[int] = []
        start = 0
        while True:
            page = await c.get_job_instance_list(SCOPE, **window(sim), start=start, length=1000)
            seen += [item.job_instance_id for item in page.items]
            start += len(page.items)
            if not page.items or start >= page.total:
                break
            new = [sim.create_job(SCOPE, [StepPlan(hosts=1)]) for _ in range(7)]
            inserted += new
        assert set(first) <= set(seen)  # nothing created before the read is lost
        assert not set(inserted) & set(seen)  # the new ones are ahead of every page read
        assert len(seen) - len(set(seen)) == 14  # two inserts of 7: each repeats 7 rows
        # The client's iterator reads the same shifting pages and yields each job once.
        ids = [item.job_instance_id async for item in c.iter_job_instances(SCOPE, **window(sim))]
        assert len(ids) == len(set(ids))
        assert set(first) | set(inserted) == set(ids)
