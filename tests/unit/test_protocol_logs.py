"""The sans-I/O protocol for host logs and the history list: per flavor, and every input check."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bkjob_async import (
    Host,
    JobStatus,
    LaunchMode,
    Scope,
    TaskType,
    UnsupportedOperationError,
)
from bkjob_async._protocol import MAX_LOG_HOSTS
from bkjob_async._protocol.logs import batch_log
from tests.protocols import BASE, BIZ, V3_SCOPE, body, protocol, sent

UTC = dt.timezone.utc
CST = dt.timezone(dt.timedelta(hours=8))
#: 2024-01-01 00:00:00 UTC in epoch ms.
NEW_YEAR_MS = 1704067200000
NEW_YEAR = dt.datetime(2024, 1, 1, tzinfo=UTC)
WINDOW = {"created_from": NEW_YEAR, "created_to": NEW_YEAR + dt.timedelta(days=1)}


# --- methods, paths and where parameters travel --------------------------------------------


def test_apigw_ip_log_is_get_with_query() -> None:
    request = protocol().build("get_job_instance_ip_log", BIZ, 100, 200, 101)
    assert (request.method, request.url) == ("GET", BASE + "api/v3/get_job_instance_ip_log")
    assert request.body is None
    assert request.idempotent
    assert request.query == {
        **V3_SCOPE,
        "job_instance_id": "100",
        "step_instance_id": "200",
        "bk_host_id": "101",
    }


def test_jobv3_ip_log_is_post_json() -> None:
    request = protocol("esb-jobv3").build(
        "get_job_instance_ip_log", Scope.biz_set(9991001), 100, 200, (1, "10.0.0.1")
    )
    assert request.method == "POST"
    assert request.url == BASE + "api/c/compapi/v2/jobv3/get_job_instance_ip_log/"
    assert request.headers["Content-Type"] == "application/json"
    assert request.idempotent
    assert body(request) == {
        "bk_scope_type": "biz_set",
        "bk_scope_id": "9991001",
        "job_instance_id": 100,
        "step_instance_id": 200,
        "bk_cloud_id": 1,
        "ip": "10.0.0.1",
    }


@pytest.mark.parametrize(
    ("host", "spelled"),
    [
        (101, {"bk_host_id": 101}),
        ((0, "10.0.0.1"), {"bk_cloud_id": 0, "ip": "10.0.0.1"}),
        (Host(bk_host_id=101, ip="10.0.0.1", bk_cloud_id=0), {"bk_host_id": 101}),
        (Host(ip="10.0.0.1", bk_cloud_id=3), {"bk_cloud_id": 3, "ip": "10.0.0.1"}),
        (Host(ip="10.0.0.1", bk_cloud_id=0, ipv6="::1"), {"bk_cloud_id": 0, "ip": "10.0.0.1"}),
    ],
)
@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3"])
def test_ip_log_host_forms(flavor: str, host: Any, spelled: dict[str, Any]) -> None:
    params = sent(protocol(flavor).build("get_job_instance_ip_log", BIZ, 1, 2, host))
    expected = {k: str(v) if flavor == "apigw-v3" else v for k, v in spelled.items()}
    assert {k: params[k] for k in params if k in ("bk_host_id", "bk_cloud_id", "ip")} == expected


@pytest.mark.parametrize(
    ("flavor", "url"),
    [
        ("apigw-v3", BASE + "api/v3/batch_get_job_instance_ip_log"),
        ("esb-jobv3", BASE + "api/c/compapi/v2/jobv3/batch_get_job_instance_ip_log/"),
    ],
)
def test_batch_ip_log_is_a_post_that_reads(flavor: str, url: str) -> None:
    request = protocol(flavor).build(
        "batch_get_job_instance_ip_log", BIZ, 100, 200, [101, 102, Host(bk_host_id=103)]
    )
    assert (request.method, request.url) == ("POST", url)
    assert request.query is None
    # A read: the transport may retry it like a GET.
    assert request.idempotent
    assert body(request) == {
        **V3_SCOPE,
        "job_instance_id": 100,
        "step_instance_id": 200,
        "host_id_list": [101, 102, 103],
    }


def test_batch_pairs_go_in_ip_list() -> None:
    request = protocol().build(
        "batch_get_job_instance_ip_log",
        BIZ,
        1,
        2,
        [(0, "10.0.0.1"), Host(ip="10.0.0.2", bk_cloud_id=1)],
    )
    assert body(request)["ip_list"] == [
        {"bk_cloud_id": 0, "ip": "10.0.0.1"},
        {"bk_cloud_id": 1, "ip": "10.0.0.2"},
    ]
    assert "host_id_list" not in body(request)


def test_batch_mix_goes_in_ip_list_rows_that_name_host_ids() -> None:
    # bk-job reads only host_id_list when both lists come; ip_list rows may carry bk_host_id.
    request = protocol("esb-jobv3").build(
        "batch_get_job_instance_ip_log", BIZ, 1, 2, [101, (0, "10.0.0.1")]
    )
    assert body(request)["ip_list"] == [{"bk_host_id": 101}, {"bk_cloud_id": 0, "ip": "10.0.0.1"}]
    assert "host_id_list" not in body(request)


def test_batch_takes_exactly_up_to_500_hosts() -> None:
    hosts = list(range(1, MAX_LOG_HOSTS + 1))
    assert MAX_LOG_HOSTS == 500
    assert (
        len(
            body(protocol().build("batch_get_job_instance_ip_log", BIZ, 1, 2, hosts))[
                "host_id_list"
            ]
        )
        == 500
    )
    # One request of the batches is spelled by logs.batch_log (the table splits a call).
    with pytest.raises(ValueError, match="1 to 500 hosts"):
        batch_log(BIZ, 1, 2, [*hosts, 501])
    with pytest.raises(ValueError, match="not 0"):
        batch_log(BIZ, 1, 2, [])


def test_batch_ip_logs_splits_in_order() -> None:
    hosts = list(range(1, 1202))
    requests = protocol().builds("batch_get_job_instance_ip_log", BIZ, 1, 2, hosts)
    chunks = [body(r)["host_id_list"] for r in requests]
    assert [len(c) for c in chunks] == [500, 500, 201]
    assert [h for c in chunks for h in c] == hosts
    assert protocol().builds("batch_get_job_instance_ip_log", BIZ, 1, 2, []) == ()
    assert (
        len(protocol().builds("batch_get_job_instance_ip_log", BIZ, 1, 2, list(range(1, 501)))) == 1
    )


def test_batch_ip_logs_checks_every_host_before_building_any() -> None:
    hosts: list[Any] = list(range(1, 1202))
    hosts[1100] = "10.0.0.1"
    with pytest.raises(TypeError, match="not str"):
        protocol().builds("batch_get_job_instance_ip_log", BIZ, 1, 2, hosts)


@pytest.mark.parametrize("hosts", [[], [1]])
def test_batch_ip_logs_checks_ids_scope_and_flavor_even_without_hosts(hosts: list[int]) -> None:
    with pytest.raises(ValueError, match="job_instance_id"):
        protocol().builds("batch_get_job_instance_ip_log", BIZ, 0, 2, hosts)
    with pytest.raises(TypeError, match="scope"):
        protocol().builds("batch_get_job_instance_ip_log", 2, 1, 2, hosts)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedOperationError):
        protocol("esb-v2").builds("batch_get_job_instance_ip_log", BIZ, 1, 2, hosts)


def test_apigw_history_is_get_with_epoch_ms_query() -> None:
    request = protocol().build(
        "get_job_instance_list",
        BIZ,
        **WINDOW,
        job_instance_id=7,
        job_cron_id=8,
        operator="admin",
        name="deploy",
        launch_mode=LaunchMode.API,
        type=TaskType.FAST_SCRIPT,
        status=JobStatus.FAIL,
        ip="10.0.0.1",
        start=40,
        length=1000,
    )
    assert (request.method, request.url) == ("GET", BASE + "api/v3/get_job_instance_list")
    assert request.idempotent
    assert request.query == {
        **V3_SCOPE,
        "create_time_start": str(NEW_YEAR_MS),
        "create_time_end": str(NEW_YEAR_MS + 86_400_000),
        "job_instance_id": "7",
        "job_cron_id": "8",
        "operator": "admin",
        "name": "deploy",
        "launch_mode": "2",
        "type": "1",
        "status": "4",
        "ip": "10.0.0.1",
        "start": "40",
        "length": "1000",
    }


def test_jobv3_history_is_post_and_leaves_out_unset_filters() -> None:
    request = protocol("esb-jobv3").build("get_job_instance_list", BIZ, **WINDOW, type=0, status=3)
    assert request.method == "POST"
    assert request.url == BASE + "api/c/compapi/v2/jobv3/get_job_instance_list/"
    assert request.idempotent
    assert body(request) == {
        **V3_SCOPE,
        "create_time_start": NEW_YEAR_MS,
        "create_time_end": NEW_YEAR_MS + 86_400_000,
        "type": 0,
        "status": 3,
        "start": 0,
        "length": 20,
    }


def test_history_times_in_any_zone_and_below_a_millisecond() -> None:
    params = body(
        protocol("esb-jobv3").build(
            "get_job_instance_list",
            BIZ,
            created_from=dt.datetime(2024, 1, 1, 8, 0, 0, 999, tzinfo=CST),
            created_to=dt.datetime(2024, 1, 1, 0, 0, 1, 1999, tzinfo=UTC),
        )
    )
    assert params["create_time_start"] == NEW_YEAR_MS
    assert params["create_time_end"] == NEW_YEAR_MS + 1001


def test_history_window_of_exactly_30_days_is_allowed() -> None:
    month = NEW_YEAR + dt.timedelta(days=30)
    params = sent(
        protocol().build("get_job_instance_list", BIZ, created_from=NEW_YEAR, created_to=month)
    )
    assert int(params["create_time_end"]) - int(params["create_time_start"]) == 30 * 86_400_000


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3"])
def test_every_log_and_history_call_exists_on_both_v3_flavors(flavor: str) -> None:
    proto = protocol(flavor)
    proto.build("get_job_instance_ip_log", BIZ, 1, 2, 3)
    proto.build("batch_get_job_instance_ip_log", BIZ, 1, 2, [3])
    proto.build("get_job_instance_list", BIZ, **WINDOW)


@pytest.mark.parametrize(
    "build",
    [
        lambda p: p.build("get_job_instance_ip_log", BIZ, 1, 2, 3),
        lambda p: p.build("batch_get_job_instance_ip_log", BIZ, 1, 2, [3]),
        lambda p: p.builds("batch_get_job_instance_ip_log", BIZ, 1, 2, [3]),
        lambda p: p.build("get_job_instance_list", BIZ, **WINDOW),
    ],
)
def test_esb_v2_has_none_of_them(build: Any) -> None:
    with pytest.raises(
        UnsupportedOperationError, match="'esb-v2' API; use flavor 'apigw-v3' or 'esb-jobv3'"
    ):
        build(protocol("esb-v2"))


def test_step_status_on_jobv3_still_points_at_the_flavors_that_have_it() -> None:
    with pytest.raises(UnsupportedOperationError, match="use flavor 'apigw-v3' or 'esb-v2'"):
        protocol("esb-jobv3").build("get_step_instance_status", BIZ, 1, 2)


# --- input checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "error", "match"),
    [
        ("10.0.0.1", TypeError, "not str"),
        ("101", TypeError, "not str"),
        (True, TypeError, "not bool"),
        (1.0, TypeError, "not float"),
        (None, TypeError, "not NoneType"),
        ([0, "10.0.0.1"], TypeError, "not list"),
        ((0, "10.0.0.1", "x"), TypeError, "not tuple"),
        (0, ValueError, "bk_host_id must be >= 1"),
        (-5, ValueError, "bk_host_id must be >= 1"),
        ((-1, "10.0.0.1"), ValueError, "bk_cloud_id must be >= 0"),
        ((True, "10.0.0.1"), TypeError, "bk_cloud_id"),
        (("0", "10.0.0.1"), TypeError, "bk_cloud_id"),
        ((0, ""), TypeError, "ip must be a non-empty str"),
        ((0, 10), TypeError, "ip must be a non-empty str"),
        (Host(), ValueError, "no bk_host_id and no bk_cloud_id with an ip"),
        (Host(ip="10.0.0.1"), ValueError, "no bk_cloud_id"),
        (Host(ipv6="::1", bk_cloud_id=0), ValueError, "with an ip"),
        (Host(bk_host_id=0), ValueError, "bk_host_id must be >= 1"),
    ],
)
def test_bad_hosts(host: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        protocol().build("get_job_instance_ip_log", BIZ, 1, 2, host)
    with pytest.raises(error, match=match):
        protocol().build("batch_get_job_instance_ip_log", BIZ, 1, 2, [101, host])


@pytest.mark.parametrize("hosts", ["10.0.0.1", b"x", 101, Host(bk_host_id=1), None, object()])
def test_batch_needs_a_sequence_of_hosts(hosts: Any) -> None:
    with pytest.raises(TypeError, match="hosts must be a sequence"):
        protocol().build("batch_get_job_instance_ip_log", BIZ, 1, 2, hosts)


def test_batch_takes_any_iterable_of_hosts() -> None:
    request = protocol().build("batch_get_job_instance_ip_log", BIZ, 1, 2, (h for h in (5, 6)))  # type: ignore[arg-type]
    assert body(request)["host_id_list"] == [5, 6]


@pytest.mark.parametrize(
    ("ids", "error"),
    [((0, 2), ValueError), ((1, 0), ValueError), (("1", 2), TypeError), ((1, True), TypeError)],
)
def test_step_ids_are_checked(ids: tuple[Any, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        protocol().build("get_job_instance_ip_log", BIZ, *ids, 101)
    with pytest.raises(error):
        protocol().build("batch_get_job_instance_ip_log", BIZ, *ids, [101])


def test_scope_is_checked() -> None:
    with pytest.raises(TypeError, match="scope"):
        protocol().build("get_job_instance_ip_log", "biz:2", 1, 2, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scope"):
        protocol().build("get_job_instance_list", 2, **WINDOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("window", "error", "match"),
    [
        (
            {"created_from": dt.datetime(2024, 1, 1)},
            ValueError,
            "created_from must be timezone-aware",
        ),
        ({"created_to": dt.datetime(2024, 1, 2)}, ValueError, "created_to must be timezone-aware"),
        ({"created_from": dt.date(2024, 1, 1)}, TypeError, "created_from must be a datetime"),
        ({"created_to": NEW_YEAR_MS}, TypeError, "created_to must be a datetime, not int"),
        ({"created_from": "2024-01-01"}, TypeError, "not str"),
        ({"created_to": NEW_YEAR}, ValueError, "before created_to"),
        ({"created_to": NEW_YEAR - dt.timedelta(seconds=1)}, ValueError, "before created_to"),
        (
            {"created_to": NEW_YEAR + dt.timedelta(days=30, milliseconds=1)},
            ValueError,
            "more than 30 days apart",
        ),
        (
            {
                "created_from": dt.datetime(1970, 1, 1, tzinfo=UTC),
                "created_to": dt.datetime(1970, 1, 2, tzinfo=UTC),
            },
            ValueError,
            "after 1970",
        ),
    ],
)
def test_history_window_checks(window: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        protocol().build("get_job_instance_list", BIZ, **{**WINDOW, **window})


def test_history_times_are_required() -> None:
    with pytest.raises(TypeError):
        protocol().build("get_job_instance_list", BIZ, created_from=NEW_YEAR)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("filters", "error", "match"),
    [
        ({"job_instance_id": 0}, ValueError, "job_instance_id"),
        ({"job_instance_id": "7"}, TypeError, "job_instance_id"),
        ({"job_cron_id": -1}, ValueError, "job_cron_id"),
        ({"job_cron_id": 1.0}, TypeError, "job_cron_id"),
        ({"operator": ""}, TypeError, "operator"),
        ({"operator": 5}, TypeError, "operator"),
        ({"name": ""}, TypeError, "name"),
        ({"ip": b"10.0.0.1"}, TypeError, "ip"),
        ({"launch_mode": 4}, ValueError, "unknown launch_mode 4; expected one of: 1 WEB, 2 API"),
        ({"launch_mode": True}, TypeError, "launch_mode must be a LaunchMode, not bool"),
        ({"type": 3}, ValueError, "unknown type 3; expected one of: 0 PLAN"),
        ({"type": "1"}, TypeError, "type must be a TaskType, not str"),
        ({"status": 12}, ValueError, "unknown status 12"),
        ({"status": JobStatus(99)}, ValueError, "unknown status 99"),
        ({"status": 3.0}, TypeError, "status must be a JobStatus"),
        ({"start": -1}, ValueError, "start must be >= 0"),
        ({"start": True}, TypeError, "start"),
        ({"length": 0}, ValueError, "length must be >= 1"),
        ({"length": 1001}, ValueError, "length must be 1..1000"),
        ({"length": "20"}, TypeError, "length"),
    ],
)
def test_history_filter_checks(filters: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        protocol().build("get_job_instance_list", BIZ, **WINDOW, **filters)


def test_history_filters_take_plain_ints_and_bounds() -> None:
    params = body(
        protocol("esb-jobv3").build(
            "get_job_instance_list",
            BIZ,
            **WINDOW,
            launch_mode=3,
            type=2,
            status=15,
            start=0,
            length=1,
        )
    )
    assert (params["launch_mode"], params["type"], params["status"]) == (3, 2, 15)
    assert (params["start"], params["length"]) == (0, 1)
