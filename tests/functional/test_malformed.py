"""A malformed answer is a failed poll, not the end of a watch (issue 23, point 6; issue 61).

A proxy glitch or a half-deployed server sends a time that is a dict, a number past a Java
long, a time in another format: such an answer is retried with backoff and never taken as the
job's state. An answer that stays malformed alike (``SAME_FORMAT_LIMIT`` in a row) will not
heal, and ends that job's watch within seconds, with the field named.
"""

from __future__ import annotations

import json
import random

import anyio
import pytest

from bkjob_async import (
    BkJobClient,
    HostTransition,
    JobFinished,
    Poller,
    PollPolicy,
    ResponseFormatError,
    WatchFailed,
)
from bkjob_async._aiohttp import AiohttpTransport
from bkjob_async._protocol import Response
from bkjob_async.config import Timeouts
from bkjob_async.polling._decide import SAME_FORMAT_LIMIT
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..virtual import SCOPE, VirtualBkJob, run_virtual

#: Virtual time and a fifth of answers mutated: CPU-bound under a 60 s timeout, too slow
#: under coverage's tracer.
pytestmark = pytest.mark.untraced

POLICY = PollPolicy(interval=1.0, max_interval=4.0)


class BadTimes(VirtualBkJob):
    """Job 1 ends at 2 s; its first ``bad`` answers after that carry a dict as a time."""

    def __init__(self, bad: int) -> None:
        super().__init__({1: 2.0})
        self.bad = bad

    async def _send(self, request):  # type: ignore[no-untyped-def]
        response = await super()._send(request)
        body = json.loads(response.body)
        if body["data"]["finished"] and self.bad > 0:
            self.bad -= 1
            body["data"]["job_instance"]["start_time"] = {"not": "a time"}
        return Response(response.status, response.headers, json.dumps(body).encode())


def _watch(server: VirtualBkJob) -> list:
    got: list = []

    async def main() -> None:
        async with server.client() as client, Poller(client, policy=POLICY) as poller:
            with anyio.fail_after(600):
                async for event in poller.watch_jobs(SCOPE, [server.job(1)]):
                    got.append(event)

    run_virtual(main)
    return got


def test_a_malformed_last_answer_is_retried_and_the_watch_ends_as_the_job_did() -> None:
    server = BadTimes(bad=SAME_FORMAT_LIMIT - 1)
    got = _watch(server)
    assert isinstance(got[-1], JobFinished)
    assert got[-1].status == 3
    assert server.bad == 0  # the bad answers were read, and not taken as the end
    assert not [e for e in got if isinstance(e, WatchFailed)]
    # The end's transitions are reported once, from the answer that was read.
    assert [int(e.current) for e in got if isinstance(e, HostTransition)] == [7, 9]


def test_answers_that_stay_malformed_end_the_watch_naming_the_field_within_seconds() -> None:
    server = BadTimes(bad=10_000)
    got = _watch(server)
    failed = got[-1]
    assert isinstance(failed, WatchFailed)
    assert isinstance(failed.error, ResponseFormatError)
    assert "JobInstance.start_time" in str(failed.error)
    assert not [e for e in got if isinstance(e, JobFinished)]
    assert server.bad == 10_000 - SAME_FORMAT_LIMIT  # read that many times, no more
    assert server.answered[-1] <= 2.0 + 10.0  # its end, then seconds of backoff


def test_the_limit_counts_alike_malformed_answers_in_a_row() -> None:
    # One short of the limit, then a readable answer: the job ends normally.
    got = _watch(BadTimes(bad=SAME_FORMAT_LIMIT - 1))
    assert isinstance(got[-1], JobFinished)


# The last: a value nested past ``_json.MAX_DEPTH`` (written into the text, see ``send``).
_DEEP = "<nested 3000 deep>"
_BAD_VALUES = [{"x": 1}, True, 2**70, "2024/01/01 00:00", "abc", [1], _DEEP]


