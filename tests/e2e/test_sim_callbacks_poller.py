"""bk-job's callbacks into the poller: a job's end is seen at once, not at its next poll, on
hosts (the gateway v3) and on Kubernetes containers (the gateway v4)."""

from __future__ import annotations

import anyio
import pytest

from bkjob_async import (
    Account,
    CallbackReceiver,
    JobFinished,
    KubeContainerFilter,
    Poller,
    PollPolicy,
    Targets,
)
from bkjob_async.testing import BkJobSimulator

from ..conftest import Clients
from ..objects import OBJECTS, flavor
from .conftest import SCOPE

PODS = KubeContainerFilter(cluster_uids=["BCS-K8S-00001"], container_names=["app"])


@pytest.mark.parametrize("objects", OBJECTS)
async def test_a_callback_makes_the_end_visible_long_before_the_schedule(
    make_client: Clients, objects: str
) -> None:
    # Polled every 60 s at most: without the callback the end would wait up to a minute.
    policy = PollPolicy(latency=60.0, interval=60.0, max_interval=60.0, jitter=0.0)
    async with (
        BkJobSimulator(seed=3, host_duration=(0.5, 0.8), host_start_delay=0.0) as sim,
        make_client(base_url=sim.url, flavor=flavor(objects)) as client,
        Poller(client, policy=policy) as poller,
        CallbackReceiver(poller.hint, host="127.0.0.1", port=0) as receiver,
    ):
        launched = await client.fast_execute_script(
            SCOPE,
            targets=Targets(host_ids=[1001, 1002])
            if objects == "hosts"
            else Targets(containers=[PODS]),
            account=Account(alias="root"),
            script_content="uptime",
            callback_url=receiver.callback_url,
        )
        job = launched.job_instance_id
        started = anyio.current_time()
        with anyio.fail_after(20):
            async with poller.watch_jobs(SCOPE, [job], events=[JobFinished]) as watch:
                async for event in watch:
                    assert isinstance(event, JobFinished)
                    break
        took = anyio.current_time() - started
        stats = poller.statistics()
    assert took < 10.0  # the job runs under a second; its next scheduled poll is 60 s away
    assert receiver.statistics().accepted >= 1
    assert stats.hinted_polls == 1
    assert stats.requests <= 3  # the first poll (phase within 60 s, or at once) and the hinted
