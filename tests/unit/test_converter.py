"""The converter: every sample and many variants into the one normalized model shape."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import typing
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bkjob_async import (
    BkJobError,
    Credentials,
    Host,
    HostLog,
    HostResult,
    HostStatus,
    JobInstancePage,
    JobInstanceStatus,
    JobLaunch,
    JobStatus,
    LaunchMode,
    ResponseFormatError,
    Scope,
    StepInstanceStatus,
    StepType,
)
from bkjob_async._converter import Generation, parse_target_ips, structure
from bkjob_async._protocol import Protocol, Response
from bkjob_async.config import DEFAULT_SERVER_TZ
from tests.conftest import load_sample, sample_names
from tests.properties import examples

UTC = dt.timezone.utc
CST = dt.timezone(dt.timedelta(hours=8))
V2, V3 = Generation.V2, Generation.V3

V2_JOB = "get_job_instance_status.v2.esb-doc-zh.json"
V3_JOB_APIGW = "get_job_instance_status.v3.apigw-doc.json"
V3_JOB_ESB = "get_job_instance_status.v3.esb-doc-en.json"
V2_STEP = "get_step_instance_status.v2.esb-doc-en.json"
V3_STEP = "get_step_instance_status.v3.apigw-doc.json"
RATE_LIMIT = "error.apigw.http429.rate-limit.json"
#: v4, read by its own reader, not the converter (``test_answer_fields``).
TEMPLATE_V4 = "get_job_template_detail.v4.apigw-doc-en.json"

#: What each sample is, and which flavor would have sent it.
SAMPLE_KINDS: dict[str, tuple[str, type[Any]]] = {
    V2_JOB: ("esb-v2", JobInstanceStatus),
    V3_JOB_APIGW: ("apigw-v3", JobInstanceStatus),
    V3_JOB_ESB: ("esb-jobv3", JobInstanceStatus),
    V2_STEP: ("esb-v2", StepInstanceStatus),
    V3_STEP: ("apigw-v3", StepInstanceStatus),
}


def data(name: str) -> Any:
    return load_sample(name)["data"]


def parse(value: Any, cls: type[Any], generation: Generation, tz: dt.tzinfo = DEFAULT_SERVER_TZ):
    return structure(value, cls, generation, tz)


def test_every_sample_is_classified() -> None:
    assert set(sample_names()) == {*SAMPLE_KINDS, RATE_LIMIT, TEMPLATE_V4}


@pytest.mark.parametrize("name", sorted(SAMPLE_KINDS))
def test_every_sample_through_protocol_and_converter(name: str) -> None:
    flavor, cls = SAMPLE_KINDS[name]
    proto = Protocol(
        "http://127.0.0.1:1", flavor=flavor, credentials=Credentials("a", "b", username="u")
    )
    if cls is JobInstanceStatus:
        request = proto.build("get_job_instance_status", Scope.biz(1), 100, with_hosts=True)
    else:
        request = proto.build("get_step_instance_status", Scope.biz(1), 100, 75)
    raw = json.dumps(load_sample(name)).encode()
    model = proto.parse(proto.decipher(request, Response(200, {}, raw)), cls)
    assert isinstance(model, cls)
    assert model.finished is True
    for value in _datetimes(model):
        assert value.utcoffset() is not None


def _datetimes(value: Any) -> list[dt.datetime]:
    """Return every datetime inside an attrs model tree."""
    if isinstance(value, dt.datetime):
        return [value]
    if attrs.has(type(value)):
        return [d for f in attrs.fields(type(value)) for d in _datetimes(getattr(value, f.name))]
    if isinstance(value, tuple):
        return [d for item in value for d in _datetimes(item)]
    return []


# --- v3 job status ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [V3_JOB_APIGW, V3_JOB_ESB])
def test_v3_job_status_sample(name: str) -> None:
    status = parse(data(name), JobInstanceStatus, V3)
    assert status.finished is True
    job = status.job
    assert job.job_instance_id == 100
    assert job.status is JobStatus.FAIL
    assert job.name == "API Quick execution script1521089795887"
    assert job.create_time == dt.datetime(2020, 11, 11, 3, 11, 11, tzinfo=UTC)
    assert job.end_time == dt.datetime(2020, 11, 11, 3, 11, 12, tzinfo=UTC)
    assert job.total_time == dt.timedelta(seconds=1)
    assert (job.operator, job.job_plan_id, job.launch_mode) == (None, None, None)
    (step,) = status.steps
    assert status.step(75) is step
    assert step.status is JobStatus.FAIL
    assert step.type is StepType.SCRIPT
    assert step.execute_count == 0
    assert step.total_time == dt.timedelta(milliseconds=1000)
    assert step.hosts == (
        HostResult(
            Host(bk_host_id=101, ip="127.0.0.1", bk_cloud_id=0),
            HostStatus.SUCCESS,
            tag="",
            exit_code=0,
            error_code=0,
            start_time=dt.datetime(2020, 11, 11, 3, 11, 11, tzinfo=UTC),
            end_time=dt.datetime(2020, 11, 11, 3, 11, 12, tzinfo=UTC),
            total_time=dt.timedelta(seconds=1),
        ),
    )
    with pytest.raises(KeyError):
        status.step(76)


def v3_job(**step_fields: Any) -> dict[str, Any]:
    value = copy.deepcopy(data(V3_JOB_APIGW))
    value["step_instance_list"][0].update(step_fields)
    return value


def test_v3_null_host_list_is_none_and_empty_is_empty() -> None:
    assert parse(v3_job(step_ip_result_list=None), JobInstanceStatus, V3).steps[0].hosts is None
    assert parse(v3_job(step_ip_result_list=[]), JobInstanceStatus, V3).steps[0].hosts == ()
    missing = v3_job()
    del missing["step_instance_list"][0]["step_ip_result_list"]
    assert parse(missing, JobInstanceStatus, V3).steps[0].hosts is None


def test_v3_null_and_missing_optionals_are_none() -> None:
    value = v3_job(start_time=None, end_time=None, total_time=None, name=None, type=None)
    del value["step_instance_list"][0]["execute_count"]
    del value["job_instance"]["create_time"]
    value["job_instance"]["end_time"] = None
    status = parse(value, JobInstanceStatus, V3)
    step = status.steps[0]
    assert (step.start_time, step.end_time, step.total_time, step.name, step.type) == (None,) * 5
    assert step.execute_count is None
    assert status.job.create_time is None
    assert status.job.end_time is None


def test_v3_host_row_with_only_status_and_nulls() -> None:
    row = {"status": 5, "bk_host_id": None, "ip": None, "exit_code": None, "tag": None}
    (host,) = parse(v3_job(step_ip_result_list=[row]), JobInstanceStatus, V3).steps[0].hosts
    assert host == HostResult(Host(), HostStatus.WAITING)
    assert not host.status.is_finished


def test_extra_fields_are_ignored() -> None:
    value = v3_job(brand_new_field={"x": 1}, step_ip_result_list=[{"status": 9, "future": [1]}])
    value["job_instance"]["operator_v9"] = "x"
    value["another"] = None
    status = parse(value, JobInstanceStatus, V3)
    assert status.steps[0].hosts == (HostResult(Host(), HostStatus.SUCCESS),)


def test_step_instance_list_null_is_no_steps() -> None:
    value = data(V3_JOB_APIGW)
    value["step_instance_list"] = None
    assert parse(value, JobInstanceStatus, V3).steps == ()


@pytest.mark.parametrize("code", [12, 16, 99, 0, -1, 2**31 - 1, -(2**31)])
def test_unknown_job_and_step_status_keep_their_int(code: int) -> None:
    value = v3_job(status=code, type=code)
    value["job_instance"]["status"] = code
    status = parse(value, JobInstanceStatus, V3)
    for parsed in (status.job.status, status.steps[0].status, status.steps[0].type):
        assert int(parsed) == code
        assert parsed == code
        assert not parsed.is_known
    assert isinstance(status.job.status, JobStatus)
    assert not status.job.status.is_finished
    assert not status.job.status.is_success


@pytest.mark.parametrize("cls", [HostStatus, JobStatus])
@pytest.mark.parametrize("code", [0, 1, 3, 9, 13, 777, -5])
def test_of_is_the_enum_call(cls: Any, code: int) -> None:
    # ``of`` is the hot paths' lookup: the same member (or unknown pseudo-member) as cls(code).
    got, expected = cls.of(code), cls(code)
    assert type(got) is type(expected)
    assert int(got) == int(expected) == code
    assert got.name == expected.name
    assert got.is_known == expected.is_known
    if expected.is_known:
        assert got is expected


@pytest.mark.parametrize("code", [4, 6, 8, 13, 14, 15, 777, 1000115])
def test_new_and_unknown_host_status(code: int) -> None:
    rows = [{"bk_host_id": 1, "status": code}]
    (host,) = parse(v3_job(step_ip_result_list=rows), JobInstanceStatus, V3).steps[0].hosts
    assert int(host.status) == code
    assert isinstance(host.status, HostStatus)
    assert host.status.is_finished
    assert not host.status.is_success


def test_numbers_sent_as_strings_are_read() -> None:
    rows = [{"bk_host_id": "7", "bk_cloud_id": "0", "status": "9", "exit_code": "0"}]
    value = v3_job(step_ip_result_list=rows, step_instance_id="75", status="3")
    value["finished"] = "true"
    status = parse(value, JobInstanceStatus, V3)
    assert status.finished is True
    assert status.steps[0].step_instance_id == 75
    assert status.steps[0].status is JobStatus.SUCCESS
    (host,) = status.steps[0].hosts
    assert (host.host.bk_host_id, host.status, host.exit_code) == (7, HostStatus.SUCCESS, 0)


def test_huge_host_list() -> None:
    rows = [
        {
            "bk_host_id": i,
            "ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
            "bk_cloud_id": 0,
            "status": (5, 7, 9, 11)[i % 4],
            "tag": "",
            "exit_code": None if i % 2 else 0,
            "error_code": 0,
            "start_time": 1605064271000 + i,
            "end_time": None,
            "total_time": i,
        }
        for i in range(1, 50_001)
    ]
    hosts = parse(v3_job(step_ip_result_list=rows), JobInstanceStatus, V3).steps[0].hosts
    assert len(hosts) == 50_000
    assert len({h.host.key for h in hosts}) == 50_000
    assert hosts[-1].host.bk_host_id == 50_000
    assert hosts[-1].total_time == dt.timedelta(milliseconds=50_000)
    assert sum(h.status.is_finished for h in hosts) == 25_000


def test_v3_epoch_ms_keeps_milliseconds() -> None:
    status = parse(v3_job(start_time=1605064271123), JobInstanceStatus, V3)
    assert status.steps[0].start_time == dt.datetime(2020, 11, 11, 3, 11, 11, 123000, tzinfo=UTC)


# --- v3 step status --------------------------------------------------------------------------


def test_v3_step_status_sample() -> None:
    status = parse(data(V3_STEP), StepInstanceStatus, V3)
    step = status.step
    assert status.finished is True  # status 4 is finished
    assert (step.step_instance_id, step.execute_count, step.status) == (75, 0, JobStatus.FAIL)
    assert [g.tag for g in status.groups] == ["tag1", "tag2"]
    group = status.groups[0]
    assert (group.status, group.host_size, group.status_desc) == (
        HostStatus.SUCCESS,
        2,
        "执行成功",
    )
    assert [h.host.bk_host_id for h in step.hosts] == [101, 102]
    assert step.hosts[0].host == Host(101, "127.0.0.1", 0, None, None)
    assert step.hosts[0].error_code is None


def test_v3_step_status_ipv6_agent_and_running() -> None:
    value = data(V3_STEP)
    value["status"] = 2
    value["step_result_group_list"] = [
        {
            "result_type": 7,
            "host_size": 3,
            "host_result_list": [
                {"bk_host_id": 9, "ip": "", "ipv6": "::1", "bk_agent_id": "0200abc", "status": 7}
            ],
        },
        {"result_type": 5, "host_size": 0, "host_result_list": None},
    ]
    status = parse(value, StepInstanceStatus, V3)
    assert status.finished is False
    assert status.groups[0].host_size == 3  # truncated list keeps the full count
    assert status.groups[1].hosts == ()
    (host,) = status.step.hosts
    assert (host.host.ipv6, host.host.bk_agent_id, host.host.ip) == ("::1", "0200abc", "")
    assert str(host.host) == "::1 (host 9)"


def test_v3_step_status_without_groups() -> None:
    value = data(V3_STEP)
    del value["step_result_group_list"]
    status = parse(value, StepInstanceStatus, V3)
    assert status.groups == ()
    assert status.step.hosts == ()


# --- v2 --------------------------------------------------------------------------------------


def test_v2_job_status_sample() -> None:
    status = parse(data(V2_JOB), JobInstanceStatus, V2)
    job = status.job
    assert status.finished is True
    assert job.status is JobStatus.FAIL
    assert job.create_time == dt.datetime(2018, 3, 15, 12, 56, 35, tzinfo=CST)
    assert job.create_time.utcoffset() == dt.timedelta(hours=8)
    assert job.total_time == dt.timedelta(seconds=3.169)
    assert (job.operator, job.job_plan_id, job.launch_mode) == ("admin", -1, LaunchMode.API)
    assert job.current_step_instance_id == 75
    (step,) = status.steps
    assert step.execute_count == 0  # from the docs' retry_count
    assert (step.step_id, step.operator) == (-1, "admin")
    assert step.hosts == (HostResult(Host(ip="10.0.0.1", bk_cloud_id=0), HostStatus.SUCCESS),)


def v2_job() -> dict[str, Any]:
    """The v2 sample as a 3.x server sends it: execute_count, no offsets."""
    value = data(V2_JOB)
    value["job_instance"].update(
        create_time="2024-01-02 03:04:05", start_time="2024-01-02 03:04:05", end_time=None
    )
    step = value["blocks"][0]["step_instances"][0]
    del step["retry_count"]
    step.update(execute_count=2, start_time="2024-01-02 03:04:06", pause=None)
    return value


def test_v2_naive_times_are_in_server_tz_default_utc8() -> None:
    status = parse(v2_job(), JobInstanceStatus, V2)
    assert status.job.create_time == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=CST)
    assert status.job.create_time.utcoffset() == dt.timedelta(hours=8)
    assert status.job.end_time is None
    assert status.steps[0].execute_count == 2


@pytest.mark.parametrize(
    "tz", [UTC, dt.timezone(dt.timedelta(hours=-5)), dt.timezone(dt.timedelta(hours=5, minutes=30))]
)
def test_v2_naive_times_use_configured_server_tz(tz: dt.tzinfo) -> None:
    status = parse(v2_job(), JobInstanceStatus, V2, tz)
    assert status.job.create_time == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=tz)
    assert status.job.create_time.tzinfo is tz
    # An explicit offset wins over the server zone.
    assert parse(data(V2_JOB), JobInstanceStatus, V2, tz).job.create_time == dt.datetime(
        2018, 3, 15, 12, 56, 35, tzinfo=CST
    )


def test_server_tz_reaches_the_converter_through_protocol() -> None:
    tz = dt.timezone(dt.timedelta(hours=-3))
    proto = Protocol(
        "http://x", flavor="esb-v2", credentials=Credentials("a", "b", username="u"), server_tz=tz
    )
    assert proto.parse(v2_job(), JobInstanceStatus).job.create_time.tzinfo is tz


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02 03:04:05", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=CST)),
        ("2024-01-02 03:04:05 +0800", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=CST)),
        ("2024-01-02 03:04:05 +0000", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02 03:04:05-0530", dt.datetime(2024, 1, 2, 8, 34, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05Z", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05.250+08:00", dt.datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=CST)),
        (" 2024-01-02 03:04:05 ", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=CST)),
    ],
)
def test_v2_time_formats(text: str, expected: dt.datetime) -> None:
    value = v2_job()
    value["job_instance"]["start_time"] = text
    start = parse(value, JobInstanceStatus, V2).job.start_time
    assert start == expected
    assert start.utcoffset() is not None


@pytest.mark.parametrize(
    "text", ["2024-13-02 03:04:05", "yesterday", "2024-01-02", "2024-01-02 03:04:05 +2500", ""]
)
def test_v2_bad_times_are_format_errors(text: str) -> None:
    value = v2_job()
    value["job_instance"]["start_time"] = text
    with pytest.raises(ResponseFormatError, match="JobInstanceStatus"):
        parse(value, JobInstanceStatus, V2)


@pytest.mark.parametrize(("total", "seconds"), [(3.169, 3.169), (0, 0), ("2.5", 2.5), (10, 10)])
def test_v2_durations_are_float_seconds(total: Any, seconds: float) -> None:
    value = v2_job()
    value["job_instance"]["total_time"] = total
    parsed = parse(value, JobInstanceStatus, V2).job.total_time
    assert parsed == dt.timedelta(seconds=seconds)


def test_v2_both_execute_count_and_retry_count_prefers_execute_count() -> None:
    value = v2_job()
    value["blocks"][0]["step_instances"][0]["retry_count"] = 7
    assert parse(value, JobInstanceStatus, V2).steps[0].execute_count == 2


def test_v2_blocks_flatten_in_order_and_tolerate_nulls() -> None:
    value = v2_job()
    first = value["blocks"][0]["step_instances"][0]
    second = {**first, "step_instance_id": 76, "step_ip_status": None}
    value["blocks"].append({"step_instances": [second]})
    value["blocks"].append({"step_instances": None})
    status = parse(value, JobInstanceStatus, V2)
    assert [s.step_instance_id for s in status.steps] == [75, 76]
    assert status.steps[1].hosts is None


def test_v2_step_status_sample() -> None:
    status = parse(data(V2_STEP), StepInstanceStatus, V2)
    step = status.step
    assert status.finished is True
    assert (step.step_instance_id, step.step_id, step.execute_count) == (790001, 10000, 0)
    assert step.start_time == dt.datetime(2019, 6, 7, 12, 15, 14, tzinfo=CST)
    assert step.total_time == dt.timedelta(seconds=28.395)
    assert step.target_hosts == (Host(ip="10.25.0.2", bk_cloud_id=0),)
    (group,) = status.groups
    assert (group.status, group.host_size, group.status_desc, group.tag) == (
        HostStatus.LAST_SUCCESS,
        1,
        "Success",
        None,
    )
    assert step.hosts == (HostResult(Host(ip="10.25.0.2", bk_cloud_id=0), HostStatus.LAST_SUCCESS),)


def test_v2_step_status_as_3x_sends_it() -> None:
    value = data(V2_STEP)
    detail = value["step_instance_detail"]
    del detail["retry_count"]
    detail.update(
        execute_count=3,
        target_ips="0:10.25.0.2,2:10.25.0.3, 0:10.25.0.4",
        abnormal_agent_ips=None,
        total_ip_num=None,
        status=2,
    )
    value["is_finished"] = False
    value["step_instance_analyse_result"] = [
        {
            "result_type": 9,
            "result_type_text": "ok",
            "count": 2,
            "ip_list": [{"bk_host_id": 1, "bk_cloud_id": 0, "ip": "10.25.0.2"}],
        },
        {"result_type": 7, "ip_list": [{"bk_host_id": 2, "ip": "10.25.0.3", "bk_cloud_id": 2}]},
    ]
    status = parse(value, StepInstanceStatus, V2)
    assert status.finished is False
    assert status.step.execute_count == 3
    assert status.step.target_hosts == (
        Host(ip="10.25.0.2", bk_cloud_id=0),
        Host(ip="10.25.0.3", bk_cloud_id=2),
        Host(ip="10.25.0.4", bk_cloud_id=0),
    )
    assert [g.host_size for g in status.groups] == [2, 1]
    assert [(h.host.bk_host_id, h.status) for g in status.groups for h in g.hosts] == [
        (1, HostStatus.SUCCESS),
        (2, HostStatus.RUNNING),
    ]
    # The first group lists 1 of its 2 hosts: the step's hosts are not all known.
    assert status.partial is True
    assert status.step.hosts is None


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        (None, None),
        ("", ()),
        ("0:10.0.0.1", (Host(ip="10.0.0.1", bk_cloud_id=0),)),
        ("10.0.0.1", (Host(ip="10.0.0.1"),)),
        (
            "1:10.0.0.1,,2:10.0.0.2,",
            (Host(ip="10.0.0.1", bk_cloud_id=1), Host(ip="10.0.0.2", bk_cloud_id=2)),
        ),
    ],
)
def test_parse_target_ips(text: str | None, hosts: tuple[Host, ...] | None) -> None:
    assert parse_target_ips(text) == hosts


def test_v2_null_target_ips() -> None:
    value = data(V2_STEP)
    value["step_instance_detail"]["target_ips"] = None
    assert parse(value, StepInstanceStatus, V2).step.target_hosts is None


# --- launches and failures -------------------------------------------------------------------


@pytest.mark.parametrize("generation", [V2, V3])
def test_job_launch(generation: Generation) -> None:
    launch = parse(
        {"job_instance_id": 5, "job_instance_name": "n", "step_instance_id": 6, "x": 1},
        JobLaunch,
        generation,
    )
    assert launch == JobLaunch(5, "n", 6)
    assert parse({"job_instance_id": 5}, JobLaunch, generation) == JobLaunch(5)


@pytest.mark.parametrize(
    ("value", "cls", "generation"),
    [
        (None, JobInstanceStatus, V3),
        ([], JobInstanceStatus, V3),
        ({}, JobInstanceStatus, V3),
        ({"finished": True}, JobInstanceStatus, V3),
        (
            {"finished": "maybe", "job_instance": {"job_instance_id": 1, "status": 2}},
            JobInstanceStatus,
            V3,
        ),
        ({"finished": True, "job_instance": {"status": 2}}, JobInstanceStatus, V3),
        (
            {"finished": True, "job_instance": {"job_instance_id": 1.5, "status": 2}},
            JobInstanceStatus,
            V3,
        ),
        (
            {"finished": True, "job_instance": {"job_instance_id": 1, "status": True}},
            JobInstanceStatus,
            V3,
        ),
        (
            {
                "finished": True,
                "job_instance": {"job_instance_id": 1, "status": 2, "create_time": 1e300},
            },
            JobInstanceStatus,
            V3,
        ),
        (
            {
                "finished": True,
                "job_instance": {"job_instance_id": 1, "status": 2},
                "step_instance_list": {},
            },
            JobInstanceStatus,
            V3,
        ),
        (
            {
                "finished": True,
                "job_instance": {"job_instance_id": 1, "status": 2},
                "step_instance_list": [1],
            },
            JobInstanceStatus,
            V3,
        ),
        (
            {
                "is_finished": True,
                "job_instance": {"job_instance_id": 1, "status": 2},
                "blocks": [[]],
            },
            JobInstanceStatus,
            V2,
        ),
        ({"is_finished": True}, StepInstanceStatus, V2),
        ({"step_instance_id": 1}, StepInstanceStatus, V3),
        ({"job_instance_id": None}, JobLaunch, V3),
        ("launch", JobLaunch, V2),
    ],
)
def test_wrong_shapes_are_response_format_errors(
    value: Any, cls: type[Any], generation: Generation
) -> None:
    with pytest.raises(ResponseFormatError, match=cls.__name__) as info:
        parse(value, cls, generation)
    assert info.value.__cause__ is not None


def test_v3_data_is_not_v2_data() -> None:
    with pytest.raises(ResponseFormatError):
        parse(data(V3_JOB_APIGW), JobInstanceStatus, V2)
    with pytest.raises(ResponseFormatError):
        parse(data(V2_JOB), JobInstanceStatus, V3)


# --- enums -----------------------------------------------------------------------------------


def test_job_status_is_finished_matches_the_spec() -> None:
    finished = {3, 4, 5, 6, 8, 9, 11, 13, 14}
    for code in range(20):
        assert JobStatus(code).is_finished is (code in finished), code
    assert {int(s) for s in JobStatus if s.is_success} == {3, 5, 6}
    assert 12 not in {int(s) for s in JobStatus}


def test_host_status_is_finished_and_success_match_the_spec() -> None:
    for status in HostStatus:
        assert status.is_finished is (int(status) not in (5, 7)), status
        assert status.is_success is (int(status) in (3, 9)), status
    assert int(HostStatus.GSE_TASK_ERROR) == 399


# --- properties ------------------------------------------------------------------------------

KEYS = sorted(
    {
        "finished", "is_finished", "job_instance", "step_instance_list", "blocks",
        "step_instances", "step_ip_result_list", "step_ip_status", "job_instance_id",
        "step_instance_id", "status", "name", "type", "execute_count", "retry_count",
        "create_time", "start_time", "end_time", "total_time", "bk_host_id", "ip",
        "bk_cloud_id", "ipv6", "tag", "exit_code", "error_code", "step_result_group_list",
        "result_type", "host_size", "host_result_list", "step_instance_detail",
        "step_instance_analyse_result", "ip_list", "count", "target_ips", "start_way",
        "bk_job_id", "job_instance_name",
        "log_type", "log_content", "file_logs", "script_task_logs", "file_task_logs", "host_id",
        "mode", "src_ip", "dest_ip", "src_path", "dest_path", "size", "speed", "process",
        "start", "length", "total", "data", "launch_mode", "job_plan_id", "job_template_id",
        "operator", "bk_agent_id",
    }
)  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["2024-01-02 03:04:05", "2024-01-02 03:04:05 +0800", "1", "true", "9"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=40,
)


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """Return ``value`` with random subtrees replaced, dropped or retyped."""
    if draw(st.integers(0, 7)) == 0:
        return draw(json_values)
    if isinstance(value, dict):
        return {k: draw(mutated(v)) for k, v in value.items() if draw(st.integers(0, 15)) != 0}
    if isinstance(value, list):
        return [draw(mutated(v)) for v in value]
    return value


MODELS = [
    *((cls, g) for cls in (JobInstanceStatus, StepInstanceStatus, JobLaunch) for g in (V2, V3)),
    # Host logs and the history list exist on v3 only.
    (HostLog, V3),
    (tuple[HostLog, ...], V3),
    (JobInstancePage, V3),
]


def _structure_or_format_error(value: Any, cls: type[Any], generation: Generation) -> None:
    try:
        model = parse(value, cls, generation)
    except ResponseFormatError:
        return
    assert isinstance(model, typing.get_origin(cls) or cls)
    for when in _datetimes(model):
        assert when.utcoffset() is not None


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, which=st.sampled_from(MODELS))
def test_arbitrary_json_only_raises_response_format_error(
    value: Any, which: tuple[type[Any], Generation]
) -> None:
    _structure_or_format_error(value, *which)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_samples_only_raise_response_format_error(draw: st.DataObject) -> None:
    name = draw.draw(st.sampled_from(sorted(SAMPLE_KINDS)))
    flavor, cls = SAMPLE_KINDS[name]
    generation = V2 if flavor == "esb-v2" else V3
    _structure_or_format_error(draw.draw(mutated(data(name))), cls, generation)


@settings(max_examples=examples(300), deadline=None)
@given(
    raw=st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.builds(
        lambda r, c, d: json.dumps({"result": r, "code": c, "data": d}).encode(),
        json_values,
        json_values,
        json_values,
    ),
    status=st.sampled_from([200, 201, 204, 400, 403, 404, 429, 500, 502, 504]),
    headers=st.dictionaries(
        st.sampled_from(
            ["Retry-After", "X-Bkapi-RateLimit-Reset", "X-Bkapi-Error-Code", "X-Bkapi-Request-Id"]
        ),
        st.text(max_size=40),
    ),
)
def test_decipher_only_raises_bkjob_errors(
    raw: bytes, status: int, headers: dict[str, str]
) -> None:
    proto = Protocol("http://x", flavor="apigw-v3", credentials=Credentials("a", "b", username="u"))
    request = proto.build("get_job_instance_status", Scope.biz(1), 1, with_hosts=True)
    with contextlib.suppress(BkJobError):
        proto.parse(proto.decipher(request, Response(status, headers, raw)), JobInstanceStatus)


def test_a_host_known_by_its_id_alone_reads_as_host_id() -> None:
    assert str(Host(bk_host_id=8424895)) == "host 8424895"
    assert str(Host(bk_host_id=7, ip="10.0.0.7", bk_cloud_id=0)) == "0:10.0.0.7 (host 7)"
    assert str(Host(ip="10.0.0.8")) == "10.0.0.8"
