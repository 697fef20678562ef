"""What bk-job master checks that the client checks first, and the codes it answers otherwise."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bkjob_async import (
    Account,
    ApiError,
    ConflictError,
    Credentials,
    FileSource,
    InvalidRequestError,
    Scope,
    Targets,
)
from bkjob_async._protocol import Protocol, Response
from tests.conftest import APP_SECRET

BIZ = Scope.biz(2)
HOSTS = {"targets": Targets(ips=["10.0.0.1"]), "account": Account(alias="root")}
LAUNCHES: dict[str, dict[str, Any]] = {
    "fast_execute_script": {**HOSTS, "script_content": "ls"},
    "fast_transfer_file": {
        **HOSTS,
        "file_target_path": "/tmp",
        "file_sources": [FileSource(["/a"], server=Targets(ips=["10.0.0.2"]))],
    },
    "execute_job_plan": {"job_plan_id": 3},
}


def protocol(flavor: str = "apigw-v3") -> Protocol:
    credentials = Credentials("app", APP_SECRET, username="admin")
    return Protocol("https://bk.example.com/", flavor=flavor, credentials=credentials)


def launch(api: str, flavor: str, callback_url: object) -> dict[str, Any]:
    request = protocol(flavor).build(api, BIZ, **LAUNCHES[api], callback_url=callback_url)
    assert request.body is not None
    sent: dict[str, Any] = json.loads(request.body)
    return sent


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-v2"])
@pytest.mark.parametrize("api", list(LAUNCHES))
@pytest.mark.parametrize(
    "url", ["http://cb", "HTTPS://job.example.com:8443/hook?x=1", "http://[fd00::1]:80/cb"]
)
def test_a_callback_url_bk_job_takes_is_sent(api: str, flavor: str, url: str) -> None:
    sent = launch(api, flavor, url)
    assert sent["bk_callback_url" if flavor == "esb-v2" else "callback_url"] == url


@pytest.mark.parametrize("api", list(LAUNCHES))
@pytest.mark.parametrize(
    "url",
    [
        "ftp://cb/",  # http or https only
        "http://user:pw@trusted.example.com@evil.example.com/",  # user info
        "http://a b/",  # not a URI
        "http:///path",  # no host
        "http://under_score/",  # java.net.URI reads no host
        "http://host:port/",
        "cb.example.com/hook",
    ],
)
def test_a_callback_url_bk_job_refuses_is_refused_before_sending(api: str, url: str) -> None:
    with pytest.raises(ValueError, match="callback_url must be an http"):
        launch(api, "apigw-v3", url)


def test_an_empty_callback_url_is_not_sent() -> None:
    sent = launch("fast_execute_script", "apigw-v3", "")
    assert "callback_url" not in sent


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1244027, InvalidRequestError),  # EXCEED_MAX_ALLOWED_BATCH_SIZE
        (1244035, InvalidRequestError),  # FILE_SOURCE_ROLLING_ONLY_SUPPORT_SERVER_FILE
        (1247005, InvalidRequestError),  # INVALID_USER_TIMEZONE
        (1244038, InvalidRequestError),  # CALLBACK_URL_WHITELIST_INVALID_BASE_URL
        (1244039, ConflictError),  # CALLBACK_URL_WHITELIST_ALREADY_EXISTS
    ],
)
def test_bk_job_2026_codes_raise_their_class(code: int, cls: type[ApiError]) -> None:
    proto = protocol()
    request = proto.build("get_job_instance_status", BIZ, 100)
    body = {"result": False, "code": code, "message": "no", "data": None}
    with pytest.raises(ApiError) as info:
        proto.decipher(request, Response(200, {}, json.dumps(body).encode()))
    assert type(info.value) is cls
    assert info.value.code == code
