"""``bkjob-async watch`` in-process and through a pipe: JSON lines, exit statuses, errors, Ctrl-C."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sys

import anyio
import pytest

from bkjob_async import HostStatus, JobStatus, StepType
from bkjob_async.testing import BkJobSimulator, Fault, HostPlan, StepPlan

from ..cli_run import APP_SECRET, FAST, SCOPE, SIM, cli_command, make_env, run

pytestmark = pytest.mark.sim(**SIM)

FAILING = [StepPlan(hosts=[HostPlan(), HostPlan(outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE)])]
CONFIRM = [StepPlan(hosts=1), StepPlan(StepType.MANUAL_CONFIRM)]


async def test_json_lines_until_every_job_succeeds(sim: BkJobSimulator, env) -> None:
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=3)]) for _ in range(3)]
    result = await run(["watch", *map(str, ids), *FAST], env)
    assert result.status == 0, result.err
    events = result.lines
    finished = [e for e in events if e["event"] == "job_finished"]
    assert sorted(e["job_instance_id"] for e in finished) == ids
    assert all(e["status"] == 3 and e["status_name"] == "SUCCESS" for e in finished)
    hosts = [e for e in events if e["event"] == "host_transition"]
    assert {e["current_name"] for e in hosts} >= {"SUCCESS"}
    first = hosts[0]
    assert set(first) >= {"job_instance_id", "observed_at", "step_instance_id", "execute_count"}
    assert set(first["host"]) == {"bk_host_id", "ip", "bk_cloud_id", "ipv6", "bk_agent_id"}
    assert dt.datetime.fromisoformat(first["observed_at"]).tzinfo is not None
    done = next(e for e in hosts if e["current"] == 9)
    assert dt.datetime.fromisoformat(done["result"]["end_time"]).tzinfo is not None
    assert isinstance(done["result"]["total_time"], float)
    snapshot = finished[0]["snapshot"]
    assert snapshot["finished"] is True
    assert [h["status_name"] for h in snapshot["steps"][0]["hosts"]] == ["SUCCESS"] * 3
    # Events of one job come in order and the finish is its last.
    for job_id in ids:
        own = [e["event"] for e in events if e["job_instance_id"] == job_id]
        assert own[-1] == "job_finished"
    assert "done in" in result.err  # the summary goes to stderr in JSON mode


async def test_exit_1_when_a_job_fails(sim: BkJobSimulator, env) -> None:
    good = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    bad = sim.create_job(SCOPE, FAILING)
    result = await run(["watch", str(good), str(bad), *FAST], env)
    assert result.status == 1
    finished = {e["job_instance_id"]: e for e in result.lines if e["event"] == "job_finished"}
    assert finished[bad]["status_name"] == "FAIL"
    assert finished[good]["status_name"] == "SUCCESS"
    assert f"bkjob-async operate {bad} " in result.err  # the summary says how to retry


async def test_unknown_job_counts_as_failed(sim: BkJobSimulator, env) -> None:
    good = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    result = await run(["watch", str(good), "99999", *FAST], env)
    assert result.status == 1
    failed = [e for e in result.lines if e["event"] == "watch_failed"]
    assert [e["job_instance_id"] for e in failed] == [99999]
    assert failed[0]["error"]["type"] == "NotFoundError"
    assert failed[0]["error"]["code"] == 1244006


async def test_deadline_ends_with_watch_timed_out(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, CONFIRM)
    result = await run(["watch", str(job), *FAST, "--deadline", "0.5"], env)
    assert result.status == 1
    last = result.lines[-1]
    assert last["event"] == "watch_timed_out"
    assert last["snapshot"]["job"]["status_name"] == "WAITING_USER"
    assert "TIMED_OUT" in result.err
    assert "failed jobs" not in result.err  # timed out is not failed
    step = sim.job(job).steps[1].step_instance_id
    assert f"to go on: bkjob-async operate {job} {step} confirm" in result.err


async def test_flags_override_the_environment(sim: BkJobSimulator) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    env = make_env("http://127.0.0.1:9/unused", BKJOB_FLAVOR="esb-v2", BKJOB_SCOPE="biz:77")
    argv = ["watch", str(job), "--url", sim.url, "--flavor", "esb-jobv3", "--scope", "biz:2"]
    result = await run([*argv, *FAST, "--json"], env)
    assert result.status == 0, result.err
    assert sim.request_count(flavor="esb-jobv3") >= 2
    assert sim.request_count(flavor="apigw-v3") == 0


# --- errors a person can act on ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("BKJOB_APP_CODE", "BKJOB_APP_CODE"),
        ("BKJOB_APP_SECRET", "BKJOB_APP_SECRET"),
        ("BKJOB_USERNAME", "one of BKJOB_USERNAME, BKJOB_BK_TOKEN or BKJOB_ACCESS_TOKEN"),
    ],
)
async def test_missing_credential(sim: BkJobSimulator, missing: str, named: str) -> None:
    env = make_env(sim.url)
    del env[missing]
    result = await run(["watch", "10001"], env)
    assert result.status == 2
    assert named in result.err
    assert "never from flags" in result.err
    assert sim.request_count() == 0


async def test_token_instead_of_username(sim: BkJobSimulator) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    env = make_env(sim.url, BKJOB_BK_TOKEN="cli-BKTOKEN-0f9e8d7c")
    del env["BKJOB_USERNAME"]
    result = await run(["watch", str(job), *FAST], env)
    assert result.status == 0, result.err


async def test_missing_url_and_scope() -> None:
    env = make_env("")
    result = await run(["watch", "1"], env)
    assert result.status == 2
    assert "--url" in result.err
    assert "BKJOB_URL" in result.err
    env = make_env("http://127.0.0.1:9", BKJOB_SCOPE="")
    result = await run(["watch", "1"], env)
    assert result.status == 2
    assert "--scope" in result.err


async def test_bad_scope_and_flavor(sim: BkJobSimulator, env) -> None:
    result = await run(["watch", "1", "--scope", "team:2"], env)
    assert result.status == 2
    assert "invalid scope" in result.err
    result = await run(["watch", "1", "--scope", "biz_set:9", "--flavor", "esb-v2"], env)
    assert result.status == 2
    assert "business sets" in result.err
    result = await run(["watch", "1"], {**env, "BKJOB_FLAVOR": "esb-v9"})
    assert result.status == 2
    assert "apigw-v3" in result.err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_unreachable_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = await run(["watch", "1"], make_env(url))
    assert result.status == 2
    assert f"cannot connect to {url}" in result.err
    assert "BKJOB_URL" in result.err


async def test_wrong_flavor_404_from_the_gateway(sim: BkJobSimulator, env) -> None:
    sim.inject(Fault.http_status(404), times=None)
    result = await run(["watch", "10001"], env)
    assert result.status == 2
    assert "wrong --flavor or --url?" in result.err
    assert "esb-jobv3" in result.err


async def test_rejected_credentials(sim: BkJobSimulator, env) -> None:
    sim.inject(Fault.http_status(401), times=None)
    result = await run(["watch", "10001"], env)
    assert result.status == 2
    assert "rejected the credentials" in result.err
    assert "BKJOB_APP_SECRET" in result.err


async def test_permission_error_shows_what_to_apply_for(sim: BkJobSimulator, env) -> None:
    permission = {
        "system_id": "bk_job",
        "system_name": "Job",
        "actions": [
            {
                "id": "view_job_instance",
                "name": "View job instance",
                "related_resource_types": [
                    {
                        "system_id": "bk_cmdb",
                        "type": "biz",
                        "type_name": "Business",
                        "instances": [[{"type": "biz", "id": "2", "name": "Blue"}]],
                    }
                ],
            }
        ],
    }
    sim.inject(Fault.business_error(9900403, "no permission", permission=permission), times=None)
    result = await run(["watch", "10001"], env)
    assert result.status == 2
    assert "permission denied" in result.err
    assert "system: Job" in result.err
    assert "action: View job instance (view_job_instance) on Business Blue" in result.err


async def test_usage_error_exit_2(env) -> None:
    result = await run(["watch"], env)
    assert result.status == 2
    assert "JOB_ID" in result.err
    result = await run(["watch", "abc"], env)
    assert result.status == 2
    result = await run(["watch", "1", "--interval", "0"], env)
    assert result.status == 2


# --- live view and interruption -------------------------------------------------------------------


async def test_live_view_on_a_terminal(sim: BkJobSimulator, env) -> None:
    ok = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    bad = sim.create_job(SCOPE, FAILING)
    result = await run(["watch", str(ok), str(bad), *FAST], env, tty=True)
    assert result.status == 1
    assert "Latest transitions" in result.text
    assert "Host status" in result.text
    assert "Jobs by final status" in result.text
    assert "\x1b[" in result.out  # drawn for a terminal
    assert not result.out.lstrip().startswith("{")


async def test_interrupt_prints_a_partial_summary(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, CONFIRM)
    interrupt = anyio.Event()

    async def press_ctrl_c() -> None:
        while sim.job(job).status is not JobStatus.WAITING_USER:
            await anyio.sleep(0.02)
        # A few more requests once it waits (its own status polls, or the job list's census
        # that follows a job waiting for a person): the watch has had time to see it wait.
        seen = sim.request_count()
        while sim.request_count() < seen + 3:
            await anyio.sleep(0.02)
        interrupt.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(press_ctrl_c)
        result = await run(["watch", str(job), *FAST], env, tty=True, interrupt=interrupt)
    assert result.status == 130
    assert "interrupted" in result.text
    assert "WAITING_USER" in result.text
    assert f"bkjob-async operate {job} " in result.text
    assert "\x1b[?25h" in result.out  # the live view gave the cursor back
    # Ctrl-C says how this could have been resumed (issue 28).
    assert "not resumable: run it with --state FILE" in result.err
    assert f"\n  bkjob-async watch {job} --state watch.db\n" in result.err  # a line to copy


# --- through a real pipe --------------------------------------------------------------------------


def _subprocess_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BKJOB_")}
    env.update(make_env(url))
    return env


async def test_json_through_a_pipe(sim: BkJobSimulator) -> None:
    ok = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    bad = sim.create_job(SCOPE, FAILING)
    argv = [*cli_command(), "watch", str(ok), str(bad), *FAST]
    with anyio.fail_after(30):
        done = await anyio.run_process(argv, env=_subprocess_env(sim.url), check=False)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert {e["event"] for e in lines} >= {"host_transition", "job_transition", "job_finished"}
    assert APP_SECRET.encode() not in done.stdout + done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_sigint_stops_cleanly(sim: BkJobSimulator) -> None:
    job = sim.create_job(SCOPE, CONFIRM)
    argv = [*cli_command(), "watch", str(job), *FAST]
    with anyio.fail_after(30):
        async with await anyio.open_process(argv, env=_subprocess_env(sim.url)) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            first = await process.stdout.receive()
            assert json.loads(first.splitlines()[0])["job_instance_id"] == job
            process.send_signal(signal.SIGINT)
            status = await process.wait()
            err = b""
            async for chunk in process.stderr:
                err += chunk
    assert status == 130
    text = err.decode()
    assert "interrupted after" in text
    assert "Traceback" not in text


async def test_url_with_a_password_is_refused() -> None:
    result = await run(["status", "1"], make_env("http://user:hunter2@127.0.0.1:9"))
    assert result.status == 2
    assert "user:password@" in result.err
    assert "hunter2" not in result.err


async def test_closed_stdout_ends_quietly(sim: BkJobSimulator, env) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=50)])

    class Closed:
        def write(self, _: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def isatty(self) -> bool:
            return False

    from bkjob_async.cli import amain

    err = __import__("io").StringIO()
    status = await amain(["watch", str(job), *FAST], stdout=Closed(), stderr=err, env=env)
    assert status == 141
    assert "Traceback" not in err.getvalue()


async def test_a_wrong_base_url_is_told_from_a_missing_job(sim: BkJobSimulator) -> None:
    """A web server's 404 page (not bk-job's envelope) is a wrong URL, never "job not found"."""
    result = await run(["status", "10001"], make_env(sim.url + "/not-the-gateway-stage"))
    assert result.status == 2
    assert "has no such API" in result.err
    assert "wrong --flavor or --url?" in result.err
    assert "not found in scope" not in result.err


# --- issue 49, point 5: the command line for scripts and bulk -------------------------------


async def test_ids_from_stdin_as_list_json_prints_them(sim: BkJobSimulator, env) -> None:
    """``list --json | watch -`` and ``status -``: the ids come from stdin, JSON lines or words."""
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=1)]) for _ in range(3)]
    listed = await run(["list", "--json"], env)
    assert listed.status == 0, listed.err
    assert {line["job_instance_id"] for line in listed.lines} >= set(ids)
    result = await run(["watch", "-", *FAST], env, stdin=listed.out)
    assert result.status == 0, result.err
    finished = {e["job_instance_id"] for e in result.lines if e["event"] == "job_finished"}
    assert finished >= set(ids)
    status = await run(["status", str(ids[0]), "-", "--json"], env, stdin=f"{ids[1]}\n{ids[2]}")
    assert [line["job"]["job_instance_id"] for line in status.lines] == ids
    bad = await run(["status", "-"], env, stdin="12 nope\n")
    assert bad.status == 2
    assert "stdin line 1" in bad.err


async def test_events_and_status_filters_and_one_json_summary(sim: BkJobSimulator, env) -> None:
    """An end-only ``--events`` shows ends only, plus the job that waits for a person; the
    summary is one JSON object, every failed job and host listed, none cut."""
    bad = [sim.create_job(SCOPE, FAILING) for _ in range(12)]
    waiting = sim.create_job(SCOPE, CONFIRM)
    good = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    argv = ["watch", *map(str, [*bad, waiting, good]), *FAST, "--deadline", "3", "--json"]
    result = await run([*argv, "--events", "job_finished,watch_failed"], env)
    kinds = {e["event"] for e in result.lines}
    assert kinds <= {"job_finished", "job_transition", "watch_timed_out", "summary"}, kinds
    said = [e for e in result.lines if e["event"] == "job_transition"]
    assert {e["job_instance_id"] for e in said} == {waiting}  # waits for a person: said anyway
    assert said[0]["current_name"] == "WAITING_USER"
    (summary,) = [e for e in result.lines if e["event"] == "summary"]
    assert result.lines[-1]["event"] == "summary"  # the last object of the stream
    assert sorted(summary["failed_jobs"]) == sorted(bad)  # all 12: no "... and N more"
    assert summary["watch"]["waiting"] == [waiting] or summary["timed_out_jobs"] == [waiting]
    assert sorted(summary["watch"]["failed"]) == sorted(bad)
    unread = set(summary["watch"]["hosts_unread"])
    hosts = {h["job_instance_id"] for h in summary["watch"]["failed_hosts"]}
    assert hosts | unread == set(bad)  # a failed job's hosts are listed or said to be unread
    assert "more" not in json.dumps(summary)
    only_fail = await run([*argv, "--status", "fail"], env)
    shown = [e for e in only_fail.lines if e["event"] not in ("summary", "watch_timed_out")]
    assert shown
    for event in shown:
        reached = event.get("current_name") or event.get("status_name")
        assert reached in ("FAIL", "WAITING_USER"), event
    wrong = await run([*argv, "--events", "job_finishd"], env)
    assert wrong.status == 2
    assert "did you mean job_finished?" in wrong.err
