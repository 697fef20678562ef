"""The poller's wall clock: the job list's windows follow ``Poller(wall=...)``, not the machine's."""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import Account, BkJobClient, Poller, Scope, Targets
from bkjob_async.testing import BkJobSimulator, loop_time, run_virtual

SCOPE = Scope.biz(2)


def launches_after_a_while(wall: bool) -> tuple[int, int, int]:
    """Launch 20 jobs ten minutes into virtual time and wait for them with the census; return
    the polls refused for coming too soon, the job-list reads and the status reads."""

    async def main() -> tuple[int, int, int]:
        sim = BkJobSimulator(virtual_clock=loop_time, seed=1, host_duration=(30, 90))
        client = BkJobClient(
            "http://bk-job.invalid",
            app_code="a",
            app_secret="s3cret-wall",
            username="u",
            transport=sim.transport(),
        )
        async with client, Poller(client, wall=sim.utcnow if wall else None) as poller:
            await anyio.sleep(600)  # the simulator's clock is now 10 minutes ahead of ours
            ids = []
            for n in range(20):
                launched = await client.fast_execute_script(
                    SCOPE,
                    targets=Targets(host_ids=[1001 + n]),
                    account=Account(alias="root"),
                    script_content="echo",
                )
                ids.append(launched.job_instance_id)
            async for _ in poller.as_completed(SCOPE, ids, launched=True):
                pass
            refused = poller.statistics().refused_polls
        lists = sim.request_count("get_job_instance_list")
        return refused, lists, sim.request_count("get_job_instance_status")

    return run_virtual(main)


def test_the_job_lists_window_follows_the_wall_clock_given() -> None:
    refused, lists, statuses = launches_after_a_while(wall=True)
    assert refused == 0
    assert lists >= 1
    assert statuses <= 20 + 20  # (the end's read of each job, and at most one more)


def test_a_wall_clock_behind_bk_jobs_misses_the_new_jobs_in_the_list() -> None:
    """The machine's clock 10 minutes behind bk-job's: the window ends before the jobs were
    created, so each job is read by its own polls (none lost, more requests)."""
    _, _, statuses = launches_after_a_while(wall=False)
    _, _, given = launches_after_a_while(wall=True)
    assert statuses > given


def test_a_wall_that_is_not_callable_is_refused_at_once() -> None:
    client = BkJobClient(
        "http://bk-job.invalid", app_code="a", app_secret="s3cret-wall", username="u"
    )
    with pytest.raises(TypeError, match="wall must be a callable"):
        Poller(client, wall="2026-11-28")  # type: ignore[arg-type]
