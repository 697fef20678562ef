"""The converter for host logs and the history list: realistic v3 payloads, nulls, unknown codes.

Payloads follow bk-job's DTOs (``EsbIpLogV3DTO``, ``EsbIpLogsV3DTO``, ``EsbFileLogV3DTO``,
``EsbScriptHostLogV3DTO``, ``EsbTaskInstanceV3DTO``) and how its resources fill them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bkjob_async import (
    Credentials,
    FileLog,
    FileLogMode,
    FileTaskStatus,
    Host,
    HostLog,
    JobInstancePage,
    JobInstanceSummary,
    JobStatus,
    JobStatusPage,
    JobStatusRow,
    LaunchMode,
    LogType,
    ResponseFormatError,
    Scope,
    TaskType,
)
from bkjob_async._converter import Generation, structure
from bkjob_async._protocol import Protocol, Response
from bkjob_async.config import DEFAULT_SERVER_TZ
from tests.properties import examples
from tests.unit.test_converter import _structure_or_format_error, mutated

UTC = dt.timezone.utc
V3 = Generation.V3
BATCH = tuple[HostLog, ...]

SCRIPT_LOG = {
    "log_type": 1,
    "bk_host_id": 101,
    "bk_cloud_id": 0,
    "ip": "10.0.0.1",
    "log_content": "[2024-05-01 10:00:00][PID:56875] job_start\nhello\n",
    "file_logs": None,
}


def transfer(mode: int, status: int = 4, **fields: Any) -> dict[str, Any]:
    """Return a ``file_logs`` row as bk-job's batch resource fills it (``EsbIpDTO.fromHost``)."""
    row: dict[str, Any] = {
        "mode": mode,
        "src_ip": {
            "bk_host_id": 102,
            "bk_cloud_id": 0,
            "bk_cloud_name": "Default Area",
            "ip": "10.0.0.2",
            "ipv6": None,
            "bk_agent_id": "0200000000abc",
            "alive": 1,
        },
        "src_path": "/data/release.tgz",
        "dest_ip": None,
        "dest_path": None,
        "status": status,
        "log_content": "FileName: /data/release.tgz State: done Progress: 100%",
        "size": "9.0 Bytes",
        "speed": "1 KB/s",
        "process": "100%",
    }
    if mode == 1:
        row["dest_ip"] = {"bk_host_id": 101, "bk_cloud_id": 0, "ip": "10.0.0.1"}
        row["dest_path"] = "/tmp/release.tgz"
    return {**row, **fields}


FILE_LOG = {
    "log_type": 2,
    "bk_host_id": 101,
    "bk_cloud_id": 0,
    "ip": "10.0.0.1",
    "log_content": None,
    "file_logs": [transfer(1), transfer(0)],
}

SCRIPT_BATCH = {
    "job_instance_id": 100,
    "step_instance_id": 200,
    "log_type": 1,
    "script_task_logs": [
        {
            "host_id": 101,
            "bk_host_id": 101,
            "bk_cloud_id": 0,
            "ip": "10.0.0.1",
            "ipv6": None,
            "log_content": "a\n",
        },
        {
            "host_id": 102,
            "bk_host_id": 102,
            "bk_cloud_id": 0,
            "ip": None,
            "ipv6": "fd00::2",
            "log_content": "b\n",
        },
    ],
    "file_task_logs": None,
}

FILE_BATCH = {
    "job_instance_id": 100,
    "step_instance_id": 200,
    "log_type": 2,
    "script_task_logs": None,
    "file_task_logs": [
        {"bk_host_id": 101, "bk_cloud_id": 0, "ip": "10.0.0.1", "file_logs": [transfer(1)]},
        # bk-job leaves a row blank when a host has no file task logs yet.
        {"bk_host_id": None, "bk_cloud_id": None, "ip": None, "file_logs": None},
    ],
}


