"""Following logs while a job runs (issue 87, bk-job#3825): new text only, hosts that moved or
run, no read after the end; on virtual time, async and blocking."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio

from bkjob_async import BkJobClient, Poller, PollPolicy, Scope, UnsupportedOperationError
from bkjob_async.models import Host, HostStatus
from bkjob_async.polling import LogText, follow_logs
from bkjob_async.sync import BkJobClient as SyncClient
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan, loop_time, run_virtual

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}
FAILS = HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE


def _printed(job: int, step: int, host: Host) -> str:
    return "\n".join(f"{host.bk_host_id} line {n}" for n in range(20))


def _plan() -> list[StepPlan]:
    return [
        StepPlan(hosts=[HostPlan(duration=3), HostPlan(duration=8)]),
        StepPlan(hosts=[HostPlan(duration=20), HostPlan(duration=5, outcome=FAILS)]),
    ]


def test_following_yields_each_hosts_log_once_in_pieces_and_stops_at_the_end() -> None:
    async def main() -> tuple[Any, ...]:
        sim = BkJobSimulator(virtual_clock=loop_time)
        sim.set_log_output(_printed)
        job = sim.create_job(SCOPE, _plan())
        asked: list[list[tuple[int, int]]] = []
        async with (
            BkJobClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS) as client,
            Poller(client, policy=PollPolicy(interval=1.0)) as poller,
        ):
            read = client.batch_get_job_instance_ip_log

            async def counted(scope: Scope, job_id: int, step: int, hosts: Any) -> Any:
                asked.append([(step, h.bk_host_id) for h in hosts])
                return await read(scope, job_id, step, hosts)

            client.batch_get_job_instance_ip_log = counted  # type: ignore[method-assign]
            pieces = [piece async for piece in poller.follow_logs(SCOPE, job)]
            ended_at, turns = sim.request_count(), sim.request_count("get_job_instance_status")
            status = await client.get_job_instance_status(SCOPE, job)
            client.batch_get_job_instance_ip_log = read  # type: ignore[method-assign]
            final = await client.host_logs(SCOPE, job, status=status)
        return pieces, asked, final, status, ended_at, turns, sim.request_count()

    pieces, asked, final, status, ended_at, turns, after = run_virtual(main)
    assert status.finished
    assert after == ended_at + 1 + 2  # only the test's own reads (a status, two steps' logs)
    texts: dict[tuple[int, int], str] = {}
    for piece in pieces:
        assert isinstance(piece, LogText)
        assert piece.text
        assert not piece.restarted
        key = (piece.step_instance_id, piece.host.bk_host_id)
        texts[key] = texts.get(key, "") + piece.text
    whole = {(s, log.host.bk_host_id): log.log_content for s, logs in final.items() for log in logs}
    assert texts == whole  # new text only: the pieces add up to each host's log
    per_host = Counter(key for key in ((p.step_instance_id, p.host.bk_host_id) for p in pieces))
    assert max(per_host.values()) > 2  # a long host's log came in several pieces
    # a host is read while it runs and once at its end, never after
    reads = Counter(h for turn in asked for h in turn)
    assert set(reads) == set(whole)
    assert ended_at == turns + len(asked)  # a status read a turn, a log read a moving step
    assert 28 <= turns <= 32  # 1-s turns over the job's 8 + 20 s
    assert max(reads.values()) <= 20 + 2  # the 20-s host: each turn it ran, and its end
    assert min(reads.values()) <= 3 + 2  # the 3-s host was not read after its end
    assert sum(reads.values()) <= (3 + 8 + 20 + 5) + 2 * 4


def test_following_one_step_and_some_hosts_reads_only_them() -> None:
    async def main() -> tuple[Any, ...]:
        sim = BkJobSimulator(virtual_clock=loop_time)
        sim.set_log_output(_printed)
        job = sim.create_job(SCOPE, _plan())
        async with BkJobClient(
            "http://bk-job.test", transport=sim.transport(), **CREDENTIALS
        ) as client:
            await anyio.sleep(9)  # (the second step has started: its hosts are known)
            status = await client.get_job_instance_status(SCOPE, job)
            step = status.steps[1].step_instance_id
            chosen = [(status.steps[1].hosts or ())[0].host]
            pieces = [
                p
                async for p in follow_logs(
                    client, SCOPE, job, step_instance_id=step, hosts=chosen, interval=2.0
                )
            ]
        return pieces, step, chosen

    pieces, step, chosen = run_virtual(main)
    assert len(pieces) > 2
    assert {(p.step_instance_id, p.host.key) for p in pieces} == {(step, chosen[0].key)}


def test_the_blocking_client_follows_logs_on_virtual_time() -> None:
    sim = BkJobSimulator(virtual_clock=True)
    sim.set_log_output(_printed)
    job = sim.create_job(SCOPE, _plan())

    async def jump(seconds: float) -> None:  # (the simulator's virtual clock, moved by hand)
        sim.advance(seconds)

    with SyncClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS) as client:
        pieces = list(client.follow_logs(SCOPE, job, interval=1.0, sleep=jump))
    assert sim.job(job).status.is_finished
    assert len({(p.step_instance_id, p.host.key) for p in pieces}) == 4


def test_bad_input_and_esb_v2_are_refused_before_any_request() -> None:
    async def main() -> list[str]:
        sim = BkJobSimulator(virtual_clock=loop_time)
        job = sim.create_job(SCOPE, _plan())
        errors = []
        async with (
            BkJobClient(
                "http://bk-job.test", transport=sim.transport(), flavor="esb-v2", **CREDENTIALS
            ) as v2,
            BkJobClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS) as v3,
        ):
            for client, kwargs in [(v2, {}), (v3, {"interval": 0}), (v3, {"hosts": [1]})]:
                try:
                    async for _ in follow_logs(client, SCOPE, job, **kwargs):
                        pass
                except (UnsupportedOperationError, ValueError, TypeError) as exc:
                    errors.append(type(exc).__name__)
        assert sim.request_count() == 0
        return errors

    assert run_virtual(main) == ["UnsupportedOperationError", "ValueError", "TypeError"]
