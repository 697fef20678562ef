"""The poll engine against a scripted server: exact event sequences, dedup, failures, lifecycle."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest

from bkjob_async import (
    ApiError,
    BkJobClient,
    HostTransition,
    JobFinished,
    NotFoundError,
    Poller,
    PollPolicy,
    Timeouts,
    WatchFailed,
    WatchTimedOut,
)

from ..scripted import FAST, SCOPE, Fault, Hang, ScriptedServer, describe, job_body


async def collect(watch, limit: int = 1000) -> list:
    events = []
    with anyio.fail_after(10):
        async for event in watch:
            events.append(event)
            if len(events) >= limit:
                break
    return events


async def test_success_history_in_exact_order(scripted: ScriptedServer, poller: Poller) -> None:
    scripted.script(
        1,
        job_body(1, 2, [(10, 2, 0, [5, 5])]),
        job_body(1, 2, [(10, 2, 0, [7, 5])]),
        job_body(1, 2, [(10, 2, 0, [7, 5])]),
        job_body(1, 2, [(10, 2, 0, [9, 7])]),
        job_body(1, 3, [(10, 3, 0, [9, 9])]),
    )
    events = await collect(poller.watch_job(SCOPE, 1))
    assert [describe(e) for e in events] == [
        ("host", 10, 0, 100, None, 5),
        ("host", 10, 0, 101, None, 5),
        ("step", 10, 0, None, 2),
        ("job", None, 2),
        ("host", 10, 0, 100, 5, 7),
        ("host", 10, 0, 100, 7, 9),
        ("host", 10, 0, 101, 5, 7),
        ("host", 10, 0, 101, 7, 9),
        ("step", 10, 0, 2, 3),
        ("job", 2, 3),
        ("finished", 3),
    ]
    final = events[-1]
    assert isinstance(final, JobFinished)
    assert final.snapshot.finished
    assert [h.status for h in final.snapshot.steps[0].hosts] == [9, 9]
    host_event = events[0]
    assert isinstance(host_event, HostTransition)
    assert host_event.result.host.ip == "10.0.0.0"
    assert host_event.observed_at.tzinfo is not None


async def test_multi_step_failure_ends_with_job_status(
    scripted: ScriptedServer, poller: Poller
) -> None:
    scripted.script(
        7,
        job_body(7, 2, [(1, 2, 0, [7]), (2, 1, 0, None)]),
        job_body(7, 4, [(1, 4, 0, [104]), (2, 1, 0, None)]),
    )
    events = [describe(e) for e in await collect(poller.watch_job(SCOPE, 7))]
    assert events == [
        ("host", 1, 0, 100, None, 7),
        ("step", 1, 0, None, 2),
        ("step", 2, 0, None, 1),
        ("job", None, 2),
        ("host", 1, 0, 100, 7, 104),
        ("step", 1, 0, 2, 4),
        ("job", 2, 4),
        ("finished", 4),
    ]


async def test_retry_round_reads_failed_to_waiting_to_success(
    scripted: ScriptedServer, poller: Poller
) -> None:
    scripted.script(
        3,
        job_body(3, 2, [(30, 2, 0, [9, 7])]),
        job_body(3, 4, [(30, 4, 0, [9, 11])]),
    )
    first = [describe(e) for e in await collect(poller.watch_job(SCOPE, 3))]
    assert first[-1] == ("finished", 4)
    # Operation 2 (retry failed): the job runs again at once, the step lags with the new round
    # and no host rows; then the failed host is reset, the succeeded one copied with 9.
    scripted.extend(
        3,
        job_body(3, 2, [(30, 4, 1, [])]),
        job_body(3, 2, [(30, 2, 1, [9, 5])]),
        job_body(3, 2, [(30, 2, 1, [9, 7])]),
        job_body(3, 3, [(30, 3, 1, [9, 9])]),
    )
    again = [describe(e) for e in await collect(poller.watch_job(SCOPE, 3))]
    assert again == [
        ("job", 4, 2),
        ("host", 30, 1, 101, 11, 5),
        ("step", 30, 1, 4, 2),
        ("host", 30, 1, 101, 5, 7),
        ("host", 30, 1, 101, 7, 9),
        ("step", 30, 1, 2, 3),
        ("job", 2, 3),
        ("finished", 3),
    ]


async def test_step_watch_ignores_the_retry_lag(scripted: ScriptedServer, poller: Poller) -> None:
    scripted.script(
        4,
        job_body(4, 2, [(40, 4, 1, [])]),  # stale failed step of a running job: not an end
        job_body(4, 2, [(40, 2, 1, [5])]),
        job_body(4, 2, [(40, 3, 1, [9]), (41, 2, 0, [7])]),
    )
    events = [describe(e) for e in await collect(poller.watch_step(SCOPE, 4, 40))]
    assert events == [
        ("step", 40, 1, None, 4),
        ("host", 40, 1, 100, None, 5),
        ("step", 40, 1, 4, 2),
        ("host", 40, 1, 100, 5, 9),
        ("step", 40, 1, 2, 3),
    ]


async def test_two_watches_share_one_poll(scripted: ScriptedServer, poller: Poller) -> None:
    history = [job_body(5, 2, [(50, 2, 0, [5, 5])]) for _ in range(20)]
    history.append(job_body(5, 3, [(50, 3, 0, [9, 9])]))
    scripted.script(5, *history)
    results: dict[str, list] = {}

    async def watch(name: str) -> None:
        results[name] = [describe(e) for e in await collect(poller.watch_job(SCOPE, 5))]

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch, "a")
        tg.start_soon(watch, "b")
    assert results["a"] == results["b"]
    assert results["a"][-1] == ("finished", 3)
    # One shared poll per step of the history (plus at most one in flight when both subscribed).
    assert scripted.polls[5] <= len(history) + 1


async def test_multiplexed_watch_reports_a_missing_job_and_goes_on(
    scripted: ScriptedServer, poller: Poller
) -> None:
    scripted.script(8, job_body(8, 2, [(80, 2, 0, [7])]), job_body(8, 3, [(80, 3, 0, [9])]))
    events = await collect(poller.watch_jobs(SCOPE, [8, 999]))
    failed = [e for e in events if isinstance(e, WatchFailed)]
    assert len(failed) == 1
    assert failed[0].job_instance_id == 999
    assert isinstance(failed[0].error, NotFoundError)
    assert failed[0].error.code == 1244006
    of_8 = [describe(e) for e in events if e.job_instance_id == 8]
    assert of_8 == [
        ("host", 80, 0, 100, None, 7),
        ("step", 80, 0, None, 2),
        ("job", None, 2),
        ("host", 80, 0, 100, 7, 9),
        ("step", 80, 0, 2, 3),
        ("job", 2, 3),
        ("finished", 3),
    ]


async def test_single_watch_raises_the_error(scripted: ScriptedServer, poller: Poller) -> None:
    with pytest.raises(NotFoundError):
        await collect(poller.watch_job(SCOPE, 404))


async def test_transient_faults_are_retried_and_nothing_is_lost(
    scripted: ScriptedServer, client
) -> None:
    scripted.script(
        9,
        job_body(9, 2, [(90, 2, 0, [7, 7])]),
        Fault(502, "bad gateway"),
        Fault.envelope(1306429, "rate limited"),
        Fault(
            429,
            '{"code": 1642903, "code_name": "RATE_LIMIT_RESTRICTION", "result": false}',
            {"Retry-After": "0.01", "X-Bkapi-Error-Code": "1642903"},
        ),
        Fault(200, "<html>proxy error</html>"),
        job_body(9, 3, [(90, 3, 0, [9, 9])]),
    )
    async with Poller(client, policy=FAST) as poller:
        events = [describe(e) for e in await collect(poller.watch_job(SCOPE, 9))]
        stats = poller.statistics()
    assert events == [
        ("host", 90, 0, 100, None, 7),
        ("host", 90, 0, 101, None, 7),
        ("step", 90, 0, None, 2),
        ("job", None, 2),
        ("host", 90, 0, 100, 7, 9),
        ("host", 90, 0, 101, 7, 9),
        ("step", 90, 0, 2, 3),
        ("job", 2, 3),
        ("finished", 3),
    ]
    assert stats.errors == {"ServerError": 1, "RateLimitedError": 2, "ResponseFormatError": 1}
    assert stats.retries == 2  # rate limits slow the engine down; they are not retries


async def test_failed_reads_within_the_budget_end_no_watch(
    scripted: ScriptedServer, client
) -> None:
    # Five 503s in a row (within moments: neither an outage nor a job failing alone), then the
    # job finishes.
    scripted.script(11, *([Fault(503, "down")] * 5), job_body(11, 3, [(1, 3, 0, [9])]))
    policy = PollPolicy(interval=0.001, max_interval=0.002, max_in_flight=4)
    async with Poller(client, policy=policy) as poller:
        events = await collect(poller.watch_jobs(SCOPE, [11]))
        stats = poller.statistics()
    assert (stats.server_failures, stats.job_failures, stats.failing_jobs) == (5, 0, 0)
    names = [type(e).__name__ for e in events]
    assert names[-1] == "JobFinished"
    assert not {"WatchFailed", "PollingStalled", "JobPollFailing"} & set(names)
    assert scripted.polls[11] == 6


async def test_a_budget_spent_ends_that_job_alone(scripted: ScriptedServer, client) -> None:
    # An error code bk-job keeps answering for one job (not one of its own failures, 5xx).
    scripted.script(12, *([Fault.envelope(1249999, "job 12 is broken")] * 50))
    scripted.script(13, job_body(13, 2, [(1, 2, 0, [7])]), job_body(13, 3, [(1, 3, 0, [9])]))
    policy = PollPolicy(
        interval=0.001, max_interval=0.002, max_in_flight=4, max_failures=4, max_failing_time=None
    )
    async with Poller(client, policy=policy) as poller:
        events = await collect(poller.watch_jobs(SCOPE, [12, 13]))
        stats = poller.statistics()
    ends = {e.job_instance_id: e for e in events if isinstance(e, (JobFinished, WatchFailed))}
    assert isinstance(ends[12], WatchFailed)
    assert type(ends[12].error) is ApiError
    assert ends[12].error.code == 1249999
    assert scripted.polls[12] == 4
    assert stats.job_failures == 4
    assert isinstance(ends[13], JobFinished)


async def test_unchanged_polls_are_counted_and_skip_decoding(
    scripted: ScriptedServer, poller: Poller
) -> None:
    same = job_body(12, 2, [(120, 2, 0, [7])])
    scripted.script(12, *([same] * 30), job_body(12, 3, [(120, 3, 0, [9])]))
    events = await collect(poller.watch_job(SCOPE, 12))
    assert describe(events[-1]) == ("finished", 3)
    stats = poller.statistics()
    # Every repeat of the same data is unchanged, although each carries a new job_request_id.
    assert stats.unchanged_polls >= 28
    assert len(events) == 7


async def test_a_request_id_in_a_new_place_is_cut_too_from_the_next_poll_on(
    scripted: ScriptedServer, poller: Poller
) -> None:
    # From the 5th answer on, a second id follows the data: the places of the ids reused from
    # the answer before miss it once; then it is found, and repeats are skipped again.
    same = job_body(13, 2, [(130, 2, 0, [7])])
    scripted.trailing_id_from = 5
    scripted.script(13, *([same] * 40), job_body(13, 3, [(130, 3, 0, [9])]))
    events = await collect(poller.watch_job(SCOPE, 13))
    assert describe(events[-1]) == ("finished", 3)
    # 41 polls: the first, the 6th (first with the new id) and the last are decoded.
    assert poller.statistics().unchanged_polls >= 37


async def test_breaking_out_stops_polling(scripted: ScriptedServer, poller: Poller) -> None:
    scripted.script(13, job_body(13, 2, [(130, 2, 0, [7])]))
    with anyio.fail_after(5):
        async for _ in poller.watch_job(SCOPE, 13):
            break
    await anyio.sleep(0.05)
    seen = scripted.polls[13]
    await anyio.sleep(0.1)
    assert scripted.polls[13] == seen
    assert poller.statistics().instances_watched == 0


async def test_deadline_ends_with_a_snapshot(scripted: ScriptedServer, client) -> None:
    scripted.script(14, job_body(14, 7, [(140, 7, 0, None)]))  # waiting for a user, forever
    policy = PollPolicy(interval=0.01, max_interval=0.02, deadline=0.2)
    async with Poller(client, policy=policy) as poller:
        events = await collect(poller.watch_job(SCOPE, 14))
    assert isinstance(events[-1], WatchTimedOut)
    assert events[-1].snapshot is not None
    assert events[-1].snapshot.job.status == 7


async def test_leaving_the_poller_with_polls_in_flight_is_clean(
    scripted: ScriptedServer, client
) -> None:
    scripted.script(15, job_body(15, 2, [(150, 2, 0, [7])]))
    ids = list(range(1000, 1200))
    for job_id in ids:
        scripted.script(job_id, job_body(job_id, 2, [(1, 2, 0, [7])]))
    with anyio.fail_after(5):
        async with Poller(client, policy=PollPolicy(interval=0.001, max_in_flight=32)) as poller:
            watch = poller.watch_jobs(SCOPE, ids)
            await anyio.sleep(0.2)
            assert poller.statistics().requests > 0
    assert watch.closed
    with anyio.fail_after(1):
        leftover = [e async for e in watch]
    assert all(e.job_instance_id in ids for e in leftover)
    assert not any(isinstance(e, (JobFinished, WatchFailed)) for e in leftover)


async def test_bad_arguments_fail_before_anything_is_sent(
    scripted: ScriptedServer, poller: Poller
) -> None:
    with pytest.raises(TypeError):
        poller.watch_job(SCOPE, True)
    with pytest.raises(ValueError, match=">= 1"):
        poller.watch_jobs(SCOPE, [1, 0])
    with pytest.raises(TypeError):
        poller.watch_job("biz:2", 1)  # type: ignore[arg-type]
    await anyio.sleep(0.02)
    assert sum(scripted.polls.values()) == 0


async def test_poller_rejects_more_in_flight_than_connections(client) -> None:
    with pytest.raises(ValueError, match="connection"):
        Poller(client, policy=PollPolicy(max_in_flight=client.connection_limit + 1))


async def test_forgotten_jobs_start_over(scripted: ScriptedServer, client) -> None:
    for job_id in (21, 22):
        scripted.script(job_id, job_body(job_id, 3, [(1, 3, 0, [9])]))
    policy = PollPolicy(interval=0.005, max_interval=0.02, remember=1)
    async with Poller(client, policy=policy) as poller:
        await collect(poller.watch_job(SCOPE, 21))
        await collect(poller.watch_job(SCOPE, 22))  # pushes job 21 out of memory
        again_22 = [describe(e) for e in await collect(poller.watch_job(SCOPE, 22))]
        again_21 = [describe(e) for e in await collect(poller.watch_job(SCOPE, 21))]
    assert again_22 == [("finished", 3)]  # remembered: nothing changed
    assert again_21[0] == ("host", 1, 0, 100, None, 9)  # forgotten: first sight again


@pytest.mark.parametrize(
    ("timeouts", "poll_timeout"),
    [(Timeouts(read=0.3), 10.0), (Timeouts(), 0.3), (Timeouts(total=0.3), None)],
    ids=["client-read", "poll-timeout", "client-total"],
)
async def test_a_hung_server_costs_each_poll_its_timeout_and_others_go_on(
    scripted: ScriptedServer, timeouts: Timeouts, poll_timeout: float | None
) -> None:
    """A server that accepts and never answers one job's polls: the smallest timeout holds."""
    scripted.script(31, Hang())
    ids = list(range(32, 40))
    for job_id in ids:
        scripted.script(
            job_id, job_body(job_id, 2, [(1, 2, 0, [7])]), job_body(job_id, 3, [(1, 3, 0, [9])])
        )
    policy = PollPolicy(
        interval=0.01,
        max_interval=0.05,
        max_in_flight=2,
        poll_timeout=poll_timeout,
        max_failures=3,
        max_failing_time=None,
    )
    async with (
        BkJobClient(
            scripted.url, app_code="app", app_secret="s3cret", username="admin", timeouts=timeouts
        ) as client,
        Poller(client, policy=policy) as poller,
    ):
        finished: set[int] = set()
        ends: dict[int, object] = {}
        started = anyio.current_time()
        with anyio.fail_after(5):
            async for event in poller.watch_jobs(SCOPE, [31, *ids]):
                if isinstance(event, JobFinished):
                    finished.add(event.job_instance_id)
                if isinstance(event, (JobFinished, WatchFailed)):
                    ends[event.job_instance_id] = event
        elapsed = anyio.current_time() - started
        stats = poller.statistics()
    assert finished == set(ids)  # one of two workers held by the hung job: the rest go on
    assert stats.errors.get("TimeoutError", 0) == 3
    assert not stats.stalled  # bk-job answered the others: the job's fault, not an outage
    hung = ends[31]  # its failure budget (3 reads) spent: it ends alone, with its cause
    assert isinstance(hung, WatchFailed)
    assert isinstance(hung.error, TimeoutError)
    gaps = [b - a for a, b in itertools.pairwise(scripted.arrivals[31])]
    assert all(0.25 <= gap <= 1.0 for gap in gaps), gaps  # 0.3 s each, plus a backoff
    assert elapsed < 3.0