class Mutating:
    """A transport that mutates one field of a share of the answers, at random."""

    def __init__(self, inner: AiohttpTransport, rng: random.Random, share: float) -> None:
        self.inner, self.rng, self.share = inner, rng, share
        self.mutated = 0
        #: The jobs whose last answer was nested too deep: never twice in a row (two are a
        #: body that will not heal, and end the job's watch: ``test_engine_faults``).
        self.deep: set[str] = set()
        #: Each job's answers mutated in a row: never ``SAME_FORMAT_LIMIT``, which may be as
        #: many alike (``finished`` made true, say: a third of the mutations of a job's top
        #: level) and end the job's watch by design (rare: once in CI, none in 80 runs here).
        self.streak: dict[str, int] = {}

    async def send(self, request):  # type: ignore[no-untyped-def]
        response = await self.inner.send(request)
        job = (request.query or {}).get("job_instance_id", "")
        keep = self.rng.random() >= self.share
        if response.status != 200 or keep or self.streak.get(job, 0) >= SAME_FORMAT_LIMIT - 1:
            self.deep.discard(job)
            self.streak[job] = 0
            return response
        body = json.loads(response.body)
        if not isinstance(body.get("data"), dict):
            return response
        self._mutate(body["data"])
        self.mutated += 1
        self.streak[job] = self.streak.get(job, 0) + 1
        text = json.dumps(body)
        if json.dumps(_DEEP) in text and job not in self.deep:
            self.deep.add(job)
            text = text.replace(json.dumps(_DEEP), "[" * 3000 + "]" * 3000)
        else:
            self.deep.discard(job)
            text = text.replace(json.dumps(_DEEP), json.dumps("not deep this time"))
        return response._replace(body=text.encode())

    def _mutate(self, node) -> None:  # type: ignore[no-untyped-def]
        while True:
            if isinstance(node, list):
                if not node:
                    return
                node = self.rng.choice(node)
                continue
            key = self.rng.choice(list(node))
            if isinstance(node[key], (dict, list)) and node[key] and self.rng.random() < 0.7:
                node = node[key]
                continue
            node[key] = self.rng.choice(_BAD_VALUES)
            return

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_with_a_fifth_of_answers_mutated_every_job_ends_and_every_chain_holds() -> None:
    async with BkJobSimulator(seed=2, host_duration=(0.2, 1.0)) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=3), StepPlan(hosts=2)]) for _ in range(20)]
        transport = Mutating(AiohttpTransport(timeouts=Timeouts()), random.Random(5), 0.2)
        finished: dict[int, JobFinished] = {}
        failed: list[WatchFailed] = []
        last: dict[tuple[int, int, int | None], int | None] = {}
        async with (
            BkJobClient(
                sim.url, app_code="a", app_secret="s", username="u", transport=transport
            ) as client,
            Poller(client, policy=PollPolicy(interval=0.1, max_interval=0.5)) as poller,
        ):
            with anyio.fail_after(45):
                async for event in poller.watch_jobs(SCOPE, ids):
                    if isinstance(event, HostTransition):
                        key = (event.job_instance_id, event.step_instance_id, event.host.bk_host_id)
                        previous = None if event.previous is None else int(event.previous)
                        assert previous == last.get(key), f"broken chain at {event}"
                        last[key] = int(event.current)
                    elif isinstance(event, JobFinished):
                        finished[event.job_instance_id] = event
                    elif isinstance(event, WatchFailed):
                        failed.append(event)
        assert transport.mutated > 20
        assert not failed, failed[0].error
        assert sorted(finished) == sorted(ids)
        for job_id in ids:
            assert finished[job_id].status == sim.job(job_id).status
            for step in sim.job(job_id).steps:
                for host in step.hosts or ():
                    key = (job_id, step.step_instance_id, host.bk_host_id)
                    assert last.get(key) == int(host.status), key