def summary_row(**fields: Any) -> dict[str, Any]:
    """Return one ``EsbTaskInstanceV3DTO`` row."""
    row = {
        "bk_scope_type": "biz",
        "bk_scope_id": "2",
        "bk_biz_id": 2,
        "job_instance_id": 20000123,
        "job_plan_id": 1001,
        "job_template_id": 1000,
        "name": "deploy-web",
        "operator": "admin",
        "launch_mode": 2,
        "status": 3,
        "start_time": 1714557600000,
        "end_time": 1714557601500,
        "total_time": 1500,
        "create_time": 1714557599000,
        "type": 0,
    }
    return {**row, **fields}


HISTORY = {
    "start": 0,
    "length": 20,
    "total": 2,
    "data": [
        summary_row(),
        summary_row(
            job_instance_id=20000124,
            job_plan_id=0,
            job_template_id=0,
            status=2,
            end_time=None,
            total_time=None,
            launch_mode=3,
            type=1,
        ),
    ],
}

#: Every realistic payload here, and the model it structures into.
PAYLOADS: list[tuple[Any, Any]] = [
    (SCRIPT_LOG, HostLog),
    (FILE_LOG, HostLog),
    (SCRIPT_BATCH, BATCH),
    (FILE_BATCH, BATCH),
    (HISTORY, JobInstancePage),
    (HISTORY, JobStatusPage),
]


def parse(value: Any, cls: Any) -> Any:
    return structure(value, cls, V3, DEFAULT_SERVER_TZ)