# --- changed answers folded together (``_engine._BATCH``) -------------------------------------


async def test_an_answer_waits_for_no_other_when_nothing_is_due(
    scripted: ScriptedServer, client
) -> None:
    """Answers are held back to be folded together, but never while a worker has nothing due."""
    scripted.script(41, Hang())  # a poll in flight the whole time
    scripted.script(42, job_body(42, 2, [(1, 2, 0, [7])]))
    policy = PollPolicy(interval=2.0, max_interval=2.0, jitter=0.0, max_in_flight=2)
    async with Poller(client, policy=policy) as poller:
        with anyio.fail_after(5):  # the first poll comes within one interval (its phase)
            async for event in poller.watch_jobs(SCOPE, [41, 42]):
                assert event.job_instance_id == 42
                break
        # Delivered from the first answer, before the second poll (an interval later).
        assert scripted.polls[42] == 1


async def test_an_answer_waits_for_no_poll_when_few_are_in_flight(
    scripted: ScriptedServer, client
) -> None:
    """With fewer than a batch of requests in flight, answers come one by one: an answer is
    folded at once, not held while its worker's next poll (which may hang) is out."""
    scripted.script(42, job_body(42, 2, [(1, 2, 0, [7])]))
    scripted.script(43, Hang())
    scripted.script(44, Hang())
    policy = PollPolicy(interval=2.0, max_interval=2.0, jitter=0.0, max_in_flight=2)
    async with Poller(client, policy=policy) as poller:
        with anyio.fail_after(3):  # (held, it would wait for 44's poll: 10 s, its timeout)
            async for event in poller.watch_jobs(SCOPE, [42, 43, 44]):
                assert event.job_instance_id == 42
                break


