"""bk-job's log limits played by the simulator (issue 87): the 5 MB cap, hosts with no log yet,
running hosts' partial logs; and how ``host_logs`` and the markers take them."""

from __future__ import annotations

from typing import Any

import pytest

from bkjob_async import BkJobClient, Scope
from bkjob_async.markers import LogTruncatedError, cut_marker, extract, tagged_json
from bkjob_async.models import Host, HostLog, LogType
from bkjob_async.models.logs import MAX_LOG_BYTES
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan, loop_time, run_virtual

SCOPE = Scope.biz(2)
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}


def _client(sim: BkJobSimulator) -> BkJobClient:
    return BkJobClient("http://bk-job.test", transport=sim.transport(), **CREDENTIALS)


def _big(job: int, step: int, host: Host) -> str:
    """Host 1 prints a short log; the others 6 MB of 3-byte characters, markers before and
    across the cut."""
    if host.bk_host_id % 3 == 1:
        return "<SOPS_VAR>short:yes</SOPS_VAR>\n<ctx>{}</ctx>"
    filler = "中" * (2 * 1024 * 1024)  # 6 MB in UTF-8
    return f"<SOPS_VAR>early:{host.bk_host_id}</SOPS_VAR>\n{filler}\n<SOPS_VAR>late:lost</SOPS_VAR>"


def _read(output: Any, hosts: list[HostPlan], at: float, running: bool = True) -> Any:
    async def main() -> Any:
        sim = BkJobSimulator(virtual_clock=loop_time)
        sim.set_log_output(output)
        job = sim.create_job(SCOPE, [StepPlan(hosts=hosts)])
        async with _client(sim) as client:
            sim.advance(at)
            status = await client.get_job_instance_status(SCOPE, job)
            step = status.steps[0].step_instance_id
            every = [row.host for row in status.steps[0].hosts or ()]
            raw = await client.batch_get_job_instance_ip_log(SCOPE, job, step, every)
            logs = await client.host_logs(SCOPE, job, status=status, running=running)
        return raw, logs

    return run_virtual(main)


def test_a_log_past_the_cap_is_cut_at_5_mb_and_its_markers_are_reported() -> None:
    _raw, logs = _read(_big, [HostPlan(duration=2) for _ in range(3)], 10)
    ((_, rows),) = logs.items()
    sizes = sorted(len((row.log_content or "").encode()) for row in rows)
    assert sizes[0] < 1000
    assert MAX_LOG_BYTES - 3 <= sizes[1] <= sizes[2] <= MAX_LOG_BYTES  # cut at a character
    assert [row.truncated for row in rows].count(True) == 2
    assert all("\ufffd" not in (row.log_content or "") for row in rows)
    with pytest.raises(LogTruncatedError, match=r"2 host log\(s\) cut") as caught:
        extract(logs)
    error = caught.value
    assert len(error.hosts) == 2
    assert all(tag is None for tag in error.cut.values())  # the filler, no marker, was cut
    for host, values in error.values.items():  # what came before the cut is there
        assert values == (
            {"short": "yes"} if host not in error.hosts else {"early": str(host.bk_host_id)}
        )
    assert extract(logs, truncated="keep") == error.values
    # a reader that finds nothing in a cut log: the host is reported, not raised about
    with pytest.raises(LogTruncatedError):
        extract(logs, tagged_json)


def test_a_marker_split_by_the_cut_is_named() -> None:
    filler = "x" * (MAX_LOG_BYTES - 200)
    log = HostLog(Host(bk_host_id=7), LogType.SCRIPT, filler + "<SOPS_VAR>key:va" + "l" * 300)
    log = HostLog(log.host, LogType.SCRIPT, (log.log_content or "")[: MAX_LOG_BYTES - 2])
    assert log.truncated
    with pytest.raises(LogTruncatedError, match=r"inside <SOPS_VAR>") as caught:
        extract({1: (log,)})
    assert caught.value.cut == {log.host: "<SOPS_VAR>"}
    assert cut_marker("<a>1</a>&lt;SOPS_VAR&gt;k:") == "&lt;SOPS_VAR&gt;"
    assert cut_marker("<SOPS_VAR>k:v</SOPS_VAR>") is None
    assert not HostLog(log.host, LogType.SCRIPT, "x" * 1000).truncated


def test_hosts_with_no_log_are_left_out_of_the_answer_and_listed_empty_by_host_logs() -> None:
    hosts = [HostPlan(duration=2), HostPlan(duration=2, start_delay=50), HostPlan(duration=90)]
    raw, logs = _read(lambda *_: "a\nb\nc\nd", hosts, 10)
    assert len(raw) == 2  # the waiting host has no log: bk-job leaves it out
    ((_, rows),) = logs.items()
    assert len(rows) == 2  # host_logs reads no waiting host
    _, none = _read(None, [HostPlan(duration=9, start_delay=60)], 5)
    assert none == {}


def test_a_running_hosts_log_grows_with_its_output() -> None:
    printed = "\n".join(f"line {n}" for n in range(10))
    texts = []
    for at in (3, 6, 13):
        _, logs = _read(lambda *_: printed, [HostPlan(duration=10)], at)
        ((_, (row,)),) = logs.items()
        texts.append(row.log_content or "")
    assert texts[0] != texts[1] != texts[2]
    assert texts[0].count("line ") < texts[1].count("line ") < texts[2].count("line ") == 10
    assert all(texts[n + 1].startswith(texts[n].split("\n")[0]) for n in range(2))
