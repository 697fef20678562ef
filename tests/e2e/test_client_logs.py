"""Host logs and the history list through the facade, against the recording server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from bkjob_async import (
    FileLogMode,
    Host,
    HostLog,
    JobInstancePage,
    JobStatus,
    LaunchMode,
    LogType,
    TaskType,
    UnsupportedOperationError,
)
from bkjob_async.testing import Request, Response
from tests.conftest import RecordingServer, envelope, json_answer
from tests.e2e.test_client_wire import BIZ, assert_auth, client_for, path

V3_FLAVORS = ["apigw-v3", "esb-jobv3"]
SCOPE = {"bk_scope_type": "biz", "bk_scope_id": "2"}
UTC = dt.timezone.utc
SINCE = dt.datetime(2024, 5, 1, tzinfo=UTC)
UNTIL = SINCE + dt.timedelta(days=7)
SINCE_MS, UNTIL_MS = 1714521600000, 1714521600000 + 7 * 86_400_000


def sent(request: Any, flavor: str) -> dict[str, Any]:
    """Return the parameters of a recorded request, wherever its flavor put them."""
    if flavor == "apigw-v3" and request.method == "GET":
        assert request.body == b""
        return dict(request.query)
    assert request.query == {}
    assert request.headers["Content-Type"] == "application/json"
    value: dict[str, Any] = request.json
    return value


def spelled(flavor: str, **params: Any) -> dict[str, Any]:
    """Return ``params`` as ``flavor`` sends them: strings in a gateway query."""
    if flavor == "apigw-v3":
        return {**SCOPE, **{k: str(v) for k, v in params.items()}}
    return {**SCOPE, **params}


def script_rows(host_ids: list[int]) -> dict[str, Any]:
    rows = [
        {"host_id": h, "bk_host_id": h, "bk_cloud_id": 0, "ip": None, "log_content": f"{h}\n"}
        for h in host_ids
    ]
    return {"job_instance_id": 1, "step_instance_id": 2, "log_type": 1, "script_task_logs": rows}


def echo_host_logs(request: Request) -> Response:
    """Answer a batch with one script log per host asked, in the order asked."""
    asked = json.loads(request.body or b"")
    return json_answer(envelope(script_rows(asked["host_id_list"])))


def summary(job_id: int) -> dict[str, Any]:
    return {
        "job_instance_id": job_id,
        "status": 3,
        "name": f"job-{job_id}",
        "operator": "admin",
        "launch_mode": 2,
        "type": 1,
        "create_time": SINCE_MS + job_id,
    }


def page(start: int, total: int, *ids: int, length: int = 2) -> dict[str, Any]:
    return {"start": start, "length": length, "total": total, "data": [summary(i) for i in ids]}


# --- one host's log ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_get_job_instance_ip_log(
    make_client: Any, server: RecordingServer, flavor: str
) -> None:
    server.reply(
        {"log_type": 1, "bk_host_id": 101, "bk_cloud_id": None, "ip": None, "log_content": "hi\n"}
    )
    server.reply(
        {"log_type": 2, "bk_host_id": 102, "bk_cloud_id": 0, "ip": "10.0.0.2", "file_logs": []}
    )
    async with client_for(make_client, server, flavor) as client:
        script = await client.get_job_instance_ip_log(BIZ, 100, 200, 101)
        files = await client.get_job_instance_ip_log(BIZ, 100, 200, (0, "10.0.0.2"))
    assert script == HostLog(Host(bk_host_id=101), LogType.SCRIPT, "hi\n")
    assert files == HostLog(Host(102, "10.0.0.2", 0), LogType.FILE, None, ())
    by_id, by_ip = server.requests
    method = "GET" if flavor == "apigw-v3" else "POST"
    for request in (by_id, by_ip):
        assert (request.method, request.path) == (method, path(flavor, "get_job_instance_ip_log"))
        assert_auth(request)
    ids = {"job_instance_id": 100, "step_instance_id": 200}
    assert sent(by_id, flavor) == spelled(flavor, **ids, bk_host_id=101)
    assert sent(by_ip, flavor) == spelled(flavor, **ids, bk_cloud_id=0, ip="10.0.0.2")


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_batch_get_job_instance_ip_log(
    make_client: Any, server: RecordingServer, flavor: str
) -> None:
    row = {
        "bk_host_id": 101,
        "bk_cloud_id": 0,
        "ip": "10.0.0.1",
        "file_logs": [
            {
                "mode": 1,
                "src_ip": {"bk_host_id": 9, "bk_cloud_id": 0, "ip": "10.0.0.9"},
                "dest_ip": {"bk_host_id": 101, "bk_cloud_id": 0, "ip": "10.0.0.1"},
                "status": 4,
            }
        ],
    }
    server.reply(
        {"job_instance_id": 100, "step_instance_id": 200, "log_type": 2, "file_task_logs": [row]}
    )
    async with client_for(make_client, server, flavor) as client:
        (log,) = await client.batch_get_job_instance_ip_log(BIZ, 100, 200, [(0, "10.0.0.1")])
    assert log.log_type is LogType.FILE
    assert log.file_logs is not None
    assert log.file_logs[0].mode is FileLogMode.DOWNLOAD
    assert log.file_logs[0].src_host == Host(9, "10.0.0.9", 0)
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", path(flavor, "batch_get_job_instance_ip_log"))
    assert_auth(request)
    assert request.json == {
        **SCOPE,
        "job_instance_id": 100,
        "step_instance_id": 200,
        "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}],
    }


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_batch_splits_1201_hosts_into_3_requests_in_order(
    make_client: Any, server: RecordingServer, flavor: str
) -> None:
    hosts = list(range(1001, 2202))
    for _ in range(3):
        server.reply_with(echo_host_logs)
    async with client_for(make_client, server, flavor) as client:
        logs = await client.batch_get_job_instance_ip_log(BIZ, 1, 2, hosts)
    asked = [r.json["host_id_list"] for r in server.requests]
    assert [len(a) for a in asked] == [500, 500, 201]
    assert [h for a in asked for h in a] == hosts
    assert [log.host.bk_host_id for log in logs] == hosts
    assert logs[-1].log_content == "2201\n"
    assert all(r.path == path(flavor, "batch_get_job_instance_ip_log") for r in server.requests)


async def test_batch_of_no_hosts_sends_nothing(make_client: Any, server: RecordingServer) -> None:
    async with client_for(make_client, server, "apigw-v3") as client:
        assert await client.batch_get_job_instance_ip_log(BIZ, 1, 2, []) == ()
    assert server.requests == []


async def test_batch_checks_every_host_before_sending(
    make_client: Any, server: RecordingServer
) -> None:
    hosts: list[Any] = list(range(1, 1202))
    hosts[1100] = Host(ip="10.0.0.1")  # no cloud area: bk-job could not find it
    async with client_for(make_client, server, "esb-jobv3") as client:
        with pytest.raises(ValueError, match="bk_cloud_id"):
            await client.batch_get_job_instance_ip_log(BIZ, 1, 2, hosts)
    assert server.requests == []


async def test_batch_is_a_read_and_retries_like_one(
    make_client: Any, server: RecordingServer
) -> None:
    server.reply(None, status=503, result=False, code=1650200)
    server.reply(script_rows([7]))
    async with client_for(make_client, server, "apigw-v3") as client:
        (log,) = await client.batch_get_job_instance_ip_log(BIZ, 1, 2, [7])
    assert log.host.bk_host_id == 7
    assert len(server.requests) == 2


# --- history ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_get_job_instance_list(
    make_client: Any, server: RecordingServer, flavor: str
) -> None:
    server.reply(page(20, 23, 5, 6, length=20))
    async with client_for(make_client, server, flavor) as client:
        result = await client.get_job_instance_list(
            BIZ,
            created_from=SINCE,
            created_to=UNTIL,
            operator="admin",
            launch_mode=LaunchMode.API,
            type=TaskType.FAST_SCRIPT,
            status=JobStatus.SUCCESS,
            start=20,
        )
    assert isinstance(result, JobInstancePage)
    assert (result.start, result.length, result.total) == (20, 20, 23)
    assert [i.job_instance_id for i in result.items] == [5, 6]
    assert result.items[0].create_time == SINCE + dt.timedelta(milliseconds=5)
    (request,) = server.requests
    method = "GET" if flavor == "apigw-v3" else "POST"
    assert (request.method, request.path) == (method, path(flavor, "get_job_instance_list"))
    assert_auth(request)
    assert sent(request, flavor) == spelled(
        flavor,
        create_time_start=SINCE_MS,
        create_time_end=UNTIL_MS,
        operator="admin",
        launch_mode=2,
        type=1,
        status=3,
        start=20,
        length=20,
    )


@pytest.mark.parametrize("flavor", V3_FLAVORS)
async def test_iter_job_instances_pages_until_total(
    make_client: Any, server: RecordingServer, flavor: str
) -> None:
    for reply in (page(0, 5, 1, 2), page(2, 5, 3, 4), page(4, 5, 5)):
        server.reply(reply)
    async with client_for(make_client, server, flavor) as client:
        found = [
            job.job_instance_id
            async for job in client.iter_job_instances(
                BIZ, created_from=SINCE, created_to=UNTIL, name="deploy", page_size=2
            )
        ]
    assert found == [1, 2, 3, 4, 5]
    pages = [sent(r, flavor) for r in server.requests]
    assert [(int(p["start"]), int(p["length"])) for p in pages] == [(0, 2), (2, 2), (4, 2)]
    assert {p["name"] for p in pages} == {"deploy"}
    assert server.pending == 0


async def test_iter_skips_a_job_a_new_one_pushed_onto_the_next_page(
    make_client: Any, server: RecordingServer
) -> None:
    # Newest first: job 11 arrives after the first page, so job 9 shows again on the second.
    for reply in (page(0, 5, 10, 9), page(2, 6, 9, 8), page(4, 6, 7, 6)):
        server.reply(reply)
    async with client_for(make_client, server, "esb-jobv3") as client:
        jobs = client.iter_job_instances(BIZ, created_from=SINCE, created_to=UNTIL, page_size=2)
        found = [job.job_instance_id async for job in jobs]
    assert found == [10, 9, 8, 7, 6]
    assert len(server.requests) == 3


async def test_iter_stops_at_an_empty_page(make_client: Any, server: RecordingServer) -> None:
    server.reply(page(0, 10, 1, 2))
    server.reply(page(2, 10))
    async with client_for(make_client, server, "apigw-v3") as client:
        jobs = client.iter_job_instances(BIZ, created_from=SINCE, created_to=UNTIL, page_size=2)
        assert [job.job_instance_id async for job in jobs] == [1, 2]
    assert len(server.requests) == 2


async def test_iter_of_nothing_asks_once(make_client: Any, server: RecordingServer) -> None:
    server.reply({"start": 0, "length": 1000, "total": 0, "data": None})
    async with client_for(make_client, server, "apigw-v3") as client:
        jobs = client.iter_job_instances(BIZ, created_from=SINCE, created_to=UNTIL)
        assert [job async for job in jobs] == []
    assert server.requests[0].query["length"] == "1000"


async def test_bad_history_windows_send_nothing(make_client: Any, server: RecordingServer) -> None:
    async with client_for(make_client, server, "apigw-v3") as client:
        with pytest.raises(ValueError, match="timezone-aware"):
            await client.get_job_instance_list(
                BIZ, created_from=dt.datetime(2024, 5, 1), created_to=UNTIL
            )
        too_wide = client.iter_job_instances(
            BIZ, created_from=SINCE, created_to=SINCE + dt.timedelta(days=31)
        )
        with pytest.raises(ValueError, match="30 days"):
            await too_wide.__anext__()
        with pytest.raises(ValueError, match=r"length must be 1\.\.1000"):
            await client.iter_job_instances(
                BIZ, created_from=SINCE, created_to=UNTIL, page_size=1001
            ).__anext__()
    assert server.requests == []


async def test_iter_refuses_an_unknown_filter(make_client: Any, server: RecordingServer) -> None:
    async with client_for(make_client, server, "apigw-v3") as client:
        with pytest.raises(TypeError, match="stat"):  # at the call: each filter is a keyword
            client.iter_job_instances(BIZ, created_from=SINCE, created_to=UNTIL, stat=3)  # type: ignore[call-arg]
    assert server.requests == []


# --- ESB v2 has none of them ------------------------------------------------------------------


async def test_esb_v2_has_no_logs_or_history(make_client: Any, server: RecordingServer) -> None:
    async with client_for(make_client, server, "esb-v2") as client:
        with pytest.raises(UnsupportedOperationError, match="get_job_instance_ip_log"):
            await client.get_job_instance_ip_log(BIZ, 1, 2, 3)
        with pytest.raises(UnsupportedOperationError, match="batch_get_job_instance_ip_log"):
            await client.batch_get_job_instance_ip_log(BIZ, 1, 2, [3])
        with pytest.raises(UnsupportedOperationError, match="batch_get_job_instance_ip_log"):
            await client.batch_get_job_instance_ip_log(BIZ, 1, 2, [])
        with pytest.raises(UnsupportedOperationError, match="get_job_instance_list"):
            await client.get_job_instance_list(BIZ, created_from=SINCE, created_to=UNTIL)
        with pytest.raises(UnsupportedOperationError, match="get_job_instance_list"):
            await client.iter_job_instances(BIZ, created_from=SINCE, created_to=UNTIL).__anext__()
    assert server.requests == []