def edited(payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    value = copy.deepcopy(payload)
    value.update(fields)
    return value


# --- one host's log -------------------------------------------------------------------------


def test_script_log() -> None:
    assert parse(SCRIPT_LOG, HostLog) == HostLog(
        Host(bk_host_id=101, ip="10.0.0.1", bk_cloud_id=0),
        LogType.SCRIPT,
        "[2024-05-01 10:00:00][PID:56875] job_start\nhello\n",
    )


def test_file_log_has_download_and_upload_rows() -> None:
    log = parse(FILE_LOG, HostLog)
    assert log.log_type is LogType.FILE
    assert log.log_content is None
    download, upload = log.file_logs
    source = Host(bk_host_id=102, ip="10.0.0.2", bk_cloud_id=0, bk_agent_id="0200000000abc")
    assert download == FileLog(
        FileLogMode.DOWNLOAD,
        FileTaskStatus.SUCCESS,
        source,
        "/data/release.tgz",
        Host(bk_host_id=101, ip="10.0.0.1", bk_cloud_id=0),
        "/tmp/release.tgz",
        "FileName: /data/release.tgz State: done Progress: 100%",
        "9.0 Bytes",
        "1 KB/s",
        "100%",
    )
    assert upload.mode is FileLogMode.UPLOAD
    assert (upload.src_host, upload.dest_host, upload.dest_path) == (source, None, None)
    assert upload.status.is_finished


def test_single_file_log_rows_as_that_resource_sends_them() -> None:
    # get_job_instance_ip_log fills no size, speed or process, and the docs show src_ip.host_id.
    row = {
        "mode": 0,
        "src_ip": {"host_id": 102, "bk_cloud_id": 0, "ip": "10.0.0.2"},
        "src_path": "/data/1.log",
        "status": 2,
    }
    (log,) = parse(edited(FILE_LOG, file_logs=[row]), HostLog).file_logs
    assert log == FileLog(
        FileLogMode.UPLOAD,
        FileTaskStatus.UPLOADING,
        Host(bk_host_id=102, ip="10.0.0.2", bk_cloud_id=0),
        "/data/1.log",
    )
    assert not log.status.is_finished


def test_host_asked_by_id_comes_back_without_ip() -> None:
    # bk-job echoes the request's bk_cloud_id and ip: null when the host was given by id.
    log = parse(edited(SCRIPT_LOG, bk_cloud_id=None, ip=None), HostLog)
    assert log.host == Host(bk_host_id=101)


def test_blank_log_and_no_type() -> None:
    # A script log bk-job found blank has no content; a step that is neither script nor file
    # (a manual confirmation) gets no log type at all.
    assert parse(edited(SCRIPT_LOG, log_content=None), HostLog).log_content is None
    bare = {"log_type": None, "bk_host_id": 7, "bk_cloud_id": None, "ip": None}
    assert parse(bare, HostLog) == HostLog(Host(bk_host_id=7), None)
    assert parse(edited(FILE_LOG, file_logs=[]), HostLog).file_logs == ()
    assert parse(edited(FILE_LOG, file_logs=None), HostLog).file_logs is None


@pytest.mark.parametrize("code", [0, 3, 99, -1])
def test_unknown_codes_keep_their_value(code: int) -> None:
    row = transfer(code, status=code + 10)
    log = parse(edited(FILE_LOG, log_type=code + 20, file_logs=[row]), HostLog)
    (file_log,) = log.file_logs
    assert (int(log.log_type), int(file_log.mode), int(file_log.status)) == (
        code + 20,
        code,
        code + 10,
    )
    assert not log.log_type.is_known
    assert isinstance(file_log.mode, FileLogMode)
    assert not file_log.status.is_known
    assert not file_log.status.is_finished


def test_pulling_from_a_file_source_is_status_0() -> None:
    (log,) = parse(edited(FILE_LOG, file_logs=[transfer(1, status=0)]), HostLog).file_logs
    assert log.status is FileTaskStatus.PULLING


def test_numbers_as_strings_and_extra_fields() -> None:
    value = edited(SCRIPT_LOG, bk_host_id="101", bk_cloud_id="0", log_type="1", future={"x": 1})
    value["execute_count"] = 3
    log = parse(value, HostLog)
    assert (log.host.bk_host_id, log.host.bk_cloud_id, log.log_type) == (101, 0, LogType.SCRIPT)
    (row,) = parse(edited(FILE_LOG, file_logs=[transfer(1, size=1024)]), HostLog).file_logs
    assert row.size == "1024"


# --- batches --------------------------------------------------------------------------------


def test_script_batch() -> None:
    logs = parse(SCRIPT_BATCH, BATCH)
    assert logs == (
        HostLog(Host(101, "10.0.0.1", 0), LogType.SCRIPT, "a\n"),
        HostLog(Host(102, None, 0, "fd00::2"), LogType.SCRIPT, "b\n"),
    )


def test_script_batch_host_id_is_an_alias_of_bk_host_id() -> None:
    rows = [
        {"host_id": 5, "ip": "10.0.0.5", "log_content": ""},
        {"host_id": 6, "bk_host_id": None, "log_content": None},
        {"host_id": 999, "bk_host_id": 7},
    ]
    logs = parse(edited(SCRIPT_BATCH, script_task_logs=rows), BATCH)
    assert [log.host.bk_host_id for log in logs] == [5, 6, 7]
    assert [log.log_content for log in logs] == ["", None, None]


def test_file_batch() -> None:
    (first,) = parse(FILE_BATCH, BATCH)  # the all-null row of a host without logs is left out
    assert first.host == Host(101, "10.0.0.1", 0)
    assert first.log_type is LogType.FILE
    assert [f.mode for f in first.file_logs] == [FileLogMode.DOWNLOAD]


def test_batch_keeps_rows_with_any_value() -> None:
    rows = [{"bk_host_id": None, "bk_cloud_id": None, "ip": "10.0.0.9", "file_logs": None}]
    (log,) = parse(edited(FILE_BATCH, file_task_logs=rows), BATCH)
    assert log == HostLog(Host(ip="10.0.0.9"), LogType.FILE, None, None)


def test_batch_with_no_rows_or_no_type() -> None:
    empty = edited(SCRIPT_BATCH, script_task_logs=None)
    assert parse(empty, BATCH) == ()
    del empty["script_task_logs"], empty["file_task_logs"]
    assert parse(empty, BATCH) == ()
    untyped = edited(SCRIPT_BATCH, log_type=None)
    assert {log.log_type for log in parse(untyped, BATCH)} == {None}


def test_batch_keeps_the_servers_order() -> None:
    rows = [{"bk_host_id": i, "log_content": str(i)} for i in (9, 3, 7, 1)]
    logs = parse(edited(SCRIPT_BATCH, script_task_logs=rows), BATCH)
    assert [log.host.bk_host_id for log in logs] == [9, 3, 7, 1]


# --- history --------------------------------------------------------------------------------


def test_history_page() -> None:
    page = parse(HISTORY, JobInstancePage)
    assert (page.start, page.length, page.total) == (0, 20, 2)
    done, running = page.items
    assert done == JobInstanceSummary(
        job_instance_id=20000123,
        status=JobStatus.SUCCESS,
        name="deploy-web",
        operator="admin",
        launch_mode=LaunchMode.API,
        type=TaskType.PLAN,
        job_plan_id=1001,
        job_template_id=1000,
        create_time=dt.datetime(2024, 5, 1, 9, 59, 59, tzinfo=UTC),
        start_time=dt.datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC),
        end_time=dt.datetime(2024, 5, 1, 10, 0, 1, 500000, tzinfo=UTC),
        total_time=dt.timedelta(milliseconds=1500),
    )
    assert (running.status, running.end_time, running.total_time) == (JobStatus.RUNNING, None, None)
    assert (running.launch_mode, running.type) == (LaunchMode.CRON, TaskType.FAST_SCRIPT)
    assert not running.status.is_finished


