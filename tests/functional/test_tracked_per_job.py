"""What the cyclic garbage collector tracks per watched job (issue 64, point 3): each full
collection walks every one, so the engine keeps a job in few objects. The census here is
pinned: a new object per job fails it (``benchmarks/HISTORY.md``, "The 50,000-job watch")."""

from __future__ import annotations

import collections
import gc

import anyio

from bkjob_async import JobTransition, Poller, PollPolicy
from bkjob_async.polling._jobs import KEPT_REQUESTS
from bkjob_async.testing import MockTransport, run_virtual
from tests.conftest import local_client

from ..scripted import SCOPE, ScriptedServer, job_body

JOBS = 2000
#: Per watched job, now: the poll request and query of the jobs in the first ``KEPT_REQUESTS``
#: slots (1,024 of the 2,000 here; any other's is made at each send). The job is a row of the
#: registry's columns (``_jobs.Registry``): its value a plain tuple of plain values, its times and
#: fingerprint numbers in arrays, its hosts' ids and codes bytes, its steps' fields one plain
#: tuple, the watch's fold of it a row of columns: none tracked. Nothing else of the engine's
#: comes to 0.05 a job.
PER_JOB = {
    "bkjob_async._protocol._request.Request": round(KEPT_REQUESTS / JOBS, 2),
    "bkjob_async.polling._reader.Query": round(KEPT_REQUESTS / JOBS, 2),
}


def _tracked() -> collections.Counter[str]:
    return collections.Counter(
        f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
    )


def test_a_watched_job_holds_few_objects_the_collector_tracks() -> None:
    async def main() -> collections.Counter[str]:
        server = ScriptedServer()
        for job_id in range(1, JOBS + 1):
            server.script(job_id, job_body(job_id, 2, [(10, 2, 0, [3, 2, 1])]))
        client = local_client(MockTransport(server))
        policy = PollPolicy(interval=1.0, max_interval=1.0, growth=1.0, latency=None)
        async with client, Poller(client, policy=policy) as poller:
            gc.collect()
            before = _tracked()
            watch = poller.watch_jobs(SCOPE, range(1, JOBS + 1))
            seen = 0
            async for event in watch:
                seen += isinstance(event, JobTransition)
                if seen == JOBS:
                    break
            while poller.statistics().unchanged_polls < 2 * JOBS:
                await anyio.sleep(0.5)  # (virtual time)
            # A pass stops tracking a tuple of untracked values; a tuple in a tuple made in
            # the same poll can be reached after it in that pass and let go in the next: a
            # record's value nests four deep (its value, its state, its steps, a step).
            for _ in range(4):
                gc.collect()
            grown = _tracked() - before
            values = poller._driver.registry.values
            # (the jobs' values: plain tuples the collector let go of)
            still = [v for v in values if gc.is_tracked(v)]
            assert len(values) == JOBS
            assert not still, f"{len(still)} jobs hold values the collector still tracks"
            await watch.aclose()
        return grown

    grown = run_virtual(main)
    # (the engine's own types: the scripted server keeps a list of arrivals per job)
    engine = {name: n for name, n in grown.items() if name.startswith(("bkjob_async.", "array."))}
    per_job = {name: round(n / JOBS, 2) for name, n in engine.items() if n / JOBS >= 0.05}
    assert per_job == PER_JOB
