"""The benchmarks' simulator process (``benchmarks/_simserver.py``) answers as the instruction and
scale benchmarks rely on: a simulator change that breaks one of its modes fails here, not in a
benchmark run (``--flip`` read a check the simulator had dropped, and no test saw it)."""

from __future__ import annotations

import json

import anyio

from bkjob_async import BkJobClient, Scope
from bkjob_async.errors import BkJobError

from ..child import Child

SCOPE = Scope.biz(2)


def _statuses(argv: list[str], reads: int) -> list[object]:
    """Start the simulator with ``argv``, read its first job's status ``reads`` times (each
    answer's host statuses, or the error it raised), then end it."""
    sim = Child(["benchmarks/_simserver.py", "--jobs", "2", "--steps", "1", "--hosts", "3", *argv])
    try:
        info = json.loads(sim.line())

        async def read() -> list[object]:
            got: list[object] = []
            client = BkJobClient(info["url"], app_code="a", app_secret="s", username="u")
            async with client:
                for _ in range(reads):
                    status = await client.get_job_instance_status(SCOPE, info["job_ids"][0])
                    got.append([int(h.status) for step in status.steps for h in step.hosts])
                try:
                    await client.get_job_instance_global_var_value(SCOPE, info["job_ids"][0])
                except BkJobError as error:
                    got.append(type(error).__name__)
                else:
                    got.append("listed")
            return got

        return anyio.run(read)
    finally:
        assert sim.process.stdin is not None
        sim.process.stdin.close()  # (the simulator ends at its stdin's end)
        assert sim.wait() == 0, sim.err


def test_flip_moves_a_host_in_every_other_answer() -> None:
    first, second, third, fourth, listed = _statuses(["--flip"], 4)
    assert first != second  # (the first answer flipped, the second as the simulator said)
    assert (first, second) == (third, fourth)  # (no clock runs: the same two answers again)
    assert listed == "listed"


def test_status_only_answers_the_status_read_and_refuses_the_rest() -> None:
    first, second, listed = _statuses(["--status-only"], 2)
    assert first == second
    assert listed != "listed"