async def test_answers_folded_together_keep_every_jobs_order(
    scripted: ScriptedServer, client
) -> None:
    """Many jobs polled back to back by 8 workers: each job's events as if it were alone."""
    ids = list(range(200, 240))
    for job_id in ids:
        scripted.script(
            job_id,
            job_body(job_id, 2, [(1, 2, 0, [7, 1])]),
            job_body(job_id, 2, [(1, 2, 0, [9, 7])]),
            job_body(job_id, 3, [(1, 3, 0, [9, 9])]),
        )
    seen: dict[int, list[tuple[Any, ...]]] = {job_id: [] for job_id in ids}
    async with Poller(client, policy=FAST) as poller:
        async for event in poller.watch_jobs(SCOPE, ids):
            seen[event.job_instance_id].append(describe(event))
    expected = [
        ("host", 1, 0, 100, None, 7),
        ("host", 1, 0, 101, None, 1),
        ("step", 1, 0, None, 2),
        ("job", None, 2),
        ("host", 1, 0, 100, 7, 9),
        ("host", 1, 0, 101, 1, 7),
        ("host", 1, 0, 101, 7, 9),
        ("step", 1, 0, 2, 3),
        ("job", 2, 3),
        ("finished", 3),
    ]
    assert seen == dict.fromkeys(ids, expected)


