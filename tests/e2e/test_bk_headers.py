"""The headers bk-job reads besides the gateway's: the user, the time zone, the tenant."""

from __future__ import annotations

import logging
import zoneinfo
from typing import Any

import pytest

from bkjob_async import JobOperation, Scope
from tests.conftest import APP_SECRET, BK_TOKEN, RecordingServer

BIZ = Scope.biz(2)
STAGE = "/api/bk-job/prod"


async def start(make_client: Any, server: RecordingServer, **kwargs: Any) -> dict[str, str]:
    server.reply({"job_instance_id": 1})
    async with make_client(base_url=server.url + STAGE, **kwargs) as client:
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
    return dict(server.requests[-1].headers)


async def test_the_user_goes_in_x_bk_username_and_as_user_changes_it(
    make_client: Any, server: RecordingServer
) -> None:
    server.reply({"job_instance_id": 1})
    server.reply({"job_instance_id": 1})
    server.reply({"job_instance_id": 1})
    async with make_client(base_url=server.url + STAGE) as client:
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
        await client.as_user("bob").operate_job_instance(BIZ, 1, JobOperation.START)
        await client.as_user(bk_token=BK_TOKEN).operate_job_instance(BIZ, 1, JobOperation.START)
    sent = [r.headers.get("X-Bk-Username") for r in server.requests]
    assert sent == ["admin", "bob", None]  # a token names no user: the gateway finds it


async def test_no_time_zone_header_unless_asked(make_client: Any, server: RecordingServer) -> None:
    headers = await start(make_client, server)
    assert "X-Bk-Job-User-Timezone" not in headers
    assert "X-Bk-Tenant-Id" not in headers


async def test_the_time_zone_is_sent_and_read_back(
    make_client: Any, server: RecordingServer
) -> None:
    server.reply({"job_instance_id": 1})
    async with make_client(base_url=server.url + STAGE, user_timezone="Europe/Paris") as client:
        assert client.protocol.server_tz == zoneinfo.ZoneInfo("Europe/Paris")
        await client.operate_job_instance(BIZ, 1, JobOperation.START)
        viewed = client.as_user("bob")
        assert viewed.protocol.user_timezone == "Europe/Paris"
    assert server.requests[0].headers["X-Bk-Job-User-Timezone"] == "Europe/Paris"


async def test_a_given_server_tz_is_kept_with_a_time_zone(make_client: Any) -> None:
    tz = zoneinfo.ZoneInfo("Asia/Tokyo")
    async with make_client(server_tz=tz, user_timezone="UTC") as client:
        assert client.protocol.server_tz is tz


@pytest.mark.parametrize("bad", ["Mars/Olympus", "Asia/Shanghai\r\nX: y", ""])
async def test_an_unknown_time_zone_is_refused_before_sending(
    make_client: Any, server: RecordingServer, bad: str
) -> None:
    with pytest.raises((ValueError, TypeError), match="user_timezone"):
        make_client(base_url=server.url + STAGE, user_timezone=bad)
    assert server.requests == []


async def test_tenant_user_and_zone_together_and_no_secret_logged(
    make_client: Any, server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = await start(make_client, server, tenant_id="t1", user_timezone="UTC")
    assert {k: headers[k] for k in ("X-Bk-Tenant-Id", "X-Bk-Username")} == {
        "X-Bk-Tenant-Id": "t1",
        "X-Bk-Username": "admin",
    }
    assert headers["X-Bk-Job-User-Timezone"] == "UTC"
    assert APP_SECRET not in caplog.text
