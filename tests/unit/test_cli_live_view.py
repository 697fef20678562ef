"""Issue 12, point 3: the live view fits 80x24 and uses 200x50; ``status`` never cuts a status.

Rendered in-process on a fixed-size console (fast, exact); ``tests/e2e/test_cli_terminal.py`` checks the same
under tmux.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from rich.cells import cell_len
from rich.console import Console

from bkjob_async import (
    ConnectError,
    Host,
    HostResult,
    HostStatus,
    HostTransition,
    JobFinished,
    JobStatus,
    JobTransition,
    PollerStatistics,
    PollingResumed,
    PollingStalled,
    StepTransition,
    WatchTimedOut,
)
from bkjob_async.cli._format import Tally
from bkjob_async.cli._live import LiveView, print_status
from tests.made import one_step

T0 = dt.datetime(2025, 1, 1, 8, 0, tzinfo=dt.timezone.utc)
URL = "https://bkapi.example.com/api/bk-job/prod (biz:2, apigw-v3)"
STATS = PollerStatistics(
    instances_watched=20,
    watches=1,
    requests=123_456,
    unchanged_polls=100_000,
    retries=12,
    errors={},
    events_emitted=5000,
    current_rate=345.0,
    rate_limit=None,
    in_flight=32,
)


def busy_tally(jobs: int = 20) -> Tally:
    """Return a tally of a large watch: running, failed, succeeded, waiting and timed-out jobs."""
    ids = list(range(10001, 10001 + jobs))
    tally = Tally(ids, expected_hosts=jobs * 50)
    for n, job in enumerate(ids):
        tally.feed(JobTransition(job, T0, None, JobStatus.RUNNING))
        for i in range(3):
            host = Host(bk_host_id=1000 + i, ip=f"10.0.{n}.{i}", bk_cloud_id=0)
            running = HostResult(host, HostStatus.RUNNING)
            step = 20000 + n
            tally.feed(HostTransition(job, T0, step, 0, host, None, HostStatus.RUNNING, running))
            done = HostResult(host, HostStatus.SUCCESS, exit_code=0, end_time=T0)
            tally.feed(
                HostTransition(job, T0, step, 0, host, HostStatus.RUNNING, HostStatus.SUCCESS, done)
            )
    final = one_step(10001, JobStatus.FAIL, (), step=20001)
    tally.feed(JobFinished(10001, T0, JobStatus.FAIL, final))
    tally.feed(JobFinished(10002, T0, JobStatus.SUCCESS, final))
    for job in (10003, 10004):
        tally.feed(
            StepTransition(job, T0, 30000 + job, 0, JobStatus.RUNNING, JobStatus.WAITING_USER)
        )
        tally.feed(JobTransition(job, T0, JobStatus.RUNNING, JobStatus.WAITING_USER))
    tally.feed(WatchTimedOut(10005, T0, None))
    return tally


def draw(tally: Tally, width: int, height: int, **kwargs) -> list[str]:
    console = Console(file=io.StringIO(), width=width, height=height, color_system=None)
    view = LiveView(console, tally, title="bkjob-async watch 20 jobs", server=URL, **kwargs)
    console.print(view.render())
    return console.file.getvalue().splitlines()


def view_kwargs():
    return {"statistics": lambda: STATS}


@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 30), (200, 50)])
def test_the_view_fits_the_terminal(width: int, height: int) -> None:
    lines = draw(busy_tally(), width, height, **view_kwargs())
    assert len(lines) <= height - 1  # taller would be cut by the terminal ("...")
    assert all(cell_len(line) <= width for line in lines)
    assert lines[0].startswith("╭─ bkjob-async watch 20 jobs ")
    assert lines[-1].startswith("╰")
    text = "\n".join(lines)
    assert URL in text  # never cut at 80 columns
    polls = next(line for line in lines if "req/s" in line)
    assert "32 in flight" in polls  # the figures on one line, not wrapped
    assert "waiting 2" in text
    assert "timed out 1" in text
    assert "failed 1" in text
    assert "bkjob-async operate 10003 40003 confirm" in text
    assert "bkjob-async operate 10004 40004 confirm" in text


def test_one_line_per_transition_at_80_columns() -> None:
    lines = draw(busy_tally(), 80, 24, **view_kwargs())
    start = next(i for i, line in enumerate(lines) if "Latest transitions" in line)
    shown = lines[start + 1 : -1]
    assert len(shown) >= 3
    for line in shown:
        assert "→" in line
        assert line.rstrip().endswith("│")  # the line ends inside the panel: not wrapped


def test_a_large_terminal_shows_more() -> None:
    small = draw(busy_tally(), 80, 24, **view_kwargs())
    large = draw(busy_tally(), 200, 50, **view_kwargs())
    assert len(large) >= 40  # the space is used
    assert sum("→" in line for line in large) > 2 * sum("→" in line for line in small)
    assert any("RUNNING(7) → SUCCESS(9)" in line for line in large)  # the full form, codes too
    assert sum(line.lstrip("│ ").startswith("100") for line in large) > 10  # the job table


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 50)])
def test_connecting_and_outage_lines(width: int, height: int) -> None:
    tally = Tally([1])
    lines = draw(tally, width, height, statistics=lambda: None, connected=False)
    assert any("connecting to https://bkapi.example.com/api/bk-job/prod" in line for line in lines)
    tally.feed(PollingStalled(1, T0, T0, ConnectError("refused")))
    lines = draw(tally, width, height, statistics=lambda: None)
    local = T0.astimezone().strftime("%H:%M:%S")
    header = next(line for line in lines if "unreachable" in line)
    assert f"│ bk-job      bk-job unreachable since {local}, retrying (ConnectError)" in header
    assert len(lines) <= height - 1
    assert all(cell_len(line) <= width for line in lines)
    tally.feed(PollingResumed(1, T0, T0))  # the first good answer: the header goes at once
    lines = draw(tally, width, height, statistics=lambda: None)
    assert not any("unreachable" in line for line in lines)
    assert any(f"│ bk-job      {URL}" in line for line in lines)


def test_status_never_cuts_the_status_name_at_80_columns() -> None:
    host = Host(bk_host_id=123456789, ip="192.168.100.200", bk_cloud_id=12)
    rows = (
        HostResult(
            host,
            HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE,
            exit_code=127,
            total_time=dt.timedelta(seconds=1234.5),
        ),
        HostResult(host, HostStatus.SUCCESS, exit_code=0, total_time=dt.timedelta(seconds=1)),
    )
    status = one_step(10001, JobStatus.FAIL, rows, step=20001, step_name="deploy", job_name="n")
    console = Console(file=io.StringIO(), width=80, color_system=None)
    print_status(console, status)
    out = console.file.getvalue()
    assert "SCRIPT_NOT_ZERO_EXIT_CODE(104)" in out
    assert all(cell_len(line) <= 80 for line in out.splitlines())


def test_progress_says_100_percent_only_when_every_host_finished() -> None:
    from bkjob_async.cli._format import progress_line

    tally = Tally([1], expected_hosts=400)
    for i in range(399):
        host = Host(bk_host_id=i)
        done = HostResult(host, HostStatus.SUCCESS)
        tally.feed(HostTransition(1, T0, 2, 0, host, None, HostStatus.SUCCESS, done))
    assert "399/400  99%" in progress_line(tally, None, 1.0, 0.0)


def test_a_stalled_poller_shows_an_outage_even_without_its_events() -> None:
    import attrs

    stalled = attrs.evolve(STATS, stalled=True)
    lines = draw(Tally([1]), 80, 24, statistics=lambda: stalled)
    assert any("bk-job unreachable, retrying" in line for line in lines)


def test_counts_say_one_retry_and_use_one_number_format() -> None:
    """Issue 28: "1 retries", "1 jobs", and "SUCCESS 2976" beside "total 3,000"."""
    import attrs

    from bkjob_async.cli._format import counted, summary_lines

    from .test_cli_jsonl_tally import snapshot

    assert [counted(1, "job"), counted(2, "job"), counted(3000, "host")] == [
        "1 job",
        "2 jobs",
        "3,000 hosts",
    ]
    assert counted(1, "retry", "retries") == "1 retry"
    lines = draw(busy_tally(), 200, 50, statistics=lambda: attrs.evolve(STATS, retries=1))
    polls = next(line for line in lines if "req/s" in line)
    assert "· 1 retry ·" in polls
    assert "123,456 polls" in polls
    tally = Tally(list(range(1, 3001)))
    for job in range(1, 3001):
        tally.feed(JobFinished(job, T0, JobStatus.SUCCESS, snapshot(job, JobStatus.SUCCESS, [])))
    text = "\n".join(summary_lines(tally.report(title="t", elapsed=1.0, statistics=None)))
    row = next(line for line in text.splitlines() if line.strip().startswith("SUCCESS"))
    assert row.split() == ["SUCCESS", "3,000"]


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 50)])
def test_the_job_table_lists_what_needs_a_person_first(width: int, height: int) -> None:
    """Issue 28: waiting, failed, running with failed hosts, then the rest, at any size."""
    tally = busy_tally(60)
    host = Host(bk_host_id=5000, ip="10.9.9.9", bk_cloud_id=0)
    failed = HostResult(host, HostStatus.FAILED, exit_code=1, end_time=T0)
    tally.feed(HostTransition(10050, T0, 20049, 0, host, None, HostStatus.FAILED, failed))
    lines = draw(tally, width, height, **view_kwargs())
    assert len(lines) <= height - 1
    rows = [line.strip("│ ").split()[:2] for line in lines if line.strip("│ ").startswith("100")]
    jobs = [int(job) for job, _ in rows]
    assert len(jobs) >= 3
    if height < 40:  # the rest is counted, not shown
        assert any(f"and {60 - len(jobs)} more" in line for line in lines)
    # Each job's rank as this test made it: what needs a person, then the rest.
    rank = {10003: 0, 10004: 0, 10001: 1, 10005: 1, 10050: 2, 10002: 4}
    ranks = [rank.get(job, 3) for job in jobs]
    assert ranks == sorted(ranks)
    assert jobs[:2] == [10003, 10004]  # waiting for a person
    assert jobs[2] in (10001, 10005)  # failed or timed out, even at 80x24
    if height >= 40:
        assert set(jobs[2:4]) == {10001, 10005}
        assert jobs[4] == 10050  # running, with a failed host already
        assert jobs[5:7] == [10006, 10007]  # then the rest


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 50)])
def test_a_cluster_watch_shows_its_workers_and_their_jobs(width: int, height: int) -> None:
    """Issue 28: ``watch --redis`` draws ``watch``'s view, with the workers and their jobs."""
    from bkjob_async.cli._format import Workers

    tally = busy_tally()
    open_jobs = [job.job_instance_id for job in tally.jobs() if not job.ended]
    workers = Workers(
        {
            "alpha-1": tuple(open_jobs[:8]),
            "beta-2": tuple(open_jobs[8:14]),
            "gamma-3": (),
            "stuck-4": tuple(open_jobs[14:15]),
        },
        frozenset({"stuck-4"}),
        tuple(open_jobs[15:]),
    )
    lines = draw(tally, width, height, statistics=lambda: None, workers=lambda: workers)
    assert len(lines) <= height - 1
    assert all(cell_len(line) <= width for line in lines)
    text = "\n".join(lines)
    rows = [line for line in lines if "alpha-1" in line and "8 jobs" in line]
    assert rows  # each worker with how many of the watch's open jobs it polls
    assert f"no worker polls {len(open_jobs) - 15} jobs" in text  # what waits for a worker
    if height >= 40:  # one line per worker, with its jobs
        assert any(line.count("beta-2 6 jobs: ") == 1 for line in lines)
        assert any("gamma-3 0 jobs" in line for line in lines)
        assert any("stuck-4 1 job (silent" in line for line in lines)
        assert " ".join(map(str, open_jobs[:8])) in rows[0]
    else:  # one line for all, cut to the width
        assert len([line for line in lines if "Workers" in line]) == 1
        assert "4 live" not in text  # a silent worker is not live
        assert f"no worker polls {len(open_jobs) - 15} jobs · 3 live: alpha-1 8 jobs" in text
    table = [line.strip("│ ").split() for line in lines if line.strip("│ ").startswith("100")]
    assert table
    by_job = {int(row[0]): row[-1] for row in table}
    for job, worker in by_job.items():  # the table says which worker polls each open job
        record = tally.job(job)
        assert record is not None
        if record.ended:
            assert not worker.endswith(("-1", "-2", "-4", "none"))
        elif job in workers.holders:
            assert worker == workers.holders[job] or worker.endswith("…")
        else:
            assert worker == "none"