class _Permits:
    """An outside rate budget that records what the poller tells it."""

    def __init__(self) -> None:
        self.granted = 0
        self.reports: list[tuple[int, float | None]] = []

    async def acquire(self) -> int:
        self.granted += 1
        return self.granted

    async def throttled(self, permit: int, retry_after: float | None = None) -> None:
        self.reports.append((permit, retry_after))


@pytest.mark.parametrize(
    "throttle",
    [
        Fault.envelope(1306429, "rate limited"),  # HTTP 200: decoded when folded
        Fault(429, "", {"Retry-After": "0.01", "X-Bkapi-Error-Code": "1642903"}),  # at once
    ],
    ids=["esb-envelope", "gateway-429"],
)
async def test_a_throttle_answer_reaches_the_rate_budget(
    scripted: ScriptedServer, client, throttle: Fault
) -> None:
    scripted.script(7, throttle, job_body(7, 3, [(1, 3, 0, [9])]))
    permits = _Permits()
    async with Poller(client, policy=FAST, permits=permits) as poller:
        events = [describe(e) for e in await collect(poller.watch_job(SCOPE, 7))]
        with anyio.fail_after(5):
            while not permits.reports:  # reported in the background
                await anyio.sleep(0.01)
    assert events[-1] == ("finished", 3)
    assert [permit for permit, _ in permits.reports] == [1]  # the first poll's permit