def test_history_empty_page() -> None:
    assert parse({"start": 40, "length": 20, "total": 3, "data": None}, JobInstancePage) == (
        JobInstancePage(40, 20, 3, ())
    )
    assert parse({"start": 0, "length": 20, "total": 0, "data": []}, JobInstancePage).items == ()


def test_history_unknown_codes_and_missing_optionals() -> None:
    row = {"job_instance_id": 5, "status": 16, "launch_mode": 9, "type": 7}
    (item,) = parse(edited(HISTORY, data=[row]), JobInstancePage).items
    assert (int(item.status), int(item.launch_mode), int(item.type)) == (16, 9, 7)
    assert not item.status.is_known
    assert not item.status.is_finished
    assert (item.name, item.create_time, item.job_plan_id) == (None, None, None)


def test_history_doc_example_names_are_not_the_wire() -> None:
    # The docs' example says id/task_status/task_type; the DTO sends job_instance_id/status/type.
    doc_row = {"id": 100, "task_status": 3, "task_type": 0, "name": "test"}
    with pytest.raises(ResponseFormatError, match="JobInstancePage"):
        parse(edited(HISTORY, data=[doc_row]), JobInstancePage)


@pytest.mark.parametrize(
    "rows",
    [HISTORY["data"], [{"job_instance_id": 5, "status": 16}], [summary_row(status="3")], []],
)
def test_a_status_page_reads_what_the_whole_page_reads(rows: list[dict[str, Any]]) -> None:
    # The census reads the list for each job's status alone: the same ids, codes and times.
    payload = edited(HISTORY, data=rows, total=len(rows))
    whole = parse(payload, JobInstancePage)
    page = parse(payload, JobStatusPage)
    assert (page.start, page.total) == (whole.start, whole.total)
    assert page.rows == tuple(
        JobStatusRow(i.job_instance_id, int(i.status), i.create_time) for i in whole.items
    )