def test_a_cluster_watch_before_the_first_read_of_its_workers() -> None:
    lines = draw(Tally([1]), 80, 24, statistics=lambda: None, workers=lambda: None)
    assert any("Workers" in line and "reading the workers' leases" in line for line in lines)
    from bkjob_async.cli._format import Workers

    lines = draw(
        Tally([1]), 80, 24, statistics=lambda: None, workers=lambda: Workers({}, unheld=(1,))
    )
    text = "\n".join(lines)
    assert "none live, 1 job waiting: start one with bkjob-async worker" in text


def test_a_host_known_by_its_id_alone_is_named_by_it() -> None:
    """A cluster's events carry a host's id or address, not both: no "host ? (host 8424895)"."""
    from bkjob_async.cli._format import describe_event, short_event

    for host, named in [
        (Host(bk_host_id=8424895), "host 8424895"),
        (Host(ip="10.0.0.9"), "host 10.0.0.9"),
    ]:
        result = HostResult(host, HostStatus.RUNNING)
        event = HostTransition(1, T0, 2, 0, host, None, HostStatus.RUNNING, result)
        assert f"step 2#0 {named}  - → RUNNING(7)" in describe_event(event, arrow="→")
        assert named.removeprefix("host ") in short_event(event)
        assert "?" not in describe_event(event)