# --- wrong shapes and the protocol ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cls"),
    [
        (None, HostLog),
        ([], HostLog),
        ("log", HostLog),
        (edited(SCRIPT_LOG, bk_host_id=1.5), HostLog),
        (edited(SCRIPT_LOG, log_type="script"), HostLog),
        (edited(SCRIPT_LOG, log_content=["a"]), HostLog),
        (edited(FILE_LOG, file_logs={}), HostLog),
        (edited(FILE_LOG, file_logs=[{**transfer(1), "mode": None}]), HostLog),
        (edited(FILE_LOG, file_logs=[{"mode": 1}]), HostLog),
        (edited(FILE_LOG, file_logs=[transfer(1, src_ip="10.0.0.2")]), HostLog),
        (edited(FILE_LOG, file_logs=[transfer(1, dest_ip=[1])]), HostLog),
        (None, BATCH),
        ([], BATCH),
        ({"log_type": 1, "script_task_logs": []}, BATCH),
        (edited(SCRIPT_BATCH, script_task_logs={}), BATCH),
        (edited(SCRIPT_BATCH, script_task_logs=[1]), BATCH),
        (edited(SCRIPT_BATCH, log_type=True), BATCH),
        (None, JobInstancePage),
        ({"start": 0, "length": 20, "data": []}, JobInstancePage),
        (edited(HISTORY, total=None), JobInstancePage),
        (edited(HISTORY, data={"x": 1}), JobInstancePage),
        (edited(HISTORY, data=[summary_row(status=None)]), JobInstancePage),
        (edited(HISTORY, data=[summary_row(create_time="soon")]), JobInstancePage),
        (edited(HISTORY, data=[summary_row(total_time=True)]), JobInstancePage),
        (None, JobStatusPage),
        ({"start": 0, "length": 20, "data": []}, JobStatusPage),
        (edited(HISTORY, data={"x": 1}), JobStatusPage),
        (edited(HISTORY, data=[summary_row(status=None)]), JobStatusPage),
        (edited(HISTORY, data=[summary_row(status=2**40)]), JobStatusPage),
        (edited(HISTORY, data=[summary_row(job_instance_id="x")]), JobStatusPage),
        (edited(HISTORY, data=[summary_row(create_time="soon")]), JobStatusPage),
    ],
)
def test_wrong_shapes_are_response_format_errors(value: Any, cls: Any) -> None:
    name = "tuple\\[HostLog, \\.\\.\\.\\]" if cls is BATCH else cls.__name__
    with pytest.raises(ResponseFormatError, match=name) as info:
        parse(value, cls)
    assert info.value.__cause__ is not None


def test_v3_status_data_is_not_a_log_batch() -> None:
    with pytest.raises(ResponseFormatError):
        parse({"finished": True, "job_instance": {}, "step_instance_list": []}, BATCH)


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3"])
@pytest.mark.parametrize(("payload", "cls"), PAYLOADS)
def test_through_the_protocol(flavor: str, payload: Any, cls: Any) -> None:
    proto = Protocol("http://x", flavor=flavor, credentials=Credentials("a", "b", username="u"))
    window = dt.datetime(2024, 5, 1, tzinfo=UTC)
    request = {
        HostLog: lambda: proto.build("get_job_instance_ip_log", Scope.biz(2), 100, 200, 101),
        BATCH: lambda: proto.build(
            "batch_get_job_instance_ip_log", Scope.biz(2), 100, 200, [101, 102]
        ),
        JobInstancePage: lambda: proto.build(
            "get_job_instance_list",
            Scope.biz(2),
            created_from=window,
            created_to=window + dt.timedelta(days=1),
        ),
    }[JobInstancePage if cls is JobStatusPage else cls]()
    raw = {"result": True, "code": 0, "message": "", "data": payload, "job_request_id": "abc"}
    data = proto.decipher(request, Response(200, {}, json.dumps(raw).encode()))
    assert proto.parse(data, cls) == parse(payload, cls)


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_payloads_only_raise_response_format_error(draw: st.DataObject) -> None:
    payload, cls = draw.draw(st.sampled_from(PAYLOADS))
    _structure_or_format_error(draw.draw(mutated(payload)), cls, V3)
